//! External channels, their conversations, and the delivery of chats' activities to
//! Bot Framework connectors.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::SqlStore;
use crate::domain::Millis;
use crate::domain::ids::{ChannelId, ChatId, UserId};
use crate::store::{
    ChannelRecord, ChannelStore, ConversationRecord, DeliveryRecord, NewChannel, Result,
};

const CHANNEL_COLUMNS: &str = "id, kind, name, token_key, created_at";
const CONVERSATION_COLUMNS: &str = "id, channel_id, user_id, person_id, chat_id, first_activity, created_at, service_url, \
     bot_account";

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
        person_id: row.try_get("person_id")?,
        chat_id: row.try_get("chat_id")?,
        first_activity: row.try_get("first_activity")?,
        created_at: row.try_get("created_at")?,
        service_url: row.try_get("service_url")?,
        bot_account: row.try_get("bot_account")?,
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
             (id, channel_id, user_id, person_id, chat_id, first_activity, created_at, \
              service_url, bot_account) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&c.id)
        .bind(c.channel_id)
        .bind(c.user_id)
        .bind(&c.person_id)
        .bind(c.chat_id)
        .bind(&c.first_activity)
        .bind(c.created_at)
        .bind(&c.service_url)
        .bind(&c.bot_account)
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

    async fn set_conversation_person(&self, id: &str, user: UserId, person: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE channel_conversations SET user_id = $1, person_id = $2 \
             WHERE id = $3 AND person_id IS NULL AND first_activity IS NULL \
               AND chat_id IS NULL",
        )
        .bind(user)
        .bind(person)
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

    async fn set_conversation_route(
        &self,
        id: &str,
        service_url: &str,
        bot_account: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE channel_conversations SET service_url = $1, bot_account = $2 \
             WHERE id = $3 AND (service_url IS NULL OR service_url <> $1 \
                OR bot_account IS NULL OR bot_account <> $2)",
        )
        .bind(service_url)
        .bind(bot_account)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn restart_conversation(&self, id: &str, ended: ChatId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE channel_conversations SET chat_id = NULL, first_activity = NULL \
             WHERE id = $1 AND chat_id = $2",
        )
        .bind(id)
        .bind(ended)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn note_channel_activity(
        &self,
        channel: ChannelId,
        conversation: &str,
        activity: &str,
        now: Millis,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO channel_activities \
             (channel_id, conversation_id, activity_id, received_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(channel)
        .bind(conversation)
        .bind(activity)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn forget_channel_activity(
        &self,
        channel: ChannelId,
        conversation: &str,
        activity: &str,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM channel_activities \
             WHERE channel_id = $1 AND conversation_id = $2 AND activity_id = $3",
        )
        .bind(channel)
        .bind(conversation)
        .bind(activity)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn sweep_channel_activities(&self, before: Millis) -> Result<u64> {
        let done = sqlx::query("DELETE FROM channel_activities WHERE received_at < $1")
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    async fn open_delivery(&self, chat: ChatId, conversation: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO channel_deliveries (chat_id, conversation_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(chat)
        .bind(conversation)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn lease_delivery(
        &self,
        chat: ChatId,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<DeliveryRecord>> {
        let now = self.dialect.now_ms();
        let row = sqlx::query(&format!(
            "UPDATE channel_deliveries SET lease_owner = $1, lease_until = {now} + $2 \
             WHERE chat_id = $3 AND done_at IS NULL \
               AND (lease_owner = $1 OR lease_until IS NULL OR lease_until < {now}) \
             RETURNING chat_id, conversation_id, sent_seq"
        ))
        .bind(owner)
        .bind(lease_ms)
        .bind(chat)
        .fetch_optional(&self.writer)
        .await?;
        row.map(|row| {
            Ok(DeliveryRecord {
                chat_id: row.try_get("chat_id")?,
                conversation_id: row.try_get("conversation_id")?,
                sent_seq: row.try_get("sent_seq")?,
            })
        })
        .transpose()
    }

    async fn delivered(&self, chat: ChatId, owner: &str, seq: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE channel_deliveries SET sent_seq = $1 \
             WHERE chat_id = $2 AND lease_owner = $3 AND sent_seq < $1",
        )
        .bind(seq)
        .bind(chat)
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_delivery(
        &self,
        chat: ChatId,
        owner: &str,
        done: Option<Millis>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE channel_deliveries SET lease_owner = NULL, lease_until = NULL, \
                done_at = COALESCE($1, done_at) \
             WHERE chat_id = $2 AND lease_owner = $3",
        )
        .bind(done)
        .bind(chat)
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn deliveries_to_resume(&self) -> Result<Vec<ChatId>> {
        let now = self.dialect.now_ms();
        let rows = sqlx::query(&format!(
            "SELECT chat_id FROM channel_deliveries \
             WHERE done_at IS NULL AND (lease_until IS NULL OR lease_until < {now}) \
             ORDER BY chat_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok(row.try_get("chat_id")?)).collect()
    }
}
