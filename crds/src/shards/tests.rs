use super::*;

/// `nodes` peers (ids 101…), `shards` per collection placed round robin
/// with `copies` replicas each.
fn layout(nodes: u32, collections: &[&str], shards: u32, copies: u32) -> Layout {
    let peers = (0..nodes).map(|o| (101 + u64::from(o), Some(o))).collect();
    let mut replicas = Vec::new();
    for c in collections {
        for s in 0..shards {
            for k in 0..copies {
                replicas.push(Replica {
                    collection: (*c).to_owned(),
                    shard: s,
                    peer: 101 + u64::from((s + k) % nodes),
                    active: true,
                });
            }
        }
    }
    Layout {
        peers,
        replicas,
        ..Layout::default()
    }
}

/// Plays `plan` to its end, doing each operation as Qdrant would
/// (a transfer ends at once); returns the operations and the layout.
fn settle(mut l: Layout, nodes: u32, factor: u32) -> (Vec<Operation>, Layout) {
    let mut done = Vec::new();
    for _ in 0..1000 {
        match plan(&l, nodes, factor) {
            Plan::Settled => return (done, l),
            Plan::Wait(why) => panic!("waits in a still cluster: {why}"),
            Plan::Act { operation, left } => {
                assert_eq!(left, super::left(&l, nodes, factor));
                l.done(&operation)
                    .unwrap_or_else(|refused| panic!("Qdrant refuses {refused}"));
                done.push(operation);
            }
        }
    }
    panic!("never settles")
}

fn per_peer(l: &Layout) -> BTreeMap<u64, usize> {
    let mut n = BTreeMap::new();
    for r in &l.replicas {
        *n.entry(r.peer).or_insert(0) += 1;
    }
    n
}

#[test]
fn scale_down_moves_every_replica_off_the_leaving_peer_before_removing_it() {
    let start = layout(3, &["a", "b", "c"], 3, 1);
    let (ops, end) = settle(start.clone(), 2, 1);
    let removals: Vec<_> = ops
        .iter()
        .filter(|o| matches!(o, Operation::RemovePeer { .. }))
        .collect();
    assert_eq!(removals, [&Operation::RemovePeer { peer: 103 }]);
    let Plan::Act { left, .. } = plan(&start, 2, 1) else {
        panic!("work to do")
    };
    assert_eq!(left, ops.len(), "the count of what is left is exact");
    assert_eq!(ops.last(), Some(&Operation::RemovePeer { peer: 103 }));
    assert_eq!(end.peers.keys().copied().collect::<Vec<_>>(), [101, 102]);
    // Every shard still has its one replica, on a staying peer.
    assert_eq!(end.replicas.len(), start.replicas.len());
    assert!(end.replicas.iter().all(|r| r.peer != 103));
}

#[test]
fn scale_up_spreads_shards_over_every_peer() {
    let mut start = layout(2, &["a", "b"], 4, 1);
    start.peers.insert(103, Some(2));
    start.peers.insert(104, Some(3));
    let (_, end) = settle(start, 4, 1);
    assert_eq!(
        per_peer(&end),
        BTreeMap::from([(101, 2), (102, 2), (103, 2), (104, 2)])
    );
}

#[test]
fn a_higher_factor_gives_every_shard_copies_on_distinct_peers_and_a_lower_one_drops_them() {
    let (_, doubled) = settle(layout(3, &["a"], 3, 1), 3, 2);
    let mut copies: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    for r in &doubled.replicas {
        assert!(
            copies.entry(r.shard).or_default().insert(r.peer),
            "distinct peers"
        );
    }
    assert!(copies.values().all(|peers| peers.len() == 2), "{copies:?}");
    let (_, halved) = settle(doubled, 3, 1);
    assert_eq!(halved.replicas.len(), 3);
}

#[test]
fn a_transfer_or_an_inactive_replica_is_waited_for() {
    let mut busy = layout(3, &["a"], 3, 1);
    busy.transfers = 1;
    assert_eq!(
        plan(&busy, 2, 1),
        Plan::Wait("Qdrant is moving 1 shard".into())
    );
    let mut dead = layout(3, &["a"], 3, 1);
    dead.replicas[0].active = false;
    assert_eq!(
        plan(&dead, 2, 1),
        Plan::Wait("a replica of a/0 is not active".into())
    );
}

#[test]
fn progress_counts_from_what_the_rebalance_needed_when_it_began() {
    let act = |left| Plan::Act {
        operation: Operation::RemovePeer { peer: 103 },
        left,
    };
    let wait = Plan::Wait("Qdrant is moving 1 shard".into());
    let at = |planned, done| Some(Rebalance { planned, done });
    let mut progress = None;
    let mut seen = Vec::new();
    for plan in [
        act(3),
        wait.clone(),
        act(2),
        wait.clone(),
        act(1),
        Plan::Settled,
    ] {
        progress = plan.progress(progress.as_ref());
        seen.push(progress);
        if let Some(message) = plan.message(progress.as_ref()) {
            assert!(
                message.contains(" of 3 shard operations done; "),
                "{message}"
            );
        }
    }
    assert_eq!(
        seen,
        [at(3, 0), at(3, 0), at(3, 1), at(3, 1), at(3, 2), None]
    );
    assert_eq!(
        act(1)
            .message(Some(&Rebalance {
                planned: 3,
                done: 2
            }))
            .unwrap(),
        "2 of 3 shard operations done; removing peer 103 from the consensus"
    );
    // More work than planned (nodes changed again): a new count.
    assert_eq!(act(5).progress(at(3, 1).as_ref()), at(5, 0));
    assert_eq!(wait.progress(None), None);
}

#[test]
fn peer_addresses_name_their_pod() {
    assert_eq!(
        ordinal(
            "http://search-2.search-peers.org-acme.svc.cluster.local:6335/",
            "search"
        ),
        Some(2)
    );
    assert_eq!(
        ordinal("http://search-10.search-peers:6335/", "search"),
        Some(10)
    );
    assert_eq!(ordinal("http://logs-1.logs-peers:6335/", "search"), None);
    assert_eq!(
        ordinal("http://search-x.search-peers:6335/", "search"),
        None
    );
}
