//! Backups as customers see them: a cluster's schedule and retention (part
//! of its desired spec), backups taken by hand, and restores into a new
//! cluster; each limited by the plan.

use billing::Catalog;
use billing::entitlements::{self, BackupRequest};
use chrono::{DateTime, Utc};
use crds::VectorClusterSpec;
use crds::backup::{BackupDestination, BackupPolicy, Retention};
use crds::schedule::Schedule;
use serde::Serialize;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::access::{OrgAccess, Permission};
use crate::clusters::{self, Cluster, CreateCluster};
use crate::resource;
use crate::validation::ValidationErrors;
use crate::{Conflict, Error, Result, audit, organizations};

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

fn no_destination(cluster: &Cluster) -> Error {
    let mut errors = ValidationErrors::default();
    errors.add(
        "region",
        format!(
            "region `{}` has no backup storage configured",
            cluster.region
        ),
    );
    Error::Validation(errors)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Backup {
    pub id: Uuid,
    pub cluster_id: Uuid,
    pub name: String,
    /// manual, scheduled or pre-upgrade.
    pub origin: String,
    /// Pending, Running, Succeeded or Failed.
    pub phase: String,
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub deletion_requested_at: Option<DateTime<Utc>>,
}

const BACKUP_COLUMNS: &str = "id, cluster_id, name, origin, phase, message, created_at,
        finished_at, deletion_requested_at";

/// Takes a backup now.
pub async fn create(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    cluster_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Backup> {
    access.require(Permission::ClustersWrite)?;
    let plan = organizations::lock_plan(conn, access, catalog).await?;
    let cluster = clusters::get(conn, access, cluster_id).await?;
    resource::refuse_deleting(&cluster)?;
    if cluster.backup_destination.is_none() {
        return Err(no_destination(&cluster));
    }
    entitlements::may_take_backup(plan)?;
    let name = format!("{}-{}", cluster.name, now.format("%Y%m%d-%H%M%S"));
    let backup: Backup = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO cluster_backups (id, organization_id, cluster_id, name, origin, created_at)
         VALUES ($1, $2, $3, $4, 'manual', $5)
         RETURNING {BACKUP_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(access.organization_id())
    .bind(cluster_id)
    .bind(&name)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(crate::error::on_unique(
        "cluster_backups_name_key",
        Conflict::BackupNameTaken(name.clone()),
    ))?;
    audit::record_as(
        conn,
        access,
        "backup.create",
        "cluster_backup",
        &backup.id.to_string(),
        None,
    )
    .await?;
    Ok(backup)
}

pub async fn list(
    conn: &mut PgConnection,
    access: &OrgAccess,
    cluster_id: Uuid,
) -> Result<Vec<Backup>> {
    access.require(Permission::ClustersRead)?;
    clusters::get(conn, access, cluster_id).await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BACKUP_COLUMNS} FROM cluster_backups WHERE organization_id = $1 AND cluster_id = $2 ORDER BY created_at DESC, id"
    )))
    .bind(access.organization_id())
    .bind(cluster_id)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn get(
    conn: &mut PgConnection,
    access: &OrgAccess,
    cluster_id: Uuid,
    backup_id: Uuid,
) -> Result<Backup> {
    access.require(Permission::ClustersRead)?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BACKUP_COLUMNS} FROM cluster_backups WHERE organization_id = $1 AND cluster_id = $2 AND id = $3"
    )))
    .bind(access.organization_id())
    .bind(cluster_id)
    .bind(backup_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found("backup"))
}

/// Deletes a backup and its stored snapshots (the data plane removes them).
pub async fn delete(
    conn: &mut PgConnection,
    access: &OrgAccess,
    cluster_id: Uuid,
    backup_id: Uuid,
) -> Result<Backup> {
    access.require(Permission::ClustersWrite)?;
    let updated = sqlx::query(
        "UPDATE cluster_backups SET deletion_requested_at = coalesce(deletion_requested_at, now())
         WHERE organization_id = $1 AND cluster_id = $2 AND id = $3",
    )
    .bind(access.organization_id())
    .bind(cluster_id)
    .bind(backup_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(Error::not_found("backup"));
    }
    audit::record_as(
        conn,
        access,
        "backup.delete",
        "cluster_backup",
        &backup_id.to_string(),
        None,
    )
    .await?;
    get(conn, access, cluster_id, backup_id).await
}

/// Restores a succeeded backup into a new cluster named `name`, shaped as
/// the backed-up cluster is now. The new cluster is provisioned as any
/// other; once it is Ready, the backup is loaded into it.
pub async fn restore(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    cluster_id: Uuid,
    backup_id: Uuid,
    name: &str,
) -> Result<Cluster> {
    access.require(Permission::ClustersWrite)?;
    let plan = organizations::lock_plan(conn, access, catalog).await?;
    entitlements::may_restore(plan)?;
    let backup = get(conn, access, cluster_id, backup_id).await?;
    if backup.phase != "Succeeded" || backup.deletion_requested_at.is_some() {
        return Err(Error::Conflict(Conflict::BackupNotRestorable(backup.name)));
    }
    let source = clusters::get(conn, access, cluster_id).await?;
    let request = CreateCluster {
        name: name.to_owned(),
        region: source.region.clone(),
        version: Some(source.spec.version.to_string()),
        nodes: Some(i64::from(source.spec.nodes)),
        replication_factor: Some(i64::from(source.spec.replication_factor)),
        cpu_millicores: Some(i64::from(source.spec.resources.cpu_millicores)),
        memory_mib: Some(i64::from(source.spec.resources.memory_mib)),
        storage_gib: Some(i64::from(source.spec.resources.storage_gib)),
    };
    let created = clusters::create(conn, access, catalog, &request).await?;
    sqlx::query(
        "UPDATE vector_clusters SET restore_from = $3, restore_phase = 'Pending'
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(access.organization_id())
    .bind(created.id)
    .bind(backup.id)
    .execute(&mut *conn)
    .await?;
    audit::record_as(
        conn,
        access,
        "backup.restore",
        "vector_cluster",
        &created.id.to_string(),
        Some(serde_json::json!({ "backup": backup.id, "from_cluster": cluster_id })),
    )
    .await?;
    clusters::get(conn, access, created.id).await
}
