//! `quartermaster_maintenance_window`: when, in UTC, a cluster's nodes may
//! begin restarting onto a new version or new resources (Business plans),
//! a part of the cluster ([`ClusterPart`]) whose id is the cluster's.
//! Destroying it lets changes roll at once again.

use serde::{Deserialize, Serialize};
use tf_provider::schema::Attribute;
use tf_provider::value::Value;

use super::cluster_part::ClusterPart;
use super::known;
use crate::dto::{self, ClusterSpec};
use crate::schema::{number, optional, required, string};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fields {
    pub day: Value<String>,
    pub start_hour: Value<i64>,
    pub duration_hours: Value<i64>,
}

#[derive(Debug)]
pub struct MaintenanceWindow;

impl ClusterPart for MaintenanceWindow {
    type Fields = Fields;
    type Request = dto::MaintenanceWindow;

    const KIND: &'static str = "maintenance window of cluster";
    const PATH: &'static str = "maintenance-window";
    const ABOUT: &'static str = "When, in UTC, a vector cluster's nodes may begin restarting onto a new version or new resources (Business plans). A change made outside the window waits for it; a roll that began goes on past its end.";
    const CLUSTER: &'static str = "The cluster whose restarts wait for the window.";

    fn attributes() -> Vec<(&'static str, Attribute)> {
        vec![
            (
                "day",
                optional(
                    string(),
                    "`mon`, `tue`, `wed`, `thu`, `fri`, `sat` or `sun`; every day when left out.",
                ),
            ),
            (
                "start_hour",
                required(number(), "The hour it opens, UTC: 0 to 23."),
            ),
            (
                "duration_hours",
                required(number(), "How long it stays open, in hours: 1 to 24."),
            ),
        ]
    }

    fn from_spec(spec: ClusterSpec) -> Option<Fields> {
        let window = spec.maintenance_window?;
        Some(Fields {
            day: window.day.into(),
            start_hour: Value::Value(window.start_hour),
            duration_hours: Value::Value(window.duration_hours),
        })
    }

    /// The whole window; a day left out is sent as `null`: every day.
    fn request(planned: &Fields) -> dto::MaintenanceWindow {
        dto::MaintenanceWindow {
            day: known(&planned.day),
            start_hour: known(&planned.start_hour).unwrap_or_default(),
            duration_hours: known(&planned.duration_hours).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::cluster_part::cluster;

    fn window(window: serde_json::Value) -> Option<Fields> {
        MaintenanceWindow::from_spec(cluster(json!({ "maintenance_window": window })).spec)
    }

    fn sunday() -> Fields {
        Fields {
            day: Value::Value("sun".into()),
            start_hour: Value::Value(22),
            duration_hours: Value::Value(4),
        }
    }

    #[test]
    fn the_window_is_read_from_its_cluster() {
        let read = window(json!({"day": "sun", "start_hour": 22, "duration_hours": 4}));
        assert_eq!(read, Some(sunday()));
    }

    #[test]
    fn a_window_without_a_day_is_every_day_and_no_window_is_none() {
        let daily = window(json!({"day": null, "start_hour": 0, "duration_hours": 24})).unwrap();
        assert_eq!(daily.day, Value::Null);
        assert_eq!(window(json!(null)), None);
    }

    #[test]
    fn the_whole_window_is_sent_and_a_day_left_out_as_null() {
        assert_eq!(
            serde_json::to_value(MaintenanceWindow::request(&sunday())).unwrap(),
            json!({"day": "sun", "start_hour": 22, "duration_hours": 4})
        );
        let daily = Fields {
            day: Value::Null,
            ..sunday()
        };
        assert_eq!(
            serde_json::to_value(MaintenanceWindow::request(&daily)).unwrap(),
            json!({"day": null, "start_hour": 22, "duration_hours": 4})
        );
    }

    #[test]
    fn what_is_sent_reads_back_the_same_so_an_apply_leaves_no_drift() {
        for planned in [
            sunday(),
            Fields {
                day: Value::Null,
                ..sunday()
            },
        ] {
            let sent = serde_json::to_value(MaintenanceWindow::request(&planned)).unwrap();
            assert_eq!(window(sent), Some(planned));
        }
    }
}
