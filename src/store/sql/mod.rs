//! The SQL implementation of [`Store`], for SQLite and PostgreSQL alike, one file per
//! aggregate.
//!
//! Both backends run the same statements through sqlx's `Any` driver: the schema keeps to
//! types both share (BIGINT/INTEGER, TEXT), and `$N` placeholders work on both. What does
//! differ is kept in [`Dialect`]: the migrations folder, connection set-up, how a write
//! transaction starts (SQLite takes the write lock up front so that concurrent writers
//! wait instead of failing) and how events are appended (batched on SQLite). Every
//! storage test runs on both databases.

mod accounts;
mod articles;
mod calls;
mod canned;
mod channels;
mod chats;
mod group_commit;
mod insights;
mod limits;
mod ratings;
mod rows;
mod vectors;
mod webhooks;
mod windows;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

use self::group_commit::GroupCommit;
use super::Store;
use crate::domain::chat::ChatStatus;
use crate::domain::ids::ChatId;
use crate::store::{Result, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Now on the database's clock, in milliseconds since the epoch: one clock for every
    /// instance (windows, the queue's order).
    pub(super) fn now_ms(self) -> &'static str {
        match self {
            Self::Postgres => "(extract(epoch FROM statement_timestamp()) * 1000)::bigint",
            Self::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
        }
    }

    fn begin(self) -> &'static str {
        match self {
            Self::Sqlite => "BEGIN IMMEDIATE",
            Self::Postgres => "BEGIN",
        }
    }
}

#[derive(Clone)]
pub struct SqlStore {
    /// Reads (and, on PostgreSQL, writes).
    pool: AnyPool,
    /// Writes: on SQLite a single connection, on PostgreSQL the same pool.
    writer: AnyPool,
    dialect: Dialect,
    /// SQLite's appends, written in batches (see [`GroupCommit`]).
    group: Option<Arc<GroupCommit>>,
}

/// Opens the database named by `url`, creating an embedded SQLite file (and its folder)
/// when needed, and runs the migrations.
///
/// # Errors
/// An unsupported scheme, an in-memory SQLite URL, a database that cannot be reached, or
/// a migration that fails.
pub async fn connect(url: &str) -> anyhow::Result<SqlStore> {
    sqlx::any::install_default_drivers();
    let (dialect, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
        (Dialect::Sqlite, sqlite_url(rest)?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        (Dialect::Postgres, url.to_owned())
    } else {
        anyhow::bail!("unsupported database URL: use sqlite://PATH or postgres://...");
    };
    let max = match dialect {
        Dialect::Sqlite => 8,
        Dialect::Postgres => 16,
    };
    let pool = pool_options(dialect, max)
        .connect(&url)
        .await
        .context("connecting to the database")?;
    // SQLite lets one connection write at a time and makes the others sleep and retry;
    // one writing connection, which writers queue for in order, keeps them all moving.
    let writer = match dialect {
        Dialect::Sqlite => pool_options(dialect, 1)
            .connect(&url)
            .await
            .context("connecting to the database")?,
        Dialect::Postgres => pool.clone(),
    };
    let mut migrator = match dialect {
        Dialect::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Dialect::Postgres => sqlx::migrate!("migrations/postgres"),
    };
    // A schema newer than this binary is served as it is: every migration is an expand
    // step that older binaries run beside (docs/deployment.md, "Upgrading"), as in a
    // rolling deploy, or after rolling one back.
    migrator.set_ignore_missing(true);
    migrator
        .run(&pool)
        .await
        .context("running database migrations")?;
    let group = (dialect == Dialect::Sqlite).then(|| Arc::new(GroupCommit::start(writer.clone())));
    Ok(SqlStore {
        pool,
        writer,
        dialect,
        group,
    })
}

fn pool_options(dialect: Dialect, max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        // A pool pings each idle connection it hands out, by default: for SQLite that is a
        // round trip to the connection's thread before every statement, and a file does
        // not go stale the way a network connection does.
        .test_before_acquire(dialect != Dialect::Sqlite)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if dialect == Dialect::Sqlite {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
}

/// Claims the SQLite database at `url` for this process's `serve`, for as long as the
/// returned file stays open; `None` for PostgreSQL, which any number of instances share.
/// Commands (`user add`, `reindex`) do not claim it and run beside a server.
///
/// # Errors
/// Another `chatdesk serve` holds the claim (contract: "a second `serve` on the same
/// SQLite file exits with an error that says so"), or the lock file cannot be made.
pub fn claim_sqlite(url: &str) -> anyhow::Result<Option<std::fs::File>> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(None);
    };
    let (path, _) = sqlite_parts(rest);
    create_parent(path)?;
    let lock = format!("{path}.serve-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .with_context(|| format!("opening {lock}"))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another chatdesk serve is running on {path}: an SQLite database serves one \
             instance; for several, use PostgreSQL (docs/deployment.md)"
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow::Error::new(e).context(format!("locking {lock}")))
        }
    }
}

/// `sqlite://data/x.db` → a URL that creates the file, after creating its folder.
fn sqlite_url(rest: &str) -> anyhow::Result<String> {
    let (path, query) = sqlite_parts(rest);
    if path == ":memory:" || query.contains("mode=memory") {
        // Reads and writes go through separate connections, and each would get its own
        // empty database.
        anyhow::bail!("an in-memory SQLite database is not supported: use a file path");
    }
    create_parent(path)?;
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// `//data/x.db?mode=rwc` (what follows `sqlite:`) → (`data/x.db`, `mode=rwc`).
fn sqlite_parts(rest: &str) -> (&str, &str) {
    let rest = rest.trim_start_matches("//");
    rest.split_once('?').unwrap_or((rest, ""))
}

/// Creates the folder that will hold the file at `path`, if it names one.
fn create_parent(path: &str) -> anyhow::Result<()> {
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}

impl SqlStore {
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(self.writer.begin_with(self.dialect.begin()).await?)
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<()> {
        self.conn().await?.ping().await?;
        Ok(())
    }

    fn shared(&self) -> bool {
        self.dialect == Dialect::Postgres
    }
}

/// Unique keys that concurrent requests race on, by the name PostgreSQL reports for them.
/// (SQLite writes through one connection and its statements check these keys before
/// inserting, so there the race cannot happen; SQLite does not name constraints.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RacedKey {
    /// `chat_events (chat_id, author_id, client_id)`: a retried message.
    MessageClientId,
}

impl RacedKey {
    /// The constraint a failed statement violated, when it is one of ours.
    fn violated_by(e: &sqlx::Error) -> Option<Self> {
        let sqlx::Error::Database(db) = e else {
            return None;
        };
        if !db.is_unique_violation() {
            return None;
        }
        match db.constraint()? {
            "chat_events_by_client_id" => Some(Self::MessageClientId),
            _ => None,
        }
    }
}

/// The chat's status; `not_found` when there is no such chat.
async fn status_in(conn: &mut AnyConnection, chat_id: ChatId) -> Result<ChatStatus> {
    let status: Option<ChatStatus> = sqlx::query_scalar("SELECT status FROM chats WHERE id = $1")
        .bind(chat_id)
        .fetch_optional(conn)
        .await?;
    status.ok_or(StoreError::NotFound("chat"))
}

/// `'bot', 'queued'`: statuses for an `IN (...)` list. They come from the enum, never
/// from input.
fn status_list(statuses: &[ChatStatus]) -> String {
    statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}
