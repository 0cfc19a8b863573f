//! Provisioning inference endpoints: the same pass as for clusters. A wake
//! request counts as a change to apply (the data plane sees it as an
//! annotation).

use chrono::{DateTime, Duration, Utc};
use crds::inference_endpoint::{EndpointPhase, InferenceEndpoint, InferenceEndpointSpec};
use serde_json::json;
use uuid::Uuid;

use super::observed::{Mirrored, acted};
use super::provisioned::Provisioned;
use super::{KubernetesPlane, Provisioner};
use crate::Result;
use crate::endpoints::Endpoint;
use crate::resource::Tracked;

/// An endpoint as a data plane reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointObserved {
    pub phase: EndpointPhase,
    pub observed_generation: i64,
    pub served_revision: Option<String>,
    pub ready_replicas: i32,
    pub endpoint: Option<String>,
    pub conditions: serde_json::Value,
}

impl EndpointObserved {
    /// An endpoint's status in the control plane's terms (see
    /// [`super::Observed::of`]).
    pub(super) fn of(
        status: crds::inference_endpoint::InferenceEndpointStatus,
        acted: bool,
        applied: i64,
        previous: i64,
    ) -> EndpointObserved {
        EndpointObserved {
            phase: status.phase,
            observed_generation: if acted { applied } else { previous },
            served_revision: status.served_revision,
            ready_replicas: i32::try_from(status.ready_replicas).unwrap_or(i32::MAX),
            endpoint: status.endpoint,
            conditions: serde_json::to_value(&status.conditions).unwrap_or_default(),
        }
    }
}

/// What the simulated data plane knows of an endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Simulated<'a> {
    pub spec: &'a InferenceEndpointSpec,
    pub name: &'a str,
    pub organization_id: Uuid,
    pub generation: i64,
    pub applied_at: Option<DateTime<Utc>>,
    pub wake_requested_at: Option<DateTime<Utc>>,
}

/// The simulated data plane: ready `delay` after a change or a wake; with
/// `min_replicas: 0`, scaled to zero once idle past its limit.
pub fn simulate(endpoint: Simulated<'_>, now: DateTime<Utc>, delay: Duration) -> EndpointObserved {
    let Simulated {
        spec,
        name,
        organization_id,
        generation,
        applied_at,
        wake_requested_at,
    } = endpoint;
    let url = format!(
        "http://{name}.{}.simulated.invalid",
        organization_id.simple()
    );
    let active_since = applied_at.max(wake_requested_at);
    let settled = active_since.is_some_and(|t| t + delay <= now);
    let revision = spec.served().revision();
    let idle_limit = spec
        .replicas
        .scale_to_zero_after_seconds
        .map(|s| Duration::seconds(i64::from(s)));
    let asleep = spec.replicas.min == 0
        && active_since
            .zip(idle_limit)
            .is_some_and(|(since, limit)| since + delay + limit <= now);
    let (phase, ready, message) = if spec.suspend && settled {
        (
            EndpointPhase::Suspended,
            0,
            "simulated: suspended, no replicas run".to_owned(),
        )
    } else if asleep {
        (
            EndpointPhase::ScaledToZero,
            0,
            "simulated: idle, scaled to zero".to_owned(),
        )
    } else if settled {
        let replicas = spec.replicas.min.max(1);
        (
            EndpointPhase::Ready,
            i32::try_from(replicas).unwrap_or(1),
            format!("simulated: {replicas} replicas serve {revision}"),
        )
    } else {
        (
            EndpointPhase::Provisioning,
            0,
            format!("simulated: loading {revision}"),
        )
    };
    let serving = matches!(
        phase,
        EndpointPhase::Ready | EndpointPhase::ScaledToZero | EndpointPhase::Suspended
    );
    EndpointObserved {
        phase,
        observed_generation: if serving { generation } else { 0 },
        served_revision: serving.then_some(revision),
        ready_replicas: ready,
        endpoint: Some(url),
        conditions: json!([{ "type": "Ready", "status": if phase == EndpointPhase::Ready { "True" } else { "False" },
                             "reason": "Simulated", "message": message }]),
    }
}

impl Provisioned for Endpoint {
    type Resource = InferenceEndpoint;
    type Observed = EndpointObserved;
    const ALSO_DUE: &'static str = " OR r.wake_requested_at > coalesce(r.applied_at, '-infinity')";

    fn name(&self) -> &str {
        &self.name
    }

    fn generation(&self) -> i64 {
        self.generation
    }

