//! A cluster's backup schedule and retention: part of its desired spec,
//! limited by the plan, sent to its region's bucket.

use billing::Catalog;
use billing::entitlements::{self, BackupRequest};
use chrono::{DateTime, Utc};
use crds::VectorClusterSpec;
use crds::backup::{BackupDestination, BackupPolicy, Retention};
use crds::schedule::Schedule;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::no_destination;
use crate::access::{OrgAccess, Permission};
use crate::clusters::Cluster;
use crate::validation::ValidationErrors;
use crate::{Error, Result, organizations, resource};

/// The spec a cluster is applied with: a backup policy goes to its
/// region's destination as it is now (none there: no backups).
pub(crate) fn in_region(cluster: &Cluster) -> Result<VectorClusterSpec> {
    let mut spec = cluster.spec.clone();
    spec.backup = match (spec.backup, &cluster.backup_destination) {
        (Some(policy), Some(destination)) => Some(BackupPolicy {
            destination: destination_for(cluster.id, destination)?,
            ..policy
        }),
        _ => None,
    };
    Ok(spec)
}

/// Where a cluster's backups go: its data plane's destination, under
/// `<prefix>/<cluster id>/`.
pub(crate) fn destination_for(
    cluster: Uuid,
    destination: &Json<serde_json::Value>,
) -> Result<BackupDestination> {
    let mut destination: BackupDestination = serde_json::from_value(destination.0.clone())
        .map_err(|_| {
            Error::Database(sqlx::Error::Decode(
                format!("the backup destination of cluster {cluster}'s region is not valid").into(),
            ))
        })?;
    destination.prefix = match destination.prefix.trim_matches('/') {
        "" => cluster.to_string(),
        prefix => format!("{prefix}/{cluster}"),
    };
    Ok(destination)
}

/// A schedule as plans limit it: how often it fires at most, and how long
/// backups are kept.
pub(crate) fn backup_request(
    schedule: &Schedule,
    retention_days: u32,
    now: DateTime<Utc>,
) -> BackupRequest {
    BackupRequest {
        min_interval_minutes: schedule
            .min_interval(now)
            .map_or(i64::MAX, |d| d.num_minutes()),
        retention_days,
    }
}

/// A schedule and retention asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRequest {
    pub schedule: String,
    pub retention_days: i64,
    pub retention_count: Option<i64>,
    /// Restore each backup into a throwaway cluster to prove it (Business).
    pub verify: bool,
}

/// Sets a cluster's backup schedule and retention (a new generation).
pub async fn set_policy(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    cluster_id: Uuid,
    request: &PolicyRequest,
) -> Result<Cluster> {
    access.require(Permission::ClustersWrite)?;
    let mut errors = ValidationErrors::default();
    let schedule = Schedule::parse(&request.schedule)
        .map_err(|e| errors.add("schedule", e))
        .ok();
    let days = u32::try_from(request.retention_days)
        .ok()
        .filter(|d| (1..=3650).contains(d));
    if days.is_none() {
        errors.add(
            "retention_days",
            format!("must be 1 to 3650, got {}", request.retention_days),
        );
    }
    let count = match request.retention_count {
        None => Some(days.unwrap_or(1)),
        Some(n) => {
            let count = u32::try_from(n).ok().filter(|c| (1..=1000).contains(c));
            if count.is_none() {
                errors.add("retention_count", format!("must be 1 to 1000, got {n}"));
            }
            count
        }
    };
    let (schedule, days, count) =
        errors.finish(schedule.zip(days).zip(count).map(|((s, d), c)| (s, d, c)))?;

    let plan = organizations::lock_plan(conn, access, catalog).await?;
    with_policy(conn, access, cluster_id, "backup_policy", |cluster| {
        let destination = cluster
            .backup_destination
            .as_ref()
            .ok_or_else(|| no_destination(cluster))?;
        entitlements::may_schedule_backups(plan, backup_request(&schedule, days, Utc::now()))?;
        if request.verify {
            entitlements::may_verify_backups(plan)?;
        }
        Ok(Some(BackupPolicy {
            schedule: request.schedule.trim().to_owned(),
            retention: Retention {
                count,
                max_age_days: days,
            },
            destination: destination_for(cluster.id, destination)?,
            verify: request.verify,
        }))
    })
    .await
}

/// Stops scheduled backups; those taken are kept until deleted.
pub async fn clear_policy(
    conn: &mut PgConnection,
    access: &OrgAccess,
    cluster_id: Uuid,
) -> Result<Cluster> {
    access.require(Permission::ClustersWrite)?;
    with_policy(conn, access, cluster_id, "backup_policy_cleared", |_| {
        Ok(None)
    })
    .await
}

/// The cluster with its backup policy as `policy` makes it.
async fn with_policy(
    conn: &mut PgConnection,
    access: &OrgAccess,
    cluster_id: Uuid,
    verb: &str,
    policy: impl FnOnce(&Cluster) -> Result<Option<BackupPolicy>>,
) -> Result<Cluster> {
    resource::change_spec(conn, access, cluster_id, verb, |current: &Cluster| {
        let mut next = current.spec.clone();
        next.backup = policy(current)?;
        // The region's destination may have moved since: the same policy
        // again is no change.
        if let (Some(next), Some(now)) = (next.backup.as_mut(), current.spec.backup.as_ref()) {
            next.destination.clone_from(&now.destination);
        }
        Ok(next)
    })
    .await
}
