//! Chat events as they travel: JSON frames built once and fanned out as text (to sockets
//! here, and later to other instances), and the plain-text transcript a call keeps when
//! its chat ends. Persisted events carry `seq`; `status` and `typing` frames do not.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::call::{Call, Person, reference};
use crate::domain::chat::ChatView;
use crate::domain::message::{Author, AuthorRole, Message};
use crate::domain::{Millis, rfc3339};
use crate::knowledge::Suggestion;
use crate::store::{ChatRecord, StoredEvent, kind};

/// One serialized event, ready to send.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Present on persisted events: clients resume after the last one they saw.
    pub seq: Option<i64>,
    pub text: Arc<str>,
}

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

fn tagged<T: Serialize>(kind: &str, body: &T) -> String {
    serde_json::to_string(&Tagged { kind, body }).expect("events serialize")
}

/// Adds `seq` to a stored payload (a JSON object without it).
fn with_seq(payload: &str, seq: i64) -> String {
    match payload.strip_prefix('{') {
        Some(rest) if rest.trim_start().starts_with('}') => format!("{{\"seq\":{seq}}}"),
        Some(rest) => format!("{{\"seq\":{seq},{rest}"),
        None => payload.to_owned(),
    }
}

pub fn message_of(e: &StoredEvent) -> Message {
    Message {
        id: e.id,
        seq: e.seq,
        chat_id: e.chat_id,
        author: e.author.clone().unwrap_or_else(Author::system),
        text: e.body.clone().unwrap_or_default(),
        at: rfc3339(e.created_at),
        client_id: e.client_id.clone(),
    }
}

/// A message as a frame.
pub fn message_frame(m: &Message) -> Frame {
    Frame {
        seq: Some(m.seq),
        text: tagged("message", m).into(),
    }
}

/// The frame a stored event is sent as, live or on replay.
pub fn frame_of(e: &StoredEvent) -> Frame {
    if e.kind == kind::MESSAGE {
        return message_frame(&message_of(e));
    }
    Frame {
        seq: Some(e.seq),
        text: with_seq(e.payload.as_deref().unwrap_or("{}"), e.seq).into(),
    }
}

pub fn suggestions_payload(items: &[Suggestion], at: Millis) -> String {
    json!({"type": "suggestions", "items": items, "at": rfc3339(at)}).to_string()
}

#[derive(Clone, Debug, Serialize)]
pub struct AttachmentInfo {
    pub id: String,
    pub name: String,
    pub size: i64,
    pub content_type: String,
}

pub fn attachment_payload(info: &AttachmentInfo, author: &Author, at: Millis) -> String {
    json!({"type": "attachment", "attachment": info, "author": author, "at": rfc3339(at)})
        .to_string()
}

pub fn ended_payload(call: &Call, ended_by: AuthorRole) -> String {
    json!({"type": "ended", "call": call, "ended_by": ended_by}).to_string()
}

pub fn status_frame(chat: &ChatView) -> Frame {
    Frame {
        seq: None,
        text: tagged("status", chat).into(),
    }
}

pub fn typing_frame(role: AuthorRole, name: &str, typing: bool) -> Frame {
    Frame {
        seq: None,
        text: json!({"type": "typing", "role": role, "name": name, "typing": typing})
            .to_string()
            .into(),
    }
}

/// An error reported on a socket without closing it (a bad frame, a refused message).
pub fn error_frame(code: &str, message: &str) -> Frame {
    Frame {
        seq: None,
        text: json!({"type": "error", "error": {"code": code, "message": message}})
            .to_string()
            .into(),
    }
}

/// The desk's live picture for analysts: the queue, oldest first, and availability.
pub fn desk_frame<T: Serialize, A: Serialize>(queue: &[T], availability: &A) -> Frame {
    Frame {
        seq: None,
        text: json!({"type": "queue", "items": queue, "availability": availability})
            .to_string()
            .into(),
    }
}

fn who(author: &Option<Author>) -> String {
    match author {
        Some(a) => format!("{} ({})", a.name, a.role),
        None => "chatdesk".to_owned(),
    }
}

/// What a client may send on a chat socket.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Message {
        text: String,
        #[serde(default)]
        client_id: Option<String>,
    },
    Typing {
        typing: bool,
    },
}

