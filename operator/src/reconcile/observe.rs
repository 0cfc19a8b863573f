//! What the reconciler reads from the API server, reduced to the facts the
//! pure decisions need.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;

use super::rollout::{Existing, PodState};
use crate::build::TEMPLATE_HASH_ANNOTATION;

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
