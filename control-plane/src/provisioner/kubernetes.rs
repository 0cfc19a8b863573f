//! A Kubernetes data plane: each organization gets a namespace with a
//! ResourceQuota and a default-deny NetworkPolicy, and each cluster a
//! `VectorCluster` applied with server-side apply (field manager
//! `quartermaster`). The operator running there does the rest.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crds::backup::VectorClusterBackup;
use crds::inference_endpoint::{InferenceEndpoint, InferenceEndpointSpec};
use crds::names::{LABEL_TENANT_ID, WAKE_ANNOTATION};
use crds::tenant;
use crds::vector_cluster::VectorCluster;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, ResourceQuotaSpec, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::observed::{Observed, acted_on};

pub const FIELD_MANAGER: &str = "quartermaster";

/// A namespaced resource the provisioner applies, reads and deletes in a
/// tenant's namespace: a custom resource of ours, or a built-in kind.
pub trait TenantResource:
    Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
{
}

impl<K> TenantResource for K where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
{
}
const LABEL_ORGANIZATION: &str = "quartermaster.dev/organization";

#[derive(Clone)]
pub struct KubernetesPlane {
    client: Client,
    backup_credentials: Option<BackupCredentials>,
}

/// The bucket's access key, given to every tenant namespace for its
/// backup Jobs.
#[derive(Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct BackupCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for BackupCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupCredentials(<redacted>)")
    }
}

/// The Secret in each tenant namespace that backup Jobs read.
pub const BACKUP_CREDENTIALS_SECRET: &str = "quartermaster-backup-credentials";

impl std::fmt::Debug for KubernetesPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubernetesPlane")
    }
}

/// The namespace that holds an organization's clusters and endpoints.
pub fn namespace_of(organization_id: Uuid) -> String {
    format!("qm-{}", organization_id.simple())
}

