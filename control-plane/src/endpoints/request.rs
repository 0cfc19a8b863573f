//! Turning what a customer sends into a valid [`InferenceEndpointSpec`].

use crds::inference_endpoint::{
    EndpointResources, EngineKind, GpuRequest, HubModel, InferenceEndpointSpec, Replicas,
};

use crate::clusters::ClusterName;
use crate::validation::ValidationErrors;

/// Per GPU: the CPU and memory a replica gets beside it.
pub(crate) const CPU_MILLICORES_PER_GPU: u32 = 4000;
pub(crate) const MEMORY_MIB_PER_GPU: u32 = 16384;
pub(crate) const SHM_MIB: u32 = 8192;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateEndpoint {
    pub name: String,
    pub region: String,
    pub model_repository: Option<String>,
    pub model_revision: Option<String>,
    pub image: Option<String>,
    pub engine: Option<String>,
    pub gpu_model: String,
    pub gpu_count: Option<i64>,
    pub scaling: UpdateEndpoint,
    /// Labels as received; checked by [`crate::labels::Labels::parse`].
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateEndpoint {
    pub model_revision: Option<String>,
    pub image: Option<String>,
    pub min_replicas: Option<i64>,
    pub max_replicas: Option<i64>,
    pub scale_to_zero_after_seconds: Option<i64>,
    pub target_concurrency: Option<i64>,
}

fn engine(raw: Option<&str>, errors: &mut ValidationErrors) -> EngineKind {
    match raw {
        None | Some("vllm") => EngineKind::Vllm,
        Some("tgi") => EngineKind::Tgi,
        Some(other) => {
            errors.add(
                "engine",
                format!("unknown engine `{other}`; engines are vllm and tgi"),
            );
            EngineKind::Vllm
        }
    }
}

pub(crate) fn resources(gpus: u32) -> EndpointResources {
    EndpointResources {
        cpu_millicores: CPU_MILLICORES_PER_GPU * gpus,
        memory_mib: MEMORY_MIB_PER_GPU * gpus,
        shm_mib: SHM_MIB,
    }
}

impl CreateEndpoint {
    pub fn parse(
        &self,
        errors: &mut ValidationErrors,
    ) -> Option<(ClusterName, InferenceEndpointSpec)> {
        let name = errors.check("name", ClusterName::parse(&self.name));
        let _ = errors.check("region", crate::validation::region(&self.region));
        let gpus = match self.gpu_count {
            None => Some(1),
            Some(n) => errors.in_range("gpu_count", n, 1..=8),
        };
        let base = InferenceEndpointSpec {
            model: match (&self.model_repository, &self.model_revision) {
                (None, None) => None,
                (repository, revision) => Some(HubModel {
                    repository: repository.clone().unwrap_or_default(),
                    revision: revision.clone().unwrap_or_else(|| "main".to_owned()),
                }),
            },
            image: self.image.clone(),
            engine: engine(self.engine.as_deref(), errors),
            gpu: GpuRequest {
                model: self.gpu_model.clone(),
                count: gpus.unwrap_or(1),
            },
            replicas: Replicas {
                min: 1,
                max: 1,
                scale_to_zero_after_seconds: None,
            },
            target_concurrency: 16,
            resources: resources(gpus.unwrap_or(1)),
            env: Vec::new(),
            suspend: false,
        };
        let spec = self.scaling.apply(&base, errors)?;
        Some((name?, spec))
    }
}

impl UpdateEndpoint {
    pub fn apply(
        &self,
        current: &InferenceEndpointSpec,
        errors: &mut ValidationErrors,
    ) -> Option<InferenceEndpointSpec> {
        let mut next = current.clone();
        if let Some(revision) = &self.model_revision {
            match next.model.as_mut() {
                Some(model) => model.revision = revision.clone(),
                None => errors.add(
                    "model_revision",
                    "this endpoint serves an image, not a hub model",
                ),
            }
        }
        if let Some(image) = &self.image {
            if next.model.is_some() {
                errors.add(
                    "image",
                    "this endpoint serves a hub model; change model_revision instead",
                );
            }
            next.image = Some(image.clone());
        }
        let mut number = |field: &str, value: Option<i64>, range, current: u32| match value {
            None => Some(current),
            Some(v) => errors.in_range(field, v, range),
        };
        next.replicas.min = number(
            "min_replicas",
            self.min_replicas,
            0..=64,
            current.replicas.min,
        )?;
        next.replicas.max = number(
            "max_replicas",
            self.max_replicas,
            1..=64,
            current.replicas.max,
        )?;
        next.target_concurrency = number(
            "target_concurrency",
            self.target_concurrency,
            1..=1024,
            current.target_concurrency,
        )?;
        if let Some(seconds) = self.scale_to_zero_after_seconds {
            next.replicas.scale_to_zero_after_seconds =
                errors.in_range("scale_to_zero_after_seconds", seconds, 60..=604_800);
        }
        for violation in next.violations() {
            errors.add(violation.field, violation.message);
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errors: &ValidationErrors) -> Vec<&str> {
        errors.errors().iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_hub_model_on_one_l4_with_defaults() {
        let mut errors = ValidationErrors::default();
        let request = CreateEndpoint {
            name: "chat".into(),
            region: "eu".into(),
            model_repository: Some("meta-llama/Llama-3.1-8B-Instruct".into()),
            model_revision: Some("0e9e39f".into()),
            gpu_model: "nvidia-l4".into(),
            ..Default::default()
        };
        let (_, spec) = request.parse(&mut errors).unwrap();
        assert!(errors.errors().is_empty(), "{errors}");
        assert_eq!(spec.gpu.count, 1);
        assert_eq!(spec.resources.cpu_millicores, 4000);
        assert_eq!(spec.engine, EngineKind::Vllm);
    }

    #[test]
    fn a_region_with_a_nul_is_a_field_error() {
        let mut errors = ValidationErrors::default();
        let request = CreateEndpoint {
            name: "chat".into(),
            region: "lo\u{0}cal".into(),
            model_repository: Some("meta-llama/Llama-3.1-8B-Instruct".into()),
            model_revision: Some("0e9e39f".into()),
            gpu_model: "nvidia-l4".into(),
            ..Default::default()
        };
        request.parse(&mut errors);
        assert_eq!(fields(&errors), ["region"]);
    }

    #[test]
    fn bad_requests_name_their_fields() {
        let mut errors = ValidationErrors::default();
        let request = CreateEndpoint {
            name: "Chat!".into(),
            region: "eu".into(),
            engine: Some("triton".into()),
            gpu_model: "nvidia-t4".into(),
            gpu_count: Some(-2),
            scaling: UpdateEndpoint {
                min_replicas: Some(0),
                ..Default::default()
            },
            ..Default::default()
        };
        request.parse(&mut errors);
        assert_eq!(
            fields(&errors),
            [
                "name",
                "gpu_count",
                "engine",
                "model",
                "gpu_model",
                "scale_to_zero_after_seconds"
            ]
        );
    }

    #[test]
    fn a_revision_change_keeps_the_rest() {
        let mut errors = ValidationErrors::default();
        let (_, spec) = CreateEndpoint {
            name: "chat".into(),
            region: "eu".into(),
            model_repository: Some("org/model".into()),
            gpu_model: "nvidia-l4".into(),
            ..Default::default()
        }
        .parse(&mut errors)
        .unwrap();
        assert_eq!(spec.model.as_ref().unwrap().revision, "main");
        let next = UpdateEndpoint {
            model_revision: Some("v2".into()),
            ..Default::default()
        }
        .apply(&spec, &mut errors)
        .unwrap();
        assert!(errors.errors().is_empty());
        assert_eq!(next.model.unwrap().revision, "v2");
        assert_eq!(next.gpu, spec.gpu);
    }
}
