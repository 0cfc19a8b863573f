//! Child objects of a `VectorCluster`, built as pure functions of the
//! validated cluster: no client, no clock, no randomness (the API keys are
//! passed in), so each builder is tested on its exact output.

pub mod backup_job;
mod config_map;
pub mod endpoint;
pub mod network_policy;
mod pdb;
mod secret;
mod services;
mod statefulset;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

pub use network_policy::SystemNamespaces;
pub use secret::ApiKeys;
pub use statefulset::replicas;

use crate::EngineVersion;
use crate::crd::vector_cluster::{SpecViolation, VectorCluster, VectorClusterSpec, downgrade};
use crate::names::{NameTooLong, Names};

pub use statefulset::{STORAGE_VOLUME, TEMPLATE_HASH_ANNOTATION};

pub const HTTP_PORT: i32 = 6333;
pub const GRPC_PORT: i32 = 6334;
pub const P2P_PORT: i32 = 6335;

/// A cluster that passed validation: everything a builder needs.
#[derive(Debug, Clone)]
pub struct ValidatedCluster {
    pub namespace: String,
    pub names: Names,
    pub spec: VectorClusterSpec,
    pub owner: OwnerReference,
    /// The data plane's own namespaces, admitted by the cluster's policy.
    pub system: SystemNamespaces,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCluster {
    #[error(transparent)]
    Name(#[from] NameTooLong),
    #[error("the resource has no namespace or uid yet")]
    Incomplete,
    /// `path` is the field as the resource spells it (`spec.nodes`).
    #[error("{path}: {message}")]
    Spec { path: &'static str, message: String },
}

impl From<SpecViolation> for InvalidCluster {
    fn from(v: SpecViolation) -> Self {
        InvalidCluster::Spec {
            path: v.path,
            message: v.message,
        }
    }
}

impl ValidatedCluster {
    pub fn new(cluster: &VectorCluster, system: &SystemNamespaces) -> Result<Self, InvalidCluster> {
        let names = Names::of(cluster.meta().name.as_deref().unwrap_or_default())?;
        let namespace = cluster
            .meta()
            .namespace
            .clone()
            .ok_or(InvalidCluster::Incomplete)?;
        let owner = cluster
            .controller_owner_ref(&())
            .ok_or(InvalidCluster::Incomplete)?;
        let running = cluster
            .status
            .as_ref()
            .and_then(|s| s.current_version.as_deref())
            .and_then(|v| v.parse::<EngineVersion>().ok());
        let downgrade = running.and_then(|running| downgrade(&running, &cluster.spec.version));
        if let Some(v) = cluster
            .spec
            .violations()
            .into_iter()
            .chain(downgrade)
            .next()
        {
            return Err(v.into());
        }
        Ok(ValidatedCluster {
            namespace,
            names,
            spec: cluster.spec.clone(),
            owner,
            system: system.clone(),
        })
    }

    fn meta(&self, name: &str) -> ObjectMeta {
        child_meta(&self.namespace, self.names.labels(), &self.owner, name)
    }

    /// The in-cluster DNS suffix of the peers: `<pod>.<this>`.
    pub fn peer_domain(&self) -> String {
        format!(
            "{}.{}.svc.cluster.local",
            self.names.headless_service, self.namespace
        )
    }

    /// The address clients inside the data plane use.
    pub fn endpoint(&self) -> String {
        format!(
            "http://{}.{}.svc.cluster.local:{HTTP_PORT}",
            self.names.client_service, self.namespace
        )
    }
}

/// How far a rolling upgrade may go: pods with an ordinal at or above the
/// partition run the new template; the others keep the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    pub partition: u32,
}

/// Every object the cluster needs, in the order they are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub config_map: ConfigMap,
    pub secret: Secret,
    pub headless_service: Service,
    pub client_service: Service,
    pub statefulset: StatefulSet,
    pub pdb: PodDisruptionBudget,
    pub network_policy: NetworkPolicy,
}

pub fn desired(cluster: &ValidatedCluster, keys: &ApiKeys, rollout: Rollout) -> Desired {
    let config_map = config_map::build(cluster);
    let config_hash = config_map::digest(&config_map);
    Desired {
        secret: secret::build(cluster, keys),
        headless_service: services::headless(cluster),
        client_service: services::client(cluster),
        statefulset: statefulset::build(cluster, rollout, &config_hash),
        pdb: pdb::build(cluster),
        network_policy: network_policy::build(cluster),
        config_map,
    }
}

/// Metadata for a child called `name`: namespace, labels, owner.
fn child_meta(
    namespace: &str,
    labels: BTreeMap<String, String>,
    owner: &OwnerReference,
    name: &str,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// A short hex digest of `bytes`, for change-detecting annotations: the
/// 16 hex digits of [`digest_u64`].
pub fn digest(bytes: &[u8]) -> String {
    format!("{:016x}", digest_u64(bytes))
}

/// The first 8 bytes of `bytes`' SHA-256, as a number.
pub fn digest_u64(bytes: &[u8]) -> u64 {
    use sha2::{Digest, Sha256};
    let sha = Sha256::digest(bytes);
    let mut prefix = [0; 8];
    prefix.copy_from_slice(&sha[..8]);
    u64::from_be_bytes(prefix)
}

fn string_map<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::EngineVersion;
    use crate::crd::vector_cluster::NodeResources;

    /// A cluster as the API server would hand it over.
    pub fn cluster(nodes: u32, replication_factor: u32) -> VectorCluster {
        let mut vc = VectorCluster::new(
            "search",
            VectorClusterSpec {
                allowed_source_cidrs: vec!["203.0.113.0/24".to_owned()],
                ..VectorClusterSpec::new(
                    EngineVersion::new(1, 13, 6),
                    nodes,
                    replication_factor,
                    NodeResources {
                        cpu_millicores: 2000,
                        memory_mib: 4096,
                        storage_gib: 20,
                    },
                )
            },
        );
        vc.metadata.namespace = Some("org-acme".to_owned());
        vc.metadata.uid = Some("5f1c2d7e-0000-4000-8000-000000000001".to_owned());
        vc.metadata.generation = Some(1);
        vc
    }

    pub fn system() -> SystemNamespaces {
        SystemNamespaces {
            operator: "quartermaster-system".to_owned(),
            prometheus: Some("monitoring".to_owned()),
            gateway: Some("qm-gateway".to_owned()),
        }
    }

    pub fn validated(nodes: u32, replication_factor: u32) -> ValidatedCluster {
        ValidatedCluster::new(&cluster(nodes, replication_factor), &system()).unwrap()
    }

    pub fn keys() -> ApiKeys {
        ApiKeys {
            admin: "admin-key-for-tests".to_owned(),
            read_only: "read-only-key-for-tests".to_owned(),
        }
    }

    /// Compares `value` as YAML with the snapshot `name`; writes it when
    /// `UPDATE_SNAPSHOTS` is set.
    pub fn assert_snapshot<T: serde::Serialize>(name: &str, value: &T) {
        let path = format!(
            "{}/src/build/snapshots/{name}.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let current = serde_yaml::to_string(value).unwrap();
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &current).unwrap();
        }
        let stored = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            stored == current,
            "{name} differs from src/build/snapshots/{name}.yaml; review, then rerun with UPDATE_SNAPSHOTS=1\n{current}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn a_cluster_with_an_invalid_spec_or_name_is_refused() {
        let mut vc = cluster(2, 3);
        assert!(matches!(
            ValidatedCluster::new(&vc, &system()),
            Err(InvalidCluster::Spec {
                path: "spec.replicationFactor",
                ..
            })
        ));
        vc.spec.replication_factor = 1;
        vc.metadata.name = Some("x".repeat(41));
        assert!(matches!(
            ValidatedCluster::new(&vc, &system()),
            Err(InvalidCluster::Name(_))
        ));
    }

    #[test]
    fn every_child_is_owned_by_the_cluster_and_labelled() {
        let d = desired(&validated(3, 2), &keys(), Rollout { partition: 0 });
        let metas = [
            &d.config_map.metadata,
            &d.secret.metadata,
            &d.headless_service.metadata,
            &d.client_service.metadata,
            &d.statefulset.metadata,
            &d.pdb.metadata,
            &d.network_policy.metadata,
        ];
        for meta in metas {
            let owner = &meta.owner_references.as_ref().unwrap()[0];
            assert_eq!(
                (owner.kind.as_str(), owner.name.as_str()),
                ("VectorCluster", "search")
            );
            assert_eq!(owner.controller, Some(true));
            assert_eq!(meta.namespace.as_deref(), Some("org-acme"));
            assert_eq!(
                meta.labels.as_ref().unwrap()["quartermaster.dev/cluster"],
                "search"
            );
        }
    }
}
