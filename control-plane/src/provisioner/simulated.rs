//! The simulated data plane of `quartermaster dev`: nothing runs, and a
//! cluster is reported as a real one would be, `delay` after each change.
//! Pure: the answer depends only on the cluster's row and the time.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crds::maintenance::WAITING_REASON;
use crds::vector_cluster::Placement;

use super::observed::Observed;
use crate::clusters::{Cluster, ClusterPhase};
use crate::db::sql_int;
use crate::resource::Tracked;

/// The endpoint of a simulated cluster: shaped like a real one, marked so.
pub fn endpoint(cluster: &Tracked<Cluster>) -> String {
    format!(
        "http://{}.{}.simulated.invalid:6333",
        cluster.resource.name,
        cluster.organization_id.simple()
    )
}

pub fn observe(tracked: &Tracked<Cluster>, now: DateTime<Utc>, delay: Duration) -> Observed {
    let cluster = &tracked.resource;
    let spec = &cluster.spec;
    let wanted = spec.version.to_string();
    let nodes = sql_int(spec.nodes);
    let settled =
        tracked.applied_at.is_some_and(|at| at + delay <= now) && tracked.applied_generation > 0;
    if settled && spec.suspend {
        return Observed {
            phase: ClusterPhase::Suspended,
            observed_generation: tracked.applied_generation,
            current_version: Some(wanted),
            ready_nodes: 0,
            endpoint: Some(endpoint(tracked)),
            conditions: json!([{ "type": "Ready", "status": "False", "reason": "Suspended",
                                 "message": "simulated: suspended, no nodes run, data is kept" }]),
            placement: None,
            last_verified: None,
        };
    }
    // A new version waits for the window, as the operator holds it; the
    // cluster serves on the version it runs meanwhile.
    if let (true, Some(window), Some(running)) = (
        settled,
        spec.maintenance_window,
        cluster.current_version.as_ref(),
    ) && *running != wanted
        && !window.is_open(now)
    {
        let message = format!("simulated: {}", window.waiting_message(&wanted, now));
        return Observed {
            phase: ClusterPhase::Ready,
            observed_generation: tracked.applied_generation,
            current_version: Some(running.clone()),
            ready_nodes: nodes,
            endpoint: Some(endpoint(tracked)),
            conditions: json!([
                { "type": "Ready", "status": "True", "reason": WAITING_REASON, "message": message },
                { "type": "Progressing", "status": "True", "reason": WAITING_REASON, "message": message },
            ]),
            placement: held(cluster),
            last_verified: None,
        };
    }
    if settled {
        let message = format!("simulated: {nodes} of {nodes} nodes ready");
        return Observed {
            phase: ClusterPhase::Ready,
            observed_generation: tracked.applied_generation,
            current_version: Some(wanted),
            ready_nodes: nodes,
            endpoint: Some(endpoint(tracked)),
            conditions: json!([{ "type": "Ready", "status": "True", "reason": "Simulated", "message": message }]),
            placement: held(cluster),
            last_verified: None,
        };
    }
    let phase = if cluster.current_version.is_none() {
        ClusterPhase::Provisioning
    } else {
        ClusterPhase::Updating
    };
    Observed {
        phase,
        observed_generation: cluster.observed_generation,
        current_version: cluster.current_version.clone(),
        ready_nodes: cluster.ready_nodes,
        endpoint: cluster.current_version.as_ref().map(|_| endpoint(tracked)),
        conditions: json!([{ "type": "Ready", "status": "False", "reason": "Simulated",
                             "message": "simulated: applying the change" }]),
        placement: held(cluster),
        last_verified: None,
    }
}

/// A simulated cluster stores nothing: several nodes place no collection.
fn held(cluster: &Cluster) -> Option<Placement> {
    (cluster.spec.nodes > 1).then(Placement::default)
}

