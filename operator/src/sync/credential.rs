//! The data plane's credential: kept in a Secret in the operator's
//! namespace, got once by exchanging the chart's enrollment token, renewed
//! every so often. The Secret is the only place it is written; logs and
//! `Debug` never show it.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crds::tenant::FIELD_MANAGER;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret as KubeSecret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::client::{ClientError, ControlPlane, Secret};

pub const CREDENTIAL_SECRET: &str = "quartermaster-data-plane-credential";
pub const CREDENTIAL_KEY: &str = "credential";
/// When the stored credential was issued, so that rotation is due on time
/// across restarts.
pub const ISSUED_AT_ANNOTATION: &str = "quartermaster.dev/issued-at";

/// A credential as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub credential: Secret,
    pub issued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The control plane said no to the token: used, expired or unknown.
    #[error("enrollment refused by the control plane: {detail}")]
    Refused { detail: String },
    #[error("reading the enrollment token from {path}: {source}")]
    TokenFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("enrolling: {0}")]
    Enroll(#[source] ClientError),
    #[error("rotating the credential: {0}")]
    Rotate(#[source] ClientError),
    #[error("the credential Secret {CREDENTIAL_SECRET}: {0}")]
    Kube(#[source] kube::Error),
}

impl CredentialError {
    pub fn transient(&self) -> bool {
        match self {
            CredentialError::Enroll(e) | CredentialError::Rotate(e) => e.transient(),
            CredentialError::Kube(_) => true,
            CredentialError::Refused { .. } | CredentialError::TokenFile { .. } => false,
        }
    }
}

/// The Secret holding `stored`.
pub fn secret(namespace: &str, stored: &Stored) -> KubeSecret {
    KubeSecret {
        metadata: ObjectMeta {
            name: Some(CREDENTIAL_SECRET.to_owned()),
            namespace: Some(namespace.to_owned()),
            annotations: stored
                .issued_at
                .map(|t| [(ISSUED_AT_ANNOTATION.to_owned(), t.to_rfc3339())].into()),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(
            [(
                CREDENTIAL_KEY.to_owned(),
                ByteString(stored.credential.expose().as_bytes().to_vec()),
            )]
            .into(),
        ),
        ..KubeSecret::default()
    }
}

/// The credential a Secret holds, if any.
pub fn read(secret: &KubeSecret) -> Option<Stored> {
    let bytes = secret.data.as_ref()?.get(CREDENTIAL_KEY)?;
    let credential = String::from_utf8(bytes.0.clone()).ok()?;
    let credential = credential.trim();
    if credential.is_empty() {
        return None;
    }
    let issued_at = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ISSUED_AT_ANNOTATION))
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    Some(Stored {
        credential: Secret::new(credential),
        issued_at,
    })
}

/// When a credential issued at `issued_at` is due for rotation (one of
/// unknown age: `every` after `now`).
pub fn rotation_due(
    issued_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    every: Duration,
) -> DateTime<Utc> {
    let every = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::hours(24));
    issued_at.unwrap_or(now) + every
}

fn api(client: &kube::Client, namespace: &str) -> Api<KubeSecret> {
    Api::namespaced(client.clone(), namespace)
}

/// Writes `stored` into the Secret.
pub async fn keep(
    client: &kube::Client,
    namespace: &str,
    stored: &Stored,
) -> Result<(), CredentialError> {
    api(client, namespace)
        .patch(
            CREDENTIAL_SECRET,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(secret(namespace, stored)),
        )
        .await
        .map(|_| ())
        .map_err(CredentialError::Kube)
}

/// The stored credential, or a new one from the token in `token_file`
/// (then kept).
pub async fn load_or_enroll(
    client: &kube::Client,
    namespace: &str,
    token_file: &Path,
    control_plane: &ControlPlane,
) -> Result<Stored, CredentialError> {
    let existing = api(client, namespace)
        .get_opt(CREDENTIAL_SECRET)
        .await
        .map_err(CredentialError::Kube)?;
    if let Some(stored) = existing.as_ref().and_then(read) {
        return Ok(stored);
    }
    let token =
        std::fs::read_to_string(token_file).map_err(|source| CredentialError::TokenFile {
            path: token_file.display().to_string(),
            source,
        })?;
    let enrolled = control_plane
        .enroll(&Secret::new(token.trim()))
        .await
        .map_err(|e| match e {
            ClientError::Unauthorized { detail } => CredentialError::Refused { detail },
            other => CredentialError::Enroll(other),
        })?;
    let stored = Stored {
        credential: Secret::new(enrolled.credential),
        issued_at: Some(Utc::now()),
    };
    keep(client, namespace, &stored).await?;
    tracing::info!(
        data_plane = %enrolled.data_plane.name,
        region = %enrolled.data_plane.region,
        "enrolled with the control plane; credential kept in Secret {CREDENTIAL_SECRET}"
    );
    Ok(stored)
}

/// Asks for a new credential, keeps it, then uses it. The old one stays
/// valid for a grace period, so an answer lost here is not a lock-out.
pub async fn rotate(
    client: &kube::Client,
    namespace: &str,
    control_plane: &ControlPlane,
) -> Result<Stored, CredentialError> {
    let enrolled = control_plane
        .rotate()
        .await
        .map_err(CredentialError::Rotate)?;
    let stored = Stored {
        credential: Secret::new(enrolled.credential),
        issued_at: Some(Utc::now()),
    };
    keep(client, namespace, &stored).await?;
    control_plane.use_credential(stored.credential.clone());
    tracing::info!("credential rotated");
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_credential_reads_back_with_its_issue_time() {
        let issued = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let stored = Stored {
            credential: Secret::new("qmdc_abc"),
            issued_at: Some(issued),
        };
        let secret = secret("quartermaster-system", &stored);
        assert_eq!(read(&secret), Some(stored));
        assert_eq!(read(&KubeSecret::default()), None);
    }

    #[test]
    fn rotation_is_due_a_period_after_issue() {
        let now = Utc::now();
        let day = Duration::from_secs(86_400);
        let issued = now - chrono::Duration::hours(30);
        assert!(rotation_due(Some(issued), now, day) < now);
        assert_eq!(
            rotation_due(None, now, day),
            now + chrono::Duration::hours(24)
        );
    }
}
