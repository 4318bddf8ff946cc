//! A chat ends only when someone ends it (contract, "Additions: the analyst's desk"):
//! losing the connection, a phone asleep or another page of the site ends nothing, and a
//! queued chat keeps its place. Two timers end a chat whose user has gone, and the call
//! stays open for analysts:
//!
//! - **Away.** A user's window is their socket. When the last one for a chat closes and
//!   none reopens within `chat.away_end_secs`, a chat with the bot or an analyst ends; a
//!   queued one keeps waiting.
//! - **Leaving.** When the tab that holds the chat is closed, the chat window says so as
//!   the page unloads (`POST /chats/{id}/leave`). The chat ends after
//!   `chat.leave_grace_secs` unless the user is back: a window reopened (a reload), or a
//!   page of the site loaded from [`LEAVING_WINDOW`] before the request on (the back
//!   button or a link, whose page a browser requests before the old page unloads). API
//!   calls from other tabs do not count.
//!
//! Windows and page loads are counted in this process. Instances that share a database
//! also note them there ([`crate::store::WindowStore`], on the database's clock), and a
//! timer that would end a chat first asks whether the user is back on another instance:
//! a tab closed on A and the chat reopened on B within the grace goes on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::ChatService;
use crate::domain::Millis;
use crate::domain::chat::{ChatStatus, Party, Transition};
use crate::domain::ids::{ChatId, UserId};
use crate::domain::message::AuthorRole;
use crate::domain::user::User;
use crate::error::{Error, Result};

/// One chat's windows: how many are open, and counts of opens and of opens and closes,
/// so that a timer started earlier is void once a window has opened since.
#[derive(Clone, Copy, Default)]
struct ChatWindows {
    open: usize,
    opens: u64,
    changes: u64,
}

/// How long before a leave request a page load still counts as the user being back: a
/// browser requests the next page before the old one unloads.
pub const LEAVING_WINDOW: Duration = Duration::from_secs(2);

/// How often an instance renews the heartbeat of its open windows in the database...
pub const WINDOW_HEARTBEAT: Duration = Duration::from_secs(2);
/// ...and how recent a heartbeat must be for another instance's window to count as open
/// (a dead instance's windows stop counting after this).
const WINDOW_LIVE: Duration = Duration::from_secs(7);

#[derive(Default)]
pub struct Windows {
    chats: Mutex<HashMap<ChatId, ChatWindows>>,
    /// Each user's last page load (one entry per user who has loaded a page).
    pages: Mutex<HashMap<UserId, Millis>>,
}

impl Windows {
    fn opened(&self, chat_id: ChatId) {
        let mut chats = self.chats.lock().expect("windows lock");
        let w = chats.entry(chat_id).or_default();
        w.open += 1;
        w.opens += 1;
        w.changes += 1;
    }

    /// When that was the chat's last open window, the mark to check when the away timer
    /// fires.
    fn closed(&self, chat_id: ChatId) -> Option<u64> {
        let mut chats = self.chats.lock().expect("windows lock");
        let w = chats.get_mut(&chat_id)?;
        w.open = w.open.saturating_sub(1);
        w.changes += 1;
        (w.open == 0).then_some(w.changes)
    }

    /// True (and forgotten) when no window opened or closed since `mark`.
    fn still_away(&self, chat_id: ChatId, mark: u64) -> bool {
        let mut chats = self.chats.lock().expect("windows lock");
        match chats.get(&chat_id) {
            Some(w) if w.open == 0 && w.changes == mark => {
                chats.remove(&chat_id);
                true
            }
            _ => false,
        }
    }

    /// Windows opened on the chat so far.
    fn opens(&self, chat_id: ChatId) -> u64 {
        let chats = self.chats.lock().expect("windows lock");
        chats.get(&chat_id).map_or(0, |w| w.opens)
    }

    /// No window is open on the chat.
    fn none_open(&self, chat_id: ChatId) -> bool {
        let chats = self.chats.lock().expect("windows lock");
        chats.get(&chat_id).is_none_or(|w| w.open == 0)
    }

