//! The `VectorCluster` spec: what a tenant's Qdrant cluster should be.
//!
//! Bounds are public constants so that every edge that turns user input into
//! a spec (the REST API, later the CRD schema) checks the same numbers.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::EngineVersion;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VectorClusterSpec {
    pub version: EngineVersion,
    pub nodes: u32,
    pub replication_factor: u32,
    pub resources: NodeResources,
}

/// What each node of a cluster gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeResources {
    pub cpu_millicores: u32,
    pub memory_mib: u32,
    pub storage_gib: u32,
}

/// One rule a spec, or a change to a spec, breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecViolation {
    /// The spec field at fault, in the API's snake_case spelling.
    pub field: &'static str,
    pub message: String,
}

impl SpecViolation {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        SpecViolation {
            field,
            message: message.into(),
        }
    }
}

impl VectorClusterSpec {
    /// Rules that relate fields to each other (each field's own bounds are
    /// the constants above, checked where the number is parsed).
    pub fn violations(&self) -> Vec<SpecViolation> {
        let mut found = Vec::new();
        if self.replication_factor > self.nodes {
            found.push(SpecViolation::new(
                "replication_factor",
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
        if next.version < self.version {
            found.push(SpecViolation::new(
                "version",
                format!(
                    "cannot downgrade from {} to {}: Qdrant's storage format only moves forward",
                    self.version, next.version
                ),
            ));
        }
        if next.resources.storage_gib < self.resources.storage_gib {
            found.push(SpecViolation::new(
                "storage_gib",
                format!(
                    "volumes cannot shrink: {} GiB is below the current {} GiB",
                    next.resources.storage_gib, self.resources.storage_gib
                ),
            ));
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(nodes: u32, replication_factor: u32) -> VectorClusterSpec {
        VectorClusterSpec {
            version: EngineVersion::new(1, 13, 0),
            nodes,
            replication_factor,
            resources: NodeResources {
                cpu_millicores: 1000,
                memory_mib: 2048,
                storage_gib: 10,
            },
        }
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
    fn serializes_in_kubernetes_camel_case() {
        let json = serde_json::to_value(spec(3, 2)).unwrap();
        assert_eq!(json["replicationFactor"], 2);
        assert_eq!(json["version"], "1.13.0");
        assert_eq!(json["resources"]["storageGib"], 10);
    }
}
