//! Vector cluster operations: rules and transactions over `vector_clusters`.
//! Every statement is scoped by the caller's organization.

use billing::Catalog;
use billing::entitlements::{self, ClusterShape};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crds::VectorClusterSpec;
use crds::backup::Verification;
use crds::vector_cluster::{Phase, Placement};
use serde::Serialize;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::{ClusterName, CreateCluster, UpdateCluster};
use crate::access::{OrgAccess, Permission};
use crate::labels::Labels;
use crate::page::{Page, PageRequest};
use crate::resource::{self, Kind};
use crate::validation::ValidationErrors;
use crate::{Result, data_planes, organizations};

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Cluster {
    pub id: Uuid,
    pub name: String,
    pub region: String,
    /// Placed in a simulated data plane: it serves nothing.
    pub simulated: bool,
    /// What the customer asked for, with `suspend` as the money flow has
    /// it.
    #[sqlx(json)]
    pub spec: VectorClusterSpec,
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
    /// Its labels, checked as Kubernetes labels; not part of the spec.
    #[sqlx(json)]
    pub labels: BTreeMap<String, String>,
    /// Who suspended it ([`crate::money::suspension::Cause`]); an `idle`
    /// suspension is the customer's to lift.
    pub suspended_by: Option<String>,
    /// How the newest test restore of a backup went.
    pub backup_last_verified: Option<Json<Verification>>,
    /// Where its data plane keeps backups; `None`: backups unavailable there.
    #[serde(skip)]
    pub backup_destination: Option<Json<serde_json::Value>>,
    /// The backup this cluster was made from, and how loading it went.
    pub restore_from: Option<Uuid>,
    pub restore_phase: Option<String>,
    pub restore_message: Option<String>,
    /// Where its shards are, as its data plane last reported.
    #[serde(skip)]
    pub placement: Option<Json<Placement>>,
}

impl resource::Managed for Cluster {
    const KIND: Kind = Kind::Cluster;
    const COLUMNS: &'static str =
        "r.suspended_by, r.current_version, r.ready_nodes, r.backup_last_verified,
            d.backup_destination, r.restore_from, r.restore_phase, r.restore_message, r.placement";
    type Spec = VectorClusterSpec;

    fn id(&self) -> Uuid {
        self.id
    }

    fn spec(&self) -> &VectorClusterSpec {
        &self.spec
    }

    fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    fn deletion_requested_at(&self) -> Option<DateTime<Utc>> {
        self.deletion_requested_at
    }

    fn rolls(from: &VectorClusterSpec, to: &VectorClusterSpec) -> bool {
        let running = |s: &VectorClusterSpec| VectorClusterSpec {
            backup: None,
            maintenance_window: None,
            ..s.clone()
        };
        running(from) != running(to)
    }
}

/// What a plan limits of a cluster.
pub(crate) fn shape(spec: &VectorClusterSpec) -> ClusterShape {
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
    let labels = Labels::parse(&request.labels, &mut errors);
    let data_plane =
        data_planes::placing(conn, &request.region, access.organization_id(), &mut errors).await?;
    let (((name, spec), labels), data_plane) = errors.finish(parsed.zip(labels).zip(data_plane))?;
    admit(
        conn,
        access,
        catalog,
        data_plane,
        (&name, &labels),
        spec,
        request.spec.storage_gib.is_none(),
    )
    .await
}

/// Stores a new cluster `name` with `labels` of `spec` in `data_plane` if
/// the plan admits it. With `fit_storage` (none was asked for), a capped
/// plan's cluster gets what fits under the cap.
pub(crate) async fn admit(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    data_plane: Uuid,
    (name, labels): (&ClusterName, &Labels),
    mut spec: VectorClusterSpec,
    fit_storage: bool,
) -> Result<Cluster> {
    let plan = organizations::lock_plan(conn, access, catalog).await?;
    if fit_storage && plan.storage_hard_cap {
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

    let id =
        resource::create::<Cluster>(conn, access, data_plane, name.as_str(), &spec, labels).await?;
    get(conn, access, id).await
}

pub async fn get(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<Cluster> {
    resource::get(conn, access, id).await
}

pub async fn list(
    conn: &mut PgConnection,
    access: &OrgAccess,
    page: PageRequest,
) -> Result<Page<Cluster>> {
    resource::list(conn, access, page).await
}

/// Changes the desired spec, and with `labels` replaces the labels from
/// `now` on. A request that changes nothing keeps the generation, so a
/// retried or repeated update is harmless; labels never move it.
pub async fn update(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    id: Uuid,
    (request, labels): (&UpdateCluster, Option<&BTreeMap<String, String>>),
    now: DateTime<Utc>,
) -> Result<Cluster> {
    access.require(Permission::ClustersWrite)?;
    let plan = organizations::lock_plan(conn, access, catalog).await?;
    resource::change_requested(
        conn,
        access,
        id,
        labels,
        now,
        |current, errors| request.apply(current, errors),
        |next: &VectorClusterSpec| Ok(entitlements::may_shape_cluster(plan, shape(next))?),
    )
    .await
}

/// Asks for the cluster to be deleted: it shows `Deleting` until the data
/// plane confirms it is gone. Asking twice is harmless.
pub async fn delete(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<Cluster> {
    resource::delete(conn, access, id).await
}
