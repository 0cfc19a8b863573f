//! The status a reconcile reports, computed once from what it saw and did.

use chrono::{DateTime, Utc};

use super::Refused;
use super::rollout::Step;
use super::{shards, volumes};
use crate::crd::condition::{self, Observed};
use crate::crd::maintenance::WAITING_REASON;
use crate::crd::vector_cluster::{Phase, Placement, VectorClusterStatus};

/// Everything the status is computed from.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub generation: Option<i64>,
    pub version: String,
    pub desired_nodes: u32,
    pub suspended: bool,
    /// Desired nodes whose pod is Ready.
    pub ready_nodes: u32,
    /// Pods that still exist, desired or not (a suspension waits for none).
    pub pods: u32,
    /// Every desired pod exists, runs the update revision and is Ready.
    pub all_current: bool,
    pub step: &'a Step,
    /// Children the apiserver refused in this pass.
    pub refused: &'a [Refused],
    /// What becomes of the volumes.
    pub volumes: &'a volumes::Plan,
    /// Where Qdrant's shards are going, when they were looked at.
    pub shards: Option<&'a shards::Plan>,
    /// Where they are, when they were read.
    pub placement: Option<&'a Placement>,
    /// The volume size the spec asks for, in GiB.
    pub storage_gib: u32,
    pub endpoint: String,
    pub selector: String,
    pub previous: Option<&'a VectorClusterStatus>,
}

fn cond(
    type_: &'static str,
    status: bool,
    reason: &'static str,
    message: impl Into<String>,
) -> Observed {
    Observed::new(type_, status, reason, message)
}

/// The reason of a `Degraded` condition for children the apiserver refused.
pub const APPLY_FAILED: &str = "ApplyFailed";

pub fn compute(f: &Facts<'_>, now: DateTime<Utc>) -> VectorClusterStatus {
    let previous_version = f.previous.and_then(|p| p.current_version.clone());
    let nodes = format!("{} of {} nodes ready", f.ready_nodes, f.desired_nodes);
    let refused = f
        .refused
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let rebalance = f
        .shards
        .and_then(|plan| plan.progress(f.previous.and_then(|p| p.rebalance.as_ref())));
    let (phase, reason, message) = match f.step {
        _ if !f.refused.is_empty() => (Phase::Degraded, APPLY_FAILED, refused),
        _ if let Some(message) = f.shards.and_then(|plan| plan.message(rebalance.as_ref())) => (
            Phase::Updating,
            shards::REBALANCING,
            format!("{message}; {nodes}"),
        ),
        _ if let Some((degraded, reason, message)) = f.volumes.report(f.storage_gib) => (
            if degraded {
                Phase::Degraded
            } else {
                Phase::Updating
            },
            reason,
            format!("{message}; {nodes}"),
        ),
        Step::Halt { reason, .. } => (Phase::Degraded, "RolloutHalted", reason.clone()),
        // Serving as before; the change is pending, not under way.
        Step::Scheduled { window, .. } => (
            Phase::Ready,
            WAITING_REASON,
            format!("{}; {nodes}", window.waiting_message(&f.version, now)),
        ),
        Step::Start { .. } | Step::CheckEngine { .. } => (
            Phase::Updating,
            "RollingUpgrade",
            format!("rolling to {}; {nodes}", f.version),
        ),
        Step::Hold { reason, .. } => (
            Phase::Updating,
            "RollingUpgrade",
            format!("{reason}; {nodes}"),
        ),
        Step::Steady if f.suspended && f.pods == 0 => (
            Phase::Suspended,
            "Suspended",
            "suspended: no nodes run, volumes are kept".to_owned(),
        ),
        Step::Steady if f.suspended => (Phase::Updating, "Suspending", nodes.clone()),
        Step::Steady if f.all_current => (Phase::Ready, "AllNodesReady", nodes.clone()),
        Step::Steady if previous_version.is_none() => {
            (Phase::Provisioning, "Provisioning", nodes.clone())
        }
        Step::Steady => (Phase::Updating, "Scaling", nodes.clone()),
    };
    let rolling = matches!(
        f.step,
        Step::Start { .. }
            | Step::Hold { .. }
            | Step::CheckEngine { .. }
            | Step::Halt { .. }
            | Step::Scheduled { .. }
    );
    let observed = [
        cond("Ready", phase == Phase::Ready, reason, message.clone()),
        cond(
            "Progressing",
            matches!(phase, Phase::Provisioning | Phase::Updating)
                || matches!(f.step, Step::Scheduled { .. }),
            reason,
            message.clone(),
        ),
        cond("Degraded", phase == Phase::Degraded, reason, message),
    ];
    let previous_conditions = f.previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    VectorClusterStatus {
        observed_generation: f.generation,
        phase,
        conditions: condition::merge(previous_conditions, &observed, f.generation, now),
        ready_nodes: f.ready_nodes,
        current_version: if f.all_current && !f.suspended {
            Some(f.version.clone())
        } else {
            previous_version
        },
        target_version: rolling.then(|| f.version.clone()),
        endpoint: Some(f.endpoint.clone()),
        selector: Some(f.selector.clone()),
        // The backup scheduler's part: carried over, never decided here.
        backups: f.previous.and_then(|p| p.backups.clone()),
        rebalance,
        // Unread this pass (a rollout, Qdrant unreachable): the last reading
        // stands while the cluster has several nodes; one node has nothing
        // to place.
        placement: f.placement.cloned().or_else(|| {
            (f.desired_nodes > 1)
                .then(|| f.previous.and_then(|p| p.placement.clone()))
                .flatten()
        }),
    }
}

