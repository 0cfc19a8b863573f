//! The backup and restore program against an S3-compatible server on
//! loopback (`moto_server`, PyPI `moto[server]`) and Qdrant nodes served by
//! test servers that record every call.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use operator::backup::BackupError;
use operator::backup::manifest;
use operator::backup::qdrant::SnapshotApi;
use operator::backup::run::{self, Source};
use serde_json::json;
use sha2::{Digest, Sha256};

#[path = "common/moto.rs"]
mod moto;

use moto::Moto;

const API_KEY: &str = "qdrant-admin-key";
const PREFIX: &str = "org-acme/search";

/// What a test Qdrant node holds and was asked.
#[derive(Default)]
struct NodeState {
    /// Collection → the bytes of its snapshot on this node.
    snapshots: BTreeMap<String, Vec<u8>>,
    /// Downloads that break off half-way, before one goes through.
    broken_downloads: usize,
    calls: Vec<String>,
    /// Collection → the bytes a restore uploaded.
    recovered: BTreeMap<String, Vec<u8>>,
    created: usize,
    /// Collection → the shards this node holds (`local_shards`).
    shards: BTreeMap<String, Vec<u32>>,
    /// Collection → the shards Qdrant placed on this node when a restore
    /// created the collection; `None`: whatever the snapshot holds.
    assigned: Option<BTreeMap<String, Vec<u32>>>,
    /// Collection → what an exact count answers.
    counts: BTreeMap<String, u64>,
}

/// The shards a test snapshot holds: its first line, `shards:0,2`.
fn shards_in(bytes: &[u8]) -> Vec<u32> {
    let Some(rest) = bytes.strip_prefix(b"shards:") else {
        return vec![];
    };
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    std::str::from_utf8(line)
        .unwrap()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

type Node = Arc<Mutex<NodeState>>;

async fn qdrant_node(snapshots: &[(&str, Vec<u8>)], broken_downloads: usize) -> (String, Node) {
    let state: Node = Arc::new(Mutex::new(NodeState {
        snapshots: snapshots
            .iter()
            .map(|(c, b)| ((*c).to_owned(), b.clone()))
            .collect(),
        broken_downloads,
        ..NodeState::default()
    }));
    let app = Router::new()
        .route("/collections/{collection}/snapshots/upload", post(upload))
        .fallback(any(answer))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, state)
}

fn record(state: &Node, headers: &HeaderMap, call: String) {
    assert_eq!(
        headers["api-key"], API_KEY,
        "every call carries the key: {call}"
    );
    state.lock().unwrap().calls.push(call);
}

