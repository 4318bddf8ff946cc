//! The chat engine: the rules of the product, applied, as services by capability. Each
//! service holds only what it uses; handlers call one with a signed-in
//! [`User`](crate::domain::user::User), it checks rights, changes state through the
//! [`Store`](crate::store::Store), commits, and only then announces on the
//! [`EventBus`]. Nothing here knows about HTTP.
//!
//! Below the services: `core` (the store, bus, clock and settings every service shares,
//! and the chat helpers more than one needs), `ranking`, `liveness` (who is connected),
//! `background`, `throttle` and `clock`. A service uses those and never another service.

mod accounts;
mod background;
mod calls;
mod channels;
mod chat;
pub mod clock;
mod core;
mod desk;
mod knowledge;
mod liveness;
mod ranking;
mod relay;
mod reports;
mod shared_vectors;
mod throttle;
mod webhooks;

use std::sync::Arc;

pub use accounts::{
    AccessWatch, AccountChange, AccountService, Attempt, DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE_SECS,
    MAX_USERNAME_CHARS, Revoked, SignedIn, SocketSlot, Token,
};
pub use calls::{CallDetails, CallService, LinkedChat, TranscriptEntry};
pub use channels::{ChannelService, CreatedChannel};
pub use chat::{
    ChatFeed, ChatService, Download, FILE_LINK_SECS, FileLinks, LEAVING_WINDOW, Started, Upload,
};
pub use core::call_view;
pub use desk::{DeskFeed, DeskService};
pub use knowledge::{
    ArticleSummary, Knowledge, KnowledgeService, ReindexReport, SavedArticle, Skipped,
};
pub use reports::{GAP_CALLS, GapKind, KnowledgeGap, KnowledgeGaps, Report, ReportService};
pub use webhooks::{CreatedWebhook, WebhookService, targets as webhook_targets};

use crate::bus::EventBus;
use crate::config::Settings;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::store::DynStore;
use crate::store::objects::Attachments;
use clock::Clock;
use tokio_util::sync::CancellationToken;

/// The engine: every service, built over one store, bus and clock. Clone it (or a
/// service) freely: all of it is shared.
#[derive(Clone)]
pub struct Engine {
    pub chats: ChatService,
    pub desk: DeskService,
    pub calls: CallService,
    pub knowledge: KnowledgeService,
    pub reports: ReportService,
    pub accounts: AccountService,
    pub channels: ChannelService,
    pub webhooks: WebhookService,
    pub health: Health,
    core: core::Core,
    ranking: ranking::Ranking,
}

impl Engine {
    /// The engine over `store` and `bus`, ranking with `knowledge`, on `clock`.
    ///
    /// # Errors
    /// The background ranking threads cannot be started, or the attachments store
    /// (`attachments_url`) cannot be opened.
    pub fn new(
        clock: Arc<dyn Clock>,
        store: DynStore,
        bus: Arc<dyn EventBus>,
        knowledge: Knowledge,
        settings: Arc<Settings>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let background = Arc::new(background::Background::new(
            settings.limits.assist_rankings,
        )?);
        let ranking = ranking::Ranking::new(
            knowledge.ranker.clone(),
            background,
            metrics.clone(),
            settings.chat.suggestions,
        );
        let files = match &settings.attachments_url {
            Some(url) => Attachments::open(url)?,
            None => Attachments::in_folder(&settings.data_dir.join("attachments"))?,
        };
        let outbox = webhooks::outbox(store.clone());
        let core = core::Core {
            liveness: Arc::new(liveness::Liveness::new(clock.now())),
            clock,
            timers: CancellationToken::new(),
            store,
            bus,
            settings,
            metrics,
            outbox,
        };
        Ok(Self {
            chats: chat::ChatService::new(core.clone(), ranking.clone(), files),
            desk: desk::DeskService::new(core.clone()),
            calls: calls::CallService::new(core.clone()),
            knowledge: knowledge::KnowledgeService::new(
                core.store.clone(),
                core.bus.clone(),
                core.clock.clone(),
                core.settings.clone(),
                Arc::new(knowledge),
                ranking.clone(),
            ),
            reports: reports::ReportService::new(
                core.store.clone(),
                core.clock.clone(),
                ranking.ranker.clone(),
            ),
            accounts: accounts::AccountService::new(core.clone()),
            channels: channels::ChannelService::new(core.clone()),
            webhooks: webhooks::WebhookService::new(core.clone()),
            health: Health {
                store: core.store.clone(),
            },
            core,
            ranking,
        })
    }

    /// The store itself, for start-up, commands and tests; never for handlers (the
    /// layering test holds `http` to that).
    pub fn store(&self) -> &DynStore {
        &self.core.store
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.core.settings
    }

    /// The clock every service reads (a manual one in tests).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.core.clock
    }

    /// Stops the work the engine runs beside requests (agent assist) and waits up to
    /// `limit` for what is in hand; returns whether it all finished. Call it when shutdown
    /// begins (what is queued is dropped, not run) and again before the process exits.
    pub async fn stop_background(&self, limit: std::time::Duration) -> bool {
        self.core.timers.cancel();
        self.ranking.background.stop(limit).await
    }
}

/// What the readiness probe asks of the engine: whether the database answers.
#[derive(Clone)]
pub struct Health {
    store: DynStore,
}

impl Health {
    /// One cheap round trip to the database.
    ///
    /// # Errors
    /// The database does not answer.
    pub async fn database(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }
}
