//! Taking a backup and restoring one: the program the backup and restore
//! Jobs run.

use chrono::Utc;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::BackupError;
use super::manifest::{self, FORMAT, Manifest, Snapshot};
use super::qdrant::SnapshotApi;
use super::store::{Store, hex};

/// The cluster being backed up.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// `namespace/name`.
    pub cluster: &'a str,
    pub version: &'a str,
    /// Each node's API base URL, by ordinal.
    pub nodes: &'a [String],
}

/// How often one snapshot is tried before the backup fails.
pub const ATTEMPTS: u32 = 3;

/// Snapshots every collection on every node into `<prefix>/<backup>/`, then
/// writes the manifest. A snapshot whose upload fails is made and sent
/// again, up to [`ATTEMPTS`] times; if one never makes it, the backup fails
/// without a manifest, so it can never be mistaken for a good one.
pub async fn take(
    api: &SnapshotApi,
    store: &Store,
    prefix: &str,
    backup: &str,
    source: &Source<'_>,
) -> Result<Manifest, BackupError> {
    let started_at = Utc::now();
    let mut snapshots = Vec::new();
    for (ordinal, node) in source.nodes.iter().enumerate() {
        let ordinal = u32::try_from(ordinal).unwrap_or(u32::MAX);
        for collection in api.collections(node).await? {
            let key = manifest::snapshot_key(prefix, backup, ordinal, &collection);
            let shards = api.local_shards(node, &collection).await?;
            let mut attempt = 1;
            let stored = loop {
                match snapshot_once(api, store, node, &collection, &key).await {
                    Ok(stored) => break stored,
                    Err(err) if attempt < ATTEMPTS => {
                        tracing::warn!(%collection, node = ordinal, attempt, error = %err, "snapshot upload failed; trying again");
                        attempt += 1;
                    }
                    Err(err) => return Err(err),
                }
            };
            tracing::info!(%collection, node = ordinal, bytes = stored.size, "snapshot stored");
            snapshots.push(Snapshot {
                node: ordinal,
                collection,
                key,
                size: stored.size,
                sha256: stored.sha256,
                shards,
            });
        }
    }
    let mut manifest = Manifest {
        format: FORMAT,
        cluster: source.cluster.to_owned(),
        version: source.version.to_owned(),
        started_at,
        finished_at: Utc::now(),
        snapshots,
        points: Default::default(),
    };
    // Counted after the last snapshot: what a restore must bring back
    // (writes during a backup make the two differ, and the restore says so).
    if let Some(first) = source.nodes.first() {
        for collection in manifest
            .collections()
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
        {
            let count = api.count(first, &collection).await?;
            manifest.points.insert(collection, count);
        }
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Io(e.to_string()))?;
    store
        .put(&manifest::manifest_key(prefix, backup), json)
        .await?;
    Ok(manifest)
}

async fn snapshot_once(
    api: &SnapshotApi,
    store: &Store,
    node: &str,
    collection: &str,
    key: &str,
) -> Result<super::store::Stored, BackupError> {
    let name = api.create(node, collection).await?;
    let bytes = Box::pin(api.download(node, collection, &name).await?);
    let stored = store.upload(key, bytes).await?;
    // Stored safely: the node's copy only takes its disk.
    if let Err(err) = api.delete(node, collection, &name).await {
        tracing::warn!(%collection, error = %err, "could not remove the snapshot from the node");
    }
    Ok(stored)
}

/// Reads a backup's manifest; a backup without one never completed.
pub async fn read_manifest(
    store: &Store,
    prefix: &str,
    backup: &str,
) -> Result<Manifest, BackupError> {
    let Some(mut stream) = store.get(&manifest::manifest_key(prefix, backup)).await? else {
        return Err(BackupError::Incomplete(backup.to_owned()));
    };
    let mut json = Vec::new();
    while let Some(chunk) = stream.next().await {
        json.extend_from_slice(&chunk?);
    }
    let manifest: Manifest = serde_json::from_slice(&json).map_err(|e| BackupError::Manifest {
        backup: backup.to_owned(),
        reason: e.to_string(),
    })?;
    if manifest.format != FORMAT {
        return Err(BackupError::Manifest {
            backup: backup.to_owned(),
            reason: format!("format {} is not {FORMAT}", manifest.format),
        });
    }
    Ok(manifest)
}

