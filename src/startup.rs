//! Builds the application from settings and runs it until a shutdown signal. Tests use
//! the same path with port 0 and their own shutdown future.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::bus::LocalBus;
use crate::config::Settings;
use crate::engine::Engine;
use crate::http;
use crate::knowledge;
use crate::knowledge::embed::Embedder;
use crate::knowledge::index::{KnowledgeIndex, Mode};
use crate::knowledge::vectors::VectorCache;
use crate::metrics::Metrics;
use crate::store;

pub struct Application {
    listener: TcpListener,
    engine: Engine,
    metrics: Arc<Metrics>,
}

/// Opens the database (running migrations) and the knowledge index, and builds the engine.
pub async fn build_engine(settings: Settings, metrics: Arc<Metrics>) -> anyhow::Result<Engine> {
    let store = store::connect(settings.database_url.expose()).await?;
    let ranker = load_ranker(&settings)?;
    Ok(Engine::new(
        Arc::new(store),
        Arc::new(LocalBus::default()),
        Arc::new(ranker),
        Arc::new(settings),
        metrics,
    ))
}

/// Indexes the knowledge directory; bad articles are reported and skipped.
fn load_ranker(settings: &Settings) -> anyhow::Result<KnowledgeIndex> {
    let dir = &settings.knowledge_dir;
    let (articles, errors) = knowledge::load_dir(dir)
        .with_context(|| format!("reading the knowledge directory {}", dir.display()))?;
    for e in &errors {
        tracing::warn!(file = %e.source_name, line = ?e.line, reason = %e.reason, "article skipped");
    }
    let embedder = match settings.knowledge.mode {
        Mode::Bm25 => None,
        Mode::Hybrid | Mode::Dense => Some(Embedder::shared(&settings.model_dir)?),
    };
    let cache = VectorCache::new(settings.vector_cache_dir());
    let (index, stats) = KnowledgeIndex::build(
        articles,
        embedder,
        &cache,
        settings.knowledge.mode,
        settings.knowledge.tuning(),
        &|_| {},
    )?;
    tracing::info!(
        articles = stats.articles,
        passages = stats.passages,
        encoded = stats.encoded,
        skipped = errors.len(),
        took_ms = stats.took.as_millis() as u64,
        "knowledge indexed"
    );
    Ok(index)
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        let metrics = Arc::new(Metrics::default());
        let engine = build_engine(settings, metrics.clone()).await?;
        Ok(Self {
            listener,
            engine,
            metrics,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish and tells
    /// open sockets to close.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        let cancel = CancellationToken::new();
        let router = http::router(http::AppState::new(
            self.engine,
            self.metrics,
            cancel.clone(),
        ));
        tracing::info!(%addr, "chatdesk listening");
        axum::serve(self.listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                cancel.cancel();
            })
            .await
            .context("serving HTTP")
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
