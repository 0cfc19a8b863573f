//! The collector's spool and delivery against a loopback control plane that
//! asserts what it receives.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use chrono::{TimeZone, Utc};
use operator::collector::spool::{Spool, deliver};
use operator::collector::{Kind, Running, sample};
use serde_json::Value;

#[derive(Default)]
struct ControlPlane {
    /// Answers to give, in order; 200 when none are left.
    answers: Vec<StatusCode>,
    received: Vec<Vec<String>>,
}

#[tokio::test]
async fn reports_wait_in_the_spool_until_acknowledged_and_go_oldest_first() {
    let state = Arc::new(Mutex::new(ControlPlane {
        answers: vec![StatusCode::SERVICE_UNAVAILABLE],
        ..Default::default()
    }));
    let shared = state.clone();
    let app = axum::Router::new().route(
        "/v1/usage/events",
        axum::routing::post(move |headers: HeaderMap, body: axum::Json<Vec<Value>>| {
            let state = shared.clone();
            async move {
                assert_eq!(headers["authorization"], "Bearer qmdp_test");
                let mut state = state.lock().unwrap();
                state.received.push(
                    body.0
                        .iter()
                        .map(|e| e["id"].as_str().unwrap().to_owned())
                        .collect(),
                );
                if state.answers.is_empty() {
                    StatusCode::OK
                } else {
                    state.answers.remove(0)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/usage/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let running = [Running {
        organization_id: "org".into(),
        resource_id: "c-1".into(),
        kind: Kind::Cluster {
            ready_nodes: 1,
            storage_gib_per_node: 10,
            points: None,
        },
    }];
    let at = |minute| Utc.with_ymd_and_hms(2026, 11, 25, 12, minute, 0).unwrap();
    for minute in [1, 0] {
        let events = sample("s", at(minute), chrono::Duration::seconds(60), &running);
        spool.put(at(minute).timestamp(), &events).unwrap();
    }
    // A report cut off while being written is not a report.
    std::fs::write(dir.path().join("00000000000000000009.json.partial"), b"[").unwrap();

    let client = reqwest::Client::new();
    assert_eq!(
        deliver(&spool, &client, &url, "qmdp_test").await.unwrap(),
        0
    );
    assert_eq!(
        spool.pending().unwrap().len(),
        2,
        "nothing is forgotten when the control plane fails"
    );
    assert_eq!(
        deliver(&spool, &client, &url, "qmdp_test").await.unwrap(),
        2
    );
    assert!(spool.pending().unwrap().is_empty());

    let received = state.lock().unwrap().received.clone();
    let first_ids: Vec<&str> = received.iter().map(|r| r[0].as_str()).collect();
    let minute0 = at(0).timestamp();
    let minute1 = at(1).timestamp();
    assert_eq!(
        first_ids,
        [
            format!("c-1/node_seconds//{minute0}"),
            format!("c-1/node_seconds//{minute0}"),
            format!("c-1/node_seconds//{minute1}"),
        ],
        "the failed report is resent first, then the next"
    );
}

#[tokio::test]
async fn point_counts_come_from_qdrant_with_the_clusters_admin_key() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, uri: axum::http::Uri| {
        let log = log.clone();
        async move {
            assert_eq!(headers["api-key"], "admin-key");
            log.lock().unwrap().push(uri.path().to_owned());
            let body = match uri.path() {
                "/collections" => serde_json::json!({ "result": { "collections": [{ "name": "docs" }, { "name": "faq" }] } }),
                "/collections/docs" => serde_json::json!({ "result": { "points_count": 1200 } }),
                "/collections/faq" => serde_json::json!({ "result": { "points_count": 34 } }),
                other => panic!("unexpected call to {other}"),
            };
            axum::Json(body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let qdrant = operator::engine::QdrantHttp::new().unwrap();
    assert_eq!(qdrant.points(&endpoint, "admin-key").await.unwrap(), 1234);
    assert_eq!(
        seen.lock().unwrap().clone(),
        ["/collections", "/collections/docs", "/collections/faq"]
    );
}
