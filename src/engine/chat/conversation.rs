//! What the bot and agent assist rank on, kept per chat and brought up to date from the
//! chat's event log. A message costs one read of the events after the last one folded in,
//! not of the whole conversation: before, every user message re-read the log twice (the
//! bot's follow-up and assist), so a message cost more the longer the chat ran.
//!
//! The log stays the only truth: a conversation is a fold of the events up to
//! `through_seq`, so an evicted or missing entry is rebuilt from the log, and an event
//! written by anyone (another request, another instance) is folded in on the next read.
//! Entries live in a bounded LRU map and are dropped when their chat ends.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use super::ChatService;
use crate::domain::event::ChatEvent;
use crate::domain::ids::{ArticleId, ChatId};
use crate::domain::message::AuthorRole;
use crate::error::Result;
use crate::store::StoredEvent;

/// Words of a conversation kept for ranking, the newest: the model reads about 250 word
/// pieces, and a long chat's newest words are the ones that say what is wrong now. It
/// also bounds what one message costs to rank, however long the chat.
pub const CONVERSATION_WORDS: usize = 200;
/// Chats whose conversation is kept between messages (a few KiB each at most).
const KEPT_CHATS: usize = 4096;

/// The newest [`CONVERSATION_WORDS`] words of some messages, oldest first.
#[derive(Clone, Debug, Default)]
pub(super) struct Words(VecDeque<Box<str>>);

impl Words {
    fn push_text(&mut self, text: &str) {
        for word in text.split_whitespace() {
            if self.0.len() == CONVERSATION_WORDS {
                self.0.pop_front();
            }
            self.0.push_back(word.into());
        }
    }

    /// The words with single spaces between them.
    pub(super) fn joined(&self) -> String {
        let mut out = String::with_capacity(self.0.iter().map(|w| w.len() + 1).sum());
        for word in &self.0 {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        out
    }
}

/// A chat's conversation as far as ranking needs it, folded from its events through
/// `through_seq`.
#[derive(Clone, Debug, Default)]
pub(super) struct Conversation {
    through_seq: i64,
    /// What the user wrote: the bot re-ranks on it.
    pub(super) user_words: Words,
    /// What the user and the analysts wrote: agent assist ranks on it.
    pub(super) said_words: Words,
    /// Every article the bot offered, once each in the order first offered:
    /// `(article id, title)`.
    pub(super) offered: Vec<(String, String)>,
    /// Articles an analyst sent to the user.
    pub(super) sent: Vec<ArticleId>,
}

impl Conversation {
    /// The last event folded in: rankings made from this state are about the chat up to
    /// here.
    pub(super) fn through_seq(&self) -> i64 {
        self.through_seq
    }

    /// Folds in events after `through_seq`, in `seq` order; older ones are skipped.
    fn fold(&mut self, events: &[StoredEvent]) {
        let after = self.through_seq;
        for e in events.iter().filter(|e| e.seq > after) {
            match &e.event {
                ChatEvent::Message {
                    author,
                    text,
                    article,
                    ..
                } => {
                    if author.role == AuthorRole::User {
                        self.user_words.push_text(text);
                    }
                    if matches!(author.role, AuthorRole::User | AuthorRole::Analyst) {
                        self.said_words.push_text(text);
                    }
                    if let Some(shared) = article
                        && !self.sent.contains(&shared.article_id)
                    {
                        self.sent.push(shared.article_id.clone());
                    }
                }
                ChatEvent::Suggestions { items } => {
                    for offer in items {
                        if !self
                            .offered
                            .iter()
                            .any(|(id, _)| id == offer.article_id.as_str())
                        {
                            self.offered
                                .push((offer.article_id.to_string(), offer.title.clone()));
                        }
                    }
                }
                _ => {}
            }
            self.through_seq = e.seq;
        }
    }
}

/// The conversations kept between messages.
pub(super) struct Conversations {
    /// One lock per chat, so two requests of one chat fold its new events once, in turn,
    /// while other chats go on.
    kept: Mutex<LruCache<ChatId, Arc<tokio::sync::Mutex<Conversation>>>>,
}

impl Default for Conversations {
    fn default() -> Self {
        Self {
            kept: Mutex::new(LruCache::new(
                NonZeroUsize::new(KEPT_CHATS).expect("a positive capacity"),
            )),
        }
    }
}

impl Conversations {
    fn entry(&self, chat_id: ChatId) -> Arc<tokio::sync::Mutex<Conversation>> {
        self.kept
            .lock()
            .expect("conversations lock")
            .get_or_insert(chat_id, Default::default)
            .clone()
    }

