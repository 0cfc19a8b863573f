//! Inference keys: the credentials of calls to a data plane's inference
//! gateway.

use chrono::{DateTime, Utc};
use control_plane::inference_keys::{CreateInferenceKey, InferenceKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInferenceKeyRequest {
    /// What the key is for: 1 to 100 characters.
    #[schema(example = "support bot")]
    pub name: String,
    /// The one endpoint the key may call; every endpoint of the
    /// organization when left out.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub endpoint_id: Option<Uuid>,
    /// When the key stops working (RFC 3339, in the future); never when
    /// left out.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub expires_at: Option<DateTime<Utc>>,
    /// At most this many requests a minute, within the plan's cap
    /// (`max_key_requests_per_minute`); the plan's cap when left out.
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false, minimum = 1)]
    pub requests_per_minute: Option<i64>,
    /// At most this many tokens (prompt and completion) a minute, within
    /// the plan's cap (`max_key_tokens_per_minute`); the plan's cap when
    /// left out.
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false, minimum = 1)]
    pub tokens_per_minute: Option<i64>,
}

impl From<CreateInferenceKeyRequest> for CreateInferenceKey {
    fn from(r: CreateInferenceKeyRequest) -> Self {
        CreateInferenceKey {
            name: r.name,
            endpoint_id: r.endpoint_id,
            expires_at: r.expires_at,
            requests_per_minute: r.requests_per_minute,
            tokens_per_minute: r.tokens_per_minute,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InferenceKeyJson {
    /// Always `inference_key`.
    pub object: &'static str,
    pub id: Uuid,
    pub name: String,
    /// The public part of the token (`qmi_<prefix>_…`), to recognize a key by.
    pub prefix: String,
    /// The one endpoint it may call; `null`: every endpoint of the organization.
    pub endpoint_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    /// As asked for; `null` leaves it to the plan's cap, if any.
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<InferenceKey> for InferenceKeyJson {
    fn from(k: InferenceKey) -> Self {
        let limits = k.limits();
        InferenceKeyJson {
            object: "inference_key",
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            endpoint_id: k.endpoint_id,
            expires_at: k.expires_at,
            requests_per_minute: limits.requests_per_minute,
            tokens_per_minute: limits.tokens_per_minute,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInferenceKey {
    #[serde(flatten)]
    pub key: InferenceKeyJson,
    /// The secret, shown this once: an OpenAI client's API key
    /// (`Authorization: Bearer <token>` to the gateway). A replay of the
    /// creating request does not show it again.
    pub token: String,
}
