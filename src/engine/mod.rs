//! The chat engine: the rules of the product, applied. Handlers call it with a signed-in
//! [`User`]; it checks rights, changes state through the [`Store`](crate::store::Store),
//! commits, and only then announces on the [`EventBus`]. Nothing here knows about HTTP.

mod access;
mod accounts;
mod assist;
mod background;
mod calls;
mod canned;
mod chats;
pub mod clock;
mod conversation;
mod desk;
mod device_cookies;
mod feed;
mod files;
mod gaps;
mod insights;
mod knowledge;
mod liveness;
mod ratings;
mod sign_in;
mod throttle;
mod transfer;
mod windows;

use std::net::IpAddr;
use std::sync::Arc;

pub use access::{AccessWatch, Revoked, SocketSlot};
pub use accounts::{AccountChange, Token};
pub use calls::{CallDetails, LinkedChat, TranscriptEntry, call_view};
pub use desk::DeskFeed;
pub use device_cookies::{DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE_SECS};
pub use feed::ChatFeed;
pub use files::{Download, FileStore, Upload};
pub use gaps::{GAP_CALLS, GapKind, KnowledgeGap, KnowledgeGaps};
pub use insights::Report;
pub use knowledge::{ArticleSummary, Knowledge, ReindexReport, SavedArticle, Skipped};
pub use sign_in::{Attempt, MAX_USERNAME_CHARS, SignedIn};
pub use windows::LEAVING_WINDOW;

use crate::bus::EventBus;
use crate::config::Settings;
use crate::domain::call;
use crate::domain::chat::{ChatStatus, ChatView, Party, Refusal};
use crate::domain::ids::{ArticleId, ChatId, UserId};
use crate::domain::user::User;
use crate::domain::wait::WaitEstimate;
use crate::domain::{Millis, rfc3339};
use crate::error::{Error, Result};
use crate::events::Frame;
use crate::knowledge::{RankRequest, Ranker, Suggestion};
use crate::metrics::Metrics;
use crate::store::{Appended, ChatRecord, DynStore, NewEvent};
use clock::Clock;
use throttle::Buckets;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct Engine {
    clock: Arc<dyn Clock>,
    /// Cancelled at shutdown: timers set on the clock do not run after it.
    timers: CancellationToken,
    store: DynStore,
    bus: Arc<dyn EventBus>,
    ranker: Arc<dyn Ranker>,
    knowledge: Arc<Knowledge>,
    files: Arc<FileStore>,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    windows: Arc<windows::Windows>,
    liveness: Arc<liveness::Liveness>,
    question_vectors: Arc<gaps::QuestionVectors>,
    limits: Arc<Throttles>,
    conversations: Arc<conversation::Conversations>,
    assist_runs: Arc<assist::AssistRuns>,
    background: Arc<background::Background>,
    /// Signs device cookies; read from the store on first use.
    device_key: Arc<tokio::sync::OnceCell<device_cookies::DeviceKey>>,
    /// Argon2 runs, at most `limits.password_hashes` at once.
    password_checks: Arc<tokio::sync::Semaphore>,
    /// Open sockets per person, against `limits.sockets_per_user`.
    open_sockets: Arc<access::OpenSockets>,
}

/// The engine's rate limits and quotas (see [`throttle`]).
struct Throttles {
    /// Failed sign-ins of clients without a device cookie for the account, by account.
    logins_by_account: Buckets<String>,
    /// Failed sign-ins of one browser with a device cookie, by the cookie's nonce.
    logins_by_device: Buckets<String>,
    /// Failed sign-ins by address (see [`sign_in::address_key`]).
    logins_by_address: Buckets<IpAddr>,
    /// By (sender, chat).
    messages: Buckets<(UserId, ChatId)>,
    typing: Buckets<UserId>,
    chats_started: Buckets<UserId>,
    /// In bytes.
    upload_bytes: Buckets<UserId>,
}

impl Throttles {
    fn new(limits: &crate::config::Limits) -> Self {
        let login_refill = 1.0 / limits.login_refill_secs.max(1) as f64;
        let per_account = limits.login_attempts_per_account;
        let chats = limits.chats_per_hour.max(1);
        let bytes = limits.upload_bytes_per_day.max(1) as f64;
        let typing = limits.typing_per_sec.max(1);
        Self {
            logins_by_account: Buckets::new(f64::from(per_account), login_refill),
            logins_by_device: Buckets::new(f64::from(per_account), login_refill),
            logins_by_address: Buckets::new(
                f64::from(limits.login_attempts_per_address),
                login_refill,
            ),
            messages: Buckets::new(
                f64::from(limits.message_burst),
                f64::from(limits.messages_per_sec.max(1)),
            ),
            typing: Buckets::new(f64::from(typing * 2), f64::from(typing)),
            chats_started: Buckets::new(f64::from(chats), f64::from(chats) / 3600.0),
            upload_bytes: Buckets::new(bytes, bytes / 86_400.0),
        }
    }
}

