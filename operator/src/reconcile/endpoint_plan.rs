//! What an `InferenceEndpoint` reconcile decides, as a pure function of
//! what it saw: which model to run (the spec's, or the last good one after
//! a failed rollout), how many replicas to set itself (zero when idle, one
//! to wake), and the status to report.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::build::endpoint::Plan;
use crate::crd::condition::{self, Observed};
use crate::crd::inference_endpoint::{
    EndpointPhase, InferenceEndpointSpec, InferenceEndpointStatus,
};

/// The Deployment as read before this reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFacts {
    pub replicas: u32,
    pub ready: u32,
    pub updated: u32,
    /// The revision label of its pod template.
    pub revision: Option<String>,
    /// Kubernetes gave up waiting for the new pods (`ProgressDeadlineExceeded`).
    pub deadline_exceeded: bool,
}

/// What the engine's finished-request counter said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requests {
    /// No replica is ready, so none was asked.
    NotAsked,
    Counted(u64),
    /// The engine was asked and did not say: nothing is known of its load,
    /// so the endpoint is held where it is, never taken for idle.
    Unreadable(String),
}

#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub generation: Option<i64>,
    pub spec: &'a InferenceEndpointSpec,
    pub status: Option<&'a InferenceEndpointStatus>,
    pub deployment: Option<DeploymentFacts>,
    /// The engine's finished-request counter.
    pub requests: Requests,
    /// Someone asked to wake the endpoint (the control plane, on a request).
    pub wake_requested_at: Option<DateTime<Utc>>,
    pub endpoint_url: String,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub plan: Plan,
    pub status: InferenceEndpointStatus,
    /// A rollback happened in this reconcile.
    pub rolled_back: bool,
}

/// The label value of a served revision (what the builder puts on pods).
pub fn revision_label(revision: &str) -> String {
    crate::build::digest(revision.as_bytes())
}

