//! External channels and their Direct Line conversations.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::SqlStore;
use crate::domain::Millis;
use crate::domain::ids::{ChannelId, ChatId};
use crate::store::{ChannelRecord, ChannelStore, ConversationRecord, NewChannel, Result};

const CHANNEL_COLUMNS: &str = "id, kind, name, token_key, created_at";
const CONVERSATION_COLUMNS: &str = "id, channel_id, user_id, chat_id, first_activity, created_at";

fn channel(row: &AnyRow) -> Result<ChannelRecord> {
    Ok(ChannelRecord {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        token_key: row.try_get("token_key")?,
        created_at: row.try_get("created_at")?,
    })
}

fn conversation(row: &AnyRow) -> Result<ConversationRecord> {
    Ok(ConversationRecord {
        id: row.try_get("id")?,
        channel_id: row.try_get("channel_id")?,
        user_id: row.try_get("user_id")?,
        chat_id: row.try_get("chat_id")?,
        first_activity: row.try_get("first_activity")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl ChannelStore for SqlStore {
    async fn create_channel(&self, new: &NewChannel<'_>) -> Result<ChannelRecord> {
        let row = sqlx::query(&format!(
            "INSERT INTO channels (kind, name, secret_hash, token_key, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {CHANNEL_COLUMNS}"
        ))
        .bind(new.kind)
        .bind(new.name)
        .bind(new.secret_hash)
        .bind(new.token_key)
        .bind(new.now)
        .fetch_one(&self.writer)
        .await?;
        channel(&row)
    }

    async fn channels(&self) -> Result<Vec<ChannelRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE removed_at IS NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(channel).collect()
    }

    async fn channel(&self, id: ChannelId) -> Result<Option<ChannelRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1 AND removed_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(channel).transpose()
    }

    async fn channel_by_secret(&self, secret_hash: &str) -> Result<Option<ChannelRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels \
             WHERE secret_hash = $1 AND removed_at IS NULL"
        ))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(channel).transpose()
    }

    async fn remove_channel(&self, id: ChannelId, now: Millis) -> Result<bool> {
        let done =
            sqlx::query("UPDATE channels SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_conversation(&self, c: &ConversationRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO channel_conversations \
             (id, channel_id, user_id, chat_id, first_activity, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.id)
        .bind(c.channel_id)
        .bind(c.user_id)
        .bind(c.chat_id)
        .bind(&c.first_activity)
        .bind(c.created_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn conversation(&self, id: &str) -> Result<Option<ConversationRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM channel_conversations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(conversation).transpose()
    }

    async fn claim_first_message(&self, id: &str, activity: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE channel_conversations SET first_activity = $1 \
             WHERE id = $2 AND first_activity IS NULL AND chat_id IS NULL",
        )
        .bind(activity)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_first_message(&self, id: &str, activity: &str) -> Result<()> {
        sqlx::query(
            "UPDATE channel_conversations SET first_activity = NULL \
             WHERE id = $1 AND first_activity = $2 AND chat_id IS NULL",
        )
        .bind(id)
        .bind(activity)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn set_conversation_chat(&self, id: &str, chat: ChatId) -> Result<()> {
        sqlx::query("UPDATE channel_conversations SET chat_id = $1 WHERE id = $2")
            .bind(chat)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
