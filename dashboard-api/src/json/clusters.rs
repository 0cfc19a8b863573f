//! Vector clusters: their spec and status, backups policy, maintenance
//! window, restores, test restores and the downscale risk.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use control_plane::backups::PolicyRequest;
use control_plane::clusters::maintenance::WindowRequest;
use control_plane::clusters::{Cluster, CreateCluster, UpdateCluster};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClusterRequest {
    /// A DNS label: 3 to 40 lowercase letters, digits or '-'.
    #[schema(example = "search-prod")]
    pub name: String,
    /// A region from `GET /v1/regions`.
    pub region: String,
    /// Qdrant version; the current default when left out.
    #[schema(example = "1.13.6")]
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub nodes: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub replication_factor: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub cpu_millicores: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub memory_mib: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub storage_gib: Option<i64>,
    /// Labels: keys and values as Kubernetes labels (`team`,
    /// `example.com/cost-center`; values up to 63 characters, may be
    /// empty), at most 64. Metadata for cost allocation, not part of the
    /// spec.
    #[serde(default)]
    #[schema(example = json!({"team": "search"}))]
    pub labels: BTreeMap<String, String>,
}

impl From<CreateClusterRequest> for CreateCluster {
    fn from(r: CreateClusterRequest) -> Self {
        CreateCluster {
            name: r.name,
            region: r.region,
            spec: UpdateCluster {
                version: r.version,
                nodes: r.nodes,
                replication_factor: r.replication_factor,
                cpu_millicores: r.cpu_millicores,
                memory_mib: r.memory_mib,
                storage_gib: r.storage_gib,
            },
            labels: r.labels,
        }
    }
}

/// Fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClusterRequest {
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub nodes: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub replication_factor: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub cpu_millicores: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub memory_mib: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub storage_gib: Option<i64>,
    /// Replaces all the labels (send `{}` to remove them); left out, they
    /// stay as they are. A change of labels alone moves no generation and
    /// restarts nothing; usage is counted under the new labels from the
    /// next hour that starts after it.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false, example = json!({"team": "search"}))]
    pub labels: Option<BTreeMap<String, String>>,
}

