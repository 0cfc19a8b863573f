//! The rolling-upgrade gate: how far the StatefulSet's partition may move.
//!
//! A pure decision over what was observed. The partition only moves down
//! (towards 0) after the pod at the partition runs the new template, is
//! Ready, and Qdrant reports every peer present with no shard moving; a pod
//! on the new template that fails halts the rollout where it is.

use chrono::{DateTime, Utc};

use crate::crd::maintenance::MaintenanceWindow;

/// A pod of the cluster as the gate needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodState {
    pub ordinal: u32,
    pub ready: bool,
    /// Runs the StatefulSet's update revision.
    pub updated: bool,
    /// Why it cannot run, if it cannot (CrashLoopBackOff, image pull, …).
    pub failure: Option<String>,
}

/// The StatefulSet as it was before this reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Existing {
    /// Its pod template is the one this reconcile would build.
    pub template_current: bool,
    /// The StatefulSet controller has seen its latest spec.
    pub observed: bool,
    pub partition: u32,
    pub ready_replicas: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to roll: apply with partition 0.
    Steady,
    /// A new template: begin at the highest ordinal.
    Start { partition: u32 },
    /// Keep the partition and wait, for `reason`.
    Hold { partition: u32, reason: String },
    /// Kubernetes is satisfied up to `partition`; ask Qdrant before moving to `next`.
    CheckEngine { partition: u32, next: u32 },
    /// A pod on the new template fails: keep the partition, report, wait for a fix.
    Halt { partition: u32, reason: String },
    /// A new template waits, every node on the old one, for the cluster's
    /// maintenance window.
    Scheduled {
        partition: u32,
        window: MaintenanceWindow,
    },
}

impl Step {
    /// The partition to apply with this step (before any engine check).
    pub fn partition(&self) -> u32 {
        match self {
            Step::Steady => 0,
            Step::Start { partition }
            | Step::Hold { partition, .. }
            | Step::CheckEngine { partition, .. }
            | Step::Halt { partition, .. }
            | Step::Scheduled { partition, .. } => *partition,
        }
    }
}

pub fn step(
    existing: Option<Existing>,
    pods: &[PodState],
    replicas: u32,
    pod_name: impl Fn(u32) -> String,
) -> Step {
    let Some(existing) = existing else {
        return Step::Steady;
    };
    if !existing.template_current {
        // With nothing serving there is nothing to protect: replace at once.
        let partition = if existing.ready_replicas == 0 {
            0
        } else {
            replicas.saturating_sub(1)
        };
        return Step::Start { partition };
    }
    let partition = existing.partition.min(replicas.saturating_sub(1));
    if let Some(failing) = pods
        .iter()
        .filter(|p| p.updated && p.ordinal >= partition)
        .find_map(|p| p.failure.as_ref().map(|f| (p.ordinal, f)))
    {
        return Step::Halt {
            partition,
            reason: format!(
                "{} fails on the new version: {}",
                pod_name(failing.0),
                failing.1
            ),
        };
    }
    if partition == 0 {
        return Step::Steady;
    }
    if !existing.observed {
        return Step::Hold {
            partition,
            reason: "the StatefulSet controller has not caught up yet".to_owned(),
        };
    }
    let behind = (partition..replicas).find(|ordinal| {
        !pods
            .iter()
            .any(|p| p.ordinal == *ordinal && p.updated && p.ready)
    });
    match behind {
        Some(ordinal) => Step::Hold {
            partition,
            reason: format!(
                "waiting for {} to run the new version and become Ready",
                pod_name(ordinal)
            ),
        },
        None => Step::CheckEngine {
            partition,
            next: partition - 1,
        },
    }
}

/// Outside the maintenance window a roll does not begin: the new template
/// is applied with every node held on the old one. A roll under way (a pod
/// runs the new template) goes on, and a cluster with nothing serving is
/// replaced at once, as [`step`] does.
pub fn within_window(
    step: Step,
    existing: Option<Existing>,
    pods: &[PodState],
    replicas: u32,
    window: Option<&MaintenanceWindow>,
    now: DateTime<Utc>,
) -> Step {
    let (Some(window), Some(existing)) = (window, existing) else {
        return step;
    };
    let begun = existing.template_current && pods.iter().any(|p| p.updated);
    if begun
        || matches!(step, Step::Steady)
        || step.partition() >= replicas
        || existing.ready_replicas == 0
        || window.is_open(now)
    {
        return step;
    }
    Step::Scheduled {
        partition: replicas,
        window: *window,
    }
}

