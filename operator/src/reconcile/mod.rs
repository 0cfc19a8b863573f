//! The `VectorCluster` reconciler: a fixed pipeline with the client only at
//! its ends.
//!
//! read (Secret, StatefulSet, pods) → validate (pure) → decide the rollout
//! step (pure, plus Qdrant's own health when Kubernetes is satisfied) →
//! build (pure) → apply every child with server-side apply → compute the
//! status (pure) → patch it only when it changed.
//!
//! This module runs the pass; the writes live beside it: `apply` (every
//! child, by server-side apply), `resize` (volume growth) and `publish`
//! (the status and its phase events).

mod apply;
pub mod backup;
pub mod endpoint;
pub mod endpoint_plan;
mod error;
pub mod events;
pub mod finalizer;
mod observe;
mod publish;
mod resize;
pub mod rollout;
pub use crds::shards;
pub mod status;
pub mod verify;
pub mod volumes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{DeleteParams, ListParams};
use kube::runtime::controller::Action;
use kube::{Api, Client, ResourceExt};

pub use apply::Refused;
pub use apply::apply_children;
pub(crate) use apply::apply_one;
use apply::server_side_apply;
pub use error::Error;
use events::{Event, EventSink};
use finalizer::{Stage, finalized};
use publish::publish_status;
use resize::{grow_volumes, replace_statefulset};
use rollout::Step;

use crate::build::{
    self, ApiKeys, Rollout, SystemNamespaces, TEMPLATE_HASH_ANNOTATION, ValidatedCluster,
};
use crate::children::Children;
use crate::crd::vector_cluster::{Phase, Placement, VectorCluster};
use crate::engine::{Engine, RequestCounter};
use crate::metrics::{Metrics, Outcome};
use crate::names::Names;
use crate::own_writes::OwnWrites;

/// The field manager of every object the operator applies.
pub const FIELD_MANAGER: &str = "quartermaster-operator";
pub use crds::vector_cluster::FINALIZER;

/// How often a settled cluster is looked at again, to repair drift.
const SETTLED_REQUEUE: Duration = Duration::from_secs(300);
/// How often a cluster in motion is looked at.
const MOVING_REQUEUE: Duration = Duration::from_secs(10);
/// How soon a pass given an object older than our last write runs again.
const CATCH_UP_REQUEUE: Duration = Duration::from_millis(500);
/// How soon a StatefulSet replaced for its volumes is looked for again.
const REPLACE_REQUEUE: Duration = Duration::from_secs(2);

pub struct Context {
    pub client: Client,
    pub engine: Arc<dyn Engine>,
    /// Reads inference engines' request counters.
    pub requests: Arc<dyn RequestCounter>,
    pub events: Arc<dyn EventSink>,
    pub metrics: Arc<Metrics>,
    /// The data plane's own namespaces, admitted by the tenants' policies.
    pub system: SystemNamespaces,
    /// The image backup and restore Jobs run (the operator's own).
    pub backup_image: String,
    /// The watched children and what was last applied of each.
    pub children: Children,
    /// The clusters as our last writes of them (finalizer, status) were
    /// answered.
    pub own_writes: OwnWrites,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("system", &self.system)
            .finish_non_exhaustive()
    }
}

/// `reconcile`, counted and timed as a reconcile of `controller`.
pub fn measured<K, F, Fut>(
    controller: &'static str,
    reconcile: F,
) -> impl Fn(Arc<K>, Arc<Context>) -> BoxFuture<'static, Result<Action, Error>>
where
    F: Fn(Arc<K>, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    move |object, ctx| {
        let metrics = ctx.metrics.clone();
        let reconciled = reconcile(object, ctx);
        Box::pin(async move {
            let started = Instant::now();
            let result = reconciled.await;
            let outcome = Outcome {
                controller,
                result: result.as_ref().map_or_else(Error::category, |_| "ok"),
            };
            metrics.observe(outcome, started.elapsed());
            result
        })
    }
}

