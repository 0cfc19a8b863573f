//! The rolling upgrade's engine gate against the Qdrant stand-in over HTTP:
//! a peer that is down stays a member, so the gate must read replica
//! states. The rollout waits while a replica is `Dead` and resumes once it
//! is `Active` again.

use std::sync::Arc;

use futures::future::BoxFuture;
use operator::engine::{Engine, EngineError, EngineHealth, QdrantHttp};
use operator::reconcile::shards::{Layout, Operation};

use crate::harness::{Harness, World};
use crate::qdrant::{self, Cluster, Shared};
use crate::{cluster, pod, v, with_status, world_after};

/// The real engine client, sent to the stand-in whatever address the
/// reconciler names (cluster DNS does not resolve here).
pub struct AtStandIn {
    pub http: QdrantHttp,
    pub url: String,
}

impl Engine for AtStandIn {
    fn health<'a>(
        &'a self,
        _endpoint: &'a str,
        api_key: &'a str,
    ) -> BoxFuture<'a, Result<EngineHealth, EngineError>> {
        self.http.health(&self.url, api_key)
    }

    fn layout<'a>(
        &'a self,
        _endpoint: &'a str,
        api_key: &'a str,
        statefulset: &'a str,
    ) -> BoxFuture<'a, Result<Layout, EngineError>> {
        self.http.layout(&self.url, api_key, statefulset)
    }

    fn operate<'a>(
        &'a self,
        _endpoint: &'a str,
        api_key: &'a str,
        operation: &'a Operation,
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        self.http.operate(&self.url, api_key, operation)
    }
}

async fn stand_in() -> (Harness, Shared) {
    // Three peers, every shard on two of them (the cluster's factor).
    let mut peers = Cluster::with_copies(3, &["docs", "images"], 3, 2);
    peers.set_peer_state(103, "Dead");
    let (url, state) = qdrant::serve(peers).await;
    let engine = AtStandIn {
        http: QdrantHttp::new().unwrap(),
        url,
    };
    (Harness::with_engine(Arc::new(engine)), state)
}

#[tokio::test]
async fn a_rollout_waits_while_a_replica_is_dead_and_resumes_once_it_is_active() {
    let (mut h, qdrant) = stand_in().await;
    let old = cluster(v(12), 3, 2);
    let first = h.reconcile(&old, &World::default()).await;
    // The stand-in wants the key the cluster's Secret holds.
    let admin = String::from_utf8(first.secret().data.unwrap()["api-key"].0.clone()).unwrap();
    qdrant.lock().unwrap().api_key = admin;
    let pods = (0..3).map(|o| pod(o, "r12", true, None)).collect();
    let settled = h
        .reconcile(
            &with_status(old.clone(), &first.status),
            &world_after(&first, "r12", 3, pods),
        )
        .await;
    h.events.take();
    let mut vc = with_status(old, &settled.status);
    vc.spec.version = v(13);
    vc.metadata.generation = Some(2);
    let start = h
        .reconcile(
            &vc,
            &world_after(
                &settled,
                "r12",
                3,
                (0..3).map(|o| pod(o, "r12", true, None)).collect(),
            ),
        )
        .await;
    assert_eq!(start.partition(), 2);
    assert_eq!(h.events.take(), [(false, "Updating")]);
    let vc = with_status(vc, &start.status);

    // search-2 runs the new version and is Ready, every peer is a member,
    // but peer 103's replicas are Dead: the partition stays.
    let restarted = || {
        vec![
            pod(0, "r12", true, None),
            pod(1, "r12", true, None),
            pod(2, "r13", true, None),
        ]
    };
    let held = h
        .reconcile(&vc, &world_after(&start, "r13", 3, restarted()))
        .await;
    assert_eq!(
        held.partition(),
        2,
        "no node restarts while a replica is dead"
    );
    let status = held.status.clone().unwrap();
    let progressing = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap();
    assert!(
        progressing["message"]
            .as_str()
            .unwrap()
            .contains("replicas are not active: docs/1 on peer 103: Dead"),
        "{progressing}"
    );
    let vc = with_status(vc, &held.status);

    // The peer is back and its replicas Active: the next node rolls.
    qdrant.lock().unwrap().set_peer_state(103, "Active");
    let resumed = h
        .reconcile(&vc, &world_after(&held, "r13", 3, restarted()))
        .await;
    assert_eq!(resumed.partition(), 1);
    assert_eq!(h.events.take(), [(false, "NodeUpgraded")]);
}
