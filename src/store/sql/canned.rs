//! Canned responses: one row each, with the analyst who saved it last.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::SqlStore;
use crate::domain::Millis;
use crate::domain::ids::{CannedId, UserId};
use crate::store::Result;
use crate::store::{CannedRecord, CannedStore};

const SELECT: &str = "SELECT c.id, c.title, c.body, u.username AS author, c.updated_at \
     FROM canned_responses c JOIN users u ON u.id = c.author_id";

fn record(row: &AnyRow) -> sqlx::Result<CannedRecord> {
    Ok(CannedRecord {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        text: row.try_get("body")?,
        author: row.try_get("author")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl SqlStore {
    async fn canned_response(&self, id: CannedId) -> Result<Option<CannedRecord>> {
        let row = sqlx::query(&format!("{SELECT} WHERE c.id = $1"))
            .bind(id)
            .fetch_optional(&self.writer)
            .await?;
        Ok(row.as_ref().map(record).transpose()?)
    }
}

#[async_trait]
impl CannedStore for SqlStore {
    async fn canned_responses(&self) -> Result<Vec<CannedRecord>> {
        let rows = sqlx::query(&format!("{SELECT} ORDER BY LOWER(c.title), c.id"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(record).collect::<sqlx::Result<_>>()?)
    }

    async fn create_canned(
        &self,
        title: &str,
        text: &str,
        author: UserId,
        now: Millis,
    ) -> Result<CannedRecord> {
        let id: CannedId = sqlx::query_scalar(
            "INSERT INTO canned_responses (title, body, author_id, updated_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(title)
        .bind(text)
        .bind(author)
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        self.canned_response(id)
            .await?
            .ok_or_else(|| sqlx::Error::RowNotFound.into())
    }

    async fn update_canned(
        &self,
        id: CannedId,
        title: &str,
        text: &str,
        author: UserId,
        now: Millis,
    ) -> Result<Option<CannedRecord>> {
        let updated = sqlx::query(
            "UPDATE canned_responses SET title = $1, body = $2, author_id = $3, \
             updated_at = $4 WHERE id = $5",
        )
        .bind(title)
        .bind(text)
        .bind(author)
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        self.canned_response(id).await
    }

    async fn delete_canned(&self, id: CannedId) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM canned_responses WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }
}
