//! Writing children: server-side apply as the operator's field manager, and
//! which refusals a pass reports in the status instead of retrying at once.
//! Shared by the `VectorCluster` and `InferenceEndpoint` reconcilers and the
//! backup controllers. A child the watches show as last applied, undrifted,
//! is not applied again (see [`crate::children`]).

use futures::try_join;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Context, Error, FIELD_MANAGER};
use crate::build::Desired;
use crate::children::stamp;

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

/// Applies `object` unless the watched child shows it applied and
/// undrifted; a refusal by the apiserver (a 4xx answer) is returned for the
/// status to report, anything else (the apiserver unreachable, a 5xx) is an
/// error that retries the whole pass.
pub(crate) async fn apply_one<K>(
    ctx: &Context,
    namespace: &str,
    object: &K,
) -> Result<Option<Refused>, Error>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
        + 'static,
{
    let name = object.name_any();
    let (stamped, hash) = stamp(object).map_err(Error::Encode)?;
    if !ctx.children.needs_apply::<K>(namespace, &name, hash) {
        return Ok(None);
    }
    let api = Api::<K>::namespaced(ctx.client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    match api.patch(&name, &params, &Patch::Apply(&stamped)).await {
        Ok(answer) => {
            ctx.children
                .applied::<K>(namespace, &name, hash, answer.meta());
            Ok(None)
        }
        Err(kube::Error::Api(refusal)) if (400..500).contains(&refusal.code) => Ok(Some(Refused {
            object: format!("{}/{name}", K::kind(&())),
            message: refusal.message,
        })),
        Err(other) => Err(other.into()),
    }
}

/// Applies every child and returns those the apiserver refused. Each is
/// tried whatever happened to the others, in three stages whose children
/// go at once: the NetworkPolicy and the PDB (they depend on nothing and
/// guard the rest); the ConfigMap, the Secret and the Services; then the
/// StatefulSet, which mounts the ConfigMap and Secret. The destructuring
/// names every field: a child added to [`Desired`] that is not applied does
/// not compile.
pub async fn apply_children(
    ctx: &Context,
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
    // Each name is rebound to the refusal, if any, of the object it named.
    let (network_policy, pdb) = try_join!(
        apply_one(ctx, namespace, &network_policy),
        apply_one(ctx, namespace, &pdb),
    )?;
    let (config_map, secret, headless_service, client_service) = try_join!(
        apply_one(ctx, namespace, &config_map),
        apply_one(ctx, namespace, &secret),
        apply_one(ctx, namespace, &headless_service),
        apply_one(ctx, namespace, &client_service),
    )?;
    let statefulset = apply_one(ctx, namespace, &statefulset).await?;
    Ok([
        network_policy,
        pdb,
        config_map,
        secret,
        headless_service,
        client_service,
        statefulset,
    ]
    .into_iter()
    .flatten()
    .collect())
}
