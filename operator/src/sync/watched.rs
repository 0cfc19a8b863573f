//! The custom resources the sync loop reads: one reflector per kind, the
//! live objects the apply step compares with and the reports come from.
//! Clusters, endpoints and restores are watched by the label every applied
//! resource carries; backups by their cluster's label, which the
//! operator's own scheduled ones carry too (they have no managed-by label).

use std::sync::Arc;

use crds::backup::{VectorClusterBackup, VectorClusterRestore};
use crds::inference_endpoint::InferenceEndpoint;
use crds::names::LABEL_CLUSTER;
use crds::tenant::FIELD_MANAGER;
use crds::vector_cluster::VectorCluster;
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use super::report::Seen;

#[derive(Debug, Clone)]
pub struct Watched {
    pub clusters: Store<VectorCluster>,
    pub endpoints: Store<InferenceEndpoint>,
    pub backups: Store<VectorClusterBackup>,
    pub restores: Store<VectorClusterRestore>,
    /// Woken on every change seen.
    pub changed: Arc<Notify>,
}

fn reflect<K>(
    client: &kube::Client,
    labels: &str,
    changed: Arc<Notify>,
) -> (Store<K>, impl Future<Output = ()> + Send + 'static + use<K>)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let api: Api<K> = Api::all(client.clone());
    let config = watcher::Config::default().labels(labels);
    let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
    let run = stream.for_each(move |event| {
        if let Err(err) = &event {
            tracing::warn!(error = %err, kind = %K::kind(&()), "watching for the sync loop");
        }
        changed.notify_one();
        std::future::ready(())
    });
    (reader, run)
}

impl Watched {
    /// The stores, and the future that keeps them filled (run it).
    pub fn start(
        client: &kube::Client,
    ) -> (Watched, impl Future<Output = ()> + Send + 'static + use<>) {
        let changed = Arc::new(Notify::new());
        let managed = format!("app.kubernetes.io/managed-by={FIELD_MANAGER}");
        let (clusters, c) = reflect(client, &managed, changed.clone());
        let (endpoints, e) = reflect(client, &managed, changed.clone());
        let (backups, b) = reflect(client, LABEL_CLUSTER, changed.clone());
        let (restores, r) = reflect(client, &managed, changed.clone());
        let run = async move {
            futures::join!(c, e, b, r);
        };
        (
            Watched {
                clusters,
                endpoints,
                backups,
                restores,
                changed,
            },
            run,
        )
    }

    /// Until every store has its first list.
    pub async fn ready(&self) {
        // An error means the watch is gone, which `start`'s future reports.
        let _ = futures::join!(
            self.clusters.wait_until_ready(),
            self.endpoints.wait_until_ready(),
            self.backups.wait_until_ready(),
            self.restores.wait_until_ready(),
        );
    }

    pub fn seen(&self) -> Seen {
        Seen {
            clusters: self.clusters.state(),
            endpoints: self.endpoints.state(),
            backups: self.backups.state(),
            restores: self.restores.state(),
        }
    }
}

/// The live metadata of `namespace/name` in `store`.
pub fn live<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<ObjectMeta>
where
    K: Resource<DynamicType = ()> + Clone,
{
    store
        .get(&ObjectRef::new(name).within(namespace))
        .map(|o| o.meta().clone())
}
