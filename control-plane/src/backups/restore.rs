//! Restoring a backup into a new cluster.

use billing::Catalog;
use billing::entitlements;
use sqlx::PgConnection;
use uuid::Uuid;

use super::get;
use crate::access::{OrgAccess, Permission};
use crate::clusters::{self, Cluster, CreateCluster};
use crate::{Conflict, Error, Result, audit, organizations};

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
