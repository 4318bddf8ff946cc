//! Accounts: users, their tokens, and analysts' presence.

use async_trait::async_trait;
use sqlx::Row;

use super::SqlStore;
use super::rows::{self, USER_COLUMNS};
use crate::domain::Millis;
use crate::domain::availability::PresenceStatus;
use crate::domain::ids::UserId;
use crate::domain::user::{Role, TokenKind, User, format_roles, parse_roles};
use crate::store::{
    AccountStore, AnalystLoad, LoginRecord, NewToken, NewUser, Presence, TokenOwner,
};
use crate::store::{Constraint, Result, StoreError};

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
        let id = id.ok_or(StoreError::Conflict(Constraint::UniqueUsername))?;
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

    async fn enabled_user(&self, id: UserId) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND disabled_at IS NULL"
        ))
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

    async fn login_record(&self, username: &str) -> Result<Option<LoginRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash, disabled_at FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let disabled_at: Option<Millis> = row.try_get("disabled_at")?;
        Ok(Some(LoginRecord {
            user: rows::user(&row)?,
            password_hash: row.try_get("password_hash")?,
            disabled: disabled_at.is_some(),
        }))
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

    async fn user_by_token(&self, token_hash: &str, now: Millis) -> Result<Option<TokenOwner>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.roles, t.expires_at FROM tokens t \
             JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2) \
             AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(TokenOwner {
            user: rows::user(&row)?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    async fn delete_token(&self, token_hash: &str) -> Result<Option<UserId>> {
        Ok(
            sqlx::query_scalar("DELETE FROM tokens WHERE token_hash = $1 RETURNING user_id")
                .bind(token_hash)
                .fetch_optional(&self.writer)
                .await?,
        )
    }

    async fn delete_tokens_of(&self, user_id: UserId, kind: Option<TokenKind>) -> Result<u64> {
        let deleted = match kind {
            Some(kind) => {
                sqlx::query("DELETE FROM tokens WHERE user_id = $1 AND kind = $2")
                    .bind(user_id)
                    .bind(kind)
                    .execute(&self.writer)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM tokens WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&self.writer)
                    .await?
            }
        };
        Ok(deleted.rows_affected())
    }

    async fn delete_expired_tokens(&self, now: Millis) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(deleted.rows_affected())
    }

    async fn set_disabled(&self, user_id: UserId, disabled_at: Option<Millis>) -> Result<()> {
        sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind(disabled_at)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn set_roles(&self, user_id: UserId, roles: &[Role]) -> Result<()> {
        sqlx::query("UPDATE users SET roles = $1 WHERE id = $2")
            .bind(format_roles(roles))
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn shared_secret(&self, name: &str, candidate: &str, now: Millis) -> Result<String> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.writer)
                .await?,
        )
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
            "INSERT INTO analyst_presence (user_id, status, max_chats, updated_at, seen_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (user_id) DO UPDATE \
             SET status = excluded.status, max_chats = excluded.max_chats, \
             updated_at = excluded.updated_at, seen_at = excluded.seen_at",
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

    async fn presence_seen(&self, analyst_id: UserId, at: Millis) -> Result<()> {
        sqlx::query(
            "UPDATE analyst_presence SET seen_at = $1 \
             WHERE user_id = $2 AND status = $3 AND (seen_at IS NULL OR seen_at < $1)",
        )
        .bind(at)
        .bind(analyst_id)
        .bind(PresenceStatus::Online)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn lapse_unseen(&self, before: Millis, now: Millis) -> Result<Vec<UserId>> {
        // One statement: of two instances sweeping at once, the second finds the rows
        // already offline.
        Ok(sqlx::query_scalar(
            "UPDATE analyst_presence SET status = $1, updated_at = $2 \
             WHERE status = $3 AND COALESCE(seen_at, updated_at) < $4 RETURNING user_id",
        )
        .bind(PresenceStatus::Offline)
        .bind(now)
        .bind(PresenceStatus::Online)
        .bind(before)
        .fetch_all(&self.writer)
        .await?)
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
