//! What goes out on sockets, typed once and serialised once. [`OutFrame`] is every kind
//! of frame a client can receive; [`Frame`] is one of them as JSON text, built once and
//! fanned out to every socket that should see it, with its [`Audience`] beside it. The
//! same frame crosses to other instances in its wire form ([`Frame::to_wire`]), which
//! carries a version. Also the frames clients send ([`ClientFrame`]).
//!
//! Stored events carry `seq`, and clients resume after the last one they saw; `status`,
//! `typing` and the desk's frames do not.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::domain::article::{Assist, Suggestion};
use crate::domain::availability::Availability;
use crate::domain::call::Call;
use crate::domain::chat::{ChatView, QueueEntry};
use crate::domain::event::ChatEvent;
use crate::domain::ids::{ChatId, UserId};
use crate::domain::message::{AttachmentInfo, Author, AuthorRole, Message};
use crate::domain::user::User;
use crate::error::ErrorCode;
use crate::store::StoredEvent;

/// The version of [`Frame::to_wire`]'s form that this build writes and reads.
pub const WIRE_VERSION: u16 = 1;

/// Who a frame is for. It also decides which topic of the bus, a layer up, carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "to", content = "id", rename_all = "snake_case")]
pub enum Audience {
    /// Everyone following one chat: its user, its analyst, analysts watching it.
    Chat(ChatId),
    /// Only the analyst a chat is assigned to (agent assist).
    ChatAnalyst(ChatId),
    /// Every analyst's desk console.
    Desk,
    /// One analyst's console.
    Analyst(UserId),
    /// One person's open sockets, which check whether they may stay open; never shown.
    Account(UserId),
    /// Only the socket the frame answers (an error, a repeated message's acknowledgement);
    /// never published.
    Sender,
}

crate::domain::named_enum! {
    /// The `type` of a frame, for those who route frames without reading them.
    #[strum(serialize_all = "snake_case")]
    pub enum FrameKind {
        Message,
        Suggestions,
        Attachment,
        Ended,
        Status,
        Typing,
        Assigned,
        ChatsChanged,
        Error,
        Assist,
        Queue,
        AccountChanged,
    }
}

/// Every frame a client can receive, by its `type`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutFrame<'a> {
    /// A stored message (its `seq` among its fields).
    Message(&'a Message),
    /// The bot's suggestions, best first.
    Suggestions {
        seq: i64,
        items: &'a [Suggestion],
        at: Timestamp,
    },
    /// A file someone attached.
    Attachment {
        seq: i64,
        attachment: &'a AttachmentInfo,
        author: &'a Author,
        at: Timestamp,
    },
    /// The chat ended; the call as the end left it.
    Ended {
        seq: i64,
        call: &'a Call,
        ended_by: AuthorRole,
    },
    /// The chat's state changed (and who may see it may have too).
    Status(&'a ChatView),
    /// Someone started or stopped typing.
    Typing {
        role: AuthorRole,
        name: &'a str,
        typing: bool,
    },
    /// On the receiving analyst's desk socket: a chat transferred to them, and by whom.
    Assigned {
        chat: &'a ChatView,
        from: Transferrer<'a>,
    },
    /// On an analyst's desk socket: reload `GET /analyst/chats`.
    ChatsChanged,
    /// An error reported on a socket without closing it (a bad frame, a refused message).
    Error { error: ErrorBody<'a> },
    /// Agent assist for the chat's analyst; not stored.
    Assist(&'a Assist),
    /// The desk's live picture for analysts: the queue, oldest first, and availability.
    Queue {
        items: &'a [QueueEntry],
        availability: &'a Availability,
    },
    /// The person's account changed; their sockets check whether they may stay open.
    AccountChanged,
}

/// Who transferred a chat, in an `assigned` frame.
#[derive(Serialize)]
pub struct Transferrer<'a> {
    pub username: &'a str,
    pub name: &'a str,
}

/// The body of an `error` frame.
#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub code: ErrorCode,
    pub message: &'a str,
}

impl OutFrame<'_> {
    pub fn kind(&self) -> FrameKind {
        match self {
            Self::Message(_) => FrameKind::Message,
            Self::Suggestions { .. } => FrameKind::Suggestions,
            Self::Attachment { .. } => FrameKind::Attachment,
            Self::Ended { .. } => FrameKind::Ended,
            Self::Status(_) => FrameKind::Status,
            Self::Typing { .. } => FrameKind::Typing,
            Self::Assigned { .. } => FrameKind::Assigned,
            Self::ChatsChanged => FrameKind::ChatsChanged,
            Self::Error { .. } => FrameKind::Error,
            Self::Assist(_) => FrameKind::Assist,
            Self::Queue { .. } => FrameKind::Queue,
            Self::AccountChanged => FrameKind::AccountChanged,
        }
    }

    /// The stored event's `seq`; `None` for frames that are not stored.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Self::Message(m) => Some(m.seq),
            Self::Suggestions { seq, .. }
            | Self::Attachment { seq, .. }
            | Self::Ended { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}

/// For a message published live: who wrote it and when it was committed, so that
/// sockets can measure delivery to the other side.
#[derive(Clone, Copy, Debug)]
pub struct Delivery {
    pub author: Option<UserId>,
    pub committed: Instant,
}

/// One frame, serialised once, ready to send to every socket of its audience.
#[derive(Clone, Debug)]
pub struct Frame {
    pub audience: Audience,
    pub kind: FrameKind,
    /// Present on stored events: clients resume after the last one they saw.
    pub seq: Option<i64>,
    /// The frame's JSON.
    pub text: Arc<str>,
    /// Set on messages published live; `None` on replays and on other instances.
    pub delivery: Option<Delivery>,
}

/// A frame as it crosses to another instance: `{"v": 1, "audience": {"to": ..., "id":
/// ...}, "kind": ..., "seq": ..., "text": "<the frame's JSON>"}`.
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    v: u16,
    audience: Audience,
    kind: FrameKind,
    seq: Option<i64>,
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
}

