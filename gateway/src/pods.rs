//! Where each endpoint's engine runs: its ready pods as the data plane
//! reports them, the pick of the least busy one, and holding a request
//! while an endpoint scaled to zero wakes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crds::gateway::GatewayEndpoint;
use futures::future::BoxFuture;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::error::GatewayError;

/// One ready replica of an engine.
#[derive(Debug)]
pub struct Pod {
    /// `http://host:port`, without a trailing slash.
    pub base_url: String,
    /// The engine's own key (its `VLLM_API_KEY`), known only to the gateway.
    pub engine_key: Option<String>,
    in_flight: AtomicUsize,
}

impl Pod {
    pub fn new(base_url: impl Into<String>, engine_key: Option<String>) -> Arc<Pod> {
        Arc::new(Pod {
            base_url: base_url.into(),
            engine_key,
            in_flight: AtomicUsize::new(0),
        })
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// A request counted on its pod until dropped.
#[derive(Debug)]
pub struct Lease(Arc<Pod>);

impl Lease {
    pub fn pod(&self) -> &Pod {
        &self.0
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Asks the data plane to start an endpoint scaled to zero (the
/// `quartermaster.dev/wake-requested-at` annotation, as `…/wake` sets it).
/// Called once per held request at most; it must be idempotent.
pub trait Waker: Send + Sync {
    fn wake<'a>(&'a self, endpoint: &'a GatewayEndpoint) -> BoxFuture<'a, Result<(), String>>;
}

/// The ready pods of every endpoint, kept current by whatever watches the
/// data plane (Kubernetes' EndpointSlices, the simulated plane, a test).
#[derive(Default)]
pub struct Pods {
    ready: RwLock<HashMap<Uuid, Vec<Arc<Pod>>>>,
    waiting: RwLock<HashMap<Uuid, Arc<AtomicUsize>>>,
    changed: Notify,
}

impl std::fmt::Debug for Pods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pods").finish_non_exhaustive()
    }
}

/// How long a held request waits and how many may wait per endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Hold {
    pub timeout: Duration,
    pub queue: usize,
}

impl Pods {
    /// Sets `endpoint`'s ready pods, keeping the count in flight of those
    /// that stay, and wakes the requests held for it.
    pub fn set(&self, endpoint: Uuid, pods: Vec<Arc<Pod>>) {
        if let Ok(mut ready) = self.ready.write() {
            let kept: Vec<Arc<Pod>> = pods
                .into_iter()
                .map(|pod| {
                    ready
                        .get(&endpoint)
                        .and_then(|old| old.iter().find(|o| o.base_url == pod.base_url))
                        .map_or(pod, Arc::clone)
                })
                .collect();
            if kept.is_empty() {
                ready.remove(&endpoint);
            } else {
                ready.insert(endpoint, kept);
            }
        }
        self.changed.notify_waiters();
    }

    /// The ready pod with the fewest requests in flight, leased.
    pub fn pick(&self, endpoint: Uuid) -> Option<Lease> {
        let ready = self.ready.read().ok()?;
        let pod = ready.get(&endpoint)?.iter().min_by_key(|p| p.in_flight())?;
        pod.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Lease(Arc::clone(pod)))
    }

    /// Requests held for `endpoint` now.
    pub fn waiting(&self, endpoint: Uuid) -> usize {
        self.waiting
            .read()
            .ok()
            .and_then(|w| w.get(&endpoint).map(|n| n.load(Ordering::Relaxed)))
            .unwrap_or(0)
    }

    /// A ready pod of `endpoint`; if there is none, wakes it and waits in
    /// its queue for one, up to `hold.timeout`. Past the queue's size the
    /// request is refused at once, with a time to retry. The queue's depth
    /// goes to `depth` as this request joins and leaves it; a request that
    /// finds a ready pod never touches the queue.
    pub async fn lease(
        &self,
        endpoint: &GatewayEndpoint,
        waker: &dyn Waker,
        hold: Hold,
        depth: &(dyn Fn(usize) + Sync),
    ) -> Result<Lease, GatewayError> {
        if let Some(lease) = self.pick(endpoint.id) {
            return Ok(lease);
        }
        let counter = self
            .waiting
            .write()
            .map_err(|_| GatewayError::Upstream("the pod table is poisoned".into()))?
            .entry(endpoint.id)
            .or_default()
            .clone();
        let ahead = counter.fetch_add(1, Ordering::Relaxed);
        if ahead >= hold.queue {
            counter.fetch_sub(1, Ordering::Relaxed);
            return Err(GatewayError::QueueFull(hold.queue, Duration::from_secs(10)));
        }
        depth(ahead + 1);
        let _waiting = Waiting(counter, depth);
        if let Err(err) = waker.wake(endpoint).await {
            tracing::warn!(endpoint = %endpoint.id, error = %err, "asking the endpoint to wake failed");
        }
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if let Some(lease) = self.pick(endpoint.id) {
                    return lease;
                }
                changed.await;
            }
        };
        tokio::time::timeout(hold.timeout, wait)
            .await
            .map_err(|_| GatewayError::ColdStartTimeout(hold.timeout.as_secs()))
    }
}

/// One place in an endpoint's queue, given back when dropped (answered,
/// timed out or abandoned by the client), with where its depth goes.
struct Waiting<'a>(Arc<AtomicUsize>, &'a (dyn Fn(usize) + Sync));

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::Relaxed);
        (self.1)(left.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pod_with_fewest_requests_in_flight_is_picked() {
        let pods = Pods::default();
        let e = Uuid::from_u128(1);
        pods.set(
            e,
            vec![Pod::new("http://a", None), Pod::new("http://b", None)],
        );
        let first = pods.pick(e).unwrap();
        let second = pods.pick(e).unwrap();
        assert_ne!(first.pod().base_url, second.pod().base_url);
        drop(first);
        let third = pods.pick(e).unwrap();
        assert_ne!(third.pod().base_url, second.pod().base_url, "the freed one");
    }

    #[test]
    fn a_pod_that_stays_keeps_its_count_across_an_update() {
        let pods = Pods::default();
        let e = Uuid::from_u128(1);
        pods.set(e, vec![Pod::new("http://a", None)]);
        let held = pods.pick(e).unwrap();
        pods.set(
            e,
            vec![Pod::new("http://a", None), Pod::new("http://b", None)],
        );
        assert_eq!(pods.pick(e).unwrap().pod().base_url, "http://b");
        drop(held);
    }
}
