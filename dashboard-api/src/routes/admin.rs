//! The platform's own operations: the catalog, credits and usage
//! corrections. Only platform administrators (users granted with
//! `quartermaster admin grant`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use control_plane::admin::corrections::{self, CorrectionDetail, CorrectionRequest};
use control_plane::admin::{self, Credit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{Caller, Json as Body, Mutation, Path};
use crate::json::{List, ProblemJson};
use crate::state::AppState;
use crate::unit::{Begun, Unit};

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogJson {
    /// Always `catalog`.
    pub object: &'static str,
    pub version: i64,
    /// Plans and prices, as in `billing/catalog.toml`.
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantCreditRequest {
    #[serde(deserialize_with = "crate::body::whole")]
    pub amount_minor: i64,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreditJson {
    /// Always `credit`.
    pub object: &'static str,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub credit: Credit,
}

/// The catalog in force.
#[utoipa::path(get, path = "/v1/admin/catalog", tag = "admin",
    responses((status = 200, body = CatalogJson), (status = 403, body = ProblemJson)))]
pub async fn catalog(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Json<CatalogJson>, ApiError> {
    let mut conn = state.db.acquire().await?;
    admin::check(&mut conn, &principal).await?;
    let published = billing::catalog_store::current(&mut conn)
        .await
        .map_err(control_plane::Error::from)?
        .ok_or(control_plane::Error::Billing(billing::Error::NoCatalog))?;
    Ok(Json(CatalogJson {
        object: "catalog",
        version: published.version,
        document: serde_json::to_value(&published.catalog).unwrap_or_default(),
    }))
}

/// Publishes a new catalog version. Invoices already issued keep the prices
/// they were rated with; a plan an organization is on cannot be removed.
#[utoipa::path(put, path = "/v1/admin/catalog", tag = "admin",
    request_body(content = Object, description = "The whole catalog: currency, plans, prices"),
    responses(
        (status = 200, body = CatalogJson),
        (status = 403, body = ProblemJson),
        (status = 422, body = ProblemJson),
    ))]
pub async fn publish_catalog(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Body(document): Body<serde_json::Value>,
) -> Result<Json<CatalogJson>, ApiError> {
    let mut tx = state.db.begin().await?;
    let admin = admin::check(&mut tx, &principal).await?;
    let published = admin::publish_catalog(&mut tx, &admin, document).await?;
    tx.commit().await?;
    let body = CatalogJson {
        object: "catalog",
        version: published.version,
        document: serde_json::to_value(&published.catalog).unwrap_or_default(),
    };
    state.catalog.set(published);
    Ok(Json(body))
}

/// Grants an organization credit, applied to its next invoices.
#[utoipa::path(post, path = "/v1/admin/organizations/{org_id}/credits", tag = "admin",
    params(("org_id" = Uuid, Path)),
    request_body = GrantCreditRequest,
    responses(
        (status = 201, body = CreditJson),
        (status = 403, body = ProblemJson),
        (status = 422, body = ProblemJson),
    ))]
pub async fn grant_credit(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(org_id): Path<Uuid>,
    mutation: Mutation<Body<GrantCreditRequest>>,
) -> Result<Response, ApiError> {
    let mut unit = Unit::begin(&state).await?;
    let admin = admin::check(unit.conn(), &principal).await?;
    let scope = control_plane::idempotency::Scope::organization(org_id);
    let mut unit = match unit.claim(scope, &mutation).await? {
        Begun::Fresh(unit) => unit,
        Begun::Replay(saved) => return Ok(saved),
    };
    let request = &mutation.body.0;
    let credit = admin::grant_credit(
        unit.conn(),
        &admin,
        org_id,
        request.amount_minor,
        &request.reason,
    )
    .await?;
    unit.answer(
        StatusCode::CREATED,
        &CreditJson {
            object: "credit",
            credit,
        },
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequestJson {
    /// One event: its `source` and `id`, as it was reported.
    #[serde(default, deserialize_with = "crate::body::optional")]
    pub event_source: Option<String>,
    #[serde(default, deserialize_with = "crate::body::optional")]
    pub event_id: Option<String>,
    /// Or every event of a resource's meter with a time in `[from, to)`,
    /// within one calendar month (UTC).
    #[serde(default, deserialize_with = "crate::body::optional")]
    pub resource_id: Option<Uuid>,
    #[serde(default, deserialize_with = "crate::body::optional")]
    pub meter: Option<String>,
    #[serde(default, deserialize_with = "crate::body::optional")]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::body::optional")]
    pub to: Option<DateTime<Utc>>,
    /// `void`, or `set` each event named to `value`.
    pub action: String,
    #[serde(default, deserialize_with = "crate::body::optional_whole")]
    pub value: Option<i64>,
    /// Why, kept in the audit log: 1 to 500 characters.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CorrectionJson {
    /// Always `usage_correction`.
    pub object: &'static str,
    /// The correction (`in_rollups`: the rollups were corrected, the period
    /// not being invoiced yet) and, for an invoiced period, its
    /// `adjustments` of each invoice line, carried by the next invoice.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub correction: CorrectionDetail,
}

impl From<CorrectionDetail> for CorrectionJson {
    fn from(correction: CorrectionDetail) -> Self {
        CorrectionJson {
            object: "usage_correction",
            correction,
        }
    }
}

/// Voids usage events or corrects their value. Before the organization's
/// period is invoiced the rollups are corrected at once; after, the change
/// becomes an adjustment line on its next invoice. The events themselves
/// are never changed.
#[utoipa::path(post, path = "/v1/admin/organizations/{org_id}/usage-corrections", tag = "admin",
    params(("org_id" = Uuid, Path)),
    request_body = CorrectionRequestJson,
    responses(
        (status = 201, body = CorrectionJson),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
        (status = 409, body = ProblemJson),
        (status = 422, body = ProblemJson),
    ))]
