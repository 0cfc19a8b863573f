//! What Qdrant itself says about a cluster, read through its HTTP API: the
//! rollout gate's second half, after Kubernetes readiness.

use std::time::Duration;

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

use crate::reconcile::shards::{self, Layout, Operation, Replica, TransferKind};

mod metrics;
pub use metrics::{QDRANT_REQUEST_COUNTERS, RequestCounter, sum_counter};

/// The cluster as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EngineHealth {
    /// Peers in the consensus (1 for a single node). Membership, not
    /// liveness: a peer that is down stays listed.
    pub peers: u32,
    /// Shard transfers in progress across all collections.
    pub pending_transfers: u32,
    /// Replicas not `Active`, as `collection/shard on peer: State`: a dead
    /// or recovering peer shows here, whatever the membership says.
    pub inactive_replicas: Vec<String>,
    /// The consensus thread stopped (with its error), or the peer has raft
    /// operations it cannot commit.
    pub consensus: Option<String>,
}

impl EngineHealth {
    /// `Err` with the reason when the cluster should not lose another node yet.
    pub fn ready_for_next_node(&self, expected_peers: u32) -> Result<(), String> {
        if let Some(consensus) = &self.consensus {
            return Err(format!("Qdrant's consensus is not working: {consensus}"));
        }
        if self.peers < expected_peers {
            return Err(format!(
                "Qdrant sees {} of {expected_peers} peers",
                self.peers
            ));
        }
        if let Some(first) = self.inactive_replicas.first() {
            let more = self.inactive_replicas.len() - 1;
            return Err(if more == 0 {
                format!("a replica is not active: {first}")
            } else {
                format!(
                    "{} replicas are not active: {first} and {more} more",
                    more + 1
                )
            });
        }
        if self.pending_transfers > 0 {
            return Err(format!(
                "Qdrant is moving {} shard{}",
                self.pending_transfers,
                if self.pending_transfers == 1 { "" } else { "s" }
            ));
        }
        Ok(())
    }
}

/// `GET /cluster`'s result (Qdrant's `ClusterStatus`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ClusterStatus {
    Disabled,
    Enabled {
        peer_id: u64,
        peers: BTreeMap<String, serde_json::Value>,
        raft_info: RaftInfo,
        consensus_thread_status: ConsensusThreadStatus,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct RaftInfo {
    pub pending_operations: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "consensus_thread_status", rename_all = "snake_case")]
pub enum ConsensusThreadStatus {
    Working,
    Stopped,
    StoppedWithErr { err: String },
}

/// A replica's state when it serves (Qdrant's `ReplicaState::Active`).
pub const ACTIVE: &str = "Active";

/// `GET /collections/{c}/cluster`'s result (`CollectionClusterInfo`).
#[derive(Debug, Clone, Deserialize)]
pub struct CollectionCluster {
    pub peer_id: u64,
    pub local_shards: Vec<LocalShard>,
    pub remote_shards: Vec<RemoteShard>,
    pub shard_transfers: Vec<serde_json::Value>,
}

