//! A Kubernetes data plane: each organization gets a namespace with a
//! ResourceQuota and a default-deny NetworkPolicy, and each cluster a
//! `VectorCluster` applied with server-side apply (field manager
//! `quartermaster`). The operator running there does the rest.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crds::backup::VectorClusterBackup;
use crds::inference_endpoint::{InferenceEndpoint, InferenceEndpointSpec};
use crds::names::WAKE_ANNOTATION;
use crds::tenant;
use crds::vector_cluster::VectorCluster;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::observed::{Observed, acted};

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

pub use crds::tenant::{BACKUP_CREDENTIALS_SECRET, FIELD_MANAGER, namespace_of};

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

impl std::fmt::Debug for KubernetesPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubernetesPlane")
    }
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
        let baseline = tenant::baseline(organization_id);
        self.apply(Api::all(self.client.clone()), &baseline.namespace)
            .await?;
        self.apply(Api::namespaced(self.client.clone(), &ns), &baseline.quota)
            .await?;
        self.apply(
            Api::namespaced(self.client.clone(), &ns),
            &baseline.default_deny,
        )
        .await?;
        if let Some(c) = &self.backup_credentials {
            let secret =
                tenant::backup_credentials(organization_id, &c.access_key_id, &c.secret_access_key);
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
        let annotations = resource.meta_mut().annotations.take();
        let finalizers = resource.meta_mut().finalizers.take();
        *resource.meta_mut() = tenant::resource_meta(&name, organization_id, id, annotations);
        resource.meta_mut().finalizers = finalizers;
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
        let acted = acted(resource.metadata.generation, status.observed_generation);
        Ok(Some(Observed::of(status, acted, applied, previous)))
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