async fn answer(
    State(state): State<Node>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let call = format!("{method} {uri}");
    record(&state, &headers, call);
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let mut node = state.lock().unwrap();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["collections"]) => {
            let names: Vec<_> = node
                .snapshots
                .keys()
                .map(|n| json!({ "name": n }))
                .collect();
            axum::Json(json!({ "result": { "collections": names }, "status": "ok" }))
                .into_response()
        }
        ("POST", ["collections", collection, "snapshots"]) => {
            node.created += 1;
            let name = format!("{collection}-{}.snapshot", node.created);
            axum::Json(json!({ "result": { "name": name, "size": 0 }, "status": "ok" }))
                .into_response()
        }
        ("GET", ["collections", collection, "snapshots", _]) => {
            let bytes = node.snapshots[*collection].clone();
            if node.broken_downloads > 0 {
                node.broken_downloads -= 1;
                // Half the bytes, then the connection breaks.
                let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
                let stream = futures::stream::iter([
                    Ok::<_, std::io::Error>(half),
                    Err(std::io::Error::other("connection lost")),
                ]);
                return Response::new(Body::from_stream(stream));
            }
            Response::new(Body::from(bytes))
        }
        ("DELETE", ["collections", _, "snapshots", _]) => {
            axum::Json(json!({ "result": true, "status": "ok" })).into_response()
        }
        ("GET", ["collections", collection, "cluster"]) => {
            let local: Vec<_> = node
                .shards
                .get(*collection)
                .into_iter()
                .flatten()
                .map(|s| json!({ "shard_id": s, "points_count": 100, "state": "Active" }))
                .collect();
            axum::Json(json!({ "result": { "peer_id": 1, "shard_count": local.len(),
                "local_shards": local, "remote_shards": [], "shard_transfers": [] }, "status": "ok" }))
            .into_response()
        }
        ("POST", ["collections", collection, "points", "count"]) => {
            let count = node.counts.get(*collection).copied().unwrap_or(0);
            axum::Json(json!({ "result": { "count": count }, "status": "ok" })).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn upload(
    State(state): State<Node>,
    Path(collection): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    record(&state, &headers, format!("POST {uri}"));
    let field = form.next_field().await.unwrap().unwrap();
    assert_eq!(field.name(), Some("snapshot"));
    let bytes = field.bytes().await.unwrap();
    let mut node = state.lock().unwrap();
    // Qdrant recovers the shards placed on the node that the snapshot has,
    // and skips the others ("Shard is not in snapshot"), answering success
    // (lib/storage/src/content_manager/snapshots/recover.rs).
    let in_snapshot = shards_in(&bytes);
    let held = match &node.assigned {
        Some(assigned) => assigned[&collection]
            .iter()
            .copied()
            .filter(|s| in_snapshot.contains(s))
            .collect(),
        None => in_snapshot,
    };
    node.shards.insert(collection.clone(), held);
    node.recovered.insert(collection, bytes.to_vec());
    drop(node);
    axum::Json(json!({ "result": true, "status": "ok" })).into_response()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Distinct bytes per node and collection; `docs` on node 0 spans two
/// multipart parts.
fn snapshot(node: u8, collection: &str, len: usize) -> Vec<u8> {
    let seed = collection.bytes().fold(node, u8::wrapping_add);
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

fn calls(node: &Node) -> Vec<String> {
    node.lock().unwrap().calls.clone()
}

#[tokio::test]
async fn a_backup_restores_the_same_bytes_into_a_new_cluster() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    let docs0 = snapshot(0, "docs", 9 * 1024 * 1024);
    let (node0, state0) = qdrant_node(
        &[
            ("docs", docs0.clone()),
            ("images", snapshot(0, "images", 1000)),
        ],
        0,
    )
    .await;
    let (node1, state1) = qdrant_node(
        &[
            ("docs", snapshot(1, "docs", 2000)),
            ("images", snapshot(1, "images", 3000)),
        ],
        0,
    )
    .await;
    let nodes = [node0, node1];

    let source = Source {
        cluster: "org-acme/search",
        version: "1.13.6",
        nodes: &nodes,
    };
    let taken = run::take(&api, &store, PREFIX, "b1", &source)
        .await
        .unwrap();

    assert_eq!(taken.collections(), ["docs", "images"]);
    let stored: Vec<(u32, &str, u64, &str)> = taken
        .snapshots
        .iter()
        .map(|s| (s.node, s.collection.as_str(), s.size, s.sha256.as_str()))
        .collect();
    let hashes = [
        sha256(&docs0),
        sha256(&snapshot(0, "images", 1000)),
        sha256(&snapshot(1, "docs", 2000)),
        sha256(&snapshot(1, "images", 3000)),
    ];
    assert_eq!(
        stored,
        [
            (0, "docs", 9 * 1024 * 1024, hashes[0].as_str()),
            (0, "images", 1000, hashes[1].as_str()),
            (1, "docs", 2000, hashes[2].as_str()),
            (1, "images", 3000, hashes[3].as_str()),
        ]
    );
    assert_eq!(
        taken.snapshots[0].key,
        "org-acme/search/b1/node-0/docs.snapshot"
    );
    assert_eq!(
        calls(&state0),
        [
            "GET /collections",
            "GET /collections/docs/cluster",
            "POST /collections/docs/snapshots?wait=true",
            "GET /collections/docs/snapshots/docs-1.snapshot",
            "DELETE /collections/docs/snapshots/docs-1.snapshot?wait=true",
            "GET /collections/images/cluster",
            "POST /collections/images/snapshots?wait=true",
            "GET /collections/images/snapshots/images-2.snapshot",
            "DELETE /collections/images/snapshots/images-2.snapshot?wait=true",
            "POST /collections/docs/points/count",
            "POST /collections/images/points/count",
        ]
    );
    assert_eq!(calls(&state1).len(), 9);
    // The manifest is in the bucket, as the program returned it.
    assert_eq!(
        run::read_manifest(&store, PREFIX, "b1").await.unwrap(),
        taken
    );
    assert_eq!(moto.open_uploads().await, 0);

    // Restore into two new, empty nodes: node n's snapshots onto node n.
    let (new0, fresh0) = qdrant_node(&[], 0).await;
    let (new1, fresh1) = qdrant_node(&[], 0).await;
    let workdir = tempfile::tempdir().unwrap();
    let restored = run::restore(&api, &store, PREFIX, "b1", &[new0, new1], workdir.path())
        .await
        .unwrap();
    assert_eq!(restored, taken);
    let recovered = |node: &Node| node.lock().unwrap().recovered.clone();
    assert_eq!(recovered(&fresh0)["docs"], docs0);
    assert_eq!(recovered(&fresh0)["images"], snapshot(0, "images", 1000));
    assert_eq!(recovered(&fresh1)["docs"], snapshot(1, "docs", 2000));
    assert_eq!(recovered(&fresh1)["images"], snapshot(1, "images", 3000));
    assert_eq!(
        calls(&fresh0),
        [
            "POST /collections/docs/snapshots/upload?priority=snapshot&wait=true",
            "POST /collections/images/snapshots/upload?priority=snapshot&wait=true",
            // The proof: every shard somewhere, and the points counted.
            "GET /collections/docs/cluster",
            "POST /collections/docs/points/count",
            "GET /collections/images/cluster",
            "POST /collections/images/points/count",
        ]
    );
    assert_eq!(
        std::fs::read_dir(workdir.path()).unwrap().count(),
        0,
        "no files left behind"
    );

    // Into a smaller cluster, refused before anything is loaded.
    let (only, lonely) = qdrant_node(&[], 0).await;
    let err = run::restore(&api, &store, PREFIX, "b1", &[only], workdir.path())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BackupError::NodeCount {
                backup: 2,
                target: 1
            }
        ),
        "{err}"
    );
    assert!(calls(&lonely).is_empty());
}

