//! What every service shares: the store, the bus, the clock and the settings, who is
//! connected (`liveness`), and the chat helpers more than one service needs: finding a
//! chat for a user, its view with its place in the queue, appending and announcing an
//! event, and telling the desk and the waiting users when the queue changes.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::liveness::Liveness;
use super::webhooks::Outbox;
use crate::bus::{EventBus, Topic};
use crate::config::Settings;
use crate::domain::Millis;
use crate::domain::Timestamp;
use crate::domain::availability::Availability;
use crate::domain::call::{self, Call};
use crate::domain::chat::{ChatStatus, ChatView, Party, QueueEntry, Refusal};
use crate::domain::event::ChatEvent;
use crate::domain::ids::ChatId;
use crate::domain::message::{Author, AuthorRole};
use crate::domain::rating::Rating;
use crate::domain::user::User;
use crate::domain::wait::{Pace, WaitEstimate};
use crate::domain::webhook::WebhookEvent;
use crate::error::{Error, ErrorCode, Result};
use crate::events::{self, Frame};
use crate::metrics::Metrics;
use crate::store::{
    Appended, CallRecord, ChatRecord, Constraint, DynStore, NewEvent, RatingRecord, StoreError,
    StoredEvent,
};

/// The most acceptances the pace is read from: the recent pace, not the day's.
const PACE_ACCEPTS: i64 = 10;

/// The parts every service holds; cheap to clone (all shared).
#[derive(Clone)]
pub(super) struct Core {
    pub(super) clock: Arc<dyn Clock>,
    /// Cancelled at shutdown: timers set on the clock do not run after it.
    pub(super) timers: CancellationToken,
    pub(super) store: DynStore,
    pub(super) bus: Arc<dyn EventBus>,
    pub(super) settings: Arc<Settings>,
    pub(super) metrics: Arc<Metrics>,
    /// Who has a socket or was seen lately, and who is typing.
    pub(super) liveness: Arc<Liveness>,
    /// Where webhook events go.
    pub(super) outbox: Arc<Outbox>,
}

impl Core {
    /// Now, on the engine's clock.
    pub(super) fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Runs `work` once `after` has passed on the engine's clock, unless the engine
    /// stops first.
    pub(super) fn after(&self, after: Duration, work: impl Future<Output = ()> + Send + 'static) {
        self.clock
            .schedule(after, self.timers.clone(), Box::pin(work));
    }

    /// The chat as stored now; `not_found` when there is no such chat.
    pub(super) async fn chat(&self, chat_id: ChatId) -> Result<ChatRecord> {
        self.store
            .chat(chat_id)
            .await?
            .ok_or(Error::NotFound("chat"))
    }

    /// The chat as stored now, as its participants see it (see [`Core::view`]).
    pub(super) async fn current_view(&self, chat_id: ChatId) -> Result<ChatView> {
        self.view(&self.chat(chat_id).await?).await
    }

    /// Loads a chat and works out which side `user` is on. Chats the user may not see are
    /// reported as unknown, so that ids cannot be probed.
    pub(super) async fn chat_for(
        &self,
        user: &User,
        chat_id: ChatId,
    ) -> Result<(ChatRecord, Party)> {
        let chat = self.chat(chat_id).await?;
        let party = if chat.user.id == user.id {
            Party::Owner
        } else if chat.analyst.as_ref().is_some_and(|a| a.id == user.id) {
            Party::AssignedAnalyst
        } else if user.is_analyst()
            && (chat.status == ChatStatus::Queued || user.watches_any_chat())
        {
            Party::OtherAnalyst
        } else {
            return Err(Error::NotFound("chat"));
        };
        Ok((chat, party))
    }

