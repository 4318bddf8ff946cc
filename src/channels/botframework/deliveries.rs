//! Each Teams chat's activities, delivered to its conversation's connector in order,
//! once, by one instance at a time. The instance that holds a chat's lease (in the
//! database, on its clock) follows the chat's feed as the person's window would, sends
//! each new event's activities and records how far it got; queue places go out when they
//! change. An instance that stops lets its leases go; one that dies loses them when they
//! lapse; either way another instance resumes from the last event recorded as sent, so
//! nothing is lost (an activity in flight at a crash may go twice). The lease is renewed
//! beside the sending, which may wait minutes on a failing connector, and sending stops
//! the moment it is lost.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};

use super::connector::{Connector, SendError};
use crate::channels::activity::{Activity, ChannelAccount};
use crate::channels::conversations::{Usernames, file_urls};
use crate::channels::translate::{Addressed, QueuePlace, QueueWords, activities_of};
use crate::domain::Timestamp;
use crate::domain::event::ChatEvent;
use crate::domain::ids::ChatId;
use crate::domain::message::AuthorRole;
use crate::engine::clock::Clock;
use crate::engine::{ChannelService, ChatService};
use crate::error::{Error, Result};
use crate::events::FrameKind;
use crate::store::ConversationRecord;

/// The channel id of Teams activities.
const CHANNEL_ID: &str = "msteams";
/// How long a lease lasts unless renewed...
const LEASE: Duration = Duration::from_secs(30);
/// ...and how often its holder renews it.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often an instance looks for deliveries nobody makes.
const RESUME_EVERY: Duration = Duration::from_secs(10);

/// The deliveries this instance makes.
pub(super) struct Deliveries {
    shared: Arc<Shared>,
}

struct Shared {
    chats: ChatService,
    channels: ChannelService,
    connector: Connector,
    clock: Arc<dyn Clock>,
    /// Where clients reach chatdesk, for links to files.
    base: String,
    /// This instance, as lease holder.
    owner: String,
    running: Mutex<HashSet<ChatId>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// How a delivery stopped.
enum Stop {
    /// The chat's end went out: the delivery is done.
    Done,
    /// Shutdown, or the connector failing past its retries: another try resumes it.
    Paused,
    /// Another instance holds the lease now.
    Lost,
}

impl Deliveries {
    pub(super) fn new(
        chats: ChatService,
        channels: ChannelService,
        connector: Connector,
        clock: Arc<dyn Clock>,
        base: String,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                chats,
                channels,
                connector,
                clock,
                base,
                owner: format!("{:016x}", rand::random::<u64>()),
                running: Mutex::new(HashSet::new()),
                shutdown,
                tasks,
            }),
        }
    }

    /// Makes sure the chat's activities are being delivered, here or by another instance.
    pub(super) fn ensure(&self, chat: ChatId) {
        Shared::ensure(&self.shared, chat);
    }

    /// Resumes unfinished deliveries nobody makes, now and every [`RESUME_EVERY`].
    pub(super) fn resume_forever(&self) {
        let shared = self.shared.clone();
        self.shared.tasks.spawn(async move {
            loop {
                match shared.channels.deliveries_to_resume().await {
                    Ok(chats) => {
                        for chat in chats {
                            Shared::ensure(&shared, chat);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e.chain(), "could not look for Teams deliveries to resume")
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(RESUME_EVERY) => {}
                    () = shared.shutdown.cancelled() => return,
                }
            }
        });
    }
}

impl Shared {
    fn ensure(this: &Arc<Self>, chat: ChatId) {
        if this.shutdown.is_cancelled()
            || !this.running.lock().expect("deliveries lock").insert(chat)
        {
            return;
        }
        let shared = this.clone();
        this.tasks.spawn(async move {
            let stop = shared.deliver(chat).await;
            shared
                .running
                .lock()
                .expect("deliveries lock")
                .remove(&chat);
            let release = match stop {
                Ok(Stop::Lost) => return,
                Ok(Stop::Done) => shared.channels.release_delivery(chat, &shared.owner, true),
                Ok(Stop::Paused) => shared.channels.release_delivery(chat, &shared.owner, false),
                Err(e) => {
                    tracing::warn!(%chat, error = %e.chain(), "a Teams delivery stopped");
                    shared.channels.release_delivery(chat, &shared.owner, false)
                }
            };
            if let Err(e) = release.await {
                tracing::warn!(%chat, error = %e.chain(), "could not let a Teams delivery go");
            }
        });
    }

    /// Delivers the chat's activities while this instance holds its lease.
    async fn deliver(&self, chat: ChatId) -> Result<Stop> {
        let channels = &self.channels;
        let Some(lease) = channels.lease_delivery(chat, &self.owner, LEASE).await? else {
            return Ok(Stop::Lost);
        };
        let teams = channels.teams_channel().await?;
        let conversation = channels
            .conversation(&teams, &lease.conversation_id)
            .await?;
        let user = channels
            .user(conversation.user_id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let mut feed = self.chats.open_feed(&user, chat, lease.sent_seq).await?;
        // The lease is renewed beside the sending, which may wait minutes on a failing
        // connector: losing it stops the sending at once.
        let lost = CancellationToken::new();
        let _renewing = AbortOnDropHandle::new(tokio::spawn(renew(
            channels.clone(),
            chat,
            self.owner.clone(),
            lost.clone(),
        )));
        let mut sending = Sending {
            shared: self,
            chat,
            conversation,
            user,
            sent: lease.sent_seq,
            queue_words: QueueWords::default(),
            lost: lost.clone(),
        };
        if let Some(stop) = sending.new_events().await? {
            return Ok(stop);
        }
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return Ok(Stop::Paused),
                () = lost.cancelled() => return Ok(Stop::Lost),
                frame = feed.next() => {
                    let Some(frame) = frame? else {
                        return Ok(Stop::Paused);
                    };
                    let stop = match (frame.seq, frame.kind) {
                        (Some(seq), _) if seq > sending.sent => sending.new_events().await?,
                        (None, FrameKind::Status) => sending.queue_place(&frame.text).await?,
                        _ => None,
                    };
                    if let Some(stop) = stop {
                        return Ok(stop);
                    }
                }
            }
        }
    }
}

