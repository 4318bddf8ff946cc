//! Chat windows and page loads shared by the instances on one database, on the
//! database's clock, so that no two instances' clocks need agree (see
//! `engine::chat::windows`).

use async_trait::async_trait;

use super::SqlStore;
use crate::domain::ids::{ChatId, UserId};
use crate::store::{Result, WindowStore};

/// Rows this stale (milliseconds) are swept: no timer looks back that far.
const STALE_MS: i64 = 3_600_000;

#[async_trait]
impl WindowStore for SqlStore {
    async fn window_changed(&self, chat_id: ChatId, instance: i64, opened: bool) -> Result<()> {
        let now = self.dialect.now_ms();
        // Counted, never set: an open and a close that arrive out of order still add up.
        let sql = if opened {
            format!(
                "INSERT INTO chat_windows (chat_id, instance, open, opened_at, seen_at) \
                 VALUES ($1, $2, 1, {now}, {now}) ON CONFLICT (chat_id, instance) DO UPDATE \
                 SET open = chat_windows.open + 1, opened_at = {now}, seen_at = {now}"
            )
        } else {
            format!(
                "INSERT INTO chat_windows (chat_id, instance, open, opened_at, seen_at) \
                 VALUES ($1, $2, -1, 0, {now}) ON CONFLICT (chat_id, instance) DO UPDATE \
                 SET open = chat_windows.open - 1, seen_at = {now}"
            )
        };
        sqlx::query(&sql)
            .bind(chat_id)
            .bind(instance)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn windows_seen(&self, instance: i64) -> Result<()> {
        let now = self.dialect.now_ms();
        sqlx::query(&format!(
            "UPDATE chat_windows SET seen_at = {now} WHERE instance = $1 AND open > 0"
        ))
        .bind(instance)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn window_elsewhere(
        &self,
        chat_id: ChatId,
        instance: i64,
        live_ms: i64,
        opened_within_ms: i64,
    ) -> Result<bool> {
        let now = self.dialect.now_ms();
        let found: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM chat_windows WHERE chat_id = $1 AND instance <> $2 \
             AND ((open > 0 AND seen_at >= {now} - $3) OR opened_at >= {now} - $4)"
        ))
        .bind(chat_id)
        .bind(instance)
        .bind(live_ms)
        .bind(opened_within_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(found > 0)
    }

    async fn page_loaded(&self, user_id: UserId, instance: i64) -> Result<()> {
        let now = self.dialect.now_ms();
        sqlx::query(&format!(
            "INSERT INTO page_loads (user_id, instance, loaded_at) VALUES ($1, $2, {now}) \
             ON CONFLICT (user_id, instance) DO UPDATE SET loaded_at = {now}"
        ))
        .bind(user_id)
        .bind(instance)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn page_loaded_elsewhere(
        &self,
        user_id: UserId,
        instance: i64,
        within_ms: i64,
    ) -> Result<bool> {
        let now = self.dialect.now_ms();
        let found: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM page_loads WHERE user_id = $1 AND instance <> $2 \
             AND loaded_at >= {now} - $3"
        ))
        .bind(user_id)
        .bind(instance)
        .bind(within_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(found > 0)
    }

    async fn sweep_windows(&self) -> Result<u64> {
        let now = self.dialect.now_ms();
        let windows = sqlx::query(&format!(
            "DELETE FROM chat_windows WHERE seen_at < {now} - $1"
        ))
        .bind(STALE_MS)
        .execute(&self.writer)
        .await?;
        let pages = sqlx::query(&format!(
            "DELETE FROM page_loads WHERE loaded_at < {now} - $1"
        ))
        .bind(STALE_MS)
        .execute(&self.writer)
        .await?;
        Ok(windows.rows_affected() + pages.rows_affected())
    }
}
