//! The restorer: loads a `VectorClusterRestore`'s backup into its target
//! cluster with a Job, once the backup has succeeded and the target is
//! Ready, and follows the Job to the end.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::{finish, job_status, rfc3339};
use crate::VectorCluster;
use crate::build::backup_job::{self, BackupJob, Work};
use crate::crd::backup::{BackupPhase, BackupStatus, VectorClusterBackup, VectorClusterRestore};
use crate::crd::vector_cluster::Phase;
use crate::names::Names;
use crate::reconcile::{Context, Error, server_side_apply};

pub async fn restore(
    restore: Arc<VectorClusterRestore>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    restore_at(&restore, &ctx, Utc::now()).await
}

/// Loads a backup into its target cluster with a Job, once the backup has
/// succeeded and the target is Ready.
pub async fn restore_at(
    restore: &VectorClusterRestore,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Result<Action, Error> {
    const REASONS: (&str, &str) = ("RestoreSucceeded", "RestoreFailed");
    let current = restore.status.clone().unwrap_or_default();
    if matches!(current.phase, BackupPhase::Succeeded | BackupPhase::Failed) {
        return Ok(Action::await_change());
    }
    let namespace = restore.namespace().ok_or(Error::NoNamespace)?;
    let name = restore.name_any();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Some(job) = jobs.get_opt(&name).await? {
        let status = job_status(&job, current, now);
        return finish(ctx, restore, restore.status.as_ref(), status, REASONS).await;
    }
    let failed = |message: String| BackupStatus {
        phase: BackupPhase::Failed,
        finished_at: Some(rfc3339(now)),
        message: Some(message),
        ..BackupStatus::default()
    };
    let backups: Api<VectorClusterBackup> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(backup) = backups.get_opt(&restore.spec.backup).await? else {
        let status = failed(format!("backup {} does not exist", restore.spec.backup));
        return finish(ctx, restore, restore.status.as_ref(), status, REASONS).await;
    };
    let backup_phase = backup.status.as_ref().map(|s| s.phase).unwrap_or_default();
    if backup_phase != BackupPhase::Succeeded {
        let status = failed(format!(
            "backup {} has not succeeded (it is {backup_phase:?}); only a complete backup is restored",
            restore.spec.backup
        ));
        return finish(ctx, restore, restore.status.as_ref(), status, REASONS).await;
    }
    let clusters: Api<VectorCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let target = clusters.get_opt(&restore.spec.target).await?;
    let Some(target) =
        target.filter(|t| t.status.as_ref().is_some_and(|s| s.phase == Phase::Ready))
    else {
        let status = BackupStatus {
            phase: BackupPhase::Pending,
            message: Some(format!(
                "waiting for cluster {} to be Ready",
                restore.spec.target
            )),
            ..current
        };
        return finish(ctx, restore, restore.status.as_ref(), status, REASONS).await;
    };
    let names = Names::of(&restore.spec.target).map_err(|_| Error::NoNamespace)?;
    let owner = restore
        .controller_owner_ref(&())
        .ok_or(Error::NoNamespace)?;
    let job = backup_job::build(
        &BackupJob {
            name: &name,
            namespace: &namespace,
            cluster: &restore.spec.target,
            backup: &restore.spec.backup,
            destination: &backup.spec.destination,
            work: Work::Restore {
                nodes: target.spec.nodes,
            },
            image: &ctx.backup_image,
            owner,
        },
        &names,
    );
    server_side_apply(&jobs, &name, &job).await?;
    let status = BackupStatus {
        phase: BackupPhase::Running,
        job: Some(name),
        started_at: Some(rfc3339(now)),
        message: None,
        ..current
    };
    finish(ctx, restore, restore.status.as_ref(), status, REASONS).await
}
