//! A backup's manifest: what it holds and how to check it. Written last, so
//! a backup without one never completed and is never restored from.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The manifest format this operator writes and reads. Format 1 held one
/// collection snapshot per node, which restores only into the same shard
/// placement; format 2 holds one snapshot per shard.
pub const FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: u32,
    /// `namespace/name` of the cluster backed up.
    pub cluster: String,
    /// The Qdrant version that made the snapshots.
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Each collection's configuration and point count.
    pub collections: BTreeMap<String, Collection>,
    /// One per shard of each collection, from a node holding it active.
    pub snapshots: Vec<Snapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection {
    /// Qdrant's `CollectionConfig` as `GET /collections/{c}` served it: a
    /// restore creates the collection from it before recovering shards.
    pub config: serde_json::Value,
    /// The exact point count once every snapshot was taken, which a
    /// restore must reach.
    pub points: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub collection: String,
    pub shard: u32,
    /// The ordinal of the node it was taken from.
    pub node: u32,
    /// Where it is, relative to the destination's bucket.
    pub key: String,
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
}

impl Manifest {
    /// The collections in the backup, in order.
    pub fn collections(&self) -> Vec<&str> {
        self.collections.keys().map(String::as_str).collect()
    }

    /// Every shard of `collection` the backup holds.
    pub fn shards(&self, collection: &str) -> BTreeSet<u32> {
        self.snapshots
            .iter()
            .filter(|s| s.collection == collection)
            .map(|s| s.shard)
            .collect()
    }

    /// Bytes stored in all.
    pub fn size(&self) -> u64 {
        self.snapshots.iter().map(|s| s.size).sum()
    }
}

/// One shard snapshot to load onto one node of the new cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The index of the target node.
    pub node: usize,
    /// The index of the snapshot in the manifest.
    pub snapshot: usize,
}

/// Where each of `collection`'s shard snapshots goes, given where the new
/// cluster placed its shards (`holders`: shard → target nodes holding a
/// replica). Every replica gets the snapshot, so that they agree; a shard
/// of the backup that no node holds, or a shard of the new cluster that the
/// backup lacks, is refused before anything is loaded.
pub fn recoveries(
    manifest: &Manifest,
    collection: &str,
    holders: &BTreeMap<u32, BTreeSet<usize>>,
) -> Result<Vec<Recovery>, String> {
    let backed_up = manifest.shards(collection);
    let placed: BTreeSet<u32> = holders.keys().copied().collect();
    let list = |shards: BTreeSet<&u32>| {
        shards
            .into_iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let homeless: BTreeSet<&u32> = backed_up.difference(&placed).collect();
    if !homeless.is_empty() {
        return Err(format!(
            "shard(s) {} of the backup are on no node of the new cluster",
            list(homeless)
        ));
    }
    let empty: BTreeSet<&u32> = placed.difference(&backed_up).collect();
    if !empty.is_empty() {
        return Err(format!(
            "the new cluster has shard(s) {} that the backup does not",
            list(empty)
        ));
    }
    Ok(manifest
        .snapshots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.collection == collection)
        .flat_map(|(snapshot, s)| {
            holders[&s.shard].iter().map(move |node| Recovery {
                node: *node,
                snapshot,
            })
        })
        .collect())
}

/// The body of `PUT /collections/{c}` (Qdrant's `CreateCollection`) that
/// recreates a collection from its `CollectionConfig`: the parameters
/// move to the top level and `optimizer_config` is spelled
/// `optimizers_config` there. `read_fan_out_*` cannot be set at creation.
pub fn create_body(config: &serde_json::Value) -> serde_json::Value {
    const PARAMS: [&str; 8] = [
        "vectors",
        "shard_number",
        "sharding_method",
        "replication_factor",
        "write_consistency_factor",
        "on_disk_payload",
        "payload",
        "sparse_vectors",
    ];
    const SAME: [&str; 5] = [
        "hnsw_config",
        "wal_config",
        "quantization_config",
        "strict_mode_config",
        "metadata",
    ];
    let mut body = serde_json::Map::new();
    let mut take = |from: &serde_json::Value, key: &str, to: &str| {
        if let Some(value) = from.get(key).filter(|v| !v.is_null()) {
            body.insert(to.to_owned(), value.clone());
        }
    };
    let params = &config["params"];
    for key in PARAMS {
        take(params, key, key);
    }
    for key in SAME {
        take(config, key, key);
    }
    take(config, "optimizer_config", "optimizers_config");
    serde_json::Value::Object(body)
}

/// Where a backup's objects go: `<prefix>/<backup>/…`.
pub fn backup_prefix(prefix: &str, backup: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        backup.to_owned()
    } else {
        format!("{prefix}/{backup}")
    }
}

