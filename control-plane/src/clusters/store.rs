//! Vector cluster operations: rules and transactions over `vector_clusters`.
//! Every statement is scoped by the caller's organization.

use billing::Catalog;
use billing::entitlements::{self, ClusterShape};
use chrono::{DateTime, Utc};
use crds::backup::Verification;
use crds::maintenance::MaintenanceWindow;
use crds::vector_cluster::{NodeResources, Phase, Placement};
use crds::{EngineVersion, VectorClusterSpec};
use serde::Serialize;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::{CreateCluster, UpdateCluster};
use crate::access::{OrgAccess, Permission};
use crate::db::sql_int;
use crate::error::on_unique;
use crate::page::{Page, PageRequest};
use crate::resource::{self, Kind};
use crate::validation::ValidationErrors;
use crate::{Conflict, Error, Result, data_planes, organizations};

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Cluster {
    pub id: Uuid,
    pub name: String,
    pub region: String,
    /// Placed in a simulated data plane: it serves nothing.
    pub simulated: bool,
    pub version: String,
    pub nodes: i32,
    pub replication_factor: i32,
    pub cpu_millicores: i32,
    pub memory_mib: i32,
    pub storage_gib: i32,
    pub generation: i64,
    #[sqlx(try_from = "String")]
    pub phase: Phase,
    pub observed_generation: i64,
    pub current_version: Option<String>,
    pub ready_nodes: i32,
    pub endpoint: Option<String>,
    pub conditions: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deletion_requested_at: Option<DateTime<Utc>>,
    /// Why the cluster is suspended, for the customer; `None` when it is not.
    pub suspended_reason: Option<String>,
    pub backup_schedule: Option<String>,
    pub backup_retention_days: Option<i32>,
    pub backup_retention_count: Option<i32>,
    /// Each backup is restored into a throwaway cluster to prove it.
    pub backup_verify: bool,
    /// How the newest of those test restores went.
    pub backup_last_verified: Option<Json<Verification>>,
    /// Where its data plane keeps backups; `None`: backups unavailable there.
    #[serde(skip)]
    pub backup_destination: Option<Json<serde_json::Value>>,
    /// The backup this cluster was made from, and how loading it went.
    pub restore_from: Option<Uuid>,
    pub restore_phase: Option<String>,
    pub restore_message: Option<String>,
    /// When its nodes may begin restarting; `None`: at once.
    pub maintenance_window: Option<Json<MaintenanceWindow>>,
    /// Where its shards are, as its data plane last reported.
    #[serde(skip)]
    pub placement: Option<Json<Placement>>,
}

impl Cluster {
    pub(super) fn spec(&self) -> Result<VectorClusterSpec> {
        stored_spec(
            self.id,
            &self.version,
            [
                self.nodes,
                self.replication_factor,
                self.cpu_millicores,
                self.memory_mib,
                self.storage_gib,
            ],
            self.suspended_reason.is_some(),
            crate::backups::stored_policy(
                self.id,
                self.backup_schedule.as_deref(),
                self.backup_retention_days,
                self.backup_retention_count,
                self.backup_verify,
                self.backup_destination.as_ref(),
            )?,
            self.maintenance_window.as_ref().map(|w| w.0),
        )
    }
}

/// The spec stored in a cluster's row: `counts` are nodes, replication
/// factor, CPU millicores, memory MiB and storage GiB, in that order.
pub(crate) fn stored_spec(
    id: Uuid,
    version: &str,
    counts: [i32; 5],
    suspend: bool,
    backup: Option<crds::backup::BackupPolicy>,
    maintenance_window: Option<MaintenanceWindow>,
) -> Result<VectorClusterSpec> {
    let corrupt = |what: &str| {
        Error::Database(sqlx::Error::Decode(
            format!("cluster {id} has an invalid stored {what}").into(),
        ))
    };
    let [
        nodes,
        replication_factor,
        cpu_millicores,
        memory_mib,
        storage_gib,
    ] = counts.map(|n| u32::try_from(n).map_err(|_| corrupt("size")));
    Ok(VectorClusterSpec {
        version: version
            .parse::<EngineVersion>()
            .map_err(|_| corrupt("version"))?,
        nodes: nodes?,
        replication_factor: replication_factor?,
        resources: NodeResources {
            cpu_millicores: cpu_millicores?,
            memory_mib: memory_mib?,
            storage_gib: storage_gib?,
        },
        storage_class: None,
        suspend,
        allowed_source_cidrs: Vec::new(),
        backup,
        maintenance_window,
    })
}

impl resource::Row for Cluster {
    const KIND: Kind = Kind::Cluster;
    const SELECT: &'static str = "SELECT r.id, r.name, d.region, d.kind = 'simulated' AS simulated,
            r.version, r.nodes, r.replication_factor, r.cpu_millicores, r.memory_mib,
            r.storage_gib, r.generation, r.phase, r.observed_generation, r.current_version,
            r.ready_nodes, r.endpoint, r.conditions, r.created_at, r.updated_at,
            r.deletion_requested_at, r.suspended_reason, r.backup_schedule,
            r.backup_retention_days, r.backup_retention_count, r.backup_verify,
            r.backup_last_verified, d.backup_destination,
            r.restore_from, r.restore_phase, r.restore_message, r.maintenance_window,
            r.placement
         FROM vector_clusters r JOIN data_planes d ON d.id = r.data_plane_id";

