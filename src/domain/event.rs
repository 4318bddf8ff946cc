//! What a chat records, typed once. A chat is a log of events (a message, the bot's
//! suggestions, a file, the end); [`ChatEvent`] is what one of them says. Storage decodes
//! it once, where rows are read, and encodes it where rows are written
//! ([`ChatEvent::stored`], [`ChatEvent::from_stored`]); everything above works on the
//! enum. What goes out on a socket is built from it, a layer up, in `events`.
//!
//! The stored form is part of the data's contract, kept readable across versions: a
//! message is its columns (author, text, the client's idempotency key) plus, when an
//! analyst sent an article with it, `{"article_id", "title"}` as its payload. Every other
//! event's payload is a JSON object `{"v": 1, "type": ..., ...}`; rows written before the
//! version was recorded read as version 1, and a later version is refused rather than
//! misread.

use serde::{Deserialize, Serialize};

use super::article::Suggestion;
use super::call::Call;
use super::message::{AttachmentInfo, Author, AuthorRole, EventKind, SharedArticle};

/// The version of the stored payload this build writes and reads.
pub const STORED_VERSION: u16 = 1;

/// What one chat event records.
#[derive(Clone, Debug, PartialEq)]
pub enum ChatEvent {
    /// Someone wrote in the chat: the user, the bot, an analyst, or chatdesk itself (a
    /// transfer note).
    Message {
        author: Author,
        text: String,
        /// The sender's idempotency key: a second message with the same key from the
        /// same author in the same chat stores nothing.
        client_id: Option<String>,
        /// An article the analyst sent with the message.
        article: Option<SharedArticle>,
    },
    /// The bot offered these articles, best first; none when it found no match.
    Suggestions { items: Vec<Suggestion> },
    /// Someone attached a file.
    Attachment {
        attachment: AttachmentInfo,
        author: Author,
    },
    /// The chat ended; `call` is the call as the end left it.
    Ended { call: Call, ended_by: AuthorRole },
}

/// An event as its row stores it (see the module header for the payload's form).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredColumns<'a> {
    pub kind: EventKind,
    pub author: Option<&'a Author>,
    pub body: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub payload: Option<String>,
}

/// The stored payload of events other than messages.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(default = "first_version")]
    v: u16,
    #[serde(flatten)]
    payload: Payload,
}

fn first_version() -> u16 {
    1
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Payload {
    Suggestions {
        items: Vec<Suggestion>,
    },
    Attachment {
        attachment: AttachmentInfo,
        author: Author,
    },
    Ended {
        call: Call,
        ended_by: AuthorRole,
    },
}

/// Why a stored event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("a {kind} event's payload is not readable: {source}")]
    Payload {
        kind: EventKind,
        source: serde_json::Error,
    },
    #[error(
        "a {kind} event was stored in version {version}; this build reads version {STORED_VERSION}"
    )]
    Version { kind: EventKind, version: u16 },
    #[error("a {0} event's payload says it is a different kind")]
    KindMismatch(EventKind),
    #[error("a message event has no author or text")]
    MessageColumns,
    #[error("a {0} event has no payload")]
    MissingPayload(EventKind),
}

impl ChatEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Message { .. } => EventKind::Message,
            Self::Suggestions { .. } => EventKind::Suggestions,
            Self::Attachment { .. } => EventKind::Attachment,
            Self::Ended { .. } => EventKind::Ended,
        }
    }

    /// Who it is by: the writer of a message, the bot for suggestions, the uploader of
    /// a file; nobody for the end.
    pub fn author(&self) -> Option<&Author> {
        match self {
            Self::Message { author, .. } | Self::Attachment { author, .. } => Some(author),
            Self::Suggestions { .. } => Some(bot()),
            Self::Ended { .. } => None,
        }
    }

    /// The text of a message; `None` for other events.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Message { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The articles the bot offered in it (none unless it is `suggestions`).
    pub fn offered(&self) -> &[Suggestion] {
        match self {
            Self::Suggestions { items } => items,
            _ => &[],
        }
    }

    /// The columns its row stores.
    pub fn stored(&self) -> StoredColumns<'_> {
        let payload = |payload: Payload| {
            let stored = Stored {
                v: STORED_VERSION,
                payload,
            };
            Some(serde_json::to_string(&stored).expect("stored events serialize"))
        };
        let (body, client_id, payload) = match self {
            Self::Message {
                text,
                client_id,
                article,
                ..
            } => (
                Some(text.as_str()),
                client_id.as_deref(),
                article
                    .as_ref()
                    .map(|a| serde_json::to_string(a).expect("articles serialize")),
            ),
            Self::Suggestions { items } => (
                None,
                None,
                payload(Payload::Suggestions {
                    items: items.clone(),
                }),
            ),
            Self::Attachment { attachment, author } => (
                None,
                None,
                payload(Payload::Attachment {
                    attachment: attachment.clone(),
                    author: author.clone(),
                }),
            ),
            Self::Ended { call, ended_by } => (
                None,
                None,
                payload(Payload::Ended {
                    call: call.clone(),
                    ended_by: *ended_by,
                }),
            ),
        };
        StoredColumns {
            kind: self.kind(),
            author: self.author(),
            body,
            client_id,
            payload,
        }
    }

    /// Reads an event back from its row's columns.
    ///
    /// # Errors
    /// [`DecodeError`] when the payload is not what `kind` stores, or was written by a
    /// later version.
    pub fn from_stored(
        kind: EventKind,
        author: Option<Author>,
        body: Option<String>,
        client_id: Option<String>,
        payload: Option<&str>,
    ) -> Result<Self, DecodeError> {
        if kind == EventKind::Message {
            let (Some(author), Some(text)) = (author, body) else {
                return Err(DecodeError::MessageColumns);
            };
            // Only a shared article is ever stored with a message.
            let article = payload
                .map(serde_json::from_str)
                .transpose()
                .map_err(|source| DecodeError::Payload { kind, source })?;
            return Ok(Self::Message {
                author,
                text,
                client_id,
                article,
            });
        }
        let payload = payload.ok_or(DecodeError::MissingPayload(kind))?;
        let stored: Stored = serde_json::from_str(payload)
            .map_err(|source| DecodeError::Payload { kind, source })?;
        if stored.v != STORED_VERSION {
            return Err(DecodeError::Version {
                kind,
                version: stored.v,
            });
        }
        let event = match stored.payload {
            Payload::Suggestions { items } => Self::Suggestions { items },
            Payload::Attachment { attachment, author } => Self::Attachment { attachment, author },
            Payload::Ended { call, ended_by } => Self::Ended { call, ended_by },
        };
        if event.kind() != kind {
            return Err(DecodeError::KindMismatch(kind));
        }
        Ok(event)
    }
}