impl From<UpdateClusterRequest> for UpdateCluster {
    fn from(r: UpdateClusterRequest) -> Self {
        UpdateCluster {
            version: r.version,
            nodes: r.nodes,
            replication_factor: r.replication_factor,
            cpu_millicores: r.cpu_millicores,
            memory_mib: r.memory_mib,
            storage_gib: r.storage_gib,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterJson {
    /// Always `vector_cluster`.
    pub object: &'static str,
    pub id: Uuid,
    pub name: String,
    pub region: String,
    /// Placed in a simulated data plane, which serves no traffic.
    pub simulated: bool,
    pub spec: ClusterSpecJson,
    pub status: ClusterStatusJson,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deletion_requested_at: Option<DateTime<Utc>>,
    /// Made from a backup: how loading it went.
    pub restore: Option<RestoreJson>,
    /// Its labels (metadata for cost allocation).
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterSpecJson {
    pub version: String,
    pub nodes: i32,
    pub replication_factor: i32,
    pub cpu_millicores: i32,
    pub memory_mib: i32,
    pub storage_gib: i32,
    /// Scheduled backups; absent when there are none.
    pub backup: Option<BackupPolicyJson>,
    /// When nodes may begin restarting onto a new version or new resources;
    /// absent: at once.
    pub maintenance_window: Option<MaintenanceWindowJson>,
    /// Moves on every change of the spec.
    pub generation: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupPolicyJson {
    /// Cron in UTC (`0 2 * * *`) or `@daily`, `@hourly`.
    pub schedule: String,
    #[serde(deserialize_with = "crate::body::whole")]
    pub retention_days: i64,
    /// Successful backups kept, newest first; the retention in days if unset.
    #[serde(
        default,
        deserialize_with = "crate::body::optional_whole",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(nullable = false)]
    pub retention_count: Option<i64>,
    /// Restore each backup into a throwaway one-node cluster, not billed,
    /// that proves every collection's point count (Business). False when
    /// left out.
    #[serde(default)]
    pub verify: bool,
}

impl From<BackupPolicyJson> for PolicyRequest {
    fn from(b: BackupPolicyJson) -> Self {
        PolicyRequest {
            schedule: b.schedule,
            retention_days: b.retention_days,
            retention_count: b.retention_count,
            verify: b.verify,
        }
    }
}

/// The hours, in UTC, in which a cluster's nodes may begin restarting: a
/// change waits for the window, and a roll that began goes on past it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindowJson {
    /// `mon` … `sun`; every day when absent or `null` (clients such as
    /// the Terraform provider send `null` for it).
    pub day: Option<String>,
    /// The hour it opens, UTC (0 to 23).
    #[serde(deserialize_with = "crate::body::whole")]
    pub start_hour: i64,
    /// How long it stays open, in hours (1 to 24).
    #[serde(deserialize_with = "crate::body::whole")]
    pub duration_hours: i64,
}

impl From<MaintenanceWindowJson> for WindowRequest {
    fn from(w: MaintenanceWindowJson) -> Self {
        WindowRequest {
            day: w.day,
            start_hour: w.start_hour,
            duration_hours: w.duration_hours,
        }
    }
}

/// Where loading the backup a cluster was made from stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestoreJson {
    pub backup_id: Uuid,
    /// Pending (until the cluster is Ready), Running, Succeeded or Failed.
    pub phase: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterStatusJson {
    /// Pending, Provisioning, Ready, Updating, Degraded, Suspended or Deleting.
    pub phase: &'static str,
    /// The generation the data plane has acted on.
    pub observed_generation: i64,
    pub current_version: Option<String>,
    pub ready_nodes: i32,
    pub endpoint: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub conditions: serde_json::Value,
    /// Why the cluster is suspended (an unpaid invoice, the storage cap, a
    /// spend limit, idleness); absent when it is not.
    pub suspended_reason: Option<String>,
    /// Who suspended it: `billing`, `storage_cap`, `spend_limit`, `admin`,
    /// or `idle` (lifted by `POST …/resume`); absent when it is not.
    pub suspended_by: Option<String>,
    /// How the newest test restore of a backup went (`backup.verify`).
    pub last_verified_backup: Option<VerificationJson>,
}

/// A backup restored into a throwaway cluster to prove it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationJson {
    /// The backup's name.
    pub backup: String,
    pub finished_at: String,
    /// Every collection came back with the points the backup counted.
    pub succeeded: bool,
    /// What was checked, or what went wrong.
    pub message: Option<String>,
}

/// A size as the answer states it (the spec's bounds keep it in range).
fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl From<Cluster> for ClusterJson {
    fn from(c: Cluster) -> Self {
        ClusterJson {
            object: "vector_cluster",
            id: c.id,
            name: c.name,
            region: c.region,
            simulated: c.simulated,
            labels: c.labels,
            spec: ClusterSpecJson {
                version: c.spec.version.to_string(),
                nodes: int(c.spec.nodes),
                replication_factor: int(c.spec.replication_factor),
                cpu_millicores: int(c.spec.resources.cpu_millicores),
                memory_mib: int(c.spec.resources.memory_mib),
                storage_gib: int(c.spec.resources.storage_gib),
                backup: c.spec.backup.map(|b| BackupPolicyJson {
                    schedule: b.schedule,
                    retention_days: i64::from(b.retention.max_age_days),
                    retention_count: Some(i64::from(b.retention.count)),
                    verify: b.verify,
                }),
                maintenance_window: c.spec.maintenance_window.map(|w| MaintenanceWindowJson {
                    day: w.day.map(|d| d.as_str().to_owned()),
                    start_hour: i64::from(w.start_hour),
                    duration_hours: i64::from(w.duration_hours),
                }),
                generation: c.generation,
            },
            status: ClusterStatusJson {
                phase: c.phase.as_str(),
                observed_generation: c.observed_generation,
                current_version: c.current_version,
                ready_nodes: c.ready_nodes,
                endpoint: c.endpoint,
                conditions: c.conditions.0,
                suspended_reason: c.suspended_reason,
                suspended_by: c.suspended_by,
                last_verified_backup: c.backup_last_verified.map(|v| VerificationJson {
                    backup: v.0.backup,
                    finished_at: v.0.finished_at,
                    succeeded: v.0.succeeded,
                    message: v.0.message,
                }),
            },
            created_at: c.created_at,
            updated_at: c.updated_at,
            deletion_requested_at: c.deletion_requested_at,
            restore: c.restore_from.map(|backup_id| RestoreJson {
                backup_id,
                phase: c.restore_phase,
                message: c.restore_message,
            }),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DownscaleRiskParams {
    /// The node count asked about (1 to 64).
    pub nodes: i64,
}

/// What resizing a cluster to `nodes` would do to its data, step by step
/// as the operator would take it: shards move off the leaving nodes (the
/// highest ordinals) one transfer at a time, the nodes leave Qdrant's
/// consensus, and only then do they stop.
#[derive(Debug, Serialize, ToSchema)]
pub struct DownscaleRiskJson {
    /// Always `downscale_risk`.
    pub object: &'static str,
    pub cluster_id: Uuid,
    pub current_nodes: u32,
    pub nodes: u32,
    pub replication_factor: u32,
    /// Why such a resize would be refused; empty: it would be accepted.
    pub refused: Vec<String>,
    /// Shards that move or gain a copy, in the order they would.
    pub transfers: Vec<ShardTransferJson>,
    /// Extra replicas dropped where the staying nodes hold enough copies.
    pub dropped: Vec<ShardOnNodeJson>,
    /// Nodes (pod ordinals) removed from Qdrant's consensus.
    pub removed_nodes: Vec<u32>,
    /// Points the transfers copy, each shard taken as an even share of its
    /// collection.
    pub points: u64,
    /// Vector bytes the transfers copy; payloads and indexes come on top.
    pub bytes: u64,
    /// Shards whose every replica is on a leaving node: their only copy
    /// moves before the node goes.
    pub last_replica_leaving: Vec<ShardRefJson>,
    /// Why the operator could not finish such a resize, were it asked.
    pub blocked: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShardTransferJson {
    pub collection: String,
    pub shard: u32,
    /// `move` (the source gives up its replica) or `copy`.
    pub kind: &'static str,
    pub from_node: u32,
    pub to_node: u32,
    pub points: u64,
    pub bytes: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShardOnNodeJson {
    pub collection: String,
    pub shard: u32,
    pub node: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShardRefJson {
    pub collection: String,
    pub shard: u32,
}

impl From<control_plane::clusters::ResizeRisk> for DownscaleRiskJson {
    fn from(r: control_plane::clusters::ResizeRisk) -> Self {
        let risk = r.risk;
        DownscaleRiskJson {
            object: "downscale_risk",
            cluster_id: r.cluster_id,
            current_nodes: r.current_nodes,
            nodes: r.nodes,
            replication_factor: r.replication_factor,
            refused: r.refused,
            transfers: risk
                .transfers
                .into_iter()
                .map(|t| ShardTransferJson {
                    collection: t.collection,
                    shard: t.shard,
                    kind: t.kind,
                    from_node: t.from_node,
                    to_node: t.to_node,
                    points: t.points,
                    bytes: t.bytes,
                })
                .collect(),
            dropped: risk
                .dropped
                .into_iter()
                .map(|d| ShardOnNodeJson {
                    collection: d.collection,
                    shard: d.shard,
                    node: d.node,
                })
                .collect(),
            removed_nodes: risk.removed_nodes,
            points: risk.points,
            bytes: risk.bytes,
            last_replica_leaving: risk
                .last_replica_leaving
                .into_iter()
                .map(|s| ShardRefJson {
                    collection: s.collection,
                    shard: s.shard,
                })
                .collect(),
            blocked: risk.blocked,
        }
    }
}
