//! Settings: built-in defaults, then an optional `chatdesk.toml`, then `CHATDESK_*`
//! environment variables (env wins). Nested keys use a double underscore, e.g.
//! `CHATDESK_CHAT__ALLOW_WHEN_OFFLINE=false` or `CHATDESK_LIMITS__ATTACHMENT_MAX_BYTES=1048576`.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::knowledge::index::{Mode, Tuning};
use crate::knowledge::live::IndexerConfig;

const ENV_PREFIX: &str = "CHATDESK_";
/// `CHATDESK_*` variables read elsewhere: the settings file's path and the log filter.
const NOT_SETTINGS: &[&str] = &["CONFIG", "LOG"];

#[serde_with::serde_as]
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
    pub cluster: ClusterSettings,
    /// Where attachments live: `file:///DIR` or `s3://BUCKET[/PREFIX]` (then the standard
    /// `AWS_*` variables configure the bucket); default `{data_dir}/attachments`. Several
    /// instances need one they all reach.
    pub attachments_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed, as addresses or CIDR ranges separated
    /// by commas (`10.0.0.5, 10.0.0.6`). Name the proxies exactly: a client inside a
    /// trusted range could write its own header. A request from one of them is taken to come
    /// from the rightmost address in that header that is not itself a trusted proxy;
    /// requests from anywhere else are taken to come from their peer, whatever they send.
    /// Empty (the default): the header is never believed.
    #[serde_as(
        as = "serde_with::StringWithSeparator::<serde_with::formats::CommaSeparator, ProxyRange>"
    )]
    pub trusted_proxies: Vec<ProxyRange>,
    /// The address clients reach chatdesk at (`https://desk.example.com`), for the links
    /// it hands out (Direct Line's `streamUrl`); unset, each request's `Host` with
    /// `ws://`.
    pub public_url: Option<String>,
    /// Microsoft Teams through the Bot Framework (`POST /api/messages`).
    pub botframework: BotFrameworkSettings,
    /// Outbound webhooks (Standard Webhooks).
    pub webhooks: WebhookSettings,
}

/// Outbound webhooks (contract, "Outbound webhooks").
#[serde_with::serde_as]
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Let endpoints be loopback or private addresses (tests, private networks); off, such
    /// URLs are refused when registered and not sent to.
    pub allow_private_targets: bool,
    /// Seconds between a failed attempt and the next, separated by commas; after the
    /// last, a delivery has failed.
    #[serde_as(as = "serde_with::StringWithSeparator::<serde_with::formats::CommaSeparator, u64>")]
    pub retry_secs: Vec<u64>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            retry_secs: vec![5, 300, 1800, 7200, 18000, 36000],
        }
    }
}

/// The Bot Framework connection (contract, "Bot Framework activities"): off unless both
/// `app_id` and `app_password` are set, as an Azure Bot registration gives them.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotFrameworkSettings {
    /// The bot's Microsoft App ID: the audience its requests' tokens must name.
    pub app_id: Option<String>,
    /// The client secret of the app registration, for the tokens replies carry.
    pub app_password: Option<Secret>,
    /// Where the keys that sign the channel's requests are published (OpenID metadata
    /// naming a `jwks_uri`).
    pub openid_metadata_url: String,
    /// Where replies get their tokens (OAuth 2.0 client credentials).
    pub token_url: String,
    /// The scope of those tokens.
    pub token_scope: String,
}

impl Default for BotFrameworkSettings {
    fn default() -> Self {
        Self {
            app_id: None,
            app_password: None,
            openid_metadata_url:
                "https://login.botframework.com/v1/.well-known/openidconfiguration".into(),
            token_url: "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
                .into(),
            token_scope: "https://api.botframework.com/.default".into(),
        }
    }
}

impl BotFrameworkSettings {
    /// The app id and password, when both are set: the Bot Framework is on.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match (self.app_id.as_deref(), self.app_password.as_ref()) {
            (Some(id), Some(password)) if !id.is_empty() && !password.0.is_empty() => {
                Some((id, password.0.as_str()))
            }
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeSettings {
    /// `hybrid` (words and meaning), `bm25` (words only, no model needed) or `dense`.
    pub mode: Mode,
    /// Weight of the word score in the hybrid blend; the rest goes to meaning.
    pub lexical_weight: f32,
    /// When its first suggestion is less likely than this to be the fix, the bot offers
    /// no article (0 to 1; see `knowledge::index::Calibration`).
    pub min_confidence: f32,
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
            min_confidence: tuning.min_confidence,
            vector_cache_dir: None,
            refresh_secs: 5,
        }
    }
}

impl KnowledgeSettings {
    pub fn tuning(&self) -> Tuning {
        Tuning {
            lexical_weight: self.lexical_weight,
            min_confidence: self.min_confidence,
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
    /// How long an API token (from `user add` or `POST /users`) stays valid; 0: never
    /// expires.
    pub api_token_days: u32,
    /// A chat ends when its user has had no window (socket) open on it this long; 0
    /// never. The call stays open for analysts.
    pub away_end_secs: u64,
    /// After the chat window's tab is closed, the chat ends this long later unless its
    /// user is back (a reload, another page of the site).
    pub leave_grace_secs: u64,
    /// An analyst counts as online only while they have a socket open or made a request
    /// this recently; then they are set offline. 0: never.
    pub presence_timeout_secs: u64,
    /// Queued users see a wait estimate once analysts have taken at least this many
    /// chats from the queue within `wait_estimate_window_secs`.
    pub wait_estimate_min_accepts: u32,
    /// How far back the pace of acceptances is read.
    pub wait_estimate_window_secs: u64,
}

/// How instances sharing one PostgreSQL database keep in step (docs/deployment.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// How often, in milliseconds, each instance checks the chats with a socket on it for
    /// events that no hint announced (a hint lost while its listener reconnected). 0 turns
    /// the check off; only tests of the hints alone want that.
    pub reconcile_ms: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self { reconcile_ms: 1000 }
    }
}