/// Why a frame from another instance could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the frame is not readable: {0}")]
    Unreadable(#[from] serde_json::Error),
    #[error("the frame is in wire version {0}; this build reads version {WIRE_VERSION}")]
    Version(u16),
}

impl Frame {
    /// `body` for `audience`, serialised.
    pub fn new(audience: Audience, body: &OutFrame<'_>) -> Self {
        Self {
            audience,
            kind: body.kind(),
            seq: body.seq(),
            text: serde_json::to_string(body)
                .expect("frames serialize")
                .into(),
            delivery: None,
        }
    }

    /// The frame a stored event is sent as, on replay.
    pub fn of_event(e: &StoredEvent) -> Self {
        let audience = Audience::Chat(e.chat_id);
        let at = || Timestamp(e.created_at);
        if let Some(m) = message_of(e) {
            return Self::new(audience, &OutFrame::Message(&m));
        }
        match &e.event {
            ChatEvent::Message { .. } => unreachable!("messages are framed above"),
            ChatEvent::Suggestions { items } => Self::new(
                audience,
                &OutFrame::Suggestions {
                    seq: e.seq,
                    items,
                    at: at(),
                },
            ),
            ChatEvent::Attachment { attachment, author } => Self::new(
                audience,
                &OutFrame::Attachment {
                    seq: e.seq,
                    attachment,
                    author,
                    at: at(),
                },
            ),
            ChatEvent::Ended { call, ended_by } => Self::new(
                audience,
                &OutFrame::Ended {
                    seq: e.seq,
                    call,
                    ended_by: *ended_by,
                },
            ),
        }
    }

    /// The frame of an event just committed, marked for delivery timing when it is a
    /// message.
    pub fn live(e: &StoredEvent) -> Self {
        let mut frame = Self::of_event(e);
        if let ChatEvent::Message { author, .. } = &e.event {
            frame.delivery = Some(Delivery {
                author: author.id,
                committed: Instant::now(),
            });
        }
        frame
    }

    /// The frame as it crosses to another instance (see [`Wire`]).
    pub fn to_wire(&self) -> String {
        serde_json::to_string(&Wire {
            v: WIRE_VERSION,
            audience: self.audience,
            kind: self.kind,
            seq: self.seq,
            text: std::borrow::Cow::Borrowed(&self.text),
        })
        .expect("frames serialize")
    }

    /// A frame from another instance.
    ///
    /// # Errors
    /// [`WireError`] when it is not a frame, or is in a version this build does not read.
    pub fn from_wire(wire: &str) -> Result<Self, WireError> {
        let wire: Wire<'_> = serde_json::from_str(wire)?;
        if wire.v != WIRE_VERSION {
            return Err(WireError::Version(wire.v));
        }
        Ok(Self {
            audience: wire.audience,
            kind: wire.kind,
            seq: wire.seq,
            text: wire.text.into(),
            delivery: None,
        })
    }
}

