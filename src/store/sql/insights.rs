//! The history insights are derived from: calls by the date they were logged, each with
//! its first chat's times, in one query (`calls_by_created` serves the range); and the
//! bot stage of the calls it did not resolve, for the knowledge gaps, in three.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::Row;

use super::SqlStore;
use super::rows;
use crate::domain::Millis;
use crate::domain::event::ChatEvent;
use crate::domain::ids::{ArticleId, CallId, ChatId};
use crate::domain::insights::CallHistory;
use crate::domain::message::EventKind;
use crate::store::Result;
use crate::store::{BotStage, InsightStore};

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

/// The first chat of each call in the range whose user accepted no suggestion, newest
/// first, at most `$3`.
const UNRESOLVED: &str = "SELECT k.id AS call_id, k.description, \
     c.id AS chat_id, c.queued_at \
     FROM calls k \
     JOIN chats c ON c.id = (SELECT MIN(f.id) FROM chats f WHERE f.call_id = k.id) \
     WHERE k.created_at >= $1 AND k.created_at < $2 AND c.accepted_article IS NULL \
     ORDER BY k.created_at DESC, k.id DESC LIMIT $3";

/// The suggestion events of those chats only.
fn offers() -> String {
    format!(
        "WITH picked AS ({UNRESOLVED}) SELECT e.chat_id, e.payload FROM picked p \
         JOIN chat_events e ON e.chat_id = p.chat_id AND e.kind = 'suggestions' \
         ORDER BY e.chat_id, e.seq"
    )
}

/// The articles declined in those chats only.
fn declines() -> String {
    format!(
        "WITH picked AS ({UNRESOLVED}) SELECT d.chat_id, d.article_id FROM picked p \
         JOIN declined_articles d ON d.chat_id = p.chat_id \
         ORDER BY d.chat_id, d.article_id"
    )
}

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

    async fn unresolved_by_bot(
        &self,
        from: Millis,
        to: Millis,
        limit: i64,
    ) -> Result<Vec<BotStage>> {
        let calls = sqlx::query(UNRESOLVED)
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut stages = Vec::with_capacity(calls.len());
        let mut by_chat: HashMap<ChatId, usize> = HashMap::with_capacity(calls.len());
        for row in &calls {
            let queued_at: Option<Millis> = row.try_get("queued_at")?;
            by_chat.insert(row.try_get("chat_id")?, stages.len());
            stages.push(BotStage {
                call_id: row.try_get::<CallId, _>("call_id")?,
                description: row.try_get("description")?,
                handed_off: queued_at.is_some(),
                offered: Vec::new(),
                declined: Vec::new(),
            });
        }
        let offers = sqlx::query(&offers())
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        for row in &offers {
            if let Some(&i) = by_chat.get(&row.try_get::<ChatId, _>("chat_id")?) {
                let payload: Option<String> = row.try_get("payload")?;
                let offer = ChatEvent::from_stored(
                    EventKind::Suggestions,
                    None,
                    None,
                    None,
                    payload.as_deref(),
                )
                .map_err(|e| sqlx::Error::Decode(e.into()))?;
                if let ChatEvent::Suggestions { items } = offer {
                    stages[i].offered.extend(items);
                }
            }
        }
        let declines = sqlx::query(&declines())
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        for row in &declines {
            if let Some(&i) = by_chat.get(&row.try_get::<ChatId, _>("chat_id")?) {
                stages[i]
                    .declined
                    .push(row.try_get::<ArticleId, _>("article_id")?);
            }
        }
        Ok(stages)
    }
}
