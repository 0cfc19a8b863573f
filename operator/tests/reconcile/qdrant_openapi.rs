//! The Qdrant stand-in answers as Qdrant does: each answer it gave is
//! checked against Qdrant's published OpenAPI document
//! (`../shared/upstream/qdrant-1.19.0-openapi.json`, Apache-2.0, read as
//! data), and the operator's engine client reads those answers for liveness.

use std::time::Duration;

use operator::engine::{Engine, QdrantHttp};
use serde_json::Value;

use crate::qdrant::{self, API_KEY, Cluster};
use crate::qdrant_schema::{check, document, response_schema};

/// A cluster with every kind of answer in it: a dead replica, a transfer
/// under way, a refused operation, a refused and an accepted peer removal.
async fn exercised() -> Vec<(String, u16, Value)> {
    let mut cluster = Cluster::new(3, &["docs", "images"], 3);
    cluster.set_peer_state(103, "Dead");
    let (url, state) = qdrant::serve(cluster).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let request = http
            .request(method, format!("{url}{path}"))
            .header("api-key", API_KEY);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move { request.send().await.unwrap().status() }
    };
    use reqwest::Method;
    call(Method::GET, "/cluster", None).await;
    call(Method::GET, "/collections", None).await;
    let moving = serde_json::json!({ "replicate_shard": { "shard_id": 0, "from_peer_id": 101, "to_peer_id": 102 } });
    assert_eq!(
        call(
            Method::POST,
            "/collections/docs/cluster",
            Some(moving.clone())
        )
        .await,
        200
    );
    assert_eq!(
        call(Method::POST, "/collections/docs/cluster", Some(moving)).await,
        400,
        "one transfer of a shard at a time"
    );
    call(Method::GET, "/collections/docs/cluster", None).await;
    let last = serde_json::json!({ "drop_replica": { "shard_id": 1, "peer_id": 102 } });
    assert_eq!(
        call(Method::POST, "/collections/images/cluster", Some(last)).await,
        400,
        "the last replica stays"
    );
    assert_eq!(
        call(Method::DELETE, "/cluster/peer/103", None).await,
        400,
        "a peer with shards stays"
    );
    state.lock().unwrap().finish_transfers();
    call(Method::GET, "/collections/docs/cluster", None).await;
    let answers = state.lock().unwrap().answers.clone();
    assert!(answers.len() >= 8, "{answers:?}");
    answers
}

#[tokio::test]
async fn every_answer_of_the_qdrant_stand_in_has_the_shape_qdrant_documents() {
    let doc = document();
    for (route, status, body) in exercised().await {
        let errors = check(&doc, response_schema(&doc, &route, status), &body, "$");
        assert!(
            errors.is_empty(),
            "{route} answered {status} with {body}:\n{errors:#?}"
        );
    }
    // The checker itself refuses what Qdrant would not send.
    let bad = serde_json::json!({ "result": { "status": "enabled", "peer_id": -1 }, "status": "ok", "time": 0.1 });
    assert!(!check(&doc, response_schema(&doc, "GET /cluster", 200), &bad, "$").is_empty());
}

#[tokio::test]
async fn the_engine_client_sees_a_dead_replica_that_membership_hides() {
    let mut cluster = Cluster::new(3, &["docs"], 3);
    cluster.set_peer_state(103, "Dead");
    let (url, state) = qdrant::serve(cluster).await;
    let http = QdrantHttp::new().unwrap();
    let health = tokio::time::timeout(Duration::from_secs(5), http.health(&url, API_KEY))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(health.peers, 3);
    assert_eq!(health.inactive_replicas, ["docs/2 on peer 103: Dead"]);
    assert!(health.ready_for_next_node(3).is_err());

    state.lock().unwrap().set_peer_state(103, "Active");
    let health = http.health(&url, API_KEY).await.unwrap();
    assert_eq!(health.ready_for_next_node(3), Ok(()));
    let Err(err) = http.health(&url, "wrong-key").await else {
        panic!("a wrong key is refused")
    };
    assert!(err.to_string().contains("401"), "{err}");
}