/// A stored message as clients see it; `None` for other events.
pub fn message_of(e: &StoredEvent) -> Option<Message> {
    let ChatEvent::Message {
        author,
        text,
        client_id,
        article,
    } = &e.event
    else {
        return None;
    };
    Some(Message {
        id: e.id,
        seq: e.seq,
        chat_id: e.chat_id,
        author: author.clone(),
        text: text.clone(),
        at: Timestamp(e.created_at),
        client_id: client_id.clone(),
        article: article.clone(),
    })
}

/// A message as a frame for its chat.
pub fn message_frame(m: &Message) -> Frame {
    Frame::new(Audience::Chat(m.chat_id), &OutFrame::Message(m))
}

pub fn status_frame(chat: &ChatView) -> Frame {
    Frame::new(Audience::Chat(chat.id), &OutFrame::Status(chat))
}

/// `assigned`: on the receiving analyst's desk socket, a chat transferred to them and who
/// transferred it.
pub fn assigned_frame(to: UserId, chat: &ChatView, from: &User) -> Frame {
    Frame::new(
        Audience::Analyst(to),
        &OutFrame::Assigned {
            chat,
            from: Transferrer {
                username: from.username.as_str(),
                name: &from.display_name,
            },
        },
    )
}

/// `chats_changed`: on an analyst's desk socket, reload `GET /analyst/chats`.
pub fn chats_changed_frame(analyst: UserId) -> Frame {
    Frame::new(Audience::Analyst(analyst), &OutFrame::ChatsChanged)
}

pub fn typing_frame(chat_id: ChatId, role: AuthorRole, name: &str, typing: bool) -> Frame {
    Frame::new(
        Audience::Chat(chat_id),
        &OutFrame::Typing { role, name, typing },
    )
}

/// An error reported on a socket without closing it (a bad frame, a refused message).
pub fn error_frame(code: ErrorCode, message: &str) -> Frame {
    Frame::new(
        Audience::Sender,
        &OutFrame::Error {
            error: ErrorBody { code, message },
        },
    )
}

/// Agent assist for the chat's analyst: `{"type": "assist", "through_seq", "items":
/// [...]}`, not stored.
pub fn assist_frame(chat_id: ChatId, assist: &Assist) -> Frame {
    Frame::new(Audience::ChatAnalyst(chat_id), &OutFrame::Assist(assist))
}

/// The desk's live picture for analysts: the queue, oldest first, and availability.
pub fn desk_frame(queue: &[QueueEntry], availability: &Availability) -> Frame {
    Frame::new(
        Audience::Desk,
        &OutFrame::Queue {
            items: queue,
            availability,
        },
    )
}

/// Tells one person's sockets that their account changed.
pub fn account_changed_frame(user: UserId) -> Frame {
    Frame::new(Audience::Account(user), &OutFrame::AccountChanged)
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
    fn frames_cross_to_other_instances_as_they_left() {
        let frame = typing_frame(crate::domain::ids::ChatId(3), AuthorRole::User, "Ann", true);
        let back = Frame::from_wire(&frame.to_wire()).unwrap();
        assert_eq!(back.audience, Audience::Chat(crate::domain::ids::ChatId(3)));
        assert_eq!(back.kind, FrameKind::Typing);
        assert_eq!(back.seq, None);
        assert_eq!(back.text, frame.text);
        let later = frame.to_wire().replace(r#""v":1"#, r#""v":2"#);
        assert!(matches!(
            Frame::from_wire(&later),
            Err(WireError::Version(2))
        ));
    }

    #[test]
    fn messages_are_flat_frames_with_a_type() {
        let e = StoredEvent {
            id: crate::domain::ids::EventId(3),
            chat_id: crate::domain::ids::ChatId(9),
            seq: 4,
            event: ChatEvent::Message {
                author: Author::bot(),
                text: "<b>hi</b>".into(),
                client_id: None,
                article: None,
            },
            created_at: 0,
        };
        let frame = Frame::of_event(&e);
        assert_eq!((frame.seq, frame.kind), (Some(4), FrameKind::Message));
        let v: serde_json::Value = serde_json::from_str(&frame.text).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["seq"], 4);
        assert_eq!(v["text"], "<b>hi</b>");
        assert_eq!(v["author"]["role"], "bot");
    }
}
