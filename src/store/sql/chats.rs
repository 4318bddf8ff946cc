//! Chats and their events: the queue, state changes, and appends that claim each chat's
//! next `seq`.

use async_trait::async_trait;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};

use super::calls::call_in;
use super::group_commit::Inserted;
use super::rows::{self, CHAT_SELECT, EVENT_COLUMNS};
use super::{RacedKey, SqlStore, status_in, status_list};
use crate::domain::Millis;
use crate::domain::call::CallStatus;
use crate::domain::channel::CallSource;
use crate::domain::chat::{ChatStatus, Transition};
use crate::domain::event::{ChatEvent, StoredColumns};
use crate::domain::ids::{ArticleId, CallId, ChatId, EventId, UserId};
use crate::domain::wait::Acceptance;
use crate::store::{
    AcceptOutcome, Appended, CallRecord, ChatEnding, ChatRecord, ChatStore, DeskCounts, EndChat,
    Ended, NewEvent, StoredEvent, TransferOutcome, TransferTo,
};
use crate::store::{Constraint, Result, StoreError};

/// Appends an event to a chat that has not ended, with the chat's next `seq`, in one
/// statement: updating the chat row claims the `seq` (and locks the row until commit).
const PG_APPEND: &str = "WITH claimed AS (UPDATE chats SET last_seq = last_seq + 1 \
     WHERE id = $1 AND status <> 'ended' RETURNING id, last_seq) \
     INSERT INTO chat_events (chat_id, seq, kind, author_role, author_id, author_name, body, \
     client_id, payload, created_at) \
     SELECT id, last_seq, $2, $3, $4, $5, $6, $7, $8, $9 FROM claimed RETURNING id, seq";

fn chat_ended() -> StoreError {
    StoreError::Conflict(Constraint::ChatNotEnded)
}

pub(super) async fn chat_in(conn: &mut AnyConnection, id: ChatId) -> Result<Option<ChatRecord>> {
    let row = sqlx::query(&format!("{CHAT_SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(rows::chat).transpose()?)
}

async fn events_in(
    conn: &mut AnyConnection,
    chat_id: ChatId,
    after: i64,
) -> Result<Vec<StoredEvent>> {
    let found = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM chat_events WHERE chat_id = $1 AND seq > $2 ORDER BY seq"
    ))
    .bind(chat_id)
    .bind(after)
    .fetch_all(conn)
    .await?;
    Ok(rows::all(&found, rows::event)?)
}

/// The analyst's active chats; read under a lock on their presence row, so that capacity
/// checks of racing accepts and transfers cannot both pass.
async fn active_chats(conn: &mut AnyConnection, analyst_id: UserId) -> Result<i64> {
    Ok(
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM chats WHERE analyst_id = $1 AND status = 'active'",
        )
        .bind(analyst_id)
        .fetch_one(conn)
        .await?,
    )
}

/// Touches an online analyst's presence row inside a transaction that gives them a chat
/// (accept, transfer), and returns their `max_chats`; `None` when they are not online.
/// The touch serializes the capacity check that follows with their other accepts and
/// with their going offline, on this instance or another.
async fn touch_online(
    conn: &mut AnyConnection,
    analyst_id: UserId,
    now: Millis,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE analyst_presence SET updated_at = $1 \
         WHERE user_id = $2 AND status = 'online' RETURNING max_chats",
    )
    .bind(now)
    .bind(analyst_id)
    .fetch_optional(conn)
    .await?)
}

/// Claims the chat's next `seq`, refusing chats that have ended.
pub(super) async fn next_seq(conn: &mut AnyConnection, chat_id: ChatId) -> Result<i64> {
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
            Err(chat_ended())
        }
    }
}

