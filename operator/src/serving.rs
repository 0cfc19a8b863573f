//! Serving engines: how each starts a model and reports health and load.
//! A trait so that another engine (TGI today, others later) is one impl.
//!
//! Each fact is the engine's own, read in its source: vLLM's
//! `vllm/entrypoints/openai/api_server.py` (`VLLM_API_KEY`) and
//! `vllm/v1/metrics/loggers.py` (`vllm:num_requests_running`,
//! `vllm:num_requests_waiting`, `vllm:request_success_total`); TGI's
//! `launcher/src/main.rs` (`--api-key`, env `API_KEY`; its image sets
//! `HF_HOME=/data`) and `router/src/server.rs` (`tgi_queue_size`,
//! `tgi_batch_current_size`, `tgi_request_success`).

use crate::crd::inference_endpoint::{EngineKind, InferenceEndpointSpec};

pub trait ServingEngine: Sync {
    fn image(&self) -> &'static str;
    fn port(&self) -> i32;
    fn health_path(&self) -> &'static str;
    /// Arguments for a hub model split over `spec.gpu.count` GPUs.
    fn args(&self, spec: &InferenceEndpointSpec) -> Vec<String>;
    /// The Prometheus counter of finished requests, for idle detection.
    fn requests_metric(&self) -> &'static str;
    /// The environment variable the engine reads its API key from.
    fn api_key_env(&self) -> &'static str;
    /// Where the engine keeps downloaded weights (its `HF_HOME`).
    fn cache_path(&self) -> &'static str;
    /// The gauges whose sum is the requests a replica holds (running and
    /// queued), as the engine exports them.
    fn load_series(&self) -> [&'static str; 2];
    /// The pods metric the HorizontalPodAutoscaler reads: the sum of
    /// [`ServingEngine::load_series`], as the Prometheus adapter rule in the
    /// operator chart names it.
    fn load_metric(&self) -> &'static str;
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

    fn api_key_env(&self) -> &'static str {
        "VLLM_API_KEY"
    }

    fn cache_path(&self) -> &'static str {
        "/root/.cache/huggingface"
    }

    fn load_series(&self) -> [&'static str; 2] {
        ["vllm:num_requests_running", "vllm:num_requests_waiting"]
    }

    fn load_metric(&self) -> &'static str {
        "vllm_requests_in_flight"
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

    fn api_key_env(&self) -> &'static str {
        "API_KEY"
    }

    fn cache_path(&self) -> &'static str {
        "/data"
    }

    fn load_series(&self) -> [&'static str; 2] {
        ["tgi_batch_current_size", "tgi_queue_size"]
    }

    fn load_metric(&self) -> &'static str {
        "tgi_requests_in_flight"
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

/// Every engine, for what must hold for each (the chart's adapter rules).
pub const ALL: [EngineKind; 2] = [EngineKind::Vllm, EngineKind::Tgi];

pub fn engine(kind: EngineKind) -> &'static dyn ServingEngine {
    match kind {
        EngineKind::Vllm => &Vllm,
        EngineKind::Tgi => &Tgi,
    }
}
