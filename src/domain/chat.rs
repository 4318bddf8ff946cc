//! The chat state machine: `bot` → (`queued` → `active`) → `ended`, and who may act in
//! each state. Storage applies a transition only if the chat is still in an allowed state,
//! so two racing requests cannot both win.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatStatus {
    /// The bot is suggesting fixes.
    Bot,
    /// Waiting for an analyst.
    Queued,
    /// An analyst is chatting with the user.
    Active,
    Ended,
}

impl ChatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Queued => "queued",
            Self::Active => "active",
            Self::Ended => "ended",
        }
    }
}

impl fmt::Display for ChatStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChatStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bot" => Ok(Self::Bot),
            "queued" => Ok(Self::Queued),
            "active" => Ok(Self::Active),
            "ended" => Ok(Self::Ended),
            other => Err(format!("unknown chat status {other:?}")),
        }
    }
}

/// A change of state somebody asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The user declines the bot's help and asks for an analyst.
    Handoff,
    /// An analyst takes the chat from the queue.
    Accept,
    /// Either side ends the chat (including "this fixed it").
    End,
}

impl Transition {
    pub fn allowed_from(self) -> &'static [ChatStatus] {
        match self {
            Self::Handoff => &[ChatStatus::Bot],
            Self::Accept => &[ChatStatus::Queued],
            Self::End => &[ChatStatus::Bot, ChatStatus::Queued, ChatStatus::Active],
        }
    }

    pub fn target(self) -> ChatStatus {
        match self {
            Self::Handoff => ChatStatus::Queued,
            Self::Accept => ChatStatus::Active,
            Self::End => ChatStatus::Ended,
        }
    }

    pub fn is_allowed_from(self, status: ChatStatus) -> bool {
        self.allowed_from().contains(&status)
    }

    /// Why the transition cannot happen from `status`, in words for the user.
    pub fn refusal(self, status: ChatStatus) -> (&'static str, &'static str) {
        match (self, status) {
            (_, ChatStatus::Ended) => ("chat_ended", "this chat has already ended"),
            (Self::Accept, ChatStatus::Active) => (
                "already_taken",
                "another analyst has already accepted this chat",
            ),
            (Self::Accept, ChatStatus::Bot) => (
                "not_queued",
                "this chat is still with the bot and not waiting for an analyst",
            ),
            (Self::Handoff, ChatStatus::Queued) => (
                "already_queued",
                "this chat is already waiting for an analyst",
            ),
            (Self::Handoff, ChatStatus::Active) => {
                ("already_active", "an analyst is already in this chat")
            }
            _ => (
                "invalid_state",
                "the chat is not in a state that allows this",
            ),
        }
    }
}

/// Which side of a chat somebody is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    /// The user who started the chat.
    Owner,
    /// The analyst who accepted it.
    AssignedAnalyst,
    /// Any other analyst: may look at queued chats, not act in them.
    OtherAnalyst,
}

/// Whether `party` may post a message in a chat in `status`. Users may write while the bot
/// helps and while they wait (the analyst reads it on accepting); analysts once they own it.
pub fn may_post(party: Party, status: ChatStatus) -> Result<(), (&'static str, &'static str)> {
    match (party, status) {
        (_, ChatStatus::Ended) => Err(("chat_ended", "this chat has already ended")),
        (Party::Owner, _) => Ok(()),
        (Party::AssignedAnalyst, ChatStatus::Active) => Ok(()),
        _ => Err(("not_your_chat", "accept the chat before writing in it")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChatStatus::*;

    #[test]
    fn transitions_follow_the_story() {
        assert!(Transition::Handoff.is_allowed_from(Bot));
        assert!(!Transition::Handoff.is_allowed_from(Queued));
        assert!(Transition::Accept.is_allowed_from(Queued));
        assert!(!Transition::Accept.is_allowed_from(Active));
        for s in [Bot, Queued, Active] {
            assert!(Transition::End.is_allowed_from(s));
        }
        assert!(!Transition::End.is_allowed_from(Ended));
    }

    #[test]
    fn a_lost_accept_race_says_someone_else_took_it() {
        assert_eq!(Transition::Accept.refusal(Active).0, "already_taken");
        assert_eq!(Transition::End.refusal(Ended).0, "chat_ended");
    }

    #[test]
    fn posting_rules() {
        assert!(may_post(Party::Owner, Bot).is_ok());
        assert!(may_post(Party::Owner, Queued).is_ok());
        assert!(may_post(Party::AssignedAnalyst, Active).is_ok());
        assert!(may_post(Party::OtherAnalyst, Active).is_err());
        assert_eq!(may_post(Party::Owner, Ended).unwrap_err().0, "chat_ended");
    }

    #[test]
    fn status_round_trips() {
        for s in [Bot, Queued, Active, Ended] {
            assert_eq!(s.as_str().parse::<ChatStatus>().unwrap(), s);
        }
    }
}

/// A chat as its participants see it; also the body of `status` events.
#[derive(Clone, Debug, Serialize)]
pub struct ChatView {
    pub id: i64,
    pub call_id: i64,
    pub call_reference: String,
    pub status: ChatStatus,
    pub description: String,
    pub user: super::call::Person,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analyst: Option<super::call::Person>,
    /// 1 for the next chat an analyst will take; only while queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_analysts: Option<i64>,
    pub last_seq: i64,
    pub created_at: String,
}
