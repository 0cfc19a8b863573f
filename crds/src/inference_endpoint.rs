//! `InferenceEndpoint`: a model served on GPUs behind an OpenAI-compatible
//! API, scaled by load and, when allowed, to zero when idle.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::condition::Condition;
use crate::SpecViolation;
use crate::gpu;

#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "quartermaster.dev",
    version = "v1alpha1",
    kind = "InferenceEndpoint",
    validation = Rule::new("size(self.metadata.name) <= 40")
        .message("an endpoint name has at most 40 characters"),
    namespaced,
    status = "InferenceEndpointStatus",
    shortname = "ie",
    category = "quartermaster",
    doc = "A tenant's GPU inference endpoint",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.model.repository"),
    printcolumn(
        name = "Revision",
        type_ = "string",
        json_path = ".status.servedRevision"
    ),
    printcolumn(name = "GPU", type_ = "string", json_path = ".spec.gpu.model"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct InferenceEndpointSpec {
    /// A model from a model hub, served by `engine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<HubModel>,
    /// Or a container image that serves a model itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default)]
    pub engine: EngineKind,
    pub gpu: GpuRequest,
    pub replicas: Replicas,
    /// Concurrent requests per replica the autoscaler aims for.
    #[schemars(range(min = 1, max = 1024))]
    pub target_concurrency: u32,
    pub resources: EndpointResources,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvEntry>,
    /// Run no replicas whatever the load (the control plane suspends an
    /// endpoint for an unpaid bill or a spend limit); a wake is ignored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HubModel {
    /// For example `meta-llama/Llama-3.1-8B-Instruct`.
    pub repository: String,
    /// A commit or tag; changing it rolls the endpoint to the new weights.
    pub revision: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    #[default]
    Vllm,
    Tgi,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GpuRequest {
    /// A GPU model id such as `nvidia-l4` or `nvidia-h100-80gb`.
    pub model: String,
    /// GPUs per replica; the model is split across them (tensor parallel).
    #[schemars(range(min = 1, max = 8))]
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.min <= self.max").message("replicas.min must be at most replicas.max"),
    validation = Rule::new("self.min > 0 || has(self.scaleToZeroAfterSeconds)")
        .message("replicas.scaleToZeroAfterSeconds is required when replicas.min is 0")
)]
pub struct Replicas {
    /// 0 allows scaling to zero when idle.
    #[schemars(range(min = 0, max = 64))]
    pub min: u32,
    #[schemars(range(min = 1, max = 64))]
    pub max: u32,
    /// With `min: 0`: scale to zero after this long without a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 604800))]
    pub scale_to_zero_after_seconds: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointResources {
    #[schemars(range(min = 250, max = 256000))]
    pub cpu_millicores: u32,
    #[schemars(range(min = 512, max = 2097152))]
    pub memory_mib: u32,
    /// Shared memory for the engine's worker processes.
    #[schemars(range(min = 64, max = 1048576))]
    pub shm_mib: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvEntry {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum EndpointPhase {
    #[default]
    Pending,
    Provisioning,
    Ready,
    Updating,
    Degraded,
    ScaledToZero,
    Suspended,
    Deleting,
}

impl EndpointPhase {
    const ALL: [EndpointPhase; 8] = [
        EndpointPhase::Pending,
        EndpointPhase::Provisioning,
        EndpointPhase::Ready,
        EndpointPhase::Updating,
        EndpointPhase::Degraded,
        EndpointPhase::ScaledToZero,
        EndpointPhase::Suspended,
        EndpointPhase::Deleting,
    ];

    /// The phase's name, as it is serialized and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointPhase::Pending => "Pending",
            EndpointPhase::Provisioning => "Provisioning",
            EndpointPhase::Ready => "Ready",
            EndpointPhase::Updating => "Updating",
            EndpointPhase::Degraded => "Degraded",
            EndpointPhase::ScaledToZero => "ScaledToZero",
            EndpointPhase::Suspended => "Suspended",
            EndpointPhase::Deleting => "Deleting",
        }
    }
}

impl TryFrom<String> for EndpointPhase {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        EndpointPhase::ALL
            .into_iter()
            .find(|p| p.as_str() == value)
            .ok_or_else(|| format!("unknown endpoint phase `{value}`"))
    }
}

/// The model an endpoint serves: what a rollback returns to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Served {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<HubModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InferenceEndpointStatus {
    pub observed_generation: Option<i64>,
    pub phase: EndpointPhase,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub ready_replicas: u32,
    /// The model revision (or image) every ready replica serves.
    pub served_revision: Option<String>,
    /// The last model that became Ready: where a failed rollout goes back to.
    pub last_good: Option<Served>,
    /// A revision that never became Ready and was rolled back; not retried
    /// until the spec changes again.
    pub failed_revision: Option<String>,
    pub endpoint: Option<String>,
    /// When a request was last seen (RFC 3339), for scale to zero.
    pub last_request_at: Option<String>,
    /// The request counter at `lastRequestAt`.
    pub requests_seen: Option<u64>,
}

