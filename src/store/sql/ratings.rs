//! Ratings: one per chat, kept with the chat's call.

use async_trait::async_trait;
use sqlx::Row;

use super::SqlStore;
use crate::domain::ids::CallId;
use crate::store::Result;
use crate::store::{NewRating, RatingRecord, RatingStore};

#[async_trait]
impl RatingStore for SqlStore {
    async fn rate_chat(&self, r: &NewRating<'_>) -> Result<bool> {
        // The primary key decides a race between two ratings of one chat.
        let stored = sqlx::query(
            "INSERT INTO ratings (chat_id, call_id, score, comment, rated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chat_id) DO NOTHING",
        )
        .bind(r.chat_id)
        .bind(r.call_id)
        .bind(r.score)
        .bind(r.comment)
        .bind(r.at)
        .execute(&self.writer)
        .await?;
        Ok(stored.rows_affected() == 1)
    }

    async fn ratings_of_call(&self, call_id: CallId) -> Result<Vec<RatingRecord>> {
        let rows = sqlx::query(
            "SELECT chat_id, score, comment, rated_at FROM ratings WHERE call_id = $1 \
             ORDER BY rated_at DESC, chat_id DESC",
        )
        .bind(call_id)
        .fetch_all(&self.pool)
        .await?;
        let ratings = rows
            .iter()
            .map(|row| {
                Ok(RatingRecord {
                    chat_id: row.try_get("chat_id")?,
                    score: row.try_get("score")?,
                    comment: row.try_get("comment")?,
                    at: row.try_get("rated_at")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
        Ok(ratings)
    }
}
