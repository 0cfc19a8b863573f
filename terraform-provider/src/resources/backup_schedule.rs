//! `quartermaster_backup_schedule`: a cluster's scheduled backups and how
//! long they are kept, a part of the cluster ([`ClusterPart`]) whose id is
//! the cluster's. Destroying it stops scheduling; backups taken stay.

use serde::{Deserialize, Serialize};
use tf_provider::schema::Attribute;
use tf_provider::value::Value;

use super::cluster_part::ClusterPart;
use super::{known, unknown_if_null};
use crate::dto::{BackupPolicy, ClusterSpec};
use crate::schema::{boolean, defaulted, number, required, string};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fields {
    pub schedule: Value<String>,
    pub retention_days: Value<i64>,
    pub retention_count: Value<i64>,
    pub verify: Value<bool>,
}

#[derive(Debug)]
pub struct BackupSchedule;

impl ClusterPart for BackupSchedule {
    type Fields = Fields;
    type Request = BackupPolicy;

    const KIND: &'static str = "backup schedule of cluster";
    const PATH: &'static str = "backup-policy";
    const ABOUT: &'static str = "Scheduled backups of a vector cluster, within the plan: none on Free, daily and 7 days on Starter, hourly or any cron and 30 days on Business.";
    const CLUSTER: &'static str = "The cluster to back up.";

    fn attributes() -> Vec<(&'static str, Attribute)> {
        vec![
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
            (
                "verify",
                defaulted(
                    boolean(),
                    "Restore each backup into a throwaway one-node cluster, not billed, that proves every collection's point count (Business). False when left out.",
                ),
            ),
        ]
    }

    fn from_spec(spec: ClusterSpec) -> Option<Fields> {
        let policy = spec.backup?;
        Some(Fields {
            schedule: Value::Value(policy.schedule),
            retention_days: Value::Value(policy.retention_days),
            retention_count: policy.retention_count.into(),
            verify: Value::Value(policy.verify),
        })
    }

    fn request(planned: &Fields) -> BackupPolicy {
        BackupPolicy {
            schedule: known(&planned.schedule).unwrap_or_default(),
            retention_days: known(&planned.retention_days).unwrap_or_default(),
            retention_count: known(&planned.retention_count),
            verify: known(&planned.verify).unwrap_or(false),
        }
    }

    fn plan_create(proposed: Fields) -> Fields {
        Fields {
            retention_count: unknown_if_null(proposed.retention_count),
            verify: unknown_if_null(proposed.verify),
            ..proposed
        }
    }

    /// A count left out follows the days, so it is the API's to choose again.
    fn plan_update(_prior: &Fields, proposed: Fields, config: &Fields) -> Fields {
        Fields {
            retention_count: match config.retention_count {
                Value::Null => Value::Unknown,
                _ => proposed.retention_count,
            },
            ..proposed
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::cluster_part::cluster;

    fn schedule(policy: serde_json::Value) -> Option<Fields> {
        BackupSchedule::from_spec(cluster(json!({ "backup": policy })).spec)
    }

    #[test]
    fn the_schedule_is_read_from_its_cluster() {
        let fields =
            schedule(json!({"schedule": "@hourly", "retention_days": 30, "retention_count": 30}))
                .unwrap();
        assert_eq!(fields.schedule, Value::Value("@hourly".into()));
        assert_eq!(fields.retention_days, Value::Value(30));
        assert_eq!(fields.retention_count, Value::Value(30));
        assert_eq!(schedule(json!(null)), None);
    }

    #[test]
    fn a_count_left_out_is_the_apis_to_choose() {
        let planned = BackupSchedule::plan_create(Fields {
            schedule: Value::Value("@daily".into()),
            retention_days: Value::Value(7),
            retention_count: Value::Null,
            verify: Value::Null,
        });
        assert_eq!(planned.retention_count, Value::Unknown);
        let body = serde_json::to_value(BackupSchedule::request(&planned)).unwrap();
        assert_eq!(body, json!({"schedule": "@daily", "retention_days": 7}));
    }

    #[test]
    fn a_count_left_out_follows_new_days() {
        let prior =
            schedule(json!({"schedule": "@daily", "retention_days": 7, "retention_count": 7}))
                .unwrap();
        let proposed = Fields {
            retention_days: Value::Value(14),
            ..prior.clone()
        };
        let planned = BackupSchedule::plan_update(&prior, proposed, &Fields::default());
        assert_eq!(planned.retention_count, Value::Unknown);
        let body = serde_json::to_value(BackupSchedule::request(&planned)).unwrap();
        assert_eq!(body, json!({"schedule": "@daily", "retention_days": 14}));
    }
}
