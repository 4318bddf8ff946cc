//! The event bus: where the engine announces what happened and sockets listen. One
//! interface, so that a PostgreSQL LISTEN/NOTIFY bus can carry frames across instances
//! without the engine changing. Frames are serialised once, with their audience, for
//! that reason; the audience decides the topic.

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
    /// Sends `frame` to the subscribers of its audience's topic ([`Topic::of`]); a frame
    /// for one socket only ([`Audience::Sender`]) goes nowhere.
    fn publish(&self, frame: Frame);
    /// Subscribe before reading the state you will show, so nothing falls in between.
    fn subscribe(&self, topic: Topic) -> broadcast::Receiver<Frame>;
    /// Called after a subscriber has dropped its receiver: frees the topic when nobody
    /// listens any more.
    fn release(&self, topic: Topic);
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
    topics: Mutex<HashMap<Topic, broadcast::Sender<Frame>>>,
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

impl EventBus for LocalBus {
    fn publish(&self, frame: Frame) {
        let Some(topic) = Topic::of(frame.audience) else {
            tracing::warn!(kind = %frame.kind, "a frame for one socket was published; dropped");
            return;
        };
        let mut topics = self.topics.lock().expect("bus lock");
        if let Some(tx) = topics.get(&topic)
            && tx.send(frame).is_err()
        {
            // Nobody listens any more.
            topics.remove(&topic);
        }
    }

    fn subscribe(&self, topic: Topic) -> broadcast::Receiver<Frame> {
        let mut topics = self.topics.lock().expect("bus lock");
        topics
            .entry(topic)
            .or_insert_with(|| broadcast::channel(topic.capacity(self.capacity)).0)
            .subscribe()
    }

    fn release(&self, topic: Topic) {
        let mut topics = self.topics.lock().expect("bus lock");
        if topics
            .get(&topic)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            topics.remove(&topic);
        }
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
    fn topics_without_subscribers_are_dropped() {
        let bus = LocalBus::default();
        drop(bus.subscribe(Topic::Chat(ChatId(1))));
        assert_eq!(bus.active_topics(), 1);
        bus.publish(frame(1, "x"));
        assert_eq!(bus.active_topics(), 0);
    }
}
