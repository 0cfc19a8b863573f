//! The platform's own operations: the catalog and credits. Only platform
//! administrators (users granted with `quartermaster admin grant`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use control_plane::admin::{self, Credit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{Caller, Json as Body, Mutation, Path};
use crate::json::ProblemJson;
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
