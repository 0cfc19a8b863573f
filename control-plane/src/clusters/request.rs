//! Turning what a customer sends into a valid [`VectorClusterSpec`].
//!
//! Numbers arrive as `i64` so that a negative size is reported against its
//! field rather than as an unreadable deserialization error.

use crds::vector_cluster::{self, NodeResources};
use crds::{EngineVersion, VectorClusterSpec};

use crate::validation::ValidationErrors;

const DEFAULT_CPU_MILLICORES: u32 = 1000;
const DEFAULT_MEMORY_MIB: u32 = 2048;
const DEFAULT_STORAGE_GIB: u32 = 10;

/// A cluster name: a DNS label of 3 to 40 characters, since it names
/// Kubernetes objects and appears in the cluster's hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterName(String);

impl ClusterName {
    pub fn parse(raw: &str) -> Result<ClusterName, &'static str> {
        let len_ok = (3..=40).contains(&raw.len());
        let chars_ok = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let starts_ok = raw.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        let ends_ok = raw.bytes().last().is_some_and(|b| b != b'-');
        if len_ok && chars_ok && starts_ok && ends_ok {
            Ok(ClusterName(raw.to_owned()))
        } else {
            Err(
                "must be 3 to 40 lowercase letters, digits or '-', starting with a letter and not ending with '-'",
            )
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request to create a cluster, as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateCluster {
    pub name: String,
    pub region: String,
    /// The spec's fields; each left out takes its default.
    pub spec: UpdateCluster,
    /// Labels as received; checked by [`crate::labels::Labels::parse`].
    pub labels: std::collections::BTreeMap<String, String>,
}

/// A request to change a cluster: each field left out stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateCluster {
    pub version: Option<String>,
    pub nodes: Option<i64>,
    pub replication_factor: Option<i64>,
    pub cpu_millicores: Option<i64>,
    pub memory_mib: Option<i64>,
    pub storage_gib: Option<i64>,
}

impl CreateCluster {
    /// The name and spec, or every field at fault. The region is checked
    /// against the registered data planes by the caller.
    pub fn parse(&self, errors: &mut ValidationErrors) -> Option<(ClusterName, VectorClusterSpec)> {
        let name = errors.check("name", ClusterName::parse(&self.name));
        let _ = errors.check("region", crate::validation::region(&self.region));
        let base = VectorClusterSpec::new(
            EngineVersion::DEFAULT,
            1,
            1,
            NodeResources {
                cpu_millicores: DEFAULT_CPU_MILLICORES,
                memory_mib: DEFAULT_MEMORY_MIB,
                storage_gib: DEFAULT_STORAGE_GIB,
            },
        );
        let spec = self.spec.apply_fields(&base, errors)?;
        for violation in spec.violations() {
            errors.add(violation.field, violation.message);
        }
        Some((name?, spec))
    }
}

impl UpdateCluster {
    /// `current` with this request's changes, or every field at fault.
    pub fn apply(
        &self,
        current: &VectorClusterSpec,
        errors: &mut ValidationErrors,
    ) -> Option<VectorClusterSpec> {
        let next = self.apply_fields(current, errors)?;
        for violation in current.change_violations(&next) {
            errors.add(violation.field, violation.message);
        }
        Some(next)
    }