impl Engine {
    /// The engine over `store` and `bus`, ranking with `knowledge`, on `clock`.
    ///
    /// # Errors
    /// The background ranking threads cannot be started.
    pub fn new(
        clock: Arc<dyn Clock>,
        store: DynStore,
        bus: Arc<dyn EventBus>,
        knowledge: Knowledge,
        settings: Arc<Settings>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let files = Arc::new(FileStore::new(settings.data_dir.join("attachments")));
        let limits = Arc::new(Throttles::new(&settings.limits));
        let background = Arc::new(background::Background::new(
            settings.limits.assist_rankings,
        )?);
        Ok(Self {
            liveness: Arc::new(liveness::Liveness::new(clock.now())),
            clock,
            timers: CancellationToken::new(),
            store,
            bus,
            ranker: knowledge.live.clone(),
            knowledge: Arc::new(knowledge),
            files,
            metrics,
            windows: Default::default(),
            question_vectors: Default::default(),
            conversations: Default::default(),
            assist_runs: Default::default(),
            background,
            device_key: Default::default(),
            password_checks: Arc::new(tokio::sync::Semaphore::new(
                settings.limits.password_hashes.max(1),
            )),
            open_sockets: Default::default(),
            limits,
            settings,
        })
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Stops the work the engine runs beside requests (agent assist) and waits up to
    /// `limit` for what is in hand; returns whether it all finished. Call it when shutdown
    /// begins (what is queued is dropped, not run) and again before the process exits.
    pub async fn stop_background(&self, limit: std::time::Duration) -> bool {
        self.timers.cancel();
        self.background.stop(limit).await
    }

    /// Now, on the engine's clock.
    fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Runs `work` once `after` has passed on the engine's clock, unless the engine
    /// stops first.
    fn after(&self, after: std::time::Duration, work: impl Future<Output = ()> + Send + 'static) {
        self.clock
            .schedule(after, self.timers.clone(), Box::pin(work));
    }

    /// Loads a chat and works out which side `user` is on. Chats the user may not see are
    /// reported as unknown, so that ids cannot be probed.
    async fn chat_for(&self, user: &User, chat_id: ChatId) -> Result<(ChatRecord, Party)> {
        let chat = self
            .store
            .chat(chat_id)
            .await?
            .ok_or(Error::NotFound("chat"))?;
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
    async fn view(&self, chat: &ChatRecord) -> Result<ChatView> {
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

    /// Appends an event and, unless it repeats an earlier one, announces it.
    async fn append(&self, chat_id: ChatId, event: &NewEvent) -> Result<Appended> {
        let appended = self.store.append_event(chat_id, event).await?;
        if !appended.duplicate {
            self.publish(Frame::live(&appended.event));
        }
        Ok(appended)
    }

    fn publish(&self, frame: Frame) {
        self.bus.publish(frame);
    }

    /// Ranks on a blocking thread: search and inference never run on the async workers.
    async fn rank(&self, text: String, exclude: Vec<ArticleId>) -> Result<Vec<Suggestion>> {
        self.rank_with(RankRequest {
            text,
            k: self.settings.chat.suggestions,
            exclude,
            confident_only: true,
            beside: false,
        })
        .await
    }

    /// Ranks beside the chats, at low priority (`background::LowPriority`); `None`
    /// once the ranking threads have gone.
    async fn rank_beside(&self, request: RankRequest) -> Result<Option<Vec<Suggestion>>> {
        let ranker = self.ranker.clone();
        let started = std::time::Instant::now();
        let Some(ranked) = self
            .background
            .low_priority
            .run(move || ranker.rank(&request))
            .await
        else {
            return Ok(None);
        };
        let ranked = ranked.map_err(Error::Internal)?;
        self.metrics.ranking.record(started.elapsed().as_secs_f64());
        Ok(Some(ranked))
    }

    async fn rank_with(&self, request: RankRequest) -> Result<Vec<Suggestion>> {
        let ranker = self.ranker.clone();
        let started = std::time::Instant::now();
        let ranked = tokio::task::spawn_blocking(move || ranker.rank(&request))
            .await
            .map_err(|e| Error::internal("ranking", e))?
            .map_err(Error::Internal)?;
        self.metrics.ranking.record(started.elapsed().as_secs_f64());
        Ok(ranked)
    }
}

/// A refusal from the chat rules, as a 409.
fn refused((code, message): Refusal) -> Error {
    Error::conflict(code, message)
}

/// Where a queued chat stands.
struct Place {
    /// 1 for the next chat an analyst will take.
    position: i64,
    available_analysts: i64,
    wait: Option<WaitEstimate>,
}

fn view_of(chat: &ChatRecord, place: Option<Place>) -> ChatView {
    ChatView {
        id: chat.id,
        call_id: chat.call_id,
        call_reference: call::reference(chat.call_id),
        status: chat.status,
        description: chat.description.clone(),
        user: chat.user.clone(),
        analyst: chat.analyst.clone(),
        queue_position: place.as_ref().map(|p| p.position),
        available_analysts: place.as_ref().map(|p| p.available_analysts),
        wait_estimate: place.and_then(|p| p.wait),
        last_seq: chat.last_seq,
        created_at: rfc3339(chat.created_at),
    }
}
