//! The backup a version upgrade waits for: `<cluster>-pre-<version>`,
//! taken before the rollout moves a cluster with backups to a new version.

use kube::ResourceExt;
use kube::api::Api;

use crate::VectorCluster;
use crate::crd::backup::{BackupPhase, VectorClusterBackup, VectorClusterBackupSpec};
use crate::names::{LABEL_CLUSTER, LABEL_ORIGIN};
use crate::reconcile::{Context, Error, server_side_apply};

/// Before a version upgrade of a cluster with backups, a backup is taken
/// (`<cluster>-pre-<version>`) and the rollout waits for it. `Some(reason)`
/// while it must wait; a failed backup holds it until deleted (which takes
/// a new one).
pub async fn upgrade_gate(ctx: &Context, vc: &VectorCluster) -> Result<Option<String>, Error> {
    let Some(policy) = &vc.spec.backup else {
        return Ok(None);
    };
    // A cluster that never ran has nothing to protect.
    let Some(current) = vc
        .status
        .as_ref()
        .and_then(|s| s.current_version.as_deref())
    else {
        return Ok(None);
    };
    let target = vc.spec.version.to_string();
    if current == target {
        return Ok(None);
    }
    let namespace = vc.namespace().ok_or(Error::NoNamespace)?;
    let cluster = vc.name_any();
    let name = format!("{cluster}-pre-{}", target.replace('.', "-"));
    let backups: Api<VectorClusterBackup> = Api::namespaced(ctx.client.clone(), &namespace);
    let waiting = format!("taking backup {name} before upgrading to {target}");
    match backups.get_opt(&name).await? {
        None => {
            let mut backup = VectorClusterBackup::new(
                &name,
                VectorClusterBackupSpec {
                    cluster: cluster.clone(),
                    destination: policy.destination.clone(),
                },
            );
            backup.metadata.namespace = Some(namespace);
            backup.metadata.labels = Some(
                [
                    (LABEL_CLUSTER.to_owned(), cluster),
                    (LABEL_ORIGIN.to_owned(), "pre-upgrade".to_owned()),
                ]
                .into(),
            );
            server_side_apply(&backups, &name, &backup).await?;
            Ok(Some(waiting))
        }
        Some(backup) => {
            let status = backup.status.unwrap_or_default();
            Ok(match status.phase {
                BackupPhase::Succeeded => None,
                BackupPhase::Failed => Some(format!(
                    "the backup before upgrading to {target} failed ({}); delete {name} to take another",
                    status.message.unwrap_or_default()
                )),
                BackupPhase::Pending | BackupPhase::Running => Some(waiting),
            })
        }
    }
}
