//! Outbound webhook endpoints and the outbox of their deliveries. Due deliveries are
//! claimed with a lease (PostgreSQL skips rows another instance has locked), so that each
//! attempt is made by one instance.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Dialect, SqlStore};
use crate::domain::Millis;
use crate::domain::ids::WebhookId;
use crate::domain::webhook::{DeliveryStatus, WebhookEvent};
use crate::store::{
    Attempt, AttemptOutcome, DueWebhookDelivery, NewWebhookDelivery, Result, StoreError,
    WebhookDeliveryRecord, WebhookRecord, WebhookStore,
};

const WEBHOOK_COLUMNS: &str = "id, url, events, secret, created_at, disabled_at";

/// Deliveries stored by one statement.
const ENQUEUE_BATCH: usize = 256;

fn parse<T: std::str::FromStr>(text: &str, what: &str) -> Result<T> {
    text.parse()
        .map_err(|_| StoreError::Failed(format!("unknown {what} {text:?} in the database").into()))
}

fn webhook(row: &AnyRow) -> Result<WebhookRecord> {
    let events: String = row.try_get("events")?;
    Ok(WebhookRecord {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        events: events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(|e| parse(e, "webhook event"))
            .collect::<Result<_>>()?,
        secret: row.try_get("secret")?,
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
    })
}

impl Dialect {
    /// What a claiming `SELECT` ends with: PostgreSQL skips rows another instance holds.
    fn skip_locked(self) -> &'static str {
        match self {
            Self::Postgres => "FOR UPDATE SKIP LOCKED",
            Self::Sqlite => "",
        }
    }
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_webhook(
        &self,
        url: &str,
        events: &[WebhookEvent],
        secret: &str,
        now: Millis,
    ) -> Result<WebhookRecord> {
        let events: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
        let row = sqlx::query(&format!(
            "INSERT INTO webhooks (url, events, secret, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING {WEBHOOK_COLUMNS}"
        ))
        .bind(url)
        .bind(events.join(","))
        .bind(secret)
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        webhook(&row)
    }

    async fn webhooks(&self) -> Result<Vec<WebhookRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE removed_at IS NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook).collect()
    }

    async fn remove_webhook(&self, id: WebhookId, now: Millis) -> Result<bool> {
        let done =
            sqlx::query("UPDATE webhooks SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.writer)
                .await?;
        self.fail_pending(id).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn disable_webhook(&self, id: WebhookId, now: Millis) -> Result<()> {
        sqlx::query("UPDATE webhooks SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&self.writer)
            .await?;
        self.fail_pending(id).await
    }

    async fn enqueue_deliveries(&self, deliveries: &[NewWebhookDelivery]) -> Result<()> {
        let now = self.dialect.now_ms();
        // One statement for a batch: 5 parameters a row, far below SQLite's limit.
        for chunk in deliveries.chunks(ENQUEUE_BATCH) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = i * 5;
                    format!(
                        "(${}, ${}, ${}, ${}, 'retrying', {now}, ${})",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 5
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO webhook_deliveries \
                 (id, webhook_id, event, payload, status, next_attempt_at, created_at) \
                 VALUES {}",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for d in chunk {
                query = query
                    .bind(d.id.as_str())
                    .bind(d.webhook_id)
                    .bind(d.event.as_str())
                    .bind(&*d.payload)
                    .bind(d.now);
            }
            query.execute(&self.writer).await?;
        }
        Ok(())
    }

    async fn claim_due_deliveries(
        &self,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<DueWebhookDelivery>> {
        let now = self.dialect.now_ms();
        let skip_locked = self.dialect.skip_locked();
        let rows = sqlx::query(&format!(
            "UPDATE webhook_deliveries SET lease_until = {now} + $1 \
             WHERE id IN ( \
                SELECT d.id FROM webhook_deliveries d \
                WHERE d.status = 'retrying' AND d.next_attempt_at <= {now} \
                  AND (d.lease_until IS NULL OR d.lease_until < {now}) \
                  AND d.webhook_id IN (SELECT id FROM webhooks \
                      WHERE removed_at IS NULL AND disabled_at IS NULL) \
                ORDER BY d.next_attempt_at LIMIT $2 {skip_locked}) \
             RETURNING id, webhook_id, payload, attempts"
        ))
        .bind(lease_ms)
        .bind(limit)
        .fetch_all(&self.writer)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueWebhookDelivery {
                    id: row.try_get("id")?,
                    webhook_id: row.try_get("webhook_id")?,
                    payload: row.try_get("payload")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    async fn record_attempts(&self, attempts: &[Attempt]) -> Result<()> {
        let now = self.dialect.now_ms();
        let mut tx = self.begin().await?;
        for a in attempts {
            let (status, next) = match a.outcome {
                AttemptOutcome::Delivered => (DeliveryStatus::Delivered, "NULL".to_owned()),
                AttemptOutcome::Failed => (DeliveryStatus::Failed, "NULL".to_owned()),
                AttemptOutcome::RetryIn(ms) => (DeliveryStatus::Retrying, format!("{now} + {ms}")),
            };
            sqlx::query(&format!(
                "UPDATE webhook_deliveries SET status = $1, attempts = $2, \
                    last_status_code = $3, next_attempt_at = {next}, lease_until = NULL \
                 WHERE id = $4 AND status = 'retrying'"
            ))
            .bind(status.as_str())
            .bind(a.attempts)
            .bind(a.status_code)
            .bind(&a.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn webhook_deliveries(
        &self,
        webhook: WebhookId,
        limit: i64,
    ) -> Result<Vec<WebhookDeliveryRecord>> {
        let rows = sqlx::query(
            "SELECT id, event, status, attempts, last_status_code, next_attempt_at, created_at \
             FROM webhook_deliveries WHERE webhook_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(webhook)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let event: String = row.try_get("event")?;
                let status: String = row.try_get("status")?;
                Ok(WebhookDeliveryRecord {
                    id: row.try_get("id")?,
                    event: parse(&event, "webhook event")?,
                    status: parse(&status, "delivery status")?,
                    attempts: row.try_get("attempts")?,
                    last_status_code: row.try_get("last_status_code")?,
                    next_attempt_at: row.try_get("next_attempt_at")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}

impl SqlStore {
    /// Fails the deliveries of an endpoint that will receive nothing more.
    async fn fail_pending(&self, id: WebhookId) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL \
             WHERE webhook_id = $1 AND status = 'retrying'",
        )
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
