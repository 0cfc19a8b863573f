//! Inference endpoints.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use control_plane::endpoints::{CreateEndpoint, Endpoint, EngineKind, UpdateEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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
    /// Labels: keys and values as Kubernetes labels (`team`,
    /// `example.com/cost-center`; values up to 63 characters, may be
    /// empty), at most 64. Metadata for cost allocation, not part of the
    /// spec.
    #[serde(default)]
    #[schema(example = json!({"team": "search"}))]
    pub labels: BTreeMap<String, String>,
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
    /// Replaces all the labels (send `{}` to remove them); left out, they
    /// stay as they are. A change of labels alone moves no generation and
    /// restarts nothing; usage is counted under the new labels from the
    /// next hour that starts after it.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false, example = json!({"team": "search"}))]
    pub labels: Option<BTreeMap<String, String>>,
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
            labels: r.labels,
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
    /// The OpenAI-compatible base URL to call it at with an inference key
    /// (its data plane's gateway, then `/v1`); `null` while the data plane
    /// has no gateway.
    pub base_url: Option<String>,
    pub spec: EndpointSpecJson,
    pub status: EndpointStatusJson,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deletion_requested_at: Option<DateTime<Utc>>,
    /// Its labels (metadata for cost allocation).
    pub labels: BTreeMap<String, String>,
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
        let base_url = e.base_url();
        let spec = e.spec;
        EndpointJson {
            object: "inference_endpoint",
            id: e.id,
            name: e.name,
            region: e.region,
            simulated: e.simulated,
            labels: e.labels,
            base_url,
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
