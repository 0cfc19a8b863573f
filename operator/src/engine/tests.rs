use super::*;

#[test]
fn the_gate_wants_working_consensus_every_peer_every_replica_active_and_no_transfers() {
    let healthy = EngineHealth {
        peers: 3,
        ..EngineHealth::default()
    };
    assert_eq!(healthy.ready_for_next_node(3), Ok(()));
    let missing = EngineHealth {
        peers: 2,
        ..EngineHealth::default()
    };
    assert_eq!(
        missing.ready_for_next_node(3),
        Err("Qdrant sees 2 of 3 peers".to_owned())
    );
    let dead = EngineHealth {
        peers: 3,
        inactive_replicas: vec![
            "docs/1 on peer 7: Dead".into(),
            "docs/2 on peer 7: Dead".into(),
        ],
        ..EngineHealth::default()
    };
    assert_eq!(
        dead.ready_for_next_node(3),
        Err("2 replicas are not active: docs/1 on peer 7: Dead and 1 more".to_owned())
    );
    let moving = EngineHealth {
        peers: 3,
        pending_transfers: 2,
        ..EngineHealth::default()
    };
    assert_eq!(
        moving.ready_for_next_node(3),
        Err("Qdrant is moving 2 shards".to_owned())
    );
    let stopped = EngineHealth {
        peers: 3,
        consensus: Some("the consensus thread stopped".into()),
        ..EngineHealth::default()
    };
    assert!(
        stopped
            .ready_for_next_node(3)
            .unwrap_err()
            .contains("consensus")
    );
}

/// `CollectionConfig.params.vectors` in both of Qdrant's shapes.
#[test]
fn a_points_vector_bytes_come_from_every_vector_and_its_datatype() {
    let unnamed = json!({ "params": { "vectors": { "size": 768, "distance": "Cosine" } } });
    assert_eq!(point_bytes(&unnamed), 768 * 4);
    let named = json!({ "params": { "vectors": {
        "text": { "size": 384, "distance": "Dot", "datatype": "float16" },
        "image": { "size": 512, "distance": "Cosine", "datatype": "uint8" },
    } } });
    assert_eq!(point_bytes(&named), 384 * 2 + 512);
    assert_eq!(point_bytes(&json!({ "params": {} })), 0, "sparse only");
}

/// Qdrant's own answers (the shapes of its OpenAPI document), read as
/// the gate reads them: a peer that is down is still a member, and only
/// its replicas' states say so.
#[test]
fn qdrants_answers_are_read_for_liveness_not_membership() {
    let cluster: ClusterStatus = serde_json::from_value(serde_json::json!({
        "status": "enabled", "peer_id": 11,
        "peers": { "11": { "uri": "http://search-0.search-peers:6335/" },
                   "22": { "uri": "http://search-1.search-peers:6335/" },
                   "33": { "uri": "http://search-2.search-peers:6335/" } },
        "raft_info": { "term": 4, "commit": 120, "pending_operations": 0,
                       "leader": 11, "role": "Leader", "is_voter": true },
        "consensus_thread_status": { "consensus_thread_status": "working",
                                     "last_update": "2026-12-03T12:00:00Z" },
        "message_send_failures": { "http://search-2.search-peers:6335/": {
            "count": 9, "latest_error": "connection refused" } },
    }))
    .unwrap();
    let docs: CollectionCluster = serde_json::from_value(serde_json::json!({
        "peer_id": 11, "shard_count": 2,
        "local_shards": [{ "shard_id": 0, "points_count": 500, "state": "Active" }],
        "remote_shards": [{ "shard_id": 0, "peer_id": 33, "state": "Dead" },
                          { "shard_id": 1, "peer_id": 22, "state": "Active" }],
        "shard_transfers": [],
    }))
    .unwrap();
    let health = assess(&cluster, &[("docs".to_owned(), docs)]);
    assert_eq!(health.peers, 3, "membership still lists the dead peer");
    assert_eq!(health.inactive_replicas, ["docs/0 on peer 33: Dead"]);
    assert!(health.ready_for_next_node(3).is_err());
    let single: ClusterStatus =
        serde_json::from_value(serde_json::json!({ "status": "disabled" })).unwrap();
    assert_eq!(assess(&single, &[]).peers, 1);
}
