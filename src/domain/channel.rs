//! External channels: the ways into a chat besides chatdesk's own pages (contract,
//! "Additions: external channels"). A chat from any channel is the same chat; only its
//! call's `source` and the person's identity in the channel differ.

use serde::Serialize;

use super::Timestamp;
use super::ids::ChannelId;

crate::domain::named_enum! {
    /// Where a call was logged from, as the call's `source` names it.
    #[strum(serialize_all = "lowercase")]
    pub enum CallSource {
        /// chatdesk's own chat window (or its API).
        Chat,
        /// A Direct Line client (Web Chat, `botframework-directlinejs`).
        Directline,
        /// Microsoft Teams, through the Bot Framework.
        Teams,
    }
}

crate::domain::named_enum! {
    /// The kinds of channel an admin can connect.
    #[strum(serialize_all = "lowercase")]
    pub enum ChannelKind {
        /// Direct Line 3.0: a secret for a site's Web Chat or any Direct Line client.
        Directline,
        /// Microsoft Teams through the Bot Framework: one, made when the settings turn
        /// the Bot Framework on; its people are keyed by their Entra object id.
        Teams,
    }
}

/// A connected channel as admins see it (never its secret).
#[derive(Clone, Debug, Serialize)]
pub struct Channel {
    pub id: ChannelId,
    pub kind: ChannelKind,
    pub name: String,
    pub created_at: Timestamp,
}

/// The longest channel name, in characters.
pub const CHANNEL_NAME_MAX_CHARS: usize = 100;

/// A person's id as a channel gives it: 1 to 128 characters, none of them a control
/// character. Errors: what is wrong, for the caller's message.
pub fn validate_external_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.chars().count() > 128 {
        return Err("must be 1 to 128 characters");
    }
    if id.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_named_as_the_contract_names_them() {
        assert_eq!(CallSource::Directline.as_str(), "directline");
        assert_eq!("teams".parse::<CallSource>().unwrap(), CallSource::Teams);
        assert_eq!(ChannelKind::Directline.as_str(), "directline");
    }

    #[test]
    fn external_ids_are_bounded() {
        assert!(validate_external_id("dl_123").is_ok());
        assert!(validate_external_id("").is_err());
        assert!(validate_external_id(&"x".repeat(129)).is_err());
        assert!(validate_external_id("a\nb").is_err());
    }
}
