//! The scheduler: makes a `VectorClusterBackup` when a cluster's schedule
//! fires, deletes those past retention, starts test restores through
//! `verify`, and sums it all up in the cluster's `status.backups`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::{chrono, rfc3339};
use crate::VectorCluster;
use crate::backup::schedule::{self, Kept, Schedule};
use crate::crd::backup::{
    BackupPhase, BackupSummary, VectorClusterBackup, VectorClusterBackupSpec,
};
use crate::names::{LABEL_CLUSTER, LABEL_ORIGIN};
use crate::reconcile::events::Event;
use crate::reconcile::{Context, Error, server_side_apply, verify};

/// The label that records when the schedule took a backup.
pub const LABEL_SCHEDULED_AT: &str = "quartermaster.dev/scheduled-at";
/// The longest the scheduler waits between looks.
const RECHECK: Duration = Duration::from_secs(300);
/// Between looks while a test restore is under way.
const VERIFY_RECHECK: Duration = Duration::from_secs(30);

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
