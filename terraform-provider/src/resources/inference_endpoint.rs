//! `quartermaster_inference_endpoint`: a GPU endpoint serving a model with
//! vLLM (or TGI). The model revision, image and scaling change in place;
//! what it runs on (region, GPUs, engine, model repository) replaces it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::Schema;
use tf_provider::value::Value;

use super::{Collection, changed_value, known, labels, parse_id, simulated, unknown_if_null};
use crate::dto::{CreateEndpoint, Endpoint, UpdateEndpoint};
use crate::error::Error;
use crate::provider::Api;
use crate::resource::{ApiResource, Observed};
use crate::schema::{computed, defaulted, number, optional, required, schema, string};
use crate::wait;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub id: Value<String>,
    pub name: Value<String>,
    pub region: Value<String>,
    pub model_repository: Value<String>,
    pub model_revision: Value<String>,
    pub image: Value<String>,
    pub engine: Value<String>,
    pub gpu_model: Value<String>,
    pub gpu_count: Value<i64>,
    pub min_replicas: Value<i64>,
    pub max_replicas: Value<i64>,
    pub scale_to_zero_after_seconds: Value<i64>,
    pub target_concurrency: Value<i64>,
    pub phase: Value<String>,
    pub endpoint: Value<String>,
    pub simulated: Value<bool>,
    pub labels: Value<BTreeMap<String, String>>,
}

pub fn create_request(planned: &State) -> CreateEndpoint {
    CreateEndpoint {
        name: known(&planned.name).unwrap_or_default(),
        region: known(&planned.region).unwrap_or_default(),
        model_repository: known(&planned.model_repository),
        engine: known(&planned.engine),
        gpu_model: known(&planned.gpu_model).unwrap_or_default(),
        gpu_count: known(&planned.gpu_count),
        changes: UpdateEndpoint {
            model_revision: known(&planned.model_revision),
            image: known(&planned.image),
            min_replicas: known(&planned.min_replicas),
            max_replicas: known(&planned.max_replicas),
            scale_to_zero_after_seconds: known(&planned.scale_to_zero_after_seconds),
            target_concurrency: known(&planned.target_concurrency),
            labels: known(&planned.labels),
        },
    }
}

pub fn update_request(prior: &State, planned: &State) -> UpdateEndpoint {
    UpdateEndpoint {
        model_revision: changed_value(&prior.model_revision, &planned.model_revision),
        image: changed_value(&prior.image, &planned.image),
        min_replicas: changed_value(&prior.min_replicas, &planned.min_replicas),
        max_replicas: changed_value(&prior.max_replicas, &planned.max_replicas),
        scale_to_zero_after_seconds: changed_value(
            &prior.scale_to_zero_after_seconds,
            &planned.scale_to_zero_after_seconds,
        ),
        target_concurrency: changed_value(&prior.target_concurrency, &planned.target_concurrency),
        labels: changed_value(&prior.labels, &planned.labels),
    }
}

pub fn observed(endpoint: Endpoint) -> Observed<State> {
    // Scaled to zero is at rest: it wakes on demand.
    let progress = wait::progress(
        &endpoint,
        endpoint.spec.generation,
        &["Ready", "ScaledToZero"],
    );
    let spec = endpoint.spec;
    Observed {
        state: State {
            id: Value::Value(endpoint.id.to_string()),
            name: Value::Value(endpoint.name),
            region: Value::Value(endpoint.region),
            model_repository: spec.model_repository.into(),
            model_revision: spec.model_revision.into(),
            image: spec.image.into(),
            engine: Value::Value(spec.engine),
            gpu_model: Value::Value(spec.gpu_model),
            gpu_count: Value::Value(spec.gpu_count),
            min_replicas: Value::Value(spec.min_replicas),
            max_replicas: Value::Value(spec.max_replicas),
            scale_to_zero_after_seconds: spec.scale_to_zero_after_seconds.into(),
            target_concurrency: Value::Value(spec.target_concurrency),
            phase: Value::Value(endpoint.status.phase),
            endpoint: endpoint.status.endpoint.into(),
            simulated: Value::Value(endpoint.simulated),
            labels: Value::Value(endpoint.labels),
        },
        progress,
    }
}