/// The outcome of a [`Step::CheckEngine`].
pub fn after_engine(partition: u32, next: u32, engine: Result<(), String>) -> Step {
    match engine {
        Ok(()) => Step::Hold {
            partition: next,
            reason: "rolling to the next node".to_owned(),
        },
        Err(reason) => Step::Hold { partition, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(o: u32) -> String {
        format!("search-{o}")
    }

    fn pod(ordinal: u32, updated: bool, ready: bool) -> PodState {
        PodState {
            ordinal,
            ready,
            updated,
            failure: None,
        }
    }

    fn rolling(partition: u32) -> Option<Existing> {
        Some(Existing {
            template_current: true,
            observed: true,
            partition,
            ready_replicas: 3,
        })
    }

    #[test]
    fn a_new_cluster_has_nothing_to_roll() {
        assert_eq!(step(None, &[], 3, name), Step::Steady);
    }

    #[test]
    fn a_new_template_starts_at_the_highest_ordinal() {
        let existing = Existing {
            template_current: false,
            observed: true,
            partition: 0,
            ready_replicas: 3,
        };
        assert_eq!(
            step(Some(existing), &[], 3, name),
            Step::Start { partition: 2 }
        );
        let idle = Existing {
            ready_replicas: 0,
            ..existing
        };
        assert_eq!(step(Some(idle), &[], 3, name), Step::Start { partition: 0 });
    }

    #[test]
    fn the_partition_waits_for_the_updated_pod_to_be_ready() {
        let pods = [
            pod(0, false, true),
            pod(1, false, true),
            pod(2, true, false),
        ];
        assert_eq!(
            step(rolling(2), &pods, 3, name),
            Step::Hold {
                partition: 2,
                reason: "waiting for search-2 to run the new version and become Ready".into()
            }
        );
        let pods = [pod(0, false, true), pod(1, false, true), pod(2, true, true)];
        assert_eq!(
            step(rolling(2), &pods, 3, name),
            Step::CheckEngine {
                partition: 2,
                next: 1
            }
        );
    }

    #[test]
    fn the_engine_has_the_last_word() {
        assert_eq!(after_engine(2, 1, Ok(())).partition(), 1);
        assert_eq!(
            after_engine(2, 1, Err("Qdrant sees 2 of 3 peers".into())),
            Step::Hold {
                partition: 2,
                reason: "Qdrant sees 2 of 3 peers".into()
            }
        );
    }

    #[test]
    fn a_failing_updated_pod_halts_the_rollout_where_it_is() {
        let mut failing = pod(2, true, false);
        failing.failure = Some("CrashLoopBackOff".into());
        let pods = [pod(0, false, true), pod(1, false, true), failing];
        assert_eq!(
            step(rolling(2), &pods, 3, name),
            Step::Halt {
                partition: 2,
                reason: "search-2 fails on the new version: CrashLoopBackOff".into()
            }
        );
    }

    #[test]
    fn an_unobserved_statefulset_is_waited_for() {
        let existing = Existing {
            observed: false,
            ..rolling(2).unwrap()
        };
        assert!(matches!(
            step(Some(existing), &[], 3, name),
            Step::Hold { partition: 2, .. }
        ));
    }

    #[test]
    fn a_finished_rollout_is_steady() {
        let pods = [pod(0, true, true), pod(1, true, true), pod(2, true, true)];
        assert_eq!(step(rolling(0), &pods, 3, name), Step::Steady);
    }

    #[test]
    fn outside_its_window_a_roll_waits_and_once_begun_or_with_nothing_serving_it_does_not() {
        use chrono::TimeZone;
        let window = MaintenanceWindow {
            day: None,
            start_hour: 2,
            duration_hours: 2,
        };
        let noon = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let new_template = Existing {
            template_current: false,
            observed: true,
            partition: 0,
            ready_replicas: 3,
        };
        let start = || Step::Start { partition: 2 };
        let gate = |step, existing, pods: &[PodState], at| {
            within_window(step, Some(existing), pods, 3, Some(&window), at)
        };

        assert_eq!(
            gate(start(), new_template, &[], noon),
            Step::Scheduled {
                partition: 3,
                window,
            }
        );
        let three = Utc.with_ymd_and_hms(2026, 12, 2, 3, 0, 0).unwrap();
        assert_eq!(gate(start(), new_template, &[], three), start(), "open");
        assert_eq!(
            within_window(start(), Some(new_template), &[], 3, None, noon),
            start(),
            "no window"
        );
        let idle = Existing {
            ready_replicas: 0,
            ..new_template
        };
        assert_eq!(
            gate(Step::Start { partition: 0 }, idle, &[], noon),
            Step::Start { partition: 0 },
            "nothing serving"
        );
        let held = Existing {
            template_current: true,
            partition: 3,
            ..new_template
        };
        let waiting = Step::Hold {
            partition: 2,
            reason: "waiting for search-2".into(),
        };
        let pods = [
            pod(0, false, true),
            pod(1, false, true),
            pod(2, false, true),
        ];
        assert!(matches!(
            gate(waiting.clone(), held, &pods, noon),
            Step::Scheduled { partition: 3, .. }
        ));
        let begun = [
            pod(0, false, true),
            pod(1, false, true),
            pod(2, true, false),
        ];
        assert_eq!(gate(waiting.clone(), held, &begun, noon), waiting, "begun");
        assert_eq!(gate(Step::Steady, held, &pods, noon), Step::Steady);
    }
}
