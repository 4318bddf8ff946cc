//! Sends the outbox: each instance claims due deliveries (a lease in the database, so
//! one instance attempts each), signs them as Standard Webhooks do (the
//! `standardwebhooks` crate: `webhook-id`, `webhook-timestamp`, `webhook-signature` =
//! `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`) and posts them. A 2xx is delivered;
//! `410 Gone` disables the endpoint; anything else (and no answer) is tried again after
//! the next of `webhooks.retry_secs`, and after the last has failed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use super::outbox::Outbox;
use super::targets;
use crate::config::WebhookSettings;
use crate::domain::ids::WebhookId;
use crate::engine::clock::Clock;
use crate::store::{Attempt, AttemptOutcome, DueWebhookDelivery, DynStore, WebhookRecord};

/// How often an instance looks for due deliveries without being woken.
const POLL: Duration = Duration::from_secs(1);
/// How often the endpoints are read again (another instance's changes).
const REFRESH: Duration = Duration::from_secs(5);
/// How long a claimed delivery is this instance's to attempt.
const LEASE: Duration = Duration::from_secs(60);
/// How long an endpoint has to answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries claimed and attempted at once.
const BATCH: i64 = 64;

pub(super) struct Sender {
    pub(super) store: DynStore,
    pub(super) outbox: Arc<Outbox>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: WebhookSettings,
    pub(super) http: reqwest::Client,
}

impl Sender {
    /// Sends until `stop` is cancelled.
    pub(super) async fn run(self, stop: CancellationToken) {
        let mut refreshed = tokio::time::Instant::now() - REFRESH;
        loop {
            if refreshed.elapsed() >= REFRESH {
                if let Err(e) = self.outbox.refresh(&self.store).await {
                    tracing::warn!(error = %e, "could not read the webhook endpoints");
                }
                refreshed = tokio::time::Instant::now();
            }
            if self.outbox.any() {
                self.send_due().await;
            }
            tokio::select! {
                () = self.outbox.stored.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// Attempts every due delivery, a batch at a time.
    async fn send_due(&self) {
        loop {
            let due = match self
                .store
                .claim_due_deliveries(BATCH, LEASE.as_millis() as i64)
                .await
            {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim due webhook deliveries");
                    return;
                }
            };
            if due.is_empty() {
                return;
            }
            let endpoints = self.outbox.endpoints();
            let (attempts, webhooks): (Vec<Attempt>, Vec<WebhookId>) =
                join_all(due.into_iter().map(|d| {
                    let endpoint = endpoints.iter().find(|e| e.id == d.webhook_id).cloned();
                    self.attempt(d, endpoint)
                }))
                .await
                .into_iter()
                .unzip();
            // Recorded together, in one transaction, before any endpoint is disabled
            // (which fails what it still has to send).
            if let Err(e) = self.store.record_attempts(&attempts).await {
                tracing::warn!(error = %e, "could not record webhook attempts; they will be made again");
            }
            for (attempt, webhook) in attempts.iter().zip(webhooks) {
                if attempt.status_code == Some(410) {
                    self.disable(webhook).await;
                }
            }
        }
    }

    /// Makes one attempt; what to record of it, and the endpoint's id.
    async fn attempt(
        &self,
        delivery: DueWebhookDelivery,
        endpoint: Option<WebhookRecord>,
    ) -> (Attempt, WebhookId) {
        let (attempts, status, outcome) = match endpoint {
            // Made on another instance moments ago: nothing is sent before the endpoints
            // are read again, and no attempt is counted.
            None => (delivery.attempts, None, AttemptOutcome::RetryIn(1000)),
            Some(endpoint) => {
                let attempts = delivery.attempts + 1;
                let status = self.post(&delivery, &endpoint).await;
                (attempts, status, self.outcome(status, attempts))
            }
        };
        let attempt = Attempt {
            id: delivery.id,
            attempts,
            status_code: status.map(i64::from),
            outcome,
        };
        (attempt, delivery.webhook_id)
    }

    /// An endpoint answered 410 Gone: nothing more is sent to it.
    async fn disable(&self, webhook: WebhookId) {
        if let Err(e) = self.store.disable_webhook(webhook, self.clock.now()).await {
            tracing::warn!(%webhook, error = %e, "could not disable a gone webhook endpoint");
            return;
        }
        tracing::info!(%webhook, "a webhook endpoint answered 410 Gone and was disabled");
        if let Err(e) = self.outbox.refresh(&self.store).await {
            tracing::warn!(error = %e, "could not read the webhook endpoints");
        }
    }

    /// What an attempt's answer means, after `attempts` attempts.
    fn outcome(&self, status: Option<u16>, attempts: i64) -> AttemptOutcome {
        match status {
            Some(s) if (200..300).contains(&s) => AttemptOutcome::Delivered,
            Some(410) => AttemptOutcome::Failed,
            _ => match self.settings.retry_secs.get(attempts as usize - 1) {
                Some(&secs) => AttemptOutcome::RetryIn(secs.saturating_mul(1000) as i64),
                None => AttemptOutcome::Failed,
            },
        }
    }

    /// Posts the delivery, signed for this attempt; the status code, `None` when nothing
    /// answered (or the endpoint's address is not one chatdesk may call).
    async fn post(&self, delivery: &DueWebhookDelivery, endpoint: &WebhookRecord) -> Option<u16> {
        if let Err(why) = targets::check(&endpoint.url, self.settings.allow_private_targets).await {
            tracing::warn!(webhook = %endpoint.id, why, "a webhook endpoint may not be called now");
            return None;
        }
        // Receivers check it against their own clock: the wall clock, whatever the engine's.
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let signature = standardwebhooks::Webhook::new(&endpoint.secret)
            .and_then(|w| w.sign(&delivery.id, timestamp, delivery.payload.as_bytes()));
        let signature = match signature {
            Ok(signature) => signature,
            Err(e) => {
                tracing::error!(webhook = %endpoint.id, error = %e, "a webhook could not be signed");
                return None;
            }
        };
        let sent = self
            .http
            .post(&endpoint.url)
            .timeout(ATTEMPT_TIMEOUT)
            .header("content-type", "application/json")
            .header(standardwebhooks::HEADER_WEBHOOK_ID, &delivery.id)
            .header(
                standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
                timestamp.to_string(),
            )
            .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) => Some(response.status().as_u16()),
            Err(e) => {
                tracing::info!(delivery = %delivery.id, error = %e, "a webhook endpoint did not answer");
                None
            }
        }
    }
}