    /// Notes that `user` loaded a page of the site at `at`.
    pub(crate) fn page_loaded(&self, user: UserId, at: Millis) {
        let mut pages = self.pages.lock().expect("pages lock");
        pages.insert(user, at);
    }

    /// True when `user` loaded a page at `since` or later.
    fn page_since(&self, user: UserId, since: Millis) -> bool {
        let pages = self.pages.lock().expect("pages lock");
        pages.get(&user).is_some_and(|&at| at >= since)
    }
}

/// Held while a user's window on a chat is open.
pub struct WindowGuard {
    chats: ChatService,
    chat_id: ChatId,
}

impl ChatService {
    /// Notes that `user` loaded a page of the site: a chat they were leaving goes on.
    pub fn page_loaded(&self, user: UserId) {
        self.windows.page_loaded(user, self.core.now());
        if let Some(instance) = self.core.bus.instance() {
            let store = self.core.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.page_loaded(user, instance).await {
                    tracing::warn!(%user, error = %e, "could not note a page load for the other instances");
                }
            });
        }
    }

    pub(crate) fn window_opened(&self, chat_id: ChatId) -> WindowGuard {
        self.windows.opened(chat_id);
        self.share_window(chat_id, true);
        WindowGuard {
            chats: self.clone(),
            chat_id,
        }
    }

    /// Notes a window opened or closed here for the other instances, if there are any.
    /// The notes are counts, so they may land in any order.
    fn share_window(&self, chat_id: ChatId, opened: bool) {
        let Some(instance) = self.core.bus.instance() else {
            return;
        };
        let store = self.core.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.window_changed(chat_id, instance, opened).await {
                tracing::warn!(%chat_id, error = %e, "could not note a chat window for the other instances");
            }
        });
    }

    /// Renews the heartbeat of this instance's open windows (every [`WINDOW_HEARTBEAT`],
    /// from the relay), so that other instances count them as open.
    ///
    /// # Errors
    /// The database could not be written.
    pub(crate) async fn windows_heartbeat(&self) -> Result<()> {
        if let Some(instance) = self.core.bus.instance() {
            self.core.store.windows_seen(instance).await?;
        }
        Ok(())
    }

    /// Deletes the window and page-load rows an hour stale; returns how many.
    ///
    /// # Errors
    /// The database could not be written.
    pub async fn sweep_stale_windows(&self) -> Result<u64> {
        Ok(self.core.store.sweep_windows().await?)
    }

    /// Whether the user of `chat_id` is back on another instance: a window open there, or
    /// one opened (or, with `user`, a page loaded) in the last `within`. False for one
    /// instance, and when the database cannot say (logged; the timer then acts on what
    /// this instance knows).
    async fn back_elsewhere(
        &self,
        chat_id: ChatId,
        user: Option<UserId>,
        within: Duration,
    ) -> bool {
        let Some(instance) = self.core.bus.instance() else {
            return false;
        };
        let store = &self.core.store;
        let within_ms = within.as_millis() as i64;
        let live_ms = WINDOW_LIVE.as_millis() as i64;
        let window = store
            .window_elsewhere(chat_id, instance, live_ms, within_ms)
            .await;
        let page = match user {
            Some(user) => {
                let since = within_ms + LEAVING_WINDOW.as_millis() as i64;
                store.page_loaded_elsewhere(user, instance, since).await
            }
            None => Ok(false),
        };
        match (window, page) {
            (Ok(window), Ok(page)) => window || page,
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(%chat_id, error = %e, "could not ask whether a user is back on another instance");
                false
            }
        }
    }

    /// The chat window's tab is closing: ends the chat after `chat.leave_grace_secs`
    /// unless its user is back by then (see the module header). Only the chat's user may
    /// say so (`forbidden` otherwise); for an ended chat it does nothing.
    #[tracing::instrument(skip_all, fields(chat_id = %chat_id, user = %user.id), err(level = "debug"))]
    pub async fn leave(&self, user: &User, chat_id: ChatId) -> Result<()> {
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        if party != Party::Owner {
            return Err(Error::forbidden("only the chat's user can leave it"));
        }
        if chat.status == ChatStatus::Ended {
            return Ok(());
        }
        let since = self.core.now() - LEAVING_WINDOW.as_millis() as Millis;
        let opens = self.windows.opens(chat_id);
        let grace = Duration::from_secs(self.core.settings.chat.leave_grace_secs);
        let chats = self.clone();
        let user_id = user.id;
        self.core.after(grace, async move {
            let back = chats.windows.page_since(user_id, since)
                || chats.windows.opens(chat_id) != opens
                || !chats.windows.none_open(chat_id)
                || chats.back_elsewhere(chat_id, Some(user_id), grace).await;
            if !back {
                chats
                    .end_for_absence(chat_id, "closed the chat window")
                    .await;
            }
        });
        Ok(())
    }

    /// Ends the chat if its user's windows stayed closed since `mark`, `away` ago, here
    /// and on every other instance.
    async fn end_if_away(self, chat_id: ChatId, mark: u64, away: Duration) {
        if self.windows.still_away(chat_id, mark) && !self.back_elsewhere(chat_id, None, away).await
        {
            self.end_for_absence(chat_id, "left and did not come back")
                .await;
        }
    }

    /// Ends a chat with the bot or an analyst as its user, with a system note "{user}
    /// {why}."; a queued chat keeps its place, an ended one is left alone.
    async fn end_for_absence(&self, chat_id: ChatId, why: &str) {
        let chat = match self.core.store.chat(chat_id).await {
            Ok(Some(chat)) if matches!(chat.status, ChatStatus::Bot | ChatStatus::Active) => chat,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(%chat_id, error = %Error::from(e).chain(), "could not check a chat whose user left");
                return;
            }
        };
        let note = format!("{} {why}.", chat.user.name);
        let outcome = self
            .finish(
                &chat,
                Transition::End.allowed_from(),
                AuthorRole::User,
                None,
                Some(&note),
            )
            .await;
        match outcome {
            Ok(_) => tracing::info!(%chat_id, why, "chat ended: its user left"),
            // Ended meanwhile by someone else: nothing to do.
            Err(Error::Conflict { .. }) => {}
            Err(e) => {
                tracing::warn!(%chat_id, error = %e.chain(), "could not end a chat whose user left")
            }
        }
    }
}

