//! Backups: a cluster's backup policy, `VectorClusterBackup` (one backup of
//! one cluster, by hand or from the schedule) and `VectorClusterRestore` (a
//! backup into a new cluster).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// When to back a cluster up, how long to keep backups, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicy {
    /// A cron expression in UTC: five fields (`0 2 * * *`), or `@daily`,
    /// `@hourly`.
    pub schedule: String,
    pub retention: Retention,
    pub destination: BackupDestination,
    /// After each backup succeeds, restore it into a throwaway one-node
    /// cluster beside this one, which proves every collection's point count
    /// against the backup's, then delete it; the result shows in
    /// `status.backups.lastVerified`. The throwaway cluster is not billed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verify: bool,
}

/// Backups are kept while both limits hold; the newest successful one is
/// always kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Successful backups kept, newest first.
    #[schemars(range(min = 1, max = 1000))]
    pub count: u32,
    /// Days a backup is kept.
    #[schemars(range(min = 1, max = 3650))]
    pub max_age_days: u32,
}

/// An S3-compatible bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupDestination {
    pub bucket: String,
    /// Keys start with it; backups of different clusters may share a bucket.
    #[serde(default)]
    pub prefix: String,
    /// `https://s3.eu-west-1.amazonaws.com`, or another S3-compatible server.
    pub endpoint: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// A Secret in the cluster's namespace with `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`.
    pub credentials_secret: String,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

/// One backup of one cluster.
#[expect(
    clippy::duplicated_attributes,
    reason = "each printer column repeats `type_`; clippy reads them as one attribute"
)]
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "quartermaster.dev",
    version = "v1alpha1",
    kind = "VectorClusterBackup",
    namespaced,
    status = "BackupStatus",
    shortname = "vcb",
    category = "quartermaster",
    doc = "One backup of a vector cluster",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Finished", type_ = "date", json_path = ".status.finishedAt"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct VectorClusterBackupSpec {
    /// The VectorCluster, in the same namespace.
    pub cluster: String,
    /// Copied from the cluster's policy when the backup is made, so the
    /// backup can be found and restored after the cluster is gone.
    pub destination: BackupDestination,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum BackupPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    pub phase: BackupPhase,
    /// The Job that takes it.
    pub job: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why it failed, from the Job.
    pub message: Option<String>,
}

/// A backup restored into a new cluster, which must exist with as many
/// nodes as the backed-up one had.
#[expect(
    clippy::duplicated_attributes,
    reason = "each printer column repeats `type_`; clippy reads them as one attribute"
)]
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "quartermaster.dev",
    version = "v1alpha1",
    kind = "VectorClusterRestore",
    namespaced,
    status = "BackupStatus",
    shortname = "vcr",
    category = "quartermaster",
    doc = "A backup restored into a new vector cluster",
    printcolumn(name = "Backup", type_ = "string", json_path = ".spec.backup"),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct VectorClusterRestoreSpec {
    /// The VectorClusterBackup, in the same namespace.
    pub backup: String,
    /// The VectorCluster to load it into.
    pub target: String,
}

/// A cluster's backups at a glance, in its status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSummary {
    /// The newest backup that succeeded, and when it finished.
    pub last_success: Option<String>,
    pub last_success_at: Option<String>,
    /// The newest backup that failed, if newer than the last success.
    pub last_failure: Option<String>,
    pub last_failure_message: Option<String>,
    /// When the schedule takes the next one.
    pub next_at: Option<String>,
    /// The backup a test restore is checking now (`spec.backup.verify`).
    #[serde(default)]
    pub verifying: Option<String>,
    /// The newest test restore that ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified: Option<Verification>,
}

/// How restoring a backup into a throwaway cluster went.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// The backup restored.
    pub backup: String,
    pub finished_at: String,
    /// Every collection came back with the points the backup counted.
    pub succeeded: bool,
    /// What went wrong, or what was checked.
    pub message: Option<String>,
}
