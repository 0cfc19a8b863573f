//! The deliver loop: on each change the watches see (at most once per
//! `report_interval`), applies the restores whose cluster became ready,
//! reports the deleted resources the watches no longer see as gone, and
//! sends every report that changed since last acknowledged. While the
//! control plane is away the outbox keeps the latest of each.

use std::sync::atomic::Ordering;

use crds::sync::{Kind, Observed, Report, StatusReport};
use crds::vector_cluster::{Phase, VectorCluster};
use kube::runtime::reflector::{ObjectRef, Store};

use super::apply::Applier;
use super::backoff::Delays;
use super::client::{ClientError, ControlPlane};
use super::report::{Outbox, reports};
use super::watched::{Watched, live};
use super::{Config, Shared};

pub(super) async fn run(
    config: &Config,
    client: &kube::Client,
    control_plane: &ControlPlane,
    watched: &Watched,
    shared: &Shared,
) {
    let applier = Applier::new(client.clone());
    let mut outbox = Outbox::default();
    let mut delays = Delays::new(config.backoff);
    // Set after a failed send: when to try again without a change.
    let mut retry = None;
    watched.ready().await;
    loop {
        match retry {
            Some(wait) => {
                tokio::select! {
                    () = watched.changed.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                }
            }
            None => watched.changed.notified().await,
        }
        // Gathers the changes of the next moment into one request.
        tokio::time::sleep(config.report_interval).await;
        if !shared.revoked.load(Ordering::Relaxed) {
            apply_ready_restores(&applier, watched, shared).await;
        }
        queue_gone(&mut outbox, watched, shared);
        outbox.observe(reports(&watched.seen()));
        if outbox.is_empty() {
            retry = None;
            continue;
        }
        let batch = outbox.batch();
        let report = StatusReport {
            reports: batch.iter().map(|(_, r)| r.clone()).collect(),
        };
        match control_plane.status(&report).await {
            Ok(answer) => {
                for id in &answer.unknown {
                    tracing::warn!(%id, "the control plane does not know this resource");
                }
                outbox.acknowledge(batch);
                delays.succeeded();
                retry = None;
            }
            Err(err) => {
                let wait = match &err {
                    ClientError::Unauthorized { .. } => config.unauthorized_retry,
                    _ => delays.failed(),
                };
                tracing::warn!(error = %err, retry_in = ?wait, held = report.reports.len(),
                    "reports not delivered; held until the control plane takes them");
                retry = Some(wait);
            }
        }
    }
}

fn ready(clusters: &Store<VectorCluster>, namespace: &str, name: &str) -> bool {
    clusters
        .get(&ObjectRef::new(name).within(namespace))
        .and_then(|c| c.status.as_ref().map(|s| s.phase == Phase::Ready))
        .unwrap_or(false)
}

async fn apply_ready_restores(applier: &Applier, watched: &Watched, shared: &Shared) {
    let due: Vec<_> = shared
        .pending()
        .restores
        .iter()
        .filter(|((ns, cluster), _)| ready(&watched.clusters, ns, cluster))
        .map(|(k, r)| (k.clone(), r.clone()))
        .collect();
    for ((namespace, cluster), restore) in due {
        let name = restore.metadata.name.clone().unwrap_or_default();
        let existing = live(&watched.restores, &namespace, &name);
        match applier.apply(&restore, existing.as_ref()).await {
            Ok(_) => {
                shared.pending().restores.remove(&(namespace, cluster));
            }
            Err(err) => tracing::warn!(error = %err, %namespace, %name, "applying a restore"),
        }
    }
}

/// Deleted resources the watch no longer sees: reported gone, once.
fn queue_gone(outbox: &mut Outbox, watched: &Watched, shared: &Shared) {
    let mut pending = shared.pending();
    pending.gone.retain(|(kind, namespace, name), (id, org)| {
        let present = match kind {
            Kind::VectorCluster => live(&watched.clusters, namespace, name).is_some(),
            Kind::InferenceEndpoint => live(&watched.endpoints, namespace, name).is_some(),
            Kind::VectorClusterBackup => live(&watched.backups, namespace, name).is_some(),
            Kind::VectorClusterRestore => live(&watched.restores, namespace, name).is_some(),
        };
        if !present {
            outbox.queue(
                (*kind, *id, name.clone()),
                Report {
                    id: *id,
                    organization_id: *org,
                    observed: Observed::Gone { of: *kind },
                },
            );
        }
        present
    });
}