impl ClientFrame {
    /// Parses one text frame; the error is a code and a message for an `error` frame.
    pub fn parse(text: &str) -> Result<Self, (&'static str, String)> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| ("invalid_json", format!("the frame is not valid JSON: {e}")))?;
        let kind = value
            .get("type")
            .and_then(|t| t.as_str())
            .ok_or((
                "invalid_frame",
                "the frame needs a string \"type\"".to_owned(),
            ))?
            .to_owned();
        if !matches!(kind.as_str(), "message" | "typing") {
            return Err((
                "unknown_type",
                format!("unknown frame type {kind:?}; expected \"message\" or \"typing\""),
            ));
        }
        serde_json::from_value(value).map_err(|e| ("invalid_frame", format!("{kind} frame: {e}")))
    }
}

/// One event in words, as a transcript line shows it (without time).
pub fn describe(e: &StoredEvent) -> String {
    let payload: serde_json::Value = e
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    match e.kind.as_str() {
        kind::MESSAGE => format!(
            "{}: {}",
            who(&e.author),
            e.body.as_deref().unwrap_or_default()
        ),
        kind::SUGGESTIONS => {
            let items = payload["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                return "Service Desk Bot (bot) found no matching article".to_owned();
            }
            let list: Vec<String> = items
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    format!(
                        "{}. {} [{}]",
                        i + 1,
                        s["title"].as_str().unwrap_or_default(),
                        s["article_id"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            format!("Service Desk Bot (bot) suggested: {}", list.join("; "))
        }
        kind::ATTACHMENT => {
            let a = &payload["attachment"];
            format!(
                "{} attached {} ({} bytes, {})",
                payload["author"]["name"].as_str().unwrap_or("someone"),
                a["name"].as_str().unwrap_or_default(),
                a["size"].as_i64().unwrap_or_default(),
                a["content_type"].as_str().unwrap_or_default()
            )
        }
        kind::ENDED => format!(
            "Chat ended by the {}.",
            payload["ended_by"].as_str().unwrap_or("user")
        ),
        other => format!("({other} event)"),
    }
}

/// The record of a chat that its call keeps: every message, suggestion and file, in order.
pub fn transcript_text(
    chat: &ChatRecord,
    events: &[StoredEvent],
    ended_by: AuthorRole,
    ended_at: Millis,
) -> String {
    let mut out = format!(
        "Chat {} for {} with {} ({})\n",
        chat.id,
        reference(chat.call_id),
        chat.user.name,
        chat.user.username
    );
    if let Some(Person { name, username, .. }) = &chat.analyst {
        out.push_str(&format!("Analyst: {name} ({username})\n"));
    }
    for e in events {
        out.push_str(&format!("[{}] {}\n", rfc3339(e.created_at), describe(e)));
    }
    out.push_str(&format!(
        "[{}] Chat ended by the {ended_by}.\n",
        rfc3339(ended_at)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_or_say_why_not() {
        assert_eq!(
            ClientFrame::parse(r#"{"type":"typing","typing":true}"#),
            Ok(ClientFrame::Typing { typing: true })
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"message","text":"hi","client_id":"c1"}"#),
            Ok(ClientFrame::Message {
                text: "hi".into(),
                client_id: Some("c1".into())
            })
        );
        assert_eq!(ClientFrame::parse("{").unwrap_err().0, "invalid_json");
        assert_eq!(ClientFrame::parse("[]").unwrap_err().0, "invalid_frame");
        assert_eq!(
            ClientFrame::parse(r#"{"type":"nope"}"#).unwrap_err().0,
            "unknown_type"
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"message"}"#).unwrap_err().0,
            "invalid_frame"
        );
    }

    #[test]
    fn seq_is_added_to_stored_payloads() {
        assert_eq!(
            with_seq(r#"{"type":"ended"}"#, 7),
            r#"{"seq":7,"type":"ended"}"#
        );
        assert_eq!(with_seq("{}", 2), r#"{"seq":2}"#);
    }

    #[test]
    fn messages_are_flat_frames_with_a_type() {
        let e = StoredEvent {
            id: 3,
            chat_id: 9,
            seq: 4,
            kind: kind::MESSAGE.into(),
            author: Some(Author::bot()),
            body: Some("<b>hi</b>".into()),
            client_id: None,
            payload: None,
            created_at: 0,
        };
        let v: serde_json::Value = serde_json::from_str(&frame_of(&e).text).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["seq"], 4);
        assert_eq!(v["text"], "<b>hi</b>");
        assert_eq!(v["author"]["role"], "bot");
    }
}
