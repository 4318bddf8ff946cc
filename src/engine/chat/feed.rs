//! A participant's live view of one chat: first every persisted event after the `seq` the
//! client already has, then live events, in `seq` order with nothing missed. When the
//! broadcast channel lags or an event arrives ahead of one still in flight, the feed
//! catches up from the database instead of dropping anything.

use std::collections::VecDeque;

use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::ChatService;
use super::windows::WindowGuard;
use crate::bus::{Topic, unsubscribe};
use crate::domain::chat::Party;
use crate::domain::ids::ChatId;
use crate::domain::user::User;
use crate::engine::liveness::SocketGuard;
use crate::error::{Error, Result};
use crate::events::{self, Audience, Frame, FrameKind};

pub struct ChatFeed {
    chats: ChatService,
    chat_id: ChatId,
    rx: Receiver<Frame>,
    last_seq: i64,
    pending: VecDeque<Frame>,
    /// Set before catching up, so that a catch-up interrupted by cancellation (the
    /// socket's `select!`) is done on the next call rather than lost.
    behind: bool,
    /// Set when the feed is the chat user's window: closing it may end the chat.
    _window: Option<WindowGuard>,
    /// Counts the socket for presence and typing (engine `liveness`).
    _socket: SocketGuard,
    /// Someone on the analysts' side (not the chat's user): what they may see and do can
    /// change with the chat (its analyst may transfer it away, a queued chat may be taken
    /// by someone else), so their rights are read again on every `status` frame and
    /// catch-up, and the feed ends after the status that took the chat from them.
    /// Supervisors and admins see every chat.
    viewer: Option<User>,
    /// The chat is no longer the viewer's to see: the feed has ended.
    gone: bool,
    /// The viewer is the chat's analyst (as of the last status), the only one `assist`
    /// frames are for.
    assigned_analyst: bool,
}

impl ChatService {
    /// Opens a feed for someone allowed to see the chat, replaying events after `after`.
    ///
    /// # Errors
    /// `invalid` when `after` is beyond the chat's last event: no client can have seen
    /// it, and a feed that waited for it would stay silent.
    pub async fn open_feed(&self, user: &User, chat_id: ChatId, after: i64) -> Result<ChatFeed> {
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        if after > chat.last_seq {
            return Err(Error::invalid(
                "after",
                format!(
                    "seq {after} is beyond this chat's last event ({}); reconnect with \
                     after={} or lower",
                    chat.last_seq, chat.last_seq
                ),
            ));
        }
        // Subscribe before reading, so an event committed in between is not missed.
        let rx = self.core.bus.subscribe(Topic::Chat(chat_id));
        let mut feed = ChatFeed {
            chats: self.clone(),
            chat_id,
            rx,
            last_seq: after.max(0),
            pending: VecDeque::new(),
            behind: false,
            _window: (party == Party::Owner).then(|| self.window_opened(chat_id)),
            _socket: self.core.socket_opened(user.id, Some(chat_id)),
            assigned_analyst: party == Party::AssignedAnalyst,
            viewer: (party != Party::Owner).then(|| user.clone()),
            gone: false,
        };
        feed.catch_up().await?;
        Ok(feed)
    }
}

impl ChatFeed {
    /// The next frame to send; `None` once the bus has shut down.
    /// Cancel-safe: state changes only after each await completes.
    pub async fn next(&mut self) -> Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Ok(Some(frame));
            }
            if self.gone {
                return Ok(None);
            }
            if self.behind {
                self.catch_up().await?;
                self.behind = false;
                continue;
            }
            match self.rx.recv().await {
                Ok(frame) => match frame.seq {
                    None if frame.kind == FrameKind::Status => {
                        // The status that took the chat away is the last thing sent.
                        self.gone = !self.recheck().await?;
                        return Ok(Some(frame));
                    }
                    None if matches!(frame.audience, Audience::ChatAnalyst(_))
                        && !self.assigned_analyst =>
                    {
                        continue;
                    }
                    None => return Ok(Some(frame)),
                    Some(seq) if seq <= self.last_seq => continue,
                    Some(seq) if seq == self.last_seq + 1 => {
                        self.last_seq = seq;
                        return Ok(Some(frame));
                    }
                    // Ahead of an event still in flight: the database has both.
                    Some(_) => self.behind = true,
                },
                Err(RecvError::Lagged(_)) => self.behind = true,
                Err(RecvError::Closed) => return Ok(None),
            }
        }
    }

    /// Reads again which side of the chat the viewer (if any) is on: whether they may
    /// still see it, and whether they are its analyst now.
    async fn recheck(&mut self) -> Result<bool> {
        let Some(user) = &self.viewer else {
            return Ok(true);
        };
        match self.chats.core.chat_for(user, self.chat_id).await {
            Ok((_, party)) => {
                self.assigned_analyst = party == Party::AssignedAnalyst;
                Ok(true)
            }
            Err(Error::NotFound(_)) => {
                self.assigned_analyst = false;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// Queues every stored event after `last_seq`, then the chat's current status; for
    /// a viewer who may no longer see the chat, nothing, and the feed ends.
    async fn catch_up(&mut self) -> Result<()> {
        if !self.recheck().await? {
            self.gone = true;
            return Ok(());
        }
        let core = &self.chats.core;
        let events = core.store.events_after(self.chat_id, self.last_seq).await?;
        let status = events::status_frame(&core.current_view(self.chat_id).await?);
        for e in &events {
            self.pending.push_back(Frame::of_event(e));
            self.last_seq = e.seq;
        }
        self.pending.push_back(status);
        Ok(())
    }
}

impl Drop for ChatFeed {
    fn drop(&mut self) {
        unsubscribe(
            &*self.chats.core.bus,
            Topic::Chat(self.chat_id),
            &mut self.rx,
        );
    }
}
