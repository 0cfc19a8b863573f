//! What the data plane tells the control plane: one [`Report`] per
//! resource, computed from the watched objects alone, and an outbox that
//! sends only what changed since the control plane last acknowledged it,
//! holding the latest of each while the control plane is away. Pure.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crds::backup::{VectorClusterBackup, VectorClusterRestore};
use crds::inference_endpoint::InferenceEndpoint;
use crds::names::{LABEL_CLUSTER, LABEL_ORIGIN, LABEL_TENANT_ID, WAKE_ANNOTATION};
use crds::sync::{Applied, GENERATION_ANNOTATION, Kind, Observed, Report};
use crds::tenant::LABEL_ORGANIZATION;
use crds::vector_cluster::VectorCluster;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use uuid::Uuid;

/// A report's resource: its kind, control-plane id, and name (several
/// backups share their cluster's id).
pub type ReportKey = (Kind, Uuid, String);

/// The watched objects, as the reflectors hold them.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub clusters: Vec<Arc<VectorCluster>>,
    pub endpoints: Vec<Arc<InferenceEndpoint>>,
    pub backups: Vec<Arc<VectorClusterBackup>>,
    pub restores: Vec<Arc<VectorClusterRestore>>,
}

fn label(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.labels.as_ref()?.get(key).cloned()
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

/// The control plane's id and organization of an object it applied.
pub fn tenant_of(meta: &ObjectMeta) -> Option<(Uuid, Uuid)> {
    let id = label(meta, LABEL_TENANT_ID)?.parse().ok()?;
    let organization = label(meta, LABEL_ORGANIZATION)?.parse().ok()?;
    Some((id, organization))
}

fn applied(meta: &ObjectMeta, observed_generation: Option<i64>) -> Applied {
    Applied {
        applied_generation: annotation(meta, GENERATION_ANNOTATION)
            .and_then(|g| g.parse().ok())
            .unwrap_or(0),
        acted: observed_generation.is_some() && observed_generation == meta.generation,
        woken_at: annotation(meta, WAKE_ANNOTATION)
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)),
    }
}

