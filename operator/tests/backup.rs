//! The backup and restore program against an S3-compatible server on
//! loopback (`moto_server`, PyPI `moto[server]`) and a test Qdrant cluster
//! that follows Qdrant's rules for collections, shard placement, shard
//! snapshots and their recovery, and counts. Its answers, and the bodies
//! the program sends it, are checked against Qdrant's OpenAPI document.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use operator::backup::BackupError;
use operator::backup::manifest;
use operator::backup::qdrant::SnapshotApi;
use operator::backup::run::{self, Source};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[path = "common/moto.rs"]
mod moto;
#[path = "common/qdrant_schema.rs"]
mod qdrant_schema;

use moto::Moto;

const API_KEY: &str = "qdrant-admin-key";
const PREFIX: &str = "org-acme/search";

/// One replica of a shard on a node.
#[derive(Debug, Clone)]
struct Replica {
    state: &'static str,
    /// The shard's data as its snapshot carries it: `points:<n>\n…`.
    data: Vec<u8>,
}

impl Replica {
    fn points(&self) -> u64 {
        let line = self.data.split(|b| *b == b'\n').next().unwrap_or_default();
        std::str::from_utf8(line)
            .ok()
            .and_then(|l| l.strip_prefix("points:"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

#[derive(Default)]
struct Node {
    /// (collection, shard) → this node's replica.
    replicas: BTreeMap<(String, u32), Replica>,
    /// Shard snapshots that break off half-way, before one goes through.
    broken_downloads: usize,
    /// Points written to a shard just after its snapshot was streamed, as
    /// a client still writing during a backup does.
    writes_after_snapshot: u64,
    calls: Vec<String>,
}

/// A test Qdrant cluster: one consensus (the collections and where their
/// shards are), each node with its own replicas' data.
#[derive(Default)]
struct Qdrant {
    nodes: Vec<Node>,
    configs: BTreeMap<String, Value>,
    /// Where a collection created here puts replica `k` of shard `s`: node
    /// `(s + k + offset) % nodes`. Qdrant chooses by its own rules; an
    /// offset other than the backed-up cluster's is another placement.
    offset: usize,
    /// Every answer given, for the OpenAPI check: (route, status, body).
    answers: Vec<(String, u16, Value)>,
}

type Shared = Arc<Mutex<Qdrant>>;

fn config(shards: u32, replication_factor: u32) -> Value {
    json!({
        "params": {
            "vectors": { "size": 4, "distance": "Cosine" },
            "shard_number": shards,
            "replication_factor": replication_factor,
            "write_consistency_factor": 1,
            "on_disk_payload": true
        },
        "hnsw_config": { "m": 16, "ef_construct": 100, "full_scan_threshold": 10000 },
        "optimizer_config": {
            "deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
            "default_segment_number": 0, "flush_interval_sec": 5
        },
        "wal_config": { "wal_capacity_mb": 32, "wal_segments_ahead": 0 }
    })
}

/// `points` points in a shard's data, padded to `len` bytes that differ by
/// collection and shard.
fn shard_data(collection: &str, shard: u32, points: u64, len: usize) -> Vec<u8> {
    let mut bytes = format!("points:{points}\n").into_bytes();
    let seed = collection
        .bytes()
        .fold(u8::try_from(shard).unwrap(), u8::wrapping_add);
    bytes.extend((bytes.len()..len).map(|i| seed.wrapping_add((i % 251) as u8)));
    bytes
}

impl Qdrant {
    /// Places `collection` as Qdrant does on creation, every replica
    /// empty and active.
    fn create(&mut self, collection: &str, config: Value) {
        let shards = config["params"]["shard_number"].as_u64().unwrap_or(1);
        let factor = config["params"]["replication_factor"].as_u64().unwrap_or(1);
        let n = self.nodes.len();
        for s in 0..u32::try_from(shards).unwrap() {
            for k in 0..usize::try_from(factor).unwrap().min(n) {
                let node = (s as usize + k + self.offset) % n;
                self.nodes[node].replicas.insert(
                    (collection.to_owned(), s),
                    Replica {
                        state: "Active",
                        data: shard_data(collection, s, 0, 0),
                    },
                );
            }
        }
        self.configs.insert(collection.to_owned(), config);
    }

    /// Fills shard `shard` of `collection` with `points` points (`len`
    /// bytes) on every node holding it.
    fn fill(&mut self, collection: &str, shard: u32, points: u64, len: usize) {
        for node in &mut self.nodes {
            if let Some(replica) = node.replicas.get_mut(&(collection.to_owned(), shard)) {
                replica.data = shard_data(collection, shard, points, len);
            }
        }
    }

    fn peer(node: usize) -> u64 {
        100 + node as u64
    }

    /// The exact count across the cluster: each shard counted once, from an
    /// active replica.
    fn count(&self, collection: &str) -> u64 {
        let mut shards: BTreeMap<u32, u64> = BTreeMap::new();
        for node in &self.nodes {
            for ((c, s), r) in &node.replicas {
                if c == collection && r.state == "Active" {
                    shards.insert(*s, r.points());
                }
            }
        }
        shards.values().sum()
    }

    fn holds(&self, node: usize, collection: &str) -> Vec<(u32, &Replica)> {
        self.nodes[node]
            .replicas
            .iter()
            .filter(|((c, _), _)| c == collection)
            .map(|((_, s), r)| (*s, r))
            .collect()
    }
}

/// Qdrant's error body.
fn refused(status: StatusCode, error: &str) -> (StatusCode, Value) {
    (
        status,
        json!({ "status": { "error": error }, "time": 0.001 }),
    )
}

fn ok(result: Value) -> (StatusCode, Value) {
    (
        StatusCode::OK,
        json!({ "result": result, "status": "ok", "time": 0.001 }),
    )
}

async fn cluster(nodes: usize, offset: usize) -> (Vec<String>, Shared) {
    let state: Shared = Arc::new(Mutex::new(Qdrant {
        nodes: (0..nodes).map(|_| Node::default()).collect(),
        offset,
        ..Qdrant::default()
    }));
    let mut urls = Vec::new();
    for node in 0..nodes {
        let app = Router::new()
            .route(
                "/collections/{collection}/shards/{shard}/snapshots/upload",
                post(upload),
            )
            .fallback(any(answer))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state((state.clone(), node));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        urls.push(format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    (urls, state)
}

fn record(q: &mut Qdrant, node: usize, headers: &HeaderMap, call: String) {
    assert_eq!(
        headers["api-key"], API_KEY,
        "every call carries the key: {call}"
    );
    q.nodes[node].calls.push(call);
}

fn answered(q: &mut Qdrant, route: &str, (status, body): (StatusCode, Value)) -> Response {
    q.answers
        .push((route.to_owned(), status.as_u16(), body.clone()));
    (status, axum::Json(body)).into_response()
}

async fn answer(
    State((state, node)): State<(Shared, usize)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut q = state.lock().unwrap();
    record(&mut q, node, &headers, format!("{method} {uri}"));
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let known = |q: &Qdrant, c: &str| q.configs.contains_key(c);
    let missing = |c: &str| {
        refused(
            StatusCode::NOT_FOUND,
            &format!("Not found: Collection `{c}` doesn't exist!"),
        )
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["collections"]) => {
            let names: Vec<_> = q.configs.keys().map(|n| json!({ "name": n })).collect();
            let a = ok(json!({ "collections": names }));
            answered(&mut q, "GET /collections", a)
        }
        ("GET", ["collections", c]) => {
            let a = match q.configs.get(*c) {
                Some(config) => ok(json!({
                    "status": "green", "optimizer_status": "ok", "segments_count": 1,
                    "points_count": q.count(c), "config": config, "payload_schema": {}
                })),
                None => missing(c),
            };
            answered(&mut q, "GET /collections/{collection_name}", a)
        }
        ("PUT", ["collections", c]) => {
            let request: Value = serde_json::from_slice(&body).unwrap();
            let doc = qdrant_schema::document();
            let route = "PUT /collections/{collection_name}";
            let errors = qdrant_schema::check(
                &doc,
                qdrant_schema::request_schema(&doc, route),
                &request,
                "$",
            );
            assert!(errors.is_empty(), "{request}: {errors:#?}");
            let a = if known(&q, c) {
                refused(
                    StatusCode::BAD_REQUEST,
                    &format!("Wrong input: Collection `{c}` already exists!"),
                )
            } else {
                // Back to the shape GET serves, as Qdrant stores it.
                let mut params = serde_json::Map::new();
                let mut config = serde_json::Map::new();
                for (key, value) in request.as_object().unwrap() {
                    match key.as_str() {
                        "optimizers_config" => {
                            config.insert("optimizer_config".into(), value.clone());
                        }
                        "hnsw_config"
                        | "wal_config"
                        | "quantization_config"
                        | "strict_mode_config"
                        | "metadata" => {
                            config.insert(key.clone(), value.clone());
                        }
                        _ => {
                            params.insert(key.clone(), value.clone());
                        }
                    }
                }
                config.insert("params".into(), Value::Object(params));
                q.create(c, Value::Object(config));
                ok(json!(true))
            };
            answered(&mut q, route, a)
        }
        ("GET", ["collections", c, "cluster"]) => {
            let a = if known(&q, c) {
                let local: Vec<_> = q
                    .holds(node, c)
                    .into_iter()
                    .map(|(s, r)| json!({ "shard_id": s, "points_count": r.points(), "state": r.state }))
                    .collect();
                let mut remote = Vec::new();
                for other in (0..q.nodes.len()).filter(|o| *o != node) {
                    for (s, r) in q.holds(other, c) {
                        remote.push(json!({ "shard_id": s, "peer_id": Qdrant::peer(other), "state": r.state }));
                    }
                }
                ok(json!({
                    "peer_id": Qdrant::peer(node),
                    "shard_count": q.configs[*c]["params"]["shard_number"],
                    "local_shards": local, "remote_shards": remote, "shard_transfers": []
                }))
            } else {
                missing(c)
            };
            answered(&mut q, "GET /collections/{collection_name}/cluster", a)
        }
        ("POST", ["collections", c, "points", "count"]) => {
            let a = if known(&q, c) {
                ok(json!({ "count": q.count(c) }))
            } else {
                missing(c)
            };
            answered(
                &mut q,
                "POST /collections/{collection_name}/points/count",
                a,
            )
        }
        ("GET", ["collections", c, "shards", s, "snapshot"]) => {
            let shard: u32 = s.parse().unwrap();
            let key = ((*c).to_owned(), shard);
            let Some(replica) = q.nodes[node].replicas.get(&key).cloned() else {
                let a = refused(
                    StatusCode::NOT_FOUND,
                    &format!("Not found: shard {shard} of {c} is not on this peer"),
                );
                return answered(
                    &mut q,
                    "GET /collections/{collection_name}/shards/{shard_id}/snapshot",
                    a,
                );
            };
            let n = &mut q.nodes[node];
            if n.broken_downloads > 0 {
                n.broken_downloads -= 1;
                // Half the bytes, then the connection breaks.
                let half = Bytes::from(replica.data[..replica.data.len() / 2].to_vec());
                let stream = futures::stream::iter([
                    Ok::<_, std::io::Error>(half),
                    Err(std::io::Error::other("connection lost")),
                ]);
                return Response::new(Body::from_stream(stream));
            }
            let written = n.writes_after_snapshot;
            if written > 0 {
                let len = replica.data.len();
                let points = replica.points() + written;
                q.fill(c, shard, points, len);
            }
            Response::new(Body::from(replica.data))
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct Recovery {
    priority: Option<String>,
    wait: Option<bool>,
}

/// `POST /collections/{c}/shards/{s}/snapshots/upload`, by Qdrant's rules
/// (src/common/snapshots.rs `recover_shard_snapshot`): the collection and
/// the shard must exist; the recovered replica becomes active, and with
/// priority `snapshot` the other active replicas are marked dead, with
/// `replica` (the default) this one is, while `no_sync` leaves them be.
/// A replica this node does not hold is refused: the program must load a
/// shard only where Qdrant placed it.
async fn upload(
    State((state, node)): State<(Shared, usize)>,
    Path((collection, shard)): Path<(String, u32)>,
    Query(recovery): Query<Recovery>,
    uri: Uri,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let field = form.next_field().await.unwrap().unwrap();
    assert_eq!(field.name(), Some("snapshot"));
    let bytes = field.bytes().await.unwrap().to_vec();
    let mut q = state.lock().unwrap();
    record(&mut q, node, &headers, format!("POST {uri}"));
    assert_eq!(
        recovery.wait,
        Some(true),
        "the program waits for the recovery"
    );
    let route = "POST /collections/{collection_name}/shards/{shard_id}/snapshots/upload";
    let key = (collection.clone(), shard);
    if !q.configs.contains_key(&collection) {
        let a = refused(
            StatusCode::NOT_FOUND,
            &format!("Not found: Collection `{collection}` doesn't exist!"),
        );
        return answered(&mut q, route, a);
    }
    if !q.nodes[node].replicas.contains_key(&key) {
        let a = refused(
            StatusCode::BAD_REQUEST,
            &format!("Bad request: shard {shard} of {collection} is not on this peer"),
        );
        return answered(&mut q, route, a);
    }
    let priority = recovery.priority.unwrap_or_else(|| "replica".into());
    let others_active = q
        .nodes
        .iter()
        .enumerate()
        .any(|(i, n)| i != node && n.replicas.get(&key).is_some_and(|r| r.state == "Active"));
    let own_state = if others_active && priority == "replica" {
        "Dead"
    } else {
        "Active"
    };
    if priority == "snapshot" {
        for (i, n) in q.nodes.iter_mut().enumerate() {
            if let Some(r) = n.replicas.get_mut(&key).filter(|_| i != node) {
                r.state = "Dead";
            }
        }
    }
    q.nodes[node].replicas.insert(
        key,
        Replica {
            state: own_state,
            data: bytes,
        },
    );
    answered(&mut q, route, ok(json!(true)))
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn calls(q: &Shared, node: usize) -> Vec<String> {
    q.lock().unwrap().nodes[node].calls.clone()
}

/// Every shard's data, as the cluster holds it: (collection, shard) → the
/// data of each replica.
fn data(q: &Shared) -> BTreeMap<(String, u32), Vec<Vec<u8>>> {
    let mut all: BTreeMap<(String, u32), Vec<Vec<u8>>> = BTreeMap::new();
    for node in &q.lock().unwrap().nodes {
        for (key, r) in &node.replicas {
            all.entry(key.clone()).or_default().push(r.data.clone());
        }
    }
    all
}

/// Two nodes: `docs` with 2 shards at replication factor 1 (shard 0 large
/// enough to span two multipart parts), `images` with 1 shard at factor 2.
async fn source_cluster() -> (Vec<String>, Shared) {
    let (nodes, q) = cluster(2, 0).await;
    {
        let mut c = q.lock().unwrap();
        c.create("docs", config(2, 1));
        c.create("images", config(1, 2));
        c.fill("docs", 0, 700, 9 * 1024 * 1024);
        c.fill("docs", 1, 300, 2000);
        c.fill("images", 0, 40, 3000);
    }
    (nodes, q)
}

fn source(nodes: &[String]) -> Source<'_> {
    Source {
        cluster: "org-acme/search",
        version: "1.13.6",
        nodes,
    }
}

#[tokio::test]
async fn a_backup_holds_each_shard_once_and_restores_into_another_placement_and_size() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    let (nodes, q) = source_cluster().await;
    let taken = run::take(&api, &store, PREFIX, "b1", &source(&nodes))
        .await
        .unwrap();

    assert_eq!(taken.collections(), ["docs", "images"]);
    assert_eq!(taken.collections["docs"].points, 1000);
    assert_eq!(taken.collections["images"].points, 40);
    assert_eq!(taken.collections["docs"].config, config(2, 1));
    // `images` has a replica on both nodes and is snapshotted once.
    let stored: Vec<(&str, u32, u32, u64, String)> = taken
        .snapshots
        .iter()
        .map(|s| {
            (
                s.collection.as_str(),
                s.shard,
                s.node,
                s.size,
                s.sha256.clone(),
            )
        })
        .collect();
    let before = data(&q);
    let hash = |c: &str, s: u32| sha256(&before[&(c.to_owned(), s)][0]);
    assert_eq!(
        stored,
        [
            ("docs", 0, 0, 9 * 1024 * 1024, hash("docs", 0)),
            ("images", 0, 0, 3000, hash("images", 0)),
            ("docs", 1, 1, 2000, hash("docs", 1)),
        ]
    );
    assert_eq!(
        taken.snapshots[0].key,
        "org-acme/search/b1/docs/shard-0.snapshot"
    );
    assert_eq!(
        calls(&q, 0),
        [
            "GET /collections",
            "GET /collections/docs",
            "GET /collections/docs/cluster",
            "GET /collections/docs/shards/0/snapshot",
            "GET /collections/images",
            "GET /collections/images/cluster",
            "GET /collections/images/shards/0/snapshot",
            "POST /collections/docs/points/count",
            "POST /collections/images/points/count",
        ]
    );
    // The manifest is in the bucket, as the program returned it.
    assert_eq!(
        run::read_manifest(&store, PREFIX, "b1").await.unwrap(),
        taken
    );
    assert_eq!(moto.open_uploads().await, 0);

    // Three new nodes where Qdrant puts every shard somewhere else.
    let (new, fresh) = cluster(3, 1).await;
    let workdir = tempfile::tempdir().unwrap();
    let restored = run::restore(&api, &store, PREFIX, "b1", &new, workdir.path())
        .await
        .unwrap();
    assert_eq!(restored, taken);
    let after = data(&fresh);
    for (key, replicas) in &before {
        assert_eq!(
            after[key].len(),
            replicas.len(),
            "{key:?}: as many replicas as the collection's factor"
        );
        assert!(
            after[key].iter().all(|r| *r == replicas[0]),
            "{key:?}: every replica holds the backed-up bytes"
        );
    }
    assert_eq!(fresh.lock().unwrap().count("docs"), 1000);
    assert_eq!(fresh.lock().unwrap().configs["docs"], config(2, 1));
    assert_eq!(
        calls(&fresh, 0),
        [
            "GET /collections",
            "PUT /collections/docs",
            "GET /collections/docs/cluster",
            "PUT /collections/images",
            "GET /collections/images/cluster",
            // Node 0 holds none of the shards now: nothing is loaded here.
            // The proof: every replica active, and the points counted.
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

    // Into a single node, which takes every shard: proven too.
    let (one, lonely) = cluster(1, 0).await;
    run::restore(&api, &store, PREFIX, "b1", &one, workdir.path())
        .await
        .unwrap();
    assert_eq!(lonely.lock().unwrap().count("docs"), 1000);
    assert_eq!(lonely.lock().unwrap().count("images"), 40);

    // Run again after it finished, it creates nothing and lands the same.
    run::restore(&api, &store, PREFIX, "b1", &one, workdir.path())
        .await
        .unwrap();
    let creates = calls(&lonely, 0)
        .iter()
        .filter(|c| c.starts_with("PUT"))
        .count();
    assert_eq!(creates, 2, "no collection is created twice");
    assert_eq!(lonely.lock().unwrap().count("docs"), 1000);

    for (route, status, body) in fresh
        .lock()
        .unwrap()
        .answers
        .iter()
        .chain(&q.lock().unwrap().answers)
    {
        let doc = qdrant_schema::document();
        let errors = qdrant_schema::check(
            &doc,
            qdrant_schema::response_schema(&doc, route, *status),
            body,
            "$",
        );
        assert!(
            errors.is_empty(),
            "{route} answered {status} with {body}:\n{errors:#?}"
        );
    }
}

#[tokio::test]
async fn a_restore_that_cannot_land_every_point_fails_loudly() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    let workdir = tempfile::tempdir().unwrap();

    // A client writes 5 points into each shard right after its snapshot:
    // the count at the end of the backup is more than the snapshots hold.
    let (nodes, q) = source_cluster().await;
    q.lock().unwrap().nodes[1].writes_after_snapshot = 5;
    let taken = run::take(&api, &store, PREFIX, "b1", &source(&nodes))
        .await
        .unwrap();
    assert_eq!(taken.collections["docs"].points, 1005);
    let (new, _) = cluster(2, 1).await;
    let err = run::restore(&api, &store, PREFIX, "b1", &new, workdir.path())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackupError::Unproven { collection, .. } if collection == "docs"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the restore of `docs` is incomplete: 1000 points, where the backup recorded 1005"
    );

    // A target that already has `docs` with three shards: the backup has
    // no data for the third, refused before any shard is loaded.
    let (nodes, _) = source_cluster().await;
    run::take(&api, &store, PREFIX, "b2", &source(&nodes))
        .await
        .unwrap();
    let (new, other) = cluster(2, 0).await;
    other.lock().unwrap().create("docs", config(3, 1));
    let err = run::restore(&api, &store, PREFIX, "b2", &new, workdir.path())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the restore of `docs` is incomplete: the new cluster has shard(s) 2 that the backup does not"
    );
    assert!(
        !calls(&other, 0)
            .iter()
            .chain(&calls(&other, 1))
            .any(|c| c.contains("upload")),
        "nothing loaded"
    );
}

#[tokio::test]
async fn an_interrupted_upload_is_retried_and_a_failed_backup_has_no_manifest() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();

    // The first download breaks off half-way: streamed and sent again.
    let (nodes, q) = cluster(1, 0).await;
    {
        let mut c = q.lock().unwrap();
        c.create("docs", config(1, 1));
        c.fill("docs", 0, 60, 6 * 1024 * 1024);
        c.nodes[0].broken_downloads = 1;
    }
    let docs = data(&q)[&("docs".to_owned(), 0)][0].clone();
    let taken = run::take(&api, &store, PREFIX, "b1", &source(&nodes))
        .await
        .unwrap();
    assert_eq!(taken.snapshots[0].sha256, sha256(&docs));
    assert_eq!(taken.snapshots[0].size, docs.len() as u64);
    let downloads = calls(&q, 0)
        .iter()
        .filter(|c| c.ends_with("/snapshot"))
        .count();
    assert_eq!(downloads, 2, "a fresh snapshot for the retry");
    assert_eq!(
        moto.open_uploads().await,
        0,
        "the broken upload was aborted"
    );
    let workdir = tempfile::tempdir().unwrap();
    let (target, fresh) = cluster(1, 0).await;
    run::restore(&api, &store, PREFIX, "b1", &target, workdir.path())
        .await
        .unwrap();
    assert_eq!(data(&fresh)[&("docs".to_owned(), 0)], [docs]);

    // A node whose downloads always break: the backup fails, and without a
    // manifest it can never be restored from.
    q.lock().unwrap().nodes[0].broken_downloads = usize::MAX;
    let err = run::take(&api, &store, PREFIX, "b2", &source(&nodes))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reading the snapshot"), "{err}");
    assert_eq!(moto.open_uploads().await, 0);
    let (target, fresh) = cluster(1, 0).await;
    let err = run::restore(&api, &store, PREFIX, "b2", &target, workdir.path())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "backup `b2` has no manifest: it never completed, and cannot be restored"
    );
    assert!(calls(&fresh, 0).is_empty());
}

#[tokio::test]
async fn a_shard_without_an_active_replica_fails_the_backup() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    let (nodes, q) = source_cluster().await;
    q.lock().unwrap().nodes[1]
        .replicas
        .get_mut(&("docs".to_owned(), 1))
        .unwrap()
        .state = "Dead";
    let err = run::take(&api, &store, PREFIX, "b1", &source(&nodes))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Qdrant: shard 1 of docs has no active replica to snapshot"
    );
    assert!(
        run::read_manifest(&store, PREFIX, "b1").await.is_err(),
        "no manifest"
    );
}

#[tokio::test]
async fn a_snapshot_changed_in_storage_fails_the_restore_before_anything_is_loaded() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    let (nodes, _) = source_cluster().await;
    let taken = run::take(&api, &store, PREFIX, "b1", &source(&nodes))
        .await
        .unwrap();

    // One byte of the last snapshot changes in the bucket.
    let last = taken.snapshots.last().unwrap();
    let mut damaged = shard_data("docs", 1, 300, 2000);
    damaged[100] ^= 1;
    let key = manifest::snapshot_key(PREFIX, "b1", "docs", 1);
    assert_eq!(last.key, key);
    store.put(&key, damaged.clone()).await.unwrap();

    let (target, fresh) = cluster(2, 0).await;
    let workdir = tempfile::tempdir().unwrap();
    let err = run::restore(&api, &store, PREFIX, "b1", &target, workdir.path())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{key} does not match its manifest: expected 2000 bytes with SHA-256 {}, found 2000 \
             bytes with SHA-256 {}; nothing was restored from it",
            last.sha256,
            sha256(&damaged)
        )
    );
    assert!(
        calls(&fresh, 0).is_empty() && calls(&fresh, 1).is_empty(),
        "not even the intact collection was loaded"
    );
}

#[tokio::test]
async fn a_manifest_of_the_old_format_is_refused_with_its_reason() {
    let moto = Moto::start().await;
    let store = moto.store();
    // Format 1, as operators before one snapshot per shard wrote it.
    let old = json!({
        "format": 1, "cluster": "org-acme/search", "version": "1.13.6",
        "startedAt": "2026-11-25T02:00:00Z", "finishedAt": "2026-11-25T02:01:00Z",
        "snapshots": [{ "node": 0, "collection": "docs", "key": "org-acme/search/old/node-0/docs.snapshot",
                        "size": 10, "sha256": "00", "shards": [0] }],
        "points": { "docs": 3 }
    });
    store
        .put(
            &manifest::manifest_key(PREFIX, "old"),
            serde_json::to_vec(&old).unwrap(),
        )
        .await
        .unwrap();
    let err = run::read_manifest(&store, PREFIX, "old").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the manifest of backup `old` is not readable: it is in format 1, and this operator \
         restores format 2 (one snapshot per shard) only"
    );
}
