//! `VectorCluster`: a tenant's Qdrant cluster, what it should be and what
//! it is.
//!
//! Bounds are public constants so that every edge that turns user input into
//! a spec (the REST API, the CRD schema) checks the same numbers.

use std::ops::RangeInclusive;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::condition::Condition;
use crate::EngineVersion;

/// The operator's finalizer on every `VectorCluster`: its deletion waits
/// until the StatefulSet, and with it the volumes, are gone. Its creators
/// (the control plane's provisioner, a data plane's sync loop) apply it
/// with the cluster, so the operator need not add it in a write of its own.
pub const FINALIZER: &str = "quartermaster.dev/cleanup";

/// Nodes (Qdrant peers) a cluster may have.
pub const NODES: RangeInclusive<u32> = 1..=64;
/// Copies of each shard; never more than the number of nodes.
pub const REPLICATION_FACTOR: RangeInclusive<u32> = 1..=8;
/// CPU per node, in millicores.
pub const CPU_MILLICORES: RangeInclusive<u32> = 250..=64_000;
/// Memory per node, in MiB.
pub const MEMORY_MIB: RangeInclusive<u32> = 512..=524_288;
/// Persistent volume per node, in GiB.
pub const STORAGE_GIB: RangeInclusive<u32> = 1..=16_384;

/// A Qdrant cluster: `nodes` peers, each with its own volume, every shard
/// kept `replicationFactor` times.
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "quartermaster.dev",
    version = "v1alpha1",
    kind = "VectorCluster",
    // The rules that need only the object are the apiserver's to refuse, so a
    // `kubectl apply` fails at once instead of a status saying so later.
    validation = Rule::new("size(self.metadata.name) <= 40")
        .message("a cluster name has at most 40 characters (its pods' labels must fit in 63)"),
    namespaced,
    status = "VectorClusterStatus",
    shortname = "vc",
    category = "quartermaster",
    doc = "A tenant's Qdrant vector database cluster",
    scale(
        spec_replicas_path = ".spec.nodes",
        status_replicas_path = ".status.readyNodes",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.currentVersion"
    ),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyNodes"),
    printcolumn(name = "Nodes", type_ = "integer", json_path = ".spec.nodes"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.replicationFactor <= self.nodes")
        .message("spec.replicationFactor must be at most spec.nodes")
        .field_path(".replicationFactor"),
    // A transition rule: checked on updates only, against the spec before.
    validation = Rule::new(
        "has(self.storageClass) == has(oldSelf.storageClass) && \
         (!has(self.storageClass) || self.storageClass == oldSelf.storageClass)"
    )
    .message("spec.storageClass cannot change on a running cluster; restore a backup into a new cluster to move it")
    .field_path(".storageClass")
)]
pub struct VectorClusterSpec {
    /// Qdrant version, MAJOR.MINOR.PATCH. Raising it rolls the cluster one
    /// node at a time; lowering it is refused.
    pub version: EngineVersion,
    /// Qdrant peers, each a pod with its own volume.
    #[schemars(range(min = 1, max = 64))]
    pub nodes: u32,
    /// Copies of each shard; at most `nodes`.
    #[schemars(range(min = 1, max = 8))]
    pub replication_factor: u32,
    pub resources: NodeResources,
    /// The StorageClass of the volumes; the data plane's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Scale to zero, keeping the volumes; `false` brings the nodes back.
    #[serde(default)]
    pub suspend: bool,
    /// Source ranges (CIDR) allowed to reach the client ports; none: no one
    /// outside the cluster's namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_source_cidrs: Vec<String>,
    /// Scheduled backups; none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<super::backup::BackupPolicy>,
    /// When nodes may begin restarting onto a new version or new resources;
    /// at once when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<super::maintenance::MaintenanceWindow>,
}

/// What each node of a cluster gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.storageGib >= oldSelf.storageGib")
    .message("spec.resources.storageGib cannot shrink: volumes only grow")
    .field_path(".storageGib"))]
pub struct NodeResources {
    #[schemars(range(min = 250, max = 64000))]
    pub cpu_millicores: u32,
    #[schemars(range(min = 512, max = 524288))]
    pub memory_mib: u32,
    #[schemars(range(min = 1, max = 16384))]
    pub storage_gib: u32,
}

