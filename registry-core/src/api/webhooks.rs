//! Webhook subscriptions (`/v1/webhooks`, docs/events.md).
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/webhooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are POSTed (`http` or `https`; may embed credentials: it is stored sealed and
    /// only its SHA-256 is ever shown or logged).
    pub url: String,
    /// The models whose events are sent (`*`, `NS/*` or `NS/NAME`). Events tied to no model (keys,
    /// policies, ...) go only to `*` subscriptions.
    pub namespace: String,
    /// Log entry types (`version.created`, `alias.moved`, ...), `access` for access-audit records, or
    /// `*` for every log entry.
    pub events: Vec<String>,
    /// `cloudevents` (default) or `openlineage` (version creations as OpenLineage RunEvents).
    #[serde(default)]
    pub format: Option<String>,
}

/// A subscription, as listed (never its URL or secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookInfo {
    /// `webhook-N`.
    pub id: String,
    /// SHA-256 of the URL (`sha256:<hex>`).
    pub url_hash: String,
    /// The namespace pattern.
    pub namespace: String,
    /// The event types.
    pub events: Vec<String>,
    /// `cloudevents` or `openlineage`.
    pub format: String,
    /// `active` or `paused`.
    pub state: String,
    /// Who made it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// The last log index handled (delivered, dead-lettered, or not for this subscription).
    pub log_cursor: i64,
    /// The last access-audit record handled.
    pub access_cursor: i64,
    /// Events delivered so far.
    pub delivered: i64,
    /// Failed attempts at the event now being delivered.
    pub attempts: i64,
    /// When the next attempt is due, while failing (RFC 3339).
    pub next_attempt_at: Option<String>,
    /// The last delivery error (status or transport error; never the URL).
    pub last_error: Option<String>,
    /// Events in the dead-letter state.
    pub dead_letters: i64,
}

/// `POST /v1/webhooks` (201) and `POST /v1/webhooks/{id}:rotate-secret`: the signing secret, shown
/// once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreated {
    /// The subscription.
    #[serde(flatten)]
    pub webhook: WebhookInfo,
    /// The Standard Webhooks signing secret, `whsec_<base64>`. Not retrievable later.
    pub secret: String,
}

/// `GET /v1/webhooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub webhooks: Vec<WebhookInfo>,
}
