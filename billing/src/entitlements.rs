//! Entitlements: may this organization, on this plan, do this?
//!
//! Pure decisions. The caller gathers the facts (plan, current counts) inside
//! the transaction that will act on the answer, so two concurrent requests
//! cannot both pass a limit that only one fits under.

use serde::Serialize;

use crate::catalog::Plan;

/// The parts of a vector cluster that a plan limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterShape {
    pub nodes: u32,
    pub replication_factor: u32,
}

/// Why a plan refuses something, worded for the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Denial {
    /// The plan limit that was hit, stable for programs: `max_vector_clusters`, …
    pub limit: &'static str,
    /// The field of the request that went over it, where there is one.
    pub field: Option<&'static str>,
    pub message: String,
}

/// May an organization that has `existing_clusters` vector clusters create
/// one more of `shape`?
pub fn may_create_cluster(
    plan: &Plan,
    existing_clusters: u32,
    shape: ClusterShape,
) -> Result<(), Denial> {
    if let Some(max) = plan.max_vector_clusters
        && existing_clusters >= max
    {
        return Err(Denial {
            limit: "max_vector_clusters",
            field: None,
            message: format!(
                "The {} plan allows {max} vector cluster{}; this organization has {existing_clusters}. \
                 Delete one or upgrade your plan.",
                plan.name,
                plural(max)
            ),
        });
    }
    may_shape_cluster(plan, shape)
}

/// May a cluster take `shape` (on creation, or when resized)?
pub fn may_shape_cluster(plan: &Plan, shape: ClusterShape) -> Result<(), Denial> {
    if shape.nodes > plan.max_nodes_per_cluster {
        return Err(Denial {
            limit: "max_nodes_per_cluster",
            field: Some("nodes"),
            message: format!(
                "The {} plan allows up to {} node{} per cluster; {} were requested.",
                plan.name,
                plan.max_nodes_per_cluster,
                plural(plan.max_nodes_per_cluster),
                shape.nodes
            ),
        });
    }
    if shape.replication_factor > plan.max_replication_factor {
        return Err(Denial {
            limit: "max_replication_factor",
            field: Some("replication_factor"),
            message: format!(
                "The {} plan allows a replication factor of up to {}; {} was requested.",
                plan.name, plan.max_replication_factor, shape.replication_factor
            ),
        });
    }
    Ok(())
}

/// May an endpoint use `gpus` GPUs per replica on this plan?
pub fn may_use_gpus(plan: &Plan, gpus: u32) -> Result<(), Denial> {
    if plan.max_gpus_per_endpoint == 0 {
        return Err(Denial {
            limit: "max_gpus_per_endpoint",
            field: Some("gpu_count"),
            message: format!(
                "The {} plan does not include GPU inference; upgrade to add endpoints.",
                plan.name
            ),
        });
    }
    if gpus > plan.max_gpus_per_endpoint {
        return Err(Denial {
            limit: "max_gpus_per_endpoint",
            field: Some("gpu_count"),
            message: format!(
                "The {} plan allows up to {} GPU{} per endpoint; {gpus} were requested.",
                plan.name,
                plan.max_gpus_per_endpoint,
                plural(plan.max_gpus_per_endpoint)
            ),
        });
    }
    Ok(())
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Catalog, PlanId};

    fn plan(id: &str) -> Plan {
        Catalog::default_catalog()
            .unwrap()
            .plan(&PlanId::from(id.to_owned()))
            .unwrap()
            .clone()
    }

    const SMALL: ClusterShape = ClusterShape {
        nodes: 1,
        replication_factor: 1,
    };

    #[test]
    fn the_free_plan_allows_exactly_one_single_node_cluster() {
        let free = plan("free");
        assert_eq!(may_create_cluster(&free, 0, SMALL), Ok(()));
        let denial = may_create_cluster(&free, 1, SMALL).unwrap_err();
        assert_eq!(denial.limit, "max_vector_clusters");
        assert_eq!(
            denial.message,
            "The Free plan allows 1 vector cluster; this organization has 1. \
             Delete one or upgrade your plan."
        );
        let three = ClusterShape {
            nodes: 3,
            replication_factor: 1,
        };
        let denial = may_create_cluster(&free, 0, three).unwrap_err();
        assert_eq!(
            (denial.limit, denial.field),
            ("max_nodes_per_cluster", Some("nodes"))
        );
    }

    #[test]
    fn starter_limits_nodes_to_three_and_replication_to_two() {
        let starter = plan("starter");
        let ok = ClusterShape {
            nodes: 3,
            replication_factor: 2,
        };
        assert_eq!(may_create_cluster(&starter, 4, ok), Ok(()));
        assert_eq!(
            may_create_cluster(&starter, 5, ok).unwrap_err().limit,
            "max_vector_clusters"
        );
        let too_replicated = ClusterShape {
            nodes: 3,
            replication_factor: 3,
        };
        let denial = may_shape_cluster(&starter, too_replicated).unwrap_err();
        assert_eq!(denial.field, Some("replication_factor"));
        assert!(denial.message.contains("up to 2; 3 was requested"));
    }

    #[test]
    fn gpus_are_a_paid_feature_bounded_per_plan() {
        let denial = may_use_gpus(&plan("free"), 1).unwrap_err();
        assert_eq!(
            denial.message,
            "The Free plan does not include GPU inference; upgrade to add endpoints."
        );
        assert_eq!(may_use_gpus(&plan("starter"), 1), Ok(()));
        assert!(
            may_use_gpus(&plan("starter"), 2)
                .unwrap_err()
                .message
                .contains("up to 1 GPU per endpoint; 2 were")
        );
        assert_eq!(may_use_gpus(&plan("business"), 8), Ok(()));
        assert!(may_use_gpus(&plan("business"), 9).is_err());
    }

    #[test]
    fn business_has_no_cluster_count_limit() {
        let business = plan("business");
        let big = ClusterShape {
            nodes: 16,
            replication_factor: 3,
        };
        assert_eq!(may_create_cluster(&business, 10_000, big), Ok(()));
        let too_big = ClusterShape {
            nodes: 17,
            replication_factor: 3,
        };
        assert!(may_create_cluster(&business, 0, too_big).is_err());
    }
}
