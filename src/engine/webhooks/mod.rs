//! Outbound webhooks (contract, "Outbound webhooks"): admins register endpoints, the chat
//! services tell the [`Outbox`] what happens, and each instance's sender posts the
//! deliveries, signed and retried on a schedule kept in the database, so that a restart
//! loses none.

mod outbox;
mod sender;
pub mod targets;

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use self::outbox::Outbox;
use super::core::Core;
use crate::domain::Timestamp;
use crate::domain::ids::WebhookId;
use crate::domain::parse_named;
use crate::domain::user::{Role, User};
use crate::domain::webhook::{Delivery, Webhook, WebhookEvent};
use crate::error::{Error, Result};
use crate::store::{DynStore, WebhookDeliveryRecord, WebhookRecord};

/// The most deliveries an endpoint's list shows.
const DELIVERIES_LISTED: i64 = 100;

/// Webhook endpoints and their deliveries.
#[derive(Clone)]
pub struct WebhookService {
    core: Core,
}

/// An endpoint just registered, with its secret: the only time it is shown.
pub struct CreatedWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

fn view(record: &WebhookRecord) -> Webhook {
    Webhook {
        id: record.id,
        url: record.url.clone(),
        events: record.events.clone(),
        created_at: Timestamp(record.created_at),
        disabled_at: record.disabled_at.map(Timestamp),
    }
}

fn delivery_view(record: WebhookDeliveryRecord) -> Delivery {
    Delivery {
        id: record.id,
        event: record.event,
        status: record.status,
        attempts: record.attempts,
        last_status_code: record.last_status_code,
        next_attempt_at: record.next_attempt_at.map(Timestamp),
        created_at: Timestamp(record.created_at),
    }
}

fn require_admin(user: &User) -> Result<()> {
    if user.has(Role::Admin) {
        Ok(())
    } else {
        Err(Error::forbidden("only admins manage webhooks"))
    }
}

impl WebhookService {
    pub(super) fn new(core: Core) -> Self {
        Self { core }
    }

    /// Registers an endpoint at `url` for `events` (their contract names). Errors:
    /// `forbidden` unless an admin; `invalid` for no events or an unknown one, a URL that
    /// is not `http(s)`, or one that points at a loopback or private address while
    /// `webhooks.allow_private_targets` is off.
    pub async fn create(
        &self,
        user: &User,
        url: &str,
        events: &[String],
    ) -> Result<CreatedWebhook> {
        require_admin(user)?;
        if events.is_empty() {
            return Err(Error::invalid("events", "name at least one event"));
        }
        let events: BTreeSet<WebhookEvent> = events
            .iter()
            .map(|e| parse_named("webhook event", e).map_err(|m| Error::invalid("events", m)))
            .collect::<Result<_>>()?;
        let events: Vec<WebhookEvent> = events.into_iter().collect();
        let url = url.trim();
        targets::check(url, self.core.settings.webhooks.allow_private_targets)
            .await
            .map_err(|m| Error::invalid("url", m))?;
        let secret = outbox::new_secret();
        let record = self
            .core
            .store
            .create_webhook(url, &events, &secret, self.core.now())
            .await?;
        self.refresh().await?;
        Ok(CreatedWebhook {
            webhook: view(&record),
            secret,
        })
    }

    /// The endpoints, oldest first, without their secrets. Errors: `forbidden` unless an
    /// admin.
    pub async fn list(&self, user: &User) -> Result<Vec<Webhook>> {
        require_admin(user)?;
        Ok(self.core.store.webhooks().await?.iter().map(view).collect())
    }

    /// Removes an endpoint: nothing more is sent to it. Errors: `forbidden` unless an
    /// admin; `not_found` for none.
    pub async fn remove(&self, user: &User, id: WebhookId) -> Result<()> {
        require_admin(user)?;
        if !self.core.store.remove_webhook(id, self.core.now()).await? {
            return Err(Error::NotFound("webhook"));
        }
        self.refresh().await
    }

    /// An endpoint's latest deliveries, newest first (at most 100). Errors: `forbidden`
    /// unless an admin; `not_found` for no such endpoint.
    pub async fn deliveries(&self, user: &User, id: WebhookId) -> Result<Vec<Delivery>> {
        require_admin(user)?;
        if !self.core.store.webhooks().await?.iter().any(|w| w.id == id) {
            return Err(Error::NotFound("webhook"));
        }
        Ok(self
            .core
            .store
            .webhook_deliveries(id, DELIVERIES_LISTED)
            .await?
            .into_iter()
            .map(delivery_view)
            .collect())
    }

    async fn refresh(&self) -> Result<()> {
        Ok(self.core.outbox.refresh(&self.core.store).await?)
    }

    /// Starts this instance's sender, until `stop` is cancelled.
    pub fn start_sending(&self, stop: CancellationToken) {
        let sender = sender::Sender {
            store: self.core.store.clone(),
            outbox: self.core.outbox.clone(),
            clock: self.core.clock.clone(),
            settings: self.core.settings.webhooks.clone(),
            http: client(self.core.settings.webhooks.allow_private_targets),
        };
        tokio::spawn(sender.run(stop));
    }
}

/// The client deliveries go out with: no redirects (a redirect could lead anywhere), and
/// unless private targets are allowed, names resolved to public addresses only.
fn client(allow_private: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    let builder = if allow_private {
        builder
    } else {
        builder.dns_resolver(Arc::new(targets::PublicOnly))
    };
    builder.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the webhook client could not be built as set; using the default");
        reqwest::Client::new()
    })
}

/// The outbox every service shares, for [`Core`], writing to `store`.
pub(super) fn outbox(store: DynStore) -> Arc<Outbox> {
    Arc::new(Outbox::new(store))
}
