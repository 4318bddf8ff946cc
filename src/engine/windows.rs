//! Closing the chat window ends the chat. A user's window is their socket: when the last
//! one for a chat closes and none reopens within the grace period (a reload, a network
//! blip), the chat ends as if the user had pressed "end", and the call keeps the transcript.
//!
//! The count of open windows lives in this process; with several instances behind a load
//! balancer, sticky sessions keep a user's sockets on one instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::Engine;
use crate::domain::chat::{ChatStatus, Transition};
use crate::domain::ids::ChatId;
use crate::domain::message::{Author, AuthorRole};

#[derive(Default)]
pub struct Windows {
    /// Per chat: open windows, and a count of opens and closes so that a grace period
    /// started by an earlier close is void once the window has been reopened.
    open: Mutex<HashMap<ChatId, (usize, u64)>>,
}

impl Windows {
    fn opened(&self, chat_id: ChatId) {
        let mut open = self.open.lock().expect("windows lock");
        let entry = open.entry(chat_id).or_default();
        entry.0 += 1;
        entry.1 += 1;
    }

    /// When that was the chat's last open window, the mark to check after the grace period.
    fn closed(&self, chat_id: ChatId) -> Option<u64> {
        let mut open = self.open.lock().expect("windows lock");
        let entry = open.get_mut(&chat_id)?;
        entry.0 = entry.0.saturating_sub(1);
        entry.1 += 1;
        (entry.0 == 0).then_some(entry.1)
    }

    /// True (and forgotten) when no window opened or closed since `mark`.
    fn still_closed(&self, chat_id: ChatId, mark: u64) -> bool {
        let mut open = self.open.lock().expect("windows lock");
        match open.get(&chat_id) {
            Some(&(0, m)) if m == mark => {
                open.remove(&chat_id);
                true
            }
            _ => false,
        }
    }
}

/// Held while a user's window on a chat is open.
pub struct WindowGuard {
    engine: Engine,
    chat_id: ChatId,
}

impl Engine {
    pub(crate) fn window_opened(&self, chat_id: ChatId) -> WindowGuard {
        self.windows.opened(chat_id);
        WindowGuard {
            engine: self.clone(),
            chat_id,
        }
    }

    /// Ends the chat if its user's window stayed closed for the whole grace period.
    async fn end_if_abandoned(self, chat_id: ChatId, mark: u64, grace: Duration) {
        tokio::time::sleep(grace).await;
        if !self.windows.still_closed(chat_id, mark) {
            return;
        }
        let chat = match self.store.chat(chat_id).await {
            Ok(Some(chat)) if chat.status != ChatStatus::Ended => chat,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(%chat_id, error = %e.chain(), "could not check a closed chat window");
                return;
            }
        };
        let note = format!("{} closed the chat window.", chat.user.name);
        let outcome = async {
            self.say(chat_id, &Author::system(), &note).await?;
            self.finish(
                &chat,
                Transition::End.allowed_from(),
                AuthorRole::User,
                None,
            )
            .await
        }
        .await;
        match outcome {
            Ok(_) => tracing::info!(%chat_id, "chat ended: the user closed the window"),
            // Ended meanwhile by someone else: nothing to do.
            Err(crate::error::Error::Conflict { .. }) => {}
            Err(e) => {
                tracing::warn!(%chat_id, error = %e.chain(), "could not end an abandoned chat")
            }
        }
    }
}

impl Drop for WindowGuard {
    fn drop(&mut self) {
        let secs = self.engine.settings.chat.end_when_window_closed_secs;
        let Some(mark) = self.engine.windows.closed(self.chat_id) else {
            return;
        };
        if secs == 0 {
            self.engine.windows.still_closed(self.chat_id, mark);
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let engine = self.engine.clone();
            let grace = Duration::from_secs(secs);
            runtime.spawn(engine.end_if_abandoned(self.chat_id, mark, grace));
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
        // Reopened and closed again within the grace period: the first timer is void.
        w.opened(chat);
        let later = w.closed(chat).expect("closed again");
        assert!(!w.still_closed(chat, mark));
        assert!(w.still_closed(chat, later));
        assert!(!w.still_closed(chat, later), "forgotten once acted on");
    }
}
