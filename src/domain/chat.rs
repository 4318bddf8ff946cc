//! The chat state machine: `bot` → (`queued` → `active`) → `ended`, and who may act in
//! each state. Storage applies a transition only if the chat is still in an allowed state,
//! so two racing requests cannot both win.

use crate::domain::Timestamp;
use serde::Serialize;

use super::call::Person;
use super::channel::CallSource;
use super::ids::{CallId, ChatId};
use super::user::{RESERVED_NAME, Username};
use super::wait::WaitEstimate;
use crate::error::{Error, ErrorCode};

named_enum! {
    /// Where a chat is in its life; stored and sent in lowercase (`"queued"`).
    #[strum(serialize_all = "lowercase")]
    pub enum ChatStatus {
        /// The bot is suggesting fixes.
        Bot,
        /// Waiting for an analyst.
        Queued,
        /// An analyst is chatting with the user.
        Active,
        Ended,
    }
}

/// Why something cannot be done in a chat: a code for clients and words for people.
pub type Refusal = (ErrorCode, &'static str);

const ENDED: Refusal = (ErrorCode::ChatEnded, "this chat has already ended");

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
    pub fn refusal(self, status: ChatStatus) -> Refusal {
        match (self, status) {
            (_, ChatStatus::Ended) => ENDED,
            (Self::Accept, ChatStatus::Active) => (
                ErrorCode::AlreadyTaken,
                "another analyst has already accepted this chat",
            ),
            (Self::Accept, ChatStatus::Bot) => (
                ErrorCode::NotQueued,
                "this chat is still with the bot and not waiting for an analyst",
            ),
            (Self::Handoff, ChatStatus::Queued) => (
                ErrorCode::AlreadyQueued,
                "this chat is already waiting for an analyst",
            ),
            (Self::Handoff, ChatStatus::Active) => (
                ErrorCode::AlreadyActive,
                "an analyst is already in this chat",
            ),
            _ => (
                ErrorCode::InvalidState,
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
pub fn may_post(party: Party, status: ChatStatus) -> Result<(), Refusal> {
    match (party, status) {
        (_, ChatStatus::Ended) => Err(ENDED),
        (Party::Owner, _) => Ok(()),
        (Party::AssignedAnalyst, ChatStatus::Active) => Ok(()),
        _ => Err((
            ErrorCode::NotYourChat,
            "accept the chat before writing in it",
        )),
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
        assert_eq!(
            Transition::Accept.refusal(Active).0,
            ErrorCode::AlreadyTaken
        );
        assert_eq!(Transition::End.refusal(Ended).0, ErrorCode::ChatEnded);
    }

    #[test]
    fn posting_rules() {
        assert!(may_post(Party::Owner, Bot).is_ok());
        assert!(may_post(Party::Owner, Queued).is_ok());
        assert!(may_post(Party::AssignedAnalyst, Active).is_ok());
        assert!(may_post(Party::OtherAnalyst, Active).is_err());
        assert_eq!(
            may_post(Party::Owner, Ended).unwrap_err().0,
            ErrorCode::ChatEnded
        );
    }

    #[test]
    fn status_round_trips() {
        for s in <ChatStatus as strum::VariantArray>::VARIANTS {
            assert_eq!(s.as_str().parse::<ChatStatus>().unwrap(), *s);
        }
        assert_eq!(serde_json::to_string(&Queued).unwrap(), "\"queued\"");
    }
}

/// A queued chat as the desk sees it (`queue` frames, `GET /analyst/queue`).
#[derive(Clone, Debug, Serialize)]
pub struct QueueEntry {
    pub chat_id: ChatId,
    pub call_id: CallId,
    pub call_reference: String,
    pub description: String,
    pub user: Person,
    /// The channel the chat came from (`chat`, `directline`, `teams`).
    pub source: CallSource,
    pub waiting_since: Timestamp,
    pub position: i64,
}

/// A chat as its participants see it; also the body of `status` events.
#[derive(Clone, Debug, Serialize)]
pub struct ChatView {
    pub id: ChatId,
    pub call_id: CallId,
    pub call_reference: String,
    pub status: ChatStatus,
    pub description: String,
    pub user: Person,
    /// The channel the chat came from (`chat`, `directline`, `teams`).
    pub source: CallSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analyst: Option<Person>,
    /// 1 for the next chat an analyst will take; only while queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_analysts: Option<i64>,
    /// While queued, how long the wait may be; `null` otherwise, or when the desk has too
    /// little recent history to say.
    pub wait_estimate: Option<WaitEstimate>,
    pub last_seq: i64,
    pub created_at: Timestamp,
}

/// Where an analyst sends a chat they are handling: back to the queue (`"queue"`) or to
/// another analyst, by username. Parsed from the request's `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferTarget {
    Queue,
    Analyst(Username),
}

impl TryFrom<&str> for TransferTarget {
    type Error = Error;

    /// # Errors
    /// `invalid` (field `to`) for a name that is not a username.
    fn try_from(to: &str) -> Result<Self, Error> {
        if to == RESERVED_NAME {
            return Ok(Self::Queue);
        }
        Username::parse(to)
            .map(Self::Analyst)
            .map_err(|m| Error::invalid("to", m))
    }
}

impl std::fmt::Display for TransferTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Queue => f.write_str(RESERVED_NAME),
            Self::Analyst(name) => f.write_str(name.as_str()),
        }
    }
}
