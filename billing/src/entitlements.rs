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

/// An inference key's per-minute limits; `None`: unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLimits {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
}

impl KeyLimits {
    /// What a gateway enforces: each limit the key's own, at most the
    /// plan's cap. A key left unlimited, or made before a downgrade, is
    /// held to the plan in force without being changed.
    pub fn capped_by(self, plan: &Plan) -> KeyLimits {
        let cap = |own: Option<u32>, cap: Option<u32>| match (own, cap) {
            (Some(own), Some(cap)) => Some(own.min(cap)),
            (own, cap) => own.or(cap),
        };
        KeyLimits {
            requests_per_minute: cap(self.requests_per_minute, plan.max_key_requests_per_minute),
            tokens_per_minute: cap(self.tokens_per_minute, plan.max_key_tokens_per_minute),
        }
    }
}

/// May an inference key be given `limits`? Each at most the plan's cap.
pub fn may_limit_inference_key(plan: &Plan, limits: KeyLimits) -> Result<(), Denial> {
    let checks = [
        (
            limits.requests_per_minute,
            plan.max_key_requests_per_minute,
            "max_key_requests_per_minute",
            "requests_per_minute",
            "requests",
        ),
        (
            limits.tokens_per_minute,
            plan.max_key_tokens_per_minute,
            "max_key_tokens_per_minute",
            "tokens_per_minute",
            "tokens",
        ),
    ];
    for (asked, cap, limit, field, what) in checks {
        if let (Some(asked), Some(cap)) = (asked, cap)
            && asked > cap
        {
            return Err(Denial {
                limit,
                field: Some(field),
                message: format!(
                    "The {} plan allows an inference key up to {cap} {what} a minute; {asked} were requested.",
                    plan.name
                ),
            });
        }
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

/// May the organization register a data plane of its own (customer-run)?
/// Business only.
pub fn may_run_data_planes(plan: &Plan) -> Result<(), Denial> {
    if plan.customer_data_planes {
        return Ok(());
    }
    Err(Denial {
        limit: "customer_data_planes",
        field: None,
        message: format!(
            "The {} plan runs clusters in the service's regions only; data planes of your own come with Business.",
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
mod tests;
