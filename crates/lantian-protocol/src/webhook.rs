//! Webhooks on the wire: endpoints registered by administrators, and their deliveries.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /v1/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterWebhook {
    /// Where deliveries are posted (`http://` or `https://`).
    pub url: String,
    /// Event types (`lantian_domain::webhook::EVENTS`).
    pub events: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// An endpoint as administrators see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_by: String,
    pub created_at: String,
    /// Ended endpoints get nothing more; their deliveries stay on record.
    pub ended_at: Option<String>,
    pub pending: u64,
    pub failed: u64,
    pub delivered: u64,
}

/// Answer of `POST /v1/webhooks`: the endpoint and its signing secret, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisteredWebhook {
    pub webhook: WebhookView,
    /// The HMAC-SHA256 key of `Lantian-Webhook-Signature`.
    pub secret: String,
}

/// One delivery of an event to an endpoint, with its last answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: i64,
    /// The event's id (`Lantian-Webhook-Id`): the same on every attempt.
    pub event: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub object_kind: String,
    pub object_id: String,
    pub occurred_at: String,
    /// `pending`, `delivered` or `failed` (given up after three days of retries).
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: String,
    pub last_status: Option<u16>,
    pub last_answer: Option<String>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
}
