//! A part of a cluster's spec that Terraform manages as a resource of its
//! own (the backup schedule, the maintenance window): set by
//! `PUT …/clusters/{id}/{path}`, cleared by `DELETE` of the same path and
//! read back from the cluster. A cluster has at most one of each, so the
//! resource's id is the cluster's. Setting or clearing one raises the
//! cluster's generation: it is settled once the data plane has applied it
//! and the cluster is Ready again.
//!
//! Each part says only what is its own ([`ClusterPart`]: attributes, the
//! body it sends, how the spec shows it); [`OfCluster`] serves it to the
//! generic adapter.

use std::fmt::Debug;
use std::marker::PhantomData;

use async_trait::async_trait;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{Attribute, Schema};
use tf_provider::value::Value;

use super::parse_id;
use super::vector_cluster::{self, CLUSTERS};
use crate::dto::{Cluster, ClusterSpec};
use crate::error::Error;
use crate::provider::Api;
use crate::resource::{ApiResource, Observed};
use crate::schema::{computed, required, schema, string};
use crate::wait::Progress;

pub trait ClusterPart: Send + Sync + 'static {
    /// Its own attributes.
    type Fields: Serialize + DeserializeOwned + Clone + PartialEq + Debug + Default + Send + Sync;
    /// The body of the `PUT`, which replaces the whole part.
    type Request: Serialize + Send + Sync;

    /// What messages call it: "backup schedule of cluster".
    const KIND: &'static str;
    /// Its path under the cluster's: "backup-policy".
    const PATH: &'static str;
    /// What the resource is, for its schema.
    const ABOUT: &'static str;
    /// What `cluster_id` names: "The cluster to back up."
    const CLUSTER: &'static str;

    fn attributes() -> Vec<(&'static str, Attribute)>;
    /// The part as the cluster's spec shows it; `None` when the cluster
    /// has none.
    fn from_spec(spec: ClusterSpec) -> Option<Self::Fields>;
    fn request(planned: &Self::Fields) -> Self::Request;

    /// The part to be created: what the API will choose, unknown.
    fn plan_create(proposed: Self::Fields) -> Self::Fields {
        proposed
    }

    /// The part after a change (`config` as the configuration writes it).
    fn plan_update(
        _prior: &Self::Fields,
        proposed: Self::Fields,
        _config: &Self::Fields,
    ) -> Self::Fields {
        proposed
    }
}

/// A part's resource state: the cluster's id twice (`cluster_id` as the
/// configuration sets it, `id` as Terraform wants one) beside the part's
/// own attributes, all at the top level for Terraform.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartState<F> {
    pub id: Value<String>,
    pub cluster_id: Value<String>,
    #[serde(flatten)]
    pub fields: F,
}

/// The part `P` of `cluster`; `None` when it has none (or is being
/// deleted).
pub fn observed<P: ClusterPart>(cluster: Cluster) -> Option<Observed<PartState<P::Fields>>> {
    let progress = vector_cluster::progress(&cluster);
    if progress == Progress::Deleting {
        return None;
    }
    let id = cluster.id.to_string();
    let fields = P::from_spec(cluster.spec)?;
    Some(Observed {
        state: PartState {
            id: Value::Value(id.clone()),
            cluster_id: Value::Value(id),
            fields,
        },
        progress,
    })
}

/// The part `P` as a resource.
#[derive(Debug)]
pub struct OfCluster<P>(PhantomData<fn() -> P>);

type State<P> = PartState<<P as ClusterPart>::Fields>;

impl<P: ClusterPart> OfCluster<P> {
    fn path(api: &Api, state: &State<P>) -> String {
        format!("{}/{}", CLUSTERS.item(api, Self::id(state)), P::PATH)
    }

    async fn put(api: &Api, planned: &State<P>) -> Result<Observed<State<P>>, Error> {
        let body = P::request(&planned.fields);
        let cluster: Cluster = api
            .client
            .send(Method::PUT, &Self::path(api, planned), Some(&body))
            .await?;
        observed::<P>(cluster).ok_or_else(|| Error::Failed {
            what: format!("{} {}", P::KIND, Self::id(planned).unwrap_or_default()),
            phase: "absent".into(),
            reason: "the API accepted it but the cluster shows none".into(),
        })
    }
}

#[async_trait]
impl<P: ClusterPart> ApiResource for OfCluster<P> {
    type State = State<P>;

    const KIND: &'static str = P::KIND;
    const REPLACE_ON_CHANGE: &'static [&'static str] = &["cluster_id"];

    fn schema() -> Schema {
        let ids = [
            (
                "id",
                computed(string(), "The cluster's id (a cluster has one)."),
            ),
            (
                "cluster_id",
                required(
                    string(),
                    &format!("{} Changing it replaces the resource.", P::CLUSTER),
                ),
            ),
        ];
        schema(P::ABOUT, ids.into_iter().chain(P::attributes()))
    }

    fn id(state: &State<P>) -> Option<&str> {
        state
            .cluster_id
            .as_ref_option()
            .or(state.id.as_ref_option())
            .map(String::as_str)
    }

    fn plan_create(proposed: State<P>) -> State<P> {
        PartState {
            id: proposed.cluster_id.clone(),
            fields: P::plan_create(proposed.fields),
            ..proposed
        }
    }

    fn plan_update(prior: &State<P>, proposed: State<P>, config: &State<P>) -> State<P> {
        PartState {
            fields: P::plan_update(&prior.fields, proposed.fields, &config.fields),
            ..proposed
        }
    }

    fn import(id: &str) -> Result<State<P>, Error> {
        let cluster = parse_id(id)?;
        Ok(PartState {
            id: Value::Value(cluster.clone()),
            cluster_id: Value::Value(cluster),
            fields: P::Fields::default(),
        })
    }

    async fn create(api: &Api, planned: &State<P>) -> Result<Observed<State<P>>, Error> {
        Self::put(api, planned).await
    }

    async fn read(api: &Api, state: &State<P>) -> Result<Option<Observed<State<P>>>, Error> {
        let found: Option<Cluster> = CLUSTERS.find(api, Self::id(state)).await?;
        Ok(found.and_then(observed::<P>))
    }

    /// The whole part is sent again: `PUT` replaces it.
    async fn update(
        api: &Api,
        _prior: &State<P>,
        planned: &State<P>,
    ) -> Result<Observed<State<P>>, Error> {
        Self::put(api, planned).await
    }

    async fn delete(api: &Api, state: &State<P>) -> Result<(), Error> {
        api.client.delete(&Self::path(api, state)).await
    }
}

