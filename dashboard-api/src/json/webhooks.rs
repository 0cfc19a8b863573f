//! Webhook endpoints and their deliveries.

use chrono::{DateTime, Utc};
use control_plane::webhooks::{Delivery, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpointRequest {
    /// Where events are posted: `https://` to a public host (plain
    /// `http://` to this machine only under `quartermaster dev`).
    #[schema(example = "https://hooks.example.com/quartermaster")]
    pub url: String,
    /// At least one of: `cluster.ready`, `cluster.degraded`,
    /// `cluster.suspended`, `cluster.resumed`, `cluster.deleted`, the same
    /// five for `endpoint.`, `backup.succeeded`, `backup.failed`,
    /// `restore.succeeded`, `restore.failed`, `invoice.finalized`,
    /// `invoice.paid`, `invoice.payment_failed`, `usage.threshold_crossed`,
    /// `organization.suspended`, `organization.resumed`.
    #[schema(example = json!(["cluster.ready", "invoice.paid"]))]
    pub event_types: Vec<String>,
    /// At most 200 characters.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpointRequest {
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub event_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    /// `true` enables a disabled endpoint (its waiting deliveries then go
    /// out); `false` disables it.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateWebhookSecretRequest {
    /// How long the replaced secret keeps signing, 0 to 604800 seconds;
    /// 86400 (a day) when left out.
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub expires_in_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointJson {
    /// Always `webhook_endpoint`.
    pub object: &'static str,
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    /// `false` once disabled, by the organization or after 3 days of
    /// failed deliveries.
    pub enabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    /// Until when the secret replaced by the last rotation still signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<WebhookEndpoint> for WebhookEndpointJson {
    fn from(e: WebhookEndpoint) -> Self {
        WebhookEndpointJson {
            object: "webhook_endpoint",
            id: e.id,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            enabled: e.disabled_at.is_none(),
            disabled_at: e.disabled_at,
            disabled_reason: e.disabled_reason,
            previous_secret_expires_at: e.previous_expires_at,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookEndpoint {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointJson,
    /// The signing secret, shown this once (and after each rotation). A
    /// replay of the request does not show it again.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryJson {
    /// Always `webhook_delivery`.
    pub object: &'static str,
    pub id: Uuid,
    /// `evt_…`: the same on every retry and resend.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed` (retried for 3 days without success).
    pub status: String,
    pub attempts: i32,
    /// The receiver's HTTP status on the last attempt, if it answered.
    pub response_status: Option<i16>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it is tried next, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Delivery> for WebhookDeliveryJson {
    fn from(d: Delivery) -> Self {
        WebhookDeliveryJson {
            object: "webhook_delivery",
            id: d.id,
            event_id: d.event_id.0,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            response_status: d.response_status,
            last_error: d.last_error,
            last_attempt_at: d.last_attempt_at,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
        }
    }
}
