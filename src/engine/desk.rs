//! The desk: analyst presence, the queue and availability, and telling every waiting user
//! their place whenever the queue or the number of free analysts changes.

use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::{Engine, Place, view_of};
use crate::bus::{Topic, unsubscribe};
use crate::domain::availability::Availability;
use crate::domain::call::{self};
use crate::domain::chat::{ChatStatus, ChatView, QueueEntry};
use crate::domain::ids::UserId;
use crate::domain::rfc3339;
use crate::domain::user::User;
use crate::domain::wait::Pace;
use crate::error::{Error, Result};
use crate::events;
use crate::store::ChatRecord;

/// The most acceptances the pace is read from: the recent pace, not the day's.
const PACE_ACCEPTS: i64 = 10;

impl Engine {
    pub async fn availability(&self) -> Result<Availability> {
        let c = self.store.desk_counts().await?;
        Ok(Availability::new(
            c.online_analysts,
            c.available_analysts,
            c.queue_length,
        ))
    }

    /// The desk's recent pace of taking queued chats, with the `queue` as it is and
    /// `online` analysts now; `None` with too little history
    /// (`chat.wait_estimate_min_accepts`).
    pub(super) async fn pace(&self, queue: &[ChatRecord], online: i64) -> Result<Option<Pace>> {
        let chat = &self.settings.chat;
        let now = self.now();
        let window = i64::try_from(chat.wait_estimate_window_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let accepts = self
            .store
            .recent_acceptances(now.saturating_sub(window), PACE_ACCEPTS)
            .await?;
        // A chat put back in the queue by a transfer keeps its first `queued_at`; it has
        // been waiting again only since after its first acceptance.
        let waiting: Vec<_> = queue
            .iter()
            .map(|c| {
                let queued = c.queued_at.unwrap_or(c.created_at);
                c.accepted_at
                    .map_or(queued, |accepted| accepted.max(queued))
            })
            .collect();
        Ok(Pace::from_history(
            &accepts,
            &waiting,
            online,
            now,
            chat.wait_estimate_min_accepts as usize,
        ))
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
        let current = self.store.presence(analyst.id).await?;
        let max = match max_chats {
            Some(0) | Some(51..) => {
                return Err(Error::invalid("max_chats", "must be between 1 and 50"));
            }
            Some(n) => i64::from(n),
            None => current.map_or(i64::from(self.settings.chat.default_max_chats), |p| {
                p.max_chats
            }),
        };
        self.store
            .set_presence(analyst.id, online, max, self.now())
            .await?;
        self.announce_desk().await?;
        Ok((online, max))
    }

    /// An analyst's presence: offline with the default capacity until they first go online.
    pub async fn presence(&self, user: &User) -> Result<(bool, i64)> {
        let analyst = user.as_analyst("only analysts have a presence")?;
        Ok(self.store.presence(analyst.id).await?.map_or(
            (false, i64::from(self.settings.chat.default_max_chats)),
            |p| (p.online, p.max_chats),
        ))
    }

    pub async fn queue(&self, user: &User) -> Result<Vec<QueueEntry>> {
        user.as_analyst("only analysts see the queue")?;
        Ok(entries(&self.store.queue().await?))
    }

    /// The analyst's active chats.
    pub async fn analyst_chats(&self, user: &User) -> Result<Vec<ChatView>> {
        let analyst = user.as_analyst("only analysts have chats to handle")?;
        Ok(self
            .store
            .chats_of_analyst(analyst.id, ChatStatus::Active)
            .await?
            .iter()
            .map(|c| view_of(c, None))
            .collect())
    }

    /// Tells each waiting user their place and the free analysts, and analysts the queue.
    /// Called after every change to the queue or to analyst capacity.
    pub(crate) async fn announce_desk(&self) -> Result<()> {
        let queue = self.store.queue().await?;
        let availability = self.availability().await?;
        let pace = if queue.is_empty() {
            None
        } else {
            self.pace(&queue, availability.online_analysts).await?
        };
        for (i, chat) in queue.iter().enumerate() {
            let position = i as i64 + 1;
            let view = view_of(
                chat,
                Some(Place {
                    position,
                    available_analysts: availability.available_analysts,
                    wait: pace.map(|p| p.estimate(position)),
                }),
            );
            self.publish(events::status_frame(&view));
        }
        self.publish(events::desk_frame(&entries(&queue), &availability));
        Ok(())
    }

    /// The desk's current picture as a frame.
    async fn desk_snapshot(&self) -> Result<events::Frame> {
        let queue = self.store.queue().await?;
        let availability = self.availability().await?;
        Ok(events::desk_frame(&entries(&queue), &availability))
    }

    /// Opens an analyst's desk feed: the queue as it is now, then every change to it, and
    /// the chats transferred to them.
    pub async fn open_desk_feed(&self, user: &User) -> Result<DeskFeed> {
        let analyst = user.as_analyst("only analysts watch the queue")?;
        // Subscribe before reading, so that a change in between is not missed.
        let desk = self.bus.subscribe(Topic::Desk);
        let own = self.bus.subscribe(Topic::Analyst(analyst.id));
        let snapshot = self.desk_snapshot().await?;
        Ok(DeskFeed {
            engine: self.clone(),
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
    engine: Engine,
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
                Err(RecvError::Lagged(_)) => self.engine.desk_snapshot().await.map(Some),
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
        unsubscribe(
            &*self.engine.bus,
            Topic::Analyst(self.analyst),
            &mut self.own,
        );
    }
}

fn entries(queue: &[ChatRecord]) -> Vec<QueueEntry> {
    queue
        .iter()
        .enumerate()
        .map(|(i, c)| QueueEntry {
            chat_id: c.id,
            call_id: c.call_id,
            call_reference: call::reference(c.call_id),
            description: c.description.clone(),
            user: c.user.clone(),
            waiting_since: rfc3339(c.queued_at.unwrap_or(c.created_at)),
            position: i as i64 + 1,
        })
        .collect()
}
