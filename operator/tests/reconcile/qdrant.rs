//! A Qdrant stand-in on loopback that keeps each collection's shards per
//! peer and follows Qdrant's rules where the operator meets them (read in
//! qdrant/qdrant: `docs/redoc/master/openapi.json` for every shape,
//! `lib/storage/src/content_manager/toc` and `src/actix/api/cluster_api.rs`
//! for the rules):
//! - `GET /cluster` lists membership: a peer that is down stays a member;
//!   only its replicas' states (`Dead`) tell;
//! - `GET /collections/{c}/cluster` answers from the asked peer's side:
//!   its own replicas as `local_shards`, the others as `remote_shards`;
//! - `move_shard` and `replicate_shard` need the shard on the source peer
//!   and not on the target; they start a transfer (`shard_transfers`) that
//!   ends when the test says so (`finish_transfers`);
//! - `drop_replica` refuses the last replica of a shard;
//! - `DELETE /cluster/peer/{id}` refuses a peer that still holds shards
//!   ("Cannot remove peer … as there are shards on it") unless `force`;
//! - `GET /metrics` answers Prometheus text as Qdrant's `TextEncoder`
//!   writes it (`src/common/metrics.rs`): `rest_responses_total` by method,
//!   endpoint and status and `grpc_responses_total` by endpoint and status,
//!   each family left out while it has no sample, beside other families;
//! - every route wants the `api-key` header.
//!
//! Every answer it gives is checked against Qdrant's published OpenAPI
//! document by `qdrant_openapi`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::qdrant_schema;

#[derive(Debug, Clone)]
pub struct Replica {
    pub state: &'static str,
    pub points: u64,
}

#[derive(Debug, Default)]
pub struct Collection {
    /// Shard id → peer id → replica.
    pub shards: BTreeMap<u32, BTreeMap<u64, Replica>>,
    /// (shard, from, to, sync): `sync` for a replication, else a move.
    pub transfers: Vec<(u32, u64, u64, bool)>,
}

#[derive(Debug, Default)]
pub struct Cluster {
    /// The admin key every request must carry in `api-key`.
    pub api_key: String,
    /// The peer the operator's requests land on.
    pub asked: u64,
    pub peers: BTreeMap<u64, String>,
    pub collections: BTreeMap<String, Collection>,
    /// Every answer given, as (method and path template, status, body),
    /// for the OpenAPI check.
    pub answers: Vec<(String, u16, Value)>,
    /// REST responses served: method, endpoint template, status, how many.
    pub rest_responses: Vec<(&'static str, &'static str, u16, u64)>,
    /// gRPC responses served: endpoint, status, how many.
    pub grpc_responses: Vec<(&'static str, u16, u64)>,
}

impl Cluster {
    /// `nodes` peers (ids 101, 102, …), and `collections` of `shards`
    /// shards each, one replica per shard placed round robin.
    pub fn new(nodes: u64, collections: &[&str], shards: u32) -> Cluster {
        Cluster::with_copies(nodes, collections, shards, 1)
    }

    /// As [`Cluster::new`], each shard kept `copies` times on distinct peers.
    pub fn with_copies(nodes: u64, collections: &[&str], shards: u32, copies: u32) -> Cluster {
        let peers: BTreeMap<u64, String> = (0..nodes)
            .map(|n| (101 + n, format!("http://search-{n}.search-peers:6335/")))
            .collect();
        let ids: Vec<u64> = peers.keys().copied().collect();
        let collections = collections
            .iter()
            .map(|name| {
                let shards = (0..shards)
                    .map(|s| {
                        let replicas = (0..copies)
                            .map(|k| {
                                let peer = ids[(s + k) as usize % ids.len()];
                                let replica = Replica {
                                    state: "Active",
                                    points: 100,
                                };
                                (peer, replica)
                            })
                            .collect();
                        (s, replicas)
                    })
                    .collect();
                (
                    (*name).to_owned(),
                    Collection {
                        shards,
                        transfers: Vec::new(),
                    },
                )
            })
            .collect();
        Cluster {
            api_key: API_KEY.to_owned(),
            asked: ids[0],
            peers,
            collections,
            answers: Vec::new(),
            rest_responses: Vec::new(),
            grpc_responses: Vec::new(),
        }
    }

