//! Accounts: users, their tokens, and analysts' presence.

use async_trait::async_trait;
use sqlx::Row;

use super::SqlStore;
use super::rows::{self, USER_COLUMNS};
use crate::domain::Millis;
use crate::domain::availability::PresenceStatus;
use crate::domain::ids::UserId;
use crate::domain::user::{User, format_roles, parse_roles};
use crate::error::{Error, ErrorCode, Result};
use crate::store::{AccountStore, AnalystLoad, NewToken, NewUser, Presence};

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_user(&self, user: &NewUser, now: Millis) -> Result<User> {
        // The unique key decides a race between two requests for one name: the loser
        // inserts nothing and gets no id back.
        let id: Option<UserId> = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, password_hash, roles, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING RETURNING id",
        )
        .bind(user.username.as_str())
        .bind(&user.display_name)
        .bind(user.password_hash.as_deref())
        .bind(format_roles(&user.roles))
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        let id = id.ok_or_else(|| {
            Error::conflict(
                ErrorCode::UsernameTaken,
                format!("the username {:?} is already taken", user.username.as_str()),
            )
        })?;
        Ok(User {
            id,
            username: user.username.to_string(),
            display_name: user.display_name.clone(),
            roles: parse_roles(&format_roles(&user.roles)),
        })
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::user).transpose()?)
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::user).transpose()?)
    }

    async fn login_record(&self, username: &str) -> Result<Option<(User, Option<String>)>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((rows::user(&row)?, row.try_get("password_hash")?)))
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
        Ok(row.as_ref().map(rows::user).transpose()?)
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
        analyst_id: UserId,
        online: bool,
        max_chats: i64,
        now: Millis,
    ) -> Result<()> {
        let status = if online {
            PresenceStatus::Online
        } else {
            PresenceStatus::Offline
        };
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

    async fn online_analysts(&self) -> Result<Vec<UserId>> {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM analyst_presence WHERE status = $1")
                .bind(PresenceStatus::Online)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn analyst_loads(&self) -> Result<Vec<AnalystLoad>> {
        let found = sqlx::query(
            "SELECT u.id AS analyst_id, u.username AS analyst_username, \
             u.display_name AS analyst_name, p.status, p.max_chats, \
             (SELECT COUNT(*) FROM chats c WHERE c.analyst_id = u.id AND c.status = 'active') \
             AS active_chats \
             FROM analyst_presence p JOIN users u ON u.id = p.user_id \
             ORDER BY u.display_name, u.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::all(&found, rows::analyst_load)?)
    }

    async fn lapse_presence(&self, analyst_id: UserId, now: Millis) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE analyst_presence SET status = $1, updated_at = $2 \
             WHERE user_id = $3 AND status = $4",
        )
        .bind(PresenceStatus::Offline)
        .bind(now)
        .bind(analyst_id)
        .bind(PresenceStatus::Online)
        .execute(&self.writer)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    async fn presence(&self, analyst_id: UserId) -> Result<Option<Presence>> {
        let row = sqlx::query("SELECT status, max_chats FROM analyst_presence WHERE user_id = $1")
            .bind(analyst_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let status: PresenceStatus = row.try_get("status")?;
        Ok(Some(Presence {
            online: status.is_online(),
            max_chats: row.try_get("max_chats")?,
        }))
    }
}
