//! A Kubernetes data plane: each organization gets a namespace with a
//! ResourceQuota and a default-deny NetworkPolicy, and each cluster a
//! `VectorCluster` applied with server-side apply (field manager
//! `quartermaster`). The operator running there does the rest.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, Resource};
use operator::crd::vector_cluster::{VectorCluster, VectorClusterSpec};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::observed::{Observed, Tracked};

pub const FIELD_MANAGER: &str = "quartermaster";
const LABEL_ORGANIZATION: &str = "quartermaster.dev/organization";
const LABEL_CLUSTER_ID: &str = "quartermaster.dev/cluster-id";

#[derive(Clone)]
pub struct KubernetesPlane {
    client: Client,
}

impl std::fmt::Debug for KubernetesPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubernetesPlane")
    }
}

/// The namespace that holds an organization's clusters.
pub fn namespace_of(cluster: &Tracked) -> String {
    format!("qm-{}", cluster.organization_id.simple())
}

fn meta(name: &str, namespace: Option<&str>, cluster: &Tracked) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(BTreeMap::from([
            (
                LABEL_ORGANIZATION.to_owned(),
                cluster.organization_id.to_string(),
            ),
            (
                "app.kubernetes.io/managed-by".to_owned(),
                FIELD_MANAGER.to_owned(),
            ),
        ])),
        ..ObjectMeta::default()
    }
}

/// The tenant namespace's guard rails: no load balancers or node ports
/// (clusters are reached through the platform's ingress), and bounded counts.
fn quota(cluster: &Tracked, namespace: &str) -> ResourceQuota {
    let hard = [
        ("pods", "200"),
        ("persistentvolumeclaims", "200"),
        ("services.loadbalancers", "0"),
        ("services.nodeports", "0"),
    ];
    ResourceQuota {
        metadata: meta("quartermaster", Some(namespace), cluster),
        spec: Some(ResourceQuotaSpec {
            hard: Some(
                hard.iter()
                    .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
                    .collect(),
            ),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

/// Nothing gets in unless a cluster's own policy lets it.
fn default_deny(cluster: &Tracked, namespace: &str) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta("default-deny", Some(namespace), cluster),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ..NetworkPolicySpec::default()
        }),
    }
}

impl KubernetesPlane {
    pub fn new(client: Client) -> Self {
        KubernetesPlane { client }
    }

    async fn apply<K>(&self, api: Api<K>, object: &K) -> Result<(), kube::Error>
    where
        K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    {
        let name = object.meta().name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(object),
        )
        .await
        .map(|_| ())
    }

    pub async fn apply_cluster(
        &self,
        cluster: &Tracked,
        spec: VectorClusterSpec,
    ) -> Result<(), kube::Error> {
        let ns = namespace_of(cluster);
        let namespace = Namespace {
            metadata: meta(&ns, None, cluster),
            ..Namespace::default()
        };
        self.apply(Api::all(self.client.clone()), &namespace)
            .await?;
        self.apply(
            Api::namespaced(self.client.clone(), &ns),
            &quota(cluster, &ns),
        )
        .await?;
        self.apply(
            Api::namespaced(self.client.clone(), &ns),
            &default_deny(cluster, &ns),
        )
        .await?;
        let mut resource = VectorCluster::new(&cluster.name, spec);
        resource.metadata = meta(&cluster.name, Some(&ns), cluster);
        if let Some(labels) = resource.metadata.labels.as_mut() {
            labels.insert(LABEL_CLUSTER_ID.to_owned(), cluster.id.to_string());
        }
        self.apply(Api::namespaced(self.client.clone(), &ns), &resource)
            .await
    }

    pub async fn observe(&self, cluster: &Tracked) -> Result<Option<Observed>, kube::Error> {
        let api: Api<VectorCluster> = Api::namespaced(self.client.clone(), &namespace_of(cluster));
        let Some(resource) = api.get_opt(&cluster.name).await? else {
            return Ok(None);
        };
        let Some(status) = resource.status else {
            return Ok(None);
        };
        // The operator has acted on what we last applied once its
        // observedGeneration reaches the resource's generation.
        let caught_up = status.observed_generation.is_some()
            && status.observed_generation == resource.metadata.generation;
        Ok(Some(Observed {
            phase: status.phase,
            observed_generation: if caught_up {
                cluster.applied_generation
            } else {
                cluster.observed_generation
            },
            current_version: status.current_version,
            ready_nodes: i32::try_from(status.ready_nodes).unwrap_or(i32::MAX),
            endpoint: status.endpoint,
            conditions: serde_json::to_value(&status.conditions).unwrap_or_default(),
        }))
    }

    /// Asks for deletion; `true` once the resource (and so its finalizer's
    /// cleanup) is gone.
    pub async fn delete(&self, cluster: &Tracked) -> Result<bool, kube::Error> {
        let api: Api<VectorCluster> = Api::namespaced(self.client.clone(), &namespace_of(cluster));
        match api.get_opt(&cluster.name).await? {
            None => Ok(true),
            Some(resource) => {
                if resource.metadata.deletion_timestamp.is_none() {
                    api.delete(&cluster.name, &DeleteParams::default()).await?;
                }
                Ok(false)
            }
        }
    }
}
