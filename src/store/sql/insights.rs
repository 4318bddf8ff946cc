//! The history insights are derived from: calls by the date they were logged, each with
//! its first chat's times, in one query (`calls_by_created` serves the range).

use async_trait::async_trait;

use super::SqlStore;
use super::rows;
use crate::domain::Millis;
use crate::domain::insights::CallHistory;
use crate::error::Result;
use crate::store::InsightStore;

const HISTORY: &str = "SELECT k.id AS call_id, k.created_at, k.status, \
     c.accepted_article, c.queued_at, c.accepted_at, c.first_response_at, c.ended_at, \
     c.ended_from, a.username AS analyst, \
     (SELECT r.score FROM ratings r WHERE r.call_id = k.id \
      ORDER BY r.rated_at DESC, r.chat_id DESC LIMIT 1) AS rating \
     FROM calls k \
     LEFT JOIN chats c ON c.id = (SELECT MIN(f.id) FROM chats f WHERE f.call_id = k.id) \
     LEFT JOIN users a ON a.id = c.analyst_id \
     WHERE k.created_at >= $1 AND k.created_at < $2 \
     ORDER BY k.created_at, k.id";

#[async_trait]
impl InsightStore for SqlStore {
    async fn call_history(&self, from: Millis, to: Millis) -> Result<Vec<CallHistory>> {
        let found = sqlx::query(HISTORY)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows::all(&found, rows::call_history)?)
    }
}
