//! Chat events as they travel: JSON frames built once and fanned out as text (to sockets
//! here, and later to other instances), and the frames clients send. Persisted events
//! carry `seq`; `status` and `typing` frames do not.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::call::Call;
use crate::domain::chat::ChatView;
use crate::domain::ids::{AttachmentId, UserId};
use crate::domain::message::{Author, AuthorRole, EventKind, Message};
use crate::domain::user::User;
use crate::domain::{Millis, rfc3339};
use crate::error::ErrorCode;
use crate::knowledge::Suggestion;
use crate::store::StoredEvent;

/// One serialized event, ready to send.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Present on persisted events: clients resume after the last one they saw.
    pub seq: Option<i64>,
    pub text: Arc<str>,
    /// For a message published live: who wrote it and when it was committed, so that
    /// sockets can measure delivery to the other side. `None` on replays.
    pub delivery: Option<(Option<UserId>, Instant)>,
    /// A `status` frame: the chat's state changed, and who may see it may have too.
    pub is_status: bool,
    /// Only for the chat's analyst (`assist`): other feeds of the chat skip it.
    pub for_analyst: bool,
}

impl Frame {
    pub fn new(seq: Option<i64>, text: impl Into<Arc<str>>) -> Self {
        Self {
            seq,
            text: text.into(),
            delivery: None,
            is_status: false,
            for_analyst: false,
        }
    }
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
        // Only a shared article is ever stored with a message; anything else is ignored.
        article: e
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
    }
}

/// A message as a frame.
pub fn message_frame(m: &Message) -> Frame {
    Frame::new(Some(m.seq), tagged("message", m))
}

/// The frame a stored event is sent as, live or on replay.
pub fn frame_of(e: &StoredEvent) -> Frame {
    if e.kind == EventKind::Message {
        return message_frame(&message_of(e));
    }
    Frame::new(
        Some(e.seq),
        with_seq(e.payload.as_deref().unwrap_or("{}"), e.seq),
    )
}

/// The frame of an event just committed, marked for delivery timing when it is a message.
pub fn live_frame_of(e: &StoredEvent) -> Frame {
    let mut frame = frame_of(e);
    if e.kind == EventKind::Message {
        frame.delivery = Some((e.author.as_ref().and_then(|a| a.id), Instant::now()));
    }
    frame
}

pub fn suggestions_payload(items: &[Suggestion], at: Millis) -> String {
    json!({"type": "suggestions", "items": items, "at": rfc3339(at)}).to_string()
}

#[derive(Clone, Debug, Serialize)]
pub struct AttachmentInfo {
    pub id: AttachmentId,
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
        is_status: true,
        ..Frame::new(None, tagged("status", chat))
    }
}

/// `assigned`: on the receiving analyst's desk socket, a chat transferred to them and who
/// transferred it.
pub fn assigned_frame(chat: &ChatView, from: &User) -> Frame {
    Frame::new(
        None,
        json!({"type": "assigned", "chat": chat, "from": {"username": from.username, "name": from.display_name}})
            .to_string(),
    )
}

/// `chats_changed`: on an analyst's desk socket, reload `GET /analyst/chats`.
pub fn chats_changed_frame() -> Frame {
    Frame::new(None, json!({"type": "chats_changed"}).to_string())
}

pub fn typing_frame(role: AuthorRole, name: &str, typing: bool) -> Frame {
    Frame::new(
        None,
        json!({"type": "typing", "role": role, "name": name, "typing": typing}).to_string(),
    )
}

/// An error reported on a socket without closing it (a bad frame, a refused message).
pub fn error_frame(code: ErrorCode, message: &str) -> Frame {
    Frame::new(
        None,
        json!({"type": "error", "error": {"code": code, "message": message}}).to_string(),
    )
}

/// Agent assist for the chat's analyst: `{"type": "assist", "through_seq", "items":
/// [...]}`, not stored.
pub fn assist_frame<T: Serialize>(assist: &T) -> Frame {
    let mut frame = Frame::new(None, tagged("assist", assist));
    frame.for_analyst = true;
    frame
}

/// The desk's live picture for analysts: the queue, oldest first, and availability.
pub fn desk_frame<T: Serialize, A: Serialize>(queue: &[T], availability: &A) -> Frame {
    Frame::new(
        None,
        json!({"type": "queue", "items": queue, "availability": availability}).to_string(),
    )
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
    pub fn parse(text: &str) -> Result<Self, (ErrorCode, String)> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            (
                ErrorCode::InvalidJson,
                format!("the frame is not valid JSON: {e}"),
            )
        })?;
        let kind = value
            .get("type")
            .and_then(|t| t.as_str())
            .ok_or((
                ErrorCode::InvalidFrame,
                "the frame needs a string \"type\"".to_owned(),
            ))?
            .to_owned();
        if !matches!(kind.as_str(), "message" | "typing") {
            return Err((
                ErrorCode::UnknownType,
                format!("unknown frame type {kind:?}; expected \"message\" or \"typing\""),
            ));
        }
        serde_json::from_value(value)
            .map_err(|e| (ErrorCode::InvalidFrame, format!("{kind} frame: {e}")))
    }
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
        assert_eq!(
            ClientFrame::parse("{").unwrap_err().0,
            ErrorCode::InvalidJson
        );
        assert_eq!(
            ClientFrame::parse("[]").unwrap_err().0,
            ErrorCode::InvalidFrame
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"nope"}"#).unwrap_err().0,
            ErrorCode::UnknownType
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"message"}"#).unwrap_err().0,
            ErrorCode::InvalidFrame
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
            id: crate::domain::ids::EventId(3),
            chat_id: crate::domain::ids::ChatId(9),
            seq: 4,
            kind: EventKind::Message,
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
