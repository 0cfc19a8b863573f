//! Qdrant's snapshot API, node by node: a distributed collection's
//! snapshot on a node holds that node's shards.

use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde::Deserialize;

use super::BackupError;

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

/// The part of `GET /collections/{c}/cluster` a backup needs.
#[derive(Debug, Deserialize)]
struct ClusterInfo {
    local_shards: Vec<LocalShard>,
}

#[derive(Debug, Deserialize)]
struct LocalShard {
    shard_id: u32,
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

    /// The shards of `collection` the node holds itself.
    pub async fn local_shards(
        &self,
        node: &str,
        collection: &str,
    ) -> Result<Vec<u32>, BackupError> {
        let info: ClusterInfo = self
            .json(
                self.client
                    .get(format!("{node}/collections/{collection}/cluster")),
                &format!("reading where {collection}'s shards are"),
            )
            .await?;
        Ok(info.local_shards.into_iter().map(|s| s.shard_id).collect())
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

    /// Makes a snapshot of the node's part of `collection`; its name.
    pub async fn create(&self, node: &str, collection: &str) -> Result<String, BackupError> {
        let created: Named = self
            .json(
                self.client.post(format!(
                    "{node}/collections/{collection}/snapshots?wait=true"
                )),
                &format!("snapshotting {collection}"),
            )
            .await?;
        Ok(created.name)
    }

    /// The snapshot's bytes, as they arrive.
    pub async fn download(
        &self,
        node: &str,
        collection: &str,
        snapshot: &str,
    ) -> Result<impl Stream<Item = reqwest::Result<Bytes>> + use<>, BackupError> {
        let response = self
            .client
            .get(format!(
                "{node}/collections/{collection}/snapshots/{snapshot}"
            ))
            .header("api-key", &self.api_key)
            .send()
            .await
            .map_err(|e| BackupError::Qdrant(format!("downloading {snapshot}: {e}")))?;
        if !response.status().is_success() {
            return Err(BackupError::Qdrant(format!(
                "downloading {snapshot}: HTTP {}",
                response.status()
            )));
        }
        Ok(response.bytes_stream())
    }

    /// Removes the snapshot from the node once it is safe elsewhere.
    pub async fn delete(
        &self,
        node: &str,
        collection: &str,
        snapshot: &str,
    ) -> Result<(), BackupError> {
        let _: bool = self
            .json(
                self.client.delete(format!(
                    "{node}/collections/{collection}/snapshots/{snapshot}?wait=true"
                )),
                &format!("deleting {snapshot}"),
            )
            .await?;
        Ok(())
    }

    /// Recovers `collection` on the node from a snapshot file's bytes; the
    /// snapshot's data wins over whatever the node had.
    pub async fn recover(
        &self,
        node: &str,
        collection: &str,
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
            .file_name(format!("{collection}.snapshot"));
        let form = reqwest::multipart::Form::new().part("snapshot", part);
        let _: bool = self
            .json(
                self.client
                    .post(format!(
                        "{node}/collections/{collection}/snapshots/upload?priority=snapshot&wait=true"
                    ))
                    .multipart(form),
                &format!("recovering {collection}"),
            )
            .await?;
        Ok(())
    }
}
