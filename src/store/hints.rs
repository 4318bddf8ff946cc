//! Hints between instances that share one PostgreSQL database, sent with `NOTIFY` and
//! heard with `LISTEN` (<https://www.postgresql.org/docs/current/sql-notify.html>). A
//! hint only says where to look: the tables stay the only log, so a receiver that misses
//! one (its connection dropped) reads what it needs and loses nothing.
//!
//! Hints never ride inside a write transaction. A transaction that has notified takes a
//! database-wide lock while it commits, which serialises every such commit: measured
//! here, INSERT and NOTIFY in one transaction fell from 5,516 to 1,008 transactions a
//! second. So one task per instance sends what has gathered, up to
//! [`HINTS_PER_TRANSACTION`] in one statement, after the writes they name have committed.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;

use crate::metrics::HintMetrics;

/// The `LISTEN` channel every instance of one database shares.
pub const CHANNEL: &str = "chatdesk";

/// Hints sent in one statement (one transaction, one commit).
pub const HINTS_PER_TRANSACTION: usize = 20;

/// PostgreSQL refuses a payload of 8,000 bytes or more.
pub const MAX_HINT_BYTES: usize = 7_999;

/// How often the NOTIFY queue's usage is read for `/metrics`.
const QUEUE_SAMPLE: Duration = Duration::from_secs(10);

/// Hints waiting to be sent; past this, new ones are dropped with a warning (the
/// receivers' reconcile tick still finds the stored events they named; a frame that is
/// stored nowhere, such as typing, is lost).
const BACKLOG: usize = 10_000;

/// Sends hints from one task, in order, batched ([`HINTS_PER_TRANSACTION`]).
#[derive(Clone)]
pub struct Notifier {
    queue: mpsc::Sender<String>,
}

impl Notifier {
    /// Queues `payload` (JSON text under [`MAX_HINT_BYTES`]); never waits. Returns
    /// `false` when it was dropped: too long, or the backlog is full.
    pub fn send(&self, payload: String) -> bool {
        if payload.len() > MAX_HINT_BYTES {
            tracing::warn!(
                bytes = payload.len(),
                "a hint too long for NOTIFY was dropped"
            );
            return false;
        }
        match self.queue.try_send(payload) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("the hint backlog is full; a hint was dropped");
                false
            }
            // The sending task has stopped with the runtime.
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// What a [`Listener`] heard.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    /// One hint's payload, from this or another instance.
    Hint(String),
    /// The connection was lost and is back: hints sent meanwhile are gone, so whoever
    /// listens must catch up from the tables.
    Reconnected,
}

/// Hears the hints of every instance, this one's included.
pub struct Listener {
    inner: PgListener,
}

impl Listener {
    /// The next hint, or [`Heard::Reconnected`] once the connection is back after it was
    /// lost. While the database cannot be reached it retries every second, logging each
    /// failure.
    pub async fn next(&mut self) -> Heard {
        match self.inner.try_recv().await {
            Ok(Some(n)) => return Heard::Hint(n.payload().to_owned()),
            // sqlx has already reconnected and listens again.
            Ok(None) => return Heard::Reconnected,
            Err(e) => tracing::warn!(error = %e, "listening for hints failed; reconnecting"),
        }
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Any statement on the listener connects it again and repeats its LISTEN.
            match sqlx::query("SELECT 1").execute(&mut self.inner).await {
                Ok(_) => return Heard::Reconnected,
                Err(e) => tracing::warn!(error = %e, "listening for hints failed; retrying"),
            }
        }
    }
}

/// The sending and hearing ends for the PostgreSQL database at `url`, each on its own
/// connection. The sending task runs until every [`Notifier`] clone is dropped.
///
/// # Errors
/// The database cannot be reached, or refuses `LISTEN`.
pub async fn connect(url: &str, metrics: HintMetrics) -> Result<(Notifier, Listener), sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?;
    let mut inner = PgListener::connect(url).await?;
    inner.listen(CHANNEL).await?;
    let (queue, rx) = mpsc::channel(BACKLOG);
    tokio::spawn(send_hints(pool, rx, metrics));
    Ok((Notifier { queue }, Listener { inner }))
}

/// Sends what has gathered, in order, until the queue closes, and samples the NOTIFY
/// queue's usage between batches. A batch that fails is retried once after a second and
/// then dropped: hints are advisory.
async fn send_hints(pool: PgPool, mut rx: mpsc::Receiver<String>, metrics: HintMetrics) {
    let mut batch = Vec::with_capacity(HINTS_PER_TRANSACTION);
    let mut sample = tokio::time::interval(QUEUE_SAMPLE);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, HINTS_PER_TRANSACTION) => {
                if n == 0 {
                    return;
                }
            }
            _ = sample.tick() => {
                match sqlx::query_scalar::<_, f64>("SELECT pg_notification_queue_usage()")
                    .fetch_one(&pool)
                    .await
                {
                    Ok(usage) => metrics.queue_usage.set(usage),
                    Err(e) => tracing::debug!(error = %e, "could not read the NOTIFY queue's usage"),
                }
                continue;
            }
        }
        for attempt in 0..2 {
            match notify(&pool, &batch).await {
                Ok(()) => {
                    metrics.transactions.increment(1);
                    metrics.hints.increment(batch.len() as u64);
                    break;
                }
                Err(e) if attempt == 0 => {
                    tracing::warn!(error = %e, "sending hints failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => tracing::warn!(error = %e, hints = batch.len(), "hints dropped"),
            }
        }
        batch.clear();
    }
}

/// One statement, so one transaction, for the whole batch; PostgreSQL delivers a
/// transaction's notifications in the order they were sent.
async fn notify(pool: &PgPool, batch: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, hint) FROM UNNEST($2::text[]) WITH ORDINALITY AS h(hint, n) ORDER BY n")
        .bind(CHANNEL)
        .bind(batch)
        .execute(pool)
        .await?;
    Ok(())
}
