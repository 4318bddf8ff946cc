//! The event bus: where the engine announces what happened and sockets listen. One
//! interface with two buses: [`LocalBus`] for one process, and [`ClusterBus`], which
//! also tells the other instances on one PostgreSQL database (contract, "Additions:
//! several instances on one PostgreSQL"). Frames are serialised once, with their
//! audience; the audience decides the topic.

mod cluster;

pub use cluster::{ClusterBus, Hint, HintEnvelope};

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::domain::ids::{ChatId, UserId};
use crate::events::{Audience, Frame};

/// What a subscriber listens to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everything that happens in one chat.
    Chat(ChatId),
    /// The queue and analyst availability, for analysts and the Chat option's label.
    Desk,
    /// News for one analyst's console only: a chat transferred to them.
    Analyst(UserId),
    /// One person's account changed (signed out, disabled, tokens revoked, roles
    /// changed): their open sockets check whether they may stay open. Never sent on.
    Account(UserId),
}

impl Topic {
    /// Where a frame for `audience` is published: the chat's topic for both sides of a
    /// chat (its socket feeds pick out what is for the analyst alone); `None` for a frame
    /// that only answers one socket.
    pub fn of(audience: Audience) -> Option<Self> {
        Some(match audience {
            Audience::Chat(chat) | Audience::ChatAnalyst(chat) => Self::Chat(chat),
            Audience::Desk => Self::Desk,
            Audience::Analyst(user) => Self::Analyst(user),
            Audience::Account(user) => Self::Account(user),
            Audience::Sender => return None,
        })
    }

    /// How many frames a subscriber may fall behind by: an account's sockets only need
    /// to know that something changed, and a lagging receiver learns that too.
    fn capacity(self, default: usize) -> usize {
        match self {
            Self::Account(_) => 1,
            _ => default,
        }
    }
}

pub trait EventBus: Send + Sync + 'static {
    /// Sends `frame` to the subscribers of its audience's topic ([`Topic::of`]) on this
    /// process and, on a bus that spans instances, tells the others; a frame for one
    /// socket only ([`Audience::Sender`]) goes nowhere.
    fn publish(&self, frame: Frame);
    /// Sends `frame` to this process's subscribers only: what was read or worked out
    /// here after another instance's hint, or what each instance works out for itself
    /// (the queue as its own sockets see it).
    fn publish_here(&self, frame: Frame);
    /// Tells the other instances (if any) that the queue or analysts' capacity changed,
    /// so each announces the desk to its own sockets.
    fn desk_changed(&self);
    /// Tells the other instances (if any) that articles changed, so each rebuilds its
    /// index now rather than at its next check.
    fn knowledge_changed(&self);
    /// This process's id among the instances that share the database, for what they keep
    /// there per instance (open chat windows); `None` for a bus of one process.
    fn instance(&self) -> Option<i64>;
    /// Subscribe before reading the state you will show, so nothing falls in between.
    fn subscribe(&self, topic: Topic) -> broadcast::Receiver<Frame>;
    /// Called after a subscriber has dropped its receiver: frees the topic when nobody
    /// listens any more.
    fn release(&self, topic: Topic);
    /// While a subscriber on this process listens on `topic`, the highest `seq` sent on
    /// it here (0 when none yet); `None` when nobody here listens. A publisher can skip
    /// reading and building what nobody would receive: one that subscribes later reads
    /// the state itself after subscribing, so it misses nothing.
    fn listened(&self, topic: Topic) -> Option<i64>;
    /// Every topic with a subscriber on this process, with [`EventBus::listened`]'s `seq`.
    fn listeners(&self) -> Vec<(Topic, i64)>;
}

/// Drops a subscriber's receiver, then lets the bus free `topic` if nobody else listens
/// (the bus only sees the receiver gone once it is dropped).
pub fn unsubscribe(bus: &dyn EventBus, topic: Topic, rx: &mut broadcast::Receiver<Frame>) {
    let (_, placeholder) = broadcast::channel(1);
    drop(std::mem::replace(rx, placeholder));
    bus.release(topic);
}

/// Per-topic broadcast channels in one process, created on first use and dropped when
/// the last subscriber has gone.
pub struct LocalBus {
    capacity: usize,
    topics: Mutex<HashMap<Topic, Channel>>,
}