#[tokio::test]
async fn an_interrupted_upload_is_retried_and_a_failed_backup_has_no_manifest() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    let docs = snapshot(0, "docs", 6 * 1024 * 1024);

    // The first download breaks off half-way: made and sent again.
    let (node, state) = qdrant_node(&[("docs", docs.clone())], 1).await;
    let nodes = [node];
    let source = Source {
        cluster: "org-acme/search",
        version: "1.13.6",
        nodes: &nodes,
    };
    let taken = run::take(&api, &store, PREFIX, "b1", &source)
        .await
        .unwrap();
    assert_eq!(taken.snapshots[0].sha256, sha256(&docs));
    assert_eq!(taken.snapshots[0].size, docs.len() as u64);
    assert_eq!(
        state.lock().unwrap().created,
        2,
        "a fresh snapshot for the retry"
    );
    assert_eq!(
        moto.open_uploads().await,
        0,
        "the broken upload was aborted"
    );
    let workdir = tempfile::tempdir().unwrap();
    let (target, fresh) = qdrant_node(&[], 0).await;
    run::restore(&api, &store, PREFIX, "b1", &[target], workdir.path())
        .await
        .unwrap();
    assert_eq!(fresh.lock().unwrap().recovered["docs"], docs);

    // A node whose downloads always break: the backup fails, and without a
    // manifest it can never be restored from.
    let (node, _) = qdrant_node(&[("docs", docs)], usize::MAX).await;
    let nodes = [node];
    let source = Source {
        nodes: &nodes,
        ..source
    };
    let err = run::take(&api, &store, PREFIX, "b2", &source)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reading the snapshot"), "{err}");
    assert_eq!(moto.open_uploads().await, 0);
    let (target, fresh) = qdrant_node(&[], 0).await;
    let err = run::restore(&api, &store, PREFIX, "b2", &[target], workdir.path())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "backup `b2` has no manifest: it never completed, and cannot be restored"
    );
    assert!(calls(&fresh).is_empty());
}

