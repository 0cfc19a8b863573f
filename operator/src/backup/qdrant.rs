//! Qdrant's snapshot API, node by node: a shard's snapshot is taken on a
//! node that holds it, and recovered onto every node that holds it anew.

use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde::Deserialize;

use super::BackupError;
use crate::engine::CollectionCluster;

/// Snapshot calls on one Qdrant node.
#[derive(Debug, Clone)]
pub struct SnapshotApi {
    client: reqwest::Client,
    api_key: String,
}

#[derive(Debug, Deserialize)]
struct Answer<T> {
    result: T,
}

#[derive(Debug, Deserialize)]
struct Collections {
    collections: Vec<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

/// `GET /collections/{c}`'s result: the part a restore needs.
#[derive(Debug, Deserialize)]
struct Info {
    config: serde_json::Value,
}

/// `POST /collections/{c}/points/count`'s result.
#[derive(Debug, Deserialize)]
struct Counted {
    count: u64,
}

impl SnapshotApi {
    pub fn new(api_key: &str) -> Result<Self, BackupError> {
        // Snapshots of large collections take minutes to make and move;
        // connecting must not.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| BackupError::Qdrant(e.to_string()))?;
        Ok(SnapshotApi {
            client,
            api_key: api_key.to_owned(),
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<T, BackupError> {
        let response = request
            .header("api-key", &self.api_key)
            .send()
            .await
            .map_err(|e| BackupError::Qdrant(format!("{what}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(BackupError::Qdrant(format!("{what}: HTTP {status}")));
        }
        let answer: Answer<T> = response
            .json()
            .await
            .map_err(|e| BackupError::Qdrant(format!("{what}: {e}")))?;
        Ok(answer.result)
    }

    pub async fn collections(&self, node: &str) -> Result<Vec<String>, BackupError> {
        let found: Collections = self
            .json(
                self.client.get(format!("{node}/collections")),
                "listing collections",
            )
            .await?;
        Ok(found.collections.into_iter().map(|c| c.name).collect())
    }

    /// Where `collection`'s shards are, as the node sees them.
    pub async fn cluster(
        &self,
        node: &str,
        collection: &str,
    ) -> Result<CollectionCluster, BackupError> {
        self.json(
            self.client
                .get(format!("{node}/collections/{collection}/cluster")),
            &format!("reading where {collection}'s shards are"),
        )
        .await
    }

    /// The collection's configuration (Qdrant's `CollectionConfig`).
    pub async fn config(
        &self,
        node: &str,
        collection: &str,
    ) -> Result<serde_json::Value, BackupError> {
        let info: Info = self
            .json(
                self.client.get(format!("{node}/collections/{collection}")),
                &format!("reading {collection}'s configuration"),
            )
            .await?;
        Ok(info.config)
    }

    /// Creates `collection` across the cluster; Qdrant places its shards.
    pub async fn create_collection(
        &self,
        node: &str,
        collection: &str,
        body: &serde_json::Value,
    ) -> Result<(), BackupError> {
        let _: bool = self
            .json(
                self.client
                    .put(format!("{node}/collections/{collection}"))
                    .json(body),
                &format!("creating {collection}"),
            )
            .await?;
        Ok(())
    }

    /// The exact number of points in `collection`, across the cluster.
    pub async fn count(&self, node: &str, collection: &str) -> Result<u64, BackupError> {
        let counted: Counted = self
            .json(
                self.client
                    .post(format!("{node}/collections/{collection}/points/count"))
                    .json(&serde_json::json!({ "exact": true })),
                &format!("counting {collection}'s points"),
            )
            .await?;
        Ok(counted.count)
    }

    /// A snapshot of one shard the node holds, streamed as Qdrant makes it
    /// (`GET /collections/{c}/shards/{s}/snapshot`: nothing is kept on the
    /// node's disk).
    pub async fn download_shard(
        &self,
        node: &str,
        collection: &str,
        shard: u32,
    ) -> Result<impl Stream<Item = reqwest::Result<Bytes>> + use<>, BackupError> {
        let what = format!("snapshotting {collection}/{shard}");
        let response = self
            .client
            .get(format!(
                "{node}/collections/{collection}/shards/{shard}/snapshot"
            ))
            .header("api-key", &self.api_key)
            .send()
            .await
            .map_err(|e| BackupError::Qdrant(format!("{what}: {e}")))?;
        if !response.status().is_success() {
            return Err(BackupError::Qdrant(format!(
                "{what}: HTTP {}",
                response.status()
            )));
        }
        Ok(response.bytes_stream())
    }

    /// Recovers one shard replica on the node from a snapshot file. With
    /// `no_sync` Qdrant activates this replica and leaves the others be
    /// (`snapshot` would mark them dead: src/common/snapshots.rs
    /// `recover_shard_snapshot_impl`); every replica of a new collection
    /// gets the same bytes, so they agree without a sync.
    pub async fn recover_shard(
        &self,
        node: &str,
        collection: &str,
        shard: u32,
        file: &std::path::Path,
    ) -> Result<(), BackupError> {
        // Streamed from disk: a snapshot may be larger than memory.
        let opened = tokio::fs::File::open(file)
            .await
            .map_err(|e| BackupError::Io(e.to_string()))?;
        let length = opened
            .metadata()
            .await
            .map_err(|e| BackupError::Io(e.to_string()))?
            .len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(opened));
        let part = reqwest::multipart::Part::stream_with_length(body, length)
            .file_name(format!("{collection}-{shard}.snapshot"));
        let form = reqwest::multipart::Form::new().part("snapshot", part);
        let _: bool = self
            .json(
                self.client
                    .post(format!(
                        "{node}/collections/{collection}/shards/{shard}/snapshots/upload?priority=no_sync&wait=true"
                    ))
                    .multipart(form),
                &format!("recovering {collection}/{shard}"),
            )
            .await?;
        Ok(())
    }
}
