//! The SQL implementation of [`Store`], for SQLite and PostgreSQL alike.
//!
//! Both backends run the same statements through sqlx's `Any` driver: the schema keeps to
//! types both share (BIGINT/INTEGER, TEXT), and `$N` placeholders work on both. What does
//! differ is kept in [`Dialect`]: the migrations folder, connection set-up and how a write
//! transaction starts (SQLite takes the write lock up front so that concurrent writers wait
//! instead of failing). Every storage test runs on both databases.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::AnyConnection;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection, Executor, Row};

use super::group_commit::{GroupCommit, Inserted};
use super::*;
use crate::domain::call::{Person, status};
use crate::domain::message::{Author, AuthorRole};
use crate::domain::user::{format_roles, parse_roles};
use crate::error::Error;
use crate::events;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn begin(self) -> &'static str {
        match self {
            Self::Sqlite => "BEGIN IMMEDIATE",
            Self::Postgres => "BEGIN",
        }
    }
}

/// Appends an event to a chat that has not ended, with the chat's next `seq`, in one
/// statement: updating the chat row claims the `seq` (and locks the row until commit).
const PG_APPEND: &str = "WITH claimed AS (UPDATE chats SET last_seq = last_seq + 1 \
     WHERE id = $1 AND status <> 'ended' RETURNING id, last_seq) \
     INSERT INTO chat_events (chat_id, seq, kind, author_role, author_id, author_name, body, \
     client_id, payload, created_at) \
     SELECT id, last_seq, $2, $3, $4, $5, $6, $7, $8, $9 FROM claimed RETURNING id, seq";

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
    let migrator = match dialect {
        Dialect::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Dialect::Postgres => sqlx::migrate!("migrations/postgres"),
    };
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