/// Where a cluster is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    #[default]
    Pending,
    Provisioning,
    Ready,
    Updating,
    Degraded,
    Suspended,
    Deleting,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Pending,
        Phase::Provisioning,
        Phase::Ready,
        Phase::Updating,
        Phase::Degraded,
        Phase::Suspended,
        Phase::Deleting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Provisioning => "Provisioning",
            Phase::Ready => "Ready",
            Phase::Updating => "Updating",
            Phase::Degraded => "Degraded",
            Phase::Suspended => "Suspended",
            Phase::Deleting => "Deleting",
        }
    }
}

impl TryFrom<String> for Phase {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == value)
            .ok_or_else(|| format!("unknown phase `{value}`"))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VectorClusterStatus {
    /// The generation this status describes.
    pub observed_generation: Option<i64>,
    pub phase: Phase,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Nodes ready to serve.
    #[serde(default)]
    pub ready_nodes: u32,
    /// The version every node runs (during an upgrade: the old one).
    pub current_version: Option<String>,
    /// The version being rolled out, while an upgrade is under way.
    pub target_version: Option<String>,
    /// In-cluster address of the client (REST) port.
    pub endpoint: Option<String>,
    /// Label selector of the nodes, for the scale subresource.
    pub selector: Option<String>,
    /// Kept by the backup scheduler; the main reconciler carries it over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<super::backup::BackupSummary>,
    /// The shard operations of a rebalance under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<Rebalance>,
    /// Where the shards are, as last read from Qdrant (clusters of more
    /// than one node): what a resize would move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

/// Every collection's shards and the nodes (pod ordinals) holding them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    pub collections: Vec<CollectionPlacement>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionPlacement {
    pub name: String,
    /// Points in the collection, as Qdrant counts them.
    pub points: u64,
    /// Bytes of one point's vectors as stored (dimensions times the
    /// datatype's width, over every named vector); payloads and indexes
    /// come on top.
    pub point_bytes: u64,
    pub shards: Vec<ShardPlacement>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShardPlacement {
    pub id: u32,
    /// Ordinals of the nodes holding a replica, ascending.
    pub nodes: Vec<u32>,
}

/// How far a rebalance has come: Qdrant's shard operations (moves, copies,
/// dropped replicas, peers removed) it needed when it began, and how many
/// are done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rebalance {
    pub planned: u32,
    pub done: u32,
}

/// One rule a spec, or a change to a spec, breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecViolation {
    /// The spec field at fault, in the API's snake_case spelling.
    pub field: &'static str,
    /// The same field as the resource spells it (`spec.replicationFactor`),
    /// for what the operator reports on the object.
    pub path: &'static str,
    pub message: String,
}

impl SpecViolation {
    pub fn new(field: &'static str, path: &'static str, message: impl Into<String>) -> Self {
        SpecViolation {
            field,
            path,
            message: message.into(),
        }
    }
}

impl VectorClusterSpec {
    /// A cluster of `nodes` nodes of `resources`, each shard kept
    /// `replication_factor` times, with every optional part left out: no
    /// storage class, source ranges, backups or window, not suspended.
    pub fn new(
        version: EngineVersion,
        nodes: u32,
        replication_factor: u32,
        resources: NodeResources,
    ) -> Self {
        VectorClusterSpec {
            version,
            nodes,
            replication_factor,
            resources,
            storage_class: None,
            suspend: false,
            allowed_source_cidrs: Vec::new(),
            backup: None,
            maintenance_window: None,
        }
    }

    /// Rules that relate fields to each other (each field's own bounds are
    /// the constants above, checked where the number is parsed).
    pub fn violations(&self) -> Vec<SpecViolation> {
        let mut found = Vec::new();
        for cidr in &self.allowed_source_cidrs {
            if !is_cidr(cidr) {
                found.push(SpecViolation::new(
                    "allowed_source_cidrs",
                    "spec.allowedSourceCidrs",
                    format!("`{cidr}` is not an IPv4 or IPv6 range such as 203.0.113.0/24"),
                ));
            }
        }
        if self.replication_factor > self.nodes {
            found.push(SpecViolation::new(
                "replication_factor",
                "spec.replicationFactor",
                format!(
                    "a replication factor of {} needs at least {} nodes; the cluster has {}",
                    self.replication_factor, self.replication_factor, self.nodes
                ),
            ));
        }
        found
    }