/// A Ready cluster on its latest generation (2), with `parts` in its spec
/// (`{"backup": …}`, `{"maintenance_window": …}`).
#[cfg(test)]
pub(super) fn cluster(parts: serde_json::Value) -> Cluster {
    let mut spec = serde_json::json!({
        "version": "1.13.6", "nodes": 1, "replication_factor": 1,
        "cpu_millicores": 1000, "memory_mib": 2048, "storage_gib": 10,
        "backup": null, "maintenance_window": null, "generation": 2
    });
    if let (Some(spec), Some(parts)) = (spec.as_object_mut(), parts.as_object()) {
        spec.extend(parts.clone());
    }
    serde_json::from_value(serde_json::json!({
        "id": "0190d8a5-6b1e-7c3a-9f00-00000000c1c1",
        "name": "search", "region": "local", "simulated": true,
        "spec": spec,
        "status": {"phase": "Ready", "observed_generation": 2, "endpoint": null,
                   "conditions": [], "suspended_reason": null},
        "deletion_requested_at": null
    }))
    .unwrap_or_else(|e| panic!("the test cluster does not decode: {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::BackupSchedule;

    type Part = OfCluster<BackupSchedule>;

    const ID: &str = "0190d8a5-6b1e-7c3a-9f00-00000000c1c1";

    fn hourly() -> serde_json::Value {
        json!({"backup": {"schedule": "@hourly", "retention_days": 30}})
    }

    #[test]
    fn the_part_is_read_from_its_cluster_under_the_clusters_id() {
        let seen = observed::<BackupSchedule>(cluster(hourly())).unwrap();
        assert_eq!(seen.progress, Progress::Settled);
        assert_eq!(seen.state.id, Value::Value(ID.into()));
        assert_eq!(seen.state.cluster_id, Value::Value(ID.into()));
        assert_eq!(Part::id(&seen.state), Some(ID));
    }

    #[test]
    fn a_part_just_set_is_settled_once_the_data_plane_applied_it() {
        let mut applying = cluster(hourly());
        applying.status.observed_generation = 1;
        assert_eq!(
            observed::<BackupSchedule>(applying).unwrap().progress,
            Progress::Working("Ready".into())
        );
    }

    #[test]
    fn a_cluster_without_the_part_or_being_deleted_has_none_to_manage() {
        assert_eq!(observed::<BackupSchedule>(cluster(json!({}))), None);
        let mut deleting = cluster(hourly());
        deleting.deletion_requested_at = Some("2026-01-01T00:00:00Z".into());
        assert_eq!(observed::<BackupSchedule>(deleting), None);
    }

    #[test]
    fn a_planned_part_takes_its_clusters_id_known_or_not() {
        let proposed = |cluster_id| PartState {
            cluster_id,
            ..Default::default()
        };
        assert_eq!(
            Part::plan_create(proposed(Value::Unknown)).id,
            Value::Unknown
        );
        assert_eq!(
            Part::plan_create(proposed(Value::Value(ID.into()))).id,
            Value::Value(ID.into())
        );
    }

    #[test]
    fn import_takes_the_clusters_id() {
        let state = Part::import(&ID.to_uppercase()).unwrap();
        assert_eq!(state.cluster_id, Value::Value(ID.into()));
        assert_eq!(state.id, Value::Value(ID.into()));
        assert!(Part::import("search").is_err());
    }

    /// As Terraform sends and keeps it: MessagePack, unknown values as an
    /// extension; the part's attributes beside the ids, not nested.
    #[test]
    fn the_state_round_trips_through_terraforms_encoding_with_unknown_values() {
        let planned = Part::plan_create(
            serde_json::from_value(json!({
                "id": null, "cluster_id": null, "schedule": "@daily", "retention_days": 7,
                "retention_count": null, "verify": null
            }))
            .unwrap(),
        );
        let planned = PartState {
            cluster_id: Value::Unknown,
            ..planned
        };
        let encoded = rmp_serde::to_vec_named(&planned).unwrap();
        let decoded: State<BackupSchedule> = rmp_serde::from_slice(&encoded).unwrap();
        assert_eq!(decoded, planned);
        assert_eq!(decoded.fields.retention_count, Value::Unknown);
        let flat =
            serde_json::to_value(observed::<BackupSchedule>(cluster(hourly())).unwrap().state)
                .unwrap();
        assert_eq!(flat["cluster_id"], ID);
        assert_eq!(flat["schedule"], "@hourly");
    }
}