impl LocalBus {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            topics: Mutex::new(HashMap::new()),
        }
    }

    /// Topics with at least one live subscriber.
    pub fn active_topics(&self) -> usize {
        self.topics.lock().expect("bus lock").len()
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

/// One topic's channel, and the highest `seq` sent on it.
struct Channel {
    tx: broadcast::Sender<Frame>,
    seq: i64,
}

impl EventBus for LocalBus {
    fn publish(&self, frame: Frame) {
        self.publish_here(frame);
    }

    fn publish_here(&self, frame: Frame) {
        let Some(topic) = Topic::of(frame.audience) else {
            tracing::warn!(kind = %frame.kind, "a frame for one socket was published; dropped");
            return;
        };
        let mut topics = self.topics.lock().expect("bus lock");
        let Some(channel) = topics.get_mut(&topic) else {
            return;
        };
        channel.seq = channel.seq.max(frame.seq.unwrap_or_default());
        if channel.tx.send(frame).is_err() {
            // Nobody listens any more.
            topics.remove(&topic);
        }
    }

    fn desk_changed(&self) {}

    fn knowledge_changed(&self) {}

    fn instance(&self) -> Option<i64> {
        None
    }

    fn subscribe(&self, topic: Topic) -> broadcast::Receiver<Frame> {
        let mut topics = self.topics.lock().expect("bus lock");
        topics
            .entry(topic)
            .or_insert_with(|| Channel {
                tx: broadcast::channel(topic.capacity(self.capacity)).0,
                seq: 0,
            })
            .tx
            .subscribe()
    }

    fn release(&self, topic: Topic) {
        let mut topics = self.topics.lock().expect("bus lock");
        if topics
            .get(&topic)
            .is_some_and(|c| c.tx.receiver_count() == 0)
        {
            topics.remove(&topic);
        }
    }

    fn listened(&self, topic: Topic) -> Option<i64> {
        let topics = self.topics.lock().expect("bus lock");
        topics
            .get(&topic)
            .filter(|c| c.tx.receiver_count() > 0)
            .map(|c| c.seq)
    }

    fn listeners(&self) -> Vec<(Topic, i64)> {
        let topics = self.topics.lock().expect("bus lock");
        topics
            .iter()
            .filter(|(_, c)| c.tx.receiver_count() > 0)
            .map(|(topic, c)| (*topic, c.seq))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::AuthorRole;

    fn frame(chat: i64, name: &str) -> Frame {
        crate::events::typing_frame(ChatId(chat), AuthorRole::User, name, true)
    }

    #[tokio::test]
    async fn subscribers_get_their_topic_only() {
        let bus = LocalBus::default();
        let mut a = bus.subscribe(Topic::Chat(ChatId(1)));
        let mut desk = bus.subscribe(Topic::Desk);
        bus.publish(frame(1, "one"));
        bus.publish(frame(2, "two"));
        assert!(a.recv().await.unwrap().text.contains("one"));
        assert!(desk.try_recv().is_err());
    }

    #[test]
    fn released_topics_are_freed_once_nobody_listens() {
        let bus = LocalBus::default();
        let a = bus.subscribe(Topic::Chat(ChatId(1)));
        let b = bus.subscribe(Topic::Chat(ChatId(1)));
        drop(a);
        bus.release(Topic::Chat(ChatId(1)));
        assert_eq!(bus.active_topics(), 1, "one listener left");
        drop(b);
        bus.release(Topic::Chat(ChatId(1)));
        assert_eq!(bus.active_topics(), 0);
    }

    #[test]
    fn a_topic_is_listened_while_a_receiver_lives() {
        let bus = LocalBus::default();
        assert!(bus.listened(Topic::Desk).is_none());
        let rx = bus.subscribe(Topic::Desk);
        assert!(bus.listened(Topic::Desk).is_some());
        assert!(bus.listened(Topic::Chat(ChatId(1))).is_none());
        drop(rx);
        assert!(
            bus.listened(Topic::Desk).is_none(),
            "a dropped receiver no longer listens"
        );
    }

    #[test]
    fn listeners_carry_the_highest_seq_sent_here() {
        let bus = LocalBus::default();
        let _rx = bus.subscribe(Topic::Chat(ChatId(2)));
        let mut stored = frame(2, "x");
        stored.seq = Some(7);
        bus.publish(stored);
        bus.publish(frame(2, "typing, no seq"));
        assert_eq!(bus.listened(Topic::Chat(ChatId(2))), Some(7));
        assert_eq!(bus.listeners(), [(Topic::Chat(ChatId(2)), 7)]);
    }

    #[test]
    fn topics_without_subscribers_are_dropped() {
        let bus = LocalBus::default();
        drop(bus.subscribe(Topic::Chat(ChatId(1))));
        assert_eq!(bus.active_topics(), 1);
        bus.publish(frame(1, "x"));
        assert_eq!(bus.active_topics(), 0);
    }
}
