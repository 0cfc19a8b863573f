//! Inference keys: the credentials of a customer's OpenAI-style calls to
//! its endpoints, checked by each data plane's inference gateway, never by
//! this control plane. Created once and shown once, stored as the SHA-256
//! the gateway compares ([`crds::gateway::key_hash`]), revocable, scoped to
//! one endpoint or to all of the organization's, optionally expiring and
//! limited per minute within the plan's caps.
//!
//! A token reads `qmi_<prefix>_<secret>`: the prefix (public, shown in
//! lists) tells keys apart; the secret is 32 random bytes.
//!
//! [`key_set`] is what a gateway fetches: every key it may admit, the
//! organizations it must refuse, and its data plane's endpoints.

mod key_set;
mod store;
#[cfg(test)]
mod tests;

use billing::KeyLimits;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::api_keys::{key_name, random_part};
use crate::validation::ValidationErrors;

pub use crate::api_keys::Token;
pub use key_set::key_set;
pub use store::{create, for_endpoint, get, list, revoke};

/// An inference key as its organization sees it; never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InferenceKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    /// The one endpoint it may call; all the organization's when `None`.
    pub endpoint_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub requests_per_minute: Option<i32>,
    pub tokens_per_minute: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl InferenceKey {
    /// Its own per-minute limits, as asked for (the plan may cap them more).
    pub fn limits(&self) -> KeyLimits {
        stored_limits(self.requests_per_minute, self.tokens_per_minute)
    }
}

/// Limits as stored (`integer`, checked positive).
fn stored_limits(requests_per_minute: Option<i32>, tokens_per_minute: Option<i32>) -> KeyLimits {
    let limit = |value: Option<i32>| value.and_then(|n| u32::try_from(n).ok());
    KeyLimits {
        requests_per_minute: limit(requests_per_minute),
        tokens_per_minute: limit(tokens_per_minute),
    }
}

/// A limit to store; [`LIMITS`] keeps it within `integer`.
fn column(value: Option<u32>) -> Option<i32> {
    value.and_then(|n| i32::try_from(n).ok())
}

/// What a per-minute limit may be, before the plan's cap.
const LIMITS: std::ops::RangeInclusive<u32> = 1..=i32::MAX.unsigned_abs();

/// What a customer asks for; checked by [`create`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateInferenceKey {
    pub name: String,
    pub endpoint_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
}

/// A request's own fields, checked; the endpoint and the plan are
/// checked against the database.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NewInferenceKey {
    name: String,
    endpoint_id: Option<Uuid>,
    expires_at: Option<DateTime<Utc>>,
    limits: KeyLimits,
}

impl CreateInferenceKey {
    fn parse(&self, now: DateTime<Utc>, errors: &mut ValidationErrors) -> Option<NewInferenceKey> {
        let name = errors.check("name", key_name(&self.name));
        if self.expires_at.is_some_and(|at| at <= now) {
            errors.add("expires_at", "must be in the future");
        }
        let mut limit = |field: &str, value: Option<i64>| match value {
            None => Some(None),
            Some(n) => errors.in_range(field, n, LIMITS).map(Some),
        };
        let requests_per_minute = limit("requests_per_minute", self.requests_per_minute);
        let tokens_per_minute = limit("tokens_per_minute", self.tokens_per_minute);
        Some(NewInferenceKey {
            name: name?.to_owned(),
            endpoint_id: self.endpoint_id,
            expires_at: self.expires_at,
            limits: KeyLimits {
                requests_per_minute: requests_per_minute?,
                tokens_per_minute: tokens_per_minute?,
            },
        })
    }
}

/// A new token and its public prefix.
fn new_token() -> (String, Token) {
    let prefix = random_part(6);
    let token = format!("{}{prefix}_{}", crds::gateway::KEY_PREFIX, random_part(32));
    (prefix, Token(token))
}