pub async fn reconcile(cluster: Arc<VectorCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    if ctx.own_writes.ahead_of(&cluster.metadata) {
        // A pass triggered before the echo of our last write reached the
        // store would write again what that write did: it runs once the
        // store has caught up, with whatever triggered it.
        return Ok(Action::requeue(CATCH_UP_REQUEUE));
    }
    finalized(
        &ctx.client,
        Some(&ctx.own_writes),
        FINALIZER,
        cluster,
        |stage| async {
            match stage {
                Stage::Apply(cluster) => apply(&cluster, &ctx).await,
                Stage::Cleanup(cluster) => cleanup(&cluster, &ctx).await,
            }
        },
    )
    .await
}

/// Transient errors back off; deletion in progress is simply waited for.
pub fn error_policy(_cluster: Arc<VectorCluster>, error: &Error, _ctx: Arc<Context>) -> Action {
    match error {
        Error::StillDeleting(_) => Action::requeue(Duration::from_secs(5)),
        _ => {
            tracing::warn!(category = error.category(), %error, "reconcile failed");
            Action::requeue(Duration::from_secs(30))
        }
    }
}

async fn apply(vc: &VectorCluster, ctx: &Context) -> Result<Action, Error> {
    let now = Utc::now();
    let cluster = match ValidatedCluster::new(vc, &ctx.system) {
        Ok(cluster) => cluster,
        Err(invalid) => {
            // Permanent until the spec changes: report it and wait.
            let status = status::invalid(
                vc.status.as_ref(),
                vc.metadata.generation,
                invalid.to_string(),
                now,
            );
            publish_status(ctx, vc, status).await?;
            return Ok(Action::await_change());
        }
    };
    let namespace = &cluster.namespace;
    let names = &cluster.names;

    let statefulsets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(Read {
        keys,
        statefulset: existing,
        pods,
    }) = read(ctx, namespace, names, &statefulsets).await?
    else {
        // Replaced for its volumes: created anew once the old one is gone.
        return Ok(Action::requeue(REPLACE_REQUEUE));
    };

    let template_hash = build::desired(&cluster, &keys, Rollout { partition: 0 })
        .statefulset
        .metadata
        .annotations
        .and_then(|a| a.get(TEMPLATE_HASH_ANNOTATION).cloned())
        .unwrap_or_default();
    let pod_states = observe::pods(
        &pods,
        &names.statefulset,
        observe::update_revision(existing.as_ref()),
    );
    let replicas = build::replicas(&cluster);
    let ready_nodes = observe::ready_nodes(&pod_states, replicas);
    let observed = observe::existing(existing.as_ref(), &template_hash, ready_nodes);
    let mut step = rollout::within_window(
        rollout::step(observed, &pod_states, replicas, |o| names.pod(o)),
        observed,
        &pod_states,
        replicas,
        cluster.spec.maintenance_window.as_ref(),
        now,
    );
    // No node moves to a new version before its backup is safe.
    if step.partition() < replicas
        && let Some(reason) = backup::upgrade_gate(ctx, vc).await?
    {
        step = Step::Hold {
            partition: replicas,
            reason,
        };
    }
    if let Step::CheckEngine { partition, next } = step {
        let verdict = match ctx.engine.health(&cluster.endpoint(), &keys.admin).await {
            Ok(health) => health.ready_for_next_node(replicas),
            Err(err) => Err(err.to_string()),
        };
        step = rollout::after_engine(partition, next, verdict);
        if step.partition() == next {
            let note = format!(
                "{} runs {} and Qdrant is healthy; rolling {}",
                names.pod(partition),
                cluster.spec.version,
                names.pod(next)
            );
            ctx.events
                .about(vc, Event::normal("NodeUpgraded", note))
                .await;
        }
    }

    let current_nodes = existing
        .as_ref()
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.replicas)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    let (shard_plan, placement) =
        place_shards(ctx, vc, &cluster, &keys, &step, &pod_states, current_nodes).await;
    // The StatefulSet shrinks only once Qdrant holds nothing on the leaving
    // peers and has let them go.
    let kept_nodes = match &shard_plan {
        Some(plan) if *plan != shards::Plan::Settled => replicas.max(current_nodes),
        _ => replicas,
    };

    let desired_claim = volumes::Claim {
        gib: cluster.spec.resources.storage_gib,
        class: cluster.spec.storage_class.clone(),
    };
    let existing_claim = existing.as_ref().and_then(observe::claim);
    let volume_plan = match &existing_claim {
        Some(claim) if *claim != desired_claim => {
            let seen = observe::volumes(ctx, namespace, names).await?;
            volumes::plan(
                Some(claim),
                &desired_claim,
                &seen.volumes,
                seen.class.as_deref(),
                seen.expandable,
            )
        }
        _ => volumes::Plan::Current,
    };
    if let volumes::Plan::Expand { resize, .. } = &volume_plan {
        grow_volumes(ctx, vc, namespace, resize, desired_claim.gib).await?;
    }
    // Until the StatefulSet can take the new claim template, it is applied
    // with the one it has: the apiserver would refuse any other.
    let template = volume_plan.template(existing_claim.as_ref(), &desired_claim);
    let mut built = cluster.clone();
    if !cluster.spec.suspend {
        built.spec.nodes = kept_nodes;
    }
    built.spec.resources.storage_gib = template.gib;
    built.spec.storage_class.clone_from(&template.class);
    let desired = build::desired(
        &built,
        &keys,
        Rollout {
            partition: step.partition(),
        },
    );
    let refused = apply_children(ctx, namespace, desired).await?;
    if volume_plan == volumes::Plan::Replace && refused.is_empty() {
        replace_statefulset(ctx, vc, &statefulsets, &names.statefulset).await?;
    }

    let all_current = observed.is_some_and(|o| o.template_current)
        && ready_nodes == replicas
        && pod_states.len() == replicas as usize
        && pod_states.iter().all(|p| p.updated && p.ready);
    let facts = status::Facts {
        generation: vc.metadata.generation,
        version: cluster.spec.version.to_string(),
        desired_nodes: replicas,
        suspended: cluster.spec.suspend,
        ready_nodes,
        pods: u32::try_from(pod_states.len()).unwrap_or(u32::MAX),
        all_current,
        step: &step,
        refused: &refused,
        volumes: &volume_plan,
        shards: shard_plan.as_ref(),
        placement: placement.as_ref(),
        storage_gib: cluster.spec.resources.storage_gib,
        endpoint: cluster.endpoint(),
        selector: names.selector_string(),
        previous: vc.status.as_ref(),
    };
    let status = status::compute(&facts, now);
    let settled = matches!(status.phase, Phase::Ready | Phase::Suspended);
    publish_status(ctx, vc, status).await?;
    if volume_plan == volumes::Plan::Replace {
        return Ok(Action::requeue(REPLACE_REQUEUE));
    }
    if !refused.is_empty() {
        // Retried with backoff: the refusal may clear (a quota freed, an
        // admission webhook back) without the spec changing.
        return Err(Error::Refused(refused.len()));
    }
    Ok(Action::requeue(if settled {
        SETTLED_REQUEUE
    } else {
        MOVING_REQUEUE
    }))
}

