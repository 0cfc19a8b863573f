//! What a data plane reports about a cluster, in the control plane's terms,
//! and what the provisioner writes back of either kind's status.

use serde_json::Value;

use crate::clusters::ClusterPhase;

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub phase: ClusterPhase,
    /// The control plane generation the data plane has acted on.
    pub observed_generation: i64,
    pub current_version: Option<String>,
    pub ready_nodes: i32,
    pub endpoint: Option<String>,
    pub conditions: Value,
    /// Where the shards are, where the data plane has read it.
    pub placement: Option<crds::vector_cluster::Placement>,
    /// How the newest test restore of a backup went.
    pub last_verified: Option<crds::backup::Verification>,
}

/// A status as the provisioner writes it back, in the terms both kinds of
/// resource share.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mirrored<'a> {
    pub phase: &'a str,
    pub observed_generation: i64,
    /// The version a cluster runs, or the revision an endpoint serves.
    pub revision: Option<&'a str>,
    /// A cluster's ready nodes, or an endpoint's ready replicas.
    pub ready: i32,
    pub endpoint: Option<&'a str>,
    pub conditions: &'a Value,
}

/// A cluster as the provisioner tracks it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Tracked {
    pub id: uuid::Uuid,
    pub organization_id: uuid::Uuid,
    pub name: String,
    pub data_plane_id: uuid::Uuid,
    pub generation: i64,
    pub applied_generation: i64,
    pub applied_at: Option<chrono::DateTime<chrono::Utc>>,
    pub deletion_requested_at: Option<chrono::DateTime<chrono::Utc>>,
    pub version: String,
    pub nodes: i32,
    pub replication_factor: i32,
    pub cpu_millicores: i32,
    pub memory_mib: i32,
    pub storage_gib: i32,
    pub observed_generation: i64,
    pub current_version: Option<String>,
    pub ready_nodes: i32,
    pub suspended: bool,
    pub backup_schedule: Option<String>,
    pub backup_retention_days: Option<i32>,
    pub backup_retention_count: Option<i32>,
    pub backup_verify: bool,
    pub backup_destination: Option<sqlx::types::Json<serde_json::Value>>,
    pub maintenance_window: Option<sqlx::types::Json<crds::maintenance::MaintenanceWindow>>,
}
