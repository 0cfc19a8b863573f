//! The pull loop: long-polls the desired state from the last version
//! applied (0, a complete state, at every start) and applies each change.
//! The version moves only once every change of an answer is applied, so a
//! failed write is tried again with the next answer.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use crds::backup::{VectorClusterBackup, VectorClusterRestore};
use crds::inference_endpoint::InferenceEndpoint;
use crds::sync::{Desired, DesiredState, Kind};
use crds::tenant::namespace_of;
use crds::vector_cluster::VectorCluster;
use uuid::Uuid;

use super::apply::{self, Applier};
use super::backoff::Delays;
use super::client::{ClientError, ControlPlane};
use super::desired::{self, Planned, restore_name};
use super::report::tenant_of;
use super::watched::{Watched, live};
use super::{Config, Shared};

/// Whether a failed write is worth trying again: the apiserver refusing
/// the object itself (invalid, forbidden) is not, and must not hold back
/// every later change.
fn retryable(err: &kube::Error) -> bool {
    !matches!(err, kube::Error::Api(status) if matches!(status.code, 400 | 403 | 422))
}

pub(super) async fn run(
    config: &Config,
    client: &kube::Client,
    control_plane: &ControlPlane,
    watched: &Watched,
    shared: &Shared,
) {
    let mut applier = Applier::new(client.clone());
    let mut since = 0;
    let mut delays = Delays::new(config.backoff);
    let mut warned_backup_dropped = false;
    // Decisions compare with the live objects: only once they are listed.
    watched.ready().await;
    loop {
        let answer = control_plane.desired(since, config.wait).await;
        if !matches!(answer, Err(ClientError::Unauthorized { .. }))
            && shared.revoked.swap(false, Ordering::Relaxed)
        {
            tracing::info!("the control plane accepts the credential again");
        }
        let state = match answer {
            Ok(Some(state)) => state,
            Ok(None) => {
                delays.succeeded();
                continue;
            }
            Err(ClientError::Unauthorized { detail }) => {
                if !shared.revoked.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        %detail,
                        "the control plane refused this data plane's credential (revoked?): \
                         applying nothing, keeping every cluster as it is, retrying every {:?}",
                        config.unauthorized_retry
                    );
                }
                tokio::time::sleep(config.unauthorized_retry).await;
                continue;
            }
            Err(err) => {
                let wait = delays.failed();
                tracing::warn!(error = %err, retry_in = ?wait,
                    "control plane unreachable; keeping everything running as last known");
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        if state.complete {
            applier.refresh(backup_keys(config, client).await);
        }
        let mut pass = Pass {
            applier: &mut applier,
            watched,
            shared,
            config,
            warned_backup_dropped: &mut warned_backup_dropped,
        };
        match pass.apply_all(&state).await {
            Ok(()) => {
                since = state.version;
                delays.succeeded();
            }
            Err(err) => {
                let wait = delays.failed();
                tracing::warn!(error = %err, retry_in = ?wait, version = state.version,
                    "applying the desired state failed; trying again");
                tokio::time::sleep(wait).await;
            }
        }
        // Restores and deletions left for the deliver loop: it looks now.
        watched.changed.notify_one();
        if state.complete {
            log_unclaimed(&state, watched);
        }
    }
}

async fn backup_keys(config: &Config, client: &kube::Client) -> Option<apply::BackupKeys> {
    config.backup.bucket.as_ref()?;
    let name = config.backup_credentials_secret.as_deref()?;
    match apply::backup_keys(client, &config.namespace, name).await {
        Ok(Some(keys)) => Some(keys),
        Ok(None) => {
            tracing::warn!(
                secret = name,
                "the backup key Secret or one of its keys is missing"
            );
            None
        }
        Err(err) => {
            tracing::warn!(error = %err, secret = name, "reading the backup key Secret");
            None
        }
    }
}

struct Pass<'a> {
    applier: &'a mut Applier,
    watched: &'a Watched,
    shared: &'a Shared,
    config: &'a Config,
    warned_backup_dropped: &'a mut bool,
}

