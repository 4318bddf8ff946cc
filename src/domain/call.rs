//! Calls: the tickets chats are logged as. A call outlives its chat and carries the
//! final transcript and every exchanged file.

use crate::domain::Timestamp;
use serde::{Deserialize, Serialize};

use super::ids::{ArticleId, CallId, UserId};

/// `CALL-000042`: what users quote on the phone.
pub fn reference(call_id: CallId) -> String {
    format!("CALL-{:06}", call_id.0)
}

/// Parses a reference back to an id (`CALL-000042` or a bare `42`).
pub fn parse_reference(text: &str) -> Option<CallId> {
    let digits = text
        .trim()
        .strip_prefix("CALL-")
        .unwrap_or_else(|| text.trim());
    digits.parse().ok().filter(|id| *id > 0).map(CallId)
}

named_enum! {
    /// Whether a call still needs work; stored and sent in lowercase.
    #[strum(serialize_all = "lowercase")]
    pub enum CallStatus {
        Open,
        Resolved,
    }
}

/// Who resolved a call, when it is resolved.
/// Who resolved a call: the bot, when the user said a suggestion fixed it, or an analyst.
/// Stored, and shown in a call's `resolved_by`, as `bot` or the analyst's username.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolver<'a> {
    Bot,
    Analyst(&'a str),
}

impl Resolver<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Bot => "bot",
            Self::Analyst(username) => username,
        }
    }
}

/// A person as other people see them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Person {
    pub id: UserId,
    pub username: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Call {
    pub id: CallId,
    pub reference: String,
    pub status: CallStatus,
    pub source: String,
    pub description: String,
    pub user: Person,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// How an analyst resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An internal note on a call: analysts read it, the call's user never does.
#[derive(Clone, Debug, Serialize)]
pub struct Note {
    pub id: i64,
    pub text: String,
    /// Username of its author.
    pub author: String,
    pub at: Timestamp,
}

/// How the user took an article the bot offered; ordered from weakest to strongest, so
/// that an article offered in several chats of a call shows its strongest outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OfferOutcome {
    /// Neither: left unanswered, or the user asked for an analyst instead.
    None,
    /// "Not helpful".
    Declined,
    /// "This fixed it".
    Accepted,
}

/// An article the bot offered on a call, once however often it was offered.
#[derive(Clone, Debug, Serialize)]
pub struct Offered {
    pub article_id: ArticleId,
    pub title: String,
    pub outcome: OfferOutcome,
}

/// Longest note or resolution, in characters.
pub const NOTE_MAX: usize = 4_000;

/// A note's or resolution's text, trimmed; `invalid` naming `field` when empty or longer
/// than [`NOTE_MAX`].
pub fn checked_text(field: &'static str, text: &str) -> crate::error::Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(crate::error::Error::invalid(field, "it cannot be empty"));
    }
    if text.chars().count() > NOTE_MAX {
        return Err(crate::error::Error::invalid(
            field,
            format!("it is at most {NOTE_MAX} characters"),
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_zero_padded_and_parse_back() {
        assert_eq!(reference(CallId(42)), "CALL-000042");
        assert_eq!(reference(CallId(1_234_567)), "CALL-1234567");
        assert_eq!(parse_reference("CALL-000042"), Some(CallId(42)));
        assert_eq!(parse_reference("42"), Some(CallId(42)));
        assert_eq!(parse_reference("CALL-x"), None);
        assert_eq!(parse_reference("0"), None);
    }
}
