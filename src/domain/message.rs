//! Chat messages and the text rules they follow.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorRole {
    User,
    Bot,
    Analyst,
    System,
}

impl AuthorRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Bot => "bot",
            Self::Analyst => "analyst",
            Self::System => "system",
        }
    }
}

impl fmt::Display for AuthorRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthorRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Self::User),
            "bot" => Ok(Self::Bot),
            "analyst" => Ok(Self::Analyst),
            "system" => Ok(Self::System),
            other => Err(format!("unknown author role {other:?}")),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Author {
    pub role: AuthorRole,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
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
    pub id: i64,
    pub seq: i64,
    pub chat_id: i64,
    pub author: Author,
    pub text: String,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
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
