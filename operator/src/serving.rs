//! Serving engines: how each starts a model and reports health and load.
//! A trait so that another engine (TGI today, others later) is one impl.

use crate::crd::inference_endpoint::{EngineKind, InferenceEndpointSpec};

pub trait ServingEngine: Sync {
    fn image(&self) -> &'static str;
    fn port(&self) -> i32;
    fn health_path(&self) -> &'static str;
    /// Arguments for a hub model split over `spec.gpu.count` GPUs.
    fn args(&self, spec: &InferenceEndpointSpec) -> Vec<String>;
    /// The Prometheus counter of finished requests, for idle detection.
    fn requests_metric(&self) -> &'static str;
}

#[derive(Debug)]
pub struct Vllm;
#[derive(Debug)]
pub struct Tgi;

impl ServingEngine for Vllm {
    fn image(&self) -> &'static str {
        "vllm/vllm-openai:v0.11.0"
    }

    fn port(&self) -> i32 {
        8000
    }

    fn health_path(&self) -> &'static str {
        "/health"
    }

    fn args(&self, spec: &InferenceEndpointSpec) -> Vec<String> {
        hub_args(spec, "--model", self.port(), "--tensor-parallel-size")
    }

    fn requests_metric(&self) -> &'static str {
        "vllm:request_success_total"
    }
}

impl ServingEngine for Tgi {
    fn image(&self) -> &'static str {
        "ghcr.io/huggingface/text-generation-inference:3.3.4"
    }

    fn port(&self) -> i32 {
        8080
    }

    fn health_path(&self) -> &'static str {
        "/health"
    }

    fn args(&self, spec: &InferenceEndpointSpec) -> Vec<String> {
        hub_args(spec, "--model-id", self.port(), "--num-shard")
    }

    fn requests_metric(&self) -> &'static str {
        "tgi_request_success"
    }
}

/// `--<model flag> <repository> --revision <revision> --port <port> --<shard flag> <gpus>`:
/// the shape both engines share.
fn hub_args(
    spec: &InferenceEndpointSpec,
    model_flag: &str,
    port: i32,
    shard_flag: &str,
) -> Vec<String> {
    let Some(model) = &spec.model else {
        return Vec::new();
    };
    vec![
        model_flag.into(),
        model.repository.clone(),
        "--revision".into(),
        model.revision.clone(),
        "--port".into(),
        port.to_string(),
        shard_flag.into(),
        spec.gpu.count.to_string(),
    ]
}

pub fn engine(kind: EngineKind) -> &'static dyn ServingEngine {
    match kind {
        EngineKind::Vllm => &Vllm,
        EngineKind::Tgi => &Tgi,
    }
}