impl InferenceEndpointSpec {
    pub fn served(&self) -> Served {
        Served {
            model: self.model.clone(),
            image: self.image.clone(),
        }
    }

    pub fn violations(&self) -> Vec<SpecViolation> {
        let mut found = Vec::new();
        let mut add = |field: &'static str, path: &'static str, message: String| {
            found.push(SpecViolation::new(field, path, message))
        };
        match (&self.model, &self.image) {
            (Some(_), Some(_)) | (None, None) => add(
                "model",
                "spec.model",
                "give either a hub model (repository and revision) or an image, not both".into(),
            ),
            (Some(m), None) if m.repository.trim().is_empty() || m.revision.trim().is_empty() => {
                add(
                    "model",
                    "spec.model",
                    "a hub model needs a repository and a revision".into(),
                )
            }
            _ => {}
        }
        if gpu::model(&self.gpu.model).is_none() {
            add(
                "gpu_model",
                "spec.gpu.model",
                format!(
                    "unknown GPU model `{}`; known: {}",
                    self.gpu.model,
                    gpu::known()
                ),
            );
        }
        if !(1..=8).contains(&self.gpu.count) {
            add("gpu_count", "spec.gpu.count", "must be from 1 to 8".into());
        }
        if self.replicas.max == 0 || self.replicas.min > self.replicas.max {
            add(
                "max_replicas",
                "spec.replicas.max",
                format!(
                    "must be at least 1 and at least min_replicas ({})",
                    self.replicas.min
                ),
            );
        }
        if self.replicas.min == 0 && self.replicas.scale_to_zero_after_seconds.is_none() {
            add(
                "scale_to_zero_after_seconds",
                "spec.replicas.scaleToZeroAfterSeconds",
                "is required when min_replicas is 0".into(),
            );
        }
        found
    }
}

impl Served {
    /// How a person reads what is served: `repo@revision` or the image.
    pub fn revision(&self) -> String {
        match (&self.model, &self.image) {
            (Some(m), _) => format!("{}@{}", m.repository, m.revision),
            (None, Some(image)) => image.clone(),
            (None, None) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::endpoint_spec as spec;

    #[test]
    fn phases_round_trip_through_their_names() {
        for phase in EndpointPhase::ALL {
            assert_eq!(
                EndpointPhase::try_from(phase.as_str().to_owned()),
                Ok(phase)
            );
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.as_str());
        }
        assert!(EndpointPhase::try_from("Running".to_owned()).is_err());
    }

    #[test]
    fn a_valid_spec_has_no_violations() {
        assert_eq!(spec("nvidia-l4", 1).violations(), vec![]);
        assert_eq!(spec("nvidia-h100-80gb", 4).violations(), vec![]);
    }

    #[test]
    fn model_or_image_gpu_and_replicas_are_checked() {
        let mut s = spec("nvidia-t4", 9);
        s.image = Some("ghcr.io/acme/server:1".into());
        s.replicas = Replicas {
            min: 0,
            max: 0,
            scale_to_zero_after_seconds: None,
        };
        let fields: Vec<_> = s.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [
                "model",
                "gpu_model",
                "gpu_count",
                "max_replicas",
                "scale_to_zero_after_seconds"
            ]
        );
    }

    #[test]
    fn the_served_revision_reads_as_repo_at_revision() {
        assert_eq!(
            spec("nvidia-l4", 1).served().revision(),
            "meta-llama/Llama-3.1-8B-Instruct@0e9e39f"
        );
    }
}
