//! The writes of the sync loop: a tenant's baseline (the same objects the
//! control plane's push path applies, from `crds::tenant`), its custom
//! resources by server-side apply, and deletions asked for. Nothing is
//! written when the live object already carries what would be applied.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use crds::tenant::{self, FIELD_MANAGER, namespace_of};
use k8s_openapi::api::core::v1::{Namespace, Secret as KubeSecret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::client::Secret;
use super::desired::{APPLIED_HASH_ANNOTATION, hash_of, settled};

/// The bucket's key for tenants' backup Jobs, from a Secret in the
/// operator's namespace.
#[derive(Clone, PartialEq, Eq)]
pub struct BackupKeys {
    pub access_key_id: String,
    pub secret_access_key: Secret,
}

impl Debug for BackupKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupKeys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .finish()
    }
}

/// Reads `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` from Secret
/// `name`; None when it or a key is missing.
pub async fn backup_keys(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<BackupKeys>, kube::Error> {
    let secret = Api::<KubeSecret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await?;
    let value = |key: &str| {
        let secret = secret.as_ref()?;
        let bytes = secret.data.as_ref()?.get(key)?;
        String::from_utf8(bytes.0.clone()).ok()
    };
    Ok(value("AWS_ACCESS_KEY_ID")
        .zip(value("AWS_SECRET_ACCESS_KEY"))
        .map(|(access_key_id, secret)| BackupKeys {
            access_key_id,
            secret_access_key: Secret::new(secret),
        }))
}

pub struct Applier {
    client: kube::Client,
    backup_keys: Option<BackupKeys>,
    /// Organizations whose baseline is known to be in place, by hash.
    settled_baselines: HashMap<Uuid, String>,
}

impl Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("backup_keys", &self.backup_keys)
            .field("settled_baselines", &self.settled_baselines.len())
            .finish_non_exhaustive()
    }
}

fn params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

fn hash_annotation(hash: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(APPLIED_HASH_ANNOTATION.to_owned(), hash.to_owned())])
}

impl Applier {
    pub fn new(client: kube::Client) -> Applier {
        Applier {
            client,
            backup_keys: None,
            settled_baselines: HashMap::new(),
        }
    }

    /// Sets the backup key, and forgets which baselines are in place, so
    /// that the next pass checks each once again (done for every complete
    /// state).
    pub fn refresh(&mut self, backup_keys: Option<BackupKeys>) {
        self.backup_keys = backup_keys;
        self.settled_baselines.clear();
    }

    /// The organization's namespace, quota, default-deny policy and (with
    /// backups configured here) backup key. The namespace carries the hash
    /// of the whole set and is applied with it last, so a pass cut short
    /// is finished next time.
    pub async fn baseline(&mut self, organization_id: Uuid) -> Result<(), kube::Error> {
        let baseline = tenant::baseline(organization_id);
        let secret = self.backup_keys.as_ref().map(|k| {
            tenant::backup_credentials(
                organization_id,
                &k.access_key_id,
                k.secret_access_key.expose(),
            )
        });
        let hash = hash_of(&(
            &baseline.namespace,
            &baseline.quota,
            &baseline.default_deny,
            &secret,
        ));
        if self.settled_baselines.get(&organization_id) == Some(&hash) {
            return Ok(());
        }
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let ns_name = namespace_of(organization_id);
        let live = namespaces.get_opt(&ns_name).await?;
        if !settled(
            live.as_ref().map(|n| &n.metadata),
            &ObjectMeta {
                annotations: Some(hash_annotation(&hash)),
                ..ObjectMeta::default()
            },
        ) {
            if live.is_none() {
                namespaces
                    .patch(&ns_name, &params(), &Patch::Apply(&baseline.namespace))
                    .await?;
            }
            apply(&self.in_namespace(&ns_name), &baseline.quota).await?;
            apply(&self.in_namespace(&ns_name), &baseline.default_deny).await?;
            if let Some(secret) = &secret {
                apply(&self.in_namespace(&ns_name), secret).await?;
            }
            let mut namespace = baseline.namespace.clone();
            namespace.metadata.annotations = Some(hash_annotation(&hash));
            namespaces
                .patch(&ns_name, &params(), &Patch::Apply(&namespace))
                .await?;
        }
        self.settled_baselines.insert(organization_id, hash);
        Ok(())
    }

    fn in_namespace<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Applies `object` unless `live` already carries it; whether it wrote.
    pub async fn apply<K>(&self, object: &K, live: Option<&ObjectMeta>) -> Result<bool, kube::Error>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Serialize
            + Debug,
    {
        if settled(live, object.meta()) {
            return Ok(false);
        }
        let namespace = object.meta().namespace.clone().unwrap_or_default();
        apply(&self.in_namespace(&namespace), object).await?;
        Ok(true)
    }

    /// Deletes `namespace/name` of kind `K`; an absent one is no error.
    pub async fn delete<K>(&self, namespace: &str, name: &str) -> Result<(), kube::Error>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug,
    {
        match self
            .in_namespace::<K>(namespace)
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }
}

async fn apply<K>(api: &Api<K>, object: &K) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    api.patch(&name, &params(), &Patch::Apply(object))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_keys_never_print_the_secret() {
        let keys = BackupKeys {
            access_key_id: "AKIA".to_owned(),
            secret_access_key: Secret::new("wJalrXUtnFEMI"),
        };
        assert!(!format!("{keys:?}").contains("wJalr"));
    }
}