/// Inserts an event at `seq`; the caller has already claimed `seq` on the chat row.
pub(super) async fn insert_event(
    conn: &mut AnyConnection,
    chat_id: ChatId,
    seq: i64,
    e: &NewEvent,
) -> Result<StoredEvent> {
    // The event's own columns are bound after `chat_id` and `seq`, as $3 to $10.
    let query = sqlx::query(
        "INSERT INTO chat_events (chat_id, seq, kind, author_role, author_id, author_name, body, \
         client_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         RETURNING id",
    )
    .bind(chat_id)
    .bind(seq);
    let id: EventId = bind_event(query, e.event.stored(), e.now)
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")?;
    Ok(StoredEvent::new(id, chat_id, seq, e))
}

/// Binds an event's columns (`kind` to `created_at`, in table order) to the next
/// placeholders.
fn bind_event<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    e: StoredColumns<'q>,
    now: Millis,
) -> Query<'q, Any, AnyArguments<'q>> {
    query
        .bind(e.kind)
        .bind(e.author.map(|a| a.role))
        .bind(e.author.and_then(|a| a.id))
        .bind(e.author.map(|a| a.name.as_str()))
        .bind(e.body)
        .bind(e.client_id)
        .bind(e.payload)
        .bind(now)
}

async fn find_by_client_id(
    conn: &mut AnyConnection,
    chat_id: ChatId,
    author_id: Option<UserId>,
    client_id: &str,
) -> Result<Option<StoredEvent>> {
    let row = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM chat_events \
         WHERE chat_id = $1 AND author_id = $2 AND client_id = $3"
    ))
    .bind(chat_id)
    .bind(author_id)
    .bind(client_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(rows::event).transpose()?)
}

impl SqlStore {
    /// Stores an event with its chat's next `seq`: batched with other chats' on SQLite,
    /// one statement on PostgreSQL. `None` when nothing was stored: the chat is missing or
    /// has ended, or the event repeats a `client_id`. A PostgreSQL race between two
    /// retries of one message fails on its unique key and is returned as it is.
    async fn insert_appended(
        &self,
        chat_id: ChatId,
        e: &NewEvent,
    ) -> Result<Result<Inserted, sqlx::Error>> {
        if let Some(group) = &self.group {
            return group.append(chat_id, e).await.map(Ok);
        }
        let row = bind_event(
            sqlx::query(PG_APPEND).bind(chat_id),
            e.event.stored(),
            e.now,
        )
        .fetch_optional(&self.writer)
        .await;
        Ok(match row {
            Ok(Some(row)) => Ok(Some((row.try_get("id")?, row.try_get("seq")?))),
            Ok(None) => Ok(None),
            Err(e) if RacedKey::violated_by(&e) == Some(RacedKey::MessageClientId) => Err(e),
            Err(e) => return Err(e.into()),
        })
    }
}

#[async_trait]
impl ChatStore for SqlStore {
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

    async fn create_chat_from(
        &self,
        user_id: UserId,
        description: &str,
        source: CallSource,
        now: Millis,
    ) -> Result<ChatRecord> {
        let mut tx = self.begin().await?;
        let call_id: CallId = sqlx::query_scalar(
            "INSERT INTO calls (user_id, source, status, description, created_at, updated_at) \
             VALUES ($1, $5, $2, $3, $4, $4) RETURNING id",
        )
        .bind(user_id)
        .bind(CallStatus::Open)
        .bind(description)
        .bind(now)
        .bind(source)
        .fetch_one(&mut *tx)
        .await?;
        let chat_id: ChatId = sqlx::query_scalar(
            "INSERT INTO chats (call_id, user_id, status, last_seq, created_at) \
             VALUES ($1, $2, $3, 0, $4) RETURNING id",
        )
        .bind(call_id)
        .bind(user_id)
        .bind(ChatStatus::Bot)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let chat = chat_in(&mut tx, chat_id)
            .await?
            .ok_or(StoreError::NotFound("chat"))?;
        tx.commit().await?;
        Ok(chat)
    }

