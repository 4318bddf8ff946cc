//! Builds the application from settings and runs it until a shutdown signal. Tests use
//! the same path with port 0 and their own shutdown future.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::{ClusterBus, EventBus, LocalBus};
use crate::config::Settings;
use crate::engine::Engine;
use crate::engine::Knowledge;
use crate::engine::clock::{Clock, SystemClock};
use crate::http;
use crate::knowledge::Ranker;
use crate::knowledge::live::{Indexer, LiveIndex};
use crate::metrics::Metrics;
use crate::store::{self, Store};

/// How long a graceful shutdown waits for requests in flight.
const DRAIN_LIMIT: Duration = Duration::from_secs(20);
/// How long shutdown waits for background work in hand (one ranking, say) to finish.
const BACKGROUND_STOP_LIMIT: Duration = Duration::from_secs(5);
/// How often recorded latencies are folded into histograms.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

pub struct Application {
    listener: TcpListener,
    /// Held while serving an SQLite database, so that a second `serve` on it refuses.
    _sqlite_claim: Option<std::fs::File>,
    engine: Engine,
    metrics: Arc<Metrics>,
    pages: Arc<http::Templates>,
}

/// Opens the database (running migrations), loads the model and builds the engine on
/// `clock`, with an empty knowledge index until [`KnowledgeService::reindex_with_progress`](crate::engine::KnowledgeService::reindex_with_progress) fills it.
pub async fn build_engine(
    settings: Settings,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Engine> {
    build_engine_ranking_through(settings, metrics, clock, |live| live).await
}

/// [`build_engine`], with the services ranking through `front(live index)`: for
/// `chatdesk traffic`, a [`Memo`](crate::knowledge::memo::Memo) over an index that does
/// not change while it runs.
pub async fn build_engine_ranking_through(
    settings: Settings,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    front: impl FnOnce(Arc<dyn Ranker>) -> Arc<dyn Ranker>,
) -> anyhow::Result<Engine> {
    let url = settings.database_url.expose().to_owned();
    let store = store::connect(&url).await?;
    let indexer = Indexer::new(settings.indexer(settings.knowledge.mode))?;
    let (empty, _) = indexer.build(Vec::new(), &|_| {})?;
    let knowledge =
        Knowledge::new(Arc::new(LiveIndex::new(empty)), Arc::new(indexer)).ranked_through(front);
    // Instances on one PostgreSQL database tell each other what changed (see `bus`).
    let cluster = if store.shared() {
        let (notifier, listener) = store::hints::connect(&url, metrics.hints.clone())
            .await
            .context("listening for other instances' changes")?;
        Some((
            Arc::new(ClusterBus::new(LocalBus::default(), notifier)),
            listener,
        ))
    } else {
        None
    };
    let bus: Arc<dyn EventBus> = match &cluster {
        Some((bus, _)) => bus.clone(),
        None => Arc::new(LocalBus::default()),
    };
    let engine = Engine::new(
        clock,
        Arc::new(store),
        bus,
        knowledge,
        Arc::new(settings),
        metrics,
    )?;
    if let Some((bus, listener)) = cluster {
        engine.start_relay(bus, listener);
    }
    Ok(engine)
}

/// Keeps the index in step with the articles in the database (edits made on another
/// instance, or by `chatdesk reindex`) until shutdown.
async fn follow_knowledge(engine: Engine, cancel: CancellationToken) {
    let every = Duration::from_secs(engine.settings().knowledge.refresh_secs.max(1));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = cancel.cancelled() => return,
        }
        if let Err(e) = engine.knowledge.refresh_knowledge().await {
            tracing::warn!(error = %e, "could not refresh the knowledge index");
        }
    }
}

/// How often expired sessions and API tokens are deleted.
const TOKEN_SWEEP: Duration = Duration::from_secs(3600);

