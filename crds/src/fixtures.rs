//! Resources for tests, in this crate's and in the crates that use it
//! (feature `fixtures`).

use crate::inference_endpoint::*;

/// An endpoint serving Llama 3.1 8B on `count` GPUs of `gpu_model`.
pub fn endpoint_spec(gpu_model: &str, count: u32) -> InferenceEndpointSpec {
    InferenceEndpointSpec {
        model: Some(HubModel {
            repository: "meta-llama/Llama-3.1-8B-Instruct".into(),
            revision: "0e9e39f".into(),
        }),
        image: None,
        engine: EngineKind::Vllm,
        gpu: GpuRequest {
            model: gpu_model.into(),
            count,
        },
        replicas: Replicas {
            min: 1,
            max: 4,
            scale_to_zero_after_seconds: None,
        },
        target_concurrency: 16,
        resources: EndpointResources {
            cpu_millicores: 8000,
            memory_mib: 32768,
            shm_mib: 8192,
        },
        env: vec![],
        suspend: false,
    }
}
