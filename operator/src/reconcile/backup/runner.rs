//! The runner: takes each `VectorClusterBackup` with a Job and follows the
//! Job to the end; when a backup is deleted, deletes its objects from the
//! bucket first (a finalizer).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::{finish, job_status, rfc3339};
use crate::VectorCluster;
use crate::backup::store::{Destination, Store};
use crate::build::backup_job::{self, BackupJob, Work};
use crate::crd::backup::{BackupPhase, BackupStatus, VectorClusterBackup};
use crate::names::Names;
use crate::reconcile::events::Event;
use crate::reconcile::finalizer::{Stage, finalized};
use crate::reconcile::{Context, Error, server_side_apply};

/// Event reasons of a backup that ends: succeeded, failed.
const BACKUP_REASONS: (&str, &str) = ("BackupSucceeded", "BackupFailed");

/// Keeps a backup until its objects are deleted from the bucket.
pub const BACKUP_FINALIZER: &str = "quartermaster.dev/backup-objects";

pub async fn run(backup: Arc<VectorClusterBackup>, ctx: Arc<Context>) -> Result<Action, Error> {
    finalized(&ctx.client, None, BACKUP_FINALIZER, backup, |stage| async {
        match stage {
            Stage::Apply(backup) => run_at(&backup, &ctx, Utc::now()).await,
            Stage::Cleanup(backup) => remove_objects(&backup, &ctx).await,
        }
    })
    .await
}

/// Deletes what a backup stored, with the credentials of its destination.
/// Without them nothing can be deleted: the objects are reported left
/// behind and the backup goes anyway, so a namespace can always be removed.
async fn remove_objects(backup: &VectorClusterBackup, ctx: &Context) -> Result<Action, Error> {
    let namespace = backup.namespace().ok_or(Error::NoNamespace)?;
    let destination = &backup.spec.destination;
    let prefix = crate::backup::manifest::backup_prefix(&destination.prefix, &backup.name_any());
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let credentials = secrets.get_opt(&destination.credentials_secret).await?;
    let read = |key: &str| {
        credentials
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .and_then(|d| d.get(key))
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
    };
    let (Some(access_key_id), Some(secret_access_key)) =
        (read("AWS_ACCESS_KEY_ID"), read("AWS_SECRET_ACCESS_KEY"))
    else {
        let note = format!(
            "objects under {}/{prefix} were left behind: Secret {} has no credentials",
            destination.bucket, destination.credentials_secret
        );
        ctx.events
            .about(backup, Event::warning("ObjectsLeft", note))
            .await;
        return Ok(Action::await_change());
    };
    let store = Store::s3(&Destination {
        bucket: destination.bucket.clone(),
        endpoint: destination.endpoint.clone(),
        region: destination.region.clone(),
        access_key_id,
        secret_access_key,
    })
    .map_err(|e| Error::Storage(e.to_string()))?;
    let deleted = store
        .delete_prefix(&prefix)
        .await
        .map_err(|e| Error::Storage(e.to_string()))?;
    tracing::info!(backup = %backup.name_any(), objects = deleted, "backup objects deleted");
    Ok(Action::await_change())
}

/// Takes a backup with a Job, and follows the Job to the end.
pub async fn run_at(
    backup: &VectorClusterBackup,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Result<Action, Error> {
    let current = backup.status.clone().unwrap_or_default();
    if matches!(current.phase, BackupPhase::Succeeded | BackupPhase::Failed) {
        return Ok(Action::await_change());
    }
    let namespace = backup.namespace().ok_or(Error::NoNamespace)?;
    let name = backup.name_any();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let status = match jobs.get_opt(&name).await? {
        None => {
            let clusters: Api<VectorCluster> = Api::namespaced(ctx.client.clone(), &namespace);
            let Some(cluster) = clusters.get_opt(&backup.spec.cluster).await? else {
                return finish(
                    ctx,
                    backup,
                    backup.status.as_ref(),
                    BackupStatus {
                        phase: BackupPhase::Failed,
                        finished_at: Some(rfc3339(now)),
                        message: Some(format!("cluster {} does not exist", backup.spec.cluster)),
                        ..current
                    },
                    BACKUP_REASONS,
                )
                .await;
            };
            let names = Names::of(&backup.spec.cluster).map_err(|_| Error::NoNamespace)?;
            let version = cluster.spec.version.to_string();
            let owner = backup.controller_owner_ref(&()).ok_or(Error::NoNamespace)?;
            let job = backup_job::build(
                &BackupJob {
                    name: &name,
                    namespace: &namespace,
                    cluster: &backup.spec.cluster,
                    backup: &name,
                    destination: &backup.spec.destination,
                    work: Work::Backup {
                        version: &version,
                        nodes: cluster.spec.nodes,
                    },
                    image: &ctx.backup_image,
                    owner,
                },
                &names,
            );
            server_side_apply(&jobs, &name, &job).await?;
            BackupStatus {
                phase: BackupPhase::Running,
                job: Some(name.clone()),
                started_at: Some(rfc3339(now)),
                ..current
            }
        }
        Some(job) => job_status(&job, current, now),
    };
    finish(ctx, backup, backup.status.as_ref(), status, BACKUP_REASONS).await
}