impl CollectionCluster {
    /// Every replica of the collection: (shard, peer, state), the answering
    /// peer's own first.
    pub fn replicas(&self) -> impl Iterator<Item = (u32, u64, &str)> {
        let local = self
            .local_shards
            .iter()
            .map(|s| (s.shard_id, self.peer_id, s.state.as_str()));
        let remote = self
            .remote_shards
            .iter()
            .map(|s| (s.shard_id, s.peer_id, s.state.as_str()));
        local.chain(remote)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LocalShard {
    pub shard_id: u32,
    pub points_count: u64,
    pub state: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RemoteShard {
    pub shard_id: u32,
    pub peer_id: u64,
    pub state: String,
}

/// What Qdrant's answers say of the cluster's health: a pure reading of
/// `GET /cluster` and each collection's `GET /collections/{c}/cluster`.
pub fn assess(
    cluster: &ClusterStatus,
    collections: &[(String, CollectionCluster)],
) -> EngineHealth {
    let (peers, consensus) = match cluster {
        ClusterStatus::Disabled => (1, None),
        ClusterStatus::Enabled {
            peers,
            raft_info,
            consensus_thread_status,
            ..
        } => {
            let consensus = match consensus_thread_status {
                ConsensusThreadStatus::Working if raft_info.pending_operations == 0 => None,
                ConsensusThreadStatus::Working => Some(format!(
                    "{} raft operations pending",
                    raft_info.pending_operations
                )),
                ConsensusThreadStatus::Stopped => Some("the consensus thread stopped".to_owned()),
                ConsensusThreadStatus::StoppedWithErr { err } => {
                    Some(format!("the consensus thread stopped: {err}"))
                }
            };
            (u32::try_from(peers.len()).unwrap_or(u32::MAX), consensus)
        }
    };
    let mut inactive_replicas = Vec::new();
    let mut pending_transfers = 0u32;
    for (name, info) in collections {
        for (shard, peer, state) in info.replicas() {
            if state != ACTIVE {
                inactive_replicas.push(format!("{name}/{shard} on peer {peer}: {state}"));
            }
        }
        pending_transfers = pending_transfers
            .saturating_add(u32::try_from(info.shard_transfers.len()).unwrap_or(u32::MAX));
    }
    EngineHealth {
        peers,
        pending_transfers,
        inactive_replicas,
        consensus,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("Qdrant did not answer: {0}")]
    Unreachable(String),
    #[error("Qdrant answered {status} to {path}")]
    Status { path: String, status: u16 },
    #[error("Qdrant refused {operation}: {message}")]
    Refused { operation: String, message: String },
}

/// What the operator asks of Qdrant; a trait so that tests can stand in.
pub trait Engine: Send + Sync {
    fn health<'a>(
        &'a self,
        endpoint: &'a str,
        api_key: &'a str,
    ) -> BoxFuture<'a, Result<EngineHealth, EngineError>>;

    /// Where every shard's replicas are, each peer named by the pod ordinal
    /// of its address (`<statefulset>-<n>`).
    fn layout<'a>(
        &'a self,
        endpoint: &'a str,
        api_key: &'a str,
        statefulset: &'a str,
    ) -> BoxFuture<'a, Result<Layout, EngineError>>;

    /// Starts one cluster operation (a transfer, a drop, a peer removal).
    fn operate<'a>(
        &'a self,
        endpoint: &'a str,
        api_key: &'a str,
        operation: &'a Operation,
    ) -> BoxFuture<'a, Result<(), EngineError>>;
}

/// The engines' HTTP APIs: Qdrant's REST API, and inference engines' metrics.
#[derive(Debug, Clone)]
pub struct QdrantHttp {
    client: reqwest::Client,
}

