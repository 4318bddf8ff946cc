//! Outbound webhooks (contract, "Outbound webhooks"): the events an endpoint can receive,
//! endpoints as admins see them, and their deliveries. Signing and sending follow the
//! Standard Webhooks specification (<https://www.standardwebhooks.com>).

use serde::Serialize;

use super::Timestamp;
use super::ids::WebhookId;

crate::domain::named_enum! {
    /// What happened, as a webhook's `type` names it.
    pub enum WebhookEvent {
        /// A chat began and logged its call.
        #[strum(serialize = "chat.started")]
        ChatStarted,
        /// The chat joined the queue for an analyst.
        #[strum(serialize = "chat.queued")]
        ChatQueued,
        /// An analyst took the chat.
        #[strum(serialize = "chat.accepted")]
        ChatAccepted,
        /// The chat moved to another analyst or back to the queue.
        #[strum(serialize = "chat.transferred")]
        ChatTransferred,
        /// The user, the bot or an analyst said something (internal notes never go out).
        #[strum(serialize = "chat.message")]
        ChatMessage,
        /// The chat ended; its call keeps the transcript.
        #[strum(serialize = "chat.ended")]
        ChatEnded,
        /// The call was resolved, by the bot or an analyst.
        #[strum(serialize = "call.resolved")]
        CallResolved,
        /// The user rated the chat.
        #[strum(serialize = "call.rated")]
        CallRated,
    }
}

crate::domain::named_enum! {
    /// Where a delivery stands.
    #[strum(serialize_all = "lowercase")]
    pub enum DeliveryStatus {
        /// Not delivered yet: it is tried at `next_attempt_at`.
        Retrying,
        /// An attempt got a 2xx.
        Delivered,
        /// The last try failed, or the endpoint answered 410 Gone.
        Failed,
    }
}

/// An endpoint as admins see it (its secret only once, when made).
#[derive(Clone, Debug, Serialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub created_at: Timestamp,
    /// Set when the endpoint answered 410 Gone: nothing more is sent to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<Timestamp>,
}

/// One event's delivery to one endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    /// The `webhook-id` header, the same on every attempt.
    pub id: String,
    pub event: WebhookEvent,
    pub status: DeliveryStatus,
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_named_as_the_contract_names_them() {
        assert_eq!(WebhookEvent::ChatStarted.as_str(), "chat.started");
        assert_eq!(
            "call.rated".parse::<WebhookEvent>().unwrap(),
            WebhookEvent::CallRated
        );
        assert_eq!(<WebhookEvent as strum::VariantArray>::VARIANTS.len(), 8);
        assert_eq!(DeliveryStatus::Retrying.as_str(), "retrying");
    }
}