    /// Rules for moving a running cluster from `self` to `next`.
    pub fn change_violations(&self, next: &VectorClusterSpec) -> Vec<SpecViolation> {
        let mut found = next.violations();
        found.extend(downgrade(&self.version, &next.version));
        if next.resources.storage_gib < self.resources.storage_gib {
            found.push(SpecViolation::new(
                "storage_gib",
                "spec.resources.storageGib",
                format!(
                    "volumes cannot shrink: {} GiB is below the current {} GiB",
                    next.resources.storage_gib, self.resources.storage_gib
                ),
            ));
        }
        found
    }
}

/// Refuses moving a cluster that runs `current` to `next` below it. The
/// control plane checks it against the stored spec; the operator against
/// `status.currentVersion`, so that a `kubectl edit` cannot roll nodes back.
pub fn downgrade(current: &EngineVersion, next: &EngineVersion) -> Option<SpecViolation> {
    (next < current).then(|| {
        SpecViolation::new(
            "version",
            "spec.version",
            format!(
                "cannot downgrade from {current} to {next}: Qdrant's storage format only moves forward"
            ),
        )
    })
}

/// `address/prefix` with a prefix no longer than the address.
fn is_cidr(raw: &str) -> bool {
    let Some((address, prefix)) = raw.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => prefix <= 32,
        Ok(std::net::IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(nodes: u32, replication_factor: u32) -> VectorClusterSpec {
        VectorClusterSpec::new(
            EngineVersion::new(1, 13, 0),
            nodes,
            replication_factor,
            NodeResources {
                cpu_millicores: 1000,
                memory_mib: 2048,
                storage_gib: 10,
            },
        )
    }

    #[test]
    fn a_replication_factor_above_the_node_count_is_refused() {
        assert_eq!(spec(3, 2).violations(), vec![]);
        assert_eq!(spec(3, 3).violations(), vec![]);
        let found = spec(2, 3).violations();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "replication_factor");
        assert!(found[0].message.contains("at least 3 nodes"));
    }

    #[test]
    fn upgrades_and_growth_are_allowed() {
        let current = spec(1, 1);
        let mut next = spec(3, 2);
        next.version = EngineVersion::new(1, 14, 0);
        next.resources.storage_gib = 20;
        assert_eq!(current.change_violations(&next), vec![]);
    }

    #[test]
    fn downgrades_and_shrinking_volumes_are_refused() {
        let current = spec(3, 1);
        let mut next = spec(3, 1);
        next.version = EngineVersion::new(1, 12, 5);
        next.resources.storage_gib = 5;
        let fields: Vec<_> = current
            .change_violations(&next)
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, vec!["version", "storage_gib"]);
    }

    #[test]
    fn source_ranges_must_be_cidrs() {
        let mut s = spec(1, 1);
        s.allowed_source_cidrs = vec!["10.0.0.0/8".into(), "2001:db8::/32".into()];
        assert_eq!(s.violations(), vec![]);
        for bad in ["10.0.0.0", "10.0.0.0/33", "example.com/8", "10.0.0.0/x"] {
            s.allowed_source_cidrs = vec![bad.into()];
            assert_eq!(s.violations()[0].field, "allowed_source_cidrs", "{bad}");
        }
    }

    #[test]
    fn the_crd_has_status_scale_printer_columns_and_a_structural_schema() {
        use kube::CustomResourceExt;
        let crd = VectorCluster::crd();
        assert_eq!(crd.spec.group, "quartermaster.dev");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        let subresources = version.subresources.as_ref().unwrap();
        assert!(subresources.status.is_some());
        let scale = subresources.scale.as_ref().unwrap();
        assert_eq!(scale.spec_replicas_path, ".spec.nodes");
        assert_eq!(scale.status_replicas_path, ".status.readyNodes");
        let columns: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(columns, ["Phase", "Version", "Ready", "Nodes", "Age"]);
        let schema = serde_json::to_string(&version.schema).unwrap();
        assert!(
            !schema.contains("$ref"),
            "a structural schema has no references"
        );
        assert!(
            schema.contains("\"minimum\":1.0"),
            "bounds are in the schema"
        );
    }

    #[test]
    fn phases_round_trip_through_their_names() {
        for phase in Phase::ALL {
            assert_eq!(Phase::try_from(phase.as_str().to_owned()), Ok(phase));
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.as_str());
        }
        assert!(Phase::try_from("Running".to_owned()).is_err());
    }

    #[test]
    fn serializes_in_kubernetes_camel_case() {
        let json = serde_json::to_value(spec(3, 2)).unwrap();
        assert_eq!(json["replicationFactor"], 2);
        assert_eq!(json["version"], "1.13.0");
        assert_eq!(json["resources"]["storageGib"], 10);
    }
}
