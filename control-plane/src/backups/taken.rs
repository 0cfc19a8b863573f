//! Backups of a cluster: taken by hand (the control plane's own), or by the
//! operator on its schedule or before an upgrade (mirrored from the data
//! plane); listed, read and deleted within the caller's organization.

use billing::Catalog;
use billing::entitlements;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::no_destination;
use crate::access::{OrgAccess, Permission};
use crate::clusters;
use crate::{Conflict, Error, Result, audit, organizations, resource};

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
