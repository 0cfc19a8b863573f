//! `quartermaster_vector_cluster`: a managed Qdrant cluster. Version and
//! size change in place (`PATCH`); name and region replace it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::Schema;
use tf_provider::value::Value;

use super::shrink::shrink_warnings;
use super::{Collection, changed_value, known, labels, parse_id, simulated, unknown_if_null};
use crate::dto::{Cluster, ClusterShape, CreateCluster, DownscaleRisk, UpdateCluster};
use crate::error::Error;
use crate::provider::Api;
use crate::resource::{ApiResource, Observed};
use crate::schema::{computed, defaulted, number, required, schema, string};
use crate::wait::{self, Progress};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub id: Value<String>,
    pub name: Value<String>,
    pub region: Value<String>,
    pub version: Value<String>,
    pub nodes: Value<i64>,
    pub replication_factor: Value<i64>,
    pub cpu_millicores: Value<i64>,
    pub memory_mib: Value<i64>,
    pub storage_gib: Value<i64>,
    pub phase: Value<String>,
    pub endpoint: Value<String>,
    pub simulated: Value<bool>,
    pub labels: Value<BTreeMap<String, String>>,
}

pub fn create_request(planned: &State) -> CreateCluster {
    CreateCluster {
        name: known(&planned.name).unwrap_or_default(),
        region: known(&planned.region).unwrap_or_default(),
        version: known(&planned.version),
        shape: ClusterShape {
            nodes: known(&planned.nodes),
            replication_factor: known(&planned.replication_factor),
            cpu_millicores: known(&planned.cpu_millicores),
            memory_mib: known(&planned.memory_mib),
            storage_gib: known(&planned.storage_gib),
        },
        labels: known(&planned.labels),
    }
}

/// Only what changed, so a concurrent change to another field is kept.
pub fn update_request(prior: &State, planned: &State) -> UpdateCluster {
    UpdateCluster {
        version: changed_value(&prior.version, &planned.version),
        shape: ClusterShape {
            nodes: changed_value(&prior.nodes, &planned.nodes),
            replication_factor: changed_value(
                &prior.replication_factor,
                &planned.replication_factor,
            ),
            cpu_millicores: changed_value(&prior.cpu_millicores, &planned.cpu_millicores),
            memory_mib: changed_value(&prior.memory_mib, &planned.memory_mib),
            storage_gib: changed_value(&prior.storage_gib, &planned.storage_gib),
        },
        labels: changed_value(&prior.labels, &planned.labels),
    }
}

/// How far the data plane has come with the cluster's latest spec.
pub fn progress(cluster: &Cluster) -> Progress {
    wait::progress(cluster, cluster.spec.generation, &["Ready"])
}

pub fn observed(cluster: Cluster) -> Observed<State> {
    let progress = progress(&cluster);
    let spec = cluster.spec;
    Observed {
        state: State {
            id: Value::Value(cluster.id.to_string()),
            name: Value::Value(cluster.name),
            region: Value::Value(cluster.region),
            version: Value::Value(spec.version),
            nodes: Value::Value(spec.nodes),
            replication_factor: Value::Value(spec.replication_factor),
            cpu_millicores: Value::Value(spec.cpu_millicores),
            memory_mib: Value::Value(spec.memory_mib),
            storage_gib: Value::Value(spec.storage_gib),
            phase: Value::Value(cluster.status.phase),
            endpoint: cluster.status.endpoint.into(),
            simulated: Value::Value(cluster.simulated),
            labels: Value::Value(cluster.labels),
        },
        progress,
    }
}

/// `…/clusters` of the API.
pub(super) const CLUSTERS: Collection = Collection("clusters");

#[derive(Debug)]
pub struct VectorCluster;

#[async_trait]
impl ApiResource for VectorCluster {
    type State = State;

