//! Backups in the data plane: the scheduler, which makes a
//! `VectorClusterBackup` when a cluster's schedule fires, deletes those past
//! retention and sums them up in the cluster's status; and the runner, which
//! takes each backup with a Job and reports how it went.
//!
//! This module holds what its parts share: the error policy, the times as
//! statuses write them, and how a Job's outcome becomes a backup's or
//! restore's status. The parts: `scheduler` (scheduled backups, retention,
//! the summary in the cluster's status), `pre_upgrade` (the backup a version
//! upgrade waits for), `runner` (a backup's Job, and its objects' removal)
//! and `restorer` (a restore's Job).

mod pre_upgrade;
mod restorer;
mod runner;
mod scheduler;

pub use pre_upgrade::upgrade_gate;
pub use restorer::{restore, restore_at};
pub use runner::{BACKUP_FINALIZER, run, run_at};
pub use scheduler::{LABEL_SCHEDULED_AT, schedule, schedule_at};

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::events::Event;
use super::{Context, Error};
use crate::crd::backup::{BackupPhase, BackupStatus};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A Kubernetes time (k8s-openapi's `jiff`) as chrono's.
fn chrono(t: &k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t.as_microsecond())
}

pub fn error_policy<K>(_object: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(category = error.category(), %error, "backup reconcile failed");
    Action::requeue(Duration::from_secs(30))
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