impl Drop for WindowGuard {
    fn drop(&mut self) {
        let secs = self.chats.core.settings.chat.away_end_secs;
        let outside_runtime = tokio::runtime::Handle::try_current().is_err();
        if !outside_runtime {
            self.chats.share_window(self.chat_id, false);
        }
        let Some(mark) = self.chats.windows.closed(self.chat_id) else {
            return;
        };
        if secs == 0 {
            // No timer to come: forget the chat's windows now.
            self.chats.windows.still_away(self.chat_id, mark);
            return;
        }
        // A guard dropped outside the runtime (at exit) has no timer to set.
        if !outside_runtime {
            let chats = self.chats.clone();
            let away = Duration::from_secs(secs);
            self.chats
                .core
                .after(away, chats.end_if_away(self.chat_id, mark, away));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_close_counts_and_a_reopen_voids_it() {
        let w = Windows::default();
        let chat = ChatId(1);
        w.opened(chat);
        w.opened(chat);
        assert_eq!(w.closed(chat), None);
        let mark = w.closed(chat).expect("last window closed");
        // Reopened and closed again while away: the first timer is void.
        w.opened(chat);
        let later = w.closed(chat).expect("closed again");
        assert!(!w.still_away(chat, mark));
        assert_eq!(w.opens(chat), 3);
        assert!(w.still_away(chat, later));
        assert!(!w.still_away(chat, later), "forgotten once acted on");
    }

    #[test]
    fn page_loads_are_kept_per_user() {
        let w = Windows::default();
        let before = 1_000;
        assert!(!w.page_since(UserId(1), before));
        w.page_loaded(UserId(1), before);
        assert!(w.page_since(UserId(1), before));
        assert!(!w.page_since(UserId(1), before + 1));
        assert!(!w.page_since(UserId(2), before));
    }
}
