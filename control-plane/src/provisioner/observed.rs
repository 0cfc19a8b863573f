//! What a data plane reports about a cluster, in the control plane's terms,
//! and what the provisioner writes back of either kind's status.

use serde_json::Value;

use crate::clusters::ClusterPhase;

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub phase: ClusterPhase,
    /// The control plane generation the data plane has acted on.
    pub observed_generation: i64,
    pub current_version: Option<String>,
    pub ready_nodes: i32,
    pub endpoint: Option<String>,
    pub conditions: Value,
    /// Where the shards are, where the data plane has read it.
    pub placement: Option<crds::vector_cluster::Placement>,
    /// How the newest test restore of a backup went.
    pub last_verified: Option<crds::backup::Verification>,
}

/// A status as the provisioner writes it back, in the terms both kinds of
/// resource share.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mirrored<'a> {
    pub phase: &'a str,
    pub observed_generation: i64,
    /// The version a cluster runs, or the revision an endpoint serves.
    pub revision: Option<&'a str>,
    /// A cluster's ready nodes, or an endpoint's ready replicas.
    pub ready: i32,
    pub endpoint: Option<&'a str>,
    pub conditions: &'a Value,
}

/// Whether the operator has acted on a resource's spec: its status's
/// `observedGeneration` reached the resource's own `metadata.generation`.
pub(super) fn acted(generation: Option<i64>, observed: Option<i64>) -> bool {
    observed.is_some() && observed == generation
}

impl Observed {
    /// A cluster's status in the control plane's terms: the generation
    /// last applied once the operator has `acted` on it, else still
    /// `previous`.
    pub(super) fn of(
        status: crds::vector_cluster::VectorClusterStatus,
        acted: bool,
        applied: i64,
        previous: i64,
    ) -> Observed {
        Observed {
            phase: status.phase,
            observed_generation: if acted { applied } else { previous },
            current_version: status.current_version,
            ready_nodes: i32::try_from(status.ready_nodes).unwrap_or(i32::MAX),
            endpoint: status.endpoint,
            conditions: serde_json::to_value(&status.conditions).unwrap_or_default(),
            placement: status.placement,
            last_verified: status.backups.and_then(|b| b.last_verified),
        }
    }
}