    async fn chat(&self, id: ChatId) -> Result<Option<ChatRecord>> {
        chat_in(&mut *self.conn().await?, id).await
    }

    async fn chats_of_call(&self, call_id: CallId) -> Result<Vec<ChatRecord>> {
        let found = sqlx::query(&format!("{CHAT_SELECT} WHERE c.call_id = $1 ORDER BY c.id"))
            .bind(call_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows::all(&found, rows::chat)?)
    }

    async fn open_chats_of_user(&self, user_id: UserId) -> Result<Vec<ChatRecord>> {
        let found = sqlx::query(&format!(
            "{CHAT_SELECT} WHERE c.user_id = $1 AND c.status <> $2 ORDER BY c.id DESC"
        ))
        .bind(user_id)
        .bind(ChatStatus::Ended)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&found, rows::chat)?)
    }

    async fn chats_of_analyst(
        &self,
        analyst_id: UserId,
        status: ChatStatus,
    ) -> Result<Vec<ChatRecord>> {
        let found = sqlx::query(&format!(
            "{CHAT_SELECT} WHERE c.analyst_id = $1 AND c.status = $2 ORDER BY c.id"
        ))
        .bind(analyst_id)
        .bind(status)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&found, rows::chat)?)
    }

    async fn queue(&self) -> Result<Vec<ChatRecord>> {
        let found = sqlx::query(&format!(
            "{CHAT_SELECT} WHERE c.status = 'queued' \
             ORDER BY COALESCE(c.queue_order, c.queued_at), c.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&found, rows::chat)?)
    }

    async fn transition(
        &self,
        chat_id: ChatId,
        transition: Transition,
        now: Millis,
    ) -> Result<Result<(), ChatStatus>> {
        let target = transition.target();
        let queued_at = (target == ChatStatus::Queued).then_some(now);
        // The queue's order on the database's clock, which every instance shares.
        let queue_order = if target == ChatStatus::Queued {
            self.dialect.now_ms()
        } else {
            "queue_order"
        };
        let mut tx = self.begin().await?;
        let done = sqlx::query(&format!(
            "UPDATE chats SET status = $1, queued_at = COALESCE($2, queued_at), \
             queue_order = {queue_order} WHERE id = $3 AND status IN ({})",
            status_list(transition.allowed_from())
        ))
        .bind(target)
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
        chat_id: ChatId,
        analyst_id: UserId,
        max_chats: i64,
        now: Millis,
    ) -> Result<AcceptOutcome> {
        let mut tx = self.begin().await?;
        if touch_online(&mut tx, analyst_id, now).await?.is_none() {
            tx.rollback().await?;
            return Ok(AcceptOutcome::Offline);
        }
        if active_chats(&mut tx, analyst_id).await? >= max_chats {
            tx.rollback().await?;
            return Ok(AcceptOutcome::AtCapacity);
        }
        let done = sqlx::query(
            "UPDATE chats SET status = 'active', analyst_id = $1, \
             accepted_at = COALESCE(accepted_at, $2) WHERE id = $3 AND status = 'queued'",
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
            .ok_or(StoreError::NotFound("chat"))?;
        tx.commit().await?;
        Ok(AcceptOutcome::Accepted(Box::new(chat)))
    }

    async fn transfer(
        &self,
        chat_id: ChatId,
        from: UserId,
        to: TransferTo,
        note: &NewEvent,
    ) -> Result<TransferOutcome> {
        let now = note.now;
        let mut tx = self.begin().await?;
        let (status, analyst) = match to {
            TransferTo::Queue => (ChatStatus::Queued, None),
            TransferTo::Analyst(target) => {
                let max_chats = touch_online(&mut tx, target, now).await?;
                let Some(max_chats) = max_chats else {
                    tx.rollback().await?;
                    return Ok(TransferOutcome::TargetOffline);
                };
                if active_chats(&mut tx, target).await? >= max_chats {
                    tx.rollback().await?;
                    return Ok(TransferOutcome::TargetAtCapacity(max_chats));
                }
                (ChatStatus::Active, Some(target))
            }
        };
        let done = sqlx::query(
            "UPDATE chats SET status = $1, analyst_id = $2 \
             WHERE id = $3 AND status = 'active' AND analyst_id = $4",
        )
        .bind(status)
        .bind(analyst)
        .bind(chat_id)
        .bind(from)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            let status = status_in(&mut tx, chat_id).await?;
            tx.rollback().await?;
            return Ok(TransferOutcome::NotTheirs(status));
        }
        let seq = next_seq(&mut tx, chat_id).await?;
        let event = insert_event(&mut tx, chat_id, seq, note).await?;
        let chat = chat_in(&mut tx, chat_id)
            .await?
            .ok_or(StoreError::NotFound("chat"))?;
        tx.commit().await?;
        Ok(TransferOutcome::Transferred(Box::new((chat, event))))
    }

    async fn begin_ending(
        &self,
        end: &EndChat<'_>,
    ) -> Result<Result<Box<dyn ChatEnding>, ChatStatus>> {
        let mut tx = self.begin().await?;
        let seq: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE chats SET status = 'ended', ended_from = status, ended_at = $1, \
             ended_by = $2, accepted_article = $3, last_seq = last_seq + $4 \
             WHERE id = $5 AND status IN ({}) RETURNING last_seq",
            status_list(end.from)
        ))
        .bind(end.now)
        .bind(end.ended_by)
        .bind(end.accepted_article)
        .bind(1 + i64::from(end.note.is_some()))
        .bind(end.chat_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(seq) = seq else {
            let status = status_in(&mut tx, end.chat_id).await?;
            tx.rollback().await?;
            return Ok(Err(status));
        };
        let note = match end.note {
            Some(note) => {
                let note = NewEvent {
                    event: note.clone(),
                    now: end.now,
                };
                Some(insert_event(&mut tx, end.chat_id, seq - 1, &note).await?)
            }
            None => None,
        };
        let chat = chat_in(&mut tx, end.chat_id)
            .await?
            .ok_or(StoreError::NotFound("chat"))?;
        if let Some(by) = end.resolved_by {
            // A call an analyst resolved meanwhile keeps its resolver.
            sqlx::query(
                "UPDATE calls SET status = $1, resolved_by = $2 WHERE id = $3 AND status = $4",
            )
            .bind(CallStatus::Resolved)
            .bind(by.as_str())
            .bind(chat.call_id)
            .bind(CallStatus::Open)
            .execute(&mut *tx)
            .await?;
        }
        let mut call = call_in(&mut tx, chat.call_id)
            .await?
            .ok_or(StoreError::NotFound("call"))?;
        // As it will be committed.
        call.updated_at = end.now;
        let history = events_in(&mut tx, end.chat_id, 0).await?;
        Ok(Ok(Box::new(SqlEnding {
            tx,
            chat,
            call,
            history,
            note,
            seq,
            now: end.now,
        })))
    }

    async fn append_event(&self, chat_id: ChatId, e: &NewEvent) -> Result<Appended> {
        let columns = e.event.stored();
        let author_id = columns.author.and_then(|a| a.id);
        let stored = self.insert_appended(chat_id, e).await?;
        if let Ok(Some((id, seq))) = stored {
            return Ok(Appended {
                event: StoredEvent::new(id, chat_id, seq, e),
                duplicate: false,
            });
        }
        // Nothing stored: a retry of a message stored earlier (or in a race just lost)
        // gets the first one back; otherwise the chat has ended (or does not exist).
        let mut conn = self.conn().await?;
        if let Some(client_id) = columns.client_id
            && let Some(event) = find_by_client_id(&mut conn, chat_id, author_id, client_id).await?
        {
            return Ok(Appended {
                event,
                duplicate: true,
            });
        }
        if let Err(race) = stored {
            // The winner's row is not visible: that is no retry we can answer.
            return Err(race.into());
        }
        status_in(&mut conn, chat_id).await?;
        Err(chat_ended())
    }

    async fn events_after(&self, chat_id: ChatId, after_seq: i64) -> Result<Vec<StoredEvent>> {
        events_in(&mut *self.conn().await?, chat_id, after_seq).await
    }

    async fn last_seqs(&self, chats: &[ChatId]) -> Result<Vec<(ChatId, i64)>> {
        let mut found = Vec::with_capacity(chats.len());
        // Far below either database's limit on parameters.
        for some in chats.chunks(500) {
            let params = (1..=some.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT id, last_seq FROM chats WHERE id IN ({params})");
            let mut query = sqlx::query(&sql);
            for chat in some {
                query = query.bind(*chat);
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push((row.try_get("id")?, row.try_get("last_seq")?));
            }
        }
        Ok(found)
    }

    async fn message_by_client_id(
        &self,
        chat_id: ChatId,
        author_id: UserId,
        client_id: &str,
    ) -> Result<Option<StoredEvent>> {
        find_by_client_id(
            &mut *self.conn().await?,
            chat_id,
            Some(author_id),
            client_id,
        )
        .await
    }

    async fn decline_article(&self, chat_id: ChatId, article_id: &ArticleId) -> Result<()> {
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

    async fn recent_acceptances(&self, since: Millis, limit: i64) -> Result<Vec<Acceptance>> {
        let found = sqlx::query(
            "SELECT queued_at, accepted_at, analyst_id FROM chats \
             WHERE accepted_at >= $1 AND analyst_id IS NOT NULL \
             ORDER BY accepted_at DESC LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|row| {
                let at: Millis = row.try_get("accepted_at")?;
                let queued_at: Option<Millis> = row.try_get("queued_at")?;
                Ok(Acceptance {
                    queued_at: queued_at.unwrap_or(at),
                    at,
                    analyst: row.try_get("analyst_id")?,
                })
            })
            .collect()
    }

    async fn record_first_response(&self, chat_id: ChatId, at: Millis) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE chats SET first_response_at = $1 \
             WHERE id = $2 AND status = 'active' AND first_response_at IS NULL",
        )
        .bind(at)
        .bind(chat_id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn declined_articles(&self, chat_id: ChatId) -> Result<Vec<ArticleId>> {
        Ok(sqlx::query_scalar(
            "SELECT article_id FROM declined_articles WHERE chat_id = $1 ORDER BY article_id",
        )
        .bind(chat_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// [`ChatEnding`] on SQL: the transaction [`ChatStore::begin_ending`] opened.
struct SqlEnding {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    chat: ChatRecord,
    call: CallRecord,
    history: Vec<StoredEvent>,
    note: Option<StoredEvent>,
    /// The `ended` event's, taken when the chat was marked ended.
    seq: i64,
    now: Millis,
}

#[async_trait]
impl ChatEnding for SqlEnding {
    fn chat(&self) -> &ChatRecord {
        &self.chat
    }

    fn call(&self) -> &CallRecord {
        &self.call
    }

    fn history(&self) -> &[StoredEvent] {
        &self.history
    }

    async fn commit(self: Box<Self>, transcript: String, ended: ChatEvent) -> Result<Ended> {
        let Self {
            mut tx,
            chat,
            mut call,
            note,
            seq,
            now,
            ..
        } = *self;
        sqlx::query("UPDATE calls SET transcript = $1, updated_at = $2 WHERE id = $3")
            .bind(&transcript)
            .bind(now)
            .bind(chat.call_id)
            .execute(&mut *tx)
            .await?;
        call.transcript = Some(transcript);
        let event = insert_event(&mut tx, chat.id, seq, &NewEvent { event: ended, now }).await?;
        tx.commit().await?;
        Ok(Ended {
            chat,
            call,
            note,
            event,
        })
    }
}
