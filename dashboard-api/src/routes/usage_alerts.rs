//! The organization's usage and spend alerts: each threshold fires once a
//! period, by email and as a `usage.threshold_crossed` webhook event.

use axum::Json;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use control_plane::alerts::{self, NewAlert, UsageAlert};
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::Json as Body;
use crate::json::{List, ProblemJson};
use crate::unit::{OrgMutation, OrgRead};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUsageAlertRequest {
    /// `spend` (usage charges this period, the figure a spend limit caps)
    /// or a meter: `gpu_seconds`, `node_seconds`, `input_tokens`,
    /// `output_tokens` (this period's total), `storage_bytes`,
    /// `object_count` (the level now, across the organization's clusters).
    #[schema(example = "spend")]
    pub metric: String,
    /// In the currency's minor unit for `spend` (cents), else in the
    /// meter's unit.
    #[schema(example = 50000)]
    pub budget: i64,
    /// Percentages of the budget, 1 to 1000, at most 10; 80 and 100 when
    /// left out.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false, example = json!([50, 80, 100]))]
    pub percents: Option<Vec<i64>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageAlertJson {
    /// Always `usage_alert`.
    pub object: &'static str,
    pub id: Uuid,
    pub metric: String,
    pub budget: i64,
    pub percents: Vec<i16>,
    pub created_at: DateTime<Utc>,
}

impl From<UsageAlert> for UsageAlertJson {
    fn from(a: UsageAlert) -> Self {
        UsageAlertJson {
            object: "usage_alert",
            id: a.id,
            metric: a.metric,
            budget: a.budget.to_i64().unwrap_or(i64::MAX),
            percents: a.percents,
            created_at: a.created_at,
        }
    }
}

/// Sets an alert (with `billing:write`). Besides those set here, every
/// organization is told at 80 % and 100 % of its plan's hard storage cap
/// and of its spend limit.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/usage-alerts", tag = "usage",
    params(("org_id" = Uuid, Path)),
    request_body = CreateUsageAlertRequest,
    responses(
        (status = 201, body = UsageAlertJson),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
        (status = 422, body = ProblemJson),
    ))]
pub async fn create(
    OrgMutation(mut unit, access, _, Body(request)): OrgMutation<
        Uuid,
        Body<CreateUsageAlertRequest>,
    >,
) -> Result<Response, ApiError> {
    let new = NewAlert::parse(&request.metric, request.budget, request.percents.as_deref())?;
    let alert = alerts::create(unit.conn(), &access, new).await?;
    unit.answer(StatusCode::CREATED, &UsageAlertJson::from(alert))
        .await
}

/// The alerts the organization has set, oldest first.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/usage-alerts", tag = "usage",
    params(("org_id" = Uuid, Path)),
    responses(
        (status = 200, body = List<UsageAlertJson>),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
    ))]
pub async fn list(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
) -> Result<Json<List<UsageAlertJson>>, ApiError> {
    let found = alerts::list(&mut conn, &access).await?;
    Ok(Json(List {
        object: "list",
        data: found.into_iter().map(UsageAlertJson::from).collect(),
        has_more: false,
    }))
}

/// Removes an alert; what it fired stays fired.
#[utoipa::path(delete, path = "/v1/organizations/{org_id}/usage-alerts/{alert_id}", tag = "usage",
    params(("org_id" = Uuid, Path), ("alert_id" = Uuid, Path)),
    responses(
        (status = 200, body = UsageAlertJson),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
    ))]
pub async fn delete(
    OrgMutation(mut unit, access, (_, alert_id), ()): OrgMutation<(Uuid, Uuid), ()>,
) -> Result<Response, ApiError> {
    let alert = alerts::delete(unit.conn(), &access, alert_id).await?;
    unit.answer(StatusCode::OK, &UsageAlertJson::from(alert))
        .await
}