/// Deletes expired sessions and tokens, full rate-limit budgets and orphaned files, at
/// start and then hourly, until shutdown. (They stop counting at their expiry; this only
/// keeps the tables and the attachments store from growing.)
async fn sweep_expired(engine: Engine, cancel: CancellationToken) {
    loop {
        match engine.accounts.sweep_expired().await {
            Ok((0, 0)) => {}
            Ok((tokens, limits)) => {
                tracing::info!(
                    tokens,
                    limits,
                    "expired sessions, tokens and limits deleted"
                )
            }
            Err(e) => tracing::warn!(error = %e, "could not delete expired tokens"),
        }
        match engine.chats.sweep_stale_windows().await {
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not sweep stale chat windows"),
        }
        match engine.channels.sweep_activities().await {
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not forget old channel activity ids"),
        }
        match engine.chats.sweep_orphan_files().await {
            Ok(0) => {}
            Ok(files) => tracing::info!(files, "stored files without an attachment deleted"),
            Err(e) => tracing::warn!(error = %e, "could not sweep the attachments store"),
        }
        tokio::select! {
            () = tokio::time::sleep(TOKEN_SWEEP) => {}
            () = cancel.cancelled() => return,
        }
    }
}

/// Folds recorded latencies into their histograms until shutdown, so that memory stays
/// flat when nobody scrapes `/metrics`.
async fn keep_metrics(metrics: Arc<Metrics>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(METRICS_UPKEEP) => metrics.upkeep(),
            () = cancel.cancelled() => return,
        }
    }
}

impl Application {
    /// The service on the system clock.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_on(settings, Arc::new(SystemClock)).await
    }

    /// The service on `clock` (tests give one they move).
    pub async fn build_on(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let sqlite_claim = store::claim_sqlite(settings.database_url.expose())?;
        let listener = TcpListener::bind(&settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        let metrics = Arc::new(Metrics::new());
        let pages = Arc::new(http::Templates::load()?);
        let engine = build_engine(settings, metrics.clone(), clock).await?;
        let report = engine
            .knowledge
            .start_index()
            .await
            .context("indexing the knowledge base")?;
        tracing::info!(
            articles = report.articles,
            added = report.added.len(),
            changed = report.changed.len(),
            removed = report.removed.len(),
            skipped = report.skipped.len(),
            took_ms = report.took_ms,
            "knowledge base ready"
        );
        Ok(Self {
            listener,
            _sqlite_claim: sqlite_claim,
            engine,
            metrics,
            pages,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serves until `shutdown` completes, then drains: no new connections, requests in
    /// flight finish (for up to `DRAIN_LIMIT`), and sockets finish the frame in hand, send
    /// what their feed holds and close with 1001 (going away).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        let cancel = CancellationToken::new();
        tokio::spawn(follow_knowledge(self.engine.clone(), cancel.clone()));
        tokio::spawn(keep_metrics(self.metrics.clone(), cancel.clone()));
        self.engine.desk.start_presence_checks();
        tokio::spawn(sweep_expired(self.engine.clone(), cancel.clone()));
        let sockets = TaskTracker::new();
        let engine = self.engine.clone();
        let state = http::AppState::new(
            self.engine,
            self.metrics,
            self.pages,
            cancel.clone(),
            sockets.clone(),
        );
        state.webhooks.start_sending(cancel.clone());
        if let Some(teams) = &state.teams {
            teams.resume_deliveries();
        }
        let router = http::router(state);
        tracing::info!(%addr, "chatdesk listening");
        let draining = cancel.clone();
        let stopping = engine.clone();
        let serve = async {
            axum::serve(
                self.listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                shutdown.await;
                cancel.cancel();
                // Queued background work (agent assist) is dropped, not run: only what is
                // in hand finishes, while requests drain.
                tokio::spawn(async move { stopping.stop_background(BACKGROUND_STOP_LIMIT).await });
            })
            .await?;
            // Upgraded connections are no longer the HTTP server's: wait for the sockets'
            // close frames here.
            sockets.close();
            sockets.wait().await;
            std::io::Result::Ok(())
        };
        // Requests and sockets still open this long after the signal are cut off.
        let deadline = async {
            draining.cancelled().await;
            tokio::time::sleep(DRAIN_LIMIT).await;
        };
        tokio::select! {
            served = serve => served.context("serving HTTP")?,
            () = deadline => tracing::warn!(
                limit_secs = DRAIN_LIMIT.as_secs(),
                "requests still running at the drain limit were cut off"
            ),
        }
        // The process must not exit while a ranking thread is inside libtorch.
        if !engine.stop_background(BACKGROUND_STOP_LIMIT).await {
            tracing::warn!("background work still running at the limit was cut off");
        }
        tracing::info!("drained");
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