pub async fn correct_usage(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(org_id): Path<Uuid>,
    mutation: Mutation<Body<CorrectionRequestJson>>,
) -> Result<Response, ApiError> {
    let mut unit = Unit::begin(&state).await?;
    let admin = admin::check(unit.conn(), &principal).await?;
    let scope = control_plane::idempotency::Scope::organization(org_id);
    let mut unit = match unit.claim(scope, &mutation).await? {
        Begun::Fresh(unit) => unit,
        Begun::Replay(saved) => return Ok(saved),
    };
    let request = &mutation.body.0;
    let request = CorrectionRequest {
        event_source: request.event_source.clone(),
        event_id: request.event_id.clone(),
        resource_id: request.resource_id,
        meter: request.meter.clone(),
        from: request.from,
        to: request.to,
        action: request.action.clone(),
        value: request.value,
        reason: request.reason.clone(),
    };
    let correction = corrections::correct(unit.conn(), &admin, org_id, &request).await?;
    unit.answer(StatusCode::CREATED, &CorrectionJson::from(correction))
        .await
}

/// An organization's usage corrections, newest first, with their
/// adjustments.
#[utoipa::path(get, path = "/v1/admin/organizations/{org_id}/usage-corrections", tag = "admin",
    params(("org_id" = Uuid, Path)),
    responses(
        (status = 200, body = List<CorrectionJson>),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
    ))]
pub async fn list_corrections(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(org_id): Path<Uuid>,
) -> Result<Json<List<CorrectionJson>>, ApiError> {
    let mut conn = state.db.acquire().await?;
    let admin = admin::check(&mut conn, &principal).await?;
    let corrections = corrections::list(&mut conn, &admin, org_id).await?;
    Ok(Json(List {
        object: "list",
        data: corrections.into_iter().map(CorrectionJson::from).collect(),
        has_more: false,
    }))
}

/// Every data plane with how it stands: a connected one silent for longer
/// than five minutes is `stale`; a customer-run one names its organization.
#[utoipa::path(get, path = "/v1/admin/data-planes", tag = "admin",
    responses(
        (status = 200, body = List<DataPlaneJson>),
        (status = 403, body = ProblemJson),
    ))]
pub async fn data_planes(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Json<List<DataPlaneJson>>, ApiError> {
    let mut conn = state.db.acquire().await?;
    admin::check(&mut conn, &principal).await?;
    let planes = control_plane::data_planes::standing::list(&mut conn, Utc::now()).await?;
    Ok(Json(List {
        object: "list",
        data: planes
            .into_iter()
            .map(|plane| DataPlaneJson {
                object: "data_plane",
                plane,
            })
            .collect(),
        has_more: false,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DataPlaneJson {
    /// Always `data_plane`.
    pub object: &'static str,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub plane: control_plane::data_planes::standing::DataPlane,
}

/// Revokes a connected data plane: its credentials and enrollment tokens
/// stop working at once. Its clusters keep running as last known.
#[utoipa::path(post, path = "/v1/admin/data-planes/{id}/revoke", tag = "admin",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
    ))]
pub async fn revoke_data_plane(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let mut conn = state.db.acquire().await?;
    let admin = admin::check(&mut conn, &principal).await?;
    control_plane::data_planes::enrollment::revoke(&mut conn, id, &admin.actor(), Utc::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
