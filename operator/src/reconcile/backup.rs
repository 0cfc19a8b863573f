//! Backups in the data plane: the scheduler, which makes a
//! `VectorClusterBackup` when a cluster's schedule fires, deletes those past
//! retention and sums them up in the cluster's status; and the runner, which
//! takes each backup with a Job and reports how it went.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalize, finalizer};
use kube::{Api, Resource, ResourceExt};

use super::events::Event;
use super::{Context, Error, server_side_apply, verify};
use crate::VectorCluster;
use crate::backup::schedule::{self, Kept, Schedule};
use crate::backup::store::{Destination, Store};
use crate::build::backup_job::{self, BackupJob, Work};
use crate::crd::backup::{
    BackupPhase, BackupStatus, BackupSummary, VectorClusterBackup, VectorClusterBackupSpec,
    VectorClusterRestore,
};
use crate::crd::vector_cluster::Phase;
use crate::names::{LABEL_CLUSTER, LABEL_ORIGIN, Names};

/// Event reasons of a backup that ends: succeeded, failed.
const BACKUP_REASONS: (&str, &str) = ("BackupSucceeded", "BackupFailed");

/// The label that records when the schedule took a backup.
pub const LABEL_SCHEDULED_AT: &str = "quartermaster.dev/scheduled-at";
/// The longest the scheduler waits between looks.
const RECHECK: Duration = Duration::from_secs(300);
/// Between looks while a test restore is under way.
const VERIFY_RECHECK: Duration = Duration::from_secs(30);

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A Kubernetes time (k8s-openapi's `jiff`) as chrono's.
fn chrono(t: &k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t.as_microsecond())
}

/// `scheduled-at` labels hold the time as `YYYYMMDDTHHMMZ` (labels allow no
/// colons).
fn label_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%MZ").to_string()
}

fn from_label(value: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%MZ")
        .ok()
        .map(|t| t.and_utc())
}

pub async fn schedule(vc: Arc<VectorCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    schedule_at(&vc, &ctx, Utc::now()).await
}

pub fn error_policy<K>(_object: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(category = error.category(), %error, "backup reconcile failed");
    Action::requeue(Duration::from_secs(30))
}

