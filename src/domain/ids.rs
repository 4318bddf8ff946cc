//! Typed ids: each kind of record has its own id type, so that a chat id cannot be passed
//! where a call id is expected. Serde sees through them (`42`, `"vpn-setup"`), and so does
//! storage (see `store::sql::rows`).
//!
//! Numbers are database-assigned row ids. Text ids that people or clients choose
//! ([`ArticleId`]) are validated once, by `parse`; those the server makes
//! ([`AttachmentId`]) are random and checked for shape.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

row_id!(
    /// An account: a user, an analyst, an author or an admin.
    UserId
);
row_id!(
    /// A call (ticket). People quote it as a reference, `CALL-000042` (see `call::reference`).
    CallId
);
row_id!(
    /// An external channel an admin connected (a Direct Line secret's holder).
    ChannelId
);
row_id!(
    /// A chat: the conversation a call was logged from.
    ChatId
);
row_id!(
    /// An endpoint an admin registered for outbound webhooks.
    WebhookId
);
row_id!(
    /// One stored event of a chat (a message, suggestions, a file, the end).
    EventId
);
row_id!(
    /// A canned response: a reply analysts save once and insert into any chat.
    CannedId
);

/// A knowledge article's id: it appears in URLs and file names, so it is 1 to 100
/// lowercase letters, digits and hyphens, not starting with a hyphen.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct ArticleId(String);

impl ArticleId {
    /// Checks `id`; the error says what is wrong with it, for a field error.
    pub fn parse(id: &str) -> Result<Self, &'static str> {
        if id.is_empty() || id.len() > 100 {
            return Err("must be 1 to 100 characters");
        }
        if !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || id.starts_with('-')
        {
            return Err("may contain only lowercase letters, digits and hyphens");
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ArticleId {
    type Error = &'static str;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::parse(&id)
    }
}

/// A file sent in a chat: 32 random hex digits, also its file name under the data dir,
/// so nothing else may pass for one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct AttachmentId(String);

impl AttachmentId {
    /// A fresh random id (128 bits).
    pub fn random() -> Self {
        Self(hex::encode(rand::random::<[u8; 16]>()))
    }

    /// Checks the shape of an id that came from outside.
    pub fn parse(id: &str) -> Result<Self, &'static str> {
        if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(id.to_owned()))
        } else {
            Err("must be 32 lowercase hex digits")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AttachmentId {
    type Error = &'static str;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::parse(&id)
    }
}

macro_rules! display_as_str {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

display_as_str!(ArticleId, AttachmentId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_their_value() {
        assert_eq!(serde_json::to_string(&ChatId(7)).unwrap(), "7");
        assert_eq!(serde_json::from_str::<CallId>("42").unwrap(), CallId(42));
        let id = ArticleId::parse("vpn-setup").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"vpn-setup\"");
    }

    #[test]
    fn article_ids_are_checked_once() {
        assert!(ArticleId::parse("printer-jam-2").is_ok());
        assert!(ArticleId::parse("").is_err());
        assert!(ArticleId::parse("-x").is_err());
        assert!(ArticleId::parse("Bad Id").is_err());
        assert!(serde_json::from_str::<ArticleId>("\"../etc\"").is_err());
    }

    #[test]
    fn attachment_ids_are_random_hex() {
        let a = AttachmentId::random();
        assert_ne!(a, AttachmentId::random());
        assert_eq!(AttachmentId::parse(a.as_str()), Ok(a));
        assert!(AttachmentId::parse("../../etc/passwd").is_err());
    }
}
