//! What the reconciler reads from the API server, reduced to the facts the
//! pure decisions need.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::api::ListParams;

use super::rollout::{Existing, PodState};
use super::volumes::{Claim, Volume};
use super::{Context, Error};
use crate::build::{STORAGE_VOLUME, TEMPLATE_HASH_ANNOTATION};
use crate::names::Names;
use crate::quantity;

/// Waiting reasons that will not fix themselves.
const FAILING: [&str; 5] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "InvalidImageName",
];

/// `ready_nodes` is [`ready_nodes`]: pods are the one source of readiness,
/// never the StatefulSet's `readyReplicas`, which lags behind them.
pub fn existing(
    sts: Option<&StatefulSet>,
    desired_template_hash: &str,
    ready_nodes: u32,
) -> Option<Existing> {
    let sts = sts?;
    let current_hash = sts
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TEMPLATE_HASH_ANNOTATION));
    let status = sts.status.as_ref();
    let partition = sts
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0);
    Some(Existing {
        template_current: current_hash.map(String::as_str) == Some(desired_template_hash),
        observed: status.and_then(|s| s.observed_generation) == sts.metadata.generation,
        partition: u32::try_from(partition).unwrap_or(0),
        ready_replicas: ready_nodes,
    })
}

/// Nodes that serve: desired ordinals whose pod is Ready.
pub fn ready_nodes(pods: &[PodState], replicas: u32) -> u32 {
    let ready = pods.iter().filter(|p| p.ordinal < replicas && p.ready);
    u32::try_from(ready.count()).unwrap_or(u32::MAX)
}

pub fn update_revision(sts: Option<&StatefulSet>) -> Option<&str> {
    sts?.status.as_ref()?.update_revision.as_deref()
}

pub fn pods(pods: &[Pod], statefulset: &str, update_revision: Option<&str>) -> Vec<PodState> {
    pods.iter()
        .filter_map(|pod| {
            let name = pod.metadata.name.as_deref()?;
            let ordinal = name
                .strip_prefix(statefulset)?
                .strip_prefix('-')?
                .parse()
                .ok()?;
            let revision = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("controller-revision-hash"))
                .map(String::as_str);
            let status = pod.status.as_ref();
            let ready = status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            let failure = status
                .and_then(|s| s.container_statuses.as_ref())
                .into_iter()
                .flatten()
                .find_map(|c| {
                    let waiting = c.state.as_ref()?.waiting.as_ref()?.reason.as_deref()?;
                    FAILING.contains(&waiting).then(|| waiting.to_owned())
                });
            Some(PodState {
                ordinal,
                ready,
                updated: revision.is_some() && revision == update_revision,
                failure,
            })
        })
        .collect()
}

/// The claim template the StatefulSet has now.
pub fn claim(sts: &StatefulSet) -> Option<Claim> {
    let template = sts
        .spec
        .as_ref()?
        .volume_claim_templates
        .as_ref()?
        .iter()
        .find(|t| t.metadata.name.as_deref() == Some(STORAGE_VOLUME))?;
    let spec = template.spec.as_ref()?;
    let size = spec.resources.as_ref()?.requests.as_ref()?.get("storage")?;
    Some(Claim {
        gib: quantity::gib(&size.0)?,
        class: spec.storage_class_name.clone(),
    })
}

/// The volumes of a cluster and whether their StorageClass can grow them.
#[derive(Debug, Default)]
pub struct Volumes {
    pub volumes: Vec<Volume>,
    /// The class the claims were bound with (the default's name, when the
    /// spec named none).
    pub class: Option<String>,
    pub expandable: Option<bool>,
}

/// Reads the cluster's claims (`storage-<statefulset>-<ordinal>`) and their
/// StorageClass: only when the spec asks for other volumes than it has.
pub async fn volumes(ctx: &Context, namespace: &str, names: &Names) -> Result<Volumes, Error> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    let prefix = format!("{STORAGE_VOLUME}-{}-", names.statefulset);
    let listed = claims
        .list(&ListParams::default().labels(&names.selector_string()))
        .await?
        .items;
    let size = |q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>| {
        q.and_then(|q| quantity::gib(&q.0)).unwrap_or(0)
    };
    let mut class = None;
    let mut volumes = Vec::new();
    for claim in &listed {
        let Some(name) = claim.metadata.name.as_deref() else {
            continue;
        };
        let ordinal = name.strip_prefix(&prefix).map(str::parse::<u32>);
        if !matches!(ordinal, Some(Ok(_))) {
            continue;
        }
        let spec = claim.spec.as_ref();
        if class.is_none() {
            class = spec.and_then(|s| s.storage_class_name.clone());
        }
        volumes.push(Volume {
            name: name.to_owned(),
            requested_gib: size(
                spec.and_then(|s| s.resources.as_ref())
                    .and_then(|r| r.requests.as_ref())
                    .and_then(|r| r.get("storage")),
            ),
            capacity_gib: size(
                claim
                    .status
                    .as_ref()
                    .and_then(|s| s.capacity.as_ref())
                    .and_then(|c| c.get("storage")),
            ),
        });
    }
    let expandable = match &class {
        Some(name) => Api::<StorageClass>::all(ctx.client.clone())
            .get_opt(name)
            .await?
            .map(|c| c.allow_volume_expansion == Some(true)),
        None => None,
    };
    Ok(Volumes {
        volumes,
        class,
        expandable,
    })
}
