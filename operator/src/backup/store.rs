//! The backup destination: an S3-compatible bucket, through `object_store`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, RetryConfig, WriteMultipart};
use sha2::{Digest, Sha256};

use super::BackupError;

/// Parts of a multipart upload.
const PART_SIZE: usize = 8 * 1024 * 1024;

/// Where backups go, as the cluster's spec and its credentials Secret say.
#[derive(Debug, Clone)]
pub struct Destination {
    pub bucket: String,
    /// `https://s3.eu-west-1.amazonaws.com`, or any S3-compatible server.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
}

/// What an upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub sha256: String,
}

fn store_error(e: impl std::fmt::Display) -> BackupError {
    BackupError::Store(e.to_string())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    pub fn s3(destination: &Destination) -> Result<Self, BackupError> {
        let store = AmazonS3Builder::new()
            .with_bucket_name(&destination.bucket)
            .with_endpoint(&destination.endpoint)
            .with_region(&destination.region)
            .with_access_key_id(&destination.access_key_id)
            .with_secret_access_key(&destination.secret_access_key)
            .with_allow_http(destination.endpoint.starts_with("http://"))
            // Most S3-compatible servers know only path-style addressing.
            .with_virtual_hosted_style_request(false)
            .with_retry(RetryConfig {
                max_retries: 5,
                retry_timeout: Duration::from_secs(120),
                ..RetryConfig::default()
            })
            .build()
            .map_err(store_error)?;
        Ok(Store {
            inner: Arc::new(store),
        })
    }

    /// Streams `bytes` to `key` as a multipart upload, hashing as it goes.
    /// On any failure the upload is aborted: no partial object is left
    /// under the key.
    pub async fn upload<S, E>(&self, key: &str, bytes: S) -> Result<Stored, BackupError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let upload = self
            .inner
            .put_multipart(&Path::from(key))
            .await
            .map_err(store_error)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut bytes = bytes;
        let outcome: Result<(), BackupError> = async {
            while let Some(chunk) = bytes.next().await {
                let chunk =
                    chunk.map_err(|e| BackupError::Qdrant(format!("reading the snapshot: {e}")))?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                writer.wait_for_capacity(4).await.map_err(store_error)?;
                writer.write(&chunk);
            }
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => {
                writer.finish().await.map_err(store_error)?;
                Ok(Stored {
                    size,
                    sha256: hex(&hasher.finalize()),
                })
            }
            Err(err) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(key, error = %abort, "aborting a failed upload failed");
                }
                Err(err)
            }
        }
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackupError> {
        self.inner
            .put(&Path::from(key), PutPayload::from(bytes))
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// The object's bytes as they arrive; `None` if there is no such object.
    pub async fn get(
        &self,
        key: &str,
    ) -> Result<Option<impl Stream<Item = Result<Bytes, BackupError>> + use<>>, BackupError> {
        match self.inner.get(&Path::from(key)).await {
            Ok(found) => Ok(Some(found.into_stream().map_err(store_error))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Deletes every object under `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, BackupError> {
        let keys: Vec<Path> = self
            .inner
            .list(Some(&Path::from(prefix)))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(store_error)?;
        for key in &keys {
            self.inner.delete(key).await.map_err(store_error)?;
        }
        Ok(keys.len())
    }
}
