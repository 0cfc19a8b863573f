//! The REST API's bodies, as this client reads and writes them. Its own
//! types, not the server's: the provider speaks the API like any client.
//! Responses ignore fields they do not name, so the API can grow.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A page in Stripe's list shape.
#[derive(Debug, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

/// An RFC 9457 problem document.
#[derive(Debug, Default, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Deserialize)]
pub struct Organization {
    pub id: Uuid,
    pub plan: String,
}

/// Also an object of `data.quartermaster_regions`, attribute for attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub region: String,
    pub simulated: bool,
}

/// Also an object of `data.quartermaster_plans`, attribute for attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub base_fee_minor: i64,
    pub currency: String,
    /// `None`: unlimited.
    pub max_vector_clusters: Option<i64>,
    pub max_nodes_per_cluster: i64,
    pub max_replication_factor: i64,
    pub max_gpus_per_endpoint: i64,
    pub included_storage_gib: i64,
    pub backups: String,
    /// Clusters may hold their restarts to a maintenance window.
    pub maintenance_windows: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CreateCluster {
    pub name: String,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(flatten)]
    pub shape: ClusterShape,
    /// Replaces all the labels when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// The resizable part of a cluster; fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterShape {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_millicores: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_gib: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateCluster {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(flatten)]
    pub shape: ClusterShape,
    /// Replaces all the labels when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// A cluster or an endpoint as the API shows it: where it is placed, its
/// spec `S` and the status the data plane reports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Placed<S> {
    pub id: Uuid,
    pub name: String,
    pub region: String,
    pub simulated: bool,
    /// Absent from answers of servers older than labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub spec: S,
    pub status: Status,
    pub deletion_requested_at: Option<String>,
}

pub type Cluster = Placed<ClusterSpec>;

pub type Endpoint = Placed<EndpointSpec>;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClusterSpec {
    pub version: String,
    pub nodes: i64,
    pub replication_factor: i64,
    pub cpu_millicores: i64,
    pub memory_mib: i64,
    pub storage_gib: i64,
    pub backup: Option<BackupPolicy>,
    pub maintenance_window: Option<MaintenanceWindow>,
    pub generation: i64,
}

/// The parts of a cluster's or an endpoint's status the provider reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Status {
    pub phase: String,
    pub observed_generation: i64,
    pub endpoint: Option<String>,
    /// Kubernetes-style conditions; read for their messages only.
    #[serde(default)]
    pub conditions: serde_json::Value,
    pub suspended_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupPolicy {
    pub schedule: String,
    pub retention_days: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_count: Option<i64>,
    /// Test restores of each backup (Business).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verify: bool,
}

/// When a cluster's nodes may begin restarting onto a new version or new
/// resources, in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceWindow {
    /// `mon` … `sun`; every day when `None` (sent as `null`).
    pub day: Option<String>,
    pub start_hour: i64,
    pub duration_hours: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CreateEndpoint {
    pub name: String,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    pub gpu_model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_count: Option<i64>,
    #[serde(flatten)]
    pub changes: UpdateEndpoint,
}

/// What an endpoint may change in place; fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateEndpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_to_zero_after_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_concurrency: Option<i64>,
    /// Replaces all the labels when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EndpointSpec {
    pub model_repository: Option<String>,
    pub model_revision: Option<String>,
    pub image: Option<String>,
    pub engine: String,
    pub gpu_model: String,
    pub gpu_count: i64,
    pub min_replicas: i64,
    pub max_replicas: i64,
    pub scale_to_zero_after_seconds: Option<i64>,
    pub target_concurrency: i64,
    pub generation: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateApiKey {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: BTreeSet<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// The answer to a creation that shows a secret this once: the resource,
/// and its secret (a key's `token`, a webhook endpoint's `secret`). A
/// replayed creation (same Idempotency-Key) has none.
#[derive(Debug, Deserialize)]
pub struct Created<K> {
    #[serde(flatten)]
    pub resource: K,
    #[serde(alias = "token")]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateInferenceKey {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InferenceKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub endpoint_id: Option<Uuid>,
    pub expires_at: Option<String>,
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateWebhookEndpoint {
    pub url: String,
    pub event_types: BTreeSet<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What a webhook endpoint may change; fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateWebhookEndpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<BTreeSet<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    /// Empty when it has none.
    pub description: String,
    pub event_types: BTreeSet<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Set by each rotation of the secret: until when the replaced one signs.
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
}

/// `GET …/clusters/{id}/downscale-risk?nodes=N`, the parts a plan tells.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DownscaleRisk {
    pub current_nodes: u32,
    pub nodes: u32,
    pub refused: Vec<String>,
    pub transfers: Vec<ShardTransfer>,
    pub removed_nodes: Vec<u32>,
    pub points: u64,
    pub bytes: u64,
    pub last_replica_leaving: Vec<ShardRef>,
    pub blocked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ShardTransfer {
    pub collection: String,
    pub shard: u32,
    pub kind: String,
    pub from_node: u32,
    pub to_node: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ShardRef {
    pub collection: String,
    pub shard: u32,
}
