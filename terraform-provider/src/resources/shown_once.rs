//! What the key resources share: the API shows a key's secret once, in
//! the answer that creates it, so the state keeps it from then on (an
//! imported key has none), and nothing changes in place.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tf_provider::schema::Attribute;
use uuid::Uuid;

use super::Collection;
use crate::dto::{ApiKey, Created, InferenceKey};
use crate::error::Error;
use crate::provider::Api;
use crate::schema::{computed, sensitive, string};

/// A key as the API answers it.
pub trait Key: DeserializeOwned {
    fn id(&self) -> Uuid;
    fn prefix(&self) -> &str;
}

impl Key for ApiKey {
    fn id(&self) -> Uuid {
        self.id
    }

    fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Key for InferenceKey {
    fn id(&self) -> Uuid {
        self.id
    }

    fn prefix(&self) -> &str {
        &self.prefix
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

/// Creates a `kind` (such as "API key") in `keys`: the key with its secret.
pub async fn create<B, K>(
    api: &Api,
    keys: &Collection,
    kind: &str,
    body: &B,
) -> Result<(K, String), Error>
where
    B: Serialize + Sync,
    K: Key,
{
    let created: Created<K> = keys.create(api, body).await?;
    let Some(token) = created.token else {
        // Only a replay answers without the secret: the first answer, the
        // one that had it, was lost. A key nobody can use is revoked.
        keys.delete(api, Some(&created.key.id().to_string()))
            .await?;
        return Err(Error::Failed {
            what: format!("{kind} {}", created.key.prefix()),
            phase: "revoked".into(),
            reason:
                "the answer carrying its secret was lost in transit, so it was revoked; apply again"
                    .into(),
        });
    };
    Ok((created.key, token))
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
