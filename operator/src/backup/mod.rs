//! Backups of a vector cluster: a snapshot of every shard of every
//! collection, streamed to S3-compatible storage with a SHA-256 of each,
//! then a manifest; and restores, into any placement, that check every
//! byte before Qdrant sees it and prove the result.
//! Run as a Kubernetes Job: `quartermaster-operator backup|restore`.

pub mod manifest;
pub mod qdrant;
pub mod run;
pub use crds::schedule;
pub mod store;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("Qdrant: {0}")]
    Qdrant(String),
    #[error("object storage: {0}")]
    Store(String),
    #[error("{0}")]
    Io(String),
    #[error("backup `{0}` has no manifest: it never completed, and cannot be restored")]
    Incomplete(String),
    #[error("the manifest of backup `{backup}` is not readable: {reason}")]
    Manifest { backup: String, reason: String },
    #[error(
        "{key} does not match its manifest: expected {expected_size} bytes with SHA-256 {expected}, \
         found {actual_size} bytes with SHA-256 {actual}; nothing was restored from it"
    )]
    Checksum {
        key: String,
        expected: String,
        expected_size: u64,
        actual: String,
        actual_size: u64,
    },
    #[error("the restore of `{collection}` is incomplete: {reason}")]
    Unproven { collection: String, reason: String },
}
