//! Upgrading through the payment provider's hosted checkout page: open one
//! for a paid plan, and complete it once the customer saved a card there.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use control_plane::access;
use control_plane::money::checkout::{self, ReturnUrls};
use control_plane::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::billing::{SubscriptionJson, payments};
use crate::error::ApiError;
use crate::extract::{Caller, Json as Body, Mutation, Path};
use crate::json::ProblemJson;
use crate::public_url;
use crate::state::AppState;
use crate::unit::OrgRead;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCheckoutSession {
    /// The paid plan to move to once a card is saved.
    pub plan: String,
    /// Where the browser returns after saving the card; `{CHECKOUT_SESSION_ID}`
    /// is replaced by the session's id. Defaults to the dashboard's billing page.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub success_url: Option<String>,
    /// Where the browser returns if the customer gives up. Defaults to the
    /// dashboard's billing page.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub cancel_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutSessionJson {
    /// Always `checkout_session`.
    pub object: &'static str,
    pub id: String,
    /// Send the customer's browser here.
    pub url: String,
}

/// Opens a hosted checkout page on which the customer saves a card for the
/// paid plan chosen; complete it when the browser returns.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/billing/checkout-sessions",
    tag = "billing",
    params(("org_id" = Uuid, Path)),
    request_body = NewCheckoutSession,
    responses(
        (status = 201, body = CheckoutSessionJson),
        (status = 403, body = ProblemJson, description = "Holdings exceed the plan"),
        (status = 409, body = ProblemJson, description = "The payment account is not created yet"),
        (status = 422, body = ProblemJson, description = "An unknown or free plan, or a return URL that is not http(s)"),
        (status = 502, body = ProblemJson, description = "The payment provider could not be reached"),
        (status = 503, body = ProblemJson, description = "No payment provider is configured"),
    ))]
pub async fn start_checkout(
    State(state): State<AppState>,
    OrgRead(mut conn, access, org_id): OrgRead<Uuid>,
    headers: HeaderMap,
    mutation: Mutation<Body<NewCheckoutSession>>,
) -> Result<Response, ApiError> {
    let payments = payments(&state)?;
    let request = &mutation.body.0;
    let (urls, key) = page_request(
        public_url::checkout_return(&state.config, &headers, org_id),
        (&request.success_url, &request.cancel_url),
        &mutation,
    )?;
    let page = checkout::start(
        &mut conn,
        &access,
        payments.provider.as_ref(),
        &state.catalog.get().catalog,
        &request.plan,
        &urls,
        &key,
    )
    .await?;
    let body = CheckoutSessionJson {
        object: "checkout_session",
        id: page.id,
        url: page.url,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A hosted page's return URLs (the caller's, else the dashboard's) and
/// the key the provider dedupes it by: the request's `Idempotency-Key`, or
/// a new one (each call is then a new page).
pub(super) fn page_request<T>(
    dashboard: ReturnUrls,
    (success, cancel): (&Option<String>, &Option<String>),
    mutation: &Mutation<T>,
) -> Result<(ReturnUrls, String), ApiError> {
    let urls = ReturnUrls {
        success: success.clone().unwrap_or(dashboard.success),
        cancel: cancel.clone().unwrap_or(dashboard.cancel),
    };
    check_return_urls(&urls)?;
    let key = mutation
        .key
        .as_ref()
        .map_or_else(|| Uuid::now_v7().to_string(), |k| k.as_str().to_owned());
    Ok((urls, key))
}

/// The provider redirects only to web pages.
fn check_return_urls(urls: &ReturnUrls) -> Result<(), ApiError> {
    let mut errors = ValidationErrors::default();
    for (field, url) in [("success_url", &urls.success), ("cancel_url", &urls.cancel)] {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            errors.add(field, "must be an absolute http(s) URL".to_owned());
        }
    }
    Ok(errors.into_result(())?)
}

/// Completes a checkout the customer finished: the card saved on the page
/// becomes the default for invoices and the organization moves to the
/// plan. Completing it again changes nothing.
#[utoipa::path(post,
    path = "/v1/organizations/{org_id}/billing/checkout-sessions/{session_id}/complete",
    tag = "billing",
    params(("org_id" = Uuid, Path), ("session_id" = String, Path)),
    responses(
        (status = 200, body = SubscriptionJson),
        (status = 404, body = ProblemJson, description = "No such session for this organization"),
        (status = 409, body = ProblemJson, description = "The customer has not finished the page"),
        (status = 502, body = ProblemJson, description = "The payment provider could not be reached"),
    ))]
pub async fn complete_checkout(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path((org_id, session_id)): Path<(Uuid, String)>,
    _mutation: Mutation<()>,
) -> Result<Json<SubscriptionJson>, ApiError> {
    let payments = payments(&state)?;
    let mut tx = state.db.begin().await?;
    let access = access::resolve(&mut tx, &principal, org_id).await?;
    let subscription = checkout::complete(
        &mut tx,
        &access,
        payments.provider.as_ref(),
        &state.catalog.get().catalog,
        &session_id,
        Utc::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(subscription.into()))
}
