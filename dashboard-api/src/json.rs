//! The API's request and response bodies. Requests refuse unknown fields;
//! numbers arrive as `i64` so the domain can name a negative size's field.

use chrono::{DateTime, Utc};
use control_plane::accounts::User;
use control_plane::api_keys::ApiKey;
use control_plane::clusters::{Cluster, CreateCluster, UpdateCluster};
use control_plane::data_planes::Region;
use control_plane::endpoints::{CreateEndpoint, Endpoint, EngineKind, UpdateEndpoint};

use control_plane::organizations::{Member, Membership, Organization};
use control_plane::page::Page;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A page of results, in Stripe's list shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<T>,
    /// Whether more items follow the last one; pass its id as `starting_after`.
    pub has_more: bool,
}

impl<T> List<T> {
    pub fn from_page<D>(page: Page<D>, convert: impl Fn(D) -> T) -> Self {
        List {
            object: "list",
            data: page.data.into_iter().map(convert).collect(),
            has_more: page.has_more,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 100; 20 when left out.
    pub limit: Option<i64>,
    /// The id of the last item of the previous page.
    pub starting_after: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At least 12 characters.
    pub password: String,
    /// Defaults to "<name>'s organization".
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub organization_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserJson {
    pub id: Uuid,
    pub email: String,
    pub is_platform_admin: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserJson {
    fn from(u: User) -> Self {
        UserJson {
            id: u.id,
            email: u.email,
            is_platform_admin: u.is_platform_admin,
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignupResponse {
    pub user: UserJson,
    pub organization: OrganizationJson,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserJson,
    pub memberships: Vec<MembershipJson>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationJson {
    pub id: Uuid,
    pub name: String,
    /// The plan's catalog id: `free`, `starter`, `business`.
    pub plan: String,
    pub created_at: DateTime<Utc>,
}

impl From<Organization> for OrganizationJson {
    fn from(o: Organization) -> Self {
        OrganizationJson {
            id: o.id,
            name: o.name,
            plan: o.plan,
            created_at: o.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipJson {
    pub organization_id: Uuid,
    pub organization_name: String,
    /// `owner`, `admin`, `member` or `billing`.
    pub role: String,
}

impl From<Membership> for MembershipJson {
    fn from(m: Membership) -> Self {
        MembershipJson {
            organization_id: m.organization_id,
            organization_name: m.organization_name,
            role: m.role.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberJson {
    pub user_id: Uuid,
    pub email: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

impl From<Member> for MemberJson {
    fn from(m: Member) -> Self {
        MemberJson {
            user_id: m.user_id,
            email: m.email,
            role: m.role.to_string(),
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The email of an existing user.
    pub email: String,
    /// `owner`, `admin`, `member` or `billing`.
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    pub name: String,
    /// Defaults to running workloads: `clusters:read`, `clusters:write`,
    /// `endpoints:read`, `endpoints:write` and `usage:read`.
    #[schema(example = json!(["clusters:read", "clusters:write"]))]
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyJson {
    /// Always `api_key`.
    pub object: &'static str,
    pub id: Uuid,
    pub name: String,
    /// The public part of the token, to recognize a key by.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyJson {
    fn from(k: ApiKey) -> Self {
        ApiKeyJson {
            object: "api_key",
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.0.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyJson,
    /// The secret, shown this once. Send it as `Authorization: Bearer <token>`.
    /// A replay of the creating request does not show it again.
    pub token: String,
}

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
}

impl From<CreateClusterRequest> for CreateCluster {
    fn from(r: CreateClusterRequest) -> Self {
        CreateCluster {
            name: r.name,
            region: r.region,
            version: r.version,
            nodes: r.nodes,
            replication_factor: r.replication_factor,
            cpu_millicores: r.cpu_millicores,
            memory_mib: r.memory_mib,
            storage_gib: r.storage_gib,
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
    /// spend limit); absent when it is not.
    pub suspended_reason: Option<String>,
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

impl From<Cluster> for ClusterJson {
    fn from(c: Cluster) -> Self {
        ClusterJson {
            object: "vector_cluster",
            id: c.id,
            name: c.name,
            region: c.region,
            simulated: c.simulated,
            spec: ClusterSpecJson {
                version: c.version,
                nodes: c.nodes,
                replication_factor: c.replication_factor,
                cpu_millicores: c.cpu_millicores,
                memory_mib: c.memory_mib,
                storage_gib: c.storage_gib,
                backup: c.backup_schedule.map(|schedule| BackupPolicyJson {
                    schedule,
                    retention_days: c.backup_retention_days.map_or(0, i64::from),
                    retention_count: c.backup_retention_count.map(i64::from),
                    verify: c.backup_verify,
                }),
                maintenance_window: c.maintenance_window.map(|w| MaintenanceWindowJson {
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointRequest {
    /// A DNS label: 3 to 40 lowercase letters, digits or '-'.
    #[schema(example = "chat")]
    pub name: String,
    pub region: String,
    /// A model hub repository, such as `meta-llama/Llama-3.1-8B-Instruct`; or give `image`.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub model_repository: Option<String>,
    /// A commit or tag of the repository; `main` when left out.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub model_revision: Option<String>,
    /// A container image that serves a model itself, instead of a hub model.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub image: Option<String>,
    /// `vllm` (default) or `tgi`.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub engine: Option<String>,
    /// `nvidia-l4`, `nvidia-a100-80gb` or `nvidia-h100-80gb`.
    pub gpu_model: String,
    /// GPUs per replica, 1 to 8 (within the plan's limit).
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub gpu_count: Option<i64>,
    /// 0 allows scaling to zero when idle (then `scale_to_zero_after_seconds` is required).
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub min_replicas: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub max_replicas: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub scale_to_zero_after_seconds: Option<i64>,
    /// Concurrent requests per replica the autoscaler aims for.
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub target_concurrency: Option<i64>,
}

/// Fields left out stay as they are. A new `model_revision` rolls the
/// endpoint with no capacity lost, and rolls back if it never becomes Ready.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpointRequest {
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub model_revision: Option<String>,
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub image: Option<String>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub min_replicas: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub max_replicas: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub scale_to_zero_after_seconds: Option<i64>,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    #[schema(nullable = false)]
    pub target_concurrency: Option<i64>,
}

impl From<UpdateEndpointRequest> for UpdateEndpoint {
    fn from(r: UpdateEndpointRequest) -> Self {
        UpdateEndpoint {
            model_revision: r.model_revision,
            image: r.image,
            min_replicas: r.min_replicas,
            max_replicas: r.max_replicas,
            scale_to_zero_after_seconds: r.scale_to_zero_after_seconds,
            target_concurrency: r.target_concurrency,
        }
    }
}

impl From<CreateEndpointRequest> for CreateEndpoint {
    fn from(r: CreateEndpointRequest) -> Self {
        CreateEndpoint {
            name: r.name,
            region: r.region,
            model_repository: r.model_repository,
            model_revision: r.model_revision,
            image: r.image,
            engine: r.engine,
            gpu_model: r.gpu_model,
            gpu_count: r.gpu_count,
            scaling: UpdateEndpoint {
                model_revision: None,
                image: None,
                min_replicas: r.min_replicas,
                max_replicas: r.max_replicas,
                scale_to_zero_after_seconds: r.scale_to_zero_after_seconds,
                target_concurrency: r.target_concurrency,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointJson {
    /// Always `inference_endpoint`.
    pub object: &'static str,
    pub id: Uuid,
    pub name: String,
    pub region: String,
    /// Placed in a simulated data plane, which serves no traffic.
    pub simulated: bool,
    pub spec: EndpointSpecJson,
    pub status: EndpointStatusJson,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deletion_requested_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointSpecJson {
    pub model_repository: Option<String>,
    pub model_revision: Option<String>,
    pub image: Option<String>,
    pub engine: &'static str,
    pub gpu_model: String,
    pub gpu_count: u32,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub scale_to_zero_after_seconds: Option<u32>,
    pub target_concurrency: u32,
    pub generation: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointStatusJson {
    /// Pending, Provisioning, Ready, Updating, Degraded, ScaledToZero, Suspended or Deleting.
    pub phase: String,
    pub observed_generation: i64,
    /// What the ready replicas serve: `repository@revision` or the image.
    pub served_revision: Option<String>,
    pub ready_replicas: i32,
    pub endpoint: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub conditions: serde_json::Value,
    pub wake_requested_at: Option<DateTime<Utc>>,
    /// Why the endpoint is suspended; absent when it is not.
    pub suspended_reason: Option<String>,
}

impl From<Endpoint> for EndpointJson {
    fn from(e: Endpoint) -> Self {
        let spec = e.spec;
        EndpointJson {
            object: "inference_endpoint",
            id: e.id,
            name: e.name,
            region: e.region,
            simulated: e.simulated,
            spec: EndpointSpecJson {
                model_repository: spec.model.as_ref().map(|m| m.repository.clone()),
                model_revision: spec.model.as_ref().map(|m| m.revision.clone()),
                image: spec.image.clone(),
                engine: match spec.engine {
                    EngineKind::Vllm => "vllm",
                    EngineKind::Tgi => "tgi",
                },
                gpu_model: spec.gpu.model.clone(),
                gpu_count: spec.gpu.count,
                min_replicas: spec.replicas.min,
                max_replicas: spec.replicas.max,
                scale_to_zero_after_seconds: spec.replicas.scale_to_zero_after_seconds,
                target_concurrency: spec.target_concurrency,
                generation: e.generation,
            },
            status: EndpointStatusJson {
                phase: e.phase.as_str().to_owned(),
                observed_generation: e.observed_generation,
                served_revision: e.served_revision,
                ready_replicas: e.ready_replicas,
                endpoint: e.endpoint,
                conditions: e.conditions,
                wake_requested_at: e.wake_requested_at,
                suspended_reason: e.suspended_reason,
            },
            created_at: e.created_at,
            updated_at: e.updated_at,
            deletion_requested_at: e.deletion_requested_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionJson {
    pub region: String,
    pub simulated: bool,
}

impl From<Region> for RegionJson {
    fn from(r: Region) -> Self {
        RegionJson {
            region: r.region,
            simulated: r.simulated,
        }
    }
}

/// An RFC 9457 problem document, sent as `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemJson {
    /// A URI under https://quartermaster.dev/problems/ that names the kind of error.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// For validation errors: each field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorJson>>,
    /// For plan limits: which limit was hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorJson {
    pub field: String,
    pub message: String,
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
