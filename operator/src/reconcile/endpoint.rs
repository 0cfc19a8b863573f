//! The `InferenceEndpoint` reconciler: read the Deployment and the engine's
//! request counter, decide (pure, [`super::endpoint_plan`]), apply every
//! child with server-side apply, patch the status when it changed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::endpoint_plan::{self, DeploymentFacts, Facts, Requests};
use super::events::Event;
use super::status::APPLY_FAILED;
use super::{Context, Error, Refused, apply_one};
use crate::build::ApiKeys;
use crate::build::endpoint::{self, DesiredEndpoint, ValidatedEndpoint};
use crate::crd::condition::{self, Observed};
use crate::crd::inference_endpoint::{EndpointPhase, InferenceEndpoint, InferenceEndpointStatus};
use crate::serving;

pub use crate::names::WAKE_ANNOTATION;

fn deployment_facts(d: &Deployment) -> DeploymentFacts {
    let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    let status = d.status.as_ref();
    DeploymentFacts {
        replicas: count(d.spec.as_ref().and_then(|s| s.replicas)),
        ready: count(status.and_then(|s| s.ready_replicas)),
        updated: count(status.and_then(|s| s.updated_replicas)),
        revision: d
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.as_ref())
            .and_then(|l| l.get("quartermaster.dev/revision").cloned()),
        deadline_exceeded: status.and_then(|s| s.conditions.as_ref()).is_some_and(|c| {
            c.iter().any(|c| {
                c.type_ == "Progressing"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
            })
        }),
    }
}

async fn patch_status(
    ctx: &Context,
    ie: &InferenceEndpoint,
    status: InferenceEndpointStatus,
) -> Result<(), Error> {
    let previous = ie.status.as_ref();
    if previous == Some(&status) {
        return Ok(());
    }
    if previous.map(|p| p.phase) != Some(status.phase) {
        let reason = match status.phase {
            EndpointPhase::Ready => Some("Ready"),
            EndpointPhase::ScaledToZero => Some("ScaledToZero"),
            EndpointPhase::Suspended => Some("Suspended"),
            EndpointPhase::Provisioning => Some("Provisioning"),
            EndpointPhase::Updating => Some("Updating"),
            EndpointPhase::Pending | EndpointPhase::Degraded | EndpointPhase::Deleting => None,
        };
        if let Some(reason) = reason {
            let note = status
                .conditions
                .iter()
                .find(|c| c.status == "True")
                .map(|c| c.message.clone())
                .unwrap_or_default();
            ctx.events.about(ie, Event::normal(reason, note)).await;
        }
    }
    let namespace = ie.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<InferenceEndpoint> = Api::namespaced(ctx.client.clone(), &namespace);
    api.patch_status(
        &ie.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({ "status": status })),
    )
    .await?;
    Ok(())
}

pub async fn reconcile(ie: Arc<InferenceEndpoint>, ctx: Arc<Context>) -> Result<Action, Error> {
    let now = Utc::now();
    let validated = match ValidatedEndpoint::new(&ie, &ctx.system) {
        Ok(v) => v,
        Err(invalid) => {
            let mut status = ie.status.clone().unwrap_or_default();
            let message = invalid.to_string();
            let observed = [
                Observed::new("Degraded", true, "InvalidSpec", message.clone()),
                Observed::new("Ready", false, "InvalidSpec", message),
            ];
            status.conditions =
                condition::merge(&status.conditions, &observed, ie.metadata.generation, now);
            status.phase = EndpointPhase::Degraded;
            status.observed_generation = ie.metadata.generation;
            patch_status(&ctx, &ie, status).await?;
            return Ok(Action::await_change());
        }
    };
    let ns = validated.namespace.clone();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let api_key = secrets
        .get_opt(&validated.secret_name())
        .await?
        .and_then(|s| s.data)
        .and_then(|d| {
            d.get(endpoint::API_KEY)
                .and_then(|k| String::from_utf8(k.0.clone()).ok())
        })
        .unwrap_or_else(|| ApiKeys::generate().admin);
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let deployment = deployments
        .get_opt(&validated.name)
        .await?
        .map(|d| deployment_facts(&d));
    let requests = match &deployment {
        Some(d) if d.ready > 0 => {
            let metric = serving::engine(validated.spec.engine).requests_metric();
            match ctx.requests.requests(&validated.url(), metric).await {
                Ok(count) => Requests::Counted(count),
                Err(err) => Requests::Unreadable(err.to_string()),
            }
        }
        _ => Requests::NotAsked,
    };
    let unreadable = match &requests {
        Requests::Unreadable(err) => Some(err.clone()),
        Requests::NotAsked | Requests::Counted(_) => None,
    };
    let wake_requested_at = ie
        .annotations()
        .get(WAKE_ANNOTATION)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let decision = endpoint_plan::decide(&Facts {
        generation: ie.metadata.generation,
        spec: &validated.spec,
        status: ie.status.as_ref(),
        deployment,
        requests,
        wake_requested_at,
        endpoint_url: validated.url(),
        now,
    });

    let DesiredEndpoint {
        network_policy,
        secret,
        service,
        deployment,
        pdb,
        hpa,
    } = endpoint::desired(&validated, &api_key, &decision.plan);
    // The policy first (the engine is reachable by what it must serve
    // before it serves); each child tried whatever the others did.
    let refused: Vec<Refused> = [
        apply_one(&ctx, &ns, &network_policy).await?,
        apply_one(&ctx, &ns, &secret).await?,
        apply_one(&ctx, &ns, &service).await?,
        apply_one(&ctx, &ns, &deployment).await?,
        apply_one(&ctx, &ns, &pdb).await?,
        apply_one(&ctx, &ns, &hpa).await?,
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut status = decision.status.clone();
    if !refused.is_empty() {
        let message = refused
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let observed = [
            Observed::new("Degraded", true, APPLY_FAILED, message.clone()),
            Observed::new("Ready", false, APPLY_FAILED, message.clone()),
        ];
        status.conditions =
            condition::merge(&status.conditions, &observed, ie.metadata.generation, now);
        status.phase = EndpointPhase::Degraded;
        ctx.events
            .about(&*ie, Event::warning(APPLY_FAILED, message))
            .await;
    }

    if decision.rolled_back {
        let note = decision
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "Degraded")
            .map(|c| c.message.clone())
            .unwrap_or_default();
        ctx.events
            .about(&*ie, Event::warning("RolledBack", note))
            .await;
    }
    patch_status(&ctx, &ie, status).await?;
    if !refused.is_empty() {
        return Err(Error::Refused(refused.len()));
    }
    if let Some(err) = unreadable {
        // Held at its replicas; an error so that it is counted, logged and
        // retried, never a silent "idle".
        return Err(Error::EngineMetrics(err));
    }
    // Idle endpoints are checked often enough to scale to zero on time.
    Ok(Action::requeue(Duration::from_secs(30)))
}

pub fn error_policy(_ie: Arc<InferenceEndpoint>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(category = error.category(), %error, "endpoint reconcile failed");
    Action::requeue(Duration::from_secs(30))
}