    const KIND: &'static str = "vector cluster";
    const REPLACE_ON_CHANGE: &'static [&'static str] = &["name", "region"];

    fn schema() -> Schema {
        schema(
            "A managed Qdrant vector cluster. Apply waits until it is Ready.",
            [
                ("id", computed(string(), "The cluster's id.")),
                (
                    "name",
                    required(
                        string(),
                        "3 to 40 lowercase letters, digits or `-`. Changing it replaces the cluster.",
                    ),
                ),
                (
                    "region",
                    required(
                        string(),
                        "A region from `data.quartermaster_regions`. Changing it replaces the cluster.",
                    ),
                ),
                (
                    "version",
                    defaulted(
                        string(),
                        "Qdrant version, such as `1.13.6`; upgraded in place (never downgraded).",
                    ),
                ),
                (
                    "nodes",
                    defaulted(
                        number(),
                        "Nodes, within the plan's limit; resized in place.",
                    ),
                ),
                (
                    "replication_factor",
                    defaulted(number(), "Copies of each shard, within the plan's limit."),
                ),
                (
                    "cpu_millicores",
                    defaulted(number(), "CPU per node, in millicores."),
                ),
                (
                    "memory_mib",
                    defaulted(number(), "Memory per node, in MiB."),
                ),
                (
                    "storage_gib",
                    defaulted(
                        number(),
                        "Disk per node, in GiB; it can grow, never shrink.",
                    ),
                ),
                (
                    "phase",
                    computed(string(), "Ready, Updating, Degraded, Suspended, …"),
                ),
                (
                    "endpoint",
                    computed(string(), "The URL clients connect to."),
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
            version: unknown_if_null(proposed.version),
            nodes: unknown_if_null(proposed.nodes),
            replication_factor: unknown_if_null(proposed.replication_factor),
            cpu_millicores: unknown_if_null(proposed.cpu_millicores),
            memory_mib: unknown_if_null(proposed.memory_mib),
            storage_gib: unknown_if_null(proposed.storage_gib),
            phase: Value::Unknown,
            endpoint: Value::Unknown,
            simulated: Value::Unknown,
            labels: unknown_if_null(proposed.labels),
            ..proposed
        }
    }

    /// A resize keeps the endpoint (named after the cluster); only one not
    /// yet known may still change.
    fn plan_update(prior: &State, proposed: State, _config: &State) -> State {
        State {
            phase: Value::Unknown,
            endpoint: match &prior.endpoint {
                Value::Value(endpoint) => Value::Value(endpoint.clone()),
                Value::Null | Value::Unknown => Value::Unknown,
            },
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
            CLUSTERS.create(api, &create_request(planned)).await?,
        ))
    }

    async fn read(api: &Api, state: &State) -> Result<Option<Observed<State>>, Error> {
        Ok(CLUSTERS.find(api, Self::id(state)).await?.map(observed))
    }

    async fn update(api: &Api, prior: &State, planned: &State) -> Result<Observed<State>, Error> {
        let body = update_request(prior, planned);
        Ok(observed(
            CLUSTERS.update(api, Self::id(prior), &body).await?,
        ))
    }

    async fn delete(api: &Api, state: &State) -> Result<(), Error> {
        CLUSTERS.delete(api, Self::id(state)).await
    }

    /// A shrink is told, before it is applied, what it moves.
    async fn plan_warnings(
        api: &Api,
        prior: &State,
        planned: &State,
    ) -> Result<Vec<(String, String)>, Error> {
        let (Some(id), Some(before), Some(after)) =
            (Self::id(prior), known(&prior.nodes), known(&planned.nodes))
        else {
            return Ok(Vec::new());
        };
        if after >= before {
            return Ok(Vec::new());
        }
        let risk: DownscaleRisk = api
            .client
            .get(&format!(
                "{}/downscale-risk?nodes={after}",
                CLUSTERS.item(api, Some(id))
            ))
            .await?;
        let name = known(&prior.name).unwrap_or_else(|| id.to_owned());
        Ok(shrink_warnings(&name, &risk))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cluster(phase: &str, observed_generation: i64) -> Cluster {
        serde_json::from_value(json!({
            "object": "vector_cluster",
            "id": "0190d8a5-6b1e-7c3a-9f00-00000000c1c1",
            "name": "search",
            "region": "local",
            "simulated": true,
            "spec": {"version": "1.13.6", "nodes": 3, "replication_factor": 2,
                     "cpu_millicores": 1000, "memory_mib": 2048, "storage_gib": 10,
                     "backup": null, "generation": 2},
            "status": {"phase": phase, "observed_generation": observed_generation,
                       "current_version": "1.13.6", "ready_nodes": 3,
                       "endpoint": "http://search.simulated.invalid:6333",
                       "conditions": [], "suspended_reason": null},
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "deletion_requested_at": null,
            "restore": null
        }))
        .unwrap()
    }

    #[test]
    fn the_api_answer_becomes_the_whole_state() {
        let seen = observed(cluster("Ready", 2));
        assert_eq!(seen.progress, Progress::Settled);
        assert_eq!(
            seen.state.id,
            Value::Value("0190d8a5-6b1e-7c3a-9f00-00000000c1c1".into())
        );
        assert_eq!(seen.state.nodes, Value::Value(3));
        assert_eq!(seen.state.version, Value::Value("1.13.6".into()));
        assert_eq!(
            seen.state.endpoint,
            Value::Value("http://search.simulated.invalid:6333".into())
        );
        assert_eq!(seen.state.simulated, Value::Value(true));
        assert_eq!(
            observed(cluster("Ready", 1)).progress,
            Progress::Working("Ready".into())
        );
    }

    #[test]
    fn a_create_sends_only_what_the_configuration_sets() {
        let planned = VectorCluster::plan_create(State {
            name: Value::Value("search".into()),
            region: Value::Value("local".into()),
            nodes: Value::Value(3),
            ..State::default()
        });
        assert_eq!(planned.version, Value::Unknown);
        assert_eq!(planned.id, Value::Unknown);
        let body = serde_json::to_value(create_request(&planned)).unwrap();
        assert_eq!(
            body,
            json!({"name": "search", "region": "local", "nodes": 3})
        );
    }

    #[test]
    fn an_update_sends_only_the_fields_that_changed() {
        let prior = observed(cluster("Ready", 2)).state;
        let planned = State {
            nodes: Value::Value(5),
            version: Value::Value("1.14.0".into()),
            ..prior.clone()
        };
        let body = serde_json::to_value(update_request(&prior, &planned)).unwrap();
        assert_eq!(body, json!({"version": "1.14.0", "nodes": 5}));
    }

    #[test]
    fn a_planned_update_leaves_status_to_the_apply() {
        let prior = observed(cluster("Ready", 2)).state;
        let proposed = State {
            nodes: Value::Value(5),
            ..prior.clone()
        };
        let planned = VectorCluster::plan_update(&prior, proposed, &State::default());
        assert_eq!(planned.nodes, Value::Value(5));
        assert_eq!(planned.phase, Value::Unknown);
        assert_eq!(planned.endpoint, prior.endpoint);
        assert_eq!(planned.id, prior.id);
    }

    #[test]
    fn import_takes_a_cluster_id() {
        let state = VectorCluster::import("0190d8a5-6b1e-7c3a-9f00-00000000c1c1").unwrap();
        assert!(state.id.is_value());
        assert!(VectorCluster::import("search").is_err());
    }
}
