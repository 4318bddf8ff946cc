//! The desk: analyst presence, the queue and availability, and telling every waiting user
//! their place whenever the queue or the number of free analysts changes.

mod accept;
mod presence;
mod transfer;

use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::core::{Core, entries, view_of};
use super::liveness::SocketGuard;
use crate::bus::{Topic, unsubscribe};
use crate::domain::availability::Availability;
use crate::domain::chat::{ChatStatus, ChatView, QueueEntry};
use crate::domain::ids::UserId;
use crate::domain::user::User;
use crate::error::{Error, Result};
use crate::events;

/// The desk service: analysts' presence (set, and lapsed by a sweeper), the queue,
/// accepting and transferring chats, each analyst's chats and load, and the live desk
/// feed. Holds only the shared core: the desk's state is in the store.
#[derive(Clone)]
pub struct DeskService {
    core: Core,
}

impl DeskService {
    pub(super) fn new(core: Core) -> Self {
        Self { core }
    }

    /// How many analysts are online and free, and how long the queue is: what the Chat
    /// option's label says.
    pub async fn availability(&self) -> Result<Availability> {
        self.core.availability().await
    }

    /// Sets an analyst online or offline, with the number of chats they take at once.
    #[tracing::instrument(skip_all, fields(analyst = %user.id, online = online), err(level = "debug"))]
    pub async fn set_presence(
        &self,
        user: &User,
        online: bool,
        max_chats: Option<u32>,
    ) -> Result<(bool, i64)> {
        let analyst = user.as_analyst("only analysts have a presence")?;
        let current = self.core.store.presence(analyst.id).await?;
        let max = match max_chats {
            Some(0) | Some(51..) => {
                return Err(Error::invalid("max_chats", "must be between 1 and 50"));
            }
            Some(n) => i64::from(n),
            None => current.map_or(i64::from(self.core.settings.chat.default_max_chats), |p| {
                p.max_chats
            }),
        };
        self.core
            .store
            .set_presence(analyst.id, online, max, self.core.now())
            .await?;
        self.core.announce_desk().await?;
        Ok((online, max))
    }

    /// An analyst's presence: offline with the default capacity until they first go online.
    pub async fn presence(&self, user: &User) -> Result<(bool, i64)> {
        let analyst = user.as_analyst("only analysts have a presence")?;
        Ok(self.core.store.presence(analyst.id).await?.map_or(
            (false, i64::from(self.core.settings.chat.default_max_chats)),
            |p| (p.online, p.max_chats),
        ))
    }

    pub async fn queue(&self, user: &User) -> Result<Vec<QueueEntry>> {
        user.as_analyst("only analysts see the queue")?;
        Ok(entries(&self.core.store.queue().await?))
    }

    /// The analyst's active chats.
    pub async fn analyst_chats(&self, user: &User) -> Result<Vec<ChatView>> {
        let analyst = user.as_analyst("only analysts have chats to handle")?;
        Ok(self
            .core
            .store
            .chats_of_analyst(analyst.id, ChatStatus::Active)
            .await?
            .iter()
            .map(|c| view_of(c, None))
            .collect())
    }

    /// Opens an analyst's desk feed: the queue as it is now, then every change to it, and
    /// the chats transferred to them.
    pub async fn open_desk_feed(&self, user: &User) -> Result<DeskFeed> {
        let analyst = user.as_analyst("only analysts watch the queue")?;
        // Subscribe before reading, so that a change in between is not missed.
        let desk = self.core.bus.subscribe(Topic::Desk);
        let own = self.core.bus.subscribe(Topic::Analyst(analyst.id));
        let snapshot = self.core.desk_snapshot().await?;
        Ok(DeskFeed {
            _socket: self.core.socket_opened(analyst.id, None),
            core: self.core.clone(),
            analyst: analyst.id,
            desk,
            own,
            snapshot: Some(snapshot),
        })
    }
}

/// One analyst's live desk: `queue` frames (whole pictures of the queue), `assigned`
/// frames (a chat transferred to them) and `chats_changed` (reload your chats: some
/// `assigned` frames were lost to lag).
pub struct DeskFeed {
    core: Core,
    /// Counts the socket for the analyst's presence (engine `liveness`).
    _socket: SocketGuard,
    analyst: UserId,
    desk: Receiver<events::Frame>,
    own: Receiver<events::Frame>,
    /// The first frame to send.
    snapshot: Option<events::Frame>,
}

impl DeskFeed {
    /// The next frame to send; `None` once the bus has shut down. Cancel-safe.
    pub async fn next(&mut self) -> Result<Option<events::Frame>> {
        if let Some(frame) = self.snapshot.take() {
            return Ok(Some(frame));
        }
        tokio::select! {
            next = self.desk.recv() => match next {
                Ok(frame) => Ok(Some(frame)),
                // Queue frames are whole pictures: after a lag, a fresh one will do.
                Err(RecvError::Lagged(_)) => self.core.desk_snapshot().await.map(Some),
                Err(RecvError::Closed) => Ok(None),
            },
            next = self.own.recv() => match next {
                Ok(frame) => Ok(Some(frame)),
                // Some transfers were missed: the console reloads its chats instead.
                Err(RecvError::Lagged(_)) => Ok(Some(events::chats_changed_frame(self.analyst))),
                Err(RecvError::Closed) => Ok(None),
            },
        }
    }
}

impl Drop for DeskFeed {
    fn drop(&mut self) {
        unsubscribe(&*self.core.bus, Topic::Analyst(self.analyst), &mut self.own);
    }
}
