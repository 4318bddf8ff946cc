//! The bus of an instance that shares its PostgreSQL database with others. Frames reach
//! this process's sockets at once, as on [`LocalBus`]; each also becomes a [`Hint`] that
//! the store's notifier sends to every instance (`store::hints`), where the engine's
//! relay turns it back into frames for that instance's own sockets.
//!
//! A hint names what changed and no more when the tables hold it: a stored event is
//! `(chat, seq)` and receivers read it (a hint may be lost; the rows are not), a desk
//! change is a bare [`Hint::Desk`], since each instance works out the queue as its own
//! sockets see it, and a status change names its chat, whose status receivers read as it
//! is then. Frames that are stored nowhere (typing, an analyst's news, an account change)
//! travel whole, in the frame's wire form ([`Frame::to_wire`]).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::{EventBus, LocalBus, Topic};
use crate::domain::ids::ChatId;
use crate::events::{Audience, Frame, FrameKind};
use crate::store::hints::Notifier;

/// The version of [`HintEnvelope`] this build writes and reads.
pub const HINT_VERSION: u16 = 1;

/// What one instance tells the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Hint {
    /// The chat's events up to `seq` are committed.
    Event { chat: ChatId, seq: i64 },
    /// The queue or analysts' capacity changed.
    Desk,
    /// The chat's status changed. Receivers read it as it is when the hint arrives, so a
    /// late hint never shows an older status over a newer one.
    Status { chat: ChatId },
    /// A frame that is stored nowhere, in its wire form.
    Frame { frame: String },
    /// Articles changed: rebuild the knowledge index.
    Knowledge,
}

/// A hint as sent: `{"v": 1, "from": <instance>, "n": <count>, "hint": {"kind": ...}}`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct HintEnvelope {
    pub v: u16,
    /// The sending instance, so that it can skip its own hints.
    pub from: u64,
    /// This instance's count of hints sent: PostgreSQL delivers one copy of identical
    /// payloads sent in one transaction, and a typing frame's "on, off, on" must all
    /// arrive.
    pub n: u64,
    pub hint: Hint,
}

pub struct ClusterBus {
    local: LocalBus,
    notifier: Notifier,
    /// This process's name among the instances: random at start.
    instance: u64,
    sent: AtomicU64,
}

impl ClusterBus {
    pub fn new(local: LocalBus, notifier: Notifier) -> Self {
        Self {
            local,
            notifier,
            instance: rand::random(),
            sent: AtomicU64::new(0),
        }
    }

    /// The hint in `payload` when another instance sent it; `None` for this instance's
    /// own hints and for what cannot be read (logged: a newer instance's version, say).
    pub fn read(&self, payload: &str) -> Option<Hint> {
        match serde_json::from_str::<HintEnvelope>(payload) {
            Ok(e) if e.from == self.instance => None,
            Ok(e) if e.v == HINT_VERSION => Some(e.hint),
            Ok(e) => {
                tracing::warn!(version = e.v, "a hint in another version was skipped");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "an unreadable hint was skipped");
                None
            }
        }
    }

    fn hint(&self, hint: Hint) {
        let envelope = HintEnvelope {
            v: HINT_VERSION,
            from: self.instance,
            n: self.sent.fetch_add(1, Ordering::Relaxed),
            hint,
        };
        self.notifier
            .send(serde_json::to_string(&envelope).expect("hints serialize"));
    }
}

/// What the other instances are told of `frame`; `None` for what only this process's
/// sockets can use (agent assist, worked out for an analyst watching here).
fn hint_of(frame: &Frame) -> Option<Hint> {
    match (frame.seq, frame.kind, frame.audience) {
        (_, _, Audience::Sender) | (_, FrameKind::Assist, _) => None,
        (Some(seq), _, Audience::Chat(chat) | Audience::ChatAnalyst(chat)) => {
            Some(Hint::Event { chat, seq })
        }
        (_, FrameKind::Queue, _) => Some(Hint::Desk),
        (_, FrameKind::Status, Audience::Chat(chat)) => Some(Hint::Status { chat }),
        _ => Some(Hint::Frame {
            frame: frame.to_wire(),
        }),
    }
}

impl EventBus for ClusterBus {
    fn publish(&self, frame: Frame) {
        let hint = hint_of(&frame);
        self.local.publish_here(frame);
        if let Some(hint) = hint {
            self.hint(hint);
        }
    }

    fn publish_here(&self, frame: Frame) {
        self.local.publish_here(frame);
    }

    fn desk_changed(&self) {
        self.hint(Hint::Desk);
    }

    fn knowledge_changed(&self) {
        self.hint(Hint::Knowledge);
    }

    fn instance(&self) -> Option<i64> {
        // The same 64 bits, as the database's BIGINT.
        Some(self.instance as i64)
    }

    fn subscribe(&self, topic: Topic) -> broadcast::Receiver<Frame> {
        self.local.subscribe(topic)
    }

    fn release(&self, topic: Topic) {
        self.local.release(topic);
    }

    fn listened(&self, topic: Topic) -> Option<i64> {
        self.local.listened(topic)
    }

    fn listeners(&self) -> Vec<(Topic, i64)> {
        self.local.listeners()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::AuthorRole;

    #[test]
    fn stored_events_are_named_and_the_rest_travels_whole() {
        let typing = crate::events::typing_frame(ChatId(7), AuthorRole::User, "Ann", true);
        match hint_of(&typing) {
            Some(Hint::Frame { frame }) => {
                let back = Frame::from_wire(&frame).unwrap();
                assert_eq!((back.audience, back.kind), (typing.audience, typing.kind));
                assert_eq!(back.text, typing.text);
            }
            other => panic!("typing travels whole, got {other:?}"),
        }
        let mut stored = typing.clone();
        stored.seq = Some(12);
        assert_eq!(
            hint_of(&stored),
            Some(Hint::Event {
                chat: ChatId(7),
                seq: 12
            })
        );
        let mut status = typing.clone();
        status.kind = FrameKind::Status;
        assert_eq!(hint_of(&status), Some(Hint::Status { chat: ChatId(7) }));
        let mut sender = typing;
        sender.audience = Audience::Sender;
        assert_eq!(hint_of(&sender), None);
    }

    #[test]
    fn the_envelope_is_stable() {
        let e = HintEnvelope {
            v: HINT_VERSION,
            from: 42,
            n: 5,
            hint: Hint::Event {
                chat: ChatId(3),
                seq: 9,
            },
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"from":42,"n":5,"hint":{"kind":"event","chat":3,"seq":9}}"#
        );
        assert_eq!(serde_json::from_str::<HintEnvelope>(&text).unwrap(), e);
        assert_eq!(
            serde_json::to_string(&Hint::Desk).unwrap(),
            r#"{"kind":"desk"}"#
        );
        assert_eq!(
            serde_json::to_string(&Hint::Status { chat: ChatId(4) }).unwrap(),
            r#"{"kind":"status","chat":4}"#
        );
    }
}