/// What a pass reads of a cluster's children.
struct Read {
    keys: ApiKeys,
    statefulset: Option<StatefulSet>,
    pods: Vec<Pod>,
}

/// Reads the cluster's API keys, StatefulSet and pods; `None` while its
/// StatefulSet is being deleted. A cluster whose Secret and StatefulSet the
/// watches have listed as absent (a new one) has none of them: nothing is
/// read, and new keys are made. Its pods went with any StatefulSet it had.
async fn read(
    ctx: &Context,
    namespace: &str,
    names: &Names,
    statefulsets: &Api<StatefulSet>,
) -> Result<Option<Read>, Error> {
    if ctx
        .children
        .known_absent::<Secret>(namespace, &names.api_key_secret)
        && ctx
            .children
            .known_absent::<StatefulSet>(namespace, &names.statefulset)
    {
        return Ok(Some(Read {
            keys: ApiKeys::generate(),
            statefulset: None,
            pods: Vec::new(),
        }));
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let keys = secrets
        .get_opt(&names.api_key_secret)
        .await?
        .as_ref()
        .and_then(ApiKeys::from_secret)
        .unwrap_or_else(ApiKeys::generate);
    let statefulset = statefulsets.get_opt(&names.statefulset).await?;
    if statefulset
        .as_ref()
        .is_some_and(|s| s.metadata.deletion_timestamp.is_some())
    {
        return Ok(None);
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let pods = pods
        .list(&ListParams::default().labels(&names.selector_string()))
        .await?
        .items;
    Ok(Some(Read {
        keys,
        statefulset,
        pods,
    }))
}

/// Looks at Qdrant's shards when the cluster is still (no rollout, every
/// node Ready) and it has more than one node, or must shed some: the plan,
/// with its next operation started, and the placement read. `None`: not
/// looked at.
async fn place_shards(
    ctx: &Context,
    vc: &VectorCluster,
    cluster: &ValidatedCluster,
    keys: &ApiKeys,
    step: &Step,
    pods: &[rollout::PodState],
    current_nodes: u32,
) -> (Option<shards::Plan>, Option<Placement>) {
    let desired = build::replicas(cluster);
    let shrinking = current_nodes > desired && desired > 0;
    if cluster.spec.suspend || desired.max(current_nodes) < 2 {
        return (None, None);
    }
    let still = matches!(step, Step::Steady)
        && pods.len() == current_nodes.max(desired) as usize
        && pods.iter().all(|p| p.ready);
    if !still {
        let plan = shrinking.then(|| {
            shards::Plan::Wait("waiting for every node to be Ready before moving shards".to_owned())
        });
        return (plan, None);
    }
    let layout = match ctx
        .engine
        .layout(&cluster.endpoint(), &keys.admin, &cluster.names.statefulset)
        .await
    {
        Ok(layout) => layout,
        Err(err) => {
            let reason = format!("cannot read Qdrant's shard layout: {err}");
            return (shrinking.then_some(shards::Plan::Wait(reason)), None);
        }
    };
    let plan = shards::plan(&layout, desired, cluster.spec.replication_factor);
    if let shards::Plan::Act { operation, .. } = &plan {
        let event = match ctx
            .engine
            .operate(&cluster.endpoint(), &keys.admin, operation)
            .await
        {
            Ok(()) => Event::normal(shards::REBALANCING, operation.to_string()),
            Err(err) => Event::warning("ShardOperationFailed", err.to_string()),
        };
        ctx.events.about(vc, event).await;
    }
    (Some(plan), Some(crate::placement::of(&layout)))
}

/// Deletes the StatefulSet in the foreground (its pods and, by its retention
/// policy, its volumes go with it) and keeps the finalizer until it is gone.
/// The other children go by their owner references.
async fn cleanup(vc: &VectorCluster, ctx: &Context) -> Result<Action, Error> {
    if vc.status.as_ref().map(|s| s.phase) != Some(Phase::Deleting) {
        let mut status = vc.status.clone().unwrap_or_default();
        status.phase = Phase::Deleting;
        publish_status(ctx, vc, status).await?;
    }
    let namespace = vc.namespace().ok_or(Error::NoNamespace)?;
    let statefulsets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = vc.name_any();
    match statefulsets.get_opt(&name).await? {
        None => {
            ctx.own_writes.forget(&vc.metadata);
            Ok(Action::await_change())
        }
        Some(sts) => {
            if sts.metadata.deletion_timestamp.is_none() {
                statefulsets
                    .delete(&name, &DeleteParams::foreground())
                    .await?;
            }
            Err(Error::StillDeleting(format!("StatefulSet {name}")))
        }
    }
}
