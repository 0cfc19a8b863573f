//! The cluster's API keys: an admin key and a read-only key, generated once
//! and kept across reconciles.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use rand::RngCore;

use super::ValidatedCluster;

pub const ADMIN_KEY: &str = "api-key";
pub const READ_ONLY_KEY: &str = "read-only-api-key";

#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeys {
    pub admin: String,
    pub read_only: String,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeys(<redacted>)")
    }
}

impl ApiKeys {
    pub fn generate() -> ApiKeys {
        let key = || {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            URL_SAFE_NO_PAD.encode(bytes)
        };
        ApiKeys {
            admin: key(),
            read_only: key(),
        }
    }

    /// The keys already in `secret`, if both are there.
    pub fn from_secret(secret: &Secret) -> Option<ApiKeys> {
        let data = secret.data.as_ref()?;
        let read = |k: &str| String::from_utf8(data.get(k)?.0.clone()).ok();
        Some(ApiKeys {
            admin: read(ADMIN_KEY)?,
            read_only: read(READ_ONLY_KEY)?,
        })
    }
}

pub fn build(cluster: &ValidatedCluster, keys: &ApiKeys) -> Secret {
    Secret {
        metadata: cluster.meta(&cluster.names.api_key_secret),
        type_: Some("Opaque".to_owned()),
        data: Some(
            [
                (
                    ADMIN_KEY.to_owned(),
                    ByteString(keys.admin.clone().into_bytes()),
                ),
                (
                    READ_ONLY_KEY.to_owned(),
                    ByteString(keys.read_only.clone().into_bytes()),
                ),
            ]
            .into(),
        ),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::fixtures::*;

    #[test]
    fn keys_round_trip_through_the_secret() {
        let secret = build(&validated(1, 1), &keys());
        assert_eq!(ApiKeys::from_secret(&secret), Some(keys()));
        assert_eq!(ApiKeys::from_secret(&Secret::default()), None);
    }

    #[test]
    fn generated_keys_are_long_and_distinct() {
        let a = ApiKeys::generate();
        assert_eq!(a.admin.len(), 43);
        assert_ne!(a.admin, a.read_only);
        assert_ne!(a, ApiKeys::generate());
        assert_eq!(format!("{a:?}"), "ApiKeys(<redacted>)");
    }
}
