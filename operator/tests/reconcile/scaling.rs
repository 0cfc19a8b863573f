//! Scaling by Qdrant's rules, against the mocked API server and the Qdrant
//! stand-in over HTTP: shards leave a peer before it leaves the consensus,
//! and the StatefulSet shrinks last; new peers get their share; a higher
//! replication factor reaches every existing collection.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use operator::VectorCluster;
use operator::engine::QdrantHttp;
use serde_json::Value;

use crate::harness::{Applied, Harness, World};
use crate::qdrant::{self, Cluster, Shared};
use crate::rollout_liveness::AtStandIn;
use crate::{cluster, pod, v, with_status, world_after};

const COLLECTIONS: [&str; 3] = ["docs", "images", "logs"];

/// A cluster of `nodes` at `factor`, Ready, with Qdrant's peers as
/// `peers` describes (its key made the cluster's own).
async fn ready(
    nodes: u32,
    factor: u32,
    peers: Cluster,
) -> (Harness, Shared, VectorCluster, Applied) {
    let (url, qdrant) = qdrant::serve(peers).await;
    let engine = AtStandIn {
        http: QdrantHttp::new().unwrap(),
        url,
    };
    let mut h = Harness::with_engine(Arc::new(engine));
    let (vc, _, ready) = crate::brought_up(&mut h, cluster(v(13), nodes, factor)).await;
    let admin = String::from_utf8(ready.secret().data.unwrap()["api-key"].0.clone()).unwrap();
    qdrant.lock().unwrap().api_key = admin;
    (h, qdrant, vc, ready)
}

/// The StatefulSet `applied` made, with `pods` Ready pods.
fn running(applied: &Applied, pods: u32) -> World {
    let ready = (0..pods).map(|o| pod(o, "r1", true, None)).collect();
    world_after(applied, "r1", i32::try_from(pods).unwrap(), ready)
}

fn replicas(applied: &Applied) -> i64 {
    applied.objects["statefulset"]["spec"]["replicas"]
        .as_i64()
        .unwrap()
}

fn phase(applied: &Applied, previous: &VectorCluster) -> String {
    match &applied.status {
        Some(status) => status["phase"].as_str().unwrap().to_owned(),
        None => serde_json::to_value(previous.status.as_ref().unwrap().phase)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned(),
    }
}

/// Reconciles until the cluster is Ready again, Qdrant finishing each
/// transfer between passes; every pass's StatefulSet replicas, in order.
async fn settle(
    h: &mut Harness,
    qdrant: &Shared,
    mut vc: VectorCluster,
    world: &World,
) -> (VectorCluster, Vec<i64>, Vec<String>) {
    let mut sizes = Vec::new();
    let mut progress = Vec::new();
    let mut world = world.clone();
    for _ in 0..60 {
        let pass = h.reconcile(&vc, &world).await;
        sizes.push(replicas(&pass));
        // The StatefulSet controller follows: as many Ready pods as asked.
        world = running(&pass, u32::try_from(replicas(&pass)).unwrap());
        let done = phase(&pass, &vc) == "Ready";
        if let Some(status) = &pass.status {
            let conditions = status["conditions"].as_array().unwrap();
            let progressing = conditions
                .iter()
                .find(|c| c["type"] == "Progressing")
                .unwrap();
            progress.push(progressing["message"].as_str().unwrap().to_owned());
        }
        if pass.status.is_some() {
            vc = with_status(vc, &pass.status);
        }
        if done {
            return (vc, sizes, progress);
        }
        qdrant.lock().unwrap().finish_transfers();
    }
    let events = h.events.0.lock().unwrap().clone();
    panic!("not settled in 60 passes: {sizes:?}; {events:?}")
}

/// Every shard's peers, by collection and shard.
fn placement(qdrant: &Shared) -> BTreeMap<(String, u32), BTreeSet<u64>> {
    let c = qdrant.lock().unwrap();
    c.collections
        .iter()
        .flat_map(|(name, collection)| {
            collection.shards.iter().map(move |(shard, replicas)| {
                ((name.clone(), *shard), replicas.keys().copied().collect())
            })
        })
        .collect()
}