pub fn manifest_key(prefix: &str, backup: &str) -> String {
    format!("{}/manifest.json", backup_prefix(prefix, backup))
}

pub fn snapshot_key(prefix: &str, backup: &str, collection: &str, shard: u32) -> String {
    format!(
        "{}/{collection}/shard-{shard}.snapshot",
        backup_prefix(prefix, backup)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(shards: &[(&str, u32)]) -> Manifest {
        let snapshots: Vec<Snapshot> = shards
            .iter()
            .enumerate()
            .map(|(i, (c, s))| Snapshot {
                collection: (*c).to_owned(),
                shard: *s,
                node: 0,
                key: format!("k{i}"),
                size: 10,
                sha256: "00".into(),
            })
            .collect();
        let collections = snapshots
            .iter()
            .map(|s| {
                (
                    s.collection.clone(),
                    Collection {
                        config: json!({}),
                        points: 12,
                    },
                )
            })
            .collect();
        Manifest {
            format: FORMAT,
            cluster: "org-1/search".into(),
            version: "1.13.6".into(),
            started_at: "2026-11-25T02:00:00Z".parse().unwrap(),
            finished_at: "2026-11-25T02:01:00Z".parse().unwrap(),
            collections,
            snapshots,
        }
    }

    #[test]
    fn keys_nest_under_the_prefix_and_backup() {
        assert_eq!(
            manifest_key("/tenants/acme/", "search-20261125"),
            "tenants/acme/search-20261125/manifest.json"
        );
        assert_eq!(manifest_key("", "b1"), "b1/manifest.json");
        assert_eq!(
            snapshot_key("p", "b1", "docs", 2),
            "p/b1/docs/shard-2.snapshot"
        );
    }

    #[test]
    fn the_manifest_round_trips_and_lists_each_collection_once() {
        let manifest = manifest(&[("docs", 0), ("images", 0), ("docs", 1)]);
        let json = serde_json::to_string(&manifest).unwrap();
        assert!(json.contains("\"finishedAt\""));
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), manifest);
        assert_eq!(manifest.collections(), ["docs", "images"]);
        assert_eq!(manifest.shards("docs"), BTreeSet::from([0, 1]));
        assert_eq!(manifest.size(), 30);
    }

    #[test]
    fn every_replica_of_a_shard_gets_its_snapshot_wherever_the_new_cluster_put_it() {
        let m = manifest(&[("docs", 0), ("docs", 1), ("images", 0)]);
        let holders = BTreeMap::from([(0, BTreeSet::from([1])), (1, BTreeSet::from([0, 2]))]);
        assert_eq!(
            recoveries(&m, "docs", &holders).unwrap(),
            [
                Recovery {
                    node: 1,
                    snapshot: 0
                },
                Recovery {
                    node: 0,
                    snapshot: 1
                },
                Recovery {
                    node: 2,
                    snapshot: 1
                },
            ]
        );
    }

    #[test]
    fn a_shard_without_a_home_or_without_a_snapshot_is_refused() {
        let m = manifest(&[("docs", 0), ("docs", 1)]);
        let only_zero = BTreeMap::from([(0, BTreeSet::from([0]))]);
        assert_eq!(
            recoveries(&m, "docs", &only_zero).unwrap_err(),
            "shard(s) 1 of the backup are on no node of the new cluster"
        );
        let three = BTreeMap::from([
            (0, BTreeSet::from([0])),
            (1, BTreeSet::from([0])),
            (2, BTreeSet::from([0])),
        ]);
        assert_eq!(
            recoveries(&m, "docs", &three).unwrap_err(),
            "the new cluster has shard(s) 2 that the backup does not"
        );
    }

    #[test]
    fn a_collection_is_created_from_its_served_config() {
        let config = json!({
            "params": {
                "vectors": { "size": 4, "distance": "Cosine" },
                "shard_number": 3,
                "replication_factor": 2,
                "write_consistency_factor": 1,
                "read_fan_out_factor": null,
                "on_disk_payload": true,
                "sparse_vectors": null
            },
            "hnsw_config": { "m": 16, "ef_construct": 100, "full_scan_threshold": 10000 },
            "optimizer_config": { "deleted_threshold": 0.2 },
            "wal_config": { "wal_capacity_mb": 32 },
            "quantization_config": null
        });
        assert_eq!(
            create_body(&config),
            json!({
                "vectors": { "size": 4, "distance": "Cosine" },
                "shard_number": 3,
                "replication_factor": 2,
                "write_consistency_factor": 1,
                "on_disk_payload": true,
                "hnsw_config": { "m": 16, "ef_construct": 100, "full_scan_threshold": 10000 },
                "optimizers_config": { "deleted_threshold": 0.2 },
                "wal_config": { "wal_capacity_mb": 32 }
            })
        );
    }
}