    /// The chat as its participants see it, with its place, the free analysts and the
    /// wait estimate while queued.
    pub(super) async fn view(&self, chat: &ChatRecord) -> Result<ChatView> {
        if chat.status != ChatStatus::Queued {
            return Ok(view_of(chat, None));
        }
        let queue = self.store.queue().await?;
        let counts = self.store.desk_counts().await?;
        let pace = self.pace(&queue, counts.online_analysts).await?;
        let place = queue
            .iter()
            .position(|c| c.id == chat.id)
            .map(|p| p as i64 + 1);
        Ok(view_of(
            chat,
            place.map(|position| Place {
                position,
                available_analysts: counts.available_analysts,
                wait: pace.map(|p| p.estimate(position)),
            }),
        ))
    }

    /// Appends an event and, unless it repeats an earlier one, announces it (and tells
    /// webhooks of a message from the user, the bot or an analyst).
    pub(super) async fn append(&self, chat_id: ChatId, event: &NewEvent) -> Result<Appended> {
        let appended = self.store.append_event(chat_id, event).await?;
        if !appended.duplicate {
            self.publish(Frame::live(&appended.event));
            if let ChatEvent::Message { author, .. } = &appended.event.event
                && author.role != AuthorRole::System
            {
                let stored = &appended.event;
                self.happened(
                    WebhookEvent::ChatMessage,
                    chat_id,
                    Some(stored.seq),
                    || serde_json::json!({"message": events::message_of(stored)}),
                )
                .await;
            }
        }
        Ok(appended)
    }

    /// Tells webhooks that `event` happened in a chat, with `fields` beside the chat's
    /// own (made only when an endpoint wants the event).
    pub(super) async fn happened(
        &self,
        event: WebhookEvent,
        chat_id: ChatId,
        seq: Option<i64>,
        fields: impl FnOnce() -> serde_json::Value,
    ) {
        if !self.outbox.wants(event) {
            return;
        }
        match self.outbox.about(&self.store, chat_id).await {
            Ok(about) => {
                self.outbox
                    .emit(self.now(), event, about, seq, fields())
                    .await;
            }
            Err(e) => {
                tracing::warn!(%event, %chat_id, error = %e, "could not read a chat for its webhook event");
            }
        }
    }

    /// Announces `frame` to its audience.
    pub(super) fn publish(&self, frame: Frame) {
        self.bus.publish(frame);
    }

    /// Appends a message by `author` (the bot or the system) and announces it.
    pub(super) async fn say(
        &self,
        chat_id: ChatId,
        author: &Author,
        text: &str,
    ) -> Result<StoredEvent> {
        let appended = self
            .append(
                chat_id,
                &NewEvent {
                    event: ChatEvent::Message {
                        author: author.clone(),
                        text: text.to_owned(),
                        client_id: None,
                        article: None,
                    },
                    now: self.now(),
                },
            )
            .await?;
        Ok(appended.event)
    }

