//! What the resources with a secret share (API keys, inference keys,
//! webhook endpoints): the API shows the secret once, in the answer that
//! creates the resource, so the state keeps it from then on (an imported
//! one has none). Keys also change nothing in place.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tf_provider::schema::Attribute;
use uuid::Uuid;

use super::Collection;
use crate::dto::{ApiKey, Created, InferenceKey, WebhookEndpoint};
use crate::error::Error;
use crate::provider::Api;
use crate::schema::{computed, sensitive, string};

/// A resource with a secret, as the API answers it.
pub trait HasSecret: DeserializeOwned {
    /// What deleting it does to it: "revoked".
    const REMOVED: &'static str;

    fn id(&self) -> Uuid;
    /// What messages call it: a key's prefix, an endpoint's URL.
    fn label(&self) -> &str;
}

impl HasSecret for ApiKey {
    const REMOVED: &'static str = "revoked";

    fn id(&self) -> Uuid {
        self.id
    }

    fn label(&self) -> &str {
        &self.prefix
    }
}

impl HasSecret for InferenceKey {
    const REMOVED: &'static str = "revoked";

    fn id(&self) -> Uuid {
        self.id
    }

    fn label(&self) -> &str {
        &self.prefix
    }
}

impl HasSecret for WebhookEndpoint {
    const REMOVED: &'static str = "deleted";

    fn id(&self) -> Uuid {
        self.id
    }

    fn label(&self) -> &str {
        &self.url
    }
}

/// The attributes a key's creation tells: `prefix`, the secret `token`
/// (described by `token_about`) and `created_at`.
pub fn computed_attributes(token_about: &str) -> [(&'static str, Attribute); 3] {
    [
        (
            "prefix",
            computed(
                string(),
                "The public start of the token, to recognize the key by.",
            ),
        ),
        (
            "token",
            sensitive(computed(
                string(),
                &format!(
                    "{token_about} Known only to the Terraform that created the key; null after import."
                ),
            )),
        ),
        (
            "created_at",
            computed(string(), "When the key was created (RFC 3339)."),
        ),
    ]
}

/// Creates a `kind` (such as "API key") in `collection`: the resource
/// with its secret.
pub async fn create<B, R>(
    api: &Api,
    collection: &Collection,
    kind: &str,
    body: &B,
) -> Result<(R, String), Error>
where
    B: Serialize + Sync,
    R: HasSecret,
{
    let created: Created<R> = collection.create(api, body).await?;
    let Some(secret) = created.secret else {
        // Only a replay answers without the secret: the first answer, the
        // one that had it, was lost. A secret nobody has is of no use.
        collection
            .delete(api, Some(&created.resource.id().to_string()))
            .await?;
        return Err(Error::Failed {
            what: format!("{kind} {}", created.resource.label()),
            phase: R::REMOVED.into(),
            reason: format!(
                "the answer carrying its secret was lost in transit, so it was {}; apply again",
                R::REMOVED
            ),
        });
    };
    Ok((created.resource, secret))
}

/// A `kind` named `name` that was revoked as soon as it was created.
pub fn revoked_at_once(kind: &str, name: &str) -> Error {
    Error::Failed {
        what: format!("{kind} {name}"),
        phase: "revoked".into(),
        reason: "it was revoked as soon as it was created".into(),
    }
}

/// The answer to an update Terraform never asks for: every attribute of
/// a key replaces it.
pub fn unchangeable(kind: &str) -> Error {
    Error::Config(format!(
        "{kind} cannot change in place; Terraform replaces it"
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_secret_is_read_as_a_keys_token_or_an_endpoints_secret_and_a_replay_has_none() {
        let key: Created<ApiKey> = serde_json::from_value(json!({
            "id": "0190d8a5-6b1e-7c3a-9f00-00000000a1a1", "name": "ci", "prefix": "qm_abcd",
            "scopes": [], "created_at": "2026-01-01T00:00:00Z", "revoked_at": null,
            "token": "qm_abcd_secret"
        }))
        .unwrap();
        assert_eq!(key.secret.as_deref(), Some("qm_abcd_secret"));
        let endpoint = json!({
            "id": "0190d8a5-6b1e-7c3a-9f00-00000000e1e1", "url": "https://hooks.example.com/",
            "description": "", "event_types": ["invoice.paid"], "enabled": true,
            "disabled_reason": null, "previous_secret_expires_at": null,
            "created_at": "2026-01-01T00:00:00Z"
        });
        let mut created = endpoint.clone();
        created["secret"] = json!("whsec_abc");
        let created: Created<WebhookEndpoint> = serde_json::from_value(created).unwrap();
        assert_eq!(created.secret.as_deref(), Some("whsec_abc"));
        assert_eq!(created.resource.label(), "https://hooks.example.com/");
        let replayed: Created<WebhookEndpoint> = serde_json::from_value(endpoint).unwrap();
        assert_eq!(replayed.secret, None);
    }
}