impl QdrantHttp {
    pub fn new() -> Result<Self, EngineError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        Ok(QdrantHttp { client })
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
        api_key: &str,
    ) -> Result<T, EngineError> {
        let response = self
            .client
            .get(format!("{endpoint}{path}"))
            .header("api-key", api_key)
            .send()
            .await
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(EngineError::Status {
                path: path.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let body: Envelope<T> = response
            .json()
            .await
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        Ok(body.result)
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    result: T,
}

#[derive(Deserialize)]
struct Collections {
    collections: Vec<CollectionName>,
}

#[derive(Deserialize)]
struct CollectionName {
    name: String,
}

#[derive(Deserialize)]
struct CollectionInfo {
    #[serde(default)]
    points_count: Option<u64>,
    #[serde(default)]
    config: serde_json::Value,
}

/// Bytes one point's vectors take as stored, from a collection's config
/// (`CollectionConfig.params.vectors`: one unnamed `VectorParams` or a map
/// of names to them; `datatype` float32 unless it says float16 or uint8).
/// Sparse vectors, payloads and indexes are not counted.
pub fn point_bytes(config: &serde_json::Value) -> u64 {
    let vectors = &config["params"]["vectors"];
    let one = |v: &serde_json::Value| {
        let width = match v["datatype"].as_str() {
            Some("uint8") => 1,
            Some("float16") => 2,
            _ => 4,
        };
        v["size"].as_u64().unwrap_or(0).saturating_mul(width)
    };
    match vectors.as_object() {
        Some(_) if vectors.get("size").is_some() => one(vectors),
        Some(named) => named.values().map(one).fold(0, u64::saturating_add),
        None => 0,
    }
}

impl QdrantHttp {
    /// Points stored across every collection, as Qdrant counts them.
    pub async fn points(&self, endpoint: &str, api_key: &str) -> Result<u64, EngineError> {
        let collections: Collections = self.get(endpoint, "/collections", api_key).await?;
        let mut points = 0;
        for collection in collections.collections {
            let path = format!("/collections/{}", collection.name);
            let info: CollectionInfo = self.get(endpoint, &path, api_key).await?;
            points += info.points_count.unwrap_or(0);
        }
        Ok(points)
    }
}

impl QdrantHttp {
    /// `GET /cluster` and every collection's `GET /collections/{c}/cluster`.
    async fn cluster(
        &self,
        endpoint: &str,
        api_key: &str,
    ) -> Result<(ClusterStatus, Vec<(String, CollectionCluster)>), EngineError> {
        let cluster: ClusterStatus = self.get(endpoint, "/cluster", api_key).await?;
        let listed: Collections = self.get(endpoint, "/collections", api_key).await?;
        let mut collections = Vec::new();
        for collection in listed.collections {
            let path = format!("/collections/{}/cluster", collection.name);
            let info: CollectionCluster = self.get(endpoint, &path, api_key).await?;
            collections.push((collection.name, info));
        }
        Ok((cluster, collections))
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        api_key: &str,
        operation: &Operation,
    ) -> Result<(), EngineError> {
        let response = request
            .header("api-key", api_key)
            .send()
            .await
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Err(EngineError::Refused {
            operation: operation.to_string(),
            message: body["status"]["error"]
                .as_str()
                .map_or_else(|| format!("HTTP {status}"), str::to_owned),
        })
    }
}

/// The layout Qdrant's answers describe.
pub fn layout_of(
    cluster: &ClusterStatus,
    collections: &[(String, CollectionCluster)],
    statefulset: &str,
) -> Layout {
    let peers = match cluster {
        ClusterStatus::Disabled => BTreeMap::new(),
        ClusterStatus::Enabled { peers, .. } => peers
            .iter()
            .filter_map(|(id, info)| {
                let uri = info["uri"].as_str().unwrap_or_default();
                Some((id.parse().ok()?, shards::ordinal(uri, statefulset)))
            })
            .collect(),
    };
    let mut replicas = Vec::new();
    let mut transfers = 0u32;
    for (name, info) in collections {
        replicas.extend(info.replicas().map(|(shard, peer, state)| Replica {
            collection: name.clone(),
            shard,
            peer,
            active: state == ACTIVE,
        }));
        transfers =
            transfers.saturating_add(u32::try_from(info.shard_transfers.len()).unwrap_or(u32::MAX));
    }
    Layout {
        peers,
        replicas,
        transfers,
        sizes: BTreeMap::new(),
    }
}

impl Engine for QdrantHttp {
    fn health<'a>(
        &'a self,
        endpoint: &'a str,
        api_key: &'a str,
    ) -> BoxFuture<'a, Result<EngineHealth, EngineError>> {
        Box::pin(async move {
            let (cluster, collections) = self.cluster(endpoint, api_key).await?;
            Ok(assess(&cluster, &collections))
        })
    }

    fn layout<'a>(
        &'a self,
        endpoint: &'a str,
        api_key: &'a str,
        statefulset: &'a str,
    ) -> BoxFuture<'a, Result<Layout, EngineError>> {
        Box::pin(async move {
            let (cluster, collections) = self.cluster(endpoint, api_key).await?;
            let mut layout = layout_of(&cluster, &collections, statefulset);
            for (name, _) in &collections {
                let path = format!("/collections/{name}");
                let info: CollectionInfo = self.get(endpoint, &path, api_key).await?;
                let size = shards::Size {
                    points: info.points_count.unwrap_or(0),
                    point_bytes: point_bytes(&info.config),
                };
                layout.sizes.insert(name.clone(), size);
            }
            Ok(layout)
        })
    }

    fn operate<'a>(
        &'a self,
        endpoint: &'a str,
        api_key: &'a str,
        operation: &'a Operation,
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        Box::pin(async move {
            let update = |collection: &str, body: serde_json::Value| {
                self.client
                    .post(format!("{endpoint}/collections/{collection}/cluster"))
                    .json(&body)
            };
            let request = match operation {
                Operation::Transfer(t) => {
                    let kind = match t.kind {
                        TransferKind::Move => "move_shard",
                        TransferKind::Replicate => "replicate_shard",
                    };
                    update(
                        &t.collection,
                        json!({ kind: { "shard_id": t.shard, "from_peer_id": t.from, "to_peer_id": t.to } }),
                    )
                }
                Operation::Drop {
                    collection,
                    shard,
                    peer,
                } => update(
                    collection,
                    json!({ "drop_replica": { "shard_id": shard, "peer_id": peer } }),
                ),
                Operation::RemovePeer { peer } => self
                    .client
                    .delete(format!("{endpoint}/cluster/peer/{peer}")),
            };
            self.send(request, api_key, operation).await
        })
    }
}

#[cfg(test)]
mod tests;
