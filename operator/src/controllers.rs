//! The controllers as the operator runs them: what each watches, and what
//! triggers a reconcile. The binary and the scale benchmark both build them
//! here.
//!
//! Children are watched by metadata only (names, owners, versions and our
//! applied-hash annotation), into [`Children`]' compact record, which skips
//! unchanged applies; no watched child is kept whole. The reconcilers read
//! what they need of a StatefulSet or Deployment themselves. The
//! StatefulSet's and the Deployment's watches also trigger their owner's
//! reconcile, as a rollout moves: every change but the echo of our own
//! apply.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, Stream, StreamExt, TryStreamExt, future};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::PartialObjectMeta;
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::{self, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Resource};

use crate::VectorCluster;
use crate::children::Children;
use crate::names::MANAGED_BY;
use crate::readable;
use crate::reconcile::events::EventSink;
use crate::reconcile::{self, Context, measured};

/// Reconciles at once, per controller, unless told otherwise: kube-rs runs
/// unboundedly many. Enough to keep a busy apiserver's round trips
/// overlapped, few enough to stay far below its default of 200 mutating
/// requests in flight.
pub const DEFAULT_CONCURRENCY: u16 = 16;

/// How long the `VectorCluster` controller waits for its children's first
/// lists. Passes before them are as correct, and read more.
const LISTING: Duration = Duration::from_secs(30);

type Trigger<K> = BoxStream<'static, Result<PartialObjectMeta<K>, watcher::Error>>;

/// The children's watches: those that trigger a controller, and the rest,
/// which run while `stores` is polled.
pub struct ChildWatches {
    pub statefulsets: Trigger<StatefulSet>,
    pub deployments: Trigger<Deployment>,
    pub stores: BoxFuture<'static, ()>,
}

impl std::fmt::Debug for ChildWatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildWatches").finish_non_exhaustive()
    }
}

/// Watches every kind of child the reconcilers apply, into `children`.
pub fn watch_children(client: &Client, children: &Children) -> ChildWatches {
    let owned =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}"));
    let statefulsets = news(children, client, owned.clone());
    let deployments = news(children, client, owned.clone());
    let others = [
        logged(children.watch::<ConfigMap>(client.clone(), owned.clone())),
        logged(children.watch::<Secret>(client.clone(), owned.clone())),
        logged(children.watch::<Service>(client.clone(), owned.clone())),
        logged(children.watch::<PodDisruptionBudget>(client.clone(), owned.clone())),
        logged(children.watch::<NetworkPolicy>(client.clone(), owned.clone())),
        logged(children.watch::<HorizontalPodAutoscaler>(client.clone(), owned)),
    ];
    ChildWatches {
        statefulsets,
        deployments,
        stores: stream::select_all(others).for_each(|()| async {}).boxed(),
    }
}

/// The `K`s seen, but for the echoes of our own applies: the pass that
/// applied one has seen its answer, and another pass would read and write
/// nothing new.
fn news<K>(children: &Children, client: &Client, config: watcher::Config) -> Trigger<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let ours = children.clone();
    children
        .watch::<K>(client.clone(), config)
        .try_filter(move |seen| future::ready(!ours.echoes_our_apply::<K>(&seen.metadata)))
        .boxed()
}

/// A watch that only feeds [`Children`]; its errors (it retries with backoff)
/// are logged.
fn logged<K: Resource<DynamicType = ()>>(
    watch: impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static,
) -> BoxStream<'static, ()> {
    watch
        .map(|seen| {
            if let Err(error) = seen {
                tracing::warn!(kind = %K::kind(&()), %error, "watching children failed");
            }
        })
        .boxed()
}

/// What a controller can be built over: the operator's own resources.
pub trait Controlled:
    Resource<DynamicType = ()>
    + serde::de::DeserializeOwned
    + Clone
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl Controlled for crds::VectorCluster {}
impl Controlled for crds::inference_endpoint::InferenceEndpoint {}
impl Controlled for crds::backup::VectorClusterBackup {}
impl Controlled for crds::backup::VectorClusterRestore {}

/// A controller of every `K` that the operator can read: one object that
/// cannot be read is reported and skipped, never stops the others.
pub fn of<K>(
    client: &Client,
    events: &Arc<dyn EventSink>,
    config: controller::Config,
) -> Controller<K>
where
    K: Controlled,
{
    triggered_by(client, events, config, future::ready(()), |_| true)
}

/// As [`of`], where the `K`s are watched once `after` is done, and only
/// those `news` keeps trigger a reconcile (all are stored, for the
/// reconciles to read).
fn triggered_by<K>(
    client: &Client,
    events: &Arc<dyn EventSink>,
    config: controller::Config,
    after: impl Future<Output = ()> + Send + 'static,
    news: impl Fn(&K) -> bool + Send + 'static,
) -> Controller<K>
where
    K: Controlled,
{
    let (reader, writer) = reflector::store();
    let (client, events) = (client.clone(), events.clone());
    // Stored without their managed fields, which no reconcile reads and
    // which a real apiserver makes the larger part of a small object.
    let objects = stream::once(after)
        .flat_map(move |()| {
            readable::watch::<K>(client.clone(), watcher::Config::default(), events.clone())
        })
        .modify(|object| object.meta_mut().managed_fields = None);
    let triggers = reflector(writer, objects)
        .applied_objects()
        .try_filter(move |object| future::ready(news(object)));
    Controller::for_stream(triggers, reader).with_config(config)
}

/// The `VectorCluster` controller, run until SIGTERM or Ctrl-C. The echoes
/// of its own writes trigger no pass. Clusters are watched once the
/// Secrets and StatefulSets have been listed (or after [`LISTING`]), so
/// that a new cluster's first pass knows it has none and reads nothing.
pub fn vector_clusters(
    ctx: Arc<Context>,
    statefulsets: Trigger<StatefulSet>,
    config: controller::Config,
) -> BoxFuture<'static, ()> {
    let ours = ctx.own_writes.clone();
    let news = move |vc: &VectorCluster| !ours.echoes(&vc.metadata);
    let children = ctx.children.clone();
    let listed = async move {
        let both = future::join(
            children.until_listed::<Secret>(),
            children.until_listed::<StatefulSet>(),
        );
        if tokio::time::timeout(LISTING, both).await.is_err() {
            tracing::warn!("the children's watches have not listed them yet; reconciling anyway");
        }
    };
    triggered_by(&ctx.client, &ctx.events, config, listed, news)
        .owns_stream(statefulsets)
        .shutdown_on_signal()
        .run(
            measured("vector_cluster", reconcile::reconcile),
            reconcile::error_policy,
            ctx,
        )
        .for_each(|_| async {})
        .boxed()
}