fn meta(name: &str, namespace: Option<&str>, organization_id: Uuid) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(BTreeMap::from([
            (LABEL_ORGANIZATION.to_owned(), organization_id.to_string()),
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
fn quota(organization_id: Uuid, namespace: &str) -> ResourceQuota {
    let hard = [
        ("pods", "200"),
        ("persistentvolumeclaims", "200"),
        ("services.loadbalancers", "0"),
        ("services.nodeports", "0"),
    ];
    ResourceQuota {
        metadata: meta("quartermaster", Some(namespace), organization_id),
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

/// Nothing gets in unless a cluster's or an endpoint's own policy lets it
/// (the operator's policies, checked together by its policy tests).
fn default_deny(organization_id: Uuid, namespace: &str) -> NetworkPolicy {
    tenant::default_deny(meta("default-deny", Some(namespace), organization_id))
}

impl KubernetesPlane {
    pub fn new(client: Client) -> Self {
        KubernetesPlane {
            client,
            backup_credentials: None,
        }
    }

    /// Also writes `credentials` into each tenant namespace it prepares.
    pub fn with_backup_credentials(mut self, credentials: Option<BackupCredentials>) -> Self {
        self.backup_credentials = credentials;
        self
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

    /// The organization's namespace with its quota and default-deny policy.
    async fn prepare_namespace(&self, organization_id: Uuid) -> Result<String, kube::Error> {
        let ns = namespace_of(organization_id);
        let namespace = Namespace {
            metadata: meta(&ns, None, organization_id),
            ..Namespace::default()
        };
        self.apply(Api::all(self.client.clone()), &namespace)
            .await?;
        self.apply(
            Api::namespaced(self.client.clone(), &ns),
            &quota(organization_id, &ns),
        )
        .await?;
        self.apply(
            Api::namespaced(self.client.clone(), &ns),
            &default_deny(organization_id, &ns),
        )
        .await?;
        if let Some(credentials) = &self.backup_credentials {
            let secret = Secret {
                metadata: meta(BACKUP_CREDENTIALS_SECRET, Some(&ns), organization_id),
                type_: Some("Opaque".to_owned()),
                string_data: Some(BTreeMap::from([
                    (
                        "AWS_ACCESS_KEY_ID".to_owned(),
                        credentials.access_key_id.clone(),
                    ),
                    (
                        "AWS_SECRET_ACCESS_KEY".to_owned(),
                        credentials.secret_access_key.clone(),
                    ),
                ])),
                ..Secret::default()
            };
            self.apply(Api::namespaced(self.client.clone(), &ns), &secret)
                .await?;
        }
        Ok(ns)
    }

    /// Applies a tenant's resource (a cluster, a backup taken by hand, a
    /// restore: the operator does the rest) into its namespace, labelled
    /// with its id, keeping the resource's own annotations.
    pub async fn apply_tenant<K>(
        &self,
        organization_id: Uuid,
        id: Uuid,
        mut resource: K,
    ) -> Result<(), kube::Error>
    where
        K: TenantResource,
    {
        let ns = self.prepare_namespace(organization_id).await?;
        let name = resource.meta().name.clone().unwrap_or_default();
        let mut metadata = meta(&name, Some(&ns), organization_id);
        if let Some(labels) = metadata.labels.as_mut() {
            labels.insert(LABEL_TENANT_ID.to_owned(), id.to_string());
        }
        metadata.annotations = resource.meta_mut().annotations.take();
        *resource.meta_mut() = metadata;
        self.apply(Api::namespaced(self.client.clone(), &ns), &resource)
            .await
    }

    /// An endpoint, with the time of a wake asked for (the operator scales
    /// it up from zero when the annotation changes).
    pub async fn apply_endpoint(
        &self,
        organization_id: Uuid,
        id: Uuid,
        name: &str,
        spec: InferenceEndpointSpec,
        wake_requested_at: Option<DateTime<Utc>>,
    ) -> Result<(), kube::Error> {
        let mut resource = InferenceEndpoint::new(name, spec);
        resource.metadata.annotations = wake_requested_at
            .map(|t| BTreeMap::from([(WAKE_ANNOTATION.to_owned(), t.to_rfc3339())]));
        self.apply_tenant(organization_id, id, resource).await
    }

    /// The backups the operator took of a cluster (by schedule or before
    /// an upgrade).
    pub async fn backups_of(
        &self,
        organization_id: Uuid,
        cluster: &str,
    ) -> Result<Vec<VectorClusterBackup>, kube::Error> {
        let api: Api<VectorClusterBackup> =
            Api::namespaced(self.client.clone(), &namespace_of(organization_id));
        let selector = format!("{}={cluster}", crds::names::LABEL_CLUSTER);
        Ok(api
            .list(&kube::api::ListParams::default().labels(&selector))
            .await?
            .items)
    }

    /// A tenant resource, if it exists.
    pub async fn get<K>(&self, organization_id: Uuid, name: &str) -> Result<Option<K>, kube::Error>
    where
        K: TenantResource,
    {
        Api::<K>::namespaced(self.client.clone(), &namespace_of(organization_id))
            .get_opt(name)
            .await
    }

    /// What the operator reports of cluster `name`; `applied` is the
    /// generation last applied, `previous` the one it had acted on before.
    pub async fn observe(
        &self,
        organization_id: Uuid,
        name: &str,
        applied: i64,
        previous: i64,
    ) -> Result<Option<Observed>, kube::Error> {
        let Some(resource) = self.get::<VectorCluster>(organization_id, name).await? else {
            return Ok(None);
        };
        let Some(status) = resource.status else {
            return Ok(None);
        };
        Ok(Some(Observed {
            phase: status.phase,
            observed_generation: acted_on(
                resource.metadata.generation,
                status.observed_generation,
                applied,
                previous,
            ),
            current_version: status.current_version,
            ready_nodes: i32::try_from(status.ready_nodes).unwrap_or(i32::MAX),
            endpoint: status.endpoint,
            conditions: serde_json::to_value(&status.conditions).unwrap_or_default(),
            placement: status.placement,
            last_verified: status.backups.and_then(|b| b.last_verified),
        }))
    }

    /// Asks for deletion of a tenant's resource; `true` once it (and so
    /// its finalizer's cleanup) is gone.
    pub async fn delete<K>(&self, organization_id: Uuid, name: &str) -> Result<bool, kube::Error>
    where
        K: TenantResource,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &namespace_of(organization_id));
        match api.get_opt(name).await? {
            None => Ok(true),
            Some(resource) => {
                if resource.meta().deletion_timestamp.is_none() {
                    api.delete(name, &DeleteParams::default()).await?;
                }
                Ok(false)
            }
        }
    }
}
