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
//! - [`engine`]: the product's behaviour, using all of the above; no HTTP in it.
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
