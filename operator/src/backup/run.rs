//! Taking a backup and restoring one: the program the backup and restore
//! Jobs run.

use chrono::Utc;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::BackupError;
use std::collections::{BTreeMap, BTreeSet};

use super::manifest::{self, Collection, FORMAT, Manifest, Recovery, Snapshot};
use super::qdrant::SnapshotApi;
use super::store::{Store, hex};
use crate::engine::ACTIVE;

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

/// Snapshots every shard of every collection once, from a node holding an
/// active replica of it, into `<prefix>/<backup>/`, then writes the
/// manifest with each collection's configuration and point count. A
/// snapshot whose upload fails is made and sent again, up to [`ATTEMPTS`]
/// times; if one never makes it, or a shard has no active replica, the
/// backup fails without a manifest, so it can never be mistaken for a good
/// one.
pub async fn take(
    api: &SnapshotApi,
    store: &Store,
    prefix: &str,
    backup: &str,
    source: &Source<'_>,
) -> Result<Manifest, BackupError> {
    let started_at = Utc::now();
    let mut snapshots = Vec::new();
    let mut configs = BTreeMap::new();
    // Every shard some node reports, and the ones snapshotted.
    let mut seen: BTreeSet<(String, u32)> = BTreeSet::new();
    let mut taken: BTreeSet<(String, u32)> = BTreeSet::new();
    for (ordinal, node) in source.nodes.iter().enumerate() {
        let ordinal = u32::try_from(ordinal).unwrap_or(u32::MAX);
        for collection in api.collections(node).await? {
            if !configs.contains_key(&collection) {
                configs.insert(collection.clone(), api.config(node, &collection).await?);
            }
            let cluster = api.cluster(node, &collection).await?;
            seen.extend(
                cluster
                    .replicas()
                    .map(|(shard, _, _)| (collection.clone(), shard)),
            );
            for local in cluster.local_shards.iter().filter(|s| s.state == ACTIVE) {
                let shard = local.shard_id;
                if !taken.insert((collection.clone(), shard)) {
                    continue;
                }
                let key = manifest::snapshot_key(prefix, backup, &collection, shard);
                let mut attempt = 1;
                let stored = loop {
                    let sent = async {
                        let bytes = api.download_shard(node, &collection, shard).await?;
                        store.upload(&key, Box::pin(bytes)).await
                    };
                    match sent.await {
                        Ok(stored) => break stored,
                        Err(err) if attempt < ATTEMPTS => {
                            tracing::warn!(%collection, shard, node = ordinal, attempt, error = %err, "snapshot upload failed; trying again");
                            attempt += 1;
                        }
                        Err(err) => return Err(err),
                    }
                };
                tracing::info!(%collection, shard, node = ordinal, bytes = stored.size, "snapshot stored");
                snapshots.push(Snapshot {
                    collection: collection.clone(),
                    shard,
                    node: ordinal,
                    key,
                    size: stored.size,
                    sha256: stored.sha256,
                });
            }
        }
    }
    if let Some((collection, shard)) = seen.difference(&taken).next() {
        return Err(BackupError::Qdrant(format!(
            "shard {shard} of {collection} has no active replica to snapshot"
        )));
    }
    // Counted after the last snapshot: what a restore must bring back
    // (writes during a backup make the two differ, and the restore says so).
    let mut collections = BTreeMap::new();
    if let Some(first) = source.nodes.first() {
        for (name, config) in configs {
            let points = api.count(first, &name).await?;
            collections.insert(name, Collection { config, points });
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        cluster: source.cluster.to_owned(),
        version: source.version.to_owned(),
        started_at,
        finished_at: Utc::now(),
        collections,
        snapshots,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Io(e.to_string()))?;
    store
        .put(&manifest::manifest_key(prefix, backup), json)
        .await?;
    Ok(manifest)
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
    let unreadable = |reason: String| BackupError::Manifest {
        backup: backup.to_owned(),
        reason,
    };
    // The format first: an older manifest has another shape.
    #[derive(serde::Deserialize)]
    struct Format {
        format: u32,
    }
    let Format { format } = serde_json::from_slice(&json).map_err(|e| unreadable(e.to_string()))?;
    if format != FORMAT {
        return Err(unreadable(format!(
            "it is in format {format}, and this operator restores format {FORMAT} (one snapshot \
             per shard) only"
        )));
    }
    let manifest: Manifest =
        serde_json::from_slice(&json).map_err(|e| unreadable(e.to_string()))?;
    Ok(manifest)
}

/// Restores a backup into the cluster whose nodes are `target`, of any
/// size: each collection is created from its backed-up configuration,
/// Qdrant places its shards, and each shard's snapshot is recovered onto
/// every node that holds a replica of it. Every snapshot is downloaded
/// into `workdir` and checked against the manifest's size and SHA-256
/// before any is loaded, so a damaged backup changes nothing. Run again
/// after a failure, it carries on: a collection that exists is not made
/// again, and a recovered shard is recovered once more from the same bytes.
pub async fn restore(
    api: &SnapshotApi,
    store: &Store,
    prefix: &str,
    backup: &str,
    target: &[String],
    workdir: &std::path::Path,
) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(store, prefix, backup).await?;
    let Some(first) = target.first() else {
        return Err(BackupError::Io("the target cluster has no nodes".into()));
    };
    let mut files = Vec::with_capacity(manifest.snapshots.len());
    for (i, snapshot) in manifest.snapshots.iter().enumerate() {
        let file = workdir.join(format!("{i}.snapshot"));
        verified_download(store, snapshot, &file).await?;
        files.push(file);
    }
    let existing = api.collections(first).await?;
    for (name, collection) in &manifest.collections {
        if !existing.contains(name) {
            api.create_collection(first, name, &manifest::create_body(&collection.config))
                .await?;
        }
        let mut holders: BTreeMap<u32, BTreeSet<usize>> = BTreeMap::new();
        for (i, node) in target.iter().enumerate() {
            for local in api.cluster(node, name).await?.local_shards {
                holders.entry(local.shard_id).or_default().insert(i);
            }
        }
        let plan = manifest::recoveries(&manifest, name, &holders).map_err(|reason| {
            BackupError::Unproven {
                collection: name.clone(),
                reason,
            }
        })?;
        for Recovery { node, snapshot } in plan {
            let shard = manifest.snapshots[snapshot].shard;
            api.recover_shard(&target[node], name, shard, &files[snapshot])
                .await?;
            tracing::info!(collection = %name, shard, node, "shard recovered");
        }
    }
    for file in &files {
        let _ = tokio::fs::remove_file(file).await;
    }
    prove(api, &manifest, target).await?;
    Ok(manifest)
}

/// Checks that the restored cluster holds what the backup does: every
/// replica active, and the point count recorded at backup time.
async fn prove(
    api: &SnapshotApi,
    manifest: &Manifest,
    target: &[String],
) -> Result<(), BackupError> {
    for (name, collection) in &manifest.collections {
        for (i, node) in target.iter().enumerate() {
            if let Some(local) = api
                .cluster(node, name)
                .await?
                .local_shards
                .into_iter()
                .find(|s| s.state != ACTIVE)
            {
                return Err(BackupError::Unproven {
                    collection: name.clone(),
                    reason: format!(
                        "shard {} on node {i} is {}, not Active",
                        local.shard_id, local.state
                    ),
                });
            }
        }
        if let Some(node) = target.first() {
            let restored = api.count(node, name).await?;
            if restored != collection.points {
                return Err(BackupError::Unproven {
                    collection: name.clone(),
                    reason: format!(
                        "{restored} points, where the backup recorded {}",
                        collection.points
                    ),
                });
            }
        }
        tracing::info!(collection = %name, "restore proven: every replica active, points counted");
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