/// `…/endpoints` of the API.
const ENDPOINTS: Collection = Collection("endpoints");

#[derive(Debug)]
pub struct InferenceEndpoint;

#[async_trait]
impl ApiResource for InferenceEndpoint {
    type State = State;

    const KIND: &'static str = "inference endpoint";
    const REPLACE_ON_CHANGE: &'static [&'static str] = &[
        "name",
        "region",
        "model_repository",
        "engine",
        "gpu_model",
        "gpu_count",
    ];

    fn schema() -> Schema {
        schema(
            "A GPU inference endpoint. Apply waits until it is Ready (or scaled to zero).",
            [
                ("id", computed(string(), "The endpoint's id.")),
                (
                    "name",
                    required(
                        string(),
                        "3 to 40 lowercase letters, digits or `-`. Changing it replaces the endpoint.",
                    ),
                ),
                (
                    "region",
                    required(string(), "A region from `data.quartermaster_regions`."),
                ),
                (
                    "model_repository",
                    optional(
                        string(),
                        "A model hub repository, such as `meta-llama/Llama-3.1-8B-Instruct`; or set `image`.",
                    ),
                ),
                (
                    "model_revision",
                    defaulted(
                        string(),
                        "A commit or tag of the repository (`main` when left out); rolled in place.",
                    ),
                ),
                (
                    "image",
                    optional(
                        string(),
                        "A container image serving a model itself, instead of a hub model.",
                    ),
                ),
                ("engine", defaulted(string(), "`vllm` (default) or `tgi`.")),
                (
                    "gpu_model",
                    required(
                        string(),
                        "`nvidia-l4`, `nvidia-a100-80gb` or `nvidia-h100-80gb`.",
                    ),
                ),
                (
                    "gpu_count",
                    defaulted(number(), "GPUs per replica, within the plan's limit."),
                ),
                (
                    "min_replicas",
                    defaulted(number(), "0 allows scaling to zero when idle."),
                ),
                (
                    "max_replicas",
                    defaulted(number(), "The most replicas the autoscaler runs."),
                ),
                (
                    "scale_to_zero_after_seconds",
                    defaulted(
                        number(),
                        "Idle time before scaling to zero (with `min_replicas = 0`).",
                    ),
                ),
                (
                    "target_concurrency",
                    defaulted(
                        number(),
                        "Concurrent requests per replica the autoscaler aims for.",
                    ),
                ),
                (
                    "phase",
                    computed(string(), "Ready, ScaledToZero, Updating, Degraded, …"),
                ),
                (
                    "endpoint",
                    computed(string(), "The URL clients send requests to."),
                ),
                simulated(),
                labels(),
            ],
        )
    }

    fn id(state: &State) -> Option<&str> {
        state.id.as_ref_option().map(String::as_str)
    }

    fn plan_create(proposed: State) -> State {
        State {
            id: Value::Unknown,
            model_revision: unknown_if_null(proposed.model_revision),
            engine: unknown_if_null(proposed.engine),
            gpu_count: unknown_if_null(proposed.gpu_count),
            min_replicas: unknown_if_null(proposed.min_replicas),
            max_replicas: unknown_if_null(proposed.max_replicas),
            scale_to_zero_after_seconds: unknown_if_null(proposed.scale_to_zero_after_seconds),
            target_concurrency: unknown_if_null(proposed.target_concurrency),
            phase: Value::Unknown,
            endpoint: Value::Unknown,
            simulated: Value::Unknown,
            labels: unknown_if_null(proposed.labels),
            ..proposed
        }
    }

    fn plan_update(_prior: &State, proposed: State, _config: &State) -> State {
        State {
            phase: Value::Unknown,
            endpoint: Value::Unknown,
            ..proposed
        }
    }

    fn import(id: &str) -> Result<State, Error> {
        Ok(State {
            id: Value::Value(parse_id(id)?),
            ..State::default()
        })
    }

    async fn create(api: &Api, planned: &State) -> Result<Observed<State>, Error> {
        Ok(observed(
            ENDPOINTS.create(api, &create_request(planned)).await?,
        ))
    }

    async fn read(api: &Api, state: &State) -> Result<Option<Observed<State>>, Error> {
        Ok(ENDPOINTS.find(api, Self::id(state)).await?.map(observed))
    }

    async fn update(api: &Api, prior: &State, planned: &State) -> Result<Observed<State>, Error> {
        let body = update_request(prior, planned);
        Ok(observed(
            ENDPOINTS.update(api, Self::id(prior), &body).await?,
        ))
    }

    async fn delete(api: &Api, state: &State) -> Result<(), Error> {
        ENDPOINTS.delete(api, Self::id(state)).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::wait::Progress;

    fn endpoint(phase: &str) -> Endpoint {
        serde_json::from_value(json!({
            "object": "inference_endpoint",
            "id": "0190d8a5-6b1e-7c3a-9f00-00000000e1e1",
            "name": "chat",
            "region": "local",
            "simulated": true,
            "spec": {"model_repository": "meta-llama/Llama-3.1-8B-Instruct", "model_revision": "main",
                     "image": null, "engine": "vllm", "gpu_model": "nvidia-l4", "gpu_count": 1,
                     "min_replicas": 0, "max_replicas": 2, "scale_to_zero_after_seconds": 600,
                     "target_concurrency": 16, "generation": 1},
            "status": {"phase": phase, "observed_generation": 1, "served_revision": null,
                       "ready_replicas": 0, "endpoint": null, "conditions": [],
                       "wake_requested_at": null, "suspended_reason": null},
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "deletion_requested_at": null
        }))
        .unwrap()
    }

    #[test]
    fn scaled_to_zero_is_as_settled_as_ready() {
        assert_eq!(
            observed(endpoint("ScaledToZero")).progress,
            Progress::Settled
        );
        assert_eq!(observed(endpoint("Ready")).progress, Progress::Settled);
        assert_eq!(
            observed(endpoint("Provisioning")).progress,
            Progress::Working("Provisioning".into())
        );
    }

    #[test]
    fn absent_fields_of_the_api_are_null_in_the_state() {
        let state = observed(endpoint("Ready")).state;
        assert_eq!(state.image, Value::Null);
        assert_eq!(state.endpoint, Value::Null);
        assert_eq!(state.scale_to_zero_after_seconds, Value::Value(600));
    }

    #[test]
    fn a_create_sends_the_model_and_the_scaling_the_configuration_sets() {
        let planned = InferenceEndpoint::plan_create(State {
            name: Value::Value("chat".into()),
            region: Value::Value("local".into()),
            model_repository: Value::Value("org/model".into()),
            gpu_model: Value::Value("nvidia-l4".into()),
            max_replicas: Value::Value(2),
            ..State::default()
        });
        assert_eq!(planned.engine, Value::Unknown);
        assert_eq!(
            planned.image,
            Value::Null,
            "optional, not chosen by the API"
        );
        let body = serde_json::to_value(create_request(&planned)).unwrap();
        assert_eq!(
            body,
            json!({"name": "chat", "region": "local", "model_repository": "org/model",
                   "gpu_model": "nvidia-l4", "max_replicas": 2})
        );
    }

    #[test]
    fn a_new_revision_is_the_only_field_sent() {
        let prior = observed(endpoint("Ready")).state;
        let planned = State {
            model_revision: Value::Value("0e9e39f".into()),
            ..prior.clone()
        };
        let body = serde_json::to_value(update_request(&prior, &planned)).unwrap();
        assert_eq!(body, json!({"model_revision": "0e9e39f"}));
    }
}
