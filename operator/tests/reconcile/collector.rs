//! The collector's spool and delivery against a loopback control plane that
//! asserts what it receives.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use chrono::{TimeZone, Utc};
use operator::collector::spool::{Spool, deliver};
use operator::collector::{Kind, Running, sample};
use serde_json::{Value, json};

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
            storage_bytes: 10 << 30,
            points: None,
            requests: None,
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

#[tokio::test]
async fn request_totals_come_from_qdrants_own_counters_and_a_refusal_is_no_reading() {
    // Qdrant declares `/metrics` as Prometheus text.
    let doc = crate::qdrant_schema::document();
    assert!(
        doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]["text/plain"].is_object()
    );

    let mut cluster = crate::qdrant::Cluster::new(1, &["docs"], 1);
    let http = operator::engine::QdrantHttp::new().unwrap();
    let (fresh, _) = crate::qdrant::serve(crate::qdrant::Cluster::new(1, &["docs"], 1)).await;
    assert_eq!(
        http.qdrant_requests(&fresh, crate::qdrant::API_KEY)
            .await
            .unwrap(),
        0,
        "a node that served nothing yet has no counter family: zero"
    );
    cluster.rest_responses = vec![
        (
            "POST",
            "/collections/{collection_name}/points/search",
            200,
            10,
        ),
        ("PUT", "/collections/{collection_name}/points", 200, 3),
        (
            "POST",
            "/collections/{collection_name}/points/query",
            404,
            1,
        ),
    ];
    cluster.grpc_responses = vec![("/qdrant.Points/Search", 0, 5)];
    let (url, _) = crate::qdrant::serve(cluster).await;
    assert_eq!(
        http.qdrant_requests(&url, crate::qdrant::API_KEY)
            .await
            .unwrap(),
        19
    );
    assert!(
        http.qdrant_requests(&url, "wrong-key").await.is_err(),
        "refused: unreadable, not zero"
    );
}

/// What the fake API server and control plane of the process test received.
#[derive(Default)]
struct Heard {
    api: Vec<String>,
    reports: Vec<Vec<Value>>,
}

fn claim(namespace: &str, cluster: &str, name: &str, capacity: &str) -> Value {
    json!({
        "metadata": { "name": name, "namespace": namespace,
                      "labels": { "quartermaster.dev/cluster": cluster } },
        "spec": { "resources": { "requests": { "storage": "10Gi" } } },
        "status": { "phase": "Bound", "capacity": { "storage": capacity } },
    })
}

/// A Kubernetes API that serves one placed cluster and no endpoints, and a
/// control plane that takes reports; both record what they are asked.
async fn fake_world(heard: Arc<Mutex<Heard>>) -> (String, String) {
    let api_heard = heard.clone();
    let api = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let heard = api_heard.clone();
        async move {
            heard.lock().unwrap().api.push(uri.to_string());
            let mut placed = crate::cluster(crate::v(13), 1, 1);
            placed.metadata.labels = Some(
                [
                    ("quartermaster.dev/organization", "org-1"),
                    ("quartermaster.dev/id", "cluster-1"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            );
            let (kind, items) = match uri.path() {
                "/apis/quartermaster.dev/v1alpha1/vectorclusters" => (
                    "VectorClusterList",
                    vec![serde_json::to_value(placed).unwrap()],
                ),
                "/apis/quartermaster.dev/v1alpha1/inferenceendpoints" => {
                    ("InferenceEndpointList", vec![])
                }
                // The cluster's one volume has grown to 20 GiB (its spec says
                // 10); another cluster's volume is not this one's usage.
                "/api/v1/persistentvolumeclaims" => (
                    "PersistentVolumeClaimList",
                    vec![
                        claim("org-acme", "search", "storage-search-0", "20Gi"),
                        claim("org-acme", "other", "storage-other-0", "7Gi"),
                    ],
                ),
                _ => return (StatusCode::NOT_FOUND, axum::Json(json!({}))),
            };
            let list = json!({ "apiVersion": "quartermaster.dev/v1alpha1", "kind": kind,
                               "metadata": { "resourceVersion": "1" }, "items": items });
            (StatusCode::OK, axum::Json(list))
        }
    });
    let ingest = axum::Router::new().route(
        "/v1/usage/events",
        axum::routing::post(move |headers: HeaderMap, body: axum::Json<Vec<Value>>| {
            let heard = heard.clone();
            async move {
                assert_eq!(headers["authorization"], "Bearer qmdp_process");
                heard.lock().unwrap().reports.push(body.0);
                StatusCode::OK
            }
        }),
    );
    let serve = |app: axum::Router| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    };
    (serve(api).await, serve(ingest).await)
}

#[tokio::test]
async fn the_collector_process_reports_what_runs_then_stops_cleanly_at_sigterm() {
    let heard = Arc::new(Mutex::new(Heard::default()));
    let (api, control_plane) = fake_world(heard.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters: [{{name: fake, cluster: {{server: '{api}'}}}}]\n\
             users: [{{name: collector, user: {{token: t}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: collector}}}}]\n"
        ),
    )
    .unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "qmdp_process\n").unwrap();
    let spool = dir.path().join("spool");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_quartermaster-operator"))
        .args([
            "collect",
            "--data-plane",
            "eu-1",
            "--interval-seconds",
            "3600",
        ])
        .arg("--ingest-url")
        .arg(format!("{control_plane}/v1/usage/events"))
        .arg("--token-file")
        .arg(&token)
        .arg("--spool-dir")
        .arg(&spool)
        .env("KUBECONFIG", &kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    // The first pass runs at once; the next would be an hour away.
    for _ in 0..300 {
        if !heard.lock().unwrap().reports.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let mut status = None;
    for _ in 0..150 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let Some(status) = status else {
        child.kill().unwrap();
        panic!("still running 15 s after SIGTERM");
    };

    assert!(status.success(), "stopped by SIGTERM with {status}");
    let heard = heard.lock().unwrap();
    assert_eq!(
        heard.api,
        [
            "/api/v1/persistentvolumeclaims?&labelSelector=quartermaster.dev%2Fcluster",
            "/apis/quartermaster.dev/v1alpha1/vectorclusters?&labelSelector=quartermaster.dev%2Forganization%2Cquartermaster.dev%2Fid",
            "/apis/quartermaster.dev/v1alpha1/inferenceendpoints?&labelSelector=quartermaster.dev%2Forganization%2Cquartermaster.dev%2Fid",
        ]
    );
    let [report] = heard.reports.as_slice() else {
        panic!("one report: {:?}", heard.reports)
    };
    let meters: Vec<(&str, &str)> = report
        .iter()
        .map(|e| {
            (
                e["subject"].as_str().unwrap(),
                e["data"]["meter"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        meters,
        [
            ("organizations/org-1/clusters/cluster-1", "node_seconds"),
            ("organizations/org-1/clusters/cluster-1", "storage_bytes"),
        ]
    );
    assert_eq!(
        report[1]["data"]["value"],
        20u64 << 30,
        "billed as the volume reports it"
    );
    assert_eq!(
        Spool::open(&spool).unwrap().pending().unwrap().len(),
        0,
        "the acknowledged report left the spool"
    );
}
