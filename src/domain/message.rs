//! Chat messages, the events a chat is made of, and the text rules they follow.

use crate::domain::Timestamp;
use serde::{Deserialize, Serialize};

use super::ids::{ArticleId, AttachmentId, ChatId, EventId, UserId};

named_enum! {
    /// Which side wrote something; stored and sent in lowercase.
    #[strum(serialize_all = "lowercase")]
    pub enum AuthorRole {
        User,
        Bot,
        Analyst,
        System,
    }
}

named_enum! {
    /// What a stored chat event is. Messages carry text; the others a JSON payload.
    #[strum(serialize_all = "lowercase")]
    pub enum EventKind {
        Message,
        Suggestions,
        Attachment,
        Ended,
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Author {
    pub role: AuthorRole,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<UserId>,
}

impl Author {
    pub fn bot() -> Self {
        Self {
            role: AuthorRole::Bot,
            name: "Service Desk Bot".into(),
            id: None,
        }
    }

    pub fn system() -> Self {
        Self {
            role: AuthorRole::System,
            name: "chatdesk".into(),
            id: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Message {
    pub id: EventId,
    pub seq: i64,
    pub chat_id: ChatId,
    pub author: Author,
    pub text: String,
    pub at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// An article the analyst sent with the message (see [`SharedArticle`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<SharedArticle>,
}

/// An article sent to the user as a message, which the chat window opens in full. Kept
/// as the message event's payload (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedArticle {
    pub article_id: ArticleId,
    pub title: String,
}

/// A file exchanged in a chat, as its `attachment` event and the call show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    pub id: AttachmentId,
    /// Cleaned of paths and control characters.
    pub name: String,
    /// Bytes.
    pub size: i64,
    pub content_type: String,
}

/// Normalises text typed by a person: trims it, drops control characters other than
/// newlines and tabs, and refuses empty or over-long text.
pub fn clean_text(raw: &str, max_chars: usize) -> Result<String, String> {
    let text: String = raw
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    let count = text.chars().count();
    if count > max_chars {
        return Err(format!(
            "is {count} characters long; the limit is {max_chars}"
        ));
    }
    Ok(text)
}

/// A client's idempotency key for a message: short printable ASCII.
pub fn validate_client_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > 100 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be 1 to 100 printable ASCII characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_checked() {
        assert_eq!(clean_text("  hi\u{0007} there\n ", 10).unwrap(), "hi there");
        assert_eq!(
            clean_text("\u{0007} hi", 10).unwrap(),
            "hi",
            "trimmed after cleaning"
        );
        assert!(clean_text(" \n\t ", 10).is_err());
        assert!(clean_text("ééééé", 5).is_ok());
        assert!(clean_text("123456", 5).unwrap_err().contains("limit is 5"));
    }

    #[test]
    fn client_ids_are_checked() {
        assert!(validate_client_id("msg-1").is_ok());
        assert!(validate_client_id("").is_err());
        assert!(validate_client_id("a b").is_err());
    }
}
