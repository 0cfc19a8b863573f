//! The plans on offer, with their limits: what a customer (or Terraform)
//! checks before choosing one.

use axum::Json;
use axum::extract::State;
use billing::catalog::{BackupEntitlement, InferenceBilling, Plan};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::Caller;
use crate::json::{List, ProblemJson};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanJson {
    /// Always `plan`.
    pub object: &'static str,
    /// The catalog id: `free`, `starter`, `business`.
    pub id: String,
    pub name: String,
    /// Per month, in minor units of `currency`.
    pub base_fee_minor: i64,
    pub currency: String,
    /// Absent when unlimited.
    pub max_vector_clusters: Option<u32>,
    pub max_nodes_per_cluster: u32,
    pub max_replication_factor: u32,
    pub max_gpus_per_endpoint: u32,
    pub included_storage_gib: u32,
    /// Storage beyond the allowance is refused rather than billed.
    pub storage_hard_cap: bool,
    /// `none`, `daily` or `scheduled` (hourly or any cron).
    pub backups: &'static str,
    /// Clusters may hold upgrades to a maintenance window.
    pub maintenance_windows: bool,
    /// The most requests a minute an inference key may make; `null` when
    /// unlimited.
    pub max_key_requests_per_minute: Option<u32>,
    /// The most tokens a minute an inference key may use; `null` when
    /// unlimited.
    pub max_key_tokens_per_minute: Option<u32>,
    /// What inference endpoints are billed by: `gpu_hours`, `tokens` or
    /// `both`.
    pub inference_billing: &'static str,
    /// Input tokens included a month before any is billed.
    pub included_input_tokens: u64,
    /// Output tokens included a month before any is billed.
    pub included_output_tokens: u64,
}

impl PlanJson {
    fn new(plan: &Plan, currency: &str) -> Self {
        PlanJson {
            object: "plan",
            id: plan.id.to_string(),
            name: plan.name.clone(),
            base_fee_minor: plan.base_fee_minor,
            currency: currency.to_owned(),
            max_vector_clusters: plan.max_vector_clusters,
            max_nodes_per_cluster: plan.max_nodes_per_cluster,
            max_replication_factor: plan.max_replication_factor,
            max_gpus_per_endpoint: plan.max_gpus_per_endpoint,
            included_storage_gib: plan.included_storage_gib,
            storage_hard_cap: plan.storage_hard_cap,
            backups: match plan.backups {
                BackupEntitlement::None => "none",
                BackupEntitlement::Daily => "daily",
                BackupEntitlement::Scheduled => "scheduled",
            },
            maintenance_windows: plan.maintenance_windows,
            max_key_requests_per_minute: plan.max_key_requests_per_minute,
            max_key_tokens_per_minute: plan.max_key_tokens_per_minute,
            inference_billing: match plan.inference_billing {
                InferenceBilling::GpuHours => "gpu_hours",
                InferenceBilling::Tokens => "tokens",
                InferenceBilling::Both => "both",
            },
            included_input_tokens: plan.included_input_tokens,
            included_output_tokens: plan.included_output_tokens,
        }
    }
}

/// Lists the plans of the catalog in force.
#[utoipa::path(get, path = "/v1/plans", tag = "billing",
    responses((status = 200, body = List<PlanJson>), (status = 401, body = ProblemJson)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<List<PlanJson>>, ApiError> {
    let published = state.catalog.get();
    let catalog = &published.catalog;
    Ok(Json(List {
        object: "list",
        data: catalog
            .plans
            .iter()
            .map(|plan| PlanJson::new(plan, &catalog.currency))
            .collect(),
        has_more: false,
    }))
}
