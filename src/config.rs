//! Settings: built-in defaults, then an optional `chatdesk.toml`, then `CHATDESK_*`
//! environment variables (env wins). Nested keys use a double underscore, e.g.
//! `CHATDESK_CHAT__ALLOW_WHEN_OFFLINE=false` or `CHATDESK_LIMITS__ATTACHMENT_MAX_BYTES=1048576`.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::knowledge::index::{Mode, Tuning};

const ENV_PREFIX: &str = "CHATDESK_";
/// `CHATDESK_*` variables read elsewhere: the settings file's path and the log filter.
const NOT_SETTINGS: &[&str] = &["CONFIG", "LOG"];

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub database_url: Secret,
    pub bind: String,
    pub data_dir: PathBuf,
    pub knowledge_dir: PathBuf,
    pub model_dir: PathBuf,
    pub chat: ChatSettings,
    pub knowledge: KnowledgeSettings,
    pub limits: Limits,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeSettings {
    /// `hybrid` (words and meaning), `bm25` (words only, no model needed) or `dense`.
    pub mode: Mode,
    /// Weight of the word score in the hybrid blend; the rest goes to meaning.
    pub lexical_weight: f32,
    /// The bot offers no article whose best passage is less similar than this (0 to 1).
    pub min_similarity: f32,
    /// Where article vectors are cached by content; default `<data_dir>/embeddings`.
    pub vector_cache_dir: Option<PathBuf>,
    /// How often to check whether articles changed elsewhere (another instance, the
    /// `reindex` command) and rebuild.
    pub refresh_secs: u64,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        let tuning = Tuning::default();
        Self {
            mode: Mode::Hybrid,
            lexical_weight: tuning.lexical_weight,
            min_similarity: tuning.min_similarity,
            vector_cache_dir: None,
            refresh_secs: 5,
        }
    }
}

impl KnowledgeSettings {
    pub fn tuning(&self) -> Tuning {
        Tuning {
            lexical_weight: self.lexical_weight,
            min_similarity: self.min_similarity,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    /// Let users start a chat (and log a call) when no analyst is online; the bot still helps.
    pub allow_when_offline: bool,
    /// Concurrent chats an analyst takes unless they set their own `max_chats`.
    pub default_max_chats: u32,
    /// How many suggestions the bot offers at a time.
    pub suggestions: usize,
    /// How long a browser session (cookie) stays valid.
    pub session_hours: u32,
    /// A chat ends when its user's window (socket) has stayed closed this long; 0 never.
    pub end_when_window_closed_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub attachment_max_bytes: usize,
    pub message_max_chars: usize,
    pub description_max_chars: usize,
    /// Largest JSON body accepted by the API.
    pub json_body_max_bytes: usize,
    pub request_timeout_secs: u64,
    /// Failed sign-ins allowed for one account in a burst; then one more per
    /// `login_refill_secs`.
    pub login_attempts_per_account: u32,
    /// Failed sign-ins allowed from one address in a burst, refilled at the same pace.
    /// Behind a proxy every client shares the proxy's address: raise it there.
    pub login_attempts_per_address: u32,
    pub login_refill_secs: u64,
    /// Messages one person may send in one chat per second, on average...
    pub messages_per_sec: u32,
    /// ...and in a burst.
    pub message_burst: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: Secret("sqlite://data/chatdesk.db".into()),
            bind: "127.0.0.1:8080".into(),
            data_dir: "data".into(),
            knowledge_dir: "knowledge".into(),
            model_dir: "models/all-MiniLM-L6-v2".into(),
            chat: ChatSettings::default(),
            knowledge: KnowledgeSettings::default(),
            limits: Limits::default(),
        }
    }
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            allow_when_offline: true,
            default_max_chats: 3,
            suggestions: 3,
            session_hours: 12,
            end_when_window_closed_secs: 30,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            attachment_max_bytes: 25 * 1024 * 1024,
            message_max_chars: 4000,
            description_max_chars: 2000,
            json_body_max_bytes: 64 * 1024,
            request_timeout_secs: 30,
            login_attempts_per_account: 5,
            login_attempts_per_address: 100,
            login_refill_secs: 60,
            messages_per_sec: 10,
            message_burst: 30,
        }
    }
}

impl Settings {
    pub fn vector_cache_dir(&self) -> PathBuf {
        self.knowledge
            .vector_cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("embeddings"))
    }

    /// Loads settings from `file` (when it exists) and the process environment.
    pub fn load(file: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        };
        Self::from_sources(text.as_deref(), std::env::vars())
    }

    /// Builds settings from an optional TOML document and `(name, value)` environment pairs.
    pub fn from_sources(
        toml_text: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut table: toml::Table = match toml_text {
            Some(text) => toml::from_str(text).context("invalid chatdesk.toml")?,
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if NOT_SETTINGS.contains(&key) || key.is_empty() {
                continue;
            }
            let path: Vec<String> = key.split("__").map(|p| p.to_ascii_lowercase()).collect();
            set_path(&mut table, &path, env_value(&value));
        }
        toml::Value::Table(table)
            .try_into()
            .context("invalid settings (chatdesk.toml or CHATDESK_* variables)")
    }
}

/// Reads an environment value as a TOML scalar when it is one (`true`, `3`), else as text.
fn env_value(raw: &str) -> toml::Value {
    let probe = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&probe) {
        Ok(mut t) => match t.remove("v") {
            Some(
                v @ (toml::Value::Boolean(_) | toml::Value::Integer(_) | toml::Value::Float(_)),
            ) => v,
            _ => toml::Value::String(raw.to_owned()),
        },
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let (last, parents) = path.split_last().expect("non-empty key");
    let mut cur = table;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
    cur.insert(last.clone(), value);
}

/// A string that never shows up in logs or `Debug` output (database URLs carry passwords).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = Settings::from_sources(None, env(&[])).unwrap();
        assert_eq!(s.database_url.expose(), "sqlite://data/chatdesk.db");
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.limits.attachment_max_bytes, 25 * 1024 * 1024);
        assert!(s.chat.allow_when_offline);
    }

    #[test]
    fn env_overrides_file_and_nested_keys_work() {
        let file = "bind = \"0.0.0.0:9000\"\n[chat]\ndefault_max_chats = 5\n";
        let s = Settings::from_sources(
            Some(file),
            env(&[
                ("CHATDESK_BIND", "127.0.0.1:1"),
                ("CHATDESK_CHAT__ALLOW_WHEN_OFFLINE", "false"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.bind, "127.0.0.1:1");
        assert_eq!(s.chat.default_max_chats, 5);
        assert!(!s.chat.allow_when_offline);
    }

    #[test]
    fn the_log_filter_and_config_path_are_not_settings() {
        let s = Settings::from_sources(
            None,
            env(&[
                ("CHATDESK_LOG", "debug,sqlx=warn"),
                ("CHATDESK_CONFIG", "other.toml"),
            ]),
        );
        assert!(s.is_ok(), "{s:?}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Settings::from_sources(None, env(&[("CHATDESK_NOPE", "1")])).is_err());
    }

    #[test]
    fn database_url_is_redacted_in_debug() {
        let s = Settings::from_sources(
            None,
            env(&[("CHATDESK_DATABASE_URL", "postgres://u:hunter2@h/db")]),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
