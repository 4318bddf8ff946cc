//! Liveness (contract, "Additions: the analyst's desk"): an analyst counts as online only
//! while they have a socket open or made a request in the last
//! `chat.presence_timeout_secs`; a typing indicator ends when the typer's last socket on
//! the chat closes. Both are announced like any other change: a desk frame, a typing
//! frame. A timeout of 0 turns the presence lapse off.
//!
//! Sockets and requests are counted in this process, and each instance notes in the
//! database when it last saw each online analyst, so that with several instances an
//! analyst stays online while any of them sees them. The sweeper that sets lapsed
//! analysts offline is the desk's (`desk::presence`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use super::core::Core;
use crate::domain::Millis;
use crate::domain::ids::{ChatId, UserId};
use crate::domain::message::AuthorRole;
use crate::events;

pub struct Liveness {
    /// When this process started: someone not seen since counts from here.
    started: Millis,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Open sockets per user: chat feeds and the analysts' desk.
    sockets: HashMap<UserId, usize>,
    /// Open chat feeds per chat and user, in chat order: a chat's feeds are one range.
    feeds: BTreeMap<(ChatId, UserId), usize>,
    /// Who is typing in which chat, as their typing frame names them.
    typing: HashMap<(ChatId, UserId), (AuthorRole, String)>,
    /// Each user's last request.
    seen: HashMap<UserId, Millis>,
}

impl Liveness {
    pub(super) fn new(started: Millis) -> Self {
        Self {
            started,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("liveness lock")
    }

    /// Notes a request by `user` at `at`.
    pub(crate) fn seen(&self, user: UserId, at: Millis) {
        self.state().seen.insert(user, at);
    }

    /// Notes that `user` is typing in `chat` (or stopped).
    pub(crate) fn typing(&self, chat: ChatId, user: UserId, as_: Option<(AuthorRole, String)>) {
        let mut state = self.state();
        match as_ {
            Some(name) => state.typing.insert((chat, user), name),
            None => state.typing.remove(&(chat, user)),
        };
    }

    /// True when `user` has a chat socket open on `chat` in this process.
    pub(crate) fn has_feed(&self, chat: ChatId, user: UserId) -> bool {
        self.state().feeds.contains_key(&(chat, user))
    }

    /// True when anyone but `user` has a chat socket open on `chat` in this process.
    pub(crate) fn has_feed_besides(&self, chat: ChatId, user: Option<UserId>) -> bool {
        self.state()
            .feeds
            .range((chat, UserId(i64::MIN))..=(chat, UserId(i64::MAX)))
            .any(|((_, u), _)| Some(*u) != user)
    }

    /// When `user` was last seen here, as of `now`: `now` while they have a socket open,
    /// else their last request; `None` when neither.
    pub(super) fn last_seen(&self, user: UserId, now: Millis) -> Option<Millis> {
        let state = self.state();
        if state.sockets.get(&user).copied().unwrap_or_default() > 0 {
            return Some(now);
        }
        state.seen.get(&user).copied()
    }

    /// Whether, at `now`, this process has run for `timeout`: before then, analysts whose
    /// sockets it held before a restart may not have reconnected yet.
    pub(super) fn settled(&self, timeout: Duration, now: Millis) -> bool {
        now - self.started >= timeout.as_millis() as Millis
    }
}

/// Held while a user's socket is open: on a chat (its feed) or on the analysts' desk.
pub struct SocketGuard {
    core: Core,
    user: UserId,
    chat: Option<ChatId>,
}

impl Core {
    /// Counts a socket of `user` (on `chat`'s feed, or on the desk) until the guard drops.
    pub(crate) fn socket_opened(&self, user: UserId, chat: Option<ChatId>) -> SocketGuard {
        let mut state = self.liveness.state();
        *state.sockets.entry(user).or_default() += 1;
        if let Some(chat) = chat {
            *state.feeds.entry((chat, user)).or_default() += 1;
        }
        SocketGuard {
            core: self.clone(),
            user,
            chat,
        }
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let mut state = self.core.liveness.state();
        if let Some(n) = state.sockets.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.sockets.remove(&self.user);
            }
        }
        let Some(chat) = self.chat else { return };
        let key = (chat, self.user);
        let last = state.feeds.get_mut(&key).is_some_and(|n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
        if !last {
            return;
        }
        state.feeds.remove(&key);
        // The typer's last socket on the chat: their typing ends with it.
        if let Some((role, name)) = state.typing.remove(&key) {
            drop(state);
            self.core
                .publish(events::typing_frame(chat, role, &name, false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_analyst_is_seen_while_a_socket_is_open_and_at_their_last_request() {
        let l = Liveness::new(0);
        let bob = UserId(7);
        assert_eq!(l.last_seen(bob, 5_000), None);
        l.seen(bob, 90_000);
        assert_eq!(l.last_seen(bob, 100_000), Some(90_000));
        l.state().sockets.insert(bob, 1);
        assert_eq!(
            l.last_seen(bob, 100_000),
            Some(100_000),
            "a socket is seen now"
        );
        assert!(!l.settled(Duration::from_secs(60), 59_999));
        assert!(l.settled(Duration::from_secs(60), 60_000));
    }

    #[test]
    fn feeds_besides_a_user_are_found_in_their_chat_only() {
        let l = Liveness::new(0);
        let (ann, bob) = (Some(UserId(1)), Some(UserId(2)));
        l.state().feeds.insert((ChatId(5), UserId(1)), 1);
        l.state().feeds.insert((ChatId(6), UserId(2)), 1);
        assert!(!l.has_feed_besides(ChatId(5), ann), "only Ann watches 5");
        assert!(l.has_feed_besides(ChatId(5), bob));
        assert!(l.has_feed_besides(ChatId(5), None));
        assert!(!l.has_feed_besides(ChatId(4), None));
        l.state().feeds.insert((ChatId(5), UserId(2)), 1);
        assert!(l.has_feed_besides(ChatId(5), ann), "Bob watches 5 too");
    }
}
