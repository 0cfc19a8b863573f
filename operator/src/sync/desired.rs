//! What to apply for one desired resource: the custom resource labelled as
//! the control plane's push path labels it (`crds::tenant::resource_meta`),
//! with the generation and wake annotations, the backup destination filled
//! from this data plane's own bucket, and a hash of it all so that an
//! unchanged resource is never written again. Pure: no client, no clock.

use std::collections::BTreeMap;

use crds::backup::{
    BackupDestination, VectorClusterBackup, VectorClusterRestore, VectorClusterRestoreSpec,
};
use crds::inference_endpoint::InferenceEndpoint;
use crds::names::{LABEL_CLUSTER, WAKE_ANNOTATION};
use crds::sync::{Desired, GENERATION_ANNOTATION, Object};
use crds::tenant::{BACKUP_CREDENTIALS_SECRET, resource_meta};
use crds::vector_cluster::{FINALIZER, VectorCluster};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash of what was last applied to an object, on the object: equal
/// to what would be applied now, nothing is written.
pub const APPLIED_HASH_ANNOTATION: &str = "quartermaster.dev/applied-hash";

/// This data plane's bucket, from the operator chart; the control plane
/// sends a destination with an empty bucket and the cluster's id as prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalBackup {
    /// None: backups are not configured here.
    pub bucket: Option<String>,
    pub endpoint: String,
    pub region: String,
    /// Put before the control plane's prefix.
    pub prefix: Option<String>,
}

impl Default for LocalBackup {
    fn default() -> Self {
        LocalBackup {
            bucket: None,
            endpoint: String::new(),
            region: "us-east-1".to_owned(),
            prefix: None,
        }
    }
}

impl LocalBackup {
    /// Fills `destination` with the local bucket; false when there is none.
    fn fill(&self, destination: &mut BackupDestination) -> bool {
        let Some(bucket) = &self.bucket else {
            return false;
        };
        destination.bucket = bucket.clone();
        destination.endpoint = self.endpoint.clone();
        destination.region = self.region.clone();
        destination.credentials_secret = BACKUP_CREDENTIALS_SECRET.to_owned();
        if let Some(prefix) = self.prefix.as_deref().filter(|p| !p.is_empty()) {
            destination.prefix = format!(
                "{}/{}",
                prefix.trim_end_matches('/'),
                destination.prefix.trim_start_matches('/')
            );
        }
        true
    }
}

/// A custom resource to apply.
#[derive(Debug, Clone)]
pub enum Planned {
    VectorCluster(Box<VectorCluster>),
    InferenceEndpoint(Box<InferenceEndpoint>),
    VectorClusterBackup(Box<VectorClusterBackup>),
}

impl Planned {
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Planned::VectorCluster(o) => &o.metadata,
            Planned::InferenceEndpoint(o) => &o.metadata,
            Planned::VectorClusterBackup(o) => &o.metadata,
        }
    }
}