/// The status of a spec that cannot be reconciled.
pub fn invalid(
    previous: Option<&VectorClusterStatus>,
    generation: Option<i64>,
    message: String,
    now: DateTime<Utc>,
) -> VectorClusterStatus {
    let observed = [
        cond("Ready", false, "InvalidSpec", message.clone()),
        cond("Progressing", false, "InvalidSpec", message.clone()),
        cond("Degraded", true, "InvalidSpec", message),
    ];
    let mut status = previous.cloned().unwrap_or_default();
    status.conditions = condition::merge(&status.conditions, &observed, generation, now);
    status.phase = Phase::Degraded;
    status.observed_generation = generation;
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(
        step: &'a Step,
        ready: u32,
        all_current: bool,
        previous: Option<&'a VectorClusterStatus>,
    ) -> Facts<'a> {
        Facts {
            generation: Some(2),
            version: "1.13.0".into(),
            desired_nodes: 3,
            suspended: false,
            ready_nodes: ready,
            pods: ready,
            all_current,
            step,
            refused: &[],
            volumes: &volumes::Plan::Current,
            shards: None,
            placement: None,
            storage_gib: 10,
            endpoint: "http://search.org-acme.svc.cluster.local:6333".into(),
            selector: "app=qdrant".into(),
            previous,
        }
    }

    #[test]
    fn a_new_cluster_is_provisioning_until_every_node_is_ready() {
        let s = compute(&facts(&Step::Steady, 1, false, None), Utc::now());
        assert_eq!(s.phase, Phase::Provisioning);
        assert_eq!(s.current_version, None);
        let s = compute(&facts(&Step::Steady, 3, true, Some(&s)), Utc::now());
        assert_eq!(s.phase, Phase::Ready);
        assert_eq!(s.current_version.as_deref(), Some("1.13.0"));
        let ready = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "AllNodesReady")
        );
    }

    #[test]
    fn during_an_upgrade_the_old_version_is_current_and_the_new_one_the_target() {
        let before = VectorClusterStatus {
            current_version: Some("1.12.0".into()),
            ..VectorClusterStatus::default()
        };
        let step = Step::Hold {
            partition: 1,
            reason: "waiting for search-1".into(),
        };
        let s = compute(&facts(&step, 2, false, Some(&before)), Utc::now());
        assert_eq!(s.phase, Phase::Updating);
        assert_eq!(s.current_version.as_deref(), Some("1.12.0"));
        assert_eq!(s.target_version.as_deref(), Some("1.13.0"));
    }

    #[test]
    fn a_halted_rollout_is_degraded_with_the_reason() {
        let step = Step::Halt {
            partition: 2,
            reason: "search-2 fails on the new version: CrashLoopBackOff".into(),
        };
        let s = compute(&facts(&step, 2, false, None), Utc::now());
        assert_eq!(s.phase, Phase::Degraded);
        let degraded = s.conditions.iter().find(|c| c.type_ == "Degraded").unwrap();
        assert_eq!(degraded.status, "True");
        assert_eq!(degraded.reason, "RolloutHalted");
        assert!(degraded.message.contains("CrashLoopBackOff"));
    }

    #[test]
    fn a_refused_child_is_degraded_naming_the_object_and_the_apiservers_message() {
        let refused = [Refused {
            object: "StatefulSet/search".into(),
            message: "spec: Forbidden: updates to statefulset spec for fields other than 'replicas' are forbidden".into(),
        }];
        let mut f = facts(&Step::Steady, 3, true, None);
        f.refused = &refused;
        let s = compute(&f, Utc::now());
        assert_eq!(s.phase, Phase::Degraded);
        assert_eq!(s.observed_generation, Some(2));
        let degraded = s.conditions.iter().find(|c| c.type_ == "Degraded").unwrap();
        assert_eq!(
            (degraded.status.as_str(), degraded.reason.as_str()),
            ("True", APPLY_FAILED)
        );
        assert!(
            degraded
                .message
                .starts_with("StatefulSet/search: spec: Forbidden"),
            "{}",
            degraded.message
        );
        let ready = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "False");
    }

    #[test]
    fn a_suspended_cluster_is_suspended_once_no_pod_is_left() {
        let mut f = facts(&Step::Steady, 0, false, None);
        f.suspended = true;
        f.pods = 2;
        assert_eq!(compute(&f, Utc::now()).phase, Phase::Updating);
        f.pods = 0;
        assert_eq!(compute(&f, Utc::now()).phase, Phase::Suspended);
    }
}