fn name_of(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

/// Every resource's report, by key.
pub fn reports(seen: &Seen) -> BTreeMap<ReportKey, Report> {
    let mut out = BTreeMap::new();
    let mut put = |kind, id, organization_id, name, observed| {
        out.insert(
            (kind, id, name),
            Report {
                id,
                organization_id,
                observed,
            },
        );
    };
    // A cluster's tenant, by namespace and name, for its backups.
    let mut cluster_tenant = BTreeMap::new();
    for cluster in &seen.clusters {
        let Some((id, org)) = tenant_of(&cluster.metadata) else {
            continue;
        };
        let namespace = cluster.metadata.namespace.clone().unwrap_or_default();
        cluster_tenant.insert((namespace, name_of(&cluster.metadata)), (id, org));
        let status = cluster.status.clone();
        let observed = Observed::VectorCluster {
            applied: applied(
                &cluster.metadata,
                status.as_ref().and_then(|s| s.observed_generation),
            ),
            status: status.map(Box::new),
        };
        put(
            Kind::VectorCluster,
            id,
            org,
            name_of(&cluster.metadata),
            observed,
        );
    }
    for endpoint in &seen.endpoints {
        let Some((id, org)) = tenant_of(&endpoint.metadata) else {
            continue;
        };
        let status = endpoint.status.clone();
        let observed = Observed::InferenceEndpoint {
            applied: applied(
                &endpoint.metadata,
                status.as_ref().and_then(|s| s.observed_generation),
            ),
            status: status.map(Box::new),
        };
        put(
            Kind::InferenceEndpoint,
            id,
            org,
            name_of(&endpoint.metadata),
            observed,
        );
    }
    for backup in &seen.backups {
        let namespace = backup.metadata.namespace.clone().unwrap_or_default();
        let cluster = label(&backup.metadata, LABEL_CLUSTER).unwrap_or(backup.spec.cluster.clone());
        // A backup of a cluster the control plane does not know is not its.
        let Some(&(cluster_id, cluster_org)) = cluster_tenant.get(&(namespace, cluster)) else {
            continue;
        };
        // One taken by hand has its own id; one the operator took on
        // schedule is known by its cluster's id and its name.
        let (id, org) = tenant_of(&backup.metadata).unwrap_or((cluster_id, cluster_org));
        let name = name_of(&backup.metadata);
        let observed = Observed::VectorClusterBackup {
            cluster_id,
            name: name.clone(),
            origin: label(&backup.metadata, LABEL_ORIGIN),
            status: backup.status.clone().unwrap_or_default(),
        };
        put(Kind::VectorClusterBackup, id, org, name, observed);
    }
    for restore in &seen.restores {
        let Some((id, org)) = tenant_of(&restore.metadata) else {
            continue;
        };
        let observed = Observed::VectorClusterRestore {
            status: restore.status.clone().unwrap_or_default(),
        };
        put(
            Kind::VectorClusterRestore,
            id,
            org,
            name_of(&restore.metadata),
            observed,
        );
    }
    out
}

/// Reports not yet acknowledged, the latest of each resource.
#[derive(Debug, Default)]
pub struct Outbox {
    acknowledged: BTreeMap<ReportKey, Report>,
    pending: BTreeMap<ReportKey, Report>,
}

impl Outbox {
    /// Queues each report that differs from the one last acknowledged.
    pub fn observe(&mut self, current: BTreeMap<ReportKey, Report>) {
        for (key, report) in current {
            self.queue(key, report);
        }
    }

    pub fn queue(&mut self, key: ReportKey, report: Report) {
        if self.acknowledged.get(&key) == Some(&report) {
            self.pending.remove(&key);
        } else {
            self.pending.insert(key, report);
        }
    }

    /// What to send now.
    pub fn batch(&self) -> Vec<(ReportKey, Report)> {
        self.pending
            .iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect()
    }

    /// The control plane took `sent`: each stays pending only if a newer
    /// one was queued since.
    pub fn acknowledge(&mut self, sent: Vec<(ReportKey, Report)>) {
        for (key, report) in sent {
            if self.pending.get(&key) == Some(&report) {
                self.pending.remove(&key);
            }
            self.acknowledged.insert(key, report);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::backup::{BackupDestination, BackupPhase, BackupStatus, VectorClusterBackupSpec};
    use crds::tenant::resource_meta;
    use crds::vector_cluster::{NodeResources, VectorClusterSpec, VectorClusterStatus};

    const ID: Uuid = Uuid::from_u128(1);
    const ORG: Uuid = Uuid::from_u128(2);

    fn cluster(generation: i64, observed: Option<i64>) -> VectorCluster {
        let resources = NodeResources {
            cpu_millicores: 500,
            memory_mib: 1024,
            storage_gib: 1,
        };
        let spec = VectorClusterSpec::new("1.13.2".parse().unwrap(), 1, 1, resources);
        let mut cluster = VectorCluster::new("search", spec);
        cluster.metadata = resource_meta(
            "search",
            ORG,
            ID,
            Some(BTreeMap::from([(
                GENERATION_ANNOTATION.to_owned(),
                "5".to_owned(),
            )])),
        );
        cluster.metadata.generation = Some(generation);
        cluster.status = observed.map(|g| VectorClusterStatus {
            observed_generation: Some(g),
            ..VectorClusterStatus::default()
        });
        cluster
    }

    fn scheduled_backup() -> VectorClusterBackup {
        let mut backup = VectorClusterBackup::new(
            "search-20250101t0200z",
            VectorClusterBackupSpec {
                cluster: "search".to_owned(),
                destination: BackupDestination {
                    bucket: "b".to_owned(),
                    prefix: String::new(),
                    endpoint: String::new(),
                    region: String::new(),
                    credentials_secret: String::new(),
                },
            },
        );
        backup.metadata.namespace = Some(crds::tenant::namespace_of(ORG));
        backup.metadata.labels = Some(BTreeMap::from([(
            LABEL_CLUSTER.to_owned(),
            "search".to_owned(),
        )]));
        backup.status = Some(BackupStatus {
            phase: BackupPhase::Succeeded,
            ..BackupStatus::default()
        });
        backup
    }

    #[test]
    fn acted_is_the_observed_generation_reaching_the_objects() {
        for (generation, observed, acted) in
            [(2, Some(2), true), (3, Some(2), false), (1, None, false)]
        {
            let seen = Seen {
                clusters: vec![Arc::new(cluster(generation, observed))],
                ..Seen::default()
            };
            let reports = reports(&seen);
            let report = &reports[&(Kind::VectorCluster, ID, "search".to_owned())];
            let Observed::VectorCluster { applied, .. } = &report.observed else {
                panic!("a cluster report")
            };
            assert_eq!(applied.applied_generation, 5);
            assert_eq!(applied.acted, acted, "{generation} {observed:?}");
        }
    }

    #[test]
    fn a_scheduled_backup_is_reported_under_its_clusters_id() {
        let seen = Seen {
            clusters: vec![Arc::new(cluster(1, Some(1)))],
            backups: vec![Arc::new(scheduled_backup())],
            ..Seen::default()
        };
        let reports = reports(&seen);
        let key = (
            Kind::VectorClusterBackup,
            ID,
            "search-20250101t0200z".to_owned(),
        );
        let Observed::VectorClusterBackup {
            cluster_id, status, ..
        } = &reports[&key].observed
        else {
            panic!("a backup report")
        };
        assert_eq!(*cluster_id, ID);
        assert_eq!(status.phase, BackupPhase::Succeeded);
        assert_eq!(reports[&key].organization_id, ORG);
        // Without its cluster, nobody to report it to.
        let alone = Seen {
            backups: vec![Arc::new(scheduled_backup())],
            ..Seen::default()
        };
        assert!(super::reports(&alone).is_empty());
    }

    #[test]
    fn the_outbox_sends_changes_once_and_keeps_the_latest_while_unacknowledged() {
        let mut outbox = Outbox::default();
        let seen = |observed| Seen {
            clusters: vec![Arc::new(cluster(2, observed))],
            ..Seen::default()
        };
        outbox.observe(reports(&seen(None)));
        let first = outbox.batch();
        assert_eq!(first.len(), 1);
        // Sent but a newer one came before the answer: still pending.
        outbox.observe(reports(&seen(Some(2))));
        outbox.acknowledge(first);
        let second = outbox.batch();
        assert_eq!(second.len(), 1);
        outbox.acknowledge(second);
        assert!(outbox.is_empty());
        // Unchanged: nothing to send.
        outbox.observe(reports(&seen(Some(2))));
        assert!(outbox.is_empty());
    }
}