/// What one desired resource comes to here.
#[derive(Debug, Clone)]
pub struct Plan {
    pub object: Planned,
    /// A restore to apply once the cluster is ready.
    pub restore: Option<VectorClusterRestore>,
    /// The cluster's backup policy was dropped: no bucket here.
    pub backup_dropped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unplaceable {
    #[error("backup {0} was asked for, but no backup bucket is configured on this data plane")]
    NoBucket(String),
    #[error("{0} is a removed record: there is nothing to apply, only to delete")]
    Removed(String),
}

/// The name of the restore of `cluster`'s `restore_from`.
pub fn restore_name(cluster: &str) -> String {
    format!("{cluster}-restore")
}

pub fn plan(desired: &Desired, local: &LocalBackup) -> Result<Plan, Unplaceable> {
    let generation = (
        GENERATION_ANNOTATION.to_owned(),
        desired.generation.to_string(),
    );
    let meta = |extra: Option<(String, String)>| {
        let annotations: BTreeMap<String, String> =
            std::iter::once(generation.clone()).chain(extra).collect();
        resource_meta(
            &desired.name,
            desired.organization_id,
            desired.id,
            Some(annotations),
        )
    };
    let mut backup_dropped = false;
    let mut restore = None;
    let object = match &desired.object {
        Object::VectorCluster { spec, restore_from } => {
            let mut cluster = VectorCluster::new(&desired.name, (**spec).clone());
            if let Some(policy) = cluster.spec.backup.as_mut()
                && !local.fill(&mut policy.destination)
            {
                cluster.spec.backup = None;
                backup_dropped = true;
            }
            cluster.metadata = meta(None);
            cluster.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
            restore = restore_from.as_ref().map(|backup| {
                let name = restore_name(&desired.name);
                let mut restore = VectorClusterRestore::new(
                    &name,
                    VectorClusterRestoreSpec {
                        backup: backup.clone(),
                        target: desired.name.clone(),
                    },
                );
                restore.metadata = resource_meta(
                    &name,
                    desired.organization_id,
                    desired.id,
                    Some(BTreeMap::from([generation.clone()])),
                );
                stamp(&mut restore.metadata, &restore.spec);
                restore
            });
            stamp(&mut cluster.metadata, &cluster.spec);
            Planned::VectorCluster(Box::new(cluster))
        }
        Object::InferenceEndpoint {
            spec,
            wake_requested_at,
        } => {
            let mut endpoint = InferenceEndpoint::new(&desired.name, (**spec).clone());
            endpoint.metadata =
                meta(wake_requested_at.map(|t| (WAKE_ANNOTATION.to_owned(), t.to_rfc3339())));
            stamp(&mut endpoint.metadata, &endpoint.spec);
            Planned::InferenceEndpoint(Box::new(endpoint))
        }
        Object::Removed { .. } => return Err(Unplaceable::Removed(desired.name.clone())),
        Object::VectorClusterBackup { spec } => {
            let mut backup = VectorClusterBackup::new(&desired.name, spec.clone());
            if !local.fill(&mut backup.spec.destination) {
                return Err(Unplaceable::NoBucket(desired.name.clone()));
            }
            backup.metadata = meta(None);
            // Backups are watched by their cluster's label, as the
            // operator's own scheduled ones are.
            if let Some(labels) = backup.metadata.labels.as_mut() {
                labels.insert(LABEL_CLUSTER.to_owned(), backup.spec.cluster.clone());
            }
            stamp(&mut backup.metadata, &backup.spec);
            Planned::VectorClusterBackup(Box::new(backup))
        }
    };
    Ok(Plan {
        object,
        restore,
        backup_dropped,
    })
}

/// Hex SHA-256 of the JSON of `value`.
pub fn hash_of(value: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Puts the hash of the metadata and `spec` into the metadata.
fn stamp(metadata: &mut ObjectMeta, spec: &impl Serialize) {
    let hash = hash_of(&(&*metadata, spec));
    metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(APPLIED_HASH_ANNOTATION.to_owned(), hash);
}

/// Whether the live object already carries what would be applied.
pub fn settled(live: Option<&ObjectMeta>, planned: &ObjectMeta) -> bool {
    let hash = |m: &ObjectMeta| {
        m.annotations
            .as_ref()
            .and_then(|a| a.get(APPLIED_HASH_ANNOTATION))
            .cloned()
    };
    match live {
        Some(live) => hash(live).is_some() && hash(live) == hash(planned),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::backup::{BackupPolicy, Retention, VectorClusterBackupSpec};
    use crds::names::LABEL_TENANT_ID;
    use crds::tenant::namespace_of;
    use uuid::Uuid;

    fn desired(object: Object) -> Desired {
        Desired {
            id: Uuid::from_u128(1),
            organization_id: Uuid::from_u128(2),
            name: "search".to_owned(),
            generation: 3,
            version: 7,
            delete: false,
            object,
        }
    }

    fn destination(prefix: &str) -> BackupDestination {
        BackupDestination {
            bucket: String::new(),
            prefix: prefix.to_owned(),
            endpoint: String::new(),
            region: String::new(),
            credentials_secret: String::new(),
        }
    }

    fn cluster_with_backups() -> Object {
        let resources = crds::vector_cluster::NodeResources {
            cpu_millicores: 500,
            memory_mib: 1024,
            storage_gib: 1,
        };
        let version = "1.13.2".parse().unwrap();
        let mut spec = crds::VectorClusterSpec::new(version, 1, 1, resources);
        spec.backup = Some(BackupPolicy {
            schedule: "@daily".to_owned(),
            retention: Retention {
                count: 7,
                max_age_days: 7,
            },
            destination: destination("00000000-0000-0000-0000-000000000001"),
            verify: false,
        });
        Object::VectorCluster {
            spec: Box::new(spec),
            restore_from: Some("nightly".to_owned()),
        }
    }

    fn local() -> LocalBackup {
        LocalBackup {
            bucket: Some("dp-backups".to_owned()),
            endpoint: "http://127.0.0.1:9000".to_owned(),
            region: "eu-west-1".to_owned(),
            prefix: Some("eu/".to_owned()),
        }
    }

    #[test]
    fn a_cluster_is_labelled_annotated_and_gets_the_local_bucket() {
        let plan = plan(&desired(cluster_with_backups()), &local()).unwrap();
        let Planned::VectorCluster(cluster) = &plan.object else {
            panic!("a cluster")
        };
        let meta = &cluster.metadata;
        assert_eq!(meta.namespace, Some(namespace_of(Uuid::from_u128(2))));
        let labels = meta.labels.clone().unwrap_or_default();
        assert_eq!(labels[LABEL_TENANT_ID], Uuid::from_u128(1).to_string());
        let annotations = meta.annotations.clone().unwrap_or_default();
        assert_eq!(annotations[GENERATION_ANNOTATION], "3");
        assert!(annotations.contains_key(APPLIED_HASH_ANNOTATION));
        let destination = &cluster.spec.backup.as_ref().unwrap().destination;
        assert_eq!(destination.bucket, "dp-backups");
        assert_eq!(
            destination.prefix,
            "eu/00000000-0000-0000-0000-000000000001"
        );
        assert_eq!(destination.region, "eu-west-1");
        assert_eq!(destination.credentials_secret, BACKUP_CREDENTIALS_SECRET);
        let restore = plan.restore.unwrap();
        assert_eq!(restore.metadata.name.as_deref(), Some("search-restore"));
        assert_eq!(restore.spec.backup, "nightly");
        assert_eq!(restore.spec.target, "search");
        assert!(!plan.backup_dropped);
    }

    #[test]
    fn without_a_local_bucket_the_policy_is_dropped_and_a_manual_backup_refused() {
        let plan = plan(&desired(cluster_with_backups()), &LocalBackup::default()).unwrap();
        let Planned::VectorCluster(cluster) = &plan.object else {
            panic!("a cluster")
        };
        assert_eq!(cluster.spec.backup, None);
        assert!(plan.backup_dropped);
        let backup = desired(Object::VectorClusterBackup {
            spec: VectorClusterBackupSpec {
                cluster: "search".to_owned(),
                destination: destination("x"),
            },
        });
        assert!(super::plan(&backup, &LocalBackup::default()).is_err());
        let planned = super::plan(&backup, &local()).unwrap();
        let labels = planned.object.meta().labels.clone().unwrap_or_default();
        assert_eq!(labels[LABEL_CLUSTER], "search");
    }

    #[test]
    fn the_hash_moves_with_the_generation_and_settles_on_equal_objects() {
        let first = plan(&desired(cluster_with_backups()), &local()).unwrap();
        let again = plan(&desired(cluster_with_backups()), &local()).unwrap();
        assert!(settled(Some(again.object.meta()), first.object.meta()));
        let mut next = desired(cluster_with_backups());
        next.generation = 4;
        let next = plan(&next, &local()).unwrap();
        assert!(!settled(Some(next.object.meta()), first.object.meta()));
        assert!(!settled(None, first.object.meta()));
    }
}
