//! Entitlements: may this organization, on this plan, do this?
//!
//! Pure decisions. The caller gathers the facts (plan, current counts) inside
//! the transaction that will act on the answer, so two concurrent requests
//! cannot both pass a limit that only one fits under.

use serde::Serialize;

use crate::catalog::{BackupEntitlement, Plan};

/// The parts of a vector cluster that a plan limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterShape {
    pub nodes: u32,
    pub replication_factor: u32,
    /// Volume size per node.
    pub storage_gib: u32,
}

impl ClusterShape {
    fn storage_gib_total(self) -> u64 {
        u64::from(self.nodes) * u64::from(self.storage_gib)
    }
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
    if plan.storage_hard_cap && shape.storage_gib_total() > u64::from(plan.included_storage_gib) {
        return Err(Denial {
            limit: "included_storage_gib",
            field: Some("storage_gib"),
            message: format!(
                "The {} plan includes {} GiB of storage in all; {} GiB were requested. \
                 Upgrade your plan for more.",
                plan.name,
                plan.included_storage_gib,
                shape.storage_gib_total()
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

/// A backup schedule as a plan limits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupRequest {
    /// The shortest time between two scheduled backups, in minutes.
    pub min_interval_minutes: i64,
    pub retention_days: u32,
}

fn no_backups(plan: &Plan) -> Denial {
    Denial {
        limit: "backups",
        field: None,
        message: format!(
            "The {} plan does not include backups; upgrade to Starter for daily backups.",
            plan.name
        ),
    }
}

/// May a cluster's backups be proven by a test restore into a throwaway
/// cluster? With the plans that schedule backups freely: Business.
pub fn may_verify_backups(plan: &Plan) -> Result<(), Denial> {
    if plan.backups == BackupEntitlement::Scheduled {
        return Ok(());
    }
    Err(Denial {
        limit: "backup_verification",
        field: Some("verify"),
        message: format!(
            "The {} plan does not verify backups; test restores come with Business.",
            plan.name
        ),
    })
}

/// May a cluster hold its upgrades to a maintenance window? Business only.
pub fn may_use_maintenance_window(plan: &Plan) -> Result<(), Denial> {
    if plan.maintenance_windows {
        return Ok(());
    }
    Err(Denial {
        limit: "maintenance_window",
        field: Some("maintenance_window"),
        message: format!(
            "The {} plan upgrades as soon as a change is made; maintenance windows come with Business.",
            plan.name
        ),
    })
}

/// May a cluster be backed up on this schedule and keep backups this long?
/// Starter: daily at most, 7 days kept; business: hourly or any cron, 30
/// days kept.
pub fn may_schedule_backups(plan: &Plan, request: BackupRequest) -> Result<(), Denial> {
    let (min_minutes, max_days, every) = match plan.backups {
        BackupEntitlement::None => return Err(no_backups(plan)),
        BackupEntitlement::Daily => (24 * 60, 7, "daily"),
        BackupEntitlement::Scheduled => (60, 30, "hourly"),
    };
    if request.min_interval_minutes < min_minutes {
        return Err(Denial {
            limit: "backup_schedule",
            field: Some("schedule"),
            message: format!(
                "The {} plan backs up at most {every}; this schedule runs every {} minutes.",
                plan.name, request.min_interval_minutes
            ),
        });
    }
    if request.retention_days > max_days {
        return Err(Denial {
            limit: "backup_retention",
            field: Some("retention_days"),
            message: format!(
                "The {} plan keeps backups up to {max_days} days; {} were requested.",
                plan.name, request.retention_days
            ),
        });
    }
    Ok(())
}

/// May a backup be taken by hand?
pub fn may_take_backup(plan: &Plan) -> Result<(), Denial> {
    match plan.backups {
        BackupEntitlement::None => Err(no_backups(plan)),
        BackupEntitlement::Daily | BackupEntitlement::Scheduled => Ok(()),
    }
}

/// May a backup be restored into a new cluster? A business feature.
pub fn may_restore(plan: &Plan) -> Result<(), Denial> {
    match plan.backups {
        BackupEntitlement::Scheduled => Ok(()),
        BackupEntitlement::None | BackupEntitlement::Daily => Err(Denial {
            limit: "restore",
            field: None,
            message: format!(
                "The {} plan does not include restoring into a new cluster; upgrade to Business.",
                plan.name
            ),
        }),
    }
}

/// What an organization holds, to check against another plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    pub clusters: Vec<ClusterShape>,
    /// GPUs per replica of each inference endpoint.
    pub endpoint_gpus: Vec<u32>,
    /// Clusters that hold their upgrades to a maintenance window.
    pub maintenance_windows: u32,
    /// Clusters whose backups are proven by test restores.
    pub verified_backups: u32,
    /// The backup schedules of its clusters.
    pub backup_policies: Vec<BackupRequest>,
}

/// May an organization holding `holdings` move to `plan`? A downgrade is
/// refused while something it holds would be over the new plan's limits.
pub fn may_change_plan(plan: &Plan, holdings: &Holdings) -> Result<(), Denial> {
    let count = u32::try_from(holdings.clusters.len()).unwrap_or(u32::MAX);
    if let Some(max) = plan.max_vector_clusters
        && count > max
    {
        return Err(Denial {
            limit: "max_vector_clusters",
            field: Some("plan"),
            message: format!(
                "The {} plan allows {max} vector cluster{}; this organization has {count}. \
                 Delete some before changing plans.",
                plan.name,
                plural(max)
            ),
        });
    }
    let in_the_way = |denial: Denial| Denial {
        field: Some("plan"),
        message: format!("{} Change or delete it first.", denial.message),
        ..denial
    };
    for shape in &holdings.clusters {
        may_shape_cluster(plan, *shape).map_err(in_the_way)?;
    }
    for gpus in &holdings.endpoint_gpus {
        may_use_gpus(plan, *gpus).map_err(in_the_way)?;
    }
    for policy in &holdings.backup_policies {
        may_schedule_backups(plan, *policy).map_err(in_the_way)?;
    }
    if holdings.maintenance_windows > 0 {
        may_use_maintenance_window(plan).map_err(|d| {
            held_by(
                d,
                holdings.maintenance_windows,
                ["has one: remove it", "have one: remove them"],
            )
        })?;
    }
    if holdings.verified_backups > 0 {
        may_verify_backups(plan).map_err(|d| {
            held_by(
                d,
                holdings.verified_backups,
                [
                    "has its backups tested: turn it off",
                    "have their backups tested: turn them off",
                ],
            )
        })?;
    }
    Ok(())
}

/// `denial` of a feature `count` of the organization's clusters use, with
/// what they hold and what to do first, for one cluster and for several.
fn held_by(denial: Denial, count: u32, [one, several]: [&str; 2]) -> Denial {
    Denial {
        field: Some("plan"),
        message: format!(
            "{} {count} cluster{} of this organization {} first.",
            denial.message,
            plural(count),
            if count == 1 { one } else { several },
        ),
        ..denial
    }
}

/// Whether a cluster storing `bytes` is over a hard-capped plan's allowance;
/// the reason to show when it is.
pub fn over_storage_cap(plan: &Plan, bytes: u64) -> Option<String> {
    let cap = u64::from(plan.included_storage_gib) << 30;
    (plan.storage_hard_cap && bytes > cap).then(|| {
        format!(
            "This cluster stores {:.2} GiB, over the {} GiB the {} plan includes. It is \
             suspended (data is kept) until it is back under the limit or the plan is upgraded.",
            bytes as f64 / f64::from(1u32 << 30),
            plan.included_storage_gib,
            plan.name
        )
    })
}

/// Whether a period's usage charges so far are over the organization's
/// spend limit; the reason to show when they are.
pub fn over_spend_limit(limit_minor: i64, usage_minor: i64, currency: &str) -> Option<String> {
    (usage_minor > limit_minor).then(|| {
        format!(
            "Usage this period has reached {}, over the spend limit of {}. Resources are \
             suspended (data is kept) until the limit is raised or the next period starts.",
            crate::money::format(usage_minor, currency),
            crate::money::format(limit_minor, currency)
        )
    })
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
        storage_gib: 1,
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
            storage_gib: 1,
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
            storage_gib: 100,
        };
        assert_eq!(may_create_cluster(&starter, 4, ok), Ok(()));
        assert_eq!(
            may_create_cluster(&starter, 5, ok).unwrap_err().limit,
            "max_vector_clusters"
        );
        let too_replicated = ClusterShape {
            nodes: 3,
            replication_factor: 3,
            storage_gib: 10,
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
            storage_gib: 1000,
        };
        assert_eq!(may_create_cluster(&business, 10_000, big), Ok(()));
        let too_big = ClusterShape {
            nodes: 17,
            replication_factor: 3,
            storage_gib: 10,
        };
        assert!(may_create_cluster(&business, 0, too_big).is_err());
    }

    #[test]
    fn the_free_plan_caps_storage_at_admission_and_paid_plans_do_not() {
        let ten = ClusterShape {
            storage_gib: 10,
            ..SMALL
        };
        let denial = may_create_cluster(&plan("free"), 0, ten).unwrap_err();
        assert_eq!(
            (denial.limit, denial.field),
            ("included_storage_gib", Some("storage_gib"))
        );
        assert!(
            denial
                .message
                .contains("includes 1 GiB of storage in all; 10 GiB")
        );
        assert_eq!(may_create_cluster(&plan("starter"), 0, ten), Ok(()));
    }

    #[test]
    fn a_downgrade_is_refused_while_holdings_exceed_the_new_plan() {
        let holdings = Holdings {
            clusters: vec![SMALL, SMALL],
            ..Holdings::default()
        };
        let denial = may_change_plan(&plan("free"), &holdings).unwrap_err();
        assert_eq!(denial.limit, "max_vector_clusters");
        assert_eq!(denial.field, Some("plan"));
        let gpus = Holdings {
            clusters: vec![SMALL],
            endpoint_gpus: vec![4],
            ..Holdings::default()
        };
        let denial = may_change_plan(&plan("starter"), &gpus).unwrap_err();
        assert_eq!(denial.limit, "max_gpus_per_endpoint");
        assert!(denial.message.ends_with("Change or delete it first."));
        assert_eq!(may_change_plan(&plan("business"), &gpus), Ok(()));
        assert_eq!(may_change_plan(&plan("free"), &Holdings::default()), Ok(()));
        let windows = Holdings {
            clusters: vec![SMALL, SMALL],
            maintenance_windows: 2,
            ..Holdings::default()
        };
        let denial = may_change_plan(&plan("starter"), &windows).unwrap_err();
        assert_eq!(
            (denial.limit, denial.field),
            ("maintenance_window", Some("plan"))
        );
        assert!(
            denial
                .message
                .ends_with("2 clusters of this organization have one: remove them first."),
            "{}",
            denial.message
        );
        assert_eq!(may_change_plan(&plan("business"), &windows), Ok(()));
        let verified = Holdings {
            clusters: vec![SMALL],
            verified_backups: 1,
            ..Holdings::default()
        };
        let denial = may_change_plan(&plan("starter"), &verified).unwrap_err();
        assert_eq!(
            (denial.limit, denial.field),
            ("backup_verification", Some("plan"))
        );
        assert!(
            denial.message.ends_with(
                "1 cluster of this organization has its backups tested: turn it off first."
            ),
            "{}",
            denial.message
        );
        let hourly = Holdings {
            clusters: vec![SMALL],
            backup_policies: vec![BackupRequest {
                min_interval_minutes: 60,
                retention_days: 7,
            }],
            ..Holdings::default()
        };
        let denial = may_change_plan(&plan("starter"), &hourly).unwrap_err();
        assert_eq!(
            (denial.limit, denial.field),
            ("backup_schedule", Some("plan"))
        );
        let denial = may_change_plan(&plan("free"), &hourly).unwrap_err();
        assert_eq!(denial.limit, "backups");
        assert_eq!(may_change_plan(&plan("business"), &hourly), Ok(()));
    }

    #[test]
    fn storage_and_spend_over_their_limits_give_a_reason() {
        let free = plan("free");
        assert_eq!(over_storage_cap(&free, 1 << 30), None);
        let reason = over_storage_cap(&free, (1 << 30) + (1 << 29)).unwrap();
        assert!(
            reason.starts_with("This cluster stores 1.50 GiB, over the 1 GiB"),
            "{reason}"
        );
        assert_eq!(over_storage_cap(&plan("starter"), 1 << 40), None);
        assert_eq!(over_spend_limit(5000, 5000, "usd"), None);
        let reason = over_spend_limit(5000, 5001, "usd").unwrap();
        assert!(
            reason.starts_with(
                "Usage this period has reached $50.01, over the spend limit of $50.00"
            )
        );
    }

    #[test]
    fn backups_follow_the_tiers() {
        let daily = BackupRequest {
            min_interval_minutes: 24 * 60,
            retention_days: 7,
        };
        assert_eq!(
            may_schedule_backups(&plan("free"), daily)
                .unwrap_err()
                .limit,
            "backups"
        );
        assert_eq!(may_schedule_backups(&plan("starter"), daily), Ok(()));
        let hourly = BackupRequest {
            min_interval_minutes: 60,
            retention_days: 7,
        };
        let denial = may_schedule_backups(&plan("starter"), hourly).unwrap_err();
        assert_eq!(
            (denial.limit, denial.field),
            ("backup_schedule", Some("schedule"))
        );
        assert_eq!(may_schedule_backups(&plan("business"), hourly), Ok(()));
        let long = BackupRequest {
            min_interval_minutes: 60,
            retention_days: 31,
        };
        assert!(
            may_schedule_backups(&plan("business"), long)
                .unwrap_err()
                .message
                .contains("up to 30 days; 31 were")
        );
        assert!(may_take_backup(&plan("free")).is_err());
        assert_eq!(may_take_backup(&plan("starter")), Ok(()));
        assert!(may_restore(&plan("starter")).is_err());
        assert_eq!(may_restore(&plan("business")), Ok(()));
    }

    #[test]
    fn only_business_holds_upgrades_to_a_maintenance_window() {
        assert_eq!(may_use_maintenance_window(&plan("business")), Ok(()));
        for id in ["free", "starter"] {
            let denial = may_use_maintenance_window(&plan(id)).unwrap_err();
            assert_eq!(
                (denial.limit, denial.field),
                ("maintenance_window", Some("maintenance_window"))
            );
        }
    }

    #[test]
    fn only_business_proves_backups_by_test_restores() {
        assert_eq!(may_verify_backups(&plan("business")), Ok(()));
        for id in ["free", "starter"] {
            let denial = may_verify_backups(&plan(id)).unwrap_err();
            assert_eq!(
                (denial.limit, denial.field),
                ("backup_verification", Some("verify"))
            );
        }
    }
}