    fn apply_fields(
        &self,
        base: &VectorClusterSpec,
        errors: &mut ValidationErrors,
    ) -> Option<VectorClusterSpec> {
        let mut number = |field: &str, value: Option<i64>, range, current: u32| match value {
            None => Some(current),
            Some(v) => errors.in_range(field, v, range),
        };
        let nodes = number("nodes", self.nodes, vector_cluster::NODES, base.nodes);
        let replication_factor = number(
            "replication_factor",
            self.replication_factor,
            vector_cluster::REPLICATION_FACTOR,
            base.replication_factor,
        );
        let cpu_millicores = number(
            "cpu_millicores",
            self.cpu_millicores,
            vector_cluster::CPU_MILLICORES,
            base.resources.cpu_millicores,
        );
        let memory_mib = number(
            "memory_mib",
            self.memory_mib,
            vector_cluster::MEMORY_MIB,
            base.resources.memory_mib,
        );
        let storage_gib = number(
            "storage_gib",
            self.storage_gib,
            vector_cluster::STORAGE_GIB,
            base.resources.storage_gib,
        );
        let version = match &self.version {
            None => Some(base.version),
            Some(raw) => errors.check("version", raw.parse::<EngineVersion>()),
        };
        Some(VectorClusterSpec {
            version: version?,
            nodes: nodes?,
            replication_factor: replication_factor?,
            resources: NodeResources {
                cpu_millicores: cpu_millicores?,
                memory_mib: memory_mib?,
                storage_gib: storage_gib?,
            },
            ..base.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errors: &ValidationErrors) -> Vec<&str> {
        errors.errors().iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn names_are_dns_labels() {
        for good in ["abc", "prod-vectors-1", &"a".repeat(40)] {
            assert!(ClusterName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Prod",
            "1abc",
            "abc-",
            "a_b",
            "x'; DROP TABLE vector_clusters;--",
            &"a".repeat(41),
            "ünï",
        ] {
            assert!(ClusterName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_minimal_request_gets_the_defaults() {
        let mut errors = ValidationErrors::default();
        let request = CreateCluster {
            name: "search".into(),
            region: "eu-1".into(),
            ..Default::default()
        };
        let (name, spec) = request.parse(&mut errors).unwrap();
        assert!(errors.errors().is_empty());
        assert_eq!(name.as_str(), "search");
        assert_eq!(spec.version, EngineVersion::DEFAULT);
        assert_eq!((spec.nodes, spec.replication_factor), (1, 1));
        assert_eq!(spec.resources.storage_gib, DEFAULT_STORAGE_GIB);
    }

    #[test]
    fn a_region_with_a_nul_is_a_field_error_not_a_database_failure() {
        for region in ["lo\u{0}cal", "eu\n1"] {
            let mut errors = ValidationErrors::default();
            let request = CreateCluster {
                name: "regtest".into(),
                region: region.into(),
                ..Default::default()
            };
            request.parse(&mut errors);
            assert_eq!(fields(&errors), ["region"], "{region:?}");
        }
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut errors = ValidationErrors::default();
        let request = CreateCluster {
            name: "A!".into(),
            region: " ".into(),
            spec: UpdateCluster {
                version: Some("latest".into()),
                nodes: Some(-1),
                storage_gib: Some(0),
                ..Default::default()
            },
            labels: Default::default(),
        };
        assert_eq!(request.parse(&mut errors), None);
        assert_eq!(
            fields(&errors),
            ["name", "region", "nodes", "storage_gib", "version"]
        );
    }

    #[test]
    fn replication_beyond_the_nodes_is_reported_on_its_field() {
        let mut errors = ValidationErrors::default();
        let request = CreateCluster {
            name: "search".into(),
            region: "eu-1".into(),
            spec: UpdateCluster {
                nodes: Some(2),
                replication_factor: Some(3),
                ..Default::default()
            },
            labels: Default::default(),
        };
        request.parse(&mut errors);
        assert_eq!(fields(&errors), ["replication_factor"]);
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name_and_refuses_shrinking() {
        let mut errors = ValidationErrors::default();
        let (_, current) = CreateCluster {
            name: "search".into(),
            region: "eu-1".into(),
            spec: UpdateCluster {
                storage_gib: Some(20),
                ..Default::default()
            },
            labels: Default::default(),
        }
        .parse(&mut errors)
        .unwrap();
        let grown = UpdateCluster {
            nodes: Some(3),
            ..Default::default()
        }
        .apply(&current, &mut errors)
        .unwrap();
        assert!(errors.errors().is_empty());
        assert_eq!(grown.nodes, 3);
        assert_eq!(grown.resources, current.resources);

        UpdateCluster {
            storage_gib: Some(5),
            version: Some("1.12.0".into()),
            ..Default::default()
        }
        .apply(&current, &mut errors);
        assert_eq!(fields(&errors), ["version", "storage_gib"]);
    }
}