/// A trusted proxy: one address (`10.0.0.7`) or a CIDR range (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyRange(pub ipnet::IpNet);

impl ProxyRange {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

impl std::str::FromStr for ProxyRange {
    type Err = String;

    /// # Errors
    /// Neither an IP address nor a CIDR range.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        s.parse::<ipnet::IpNet>()
            .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map(Self)
            .map_err(|_| format!("{s:?} is neither an IP address nor a CIDR range"))
    }
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
    /// Failed sign-ins allowed in a burst for one account from clients that have not
    /// signed in to it before, and for each browser that has (its device cookie); then one
    /// more per `login_refill_secs`.
    pub login_attempts_per_account: u32,
    /// Failed sign-ins allowed from one address (an IPv6 /64) in a burst, refilled at the
    /// same pace. Behind a proxy every client shares the proxy's address: raise it there.
    pub login_attempts_per_address: u32,
    pub login_refill_secs: u64,
    /// Messages one person may send in one chat per second, on average...
    pub messages_per_sec: u32,
    /// ...and in a burst.
    pub message_burst: u32,
    /// Passwords hashed or checked at once (argon2 takes 19 MiB each); more wait.
    pub password_hashes: usize,
    /// Chats one person may start in an hour (in a burst, then refilled evenly).
    pub chats_per_hour: u32,
    /// Bytes one person may upload in a day (in a burst, then refilled evenly).
    pub upload_bytes_per_day: u64,
    /// Chat and desk sockets and Direct Line streams one person may hold open at once;
    /// one more is closed with code 1008.
    pub sockets_per_user: usize,
    /// Typing frames one person may send per second, on average (twice that in a burst);
    /// more are refused with an `error` frame and not shown.
    pub typing_per_sec: u32,
    /// Threads that rank agent assist beside the chats, at the lowest scheduling priority
    /// (1 to 64). The bot's own rankings, which users wait for, never wait for these.
    pub assist_rankings: usize,
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
            cluster: ClusterSettings::default(),
            attachments_url: None,
            trusted_proxies: Vec::new(),
            public_url: None,
            botframework: BotFrameworkSettings::default(),
            webhooks: WebhookSettings::default(),
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
            api_token_days: 365,
            away_end_secs: 600,
            leave_grace_secs: 5,
            presence_timeout_secs: 60,
            wait_estimate_min_accepts: 5,
            wait_estimate_window_secs: 3600,
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
            assist_rankings: 1,
            password_hashes: 4,
            chats_per_hour: 30,
            upload_bytes_per_day: 500 * 1024 * 1024,
            sockets_per_user: 100,
            typing_per_sec: 5,
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

    /// What the knowledge indexer needs, in ranking `mode`.
    pub fn indexer(&self, mode: Mode) -> IndexerConfig {
        IndexerConfig {
            model_dir: self.model_dir.clone(),
            vector_cache_dir: self.vector_cache_dir(),
            mode,
            tuning: self.knowledge.tuning(),
        }
    }

    /// Loads settings from `file` (when it exists) and the process environment.
    ///
    /// # Errors
    /// The file cannot be read or is not TOML, or a value does not fit its setting.
    pub fn load(file: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        };
        Self::from_sources(text.as_deref(), std::env::vars())
    }

    /// Builds settings from an optional TOML document and `(name, value)` environment pairs.
    ///
    /// Environment values are text, and each is read as the type of the setting it names:
    /// `CHATDESK_DATA_DIR=2024` is the folder `2024`, `CHATDESK_CHAT__SUGGESTIONS=5` a
    /// number (the `config` crate converts on demand instead of guessing up front).
    ///
    /// # Errors
    /// The TOML does not parse, a key is unknown, or a value does not fit its setting.
    pub fn from_sources(
        toml_text: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(name, _)| {
                name.strip_prefix(ENV_PREFIX)
                    .is_some_and(|key| !key.is_empty() && !NOT_SETTINGS.contains(&key))
            })
            .collect();
        let mut builder = config::Config::builder();
        if let Some(text) = toml_text {
            builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        builder
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX.trim_end_matches('_'))
                    .prefix_separator("_")
                    .separator("__")
                    .source(Some(env)),
            )
            .build()
            .and_then(config::Config::try_deserialize)
            .context("invalid settings (chatdesk.toml or CHATDESK_* variables)")
    }
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
    fn env_values_take_the_type_of_their_setting() {
        let s = Settings::from_sources(
            None,
            env(&[
                ("CHATDESK_DATA_DIR", "2024"),
                ("CHATDESK_BIND", "127.0.0.1:9"),
                ("CHATDESK_CHAT__SUGGESTIONS", "5"),
                ("CHATDESK_KNOWLEDGE__MIN_CONFIDENCE", "0.4"),
                ("CHATDESK_KNOWLEDGE__MODE", "bm25"),
                ("CHATDESK_DATABASE_URL", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(s.data_dir, PathBuf::from("2024"));
        assert_eq!(s.chat.suggestions, 5);
        assert!((s.knowledge.min_confidence - 0.4).abs() < 1e-6);
        assert_eq!(s.knowledge.mode, Mode::Bm25);
        assert_eq!(s.database_url.expose(), "true");
        let bad = Settings::from_sources(None, env(&[("CHATDESK_CHAT__SUGGESTIONS", "many")]));
        assert!(bad.is_err());
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
