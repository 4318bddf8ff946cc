//! chatdesk: a chatbot-first chat engine with live-analyst handoff for IT service desks.
//!
//! How the crate is laid out, from the bottom up; a module uses only modules listed
//! before it (a test below holds the code to it):
//! - [`error`]: the one error type and [`error::ErrorCode`], every code clients can see.
//! - [`metrics`]: counters and latency histograms for `/metrics`.
//! - [`domain`]: typed ids, named states and the rules (roles, the chat state machine,
//!   availability labels). No I/O.
//! - [`knowledge`]: articles and the rankers that turn a description into suggestions.
//! - [`store`]: storage behind one interface (a trait per aggregate), on SQLite or
//!   PostgreSQL. Plain records; how they read to people is decided above it.
//! - [`events`] and [`transcript`]: what happened in a chat, as JSON frames and as the
//!   plain-text record a call keeps.
//! - [`bus`]: carries frames to sockets (and, later, to other instances).
//! - [`config`]: settings from defaults, `chatdesk.toml` and `CHATDESK_*`.
//! - [`engine`]: the product's behaviour, as services by capability (chat, desk, calls,
//!   knowledge, reports, accounts) over a shared core; no HTTP in it.
//! - [`channels`]: external channels (Direct Line, Teams): the activity schema and its
//!   translation to and from the chat services.
//! - [`http`]: the thin axum layer (REST, WebSocket, pages, health, metrics).
//! - [`startup`]: wiring it together and running until shutdown; [`rank`]: the
//!   `chatdesk rank` batch command used for evaluation; [`traffic`]: `chatdesk traffic`,
//!   a month of made-up desk traffic for a fresh database.

pub mod error;
pub mod metrics;

pub mod domain;

pub mod knowledge;
pub mod store;

pub mod events;
pub mod transcript;

pub mod bus;

pub mod config;

pub mod engine;

pub mod channels;

pub mod http;

pub mod rank;
pub mod startup;
pub mod traffic;

#[cfg(test)]
mod layering {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The modules from the bottom up, as the map above gives them.
    const ORDER: &[&str] = &[
        "error",
        "metrics",
        "domain",
        "knowledge",
        "store",
        "events",
        "transcript",
        "bus",
        "config",
        "engine",
        "channels",
        "http",
        "rank",
        "startup",
        "traffic",
    ];

    /// Every `.rs` file of a top-level module (a file or a folder).
    fn sources(src: &Path, module: &str) -> Vec<std::path::PathBuf> {
        let file = src.join(format!("{module}.rs"));
        if file.exists() {
            return vec![file];
        }
        let mut found = Vec::new();
        let mut dirs = vec![src.join(module)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("module folder") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    found.push(path);
                }
            }
        }
        found
    }

    /// The top-level modules a file names as `crate::module` or in `crate::{a, b::c}`.
    fn uses(text: &str) -> BTreeSet<String> {
        let ident = |s: &str| -> String {
            s.trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let mut found = BTreeSet::new();
        for (i, m) in text.match_indices("crate::") {
            if text[..i].ends_with('$') {
                continue;
            }
            let rest = &text[i + m.len()..];
            match rest.strip_prefix('{') {
                // Top-level names of a group: those at brace depth 0.
                Some(group) => {
                    let mut depth = 0;
                    let mut start = 0;
                    for (j, c) in group.char_indices() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => {
                                found.insert(ident(&group[start..j]));
                                break;
                            }
                            '}' => depth -= 1,
                            ',' if depth == 0 => {
                                found.insert(ident(&group[start..j]));
                                start = j + 1;
                            }
                            _ => {}
                        }
                    }
                }
                None => {
                    found.insert(ident(rest));
                }
            }
        }
        found
    }

    /// The engine's services, each a folder or a file under `src/engine`.
    const SERVICES: &[&str] = &[
        "accounts",
        "calls",
        "channels",
        "chat",
        "desk",
        "knowledge",
        "reports",
    ];

    /// The modules of `engine` a file in `engine/<service>` names, however it names them:
    /// `crate::engine::x`, or `super::x` from the service's own `mod.rs` (or file), or
    /// `super::super::x` from a file inside its folder.
    fn engine_uses(text: &str, in_folder: bool) -> BTreeSet<String> {
        let up = if in_folder {
            "super::super::"
        } else {
            "super::"
        };
        let text = text
            .replace("crate::engine::", "ENGINE::")
            .replace("crate::", "other::");
        uses(&text.replace(up, "crate::").replace("ENGINE::", "crate::"))
    }

    #[test]
    fn services_never_use_each_other() {
        let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
        for service in SERVICES {
            for file in sources(&engine, service) {
                let in_folder = file.file_name().is_some_and(|n| n != "mod.rs")
                    && file.parent() == Some(&engine.join(service));
                let text = std::fs::read_to_string(&file).unwrap();
                for used in engine_uses(&text, in_folder) {
                    assert!(
                        used == *service || !SERVICES.contains(&used.as_str()),
                        "{} (service {service}) uses the {used} service; move what both \
                         need into engine/core.rs",
                        file.display()
                    );
                }
            }
        }
    }

    #[test]
    fn a_service_naming_another_is_caught() {
        assert!(engine_uses("use super::desk::DeskService;", false).contains("desk"));
        assert!(engine_uses("use super::super::calls::x;", true).contains("calls"));
        assert!(engine_uses("use crate::engine::{core::Core, chat};", true).contains("chat"));
        assert!(!engine_uses("use crate::knowledge::Ranker;", false).contains("knowledge"));
        assert!(!engine_uses("use super::ChatService;", true).contains("ChatService"));
    }

    /// Fails naming each file of the modules in [`ORDER`] other than `except` whose text
    /// contains `needle`, with `why`.
    fn nowhere_but(except: &[&str], needle: &str, why: &str) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for module in ORDER.iter().filter(|m| !except.contains(m)) {
            for file in sources(&src, module) {
                let text = std::fs::read_to_string(&file).unwrap();
                assert!(!text.contains(needle), "{}: {why}", file.display());
            }
        }
    }

    /// Handlers go through the services: only start-up, commands and tests reach for the
    /// store itself with `Engine::store()`.
    #[test]
    fn only_startup_and_commands_use_the_store_accessor() {
        let why = "calls .store(); go through a service";
        nowhere_but(&["startup", "traffic", "rank"], ".store()", why);
    }

    /// Errors stay in their layer: only storage (and start-up, which opens it) names sqlx;
    /// the engine sees `StoreError`, and `http` sees the engine's `Error`.
    #[test]
    fn only_storage_knows_sqlx() {
        let why = "names sqlx; storage errors reach it as StoreError";
        nowhere_but(&["store", "startup"], "sqlx::", why);
    }

    #[test]
    fn grouped_imports_count_too() {
        let used = uses("use crate::{domain::ids::ChatId, store::{A, B}, error};");
        assert_eq!(used, ["domain", "error", "store"].map(String::from).into());
    }

    #[test]
    fn imports_only_point_down() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
        let declared: BTreeSet<&str> = lib
            .lines()
            .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
            .collect();
        assert_eq!(
            declared,
            ORDER.iter().copied().collect(),
            "place new modules in ORDER"
        );
        for (level, module) in ORDER.iter().enumerate() {
            for file in sources(&src, module) {
                let text = std::fs::read_to_string(&file).unwrap();
                for used in uses(&text) {
                    let Some(at) = ORDER.iter().position(|m| *m == used) else {
                        continue;
                    };
                    assert!(
                        at <= level,
                        "{} uses crate::{used}, which is listed after {module}",
                        file.display()
                    );
                }
            }
        }
    }
}