/// One look at a cluster's backups at `now`.
pub async fn schedule_at(
    vc: &VectorCluster,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Result<Action, Error> {
    let Some(policy) = &vc.spec.backup else {
        return Ok(Action::await_change());
    };
    let namespace = vc.namespace().ok_or(Error::NoNamespace)?;
    let name = vc.name_any();
    let backups: Api<VectorClusterBackup> = Api::namespaced(ctx.client.clone(), &namespace);
    let listed = backups
        .list(&ListParams::default().labels(&format!("{LABEL_CLUSTER}={name}")))
        .await?;
    let schedule = match Schedule::parse(&policy.schedule) {
        Ok(schedule) => schedule,
        Err(reason) => {
            let summary = BackupSummary {
                last_failure_message: Some(reason),
                ..summarize(&listed.items, vc)
            };
            publish(ctx, vc, &namespace, summary).await?;
            return Ok(Action::await_change());
        }
    };

    // Due: the latest firing since the last scheduled backup (or since the
    // cluster was created). The name follows the time, so this is idempotent.
    let since = listed
        .items
        .iter()
        .filter_map(|b| {
            b.labels()
                .get(LABEL_SCHEDULED_AT)
                .and_then(|v| from_label(v))
        })
        .max()
        .or_else(|| {
            vc.meta()
                .creation_timestamp
                .as_ref()
                .and_then(|t| chrono(&t.0))
        })
        .unwrap_or(now);
    if let Some(at) = schedule.due(since, now) {
        let backup_name = schedule::scheduled_name(&name, at);
        let mut backup = VectorClusterBackup::new(
            &backup_name,
            VectorClusterBackupSpec {
                cluster: name.clone(),
                destination: policy.destination.clone(),
            },
        );
        backup.metadata.namespace = Some(namespace.clone());
        backup.metadata.labels = Some(
            [
                (LABEL_CLUSTER.to_owned(), name.clone()),
                (LABEL_SCHEDULED_AT.to_owned(), label_time(at)),
                (LABEL_ORIGIN.to_owned(), "scheduled".to_owned()),
            ]
            .into(),
        );
        server_side_apply(&backups, &backup_name, &backup).await?;
        ctx.events
            .about(
                vc,
                Event::normal(
                    "BackupScheduled",
                    format!("backup {backup_name} scheduled for {}", rfc3339(at)),
                ),
            )
            .await;
    }

    let kept: Vec<Kept> = listed
        .items
        .iter()
        .filter_map(|b| {
            Some(Kept {
                name: b.name_any(),
                phase: b.status.as_ref().map(|s| s.phase).unwrap_or_default(),
                at: chrono(&b.meta().creation_timestamp.as_ref()?.0)?,
            })
        })
        .collect();
    for expired in schedule::expired(&kept, policy.retention, now) {
        backups.delete(&expired, &DeleteParams::default()).await?;
    }

    let next = schedule.next_after(now);
    let summary = summarize(&listed.items, vc);
    let verified = verify::pass(ctx, vc, &namespace, summary.last_success.as_deref(), now).await?;
    let summary = BackupSummary {
        next_at: next.map(rfc3339),
        verifying: verified.verifying.clone(),
        last_verified: verified.last,
        ..summary
    };
    publish(ctx, vc, &namespace, summary).await?;
    // Only once the status holds the result.
    if verified.remove {
        verify::remove(ctx, vc, &namespace).await?;
    }
    let recheck = if verified.verifying.is_some() {
        VERIFY_RECHECK
    } else {
        RECHECK
    };
    let wait = next
        .and_then(|n| (n - now).to_std().ok())
        .map_or(recheck, |d| d.min(recheck));
    Ok(Action::requeue(wait))
}

/// The newest success, and the newest failure if it came after it; the
/// last test restore as `vc`'s status has it.
fn summarize(backups: &[VectorClusterBackup], vc: &VectorCluster) -> BackupSummary {
    let previous = vc.status.as_ref().and_then(|s| s.backups.as_ref());
    let finished = |phase: BackupPhase| {
        backups
            .iter()
            .filter_map(|b| {
                let status = b.status.as_ref().filter(|s| s.phase == phase)?;
                Some((
                    status.finished_at.clone().unwrap_or_default(),
                    b.name_any(),
                    status,
                ))
            })
            .max_by(|a, b| a.0.cmp(&b.0))
    };
    let success = finished(BackupPhase::Succeeded);
    let failure =
        finished(BackupPhase::Failed).filter(|f| success.as_ref().is_none_or(|s| f.0 > s.0));
    BackupSummary {
        last_success: success.as_ref().map(|s| s.1.clone()),
        last_success_at: success.as_ref().and_then(|s| s.2.finished_at.clone()),
        last_failure: failure.as_ref().map(|f| f.1.clone()),
        last_failure_message: failure.and_then(|f| f.2.message.clone()),
        next_at: None,
        verifying: previous.and_then(|b| b.verifying.clone()),
        last_verified: previous.and_then(|b| b.last_verified.clone()),
    }
}

async fn publish(
    ctx: &Context,
    vc: &VectorCluster,
    namespace: &str,
    summary: BackupSummary,
) -> Result<(), Error> {
    if vc.status.as_ref().and_then(|s| s.backups.as_ref()) == Some(&summary) {
        return Ok(());
    }
    let clusters: Api<VectorCluster> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = serde_json::json!({ "status": { "backups": summary } });
    clusters
        .patch_status(
            &vc.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

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

/// Keeps a backup until its objects are deleted from the bucket.
pub const BACKUP_FINALIZER: &str = "quartermaster.dev/backup-objects";

pub async fn run(backup: Arc<VectorClusterBackup>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = backup.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<VectorClusterBackup> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, BACKUP_FINALIZER, backup, |event| async {
        match event {
            Finalize::Apply(backup) => run_at(&backup, &ctx, Utc::now()).await,
            Finalize::Cleanup(backup) => remove_objects(&backup, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
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

/// What the Job says of the backup.
fn job_status(job: &Job, current: BackupStatus, now: DateTime<Utc>) -> BackupStatus {
    let status = job.status.as_ref();
    let condition = |kind: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == kind && c.status == "True"))
    };
    if let Some(done) = condition("Complete") {
        let at = status
            .and_then(|s| s.completion_time.as_ref())
            .or(done.last_transition_time.as_ref())
            .and_then(|t| chrono(&t.0))
            .unwrap_or(now);
        return BackupStatus {
            phase: BackupPhase::Succeeded,
            finished_at: Some(rfc3339(at)),
            message: None,
            ..current
        };
    }
    if let Some(failed) = condition("Failed") {
        return BackupStatus {
            phase: BackupPhase::Failed,
            finished_at: Some(rfc3339(
                failed
                    .last_transition_time
                    .as_ref()
                    .and_then(|t| chrono(&t.0))
                    .unwrap_or(now),
            )),
            message: Some(
                failed
                    .message
                    .clone()
                    .unwrap_or_else(|| "the backup Job failed".to_owned()),
            ),
            ..current
        };
    }
    BackupStatus {
        phase: BackupPhase::Running,
        ..current
    }
}

/// Patches a backup's or restore's status when it changed, with an event
/// when it ends (`reasons`: on success, on failure).
async fn finish<K>(
    ctx: &Context,
    object: &K,
    current: Option<&BackupStatus>,
    status: BackupStatus,
    reasons: (&'static str, &'static str),
) -> Result<Action, Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let terminal = matches!(status.phase, BackupPhase::Succeeded | BackupPhase::Failed);
    if current != Some(&status) {
        if terminal {
            let note = status.message.clone().unwrap_or_else(|| "done".to_owned());
            let event = if status.phase == BackupPhase::Succeeded {
                Event::normal(reasons.0, note)
            } else {
                Event::warning(reasons.1, note)
            };
            ctx.events.about(object, event).await;
        }
        let namespace = object.namespace().ok_or(Error::NoNamespace)?;
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
        let patch = serde_json::json!({ "status": status });
        api.patch_status(
            &object.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    Ok(if terminal {
        Action::await_change()
    } else {
        Action::requeue(Duration::from_secs(30))
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_times_survive_the_label_format() {
        let t: DateTime<Utc> = "2026-11-25T02:00:00Z".parse().unwrap();
        assert_eq!(label_time(t), "20261125T0200Z");
        assert_eq!(from_label(&label_time(t)), Some(t));
        assert_eq!(from_label("yesterday"), None);
    }
}
