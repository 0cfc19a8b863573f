//! The backup and restore program against an S3-compatible server on
//! loopback (`moto_server`, PyPI `moto[server]`) and a test Qdrant cluster
//! (`qdrant.rs`) that follows Qdrant's rules for collections, shard
//! placement, shard snapshots and their recovery, and counts. Its answers,
//! and the bodies the program sends it, are checked against Qdrant's
//! OpenAPI document. `take.rs` makes backups; `restore.rs` restores them.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::collections::BTreeMap;

use operator::backup::run::Source;
use sha2::{Digest, Sha256};

#[path = "../common/moto.rs"]
mod moto;
mod qdrant;
#[path = "../common/qdrant_schema.rs"]
mod qdrant_schema;
mod restore;
mod take;

use qdrant::{Shared, cluster, config};

const API_KEY: &str = "qdrant-admin-key";
const PREFIX: &str = "org-acme/search";

pub(crate) fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn calls(q: &Shared, node: usize) -> Vec<String> {
    q.lock().unwrap().nodes[node].calls.clone()
}

/// Every shard's data, as the cluster holds it: (collection, shard) → the
/// data of each replica.
pub(crate) fn data(q: &Shared) -> BTreeMap<(String, u32), Vec<Vec<u8>>> {
    let mut all: BTreeMap<(String, u32), Vec<Vec<u8>>> = BTreeMap::new();
    for node in &q.lock().unwrap().nodes {
        for (key, r) in &node.replicas {
            all.entry(key.clone()).or_default().push(r.data.clone());
        }
    }
    all
}

/// Two nodes: `docs` with 2 shards at replication factor 1 (shard 0 large
/// enough to span two multipart parts), `images` with 1 shard at factor 2.
pub(crate) async fn source_cluster() -> (Vec<String>, Shared) {
    let (nodes, q) = cluster(2, 0).await;
    {
        let mut c = q.lock().unwrap();
        c.create("docs", config(2, 1));
        c.create("images", config(1, 2));
        c.fill("docs", 0, 700, 9 * 1024 * 1024);
        c.fill("docs", 1, 300, 2000);
        c.fill("images", 0, 40, 3000);
    }
    (nodes, q)
}

pub(crate) fn source(nodes: &[String]) -> Source<'_> {
    Source {
        cluster: "org-acme/search",
        version: "1.13.6",
        nodes,
    }
}