fn points(qdrant: &Shared) -> u64 {
    // Each shard's points, counted once (its replicas hold the same).
    let c = qdrant.lock().unwrap();
    c.collections
        .values()
        .flat_map(|col| col.shards.values())
        .map(|replicas| replicas.values().map(|r| r.points).max().unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn three_nodes_at_factor_one_down_to_two_keep_every_shard_and_shrink_last() {
    let (mut h, qdrant, mut vc, ready) = ready(3, 1, Cluster::new(3, &COLLECTIONS, 3)).await;
    let before = points(&qdrant);
    // A still pass reads the placement into the status; it predicts the
    // moves below.
    let still = h.reconcile(&vc, &running(&ready, 3)).await;
    vc = with_status(vc, &still.status);
    let placed = vc.status.as_ref().unwrap().placement.clone().unwrap();
    assert_eq!(placed.collections.len(), 3);
    assert!(
        placed
            .collections
            .iter()
            .all(|c| c.points == 300 && c.point_bytes == 16 && c.shards.len() == 3)
    );
    let preview = operator::placement::risk(&placed, 3, 2, 1);
    assert_eq!(preview.removed_nodes, [2]);
    assert_eq!(
        preview.last_replica_leaving.len(),
        3,
        "x/2 of each collection"
    );
    assert_eq!((preview.points, preview.bytes), (300, 300 * 16));
    vc.spec.nodes = 2;
    vc.metadata.generation = Some(2);
    // The StatefulSet still runs three pods while Qdrant moves shards.
    let world = running(&ready, 3);
    let (vc, sizes, progress) = settle(&mut h, &qdrant, vc, &world).await;
    assert!(
        progress[0]
            .starts_with("0 of 4 shard operations done; moving docs/2 from peer 103 to peer 101;"),
        "{progress:?}"
    );
    // Counted in the status across passes, one operation per pass.
    let counted: Vec<&str> = progress
        .iter()
        .filter_map(|m| m.split_once(" shard operations done").map(|(n, _)| n))
        .collect();
    assert_eq!(
        counted,
        ["0 of 4", "1 of 4", "2 of 4", "3 of 4"],
        "{progress:?}"
    );
    assert_eq!(
        vc.status.as_ref().unwrap().rebalance,
        None,
        "settled: no count left"
    );
    // Three shards move off peer 103, one pass each, a fourth removes it
    // from the consensus; only the fifth shrinks the StatefulSet.
    assert_eq!(
        sizes,
        [3, 3, 3, 3, 2, 2],
        "never below three nodes while a shard was on the third"
    );
    let c = qdrant.lock().unwrap();
    assert_eq!(
        c.peers.keys().copied().collect::<Vec<_>>(),
        [101, 102],
        "peer 103 left the consensus"
    );
    drop(c);
    let placed = placement(&qdrant);
    assert_eq!(placed.len(), 9);
    assert!(
        placed
            .values()
            .all(|peers| peers.len() == 1 && !peers.contains(&103))
    );
    assert_eq!(points(&qdrant), before, "every point is still served");
    let moved: Vec<String> = std::mem::take(&mut *h.events.0.lock().unwrap())
        .into_iter()
        .filter(|e| e.reason == "RebalancingShards" && e.note.starts_with("moving"))
        .map(|e| e.note)
        .collect();
    let predicted: Vec<String> = preview
        .transfers
        .iter()
        .map(|t| {
            format!(
                "moving {}/{} from peer {} to peer {}",
                t.collection,
                t.shard,
                101 + t.from_node,
                101 + t.to_node
            )
        })
        .collect();
    assert_eq!(moved, predicted, "the preview is what the operator did");
    assert_eq!(vc.status.unwrap().ready_nodes, 2);
}

#[tokio::test]
async fn two_nodes_up_to_four_spread_the_shards_over_all_four() {
    let (mut h, qdrant, mut vc, ready) = ready(2, 1, Cluster::new(2, &COLLECTIONS, 4)).await;
    vc.spec.nodes = 4;
    vc.metadata.generation = Some(2);
    // The new pods started and joined Qdrant's consensus.
    {
        let mut c = qdrant.lock().unwrap();
        for n in 2..4 {
            c.peers
                .insert(101 + n, format!("http://search-{n}.search-peers:6335/"));
        }
    }
    let world = running(&ready, 4);
    let _ = settle(&mut h, &qdrant, vc, &world).await;
    let mut per_peer: BTreeMap<u64, usize> = BTreeMap::new();
    for peers in placement(&qdrant).values() {
        for peer in peers {
            *per_peer.entry(*peer).or_default() += 1;
        }
    }
    assert_eq!(
        per_peer,
        BTreeMap::from([(101, 3), (102, 3), (103, 3), (104, 3)])
    );
}

#[tokio::test]
async fn a_factor_raised_to_two_gives_every_existing_shard_two_active_replicas_on_distinct_peers() {
    let (mut h, qdrant, mut vc, ready) = ready(3, 1, Cluster::new(3, &COLLECTIONS, 3)).await;
    vc.spec.replication_factor = 2;
    vc.metadata.generation = Some(2);
    let world = running(&ready, 3);
    let _ = settle(&mut h, &qdrant, vc, &world).await;
    let c = qdrant.lock().unwrap();
    for collection in c.collections.values() {
        for replicas in collection.shards.values() {
            assert_eq!(replicas.len(), 2);
            assert!(replicas.values().all(|r| r.state == "Active"));
        }
    }
}

#[tokio::test]
async fn a_scale_down_below_the_factor_is_refused_and_nothing_changes() {
    let (mut h, qdrant, mut vc, _) = ready(3, 2, Cluster::with_copies(3, &COLLECTIONS, 3, 2)).await;
    let before = placement(&qdrant);
    vc.spec.nodes = 1;
    vc.metadata.generation = Some(2);
    let task = h.start(&vc);
    let (call, send) = h
        .server
        .expect("PATCH", &format!("{}/status", crate::harness::CLUSTER_PATH))
        .await;
    let status: &Value = &call.body["status"];
    assert_eq!(status["phase"], "Degraded");
    assert!(
        status["conditions"][2]["message"]
            .as_str()
            .unwrap()
            .starts_with("spec.replicationFactor: "),
        "{status}"
    );
    crate::harness::respond(send, 200, &serde_json::to_value(&vc).unwrap());
    task.await.unwrap().unwrap();
    h.server.expect_nothing().await;
    assert_eq!(placement(&qdrant), before, "no shard moved");
}

#[tokio::test]
async fn one_node_grown_to_three_restarts_no_serving_node() {
    let mut h = Harness::new();
    let (mut vc, world, ready) = crate::brought_up(&mut h, cluster(v(13), 1, 1)).await;
    vc.spec.nodes = 3;
    vc.metadata.generation = Some(2);
    let grown = h.reconcile(&vc, &world).await;
    assert_eq!(replicas(&grown), 3);
    assert_eq!(
        grown.objects["statefulset"]["spec"]["template"],
        ready.objects["statefulset"]["spec"]["template"],
        "the pod template, configuration digest included, is unchanged"
    );
    assert_eq!(grown.objects["configmap"], ready.objects["configmap"]);
}