fn parse_time(raw: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn decide(f: &Facts<'_>) -> Decision {
    let previous = f.status.cloned().unwrap_or_default();
    let desired = f.spec.served();
    let desired_revision = desired.revision();

    // A rollout of the desired revision that Kubernetes gave up on.
    let failing_now = f.deployment.as_ref().is_some_and(|d| {
        d.deadline_exceeded
            && d.revision.as_deref() == Some(revision_label(&desired_revision).as_str())
    });
    let already_failed = previous.failed_revision.as_deref() == Some(desired_revision.as_str());
    let failed = failing_now || already_failed;
    let rolled_back = failing_now && !already_failed && previous.last_good.is_some();
    let served = match (&previous.last_good, failed) {
        (Some(good), true) => good.clone(),
        _ => desired.clone(),
    };

    // Activity: a new request counter value, a wake request, or creation.
    let mut last_request = parse_time(previous.last_request_at.as_deref()).unwrap_or(f.now);
    let mut requests_seen = previous.requests_seen;
    if let Requests::Counted(count) = f.requests
        && Some(count) != previous.requests_seen
    {
        if previous.requests_seen.is_some() {
            last_request = f.now;
        }
        requests_seen = Some(count);
    }
    if let Some(wake) = f.wake_requested_at {
        last_request = last_request.max(wake);
    }
    let idle_limit = f
        .spec
        .replicas
        .scale_to_zero_after_seconds
        .map(|s| Duration::seconds(i64::from(s)));
    let idle = f.spec.replicas.min == 0
        && !matches!(f.requests, Requests::Unreadable(_))
        && idle_limit.is_some_and(|limit| f.now - last_request >= limit);
    let currently_zero = f.deployment.as_ref().is_some_and(|d| d.replicas == 0);
    let replicas = if f.spec.suspend || idle {
        Some(0)
    } else if currently_zero {
        Some(f.spec.replicas.min.max(1))
    } else {
        None
    };

    let d = f.deployment.clone();
    let ready = d.as_ref().map_or(0, |d| d.ready);
    let serving_target = d.as_ref().is_some_and(|d| {
        d.revision.as_deref() == Some(revision_label(&served.revision()).as_str())
            && d.updated == d.replicas
            && d.ready == d.replicas
            && d.replicas > 0
    });
    let (phase, reason, message) = if f.spec.suspend {
        (
            EndpointPhase::Suspended,
            "Suspended",
            "suspended: no replicas run until it is resumed".to_owned(),
        )
    } else if replicas == Some(0) {
        (
            EndpointPhase::ScaledToZero,
            "ScaledToZero",
            "idle: scaled to zero; the next request wakes it".to_owned(),
        )
    } else if failed {
        let message = match &previous.last_good {
            Some(good) => format!(
                "{desired_revision} never became Ready; serving {} again",
                good.revision()
            ),
            None => format!("{desired_revision} never became Ready"),
        };
        (EndpointPhase::Degraded, "RolledBack", message)
    } else if serving_target {
        (
            EndpointPhase::Ready,
            "Serving",
            format!("{ready} replicas serve {}", served.revision()),
        )
    } else if previous.served_revision.is_none() {
        (
            EndpointPhase::Provisioning,
            "LoadingModel",
            format!("loading {}", served.revision()),
        )
    } else {
        (
            EndpointPhase::Updating,
            "RollingUpdate",
            format!("rolling to {}; {ready} replicas ready", served.revision()),
        )
    };
    let observed = [
        Observed::new(
            "Ready",
            phase == EndpointPhase::Ready,
            reason,
            message.clone(),
        ),
        Observed::new(
            "Progressing",
            matches!(phase, EndpointPhase::Provisioning | EndpointPhase::Updating),
            reason,
            message.clone(),
        ),
        Observed::new(
            "Degraded",
            phase == EndpointPhase::Degraded,
            reason,
            message,
        ),
    ];
    let ready_now = phase == EndpointPhase::Ready;
    let status = InferenceEndpointStatus {
        observed_generation: f.generation,
        phase,
        conditions: condition::merge(&previous.conditions, &observed, f.generation, f.now),
        ready_replicas: ready,
        served_revision: if ready_now {
            Some(served.revision())
        } else {
            previous.served_revision.clone()
        },
        last_good: if ready_now {
            Some(served.clone())
        } else {
            previous.last_good.clone()
        },
        failed_revision: if failed { Some(desired_revision) } else { None },
        endpoint: Some(f.endpoint_url.clone()),
        last_request_at: Some(last_request.to_rfc3339_opts(SecondsFormat::Secs, true)),
        requests_seen,
    };
    Decision {
        plan: Plan { served, replicas },
        status,
        rolled_back,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::fixtures::endpoint_spec as spec;
    use chrono::TimeZone;

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, minute, 0).unwrap()
    }

    fn facts<'a>(
        spec: &'a InferenceEndpointSpec,
        status: Option<&'a InferenceEndpointStatus>,
        deployment: Option<DeploymentFacts>,
        now: DateTime<Utc>,
    ) -> Facts<'a> {
        Facts {
            generation: Some(1),
            spec,
            status,
            deployment,
            requests: Requests::NotAsked,
            wake_requested_at: None,
            endpoint_url: "http://chat.org-acme.svc.cluster.local".into(),
            now,
        }
    }

    fn running(spec: &InferenceEndpointSpec, replicas: u32) -> DeploymentFacts {
        DeploymentFacts {
            replicas,
            ready: replicas,
            updated: replicas,
            revision: Some(revision_label(&spec.served().revision())),
            deadline_exceeded: false,
        }
    }

    #[test]
    fn a_new_endpoint_loads_then_serves() {
        let s = spec("nvidia-l4", 1);
        let first = decide(&facts(&s, None, None, t(0)));
        assert_eq!(first.status.phase, EndpointPhase::Provisioning);
        assert_eq!(first.plan.replicas, None);
        let ready = decide(&facts(&s, Some(&first.status), Some(running(&s, 1)), t(1)));
        assert_eq!(ready.status.phase, EndpointPhase::Ready);
        assert_eq!(
            ready.status.served_revision.as_deref(),
            Some("meta-llama/Llama-3.1-8B-Instruct@0e9e39f")
        );
        assert_eq!(ready.status.last_good, Some(s.served()));
    }

    #[test]
    fn idle_past_the_limit_scales_to_zero_and_a_request_wakes_it() {
        let mut s = spec("nvidia-l4", 1);
        s.replicas.min = 0;
        s.replicas.scale_to_zero_after_seconds = Some(600);
        let serving = decide(&facts(&s, None, Some(running(&s, 1)), t(0)));
        let mut f = facts(&s, Some(&serving.status), Some(running(&s, 1)), t(9));
        f.requests = Requests::Counted(0);
        let still = decide(&f);
        assert_eq!(still.plan.replicas, None, "idle 9 minutes of 10");
        let mut f = facts(&s, Some(&still.status), Some(running(&s, 1)), t(10));
        f.requests = Requests::Unreadable("connection refused".into());
        let unknown = decide(&f);
        assert_eq!(
            unknown.plan.replicas, None,
            "an engine that cannot be read is held, not taken for idle"
        );
        f.requests = Requests::Counted(0);
        let idle = decide(&f);
        assert_eq!(idle.plan.replicas, Some(0));
        assert_eq!(idle.status.phase, EndpointPhase::ScaledToZero);

        let zero = DeploymentFacts {
            replicas: 0,
            ready: 0,
            updated: 0,
            ..running(&s, 1)
        };
        let asleep = decide(&facts(&s, Some(&idle.status), Some(zero.clone()), t(30)));
        assert_eq!(asleep.plan.replicas, Some(0), "stays asleep");
        let mut woken = facts(&s, Some(&asleep.status), Some(zero), t(31));
        woken.wake_requested_at = Some(t(31));
        let woken = decide(&woken);
        assert_eq!(woken.plan.replicas, Some(1));
        assert_eq!(woken.status.phase, EndpointPhase::Updating);
    }

    #[test]
    fn a_suspended_endpoint_runs_nothing_and_ignores_a_wake() {
        let mut s = spec("nvidia-l4", 1);
        s.suspend = true;
        let mut f = facts(&s, None, Some(running(&s, 2)), t(0));
        f.wake_requested_at = Some(t(0));
        let suspended = decide(&f);
        assert_eq!(suspended.plan.replicas, Some(0));
        assert_eq!(suspended.status.phase, EndpointPhase::Suspended);
        s.suspend = false;
        let zero = DeploymentFacts {
            replicas: 0,
            ready: 0,
            updated: 0,
            ..running(&s, 1)
        };
        let resumed = decide(&facts(&s, Some(&suspended.status), Some(zero), t(1)));
        assert_eq!(resumed.plan.replicas, Some(1), "resumed at its minimum");
    }

    #[test]
    fn new_requests_keep_it_awake() {
        let mut s = spec("nvidia-l4", 1);
        s.replicas.min = 0;
        s.replicas.scale_to_zero_after_seconds = Some(600);
        let mut f = facts(&s, None, Some(running(&s, 1)), t(0));
        f.requests = Requests::Counted(10);
        let first = decide(&f);
        let mut f = facts(&s, Some(&first.status), Some(running(&s, 1)), t(8));
        f.requests = Requests::Counted(11);
        let busy = decide(&f);
        let later = decide(&facts(&s, Some(&busy.status), Some(running(&s, 1)), t(15)));
        assert_eq!(
            later.plan.replicas, None,
            "the request at minute 8 restarted the idle clock"
        );
        assert_eq!(
            later.status.last_request_at.as_deref(),
            Some("2026-11-25T12:08:00Z")
        );
    }

    #[test]
    fn a_revision_that_never_becomes_ready_is_rolled_back_and_not_retried() {
        let old = spec("nvidia-l4", 1);
        let serving = decide(&facts(&old, None, Some(running(&old, 2)), t(0)));
        let mut new = old.clone();
        if let Some(m) = new.model.as_mut() {
            m.revision = "bad0000".into();
        }
        let stuck = DeploymentFacts {
            replicas: 2,
            ready: 2,
            updated: 1,
            revision: Some(revision_label(&new.served().revision())),
            deadline_exceeded: true,
        };
        let rolled = decide(&facts(&new, Some(&serving.status), Some(stuck), t(30)));
        assert!(rolled.rolled_back);
        assert_eq!(rolled.plan.served, old.served());
        assert_eq!(rolled.status.phase, EndpointPhase::Degraded);
        assert_eq!(
            rolled.status.failed_revision.as_deref(),
            Some("meta-llama/Llama-3.1-8B-Instruct@bad0000")
        );
        let degraded = rolled
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "Degraded")
            .unwrap();
        assert_eq!(degraded.reason, "RolledBack");

        // Back on the old revision the Deployment is healthy; the failed one is not retried.
        let again = decide(&facts(
            &new,
            Some(&rolled.status),
            Some(running(&old, 2)),
            t(31),
        ));
        assert!(!again.rolled_back);
        assert_eq!(again.plan.served, old.served());
        assert_eq!(again.status.phase, EndpointPhase::Degraded);
    }
}
