//! The FOCUS export: a closed period's invoice as a FinOps FOCUS 1.2 cost
//! and usage file (CSV), for the customer's own cost tools.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use billing::Period;
use control_plane::money::invoices;
use control_plane::validation::ValidationErrors;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::Query;
use crate::json::ProblemJson;
use crate::unit::OrgRead;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FocusParams {
    /// The billing period, `YYYY-MM` (years 2000 to 9999), whose invoice to
    /// export.
    #[param(example = "2026-11", pattern = r"^[2-9][0-9]{3}-(0[1-9]|1[0-2])$")]
    pub period: String,
}

/// The invoice of a period as a FOCUS 1.2 dataset (CSV): one row per usage
/// line, resource and UTC day (ChargeCategory `Usage`, the line's amount
/// split over the resources in proportion to their rollups, largest
/// remainder), one for the base fee (`Purchase`) and one per credit
/// (`Credit`). BilledCost sums to the invoice's total exactly; money is
/// in major units; `Tags` holds the resource's labels, as JSON, in force
/// when its hours started. A period with no invoice is not found.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/billing/focus", tag = "billing",
    params(("org_id" = Uuid, Path), FocusParams),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 404, body = ProblemJson, description = "no such organization, or no invoice of that period"),
        (status = 422, body = ProblemJson, description = "the period is not YYYY-MM"),
    ))]
pub async fn focus(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
    Query(params): Query<FocusParams>,
) -> Result<Response, ApiError> {
    let period: Period = params
        .period
        .parse()
        .map_err(|e: billing::period::InvalidPeriod| {
            control_plane::Error::Validation(ValidationErrors::single("period", e.to_string()))
        })?;
    let (invoice, csv) = invoices::focus_csv(&mut conn, &access, period).await?;
    let mut response = csv.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"focus-{}-{period}.csv\"",
        invoice.number
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