/// A simulated resource is gone `delay` after its deletion was asked for.
pub fn gone(asked: DateTime<Utc>, now: DateTime<Utc>, delay: Duration) -> bool {
    asked + delay <= now
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tracked(applied_at: Option<DateTime<Utc>>) -> Tracked<Cluster> {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 11, 0, 0).unwrap();
        Tracked {
            resource: Cluster {
                id: uuid::Uuid::nil(),
                name: "search".into(),
                region: "local".into(),
                simulated: true,
                labels: Default::default(),
                spec: crds::VectorClusterSpec::new(
                    "1.13.6".parse().unwrap(),
                    3,
                    2,
                    crds::vector_cluster::NodeResources {
                        cpu_millicores: 1000,
                        memory_mib: 2048,
                        storage_gib: 10,
                    },
                ),
                generation: 1,
                phase: ClusterPhase::Provisioning,
                observed_generation: 0,
                current_version: None,
                ready_nodes: 0,
                endpoint: None,
                conditions: sqlx::types::Json(json!([])),
                created_at: at,
                updated_at: at,
                deletion_requested_at: None,
                suspended_reason: None,
                suspended_by: None,
                backup_last_verified: None,
                backup_destination: None,
                restore_from: None,
                restore_phase: None,
                restore_message: None,
                placement: None,
            },
            organization_id: uuid::Uuid::nil(),
            data_plane_id: uuid::Uuid::nil(),
            applied_generation: i64::from(applied_at.is_some()),
            applied_at,
        }
    }

    #[test]
    fn a_suspended_cluster_runs_no_nodes_once_applied() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let mut c = tracked(Some(t0));
        c.resource.spec.suspend = true;
        c.resource.current_version = Some("1.13.6".into());
        let delay = Duration::seconds(3);
        assert_eq!(observe(&c, t0, delay).phase, ClusterPhase::Updating);
        let settled = observe(&c, t0 + delay, delay);
        assert_eq!(settled.phase, ClusterPhase::Suspended);
        assert_eq!(settled.ready_nodes, 0);
    }

    #[test]
    fn a_cluster_is_provisioning_until_the_delay_has_passed() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let delay = Duration::seconds(3);
        let c = tracked(Some(t0));
        assert_eq!(
            observe(&c, t0 + Duration::seconds(1), delay).phase,
            ClusterPhase::Provisioning
        );
        let ready = observe(&c, t0 + Duration::seconds(3), delay);
        assert_eq!(ready.phase, ClusterPhase::Ready);
        assert_eq!(ready.ready_nodes, 3);
        assert_eq!(ready.observed_generation, 1);
        assert_eq!(ready.current_version.as_deref(), Some("1.13.6"));
        assert!(ready.endpoint.unwrap().ends_with(".simulated.invalid:6333"));
    }

    #[test]
    fn a_change_to_a_running_cluster_shows_updating() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let mut c = tracked(Some(t0));
        c.resource.current_version = Some("1.13.6".into());
        assert_eq!(
            observe(&c, t0, Duration::seconds(3)).phase,
            ClusterPhase::Updating
        );
        assert_eq!(
            observe(&tracked(None), t0, Duration::zero()).phase,
            ClusterPhase::Provisioning
        );
    }

    #[test]
    fn an_upgrade_waits_for_the_window_serving_the_version_it_runs() {
        use crds::maintenance::MaintenanceWindow;
        // 2026-11-25 is a Wednesday; the window opens at 22:00 every day.
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let delay = Duration::seconds(3);
        let mut c = tracked(Some(t0));
        c.resource.current_version = Some("1.13.6".into());
        c.resource.spec.version = "1.14.0".parse().unwrap();
        c.resource.spec.maintenance_window = Some(MaintenanceWindow {
            day: None,
            start_hour: 22,
            duration_hours: 2,
        });

        let waiting = observe(&c, t0 + delay, delay);
        assert_eq!(waiting.phase, ClusterPhase::Ready);
        assert_eq!(waiting.current_version.as_deref(), Some("1.13.6"));
        assert_eq!(waiting.observed_generation, 1);
        assert_eq!(
            waiting.conditions[1]["reason"],
            "WaitingForMaintenanceWindow"
        );
        assert_eq!(
            waiting.conditions[1]["message"],
            "simulated: 1.14.0 waits for the maintenance window (daily 22:00 UTC for 2 h), \
             which opens at 2026-11-25 22:00 UTC"
        );

        let in_window = Utc.with_ymd_and_hms(2026, 11, 25, 22, 30, 0).unwrap();
        let upgraded = observe(&c, in_window, delay);
        assert_eq!(upgraded.current_version.as_deref(), Some("1.14.0"));

        c.resource.spec.maintenance_window = None;
        let at_once = observe(&c, t0 + delay, delay);
        assert_eq!(at_once.current_version.as_deref(), Some("1.14.0"));
    }

    #[test]
    fn deletion_completes_after_the_delay() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        assert!(!gone(t0, t0 + Duration::seconds(1), Duration::seconds(2)));
        assert!(gone(t0, t0 + Duration::seconds(2), Duration::seconds(2)));
    }
}