    fn deletion_requested_at(&self) -> Option<DateTime<Utc>> {
        self.deletion_requested_at
    }
}

fn shape(spec: &VectorClusterSpec) -> ClusterShape {
    ClusterShape {
        nodes: spec.nodes,
        replication_factor: spec.replication_factor,
        storage_gib: spec.resources.storage_gib,
    }
}

pub async fn create(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    request: &CreateCluster,
) -> Result<Cluster> {
    access.require(Permission::ClustersWrite)?;
    let mut errors = ValidationErrors::default();
    let parsed = request.parse(&mut errors);
    // Looked up only when it can be: `parse` has said why otherwise.
    let region = crate::validation::region(&request.region).ok();
    let data_plane = match region {
        Some(region) => data_planes::by_region(conn, region).await?,
        None => None,
    };
    if data_plane.is_none() && region.is_some() {
        let known: Vec<String> = data_planes::regions(conn)
            .await?
            .into_iter()
            .map(|r| r.region)
            .collect();
        errors.add(
            "region",
            format!(
                "unknown region `{}`; available: {}",
                request.region,
                known.join(", ")
            ),
        );
    }
    let ((name, mut spec), data_plane) = errors.finish(parsed.zip(data_plane))?;

    let plan = organizations::lock_plan(conn, access, catalog).await?;
    if request.storage_gib.is_none() && plan.storage_hard_cap {
        // Unasked, a capped plan's cluster gets what fits under the cap.
        let fits = (plan.included_storage_gib / spec.nodes.max(1)).max(1);
        spec.resources.storage_gib = spec.resources.storage_gib.min(fits);
    }
    let existing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM vector_clusters
         WHERE organization_id = $1 AND deletion_requested_at IS NULL",
    )
    .bind(access.organization_id())
    .fetch_one(&mut *conn)
    .await?;
    let existing = u32::try_from(existing).unwrap_or(u32::MAX);
    entitlements::may_create_cluster(plan, existing, shape(&spec))?;

    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO vector_clusters (id, organization_id, data_plane_id, name, version, nodes,
             replication_factor, cpu_millicores, memory_mib, storage_gib)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(access.organization_id())
    .bind(data_plane)
    .bind(name.as_str())
    .bind(spec.version.to_string())
    .bind(sql_int(spec.nodes))
    .bind(sql_int(spec.replication_factor))
    .bind(sql_int(spec.resources.cpu_millicores))
    .bind(sql_int(spec.resources.memory_mib))
    .bind(sql_int(spec.resources.storage_gib))
    .execute(&mut *conn)
    .await
    .map_err(on_unique(
        "vector_clusters_organization_name_key",
        Conflict::ClusterNameTaken(name.as_str().to_owned()),
    ))?;
    resource::audit(
        conn,
        access,
        Kind::Cluster,
        "create",
        id,
        Some(serde_json::to_value(&spec).unwrap_or_default()),
    )
    .await?;
    get(conn, access, id).await
}

pub async fn get(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<Cluster> {
    access.require(Permission::ClustersRead)?;
    resource::get(conn, access, id).await
}

pub async fn list(
    conn: &mut PgConnection,
    access: &OrgAccess,
    page: PageRequest,
) -> Result<Page<Cluster>> {
    access.require(Permission::ClustersRead)?;
    resource::list(conn, access, page).await
}

/// Changes the desired spec. A request that changes nothing keeps the
/// generation, so a retried or repeated update is harmless.
pub async fn update(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    id: Uuid,
    request: &UpdateCluster,
) -> Result<Cluster> {
    access.require(Permission::ClustersWrite)?;
    let plan = organizations::lock_plan(conn, access, catalog).await?;
    let current: Cluster = resource::lock_for_change(conn, access, id).await?;
    let current_spec = current.spec()?;
    let mut errors = ValidationErrors::default();
    let next = request.apply(&current_spec, &mut errors);
    let next = errors.finish(next)?;
    if next == current_spec {
        return Ok(current);
    }
    entitlements::may_shape_cluster(plan, shape(&next))?;
    sqlx::query(
        "UPDATE vector_clusters SET version = $3, nodes = $4, replication_factor = $5,
             cpu_millicores = $6, memory_mib = $7, storage_gib = $8,
             generation = generation + 1, updated_at = now(),
             phase = CASE WHEN phase = 'Ready' THEN 'Updating' ELSE phase END
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(access.organization_id())
    .bind(id)
    .bind(next.version.to_string())
    .bind(sql_int(next.nodes))
    .bind(sql_int(next.replication_factor))
    .bind(sql_int(next.resources.cpu_millicores))
    .bind(sql_int(next.resources.memory_mib))
    .bind(sql_int(next.resources.storage_gib))
    .execute(&mut *conn)
    .await?;
    resource::audit(
        conn,
        access,
        Kind::Cluster,
        "update",
        id,
        Some(serde_json::json!({ "from": current_spec, "to": next })),
    )
    .await?;
    get(conn, access, id).await
}

/// Asks for the cluster to be deleted: it shows `Deleting` until the data
/// plane confirms it is gone. Asking twice is harmless.
pub async fn delete(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<Cluster> {
    access.require(Permission::ClustersWrite)?;
    resource::request_deletion(conn, access, Kind::Cluster, id).await?;
    get(conn, access, id).await
}