    /// Forgets an ended chat's conversation.
    pub(super) fn forget(&self, chat_id: ChatId) {
        self.kept.lock().expect("conversations lock").pop(&chat_id);
    }
}

impl ChatService {
    /// The chat's conversation up to its latest stored event, handed to `read`. Reads
    /// only the events stored since the last call for this chat.
    pub(super) async fn conversation<T>(
        &self,
        chat_id: ChatId,
        read: impl FnOnce(&Conversation) -> T,
    ) -> Result<T> {
        let entry = self.conversations.entry(chat_id);
        let mut conversation = entry.lock().await;
        let events = self
            .core
            .store
            .events_after(chat_id, conversation.through_seq)
            .await?;
        conversation.fold(&events);
        Ok(read(&conversation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::EventId;
    use crate::domain::message::{Author, EventKind};

    fn event(
        seq: i64,
        kind: EventKind,
        role: AuthorRole,
        body: &str,
        payload: &str,
    ) -> StoredEvent {
        let author = Author {
            role,
            name: "x".into(),
            id: None,
        };
        StoredEvent {
            id: EventId(seq),
            chat_id: ChatId(1),
            seq,
            event: ChatEvent::from_stored(
                kind,
                Some(author),
                (!body.is_empty()).then(|| body.to_owned()),
                None,
                (!payload.is_empty()).then_some(payload),
            )
            .expect("a readable event"),
            created_at: 0,
        }
    }

    #[test]
    fn keeps_the_newest_words_of_each_side() {
        let mut c = Conversation::default();
        let long: String = (0..CONVERSATION_WORDS + 5)
            .map(|i| format!("w{i} "))
            .collect();
        c.fold(&[
            event(1, EventKind::Message, AuthorRole::Bot, "hello there", ""),
            event(2, EventKind::Message, AuthorRole::User, "vpn drops", ""),
            event(
                3,
                EventKind::Message,
                AuthorRole::Analyst,
                "try  this\nfirst",
                "",
            ),
            event(4, EventKind::Message, AuthorRole::System, "bob joined", ""),
        ]);
        assert_eq!(c.user_words.joined(), "vpn drops");
        assert_eq!(c.said_words.joined(), "vpn drops try this first");
        assert_eq!(c.through_seq(), 4);
        c.fold(&[event(5, EventKind::Message, AuthorRole::User, &long, "")]);
        let words = c.user_words.joined();
        assert_eq!(words.split(' ').count(), CONVERSATION_WORDS);
        assert!(
            words.starts_with("w5 ") && words.ends_with(&format!("w{}", CONVERSATION_WORDS + 4))
        );
    }

    #[test]
    fn folds_each_event_once_and_offers_once() {
        let offer = r#"{"type":"suggestions","items":[{"article_id":"vpn","title":"VPN","score":1},{"article_id":"wifi","title":"Wi-Fi","score":0.5}]}"#;
        let again =
            r#"{"type":"suggestions","items":[{"article_id":"wifi","title":"Wi-Fi","score":1}]}"#;
        let shared = r#"{"article_id":"printer","title":"Printer"}"#;
        let events = [
            event(1, EventKind::Suggestions, AuthorRole::Bot, "", offer),
            event(2, EventKind::Message, AuthorRole::User, "still broken", ""),
            event(3, EventKind::Suggestions, AuthorRole::Bot, "", again),
            event(
                4,
                EventKind::Message,
                AuthorRole::Analyst,
                "read this",
                shared,
            ),
        ];
        let mut c = Conversation::default();
        c.fold(&events[..2]);
        // A read that overlaps what is folded already changes nothing twice.
        c.fold(&events);
        assert_eq!(c.user_words.joined(), "still broken");
        let ids: Vec<&str> = c.offered.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["vpn", "wifi"]);
        assert_eq!(c.sent, [ArticleId::parse("printer").unwrap()]);
    }
}
