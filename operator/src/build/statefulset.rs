//! The StatefulSet that runs the Qdrant nodes: one pod and one volume per
//! node, rolled one pod at a time through the update partition.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodAffinityTerm, PodAntiAffinity, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SecretKeySelector, Volume, VolumeMount,
    VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config_map::{CONFIG_FILE, START_SCRIPT};
use super::secret::{ADMIN_KEY, READ_ONLY_KEY};
use super::{GRPC_PORT, HTTP_PORT, P2P_PORT, Rollout, ValidatedCluster, string_map};

pub const CONTAINER: &str = "qdrant";
pub const CONFIG_HASH_ANNOTATION: &str = "quartermaster.dev/config-hash";
/// On the StatefulSet: a digest of the pod template it was built with, so
/// that the next reconcile knows whether a rollout is due.
pub const TEMPLATE_HASH_ANNOTATION: &str = "quartermaster.dev/template-hash";
pub const STORAGE_VOLUME: &str = "storage";
/// The directory of the storage volume that holds snapshots; Qdrant's own
/// data sits in the volume's root, so the name must not be one of its.
const SNAPSHOTS_SUBPATH: &str = "qm-snapshots";
const CONFIG_VOLUME: &str = "config";

pub fn image(cluster: &ValidatedCluster) -> String {
    format!("qdrant/qdrant:v{}", cluster.spec.version)
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::Int(HTTP_PORT),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn secret_env(cluster: &ValidatedCluster, name: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: cluster.names.api_key_secret.clone(),
                key: key.to_owned(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn container(cluster: &ValidatedCluster) -> Container {
    let resources = &cluster.spec.resources;
    let amounts: BTreeMap<String, Quantity> = [
        (
            "cpu".to_owned(),
            Quantity(format!("{}m", resources.cpu_millicores)),
        ),
        (
            "memory".to_owned(),
            Quantity(format!("{}Mi", resources.memory_mib)),
        ),
    ]
    .into();
    let port = |name: &str, number: i32| ContainerPort {
        name: Some(name.to_owned()),
        container_port: number,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    };
    Container {
        name: CONTAINER.to_owned(),
        image: Some(image(cluster)),
        command: Some(vec![
            "/bin/sh".to_owned(),
            format!("/qdrant/startup/{START_SCRIPT}"),
        ]),
        ports: Some(vec![
            port("http", HTTP_PORT),
            port("grpc", GRPC_PORT),
            port("p2p", P2P_PORT),
        ]),
        env: Some(vec![
            secret_env(cluster, "QDRANT__SERVICE__API_KEY", ADMIN_KEY),
            secret_env(cluster, "QDRANT__SERVICE__READ_ONLY_API_KEY", READ_ONLY_KEY),
        ]),
        // Requests equal limits: a node's memory is its working set, and
        // Guaranteed pods are the last evicted.
        resources: Some(ResourceRequirements {
            requests: Some(amounts.clone()),
            limits: Some(amounts),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(http_probe("/readyz", 5, 3)),
        liveness_probe: Some(http_probe("/livez", 10, 6)),
        // Loading collections from disk can take minutes on a large node.
        startup_probe: Some(http_probe("/livez", 5, 120)),
        volume_mounts: Some(vec![
            VolumeMount {
                name: STORAGE_VOLUME.to_owned(),
                mount_path: "/qdrant/storage".to_owned(),
                ..VolumeMount::default()
            },
            // Qdrant's `snapshots_path` on the node's own volume, beside
            // (not inside) its data: a node's snapshot is never larger than
            // what it stores, it grows with the volume without a pod
            // template change, and it never fills the container's writable
            // layer (which gets the pod evicted).
            VolumeMount {
                name: STORAGE_VOLUME.to_owned(),
                mount_path: "/qdrant/snapshots".to_owned(),
                sub_path: Some(SNAPSHOTS_SUBPATH.to_owned()),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: CONFIG_VOLUME.to_owned(),
                mount_path: format!("/qdrant/config/{CONFIG_FILE}"),
                sub_path: Some(CONFIG_FILE.to_owned()),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: CONFIG_VOLUME.to_owned(),
                mount_path: "/qdrant/startup".to_owned(),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    }
}

fn volume_claim(cluster: &ValidatedCluster) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(STORAGE_VOLUME.to_owned()),
            labels: Some(cluster.names.labels()),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: cluster.spec.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(
                    [(
                        "storage".to_owned(),
                        Quantity(format!("{}Gi", cluster.spec.resources.storage_gib)),
                    )]
                    .into(),
                ),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// Spread nodes over machines where the scheduler can.
fn spread(cluster: &ValidatedCluster) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_labels: Some(cluster.names.selector()),
                            ..LabelSelector::default()
                        }),
                        topology_key: "kubernetes.io/hostname".to_owned(),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

/// Replicas are zero while suspended: the pods go, the volumes stay.
pub fn replicas(cluster: &ValidatedCluster) -> u32 {
    if cluster.spec.suspend {
        0
    } else {
        cluster.spec.nodes
    }
}

pub fn build(cluster: &ValidatedCluster, rollout: Rollout, config_hash: &str) -> StatefulSet {
    let pod_meta = ObjectMeta {
        labels: Some(cluster.names.labels()),
        annotations: Some(string_map([(
            CONFIG_HASH_ANNOTATION,
            config_hash.to_owned(),
        )])),
        ..ObjectMeta::default()
    };
    let template = PodTemplateSpec {
        metadata: Some(pod_meta),
        spec: Some(PodSpec {
            containers: vec![container(cluster)],
            volumes: Some(vec![Volume {
                name: CONFIG_VOLUME.to_owned(),
                config_map: Some(ConfigMapVolumeSource {
                    name: cluster.names.config_map.clone(),
                    default_mode: Some(0o755),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            }]),
            affinity: Some(spread(cluster)),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(60),
            ..PodSpec::default()
        }),
    };
    let template_hash = super::digest(&serde_json::to_vec(&template).unwrap_or_default());
    let mut metadata = cluster.meta(&cluster.names.statefulset);
    metadata.annotations = Some(string_map([(TEMPLATE_HASH_ANNOTATION, template_hash)]));
    StatefulSet {
        metadata,
        spec: Some(StatefulSetSpec {
            replicas: Some(i32::try_from(replicas(cluster)).unwrap_or(i32::MAX)),
            selector: LabelSelector {
                match_labels: Some(cluster.names.selector()),
                ..LabelSelector::default()
            },
            service_name: Some(cluster.names.headless_service.clone()),
            // Peers must all start for the cluster to form; ordering is
            // kept for updates, which the partition drives.
            pod_management_policy: Some("Parallel".to_owned()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateStatefulSetStrategy {
                    partition: Some(i32::try_from(rollout.partition).unwrap_or(i32::MAX)),
                    max_unavailable: None,
                }),
            }),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some("Delete".to_owned()),
                    // A node scaled away keeps its data until scaled back.
                    when_scaled: Some("Retain".to_owned()),
                },
            ),
            template,
            volume_claim_templates: Some(vec![volume_claim(cluster)]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::fixtures::*;

    fn spec(s: &StatefulSet) -> &StatefulSetSpec {
        s.spec.as_ref().unwrap()
    }

    #[test]
    fn one_node() {
        let sts = build(&validated(1, 1), Rollout { partition: 0 }, "abc");
        assert_eq!(spec(&sts).replicas, Some(1));
        assert_snapshot("statefulset-1-node", &sts);
    }

    #[test]
    fn three_nodes_with_replication_two() {
        let sts = build(&validated(3, 2), Rollout { partition: 2 }, "abc");
        let s = spec(&sts);
        assert_eq!(s.replicas, Some(3));
        assert_eq!(s.service_name.as_deref(), Some("search-peers"));
        let partition = s
            .update_strategy
            .as_ref()
            .unwrap()
            .rolling_update
            .as_ref()
            .unwrap()
            .partition;
        assert_eq!(partition, Some(2));
        let pod = s.template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("qdrant/qdrant:v1.13.6"));
        let limits = c.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits["cpu"], Quantity("2000m".into()));
        assert_eq!(limits["memory"], Quantity("4096Mi".into()));
        let claim = &s.volume_claim_templates.as_ref().unwrap()[0];
        let storage = &claim
            .spec
            .as_ref()
            .unwrap()
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()["storage"];
        assert_eq!(storage, &Quantity("20Gi".into()));
        let annotations = s
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap();
        assert_eq!(annotations[CONFIG_HASH_ANNOTATION], "abc");
        assert_snapshot("statefulset-3-nodes", &sts);
    }

    #[test]
    fn a_suspended_cluster_has_no_pods_but_keeps_its_claims() {
        let mut cluster = validated(3, 2);
        cluster.spec.suspend = true;
        let sts = build(&cluster, Rollout { partition: 0 }, "abc");
        assert_eq!(spec(&sts).replicas, Some(0));
        assert_eq!(
            spec(&sts).volume_claim_templates.as_ref().map(Vec::len),
            Some(1)
        );
        let policy = spec(&sts)
            .persistent_volume_claim_retention_policy
            .as_ref()
            .unwrap();
        assert_eq!(policy.when_scaled.as_deref(), Some("Retain"));
    }
}
