//! `quartermaster_backup_schedule`: a cluster's scheduled backups and how
//! long they are kept. A cluster has at most one, so its id is the
//! cluster's. Destroying it stops scheduling; backups taken stay.

use async_trait::async_trait;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use tf_provider::schema::Schema;
use tf_provider::value::Value;

use super::{known, parse_id, unknown_if_null, vector_cluster};
use crate::dto::{BackupPolicy, Cluster};
use crate::error::Error;
use crate::provider::Api;
use crate::resource::{ApiResource, Observed};
use crate::schema::{computed, defaulted, number, required, schema, string};
use crate::wait::Progress;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub id: Value<String>,
    pub cluster_id: Value<String>,
    pub schedule: Value<String>,
    pub retention_days: Value<i64>,
    pub retention_count: Value<i64>,
}

pub fn policy_request(planned: &State) -> BackupPolicy {
    BackupPolicy {
        schedule: known(&planned.schedule).unwrap_or_default(),
        retention_days: known(&planned.retention_days).unwrap_or_default(),
        retention_count: known(&planned.retention_count),
    }
}

/// The schedule of `cluster`; `None` when it has none (or is being
/// deleted). The schedule is part of the cluster's spec, so it is settled
/// when the data plane has applied the cluster's latest generation.
pub fn observed(cluster: Cluster) -> Option<Observed<State>> {
    let progress = vector_cluster::progress(&cluster);
    if progress == Progress::Deleting {
        return None;
    }
    let policy = cluster.spec.backup?;
    let id = cluster.id.to_string();
    Some(Observed {
        state: State {
            id: Value::Value(id.clone()),
            cluster_id: Value::Value(id),
            schedule: Value::Value(policy.schedule),
            retention_days: Value::Value(policy.retention_days),
            retention_count: policy.retention_count.into(),
        },
        progress,
    })
}

#[derive(Debug)]
pub struct BackupSchedule;

impl BackupSchedule {
    fn path(api: &Api, state: &State) -> String {
        api.path(&format!("clusters/{}", Self::id(state).unwrap_or_default()))
    }

    async fn put(api: &Api, planned: &State) -> Result<Observed<State>, Error> {
        let path = format!("{}/backup-policy", Self::path(api, planned));
        let cluster: Cluster = api
            .client
            .send(Method::PUT, &path, Some(&policy_request(planned)))
            .await?;
        observed(cluster).ok_or_else(|| Error::Failed {
            what: format!("{} {}", Self::KIND, Self::id(planned).unwrap_or_default()),
            phase: "absent".into(),
            reason: "the API accepted it but the cluster shows none".into(),
        })
    }
}

#[async_trait]
impl ApiResource for BackupSchedule {
    type State = State;

    const KIND: &'static str = "backup schedule of cluster";
    const REPLACE_ON_CHANGE: &'static [&'static str] = &["cluster_id"];

    fn schema() -> Schema {
        schema(
            "Scheduled backups of a vector cluster, within the plan: none on Free, daily and 7 days on Starter, hourly or any cron and 30 days on Business.",
            [
                (
                    "id",
                    computed(string(), "The cluster's id (a cluster has one schedule)."),
                ),
                ("cluster_id", required(string(), "The cluster to back up.")),
                (
                    "schedule",
                    required(
                        string(),
                        "Cron in UTC (`0 2 * * *`) or `@daily`, `@hourly`.",
                    ),
                ),
                (
                    "retention_days",
                    required(number(), "Days each backup is kept."),
                ),
                (
                    "retention_count",
                    defaulted(
                        number(),
                        "Successful backups kept, newest first; the retention in days when left out.",
                    ),
                ),
            ],
        )
    }

    fn id(state: &State) -> Option<&str> {
        state
            .cluster_id
            .as_ref_option()
            .or(state.id.as_ref_option())
            .map(String::as_str)
    }

    fn plan_create(proposed: State) -> State {
        State {
            id: proposed.cluster_id.clone(),
            retention_count: unknown_if_null(proposed.retention_count),
            ..proposed
        }
    }

    /// A count left out follows the days, so it is the API's to choose again.
    fn plan_update(_prior: &State, proposed: State, config: &State) -> State {
        State {
            retention_count: match config.retention_count {
                Value::Null => Value::Unknown,
                _ => proposed.retention_count,
            },
            ..proposed
        }
    }

    fn import(id: &str) -> Result<State, Error> {
        let cluster = parse_id(id)?;
        Ok(State {
            id: Value::Value(cluster.clone()),
            cluster_id: Value::Value(cluster),
            ..State::default()
        })
    }

    async fn create(api: &Api, planned: &State) -> Result<Observed<State>, Error> {
        Self::put(api, planned).await
    }

    async fn read(api: &Api, state: &State) -> Result<Option<Observed<State>>, Error> {
        let found: Option<Cluster> = api.client.find(&Self::path(api, state)).await?;
        Ok(found.and_then(observed))
    }

    /// The whole policy is sent again: `PUT` replaces it.
    async fn update(api: &Api, _prior: &State, planned: &State) -> Result<Observed<State>, Error> {
        Self::put(api, planned).await
    }

    async fn delete(api: &Api, state: &State) -> Result<(), Error> {
        let path = format!("{}/backup-policy", Self::path(api, state));
        api.client.delete(&path).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cluster(backup: serde_json::Value) -> Cluster {
        serde_json::from_value(json!({
            "id": "0190d8a5-6b1e-7c3a-9f00-00000000c1c1",
            "name": "search", "region": "local", "simulated": true,
            "spec": {"version": "1.13.6", "nodes": 1, "replication_factor": 1,
                     "cpu_millicores": 1000, "memory_mib": 2048, "storage_gib": 10,
                     "backup": backup, "generation": 2},
            "status": {"phase": "Ready", "observed_generation": 2, "endpoint": null,
                       "conditions": [], "suspended_reason": null},
            "deletion_requested_at": null
        }))
        .unwrap()
    }

    #[test]
    fn the_schedule_is_read_from_its_cluster() {
        let seen = observed(cluster(
            json!({"schedule": "@hourly", "retention_days": 30, "retention_count": 30}),
        ))
        .unwrap();
        assert_eq!(seen.state.id, seen.state.cluster_id);
        assert_eq!(seen.state.schedule, Value::Value("@hourly".into()));
        assert_eq!(seen.state.retention_count, Value::Value(30));
    }

    #[test]
    fn a_new_schedule_is_settled_once_the_data_plane_applied_it() {
        let mut applying = cluster(json!({"schedule": "@daily", "retention_days": 7}));
        applying.status.observed_generation = 1;
        assert_eq!(
            observed(applying).unwrap().progress,
            Progress::Working("Ready".into())
        );
    }

    #[test]
    fn a_cluster_without_a_schedule_has_none_to_manage() {
        assert_eq!(observed(cluster(json!(null))), None);
    }

    #[test]
    fn a_count_left_out_follows_new_days() {
        let prior = observed(cluster(
            json!({"schedule": "@daily", "retention_days": 7, "retention_count": 7}),
        ))
        .unwrap()
        .state;
        let proposed = State {
            retention_days: Value::Value(14),
            ..prior.clone()
        };
        let planned = BackupSchedule::plan_update(&prior, proposed, &State::default());
        assert_eq!(planned.retention_count, Value::Unknown);
        let body = serde_json::to_value(policy_request(&planned)).unwrap();
        assert_eq!(body, json!({"schedule": "@daily", "retention_days": 14}));
    }
}