    /// Sets the state of every replica on `peer`, as Qdrant does when it
    /// loses or regains the peer.
    pub fn set_peer_state(&mut self, peer: u64, state: &'static str) {
        for collection in self.collections.values_mut() {
            for replicas in collection.shards.values_mut() {
                if let Some(replica) = replicas.get_mut(&peer) {
                    replica.state = state;
                }
            }
        }
    }

    /// Ends every transfer: a replication leaves two replicas, a move one.
    pub fn finish_transfers(&mut self) {
        for collection in self.collections.values_mut() {
            for (shard, from, to, sync) in std::mem::take(&mut collection.transfers) {
                let replicas = collection.shards.entry(shard).or_default();
                let source = replicas.get(&from).cloned();
                if let Some(source) = source {
                    replicas.insert(
                        to,
                        Replica {
                            state: "Active",
                            points: source.points,
                        },
                    );
                    if !sync {
                        replicas.remove(&from);
                    }
                }
            }
        }
    }
}

pub type Shared = Arc<Mutex<Cluster>>;

/// The admin key it wants in `api-key`.
pub const API_KEY: &str = "admin-key";

fn ok(result: Value) -> (StatusCode, Json<Value>) {
    (
        StatusCode::OK,
        Json(json!({ "result": result, "status": "ok", "time": 0.000_12 })),
    )
}

fn bad(message: String) -> (StatusCode, Json<Value>) {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "status": { "error": format!("Wrong input: {message}") }, "time": 0.000_05 })),
    )
}

fn record(
    state: &Shared,
    route: &str,
    answer: (StatusCode, Json<Value>),
) -> (StatusCode, Json<Value>) {
    state
        .lock()
        .unwrap()
        .answers
        .push((route.to_owned(), answer.0.as_u16(), answer.1.0.clone()));
    answer
}

fn authorized(state: &Shared, headers: &HeaderMap) -> bool {
    headers.get("api-key").and_then(|v| v.to_str().ok())
        == Some(state.lock().unwrap().api_key.as_str())
}

fn unauthorized() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(
            json!({ "status": { "error": "Must provide an API key or an Authorization bearer token" }, "time": 0.0 }),
        ),
    )
}

async fn cluster_status(
    State(state): State<Shared>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let answer = {
        let c = state.lock().unwrap();
        let peers: serde_json::Map<String, Value> = c
            .peers
            .iter()
            .map(|(id, uri)| (id.to_string(), json!({ "uri": uri })))
            .collect();
        ok(json!({
            "status": "enabled",
            "peer_id": c.asked,
            "peers": peers,
            "raft_info": { "term": 3, "commit": 42, "pending_operations": 0,
                           "leader": c.asked, "role": "Leader", "is_voter": true },
            "consensus_thread_status": { "consensus_thread_status": "working",
                                         "last_update": "2026-12-03T12:00:00.000000Z" },
            "message_send_failures": {},
        }))
    };
    record(&state, "GET /cluster", answer)
}

async fn collections(State(state): State<Shared>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let names: Vec<Value> = state
        .lock()
        .unwrap()
        .collections
        .keys()
        .map(|n| json!({ "name": n }))
        .collect();
    record(
        &state,
        "GET /collections",
        ok(json!({ "collections": names })),
    )
}

/// Answers `route` about collection `name` with `answer`, or as Qdrant
/// answers an unknown collection.
fn about_collection(
    state: &Shared,
    headers: &HeaderMap,
    name: &str,
    route: &str,
    answer: impl FnOnce(&Cluster, &Collection) -> (StatusCode, Json<Value>),
) -> (StatusCode, Json<Value>) {
    if !authorized(state, headers) {
        return unauthorized();
    }
    let answer = {
        let c = state.lock().unwrap();
        match c.collections.get(name) {
            None => missing(name),
            Some(collection) => answer(&c, collection),
        }
    };
    record(state, route, answer)
}