    /// A wake asked for since the last apply is carried as an annotation.
    fn woken(tracked: &Tracked<Self>) -> bool {
        tracked
            .resource
            .wake_requested_at
            .is_some_and(|w| tracked.applied_at.is_none_or(|a| w > a))
    }

    async fn apply(k8s: &KubernetesPlane, tracked: &Tracked<Self>) -> Result<()> {
        let endpoint = &tracked.resource;
        k8s.apply_endpoint(
            tracked.organization_id,
            endpoint.id,
            &endpoint.name,
            endpoint.spec.clone(),
            endpoint.wake_requested_at,
        )
        .await?;
        Ok(())
    }

    fn simulate(tracked: &Tracked<Self>, now: DateTime<Utc>, delay: Duration) -> EndpointObserved {
        let endpoint = &tracked.resource;
        simulate(
            Simulated {
                spec: &endpoint.spec,
                name: &endpoint.name,
                organization_id: tracked.organization_id,
                generation: tracked.applied_generation,
                applied_at: tracked.applied_at,
                wake_requested_at: endpoint.wake_requested_at,
            },
            now,
            delay,
        )
    }

    async fn observe(
        _: &Provisioner,
        k8s: &KubernetesPlane,
        tracked: &Tracked<Self>,
    ) -> Result<Option<EndpointObserved>> {
        let Some(resource) = k8s
            .get::<InferenceEndpoint>(tracked.organization_id, &tracked.resource.name)
            .await?
        else {
            return Ok(None);
        };
        let Some(status) = resource.status else {
            return Ok(None);
        };
        let acted = acted(resource.metadata.generation, status.observed_generation);
        Ok(Some(EndpointObserved::of(
            status,
            acted,
            tracked.applied_generation,
            tracked.resource.observed_generation,
        )))
    }

    fn mirrored(o: &EndpointObserved) -> Mirrored<'_> {
        Mirrored {
            phase: o.phase.as_str(),
            observed_generation: o.observed_generation,
            revision: o.served_revision.as_deref(),
            ready: o.ready_replicas,
            endpoint: o.endpoint.as_deref(),
            conditions: &o.conditions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use crds::inference_endpoint::{EndpointResources, EngineKind, GpuRequest, HubModel, Replicas};

    fn spec(min: u32) -> InferenceEndpointSpec {
        InferenceEndpointSpec {
            model: Some(HubModel {
                repository: "org/model".into(),
                revision: "v1".into(),
            }),
            image: None,
            engine: EngineKind::Vllm,
            gpu: GpuRequest {
                model: "nvidia-l4".into(),
                count: 1,
            },
            replicas: Replicas {
                min,
                max: 2,
                scale_to_zero_after_seconds: (min == 0).then_some(600),
            },
            target_concurrency: 8,
            resources: EndpointResources {
                cpu_millicores: 4000,
                memory_mib: 16384,
                shm_mib: 8192,
            },
            env: vec![],
            suspend: false,
        }
    }

    #[test]
    fn a_simulated_endpoint_loads_serves_sleeps_and_wakes() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let delay = Duration::seconds(3);
        let s = spec(0);
        let endpoint = |spec, wake| Simulated {
            spec,
            name: "chat",
            organization_id: Uuid::nil(),
            generation: 1,
            applied_at: Some(t0),
            wake_requested_at: wake,
        };
        let at = |now, wake| simulate(endpoint(&s, wake), now, delay);
        assert_eq!(at(t0, None).phase, EndpointPhase::Provisioning);
        let ready = at(t0 + Duration::seconds(3), None);
        assert_eq!(
            (ready.phase, ready.ready_replicas),
            (EndpointPhase::Ready, 1)
        );
        assert_eq!(ready.served_revision.as_deref(), Some("org/model@v1"));
        let asleep = at(t0 + Duration::seconds(603), None);
        assert_eq!(
            (asleep.phase, asleep.ready_replicas),
            (EndpointPhase::ScaledToZero, 0)
        );
        let wake = t0 + Duration::seconds(700);
        assert_eq!(
            at(wake + Duration::seconds(1), Some(wake)).phase,
            EndpointPhase::Provisioning
        );
        assert_eq!(
            at(wake + Duration::seconds(3), Some(wake)).phase,
            EndpointPhase::Ready
        );
        let always_on = spec(1);
        let late = simulate(endpoint(&always_on, None), t0 + Duration::days(1), delay);
        assert_eq!(late.phase, EndpointPhase::Ready);
    }
}