impl Pass<'_> {
    /// Applies every change; the first retryable error, after trying all.
    async fn apply_all(&mut self, state: &DesiredState) -> Result<(), kube::Error> {
        let mut failed = None;
        for desired in &state.resources {
            let result = if desired.delete {
                self.delete(desired).await
            } else {
                self.apply(desired).await
            };
            match result {
                Ok(()) => {}
                Err(err) if retryable(&err) => {
                    tracing::warn!(error = %err, id = %desired.id, name = %desired.name, "applying");
                    failed.get_or_insert(err);
                }
                Err(err) => {
                    tracing::error!(error = %err, id = %desired.id, name = %desired.name,
                        "the apiserver refused this resource; skipping it");
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    async fn apply(&mut self, desired: &Desired) -> Result<(), kube::Error> {
        let plan = match desired::plan(desired, &self.config.backup) {
            Ok(plan) => plan,
            Err(err) => {
                tracing::warn!(id = %desired.id, "{err}");
                return Ok(());
            }
        };
        if plan.backup_dropped && !*self.warned_backup_dropped {
            *self.warned_backup_dropped = true;
            tracing::warn!(
                "clusters ask for scheduled backups, but no backup bucket is configured on \
                 this data plane (--backup-bucket): their backup policy is left out"
            );
        }
        self.applier.baseline(desired.organization_id).await?;
        let namespace = namespace_of(desired.organization_id);
        // Made again after a deletion: no longer to be reported gone.
        self.shared.pending().gone.remove(&(
            desired.object.kind(),
            namespace.clone(),
            desired.name.clone(),
        ));
        let w = self.watched;
        match &plan.object {
            Planned::VectorCluster(o) => {
                let live = live(&w.clusters, &namespace, &desired.name);
                self.applier.apply(o.as_ref(), live.as_ref()).await?;
            }
            Planned::InferenceEndpoint(o) => {
                let live = live(&w.endpoints, &namespace, &desired.name);
                self.applier.apply(o.as_ref(), live.as_ref()).await?;
            }
            Planned::VectorClusterBackup(o) => {
                let live = live(&w.backups, &namespace, &desired.name);
                self.applier.apply(o.as_ref(), live.as_ref()).await?;
            }
        }
        if let Some(restore) = plan.restore {
            self.shared
                .pending()
                .restores
                .insert((namespace, desired.name.clone()), restore);
        }
        Ok(())
    }

    async fn delete(&mut self, desired: &Desired) -> Result<(), kube::Error> {
        let namespace = namespace_of(desired.organization_id);
        let name = desired.name.as_str();
        let kind = desired.object.kind();
        // By kind: a removed record names only its kind.
        match kind {
            Kind::VectorCluster => {
                self.shared
                    .pending()
                    .restores
                    .remove(&(namespace.clone(), name.to_owned()));
                self.applier
                    .delete::<VectorClusterRestore>(&namespace, &restore_name(name))
                    .await?;
                self.applier
                    .delete::<VectorCluster>(&namespace, name)
                    .await?
            }
            Kind::InferenceEndpoint => {
                self.applier
                    .delete::<InferenceEndpoint>(&namespace, name)
                    .await?
            }
            Kind::VectorClusterBackup => {
                self.applier
                    .delete::<VectorClusterBackup>(&namespace, name)
                    .await?
            }
            Kind::VectorClusterRestore => {
                self.applier
                    .delete::<VectorClusterRestore>(&namespace, name)
                    .await?
            }
        }
        self.shared.pending().gone.insert(
            (kind, namespace, name.to_owned()),
            (desired.id, desired.organization_id),
        );
        Ok(())
    }
}

/// A complete state names every resource of the control plane's; one
/// found here that it does not name is left alone, and said so.
fn log_unclaimed(state: &DesiredState, watched: &Watched) {
    let claimed: BTreeSet<Uuid> = state
        .resources
        .iter()
        .filter(|d| !d.delete)
        .map(|d| d.id)
        .collect();
    let seen = watched.seen();
    let found = seen
        .clusters
        .iter()
        .map(|o| (Kind::VectorCluster, &o.metadata))
        .chain(
            seen.endpoints
                .iter()
                .map(|o| (Kind::InferenceEndpoint, &o.metadata)),
        )
        .chain(
            seen.backups
                .iter()
                .map(|o| (Kind::VectorClusterBackup, &o.metadata)),
        );
    for (kind, meta) in found {
        if let Some((id, _)) = tenant_of(meta)
            && !claimed.contains(&id)
        {
            tracing::warn!(
                ?kind, %id,
                namespace = meta.namespace.as_deref().unwrap_or_default(),
                name = meta.name.as_deref().unwrap_or_default(),
                "not in the control plane's complete state; left as it is (deleted only when asked)"
            );
        }
    }
}
