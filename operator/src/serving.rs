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
        let Some(model) = &spec.model else {
            return Vec::new();
        };
        vec![
            "--model".into(),
            model.repository.clone(),
            "--revision".into(),
            model.revision.clone(),
            "--port".into(),
            self.port().to_string(),
            "--tensor-parallel-size".into(),
            spec.gpu.count.to_string(),
        ]
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
        let Some(model) = &spec.model else {
            return Vec::new();
        };
        vec![
            "--model-id".into(),
            model.repository.clone(),
            "--revision".into(),
            model.revision.clone(),
            "--port".into(),
            self.port().to_string(),
            "--num-shard".into(),
            spec.gpu.count.to_string(),
        ]
    }

    fn requests_metric(&self) -> &'static str {
        "tgi_request_success"
    }
}

pub fn engine(kind: EngineKind) -> &'static dyn ServingEngine {
    match kind {
        EngineKind::Vllm => &Vllm,
        EngineKind::Tgi => &Tgi,
    }
}
