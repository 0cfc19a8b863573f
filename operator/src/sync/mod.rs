//! The sync loop of a connected data plane: the operator pulls its desired
//! state from the control plane and reports what it observes, so that the
//! control plane keeps no kubeconfig (the protocol: `crds::sync`).
//!
//! - `credential`: the credential's Secret, enrollment and rotation;
//! - `client`: the control plane over HTTP(S);
//! - `desired` (pure): what to apply for a desired resource, and its hash;
//! - `apply`: the writes, skipped when the live object carries that hash;
//! - `watched`: reflectors over the resources applied;
//! - `report` (pure): reports from the watched objects, and their outbox;
//! - `pull` and `deliver`: the two loops, each surviving the control
//!   plane's absence.
//!
//! Nothing is ever deleted but on an explicit `delete: true`: a complete
//! state that lacks a resource, an unreachable control plane or a revoked
//! credential leave every cluster running as last known.

mod apply;
mod backoff;
mod client;
mod credential;
mod deliver;
mod desired;
mod pull;
mod report;
mod watched;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use crds::backup::VectorClusterRestore;
use crds::sync::Kind;
use uuid::Uuid;

pub use apply::BackupKeys;
pub use backoff::Backoff;
pub use client::{Acknowledged, ClientError, ControlPlane, Secret};
pub use credential::{
    CREDENTIAL_KEY, CREDENTIAL_SECRET, CredentialError, ISSUED_AT_ANNOTATION, Stored,
};
pub use desired::{APPLIED_HASH_ANNOTATION, LocalBackup, plan, restore_name};
pub use report::{Outbox, ReportKey, Seen, reports};

use watched::Watched;

/// How the sync loop runs; [`Config::new`] has the production timings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The control plane's base URL (`https://…`).
    pub control_plane: String,
    /// The operator's namespace: the credential's Secret, the backup key's.
    pub namespace: String,
    pub enrollment_token_file: PathBuf,
    pub backup: LocalBackup,
    /// A Secret in `namespace` with the bucket's key, copied into each
    /// tenant namespace when backups are configured.
    pub backup_credentials_secret: Option<String>,
    pub rotate_after: Duration,
    /// How long the control plane may hold a desired-state request.
    pub wait: Duration,
    /// While the control plane is unreachable.
    pub backoff: Backoff,
    /// Between attempts while the credential is refused.
    pub unauthorized_retry: Duration,
    /// Reports are sent at most this often.
    pub report_interval: Duration,
}

impl Config {
    pub fn new(
        control_plane: impl Into<String>,
        namespace: impl Into<String>,
        enrollment_token_file: impl Into<PathBuf>,
    ) -> Config {
        Config {
            control_plane: control_plane.into(),
            namespace: namespace.into(),
            enrollment_token_file: enrollment_token_file.into(),
            backup: LocalBackup::default(),
            backup_credentials_secret: None,
            rotate_after: Duration::from_secs(24 * 3600),
            wait: Duration::from_secs(crds::sync::MAX_WAIT_SECONDS),
            backoff: Backoff::default(),
            unauthorized_retry: Duration::from_secs(300),
            report_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// What the pull loop leaves for the deliver loop to finish.
#[derive(Debug, Default)]
struct Pending {
    /// Deleted, to report gone once the watch no longer sees them: by kind,
    /// namespace and name, the control plane's id and organization.
    gone: BTreeMap<(Kind, String, String), (Uuid, Uuid)>,
    /// Restores to apply once their cluster (namespace, name) is ready.
    restores: BTreeMap<(String, String), VectorClusterRestore>,
}

#[derive(Debug, Default)]
struct Shared {
    /// The control plane refused the credential: apply nothing.
    revoked: AtomicBool,
    pending: Mutex<Pending>,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs the sync loop until `shutdown` completes. Ends early only when the
/// data plane cannot get a credential (a refused enrollment token).
pub async fn run(
    config: Config,
    client: kube::Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SyncError> {
    let control_plane = ControlPlane::new(&config.control_plane)?;
    futures::pin_mut!(shutdown);
    let stored = tokio::select! {
        stored = enroll(&config, &client, &control_plane) => stored?,
        () = &mut shutdown => return Ok(()),
    };
    control_plane.use_credential(stored.credential.clone());
    let (watched, watches) = Watched::start(&client);
    let shared = Arc::new(Shared::default());
    let pull = pull::run(&config, &client, &control_plane, &watched, &shared);
    let deliver = deliver::run(&config, &client, &control_plane, &watched, &shared);
    let rotate = rotate(&config, &client, &control_plane, stored);
    tokio::select! {
        () = shutdown => {}
        () = watches => tracing::error!("the sync loop's watches ended"),
        () = pull => {}
        () = deliver => {}
        () = rotate => {}
    }
    Ok(())
}

/// The kept credential, or one got by enrolling; a transient failure is
/// retried, a refusal ends the command.
async fn enroll(
    config: &Config,
    client: &kube::Client,
    control_plane: &ControlPlane,
) -> Result<Stored, CredentialError> {
    let mut delays = backoff::Delays::new(config.backoff);
    loop {
        match credential::load_or_enroll(
            client,
            &config.namespace,
            &config.enrollment_token_file,
            control_plane,
        )
        .await
        {
            Ok(stored) => return Ok(stored),
            Err(err) if err.transient() => {
                let wait = delays.failed();
                tracing::warn!(error = %err, retry_in = ?wait, "no credential yet");
                tokio::time::sleep(wait).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Renews the credential every `rotate_after`, counted from its issue.
async fn rotate(
    config: &Config,
    client: &kube::Client,
    control_plane: &ControlPlane,
    stored: Stored,
) {
    let mut issued_at = stored.issued_at;
    let mut delays = backoff::Delays::new(config.backoff);
    loop {
        let due = credential::rotation_due(issued_at, Utc::now(), config.rotate_after);
        let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        match credential::rotate(client, &config.namespace, control_plane).await {
            Ok(stored) => {
                issued_at = stored.issued_at;
                delays.succeeded();
            }
            Err(err) => {
                let wait = delays.failed().max(config.backoff.max);
                tracing::warn!(error = %err, retry_in = ?wait, "rotating the credential failed");
                tokio::time::sleep(wait).await;
            }
        }
    }
}
