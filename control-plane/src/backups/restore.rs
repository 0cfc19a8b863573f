//! Restoring a backup into a new cluster.

use billing::Catalog;
use billing::entitlements;
use crds::VectorClusterSpec;
use sqlx::PgConnection;
use uuid::Uuid;

use super::get;
use crate::access::{OrgAccess, Permission};
use crate::clusters::{self, Cluster, ClusterName};
use crate::labels::Labels;
use crate::validation::ValidationErrors;
use crate::{Conflict, Error, Result, audit, data_planes, organizations};

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
    let mut errors = ValidationErrors::default();
    let name = errors.check("name", ClusterName::parse(name));
    let data_plane =
        data_planes::placing(conn, &source.region, access.organization_id(), &mut errors).await?;
    let (name, data_plane) = errors.finish(name.zip(data_plane))?;
    // Its shape, not its schedule, window or suspension.
    let spec = VectorClusterSpec {
        suspend: false,
        backup: None,
        maintenance_window: None,
        ..source.spec
    };
    let created = clusters::admit(
        conn,
        access,
        catalog,
        data_plane,
        (&name, &Labels::default()),
        spec,
        false,
    )
    .await?;
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