/// Restores a backup into the cluster whose nodes are `target` (node *n*'s
/// snapshots onto node *n*). Every snapshot is downloaded into `workdir`
/// and checked against the manifest's size and SHA-256 before any is
/// loaded, so a damaged backup changes nothing.
pub async fn restore(
    api: &SnapshotApi,
    store: &Store,
    prefix: &str,
    backup: &str,
    target: &[String],
    workdir: &std::path::Path,
) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(store, prefix, backup).await?;
    let nodes = manifest
        .snapshots
        .iter()
        .map(|s| s.node + 1)
        .max()
        .unwrap_or(0);
    if usize::try_from(nodes).unwrap_or(usize::MAX) > target.len() {
        return Err(BackupError::NodeCount {
            backup: nodes,
            target: target.len(),
        });
    }
    let mut files = Vec::with_capacity(manifest.snapshots.len());
    for (i, snapshot) in manifest.snapshots.iter().enumerate() {
        let file = workdir.join(format!("{i}.snapshot"));
        verified_download(store, snapshot, &file).await?;
        files.push(file);
    }
    for (snapshot, file) in manifest.snapshots.iter().zip(&files) {
        let node = &target[usize::try_from(snapshot.node).unwrap_or(usize::MAX)];
        api.recover(node, &snapshot.collection, file).await?;
        tracing::info!(collection = %snapshot.collection, node = snapshot.node, "collection recovered");
        let _ = tokio::fs::remove_file(file).await;
    }
    prove(api, &manifest, target).await?;
    Ok(manifest)
}

/// Checks that the restored cluster holds what the backup does: every shard
/// of every collection on some node (Qdrant skips a shard that a node's
/// snapshot lacks, and still answers success), and the point count recorded
/// at backup time.
async fn prove(
    api: &SnapshotApi,
    manifest: &Manifest,
    target: &[String],
) -> Result<(), BackupError> {
    for collection in manifest.collections() {
        let mut held = std::collections::BTreeSet::new();
        for node in target {
            held.extend(api.local_shards(node, collection).await?);
        }
        let missing: Vec<String> = manifest
            .shards(collection)
            .difference(&held)
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(BackupError::Unproven {
                collection: collection.to_owned(),
                reason: format!(
                    "shard{} {} of the backup {} on no node of the new cluster (its shards are placed \
                     differently from the backed-up cluster's)",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", "),
                    if missing.len() == 1 { "is" } else { "are" }
                ),
            });
        }
        if let (Some(expected), Some(node)) = (manifest.points.get(collection), target.first()) {
            let restored = api.count(node, collection).await?;
            if restored != *expected {
                return Err(BackupError::Unproven {
                    collection: collection.to_owned(),
                    reason: format!("{restored} points, where the backup recorded {expected}"),
                });
            }
        }
        tracing::info!(%collection, "restore proven: every shard present, points counted");
    }
    Ok(())
}

async fn verified_download(
    store: &Store,
    snapshot: &Snapshot,
    file: &std::path::Path,
) -> Result<(), BackupError> {
    let io = |e: std::io::Error| BackupError::Io(format!("{}: {e}", file.display()));
    let mut stream = store
        .get(&snapshot.key)
        .await?
        .ok_or_else(|| BackupError::Store(format!("{} is missing", snapshot.key)))?;
    let mut out = tokio::fs::File::create(file).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    let actual = hex(&hasher.finalize());
    if actual != snapshot.sha256 || size != snapshot.size {
        return Err(BackupError::Checksum {
            key: snapshot.key.clone(),
            expected: snapshot.sha256.clone(),
            expected_size: snapshot.size,
            actual,
            actual_size: size,
        });
    }
    Ok(())
}