/// Renews a chat's lease every [`RENEW_EVERY`] until dropped; cancels `lost` when another
/// instance has it (or it cannot be renewed, so that two never send at once).
async fn renew(channels: ChannelService, chat: ChatId, owner: String, lost: CancellationToken) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match channels.lease_delivery(chat, &owner, LEASE).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                lost.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(%chat, error = %e.chain(), "could not renew a Teams delivery's lease; it stops");
                lost.cancel();
                return;
            }
        }
    }
}

/// One chat's delivery in progress.
struct Sending<'a> {
    shared: &'a Shared,
    chat: ChatId,
    conversation: ConversationRecord,
    user: crate::domain::user::User,
    /// The last event delivered.
    sent: i64,
    /// The queue place, said when it changes.
    queue_words: QueueWords,
    /// Cancelled when the lease is lost.
    lost: CancellationToken,
}

impl Sending<'_> {
    /// Sends the activities of the events not yet sent; `Some` when the delivery stops.
    async fn new_events(&mut self) -> Result<Option<Stop>> {
        let shared = self.shared;
        let events = shared
            .chats
            .events_after(&self.user, self.chat, self.sent)
            .await?;
        if events.is_empty() {
            return Ok(None);
        }
        let names = Usernames::read(&shared.channels, &events).await?;
        let files = file_urls(&shared.chats, &shared.base).await?;
        // The conversation's route may have changed since the delivery began.
        self.conversation = shared
            .channels
            .conversation(
                &shared.channels.teams_channel().await?,
                &self.conversation.id,
            )
            .await?;
        let person = ChannelAccount::default();
        let to = Addressed {
            conversation: &self.conversation.id,
            channel_id: CHANNEL_ID,
            user: &person,
        };
        for event in &events {
            let is_users = match &event.event {
                ChatEvent::Message { author, .. } | ChatEvent::Attachment { author, .. } => {
                    author.role == AuthorRole::User
                }
                _ => false,
            };
            // The person's own words are in Teams already.
            if !is_users {
                let reply_to = match event.event {
                    ChatEvent::Suggestions { .. } => self.conversation.first_activity.clone(),
                    _ => None,
                };
                for activity in activities_of(event, &to, &names, &files) {
                    if let Some(stop) = self.send(activity, reply_to.as_deref()).await? {
                        return Ok(Some(stop));
                    }
                }
            }
            if !shared
                .channels
                .delivered(self.chat, &shared.owner, event.seq)
                .await?
            {
                return Ok(Some(Stop::Lost));
            }
            self.sent = event.seq;
            if matches!(event.event, ChatEvent::Ended { .. }) {
                return Ok(Some(Stop::Done));
            }
        }
        Ok(None)
    }

    /// Says the chat's place in the queue when it changed.
    async fn queue_place(&mut self, status: &str) -> Result<Option<Stop>> {
        let Ok(place) = serde_json::from_str::<QueuePlace>(status) else {
            return Ok(None);
        };
        let person = ChannelAccount::default();
        let to = Addressed {
            conversation: &self.conversation.id,
            channel_id: CHANNEL_ID,
            user: &person,
        };
        let now = Timestamp(self.shared.clock.now());
        let Some(activity) = self.queue_words.next(&place, &to, now) else {
            return Ok(None);
        };
        self.send(activity, None).await
    }

    /// Sends one activity from the bot's account in the conversation; `Some(Paused)`
    /// when the connector fails past its retries.
    async fn send(&self, mut activity: Activity, reply_to: Option<&str>) -> Result<Option<Stop>> {
        let Some(service_url) = self.conversation.service_url.as_deref() else {
            return Err(Error::NotFound("conversation route"));
        };
        if let Some(bot) = self
            .conversation
            .bot_account
            .as_deref()
            .and_then(|b| serde_json::from_str::<ChannelAccount>(b).ok())
            .filter(|b| !b.id.is_empty())
        {
            // Teams shows every message as the bot's: an analyst's words carry their name.
            if let (Some(from), Some(text)) = (&activity.from, &activity.text)
                && from.id.starts_with("analyst:")
            {
                let name = from.name.clone().unwrap_or_default();
                activity.text = Some(format!("{name}: {text}"));
            }
            activity.from = Some(bot);
        }
        activity.reply_to_id = reply_to.map(str::to_owned);
        let sent = tokio::select! {
            sent = self
                .shared
                .connector
                .send(service_url, &self.conversation.id, reply_to, &activity) => sent,
            // Retries wait for the connector; shutdown does not: the next instance resends.
            () = self.shared.shutdown.cancelled() => return Ok(Some(Stop::Paused)),
            () = self.lost.cancelled() => return Ok(Some(Stop::Lost)),
        };
        match sent {
            Ok(_) => Ok(None),
            Err(e @ SendError::Refused(_)) => {
                tracing::warn!(chat = %self.chat, error = %e, "the connector refused an activity; it was skipped");
                Ok(None)
            }
            Err(e @ SendError::Transient(_)) => {
                tracing::warn!(chat = %self.chat, error = %e, "the connector kept failing; the delivery will resume");
                Ok(Some(Stop::Paused))
            }
        }
    }
}