    /// How many analysts are online and free, and how long the queue is.
    pub(super) async fn availability(&self) -> Result<Availability> {
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

    /// Tells each waiting user their place and the free analysts, and analysts the queue,
    /// on every instance. Called after every change to the queue or to analyst capacity.
    pub(super) async fn announce_desk(&self) -> Result<()> {
        self.bus.desk_changed();
        self.announce_desk_here().await
    }

    /// [`Core::announce_desk`] for this process's sockets. Reads only what someone here
    /// listens for: nothing past the queue when no desk console and no waiting user's
    /// socket is open (as in `chatdesk traffic`).
    pub(super) async fn announce_desk_here(&self) -> Result<()> {
        let queue = self.store.queue().await?;
        let desk = self.bus.listened(Topic::Desk).is_some();
        let waiting: Vec<(i64, &ChatRecord)> = (1..)
            .zip(&queue)
            .filter(|(_, chat)| self.bus.listened(Topic::Chat(chat.id)).is_some())
            .collect();
        if !desk && waiting.is_empty() {
            return Ok(());
        }
        let availability = self.availability().await?;
        let pace = if waiting.is_empty() {
            None
        } else {
            self.pace(&queue, availability.online_analysts).await?
        };
        for (position, chat) in waiting {
            let view = view_of(
                chat,
                Some(Place {
                    position,
                    available_analysts: availability.available_analysts,
                    wait: pace.map(|p| p.estimate(position)),
                }),
            );
            self.bus.publish_here(events::status_frame(&view));
        }
        if desk {
            self.bus
                .publish_here(events::desk_frame(&entries(&queue), &availability));
        }
        Ok(())
    }

    /// The desk's current picture as a frame.
    pub(super) async fn desk_snapshot(&self) -> Result<events::Frame> {
        let queue = self.store.queue().await?;
        let availability = self.availability().await?;
        Ok(events::desk_frame(&entries(&queue), &availability))
    }
}

/// A refusal from the chat rules, as a conflict.
pub(super) fn refused((code, message): Refusal) -> Error {
    Error::conflict(code, message)
}

/// Where a queued chat stands.
pub(super) struct Place {
    /// 1 for the next chat an analyst will take.
    pub(super) position: i64,
    pub(super) available_analysts: i64,
    pub(super) wait: Option<WaitEstimate>,
}

pub(super) fn view_of(chat: &ChatRecord, place: Option<Place>) -> ChatView {
    ChatView {
        id: chat.id,
        call_id: chat.call_id,
        call_reference: call::reference(chat.call_id),
        status: chat.status,
        description: chat.description.clone(),
        user: chat.user.clone(),
        source: chat.source,
        analyst: chat.analyst.clone(),
        queue_position: place.as_ref().map(|p| p.position),
        available_analysts: place.as_ref().map(|p| p.available_analysts),
        wait_estimate: place.and_then(|p| p.wait),
        last_seq: chat.last_seq,
        created_at: Timestamp(chat.created_at),
    }
}

pub(super) fn entries(queue: &[ChatRecord]) -> Vec<QueueEntry> {
    queue
        .iter()
        .enumerate()
        .map(|(i, c)| QueueEntry {
            chat_id: c.id,
            call_id: c.call_id,
            call_reference: call::reference(c.call_id),
            description: c.description.clone(),
            user: c.user.clone(),
            source: c.source,
            waiting_since: Timestamp(c.queued_at.unwrap_or(c.created_at)),
            position: i as i64 + 1,
        })
        .collect()
}

/// Seconds from `from` to `to` (milliseconds), never negative.
pub(super) fn seconds_between(from: Millis, to: Millis) -> f64 {
    (to - from).max(0) as f64 / 1000.0
}

/// A call as its user and analysts see it.
pub fn call_view(call: &CallRecord) -> Call {
    Call {
        id: call.id,
        reference: call::reference(call.id),
        status: call.status,
        source: call.source.clone(),
        description: call.description.clone(),
        user: call.user.clone(),
        resolved_by: call.resolved_by.clone(),
        resolution: call.resolution.clone(),
        created_at: Timestamp(call.created_at),
        updated_at: Timestamp(call.updated_at),
    }
}

/// A rating as its call shows it.
pub(super) fn rating_view(r: &RatingRecord) -> Rating {
    Rating {
        score: r.score,
        comment: r.comment.clone(),
        at: Timestamp(r.at),
    }
}

/// What a storage failure means to the person asking: a record they named does not
/// exist, a rule refused the change (a username is taken, the chat has ended), or the
/// database could not answer.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Conflict(Constraint::ChatNotEnded) => {
                Self::conflict(ErrorCode::ChatEnded, "this chat has already ended")
            }
            StoreError::Conflict(Constraint::Unique | Constraint::UniqueUsername) => {
                Self::conflict(ErrorCode::AlreadyExists, "that already exists")
            }
            StoreError::Unavailable(e) => Self::Unavailable(Box::new(e)),
            StoreError::Failed(e) => Self::Database(e),
        }
    }
}