#[tokio::test]
async fn a_snapshot_changed_in_storage_fails_the_restore_before_anything_is_loaded() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    let (node, _) = qdrant_node(
        &[
            ("docs", snapshot(0, "docs", 4000)),
            ("images", snapshot(0, "images", 4000)),
        ],
        0,
    )
    .await;
    let nodes = [node];
    let source = Source {
        cluster: "org-acme/search",
        version: "1.13.6",
        nodes: &nodes,
    };
    let taken = run::take(&api, &store, PREFIX, "b1", &source)
        .await
        .unwrap();

    // One byte of the second snapshot changes in the bucket.
    let mut damaged = snapshot(0, "images", 4000);
    damaged[100] ^= 1;
    let key = manifest::snapshot_key(PREFIX, "b1", 0, "images");
    store.put(&key, damaged.clone()).await.unwrap();

    let (target, fresh) = qdrant_node(&[], 0).await;
    let workdir = tempfile::tempdir().unwrap();
    let err = run::restore(&api, &store, PREFIX, "b1", &[target], workdir.path())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{key} does not match its manifest: expected 4000 bytes with SHA-256 {}, found 4000 \
             bytes with SHA-256 {}; nothing was restored from it",
            taken.snapshots[1].sha256,
            sha256(&damaged)
        )
    );
    assert!(
        calls(&fresh).is_empty(),
        "not even the intact collection was loaded"
    );
}

/// A snapshot of `shards` of a collection, as the test nodes read it.
fn shard_snapshot(shards: &[u32]) -> Vec<u8> {
    let list: Vec<String> = shards.iter().map(ToString::to_string).collect();
    let mut bytes = format!("shards:{}\n", list.join(",")).into_bytes();
    bytes.extend(std::iter::repeat_n(7u8, 4000));
    bytes
}

#[tokio::test]
async fn a_restore_into_another_placement_fails_loudly_and_into_the_same_one_is_proven() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    // Two nodes, `docs` with shard 0 on node 0 and shard 1 on node 1; 200
    // points in all.
    let (node0, state0) = qdrant_node(&[("docs", shard_snapshot(&[0]))], 0).await;
    let (node1, state1) = qdrant_node(&[("docs", shard_snapshot(&[1]))], 0).await;
    state0.lock().unwrap().shards.insert("docs".into(), vec![0]);
    state1.lock().unwrap().shards.insert("docs".into(), vec![1]);
    state0.lock().unwrap().counts.insert("docs".into(), 200);
    let source = Source {
        cluster: "org-acme/search",
        version: "1.13.6",
        nodes: &[node0, node1],
    };
    let taken = run::take(&api, &store, PREFIX, "b2", &source)
        .await
        .unwrap();
    assert_eq!(taken.shards("docs").into_iter().collect::<Vec<_>>(), [0, 1]);
    assert_eq!(taken.points["docs"], 200);

    // A new cluster that placed shard 1 on node 0 and shard 0 on node 1:
    // each node's snapshot lacks the shard it was given, Qdrant skips it and
    // answers success; the restore does not.
    let target = |assigned: [Vec<u32>; 2], count: u64| async move {
        let mut nodes = Vec::new();
        let mut states = Vec::new();
        for shards in assigned {
            let (url, state) = qdrant_node(&[], 0).await;
            state.lock().unwrap().assigned = Some(BTreeMap::from([("docs".to_owned(), shards)]));
            state.lock().unwrap().counts.insert("docs".into(), count);
            nodes.push(url);
            states.push(state);
        }
        (nodes, states)
    };
    let workdir = tempfile::tempdir().unwrap();
    let (swapped, _) = target([vec![1], vec![0]], 0).await;
    let err = run::restore(&api, &store, PREFIX, "b2", &swapped, workdir.path())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackupError::Unproven { collection, .. } if collection == "docs"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("shards 0, 1 of the backup are on no node"),
        "{err}"
    );

    // The same placement, and the points all there: proven.
    let (same, _) = target([vec![0], vec![1]], 200).await;
    run::restore(&api, &store, PREFIX, "b2", &same, workdir.path())
        .await
        .unwrap();

    // Every shard there, but points missing: refused too.
    let (short, _) = target([vec![0], vec![1]], 150).await;
    let err = run::restore(&api, &store, PREFIX, "b2", &short, workdir.path())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("150 points, where the backup recorded 200"),
        "{err}"
    );
}