/// `sqlite://data/x.db` → a URL that creates the file, after creating its folder.
fn sqlite_url(rest: &str) -> anyhow::Result<String> {
    let rest = rest.trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path == ":memory:" || query.contains("mode=memory") {
        // Reads and writes go through separate connections, and each would get its own
        // empty database.
        anyhow::bail!("an in-memory SQLite database is not supported: use a file path");
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

const CHAT_SELECT: &str = "SELECT c.id, c.call_id, c.status, c.last_seq, c.created_at, c.queued_at, \
     u.id AS user_id, u.username AS user_username, u.display_name AS user_name, \
     a.id AS analyst_id, a.username AS analyst_username, a.display_name AS analyst_name, \
     k.description \
     FROM chats c JOIN users u ON u.id = c.user_id LEFT JOIN users a ON a.id = c.analyst_id \
     JOIN calls k ON k.id = c.call_id";

const CALL_SELECT: &str = "SELECT k.id, k.source, k.status, k.description, k.resolved_by, \
     k.transcript, k.created_at, k.updated_at, \
     u.id AS user_id, u.username AS user_username, u.display_name AS user_name \
     FROM calls k JOIN users u ON u.id = k.user_id";

const EVENT_COLUMNS: &str = "id, chat_id, seq, kind, author_role, author_id, author_name, body, \
     client_id, payload, created_at";

const USER_COLUMNS: &str = "id, username, display_name, roles";

const ARTICLE_COLUMNS: &str = "id, title, source, origin, content_hash, updated_at";

const ATTACHMENT_COLUMNS: &str =
    "id, call_id, chat_id, uploader_id, name, content_type, size, sha256, created_at";

fn person(row: &AnyRow, prefix: &str) -> sqlx::Result<Option<Person>> {
    let id: Option<i64> = row.try_get(format!("{prefix}_id").as_str())?;
    let Some(id) = id else { return Ok(None) };
    Ok(Some(Person {
        id,
        username: row.try_get(format!("{prefix}_username").as_str())?,
        name: row.try_get(format!("{prefix}_name").as_str())?,
    }))
}

fn decode_err(what: &str, e: String) -> sqlx::Error {
    sqlx::Error::Decode(format!("{what}: {e}").into())
}

fn chat_row(row: &AnyRow) -> sqlx::Result<ChatRecord> {
    let status: String = row.try_get("status")?;
    Ok(ChatRecord {
        id: row.try_get("id")?,
        call_id: row.try_get("call_id")?,
        user: person(row, "user")?.ok_or_else(|| decode_err("chat", "no user".into()))?,
        analyst: person(row, "analyst")?,
        status: ChatStatus::from_str(&status).map_err(|e| decode_err("chat status", e))?,
        last_seq: row.try_get("last_seq")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        queued_at: row.try_get("queued_at")?,
    })
}

fn call_row(row: &AnyRow) -> sqlx::Result<CallRecord> {
    Ok(CallRecord {
        id: row.try_get("id")?,
        user: person(row, "user")?.ok_or_else(|| decode_err("call", "no user".into()))?,
        source: row.try_get("source")?,
        status: row.try_get("status")?,
        description: row.try_get("description")?,
        resolved_by: row.try_get("resolved_by")?,
        transcript: row.try_get("transcript")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn event_row(row: &AnyRow) -> sqlx::Result<StoredEvent> {
    let role: Option<String> = row.try_get("author_role")?;
    let author = match role {
        Some(role) => Some(Author {
            role: AuthorRole::from_str(role.as_str()).map_err(|e| decode_err("author role", e))?,
            name: row
                .try_get::<Option<String>, _>("author_name")?
                .unwrap_or_default(),
            id: row.try_get("author_id")?,
        }),
        None => None,
    };
    Ok(StoredEvent {
        id: row.try_get("id")?,
        chat_id: row.try_get("chat_id")?,
        seq: row.try_get("seq")?,
        kind: row.try_get("kind")?,
        author,
        body: row.try_get("body")?,
        client_id: row.try_get("client_id")?,
        payload: row.try_get("payload")?,
        created_at: row.try_get("created_at")?,
    })
}

fn user_row(row: &AnyRow) -> sqlx::Result<User> {
    let roles: String = row.try_get("roles")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        roles: parse_roles(&roles),
    })
}

fn attachment_row(row: &AnyRow) -> sqlx::Result<AttachmentRecord> {
    Ok(AttachmentRecord {
        id: row.try_get("id")?,
        call_id: row.try_get("call_id")?,
        chat_id: row.try_get("chat_id")?,
        uploader_id: row.try_get("uploader_id")?,
        name: row.try_get("name")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        created_at: row.try_get("created_at")?,
    })
}

fn article_row(row: &AnyRow) -> sqlx::Result<StoredArticle> {
    Ok(StoredArticle {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        source: row.try_get("source")?,
        origin: row.try_get("origin")?,
        content_hash: row.try_get("content_hash")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn bump_generation(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("UPDATE knowledge_state SET generation = generation + 1 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts or replaces one article inside a transaction, reporting what changed.
async fn upsert_article_in(conn: &mut AnyConnection, a: &StoredArticle) -> Result<Upserted> {
    let existing = sqlx::query("SELECT content_hash, origin FROM articles WHERE id = $1")
        .bind(&a.id)
        .fetch_optional(&mut *conn)
        .await?;
    let existing = match existing {
        Some(row) => Some((
            row.try_get::<String, _>("content_hash")?,
            row.try_get::<String, _>("origin")?,
        )),
        None => None,
    };
    let outcome = match existing {
        Some((hash, o)) if hash == a.content_hash && o != origin::DELETED => {
            // Same text; the origin may still change (an author takes over a file article).
            sqlx::query("UPDATE articles SET origin = $1 WHERE id = $2")
                .bind(&a.origin)
                .bind(&a.id)
                .execute(&mut *conn)
                .await?;
            return Ok(Upserted::Unchanged);
        }
        Some((_, o)) => {
            sqlx::query(
                "UPDATE articles SET title = $1, source = $2, origin = $3, content_hash = $4, \
                 updated_at = $5 WHERE id = $6",
            )
            .bind(&a.title)
            .bind(&a.source)
            .bind(&a.origin)
            .bind(&a.content_hash)
            .bind(a.updated_at)
            .bind(&a.id)
            .execute(&mut *conn)
            .await?;
            // A deleted article's tombstone comes back as if new.
            if o == origin::DELETED {
                Upserted::Added
            } else {
                Upserted::Changed
            }
        }
        None => {
            sqlx::query(&format!(
                "INSERT INTO articles ({ARTICLE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(&a.id)
            .bind(&a.title)
            .bind(&a.source)
            .bind(&a.origin)
            .bind(&a.content_hash)
            .bind(a.updated_at)
            .execute(&mut *conn)
            .await?;
            Upserted::Added
        }
    };
    bump_generation(conn).await?;
    Ok(outcome)
}

async fn chat_in(conn: &mut AnyConnection, id: i64) -> Result<Option<ChatRecord>> {
    let row = sqlx::query(&format!("{CHAT_SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(chat_row).transpose()?)
}

async fn call_in(conn: &mut AnyConnection, id: i64) -> Result<Option<CallRecord>> {
    let row = sqlx::query(&format!("{CALL_SELECT} WHERE k.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(call_row).transpose()?)
}

async fn events_in(conn: &mut AnyConnection, chat_id: i64, after: i64) -> Result<Vec<StoredEvent>> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM chat_events WHERE chat_id = $1 AND seq > $2 ORDER BY seq"
    ))
    .bind(chat_id)
    .bind(after)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(event_row).collect::<sqlx::Result<_>>()?)
}

async fn status_in(conn: &mut AnyConnection, chat_id: i64) -> Result<ChatStatus> {
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM chats WHERE id = $1")
        .bind(chat_id)
        .fetch_optional(conn)
        .await?;
    let status = status.ok_or(Error::NotFound("chat"))?;
    ChatStatus::from_str(&status).map_err(|e| Error::Internal(anyhow::anyhow!(e)))
}

/// Inserts an event at `seq`; the caller has already claimed `seq` on the chat row.
async fn insert_event(
    conn: &mut AnyConnection,
    chat_id: i64,
    seq: i64,
    e: &NewEvent<'_>,
) -> Result<StoredEvent> {
    // The event's own columns are bound after `chat_id` and `seq`, as $3 to $10.
    let query = sqlx::query(
        "INSERT INTO chat_events (chat_id, seq, kind, author_role, author_id, author_name, body, \
         client_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         RETURNING id",
    )
    .bind(chat_id)
    .bind(seq);
    let id: i64 = bind_event(query, e)
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")?;
    Ok(stored_event(id, chat_id, seq, e))
}

/// Binds an event's columns (`kind` to `created_at`, in table order) to the next
/// placeholders.
fn bind_event<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    e: &NewEvent<'q>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(e.kind)
        .bind(e.author.map(|a| a.role.as_str()))
        .bind(e.author.and_then(|a| a.id))
        .bind(e.author.map(|a| a.name.as_str()))
        .bind(e.body)
        .bind(e.client_id)
        .bind(e.payload)
        .bind(e.now)
}

/// The event as stored under `id` at `seq`.
fn stored_event(id: i64, chat_id: i64, seq: i64, e: &NewEvent<'_>) -> StoredEvent {
    StoredEvent {
        id,
        chat_id,
        seq,
        kind: e.kind.to_owned(),
        author: e.author.cloned(),
        body: e.body.map(str::to_owned),
        client_id: e.client_id.map(str::to_owned),
        payload: e.payload.map(str::to_owned),
        created_at: e.now,
    }
}

/// Claims the chat's next `seq`, refusing chats that have ended.
async fn next_seq(conn: &mut AnyConnection, chat_id: i64) -> Result<i64> {
    let seq: Option<i64> = sqlx::query_scalar(
        "UPDATE chats SET last_seq = last_seq + 1 WHERE id = $1 AND status <> 'ended' \
         RETURNING last_seq",
    )
    .bind(chat_id)
    .fetch_optional(&mut *conn)
    .await?;
    match seq {
        Some(seq) => Ok(seq),
        None => {
            status_in(conn, chat_id).await?;
            Err(Error::conflict("chat_ended", "this chat has already ended"))
        }
    }
}

async fn find_by_client_id(
    conn: &mut AnyConnection,
    chat_id: i64,
    e: &NewEvent<'_>,
) -> Result<Option<StoredEvent>> {
    let Some(client_id) = e.client_id else {
        return Ok(None);
    };
    let row = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM chat_events \
         WHERE chat_id = $1 AND author_id = $2 AND client_id = $3"
    ))
    .bind(chat_id)
    .bind(e.author.and_then(|a| a.id))
    .bind(client_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(event_row).transpose()?)
}

fn status_list(statuses: &[ChatStatus]) -> String {
    statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqlStore {
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(self.writer.begin_with(self.dialect.begin()).await?)
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// Stores an event with its chat's next `seq`: batched with other chats' on SQLite,
    /// one statement on PostgreSQL. `None` when the chat is missing or has ended.
    async fn insert_appended(&self, chat_id: i64, e: &NewEvent<'_>) -> Result<Inserted> {
        if let Some(group) = &self.group {
            return group.append(chat_id, e).await;
        }
        let row = bind_event(sqlx::query(PG_APPEND).bind(chat_id), e)
            .fetch_optional(&self.writer)
            .await?;
        Ok(match row {
            Some(row) => Some((row.try_get("id")?, row.try_get("seq")?)),
            None => None,
        })
    }

    async fn append_once(&self, chat_id: i64, e: &NewEvent<'_>) -> Result<Appended> {
        let Some((id, seq)) = self.insert_appended(chat_id, e).await? else {
            status_in(&mut *self.conn().await?, chat_id).await?;
            return Err(Error::conflict("chat_ended", "this chat has already ended"));
        };
        Ok(Appended {
            event: stored_event(id, chat_id, seq, e),
            duplicate: false,
        })
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<()> {
        self.conn().await?.ping().await?;
        Ok(())
    }

    async fn create_user(&self, user: &NewUser, now: Millis) -> Result<User> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, password_hash, roles, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(user.password_hash.as_deref())
        .bind(format_roles(&user.roles))
        .bind(now)
        .fetch_one(&self.writer)
        .await
        .map_err(|e| match Error::from(e) {
            Error::Conflict { .. } => Error::conflict(
                "username_taken",
                format!("the username {:?} is already taken", user.username),
            ),
            other => other,
        })?;
        Ok(User {
            id,
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            roles: parse_roles(&format_roles(&user.roles)),
        })
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_row).transpose()?)
    }

    async fn login_record(&self, username: &str) -> Result<Option<(User, Option<String>)>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((user_row(&row)?, row.try_get("password_hash")?)))
    }

    async fn insert_token(&self, t: &NewToken<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, user_id, kind, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(t.token_hash)
        .bind(t.user_id)
        .bind(t.kind)
        .bind(t.now)
        .bind(t.expires_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn user_by_token(&self, token_hash: &str, now: Millis) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.roles FROM tokens t \
             JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_row).transpose()?)
    }

    async fn delete_token(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn set_presence(
        &self,
        analyst_id: i64,
        online: bool,
        max_chats: i64,
        now: Millis,
    ) -> Result<()> {
        let status = if online { "online" } else { "offline" };
        sqlx::query(
            "INSERT INTO analyst_presence (user_id, status, max_chats, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE \
             SET status = excluded.status, max_chats = excluded.max_chats, \
             updated_at = excluded.updated_at",
        )
        .bind(analyst_id)
        .bind(status)
        .bind(max_chats)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn presence(&self, analyst_id: i64) -> Result<Option<Presence>> {
        let row = sqlx::query("SELECT status, max_chats FROM analyst_presence WHERE user_id = $1")
            .bind(analyst_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status")?;
        Ok(Some(Presence {
            online: status == "online",
            max_chats: row.try_get("max_chats")?,
        }))
    }

    async fn desk_counts(&self) -> Result<DeskCounts> {
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM analyst_presence WHERE status = 'online') AS online, \
             (SELECT COUNT(*) FROM analyst_presence p WHERE p.status = 'online' AND p.max_chats > \
                (SELECT COUNT(*) FROM chats c WHERE c.analyst_id = p.user_id \
                 AND c.status = 'active')) AS available, \
             (SELECT COUNT(*) FROM chats WHERE status = 'queued') AS queued",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(DeskCounts {
            online_analysts: row.try_get("online")?,
            available_analysts: row.try_get("available")?,
            queue_length: row.try_get("queued")?,
        })
    }

    async fn create_chat(
        &self,
        user_id: i64,
        description: &str,
        now: Millis,
    ) -> Result<ChatRecord> {
        let mut tx = self.begin().await?;
        let call_id: i64 = sqlx::query_scalar(
            "INSERT INTO calls (user_id, source, status, description, created_at, updated_at) \
             VALUES ($1, 'chat', $2, $3, $4, $4) RETURNING id",
        )
        .bind(user_id)
        .bind(status::OPEN)
        .bind(description)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let chat_id: i64 = sqlx::query_scalar(
            "INSERT INTO chats (call_id, user_id, status, last_seq, created_at) \
             VALUES ($1, $2, 'bot', 0, $3) RETURNING id",
        )
        .bind(call_id)
        .bind(user_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let chat = chat_in(&mut tx, chat_id)
            .await?
            .ok_or(Error::NotFound("chat"))?;
        tx.commit().await?;
        Ok(chat)
    }

    async fn chat(&self, id: i64) -> Result<Option<ChatRecord>> {
        chat_in(&mut *self.conn().await?, id).await
    }

    async fn chats_of_call(&self, call_id: i64) -> Result<Vec<ChatRecord>> {
        let rows = sqlx::query(&format!("{CHAT_SELECT} WHERE c.call_id = $1 ORDER BY c.id"))
            .bind(call_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(chat_row).collect::<sqlx::Result<_>>()?)
    }

    async fn chats_of_analyst(
        &self,
        analyst_id: i64,
        status: ChatStatus,
    ) -> Result<Vec<ChatRecord>> {
        let rows = sqlx::query(&format!(
            "{CHAT_SELECT} WHERE c.analyst_id = $1 AND c.status = $2 ORDER BY c.id"
        ))
        .bind(analyst_id)
        .bind(status.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(chat_row).collect::<sqlx::Result<_>>()?)
    }

    async fn call(&self, id: i64) -> Result<Option<CallRecord>> {
        call_in(&mut *self.conn().await?, id).await
    }

    async fn recent_calls(&self, user_id: i64, limit: i64) -> Result<Vec<CallRecord>> {
        let rows = sqlx::query(&format!(
            "{CALL_SELECT} WHERE k.user_id = $1 ORDER BY k.id DESC LIMIT $2"
        ))
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(call_row).collect::<sqlx::Result<_>>()?)
    }

    async fn queue(&self) -> Result<Vec<ChatRecord>> {
        let rows = sqlx::query(&format!(
            "{CHAT_SELECT} WHERE c.status = 'queued' ORDER BY c.queued_at, c.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(chat_row).collect::<sqlx::Result<_>>()?)
    }

    async fn transition(
        &self,
        chat_id: i64,
        transition: Transition,
        now: Millis,
    ) -> Result<Result<(), ChatStatus>> {
        let target = transition.target();
        let queued_at = if target == ChatStatus::Queued {
            Some(now)
        } else {
            None
        };
        let mut tx = self.begin().await?;
        let done = sqlx::query(&format!(
            "UPDATE chats SET status = $1, queued_at = COALESCE($2, queued_at) \
             WHERE id = $3 AND status IN ({})",
            status_list(transition.allowed_from())
        ))
        .bind(target.as_str())
        .bind(queued_at)
        .bind(chat_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let outcome = if done == 1 {
            Ok(())
        } else {
            Err(status_in(&mut tx, chat_id).await?)
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn accept(
        &self,
        chat_id: i64,
        analyst_id: i64,
        max_chats: i64,
        now: Millis,
    ) -> Result<AcceptOutcome> {
        let mut tx = self.begin().await?;
        // Touching the analyst's presence row serializes their own concurrent accepts, so
        // the capacity check below cannot be raced past.
        sqlx::query("UPDATE analyst_presence SET updated_at = $1 WHERE user_id = $2")
            .bind(now)
            .bind(analyst_id)
            .execute(&mut *tx)
            .await?;
        let active: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM chats WHERE analyst_id = $1 AND status = 'active'",
        )
        .bind(analyst_id)
        .fetch_one(&mut *tx)
        .await?;
        if active >= max_chats {
            tx.rollback().await?;
            return Ok(AcceptOutcome::AtCapacity);
        }
        let done = sqlx::query(
            "UPDATE chats SET status = 'active', analyst_id = $1, accepted_at = $2 \
             WHERE id = $3 AND status = 'queued'",
        )
        .bind(analyst_id)
        .bind(now)
        .bind(chat_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            let status = status_in(&mut tx, chat_id).await?;
            tx.rollback().await?;
            return Ok(AcceptOutcome::NotQueued(status));
        }
        let chat = chat_in(&mut tx, chat_id)
            .await?
            .ok_or(Error::NotFound("chat"))?;
        tx.commit().await?;
        Ok(AcceptOutcome::Accepted(chat))
    }

    async fn end_chat(&self, end: &EndChat<'_>) -> Result<Result<Ended, ChatStatus>> {
        let mut tx = self.begin().await?;
        let seq: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE chats SET status = 'ended', ended_at = $1, ended_by = $2, \
             last_seq = last_seq + 1 WHERE id = $3 AND status IN ({}) RETURNING last_seq",
            status_list(end.from)
        ))
        .bind(end.now)
        .bind(end.ended_by.as_str())
        .bind(end.chat_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(seq) = seq else {
            let status = status_in(&mut tx, end.chat_id).await?;
            tx.rollback().await?;
            return Ok(Err(status));
        };
        let chat = chat_in(&mut tx, end.chat_id)
            .await?
            .ok_or(Error::NotFound("chat"))?;
        if let Some(by) = end.resolved_by {
            sqlx::query("UPDATE calls SET status = $1, resolved_by = $2 WHERE id = $3")
                .bind(status::RESOLVED)
                .bind(by)
                .bind(chat.call_id)
                .execute(&mut *tx)
                .await?;
        }
        let history = events_in(&mut tx, end.chat_id, 0).await?;
        let transcript = events::transcript_text(&chat, &history, end.ended_by, end.now);
        sqlx::query("UPDATE calls SET transcript = $1, updated_at = $2 WHERE id = $3")
            .bind(&transcript)
            .bind(end.now)
            .bind(chat.call_id)
            .execute(&mut *tx)
            .await?;
        let call = call_in(&mut tx, chat.call_id)
            .await?
            .ok_or(Error::NotFound("call"))?;
        let payload = events::ended_payload(&call.view(), end.ended_by);
        let event = insert_event(
            &mut tx,
            end.chat_id,
            seq,
            &NewEvent {
                kind: kind::ENDED,
                author: None,
                body: None,
                client_id: None,
                payload: Some(&payload),
                now: end.now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(Ended { chat, call, event }))
    }

    async fn append_event(&self, chat_id: i64, e: &NewEvent<'_>) -> Result<Appended> {
        match self.append_once(chat_id, e).await {
            // Two retries of one message raced; the loser returns the winner's event.
            Err(Error::Conflict {
                code: "already_exists",
                ..
            }) if e.client_id.is_some() => {
                let mut conn = self.conn().await?;
                let event = find_by_client_id(&mut conn, chat_id, e)
                    .await?
                    .ok_or(Error::NotFound("message"))?;
                Ok(Appended {
                    event,
                    duplicate: true,
                })
            }
            other => other,
        }
    }

    async fn message_by_client_id(
        &self,
        chat_id: i64,
        author_id: i64,
        client_id: &str,
    ) -> Result<Option<StoredEvent>> {
        let row = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM chat_events \
             WHERE chat_id = $1 AND author_id = $2 AND client_id = $3"
        ))
        .bind(chat_id)
        .bind(author_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(event_row).transpose()?)
    }

    async fn events_after(&self, chat_id: i64, after_seq: i64) -> Result<Vec<StoredEvent>> {
        events_in(&mut *self.conn().await?, chat_id, after_seq).await
    }

    async fn link_call(&self, chat_id: i64, call_id: i64, by: i64, now: Millis) -> Result<()> {
        sqlx::query(
            "INSERT INTO chat_links (chat_id, call_id, linked_by, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (chat_id, call_id) DO NOTHING",
        )
        .bind(chat_id)
        .bind(call_id)
        .bind(by)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn linked_calls(&self, chat_id: i64) -> Result<Vec<i64>> {
        Ok(
            sqlx::query_scalar(
                "SELECT call_id FROM chat_links WHERE chat_id = $1 ORDER BY call_id",
            )
            .bind(chat_id)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn linked_chats(&self, call_id: i64) -> Result<Vec<i64>> {
        Ok(
            sqlx::query_scalar(
                "SELECT chat_id FROM chat_links WHERE call_id = $1 ORDER BY chat_id",
            )
            .bind(call_id)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn decline_article(&self, chat_id: i64, article_id: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO declined_articles (chat_id, article_id) VALUES ($1, $2) \
             ON CONFLICT (chat_id, article_id) DO NOTHING",
        )
        .bind(chat_id)
        .bind(article_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn declined_articles(&self, chat_id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT article_id FROM declined_articles WHERE chat_id = $1 ORDER BY article_id",
        )
        .bind(chat_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn add_attachment(&self, a: &AttachmentRecord, e: &NewEvent<'_>) -> Result<Appended> {
        let mut tx = self.begin().await?;
        let seq = next_seq(&mut tx, a.chat_id).await?;
        sqlx::query(&format!(
            "INSERT INTO attachments ({ATTACHMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&a.id)
        .bind(a.call_id)
        .bind(a.chat_id)
        .bind(a.uploader_id)
        .bind(&a.name)
        .bind(&a.content_type)
        .bind(a.size)
        .bind(&a.sha256)
        .bind(a.created_at)
        .execute(&mut *tx)
        .await?;
        let event = insert_event(&mut tx, a.chat_id, seq, e).await?;
        tx.commit().await?;
        Ok(Appended {
            event,
            duplicate: false,
        })
    }

    async fn attachment(&self, id: &str) -> Result<Option<AttachmentRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(attachment_row).transpose()?)
    }

    async fn attachments_of_call(&self, call_id: i64) -> Result<Vec<AttachmentRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE call_id = $1 ORDER BY created_at, id"
        ))
        .bind(call_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(attachment_row)
            .collect::<sqlx::Result<_>>()?)
    }

    async fn knowledge_generation(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT generation FROM knowledge_state WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn articles(&self) -> Result<Vec<StoredArticle>> {
        let rows = sqlx::query(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE origin <> 'deleted' ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(article_row).collect::<sqlx::Result<_>>()?)
    }

    async fn article(&self, id: &str) -> Result<Option<StoredArticle>> {
        let row = sqlx::query(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = $1 AND origin <> 'deleted'"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(article_row).transpose()?)
    }

    async fn upsert_article(&self, article: &StoredArticle) -> Result<Upserted> {
        let mut tx = self.begin().await?;
        let outcome = upsert_article_in(&mut tx, article).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn delete_article(&self, id: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        // A tombstone, so that importing the folder does not bring the article back.
        let deleted = sqlx::query(
            "UPDATE articles SET origin = $1, updated_at = $2 WHERE id = $3 AND origin <> $1",
        )
        .bind(origin::DELETED)
        .bind(crate::domain::now_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if deleted {
            bump_generation(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn import_articles(&self, files: &[StoredArticle]) -> Result<Imported> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query("SELECT id, origin FROM articles")
            .fetch_all(&mut *tx)
            .await?;
        let mut origins = std::collections::HashMap::new();
        for row in &rows {
            origins.insert(
                row.try_get::<String, _>("id")?,
                row.try_get::<String, _>("origin")?,
            );
        }
        let mut report = Imported::default();
        for file in files {
            if origins
                .get(&file.id)
                .is_some_and(|o| o == origin::API || o == origin::DELETED)
            {
                report.kept.push(file.id.clone());
                continue;
            }
            match upsert_article_in(&mut tx, file).await? {
                Upserted::Added => report.added.push(file.id.clone()),
                Upserted::Changed => report.changed.push(file.id.clone()),
                Upserted::Unchanged => {}
            }
        }
        let present: std::collections::HashSet<&str> =
            files.iter().map(|f| f.id.as_str()).collect();
        for (id, o) in &origins {
            if o == origin::FILE && !present.contains(id.as_str()) {
                sqlx::query("DELETE FROM articles WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                report.removed.push(id.clone());
            }
        }
        if !report.removed.is_empty() {
            bump_generation(&mut tx).await?;
        }
        tx.commit().await?;
        report.removed.sort();
        Ok(report)
    }
}
