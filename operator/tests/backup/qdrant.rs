//! A test Qdrant cluster: one consensus (its collections and where their
//! shards are), each node serving Qdrant's HTTP API on loopback with its
//! own replicas' data, by Qdrant's rules for placement on create, shard
//! snapshots, their recovery priorities, and counts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};

use crate::{API_KEY, qdrant_schema};

/// One replica of a shard on a node.
#[derive(Debug, Clone)]
pub(crate) struct Replica {
    pub(crate) state: &'static str,
    /// The shard's data as its snapshot carries it: `points:<n>\n…`.
    pub(crate) data: Vec<u8>,
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
pub(crate) struct Node {
    /// (collection, shard) → this node's replica.
    pub(crate) replicas: BTreeMap<(String, u32), Replica>,
    /// Shard snapshots that break off half-way, before one goes through.
    pub(crate) broken_downloads: usize,
    /// Points written to a shard just after its snapshot was streamed, as
    /// a client still writing during a backup does.
    pub(crate) writes_after_snapshot: u64,
    pub(crate) calls: Vec<String>,
}

/// A test Qdrant cluster: one consensus (the collections and where their
/// shards are), each node with its own replicas' data.
#[derive(Default)]
pub(crate) struct Qdrant {
    pub(crate) nodes: Vec<Node>,
    pub(crate) configs: BTreeMap<String, Value>,
    /// Where a collection created here puts replica `k` of shard `s`: node
    /// `(s + k + offset) % nodes`. Qdrant chooses by its own rules; an
    /// offset other than the backed-up cluster's is another placement.
    pub(crate) offset: usize,
    /// Every answer given, for the OpenAPI check: (route, status, body).
    pub(crate) answers: Vec<(String, u16, Value)>,
}

pub(crate) type Shared = Arc<Mutex<Qdrant>>;

pub(crate) use crate::qdrant_schema::config;

/// `points` points in a shard's data, padded to `len` bytes that differ by
/// collection and shard.
pub(crate) fn shard_data(collection: &str, shard: u32, points: u64, len: usize) -> Vec<u8> {
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
    pub(crate) fn create(&mut self, collection: &str, config: Value) {
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
    pub(crate) fn fill(&mut self, collection: &str, shard: u32, points: u64, len: usize) {
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
    pub(crate) fn count(&self, collection: &str) -> u64 {
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

pub(crate) async fn cluster(nodes: usize, offset: usize) -> (Vec<String>, Shared) {
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

/// Every answer the cluster gave has the shape Qdrant's OpenAPI document
/// gives that route and status.
pub(crate) fn assert_answers_documented(q: &Shared) {
    let doc = qdrant_schema::document();
    for (route, status, body) in &q.lock().unwrap().answers {
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
