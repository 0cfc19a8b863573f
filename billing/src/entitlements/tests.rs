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
        denial
            .message
            .ends_with("1 cluster of this organization has its backups tested: turn it off first."),
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
        reason.starts_with("Usage this period has reached $50.01, over the spend limit of $50.00")
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
fn only_business_runs_data_planes_of_its_own() {
    assert_eq!(may_run_data_planes(&plan("business")), Ok(()));
    for id in ["free", "starter"] {
        let denial = may_run_data_planes(&plan(id)).unwrap_err();
        assert_eq!((denial.limit, denial.field), ("customer_data_planes", None));
        assert!(denial.message.contains("Business"), "{}", denial.message);
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

#[test]
fn starter_caps_an_inference_keys_rate_and_business_does_not() {
    let starter = plan("starter");
    let within = KeyLimits {
        requests_per_minute: Some(600),
        tokens_per_minute: Some(200_000),
    };
    assert_eq!(may_limit_inference_key(&starter, within), Ok(()));
    let denial = may_limit_inference_key(
        &starter,
        KeyLimits {
            tokens_per_minute: Some(200_001),
            ..within
        },
    )
    .unwrap_err();
    assert_eq!(
        (denial.limit, denial.field),
        ("max_key_tokens_per_minute", Some("tokens_per_minute"))
    );
    assert_eq!(
        denial.message,
        "The Starter plan allows an inference key up to 200000 tokens a minute; 200001 were requested."
    );
    let denial = may_limit_inference_key(
        &starter,
        KeyLimits {
            requests_per_minute: Some(601),
            ..within
        },
    )
    .unwrap_err();
    assert_eq!(denial.field, Some("requests_per_minute"));
    let huge = KeyLimits {
        requests_per_minute: Some(u32::MAX),
        tokens_per_minute: Some(u32::MAX),
    };
    assert_eq!(may_limit_inference_key(&plan("business"), huge), Ok(()));
}

#[test]
fn a_gateway_holds_a_key_to_the_plan_in_force() {
    let starter = plan("starter");
    let unlimited = KeyLimits::default();
    assert_eq!(
        unlimited.capped_by(&starter),
        KeyLimits {
            requests_per_minute: Some(600),
            tokens_per_minute: Some(200_000),
        }
    );
    let lower = KeyLimits {
        requests_per_minute: Some(10),
        tokens_per_minute: None,
    };
    assert_eq!(
        lower.capped_by(&starter),
        KeyLimits {
            requests_per_minute: Some(10),
            tokens_per_minute: Some(200_000),
        }
    );
    assert_eq!(unlimited.capped_by(&plan("business")), unlimited);
    assert_eq!(lower.capped_by(&plan("business")), lower);
}
