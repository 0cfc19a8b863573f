//! What Qdrant itself says about a cluster, read through its HTTP API: the
//! rollout gate's second half, after Kubernetes readiness.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

/// The cluster as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineHealth {
    /// Peers in the consensus (1 for a single node).
    pub peers: u32,
    /// Shard transfers in progress across all collections.
    pub pending_transfers: u32,
}

impl EngineHealth {
    /// `Err` with the reason when the cluster should not lose another node yet.
    pub fn ready_for_next_node(&self, expected_peers: u32) -> Result<(), String> {
        if self.peers < expected_peers {
            return Err(format!(
                "Qdrant sees {} of {expected_peers} peers",
                self.peers
            ));
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

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("Qdrant did not answer: {0}")]
    Unreachable(String),
    #[error("Qdrant answered {status} to {path}")]
    Status { path: String, status: u16 },
}

/// Reads a cluster's health; a trait so that tests can stand in for Qdrant.
pub trait Engine: Send + Sync {
    fn health<'a>(
        &'a self,
        endpoint: &'a str,
        api_key: &'a str,
    ) -> BoxFuture<'a, Result<EngineHealth, EngineError>>;
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
struct ClusterInfo {
    status: String,
    #[serde(default)]
    peers: std::collections::BTreeMap<String, serde_json::Value>,
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
}

#[derive(Deserialize)]
struct CollectionCluster {
    #[serde(default)]
    shard_transfers: Vec<serde_json::Value>,
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

impl Engine for QdrantHttp {
    fn health<'a>(
        &'a self,
        endpoint: &'a str,
        api_key: &'a str,
    ) -> BoxFuture<'a, Result<EngineHealth, EngineError>> {
        Box::pin(async move {
            let cluster: ClusterInfo = self.get(endpoint, "/cluster", api_key).await?;
            let peers = if cluster.status == "enabled" {
                u32::try_from(cluster.peers.len()).unwrap_or(u32::MAX)
            } else {
                1
            };
            let collections: Collections = self.get(endpoint, "/collections", api_key).await?;
            let mut pending_transfers = 0u32;
            for collection in collections.collections {
                let path = format!("/collections/{}/cluster", collection.name);
                let info: CollectionCluster = self.get(endpoint, &path, api_key).await?;
                pending_transfers += u32::try_from(info.shard_transfers.len()).unwrap_or(u32::MAX);
            }
            Ok(EngineHealth {
                peers,
                pending_transfers,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_wants_every_peer_and_no_transfers() {
        let healthy = EngineHealth {
            peers: 3,
            pending_transfers: 0,
        };
        assert_eq!(healthy.ready_for_next_node(3), Ok(()));
        let missing = EngineHealth {
            peers: 2,
            pending_transfers: 0,
        };
        assert_eq!(
            missing.ready_for_next_node(3),
            Err("Qdrant sees 2 of 3 peers".to_owned())
        );
        let moving = EngineHealth {
            peers: 3,
            pending_transfers: 2,
        };
        assert_eq!(
            moving.ready_for_next_node(3),
            Err("Qdrant is moving 2 shards".to_owned())
        );
    }
}

/// Reads a counter from an engine's Prometheus endpoint (`/metrics`): the
/// finished-request total, for idle detection.
pub trait RequestCounter: Send + Sync {
    fn requests<'a>(
        &'a self,
        base_url: &'a str,
        metric: &'static str,
    ) -> BoxFuture<'a, Result<u64, EngineError>>;
}

/// The sum of every sample of `metric` in a Prometheus text exposition.
pub fn sum_counter(exposition: &str, metric: &str) -> u64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            let bare = name.split('{').next()?;
            (bare == metric)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .map(|v| v.max(0.0) as u64)
        .sum()
}

impl RequestCounter for QdrantHttp {
    fn requests<'a>(
        &'a self,
        base_url: &'a str,
        metric: &'static str,
    ) -> BoxFuture<'a, Result<u64, EngineError>> {
        Box::pin(async move {
            let response = self
                .client
                .get(format!("{base_url}/metrics"))
                .send()
                .await
                .map_err(|e| EngineError::Unreachable(e.to_string()))?;
            if !response.status().is_success() {
                return Err(EngineError::Status {
                    path: "/metrics".into(),
                    status: response.status().as_u16(),
                });
            }
            let text = response
                .text()
                .await
                .map_err(|e| EngineError::Unreachable(e.to_string()))?;
            Ok(sum_counter(&text, metric))
        })
    }
}

#[cfg(test)]
mod counter_tests {
    use super::*;

    #[test]
    fn counters_are_summed_over_their_labels() {
        let text = "# HELP vllm:request_success_total done\n\
                    vllm:request_success_total{finished_reason=\"stop\"} 12.0\n\
                    vllm:request_success_total{finished_reason=\"length\"} 3\n\
                    vllm:request_success_total_created 1.7e9\n\
                    other 99\n";
        assert_eq!(sum_counter(text, "vllm:request_success_total"), 15);
        assert_eq!(sum_counter(text, "missing"), 0);
    }
}
