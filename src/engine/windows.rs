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
use crate::domain::chat::ChatStatus;
use crate::domain::message::{Author, AuthorRole};

#[derive(Default)]
pub struct Windows {
    open: Mutex<HashMap<i64, usize>>,
}

impl Windows {
    fn opened(&self, chat_id: i64) {
        *self
            .open
            .lock()
            .expect("windows lock")
            .entry(chat_id)
            .or_default() += 1;
    }

    /// Returns true when that was the chat's last open window.
    fn closed(&self, chat_id: i64) -> bool {
        let mut open = self.open.lock().expect("windows lock");
        match open.get_mut(&chat_id) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                open.remove(&chat_id);
                true
            }
        }
    }

    fn is_open(&self, chat_id: i64) -> bool {
        self.open
            .lock()
            .expect("windows lock")
            .contains_key(&chat_id)
    }
}

/// Held while a user's window on a chat is open.
pub struct WindowGuard {
    engine: Engine,
    chat_id: i64,
}

impl Engine {
    pub(crate) fn window_opened(&self, chat_id: i64) -> WindowGuard {
        self.windows.opened(chat_id);
        WindowGuard {
            engine: self.clone(),
            chat_id,
        }
    }

    /// Ends the chat if its user's window stayed closed for the whole grace period.
    async fn end_if_abandoned(self, chat_id: i64, grace: Duration) {
        tokio::time::sleep(grace).await;
        if self.windows.is_open(chat_id) {
            return;
        }
        let chat = match self.store.chat(chat_id).await {
            Ok(Some(chat)) if chat.status != ChatStatus::Ended => chat,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(chat_id, error = %e, "could not check a closed chat window");
                return;
            }
        };
        let note = format!("{} closed the chat window.", chat.user.name);
        let outcome = async {
            self.say(chat_id, &Author::system(), &note).await?;
            self.finish(&chat, AuthorRole::User, None).await
        }
        .await;
        match outcome {
            Ok(_) => tracing::info!(chat_id, "chat ended: the user closed the window"),
            // Ended meanwhile by someone else: nothing to do.
            Err(crate::error::Error::Conflict { .. }) => {}
            Err(e) => tracing::warn!(chat_id, error = %e, "could not end an abandoned chat"),
        }
    }
}

impl Drop for WindowGuard {
    fn drop(&mut self) {
        let secs = self.engine.settings.chat.end_when_window_closed_secs;
        if !self.engine.windows.closed(self.chat_id) || secs == 0 {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let engine = self.engine.clone();
            runtime.spawn(engine.end_if_abandoned(self.chat_id, Duration::from_secs(secs)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_window_to_close_is_reported() {
        let w = Windows::default();
        w.opened(1);
        w.opened(1);
        assert!(!w.closed(1));
        assert!(w.is_open(1));
        assert!(w.closed(1));
        assert!(!w.is_open(1));
    }
}
