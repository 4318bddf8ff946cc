//! Canned responses: replies analysts save once and insert into any chat, with `{user}`
//! and `{call}` filled in from the chat they are used in.

use crate::domain::Timestamp;
use serde::Serialize;

use super::ids::CannedId;
use crate::error::{Error, Result};

/// Longest title, in characters.
pub const TITLE_MAX: usize = 120;
/// Longest text, in characters.
pub const TEXT_MAX: usize = 4_000;

/// A canned response as analysts see it.
#[derive(Clone, Debug, Serialize)]
pub struct CannedResponse {
    pub id: CannedId,
    pub title: String,
    /// As saved, placeholders and all.
    pub text: String,
    /// Username of whoever saved it last.
    pub author: String,
    pub updated_at: Timestamp,
    /// `text` with `{user}` and `{call}` filled in, when listed for a chat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filled: Option<String>,
}

/// A title and text checked and trimmed; `invalid` (422) naming the field otherwise.
pub fn validated(title: &str, text: &str) -> Result<(String, String)> {
    let title = title.trim();
    let text = text.trim();
    if title.is_empty() {
        return Err(Error::invalid("title", "give the canned response a title"));
    }
    if title.chars().count() > TITLE_MAX {
        return Err(Error::invalid(
            "title",
            format!("a title is at most {TITLE_MAX} characters"),
        ));
    }
    if text.is_empty() {
        return Err(Error::invalid("text", "a canned response needs some text"));
    }
    if text.chars().count() > TEXT_MAX {
        return Err(Error::invalid(
            "text",
            format!("a canned response is at most {TEXT_MAX} characters"),
        ));
    }
    Ok((title.to_owned(), text.to_owned()))
}

/// `text` with every `{user}` replaced by the user's name and every `{call}` by the call's
/// reference, in one pass (a name that contains `{call}` stays as it is). Other braces
/// stay as they are.
pub fn fill(text: &str, user: &str, call: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{user}") {
            out.push_str(user);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{call}") {
            out.push_str(call);
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_other_braces_kept() {
        assert_eq!(
            fill(
                "Hi {user}, {call} is logged. {other} {user}",
                "Alice",
                "CALL-000007"
            ),
            "Hi Alice, CALL-000007 is logged. {other} Alice"
        );
        assert_eq!(
            fill("{user}: {call}", "Eve {call}", "CALL-1"),
            "Eve {call}: CALL-1"
        );
        assert_eq!(fill("{{user}} {", "Bo", "C"), "{Bo} {");
    }

    #[test]
    fn titles_and_texts_are_trimmed_and_bounded() {
        assert_eq!(
            validated("  Greeting ", " Hello ").unwrap(),
            ("Greeting".to_owned(), "Hello".to_owned())
        );
        assert!(validated(" ", "x").is_err());
        assert!(validated("t", "  ").is_err());
        assert!(validated(&"t".repeat(TITLE_MAX + 1), "x").is_err());
        assert!(validated("t", &"é".repeat(TEXT_MAX)).is_ok());
        assert!(validated("t", &"é".repeat(TEXT_MAX + 1)).is_err());
    }
}