/// The bot, as the author of every `suggestions` event.
fn bot() -> &'static Author {
    static BOT: std::sync::LazyLock<Author> = std::sync::LazyLock::new(Author::bot);
    &BOT
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;
    use crate::domain::call::{CallStatus, Person};
    use crate::domain::ids::{ArticleId, AttachmentId, CallId, UserId};

    fn round_trip(event: &ChatEvent) -> ChatEvent {
        let c = event.stored();
        ChatEvent::from_stored(
            c.kind,
            c.author.cloned(),
            c.body.map(str::to_owned),
            c.client_id.map(str::to_owned),
            c.payload.as_deref(),
        )
        .expect("reads back")
    }

    fn person() -> Person {
        Person {
            id: UserId(7),
            username: "alice".into(),
            name: "Alice".into(),
        }
    }

    #[test]
    fn every_kind_reads_back_as_written() {
        let events = [
            ChatEvent::Message {
                author: Author::bot(),
                text: "hi".into(),
                client_id: Some("c1".into()),
                article: Some(SharedArticle {
                    article_id: ArticleId::parse("vpn-reset").unwrap(),
                    title: "VPN".into(),
                }),
            },
            ChatEvent::Suggestions {
                items: vec![Suggestion {
                    article_id: ArticleId::parse("vpn-reset").unwrap(),
                    title: "VPN".into(),
                    snippet: "Restart it.".into(),
                    score: 0.75,
                    confidence: Some(0.5),
                    similarity: None,
                    explanation: "matched vpn".into(),
                }],
            },
            ChatEvent::Attachment {
                attachment: AttachmentInfo {
                    id: AttachmentId::random(),
                    name: "log.txt".into(),
                    size: 12,
                    content_type: "text/plain".into(),
                },
                author: Author {
                    role: AuthorRole::User,
                    name: "Alice".into(),
                    id: Some(UserId(7)),
                },
            },
            ChatEvent::Ended {
                call: Call {
                    id: CallId(3),
                    reference: "CALL-000003".into(),
                    status: CallStatus::Resolved,
                    source: "chat".into(),
                    description: "vpn".into(),
                    user: person(),
                    resolved_by: Some("bot".into()),
                    resolution: None,
                    created_at: Timestamp(0),
                    updated_at: Timestamp(1_000),
                },
                ended_by: AuthorRole::Bot,
            },
        ];
        for event in &events {
            assert_eq!(&round_trip(event), event);
        }
    }

    #[test]
    fn rows_from_before_the_version_still_read() {
        let old = r#"{"type":"ended","call":{"id":3,"reference":"CALL-000003","status":"open","source":"chat","description":"d","user":{"id":7,"username":"alice","name":"Alice"},"created_at":"2026-11-01T09:00:00Z","updated_at":"2026-11-01T09:05:00.5Z"},"ended_by":"user"}"#;
        let event = ChatEvent::from_stored(EventKind::Ended, None, None, None, Some(old)).unwrap();
        assert!(matches!(
            event,
            ChatEvent::Ended {
                ended_by: AuthorRole::User,
                ..
            }
        ));
        // A `suggestions` row kept its time as `at`; it is the event's own time, so the
        // field is no longer needed and is ignored.
        let offered = r#"{"type":"suggestions","items":[],"at":"1970-01-01T00:00:00Z"}"#;
        assert_eq!(
            ChatEvent::from_stored(EventKind::Suggestions, None, None, None, Some(offered))
                .unwrap(),
            ChatEvent::Suggestions { items: vec![] }
        );
    }

    #[test]
    fn later_versions_and_mismatched_kinds_are_refused() {
        let later = r#"{"v":2,"type":"suggestions","items":[]}"#;
        assert!(matches!(
            ChatEvent::from_stored(EventKind::Suggestions, None, None, None, Some(later)),
            Err(DecodeError::Version { version: 2, .. })
        ));
        let other = r#"{"v":1,"type":"suggestions","items":[]}"#;
        assert!(matches!(
            ChatEvent::from_stored(EventKind::Ended, None, None, None, Some(other)),
            Err(DecodeError::KindMismatch(EventKind::Ended))
        ));
    }
}
