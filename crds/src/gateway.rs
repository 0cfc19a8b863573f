//! What the control plane tells each data plane's inference gateway: the
//! inference keys, which organizations are refused, and which endpoints
//! there are (`GET /v1/data-plane/inference-keys`, with the data plane's
//! token and `If-None-Match`), and how the gateway names token usage.
//!
//! A key reaches the gateway only as the SHA-256 of its token: the token is
//! shown once on creation and stored nowhere.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Where a data plane's gateway fetches its [`KeySet`].
pub const KEY_SET_PATH: &str = "/v1/data-plane/inference-keys";

/// How an inference key's token begins, so that it is told apart from an
/// API key at a glance (and by secret scanners).
pub const KEY_PREFIX: &str = "qmi_";

/// Everything a gateway needs to decide a request on its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySet {
    /// The keys not revoked, of organizations with an endpoint in this data
    /// plane; expired keys may be listed, the gateway refuses them.
    pub keys: Vec<InferenceKey>,
    /// The organizations the gateway must refuse, and why.
    pub refused: Vec<RefusedOrganization>,
    /// The endpoints of this data plane, not being deleted.
    pub endpoints: Vec<GatewayEndpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferenceKey {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// [`key_hash`] of the token.
    pub hash: String,
    /// The one endpoint the key may call; every endpoint of its
    /// organization when `None`.
    pub endpoint_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
}

impl InferenceKey {
    /// Whether this key may call `endpoint` at `now`.
    pub fn admits(&self, endpoint: &GatewayEndpoint, now: DateTime<Utc>) -> bool {
        self.organization_id == endpoint.organization_id
            && self.endpoint_id.is_none_or(|id| id == endpoint.id)
            && self.expires_at.is_none_or(|at| now < at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedOrganization {
    pub organization_id: Uuid,
    pub refusal: Refusal,
}

/// Why an organization's requests are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Suspended (unpaid invoice, storage cap, by an administrator).
    Suspended,
    /// Its spend limit for the period is reached.
    SpendLimit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayEndpoint {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// The endpoint's name, unique in its organization: requests name it as
    /// `<organization id>/<name>` (or by its id).
    pub name: String,
    /// The model the engine serves (its `--model`), which the gateway
    /// puts in the forwarded request and reports usage under.
    pub served_model: String,
    /// How long a request waits for an endpoint scaled to zero to wake.
    pub cold_start_timeout_seconds: u32,
}

/// The cold start a request waits for when the endpoint does not say.
pub const DEFAULT_COLD_START_TIMEOUT_SECONDS: u32 = 600;

/// What the key set stores of a token: its SHA-256, in lowercase hex. A
/// token is 256 random bits, so a fast hash is enough (unlike a password).
pub fn key_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The usage dimension of a token meter (`input_tokens`,
/// `output_tokens`): the key, then the model, split by the first space
/// (a model name has no space; a key id is a UUID).
pub fn token_dimension(key_id: Uuid, model: &str) -> String {
    format!("{key_id} {model}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(organization_id: Uuid) -> GatewayEndpoint {
        GatewayEndpoint {
            id: Uuid::from_u128(7),
            organization_id,
            name: "chat".into(),
            served_model: "org/model".into(),
            cold_start_timeout_seconds: DEFAULT_COLD_START_TIMEOUT_SECONDS,
        }
    }

    fn key(organization_id: Uuid) -> InferenceKey {
        InferenceKey {
            id: Uuid::from_u128(1),
            organization_id,
            hash: key_hash("qmi_secret"),
            endpoint_id: None,
            expires_at: None,
            requests_per_minute: None,
            tokens_per_minute: None,
        }
    }

    #[test]
    fn a_key_admits_its_own_organizations_endpoints_until_it_expires() {
        let now = Utc::now();
        let org = Uuid::from_u128(100);
        let own = endpoint(org);
        assert!(key(org).admits(&own, now));
        assert!(
            !key(Uuid::from_u128(200)).admits(&own, now),
            "another organization"
        );

        let scoped = InferenceKey {
            endpoint_id: Some(Uuid::from_u128(8)),
            ..key(org)
        };
        assert!(!scoped.admits(&own, now), "scoped to another endpoint");

        let expiring = InferenceKey {
            expires_at: Some(now),
            ..key(org)
        };
        assert!(!expiring.admits(&own, now), "expired at now");
        assert!(expiring.admits(&own, now - chrono::Duration::seconds(1)));
    }

    #[test]
    fn the_hash_is_sha256_hex_as_the_control_plane_stores_it() {
        // `printf %s abc | sha256sum`
        assert_eq!(
            key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_token_dimension_splits_at_the_first_space() {
        let d = token_dimension(Uuid::from_u128(1), "meta-llama/Llama-3.1-8B");
        let (key, model) = d.split_once(' ').unwrap();
        assert_eq!(key.parse::<Uuid>().unwrap(), Uuid::from_u128(1));
        assert_eq!(model, "meta-llama/Llama-3.1-8B");
    }
}