async fn collection_cluster(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let route = "GET /collections/{collection_name}/cluster";
    about_collection(&state, &headers, &name, route, |c, collection| {
        let mut local = Vec::new();
        let mut remote = Vec::new();
        for (shard, replicas) in &collection.shards {
            for (peer, replica) in replicas {
                if *peer == c.asked {
                    local.push(json!({ "shard_id": shard, "points_count": replica.points, "state": replica.state }));
                } else {
                    remote.push(
                        json!({ "shard_id": shard, "peer_id": peer, "state": replica.state }),
                    );
                }
            }
        }
        let transfers: Vec<Value> = collection
            .transfers
            .iter()
            .map(|(shard, from, to, sync)| {
                json!({ "shard_id": shard, "from": from, "to": to, "sync": sync, "method": "stream_records" })
            })
            .collect();
        ok(json!({
            "peer_id": c.asked,
            "shard_count": collection.shards.len(),
            "local_shards": local,
            "remote_shards": remote,
            "shard_transfers": transfers,
        }))
    })
}

/// `GET /collections/{c}`: the points of one replica of every shard.
async fn collection_info(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let route = "GET /collections/{collection_name}";
    about_collection(&state, &headers, &name, route, |_, collection| {
        let points: u64 = collection
            .shards
            .values()
            .filter_map(|replicas| replicas.values().next().map(|r| r.points))
            .sum();
        let shards = u32::try_from(collection.shards.len()).unwrap();
        ok(json!({
            "status": "green", "optimizer_status": "ok", "segments_count": 1,
            "points_count": points, "config": qdrant_schema::config(shards, 1),
            "payload_schema": {}
        }))
    })
}

fn missing(name: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(
            json!({ "status": { "error": format!("Not found: Collection `{name}` doesn't exist!") }, "time": 0.0 }),
        ),
    )
}

async fn update_collection_cluster(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(operation): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let answer = {
        let mut c = state.lock().unwrap();
        let members: Vec<u64> = c.peers.keys().copied().collect();
        match c.collections.get_mut(&name) {
            None => bad(format!("Collection `{name}` doesn't exist!")),
            Some(collection) => apply(collection, &members, &operation),
        }
    };
    record(
        &state,
        "POST /collections/{collection_name}/cluster",
        answer,
    )
}

fn apply(
    collection: &mut Collection,
    members: &[u64],
    operation: &Value,
) -> (StatusCode, Json<Value>) {
    let field = |op: &Value, f: &str| op[f].as_u64();
    for (kind, sync) in [("move_shard", false), ("replicate_shard", true)] {
        let op = &operation[kind];
        if op.is_null() {
            continue;
        }
        let (Some(shard), Some(from), Some(to)) = (
            field(op, "shard_id").and_then(|s| u32::try_from(s).ok()),
            field(op, "from_peer_id"),
            field(op, "to_peer_id"),
        ) else {
            return bad(format!(
                "{kind} needs shard_id, from_peer_id and to_peer_id"
            ));
        };
        let Some(replicas) = collection.shards.get(&shard) else {
            return bad(format!("Shard {shard} does not exist"));
        };
        if !members.contains(&to) {
            return bad(format!("Peer {to} does not exist"));
        }
        if !replicas.contains_key(&from) {
            return bad(format!("Shard {shard} is not on peer {from}"));
        }
        if replicas.contains_key(&to) {
            return bad(format!("Shard {shard} is already on peer {to}"));
        }
        if collection.transfers.iter().any(|t| t.0 == shard) {
            return bad(format!("Shard {shard} is already involved in transfer"));
        }
        collection.transfers.push((shard, from, to, sync));
        return ok(json!(true));
    }
    let op = &operation["drop_replica"];
    if !op.is_null() {
        let (Some(shard), Some(peer)) = (
            field(op, "shard_id").and_then(|s| u32::try_from(s).ok()),
            field(op, "peer_id"),
        ) else {
            return bad("drop_replica needs shard_id and peer_id".to_owned());
        };
        let Some(replicas) = collection.shards.get_mut(&shard) else {
            return bad(format!("Shard {shard} does not exist"));
        };
        if !replicas.contains_key(&peer) {
            return bad(format!("Shard {shard} is not on peer {peer}"));
        }
        if replicas.len() == 1 {
            return bad(format!(
                "Shard {shard} has only one replica; it cannot be dropped"
            ));
        }
        replicas.remove(&peer);
        return ok(json!(true));
    }
    bad(format!("unknown operation {operation}"))
}

