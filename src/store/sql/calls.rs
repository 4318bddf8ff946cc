//! Calls, the links between chats and further calls, and the files on calls.

use async_trait::async_trait;
use sqlx::Row;

use super::SqlStore;
use super::chats::{insert_event, next_seq};
use super::rows::{self, ATTACHMENT_COLUMNS, CALL_SELECT};
use crate::domain::Millis;
use crate::domain::call::{CallStatus, Resolver};
use crate::domain::ids::{AttachmentId, CallId, ChatId, UserId};
use crate::store::Result;
use crate::store::{
    Appended, AttachmentRecord, CallFilter, CallRecord, CallStore, NewEvent, NoteRecord,
};

pub(super) async fn call_in(
    conn: &mut sqlx::AnyConnection,
    id: CallId,
) -> Result<Option<CallRecord>> {
    let row = sqlx::query(&format!("{CALL_SELECT} WHERE k.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(rows::call).transpose()?)
}

#[async_trait]
impl CallStore for SqlStore {
    async fn call(&self, id: CallId) -> Result<Option<CallRecord>> {
        call_in(&mut *self.conn().await?, id).await
    }

    async fn recent_calls(&self, user_id: UserId, limit: i64) -> Result<Vec<CallRecord>> {
        let found = sqlx::query(&format!(
            "{CALL_SELECT} WHERE k.user_id = $1 ORDER BY k.id DESC LIMIT $2"
        ))
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&found, rows::call)?)
    }

    async fn find_calls(&self, f: &CallFilter<'_>) -> Result<Vec<CallRecord>> {
        // Every condition is always present; a missing filter binds NULL and matches all.
        // The text is matched as written: LIKE's wildcards in it are escaped.
        let pattern = f.text.map(|t| {
            let escaped = t
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let found = sqlx::query(&format!(
            "{CALL_SELECT} WHERE ($1 IS NULL OR k.status = $1) \
             AND ($2 IS NULL OR u.username = $2) \
             AND ($3 IS NULL OR LOWER(k.description) LIKE $3 ESCAPE '\\' OR k.id = $4) \
             ORDER BY k.id DESC LIMIT $5"
        ))
        .bind(f.status.map(|s| s.as_str().to_owned()))
        .bind(f.username)
        .bind(pattern)
        .bind(f.id)
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&found, rows::call)?)
    }

    async fn resolve_call(
        &self,
        id: CallId,
        resolution: &str,
        resolved_by: Resolver<'_>,
        now: Millis,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE calls SET status = $1, resolution = $2, resolved_by = $3, updated_at = $4 \
             WHERE id = $5 AND status = $6",
        )
        .bind(CallStatus::Resolved)
        .bind(resolution)
        .bind(resolved_by.as_str())
        .bind(now)
        .bind(id)
        .bind(CallStatus::Open)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn reopen_call(&self, id: CallId, now: Millis) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE calls SET status = $1, resolution = NULL, resolved_by = NULL, \
             updated_at = $2 WHERE id = $3 AND status = $4",
        )
        .bind(CallStatus::Open)
        .bind(now)
        .bind(id)
        .bind(CallStatus::Resolved)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn add_note(
        &self,
        call_id: CallId,
        author: UserId,
        text: &str,
        now: Millis,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO call_notes (call_id, author_id, body, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(call_id)
        .bind(author)
        .bind(text)
        .bind(now)
        .fetch_one(&self.writer)
        .await?)
    }

    async fn notes_of_call(&self, call_id: CallId) -> Result<Vec<NoteRecord>> {
        let rows = sqlx::query(
            "SELECT n.id, n.body, u.username, n.created_at FROM call_notes n \
             JOIN users u ON u.id = n.author_id WHERE n.call_id = $1 ORDER BY n.id",
        )
        .bind(call_id)
        .fetch_all(&self.pool)
        .await?;
        let notes = rows
            .iter()
            .map(|row| {
                Ok(NoteRecord {
                    id: row.try_get("id")?,
                    text: row.try_get("body")?,
                    author: row.try_get("username")?,
                    at: row.try_get("created_at")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
        Ok(notes)
    }

    async fn link_call(
        &self,
        chat_id: ChatId,
        call_id: CallId,
        by: UserId,
        now: Millis,
    ) -> Result<()> {
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

    async fn linked_calls(&self, chat_id: ChatId) -> Result<Vec<CallId>> {
        Ok(
            sqlx::query_scalar(
                "SELECT call_id FROM chat_links WHERE chat_id = $1 ORDER BY call_id",
            )
            .bind(chat_id)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn linked_chats(&self, call_id: CallId) -> Result<Vec<ChatId>> {
        Ok(
            sqlx::query_scalar(
                "SELECT chat_id FROM chat_links WHERE call_id = $1 ORDER BY chat_id",
            )
            .bind(call_id)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn add_attachment(&self, a: &AttachmentRecord, e: &NewEvent) -> Result<Appended> {
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

    async fn attachment(&self, id: &AttachmentId) -> Result<Option<AttachmentRecord>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn attachments_of_call(&self, call_id: CallId) -> Result<Vec<AttachmentRecord>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE call_id = $1 ORDER BY created_at, id"
        ))
        .bind(call_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
