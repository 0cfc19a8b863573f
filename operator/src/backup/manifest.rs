//! A backup's manifest: what it holds and how to check it. Written last, so
//! a backup without one never completed and is never restored from.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The manifest format this operator writes and reads.
pub const FORMAT: u32 = 1;

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
    /// One per node and collection: each node holds its own shards.
    pub snapshots: Vec<Snapshot>,
    /// Each collection's exact point count once every snapshot was taken,
    /// which a restore must reach (empty in backups made before it was
    /// recorded: then only the shards are checked).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub points: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The node's ordinal in the cluster (its pod's index).
    pub node: u32,
    pub collection: String,
    /// Where it is, relative to the destination's bucket.
    pub key: String,
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// The shards of the collection the node held, so in the snapshot.
    #[serde(default)]
    pub shards: Vec<u32>,
}

impl Manifest {
    /// The collections in the backup, each once, in order.
    pub fn collections(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .snapshots
            .iter()
            .map(|s| s.collection.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Every shard of `collection` the backup holds.
    pub fn shards(&self, collection: &str) -> std::collections::BTreeSet<u32> {
        self.snapshots
            .iter()
            .filter(|s| s.collection == collection)
            .flat_map(|s| s.shards.iter().copied())
            .collect()
    }

    /// Bytes stored in all.
    pub fn size(&self) -> u64 {
        self.snapshots.iter().map(|s| s.size).sum()
    }
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

pub fn snapshot_key(prefix: &str, backup: &str, node: u32, collection: &str) -> String {
    format!(
        "{}/node-{node}/{collection}.snapshot",
        backup_prefix(prefix, backup)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_nest_under_the_prefix_and_backup() {
        assert_eq!(
            manifest_key("/tenants/acme/", "search-20261125"),
            "tenants/acme/search-20261125/manifest.json"
        );
        assert_eq!(manifest_key("", "b1"), "b1/manifest.json");
        assert_eq!(
            snapshot_key("p", "b1", 2, "docs"),
            "p/b1/node-2/docs.snapshot"
        );
    }

    #[test]
    fn the_manifest_round_trips_and_lists_each_collection_once() {
        let manifest = Manifest {
            format: FORMAT,
            cluster: "org-1/search".into(),
            version: "1.13.6".into(),
            started_at: "2026-11-25T02:00:00Z".parse().unwrap(),
            finished_at: "2026-11-25T02:01:00Z".parse().unwrap(),
            snapshots: ["docs", "images", "docs"]
                .iter()
                .enumerate()
                .map(|(i, c)| Snapshot {
                    node: u32::try_from(i).unwrap(),
                    collection: (*c).to_owned(),
                    key: format!("k{i}"),
                    size: 10,
                    sha256: "00".into(),
                    shards: vec![u32::try_from(i).unwrap()],
                })
                .collect(),
            points: BTreeMap::from([("docs".to_owned(), 12)]),
        };
        let json = serde_json::to_string(&manifest).unwrap();
        assert!(json.contains("\"finishedAt\""));
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), manifest);
        assert_eq!(manifest.collections(), ["docs", "images"]);
        assert_eq!(manifest.size(), 30);
    }
}