#[derive(serde::Deserialize)]
struct RemoveQuery {
    #[serde(default)]
    force: bool,
}

async fn remove_peer(
    State(state): State<Shared>,
    Path(peer): Path<u64>,
    Query(query): Query<RemoveQuery>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let answer = {
        let mut c = state.lock().unwrap();
        let holds = c
            .collections
            .values()
            .any(|col| col.shards.values().any(|r| r.contains_key(&peer)));
        if !c.peers.contains_key(&peer) {
            bad(format!("Peer {peer} does not exist"))
        } else if holds && !query.force {
            bad(format!(
                "Cannot remove peer {peer} as there are shards on it"
            ))
        } else {
            c.peers.remove(&peer);
            ok(json!(true))
        }
    };
    record(&state, "DELETE /cluster/peer/{peer_id}", answer)
}

/// One counter family in the text format, or nothing without samples.
fn family(name: &str, samples: &[(String, u64)]) -> String {
    if samples.is_empty() {
        return String::new();
    }
    let mut text = format!("# HELP {name} total number of responses\n# TYPE {name} counter\n");
    for (labels, value) in samples {
        text.push_str(&format!("{name}{{{labels}}} {value}\n"));
    }
    text
}

/// `GET /metrics`: the node's counters, with an app gauge and a histogram's
/// samples around them as Qdrant writes them.
async fn metrics(State(state): State<Shared>, headers: HeaderMap) -> (StatusCode, String) {
    if !authorized(&state, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            "Must provide an API key".to_owned(),
        );
    }
    let c = state.lock().unwrap();
    let rest: Vec<(String, u64)> = c
        .rest_responses
        .iter()
        .map(|(method, endpoint, status, n)| {
            (
                format!("method=\"{method}\",endpoint=\"{endpoint}\",status=\"{status}\""),
                *n,
            )
        })
        .collect();
    let grpc: Vec<(String, u64)> = c
        .grpc_responses
        .iter()
        .map(|(endpoint, status, n)| (format!("endpoint=\"{endpoint}\",status=\"{status}\""), *n))
        .collect();
    let mut text = "# HELP app_info information about qdrant server\n# TYPE app_info gauge\n\
                    app_info{name=\"qdrant\",version=\"1.19.0\"} 1\n"
        .to_owned();
    text.push_str(&family("rest_responses_total", &rest));
    if let Some((labels, n)) = rest.first() {
        text.push_str(&format!(
            "# HELP rest_responses_duration_seconds response duration histogram\n\
             # TYPE rest_responses_duration_seconds histogram\n\
             rest_responses_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {n}\n\
             rest_responses_duration_seconds_sum{{{labels}}} 0.25\n\
             rest_responses_duration_seconds_count{{{labels}}} {n}\n"
        ));
    }
    text.push_str(&family("grpc_responses_total", &grpc));
    (StatusCode::OK, text)
}

/// Serves `cluster`; the base URL and the shared state.
pub async fn serve(cluster: Cluster) -> (String, Shared) {
    let state: Shared = Arc::new(Mutex::new(cluster));
    let app = Router::new()
        .route("/cluster", get(cluster_status))
        .route("/cluster/peer/{peer_id}", delete(remove_peer))
        .route("/collections", get(collections))
        .route("/metrics", get(metrics))
        .route("/collections/{name}", get(collection_info))
        .route(
            "/collections/{name}/cluster",
            get(collection_cluster).post(update_collection_cluster),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}
