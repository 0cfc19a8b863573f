//! Writing children: server-side apply as the operator's field manager, and
//! which refusals a pass reports in the status instead of retrying at once.
//! Shared by the `VectorCluster` and `InferenceEndpoint` reconcilers and the
//! backup controllers.

use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Error, FIELD_MANAGER};
use crate::build::Desired;

pub(super) async fn server_side_apply<K>(api: &Api<K>, name: &str, object: &K) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(name, &params, &Patch::Apply(object)).await?;
    Ok(())
}

/// A child the apiserver refused to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// `Kind/name`, as `kubectl` names it.
    pub object: String,
    /// The apiserver's own message.
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.message)
    }
}

/// Applies `object`; a refusal by the apiserver (a 4xx answer) is returned
/// for the status to report, anything else (the apiserver unreachable, a
/// 5xx) is an error that retries the whole pass.
pub(crate) async fn apply_one<K>(
    client: &Client,
    namespace: &str,
    object: &K,
) -> Result<Option<Refused>, Error>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api = Api::<K>::namespaced(client.clone(), namespace);
    match server_side_apply(&api, &object.name_any(), object).await {
        Ok(()) => Ok(None),
        Err(Error::Kube(kube::Error::Api(refusal))) if (400..500).contains(&refusal.code) => {
            Ok(Some(Refused {
                object: format!(
                    "{}/{}",
                    K::kind(&K::DynamicType::default()),
                    object.name_any()
                ),
                message: refusal.message,
            }))
        }
        Err(other) => Err(other),
    }
}

/// Applies every child and returns those the apiserver refused. Each is
/// tried whatever happened to the others: the NetworkPolicy and the PDB
/// first (they depend on nothing and guard the rest), the ConfigMap and
/// Secret before the StatefulSet that mounts them. The destructuring names
/// every field: a child added to [`Desired`] that is not applied does not
/// compile.
pub(super) async fn apply_children(
    client: &Client,
    namespace: &str,
    desired: Desired,
) -> Result<Vec<Refused>, Error> {
    let Desired {
        config_map,
        secret,
        headless_service,
        client_service,
        statefulset,
        pdb,
        network_policy,
    } = desired;
    let refused = [
        apply_one(client, namespace, &network_policy).await?,
        apply_one(client, namespace, &pdb).await?,
        apply_one(client, namespace, &config_map).await?,
        apply_one(client, namespace, &secret).await?,
        apply_one(client, namespace, &headless_service).await?,
        apply_one(client, namespace, &client_service).await?,
        apply_one(client, namespace, &statefulset).await?,
    ];
    Ok(refused.into_iter().flatten().collect())
}
