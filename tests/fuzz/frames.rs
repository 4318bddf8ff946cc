//! WebSocket client frames and typed text: any input gets a clean error or a frame, never
//! a panic; valid frames come back as sent.

use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde_json::Value;

use chatdesk::domain::message::clean_text;
use chatdesk::events::ClientFrame;

use crate::fuzz;

const CODES: [&str; 3] = ["invalid_json", "invalid_frame", "unknown_type"];

fn check(raw: &str) -> TestCaseResult {
    match ClientFrame::parse(raw) {
        Ok(ClientFrame::Message { .. } | ClientFrame::Typing { .. }) => {}
        Err((code, message)) => {
            prop_assert!(CODES.contains(&code.as_str()), "unexpected code {code}");
            prop_assert!(!message.is_empty());
        }
    }
    Ok(())
}

/// Any JSON at all, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
        prop_oneof![Just("message"), Just("typing"), Just("ended")].prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("text".to_owned()),
                    Just("client_id".to_owned()),
                    Just("typing".to_owned()),
                    ".{0,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn any_text_is_a_frame_or_a_clear_error() {
    fuzz("frames/any-text", ".{0,200}", |raw| check(&raw));
}

#[test]
fn any_bytes_are_a_frame_or_a_clear_error() {
    fuzz(
        "frames/any-bytes",
        prop::collection::vec(any::<u8>(), 0..200),
        |bytes| check(&String::from_utf8_lossy(&bytes)),
    );
}

#[test]
fn any_json_is_a_frame_or_a_clear_error() {
    fuzz("frames/any-json", json(), |v| check(&v.to_string()));
}

#[test]
fn valid_frames_come_back_as_sent() {
    let frame = prop_oneof![
        (".{0,300}", proptest::option::of("[ -~]{1,100}"))
            .prop_map(|(text, client_id)| ClientFrame::Message { text, client_id }),
        any::<bool>().prop_map(|typing| ClientFrame::Typing { typing }),
    ];
    fuzz("frames/round-trip", frame, |frame| {
        let raw = match &frame {
            ClientFrame::Message { text, client_id } => {
                serde_json::json!({"type": "message", "text": text, "client_id": client_id})
            }
            ClientFrame::Typing { typing } => {
                serde_json::json!({"type": "typing", "typing": typing})
            }
        };
        prop_assert_eq!(ClientFrame::parse(&raw.to_string()).ok(), Some(frame));
        Ok(())
    });
}

#[test]
fn typed_text_is_cleaned_or_refused() {
    fuzz("text/clean", (".{0,120}", 1usize..80), |(raw, max)| {
        match clean_text(&raw, max) {
            Ok(text) => {
                prop_assert!(!text.is_empty());
                prop_assert!(text.chars().count() <= max);
                prop_assert_eq!(text.trim(), text.as_str(), "not trimmed");
                prop_assert!(
                    text.chars()
                        .all(|c| !c.is_control() || c == '\n' || c == '\t'),
                    "control characters kept"
                );
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
        Ok(())
    });
}
