//! Billing for customers: the subscription (plan, cancellation, spend
//! limit, card) and the current period's estimate; invoices are in
//! `invoices.rs`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use billing::money;
use billing::rating::RatedInvoice;
use chrono::{DateTime, Utc};
use control_plane::Error;
use control_plane::access;
use control_plane::money::subscriptions::{self, Subscription};
use control_plane::money::{invoices, payments};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::invoices::LineJson;
use crate::error::ApiError;
use crate::extract::{Caller, Json as Body, Mutation, Path};
use crate::json::ProblemJson;
use crate::state::{AppState, Payments};
use crate::unit::{OrgMutation, OrgRead};

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionJson {
    /// Always `subscription`.
    pub object: &'static str,
    pub plan: String,
    /// active, past_due (a payment failed), suspended (unpaid past the grace period) or canceled.
    pub status: String,
    pub cancel_at_period_end: bool,
    /// A card is on file for paid plans.
    pub payment_method_ready: bool,
    pub spend_limit_minor: Option<i64>,
    /// Why the organization's resources are suspended, if they are.
    pub suspended_reason: Option<String>,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
}

impl From<Subscription> for SubscriptionJson {
    fn from(s: Subscription) -> Self {
        SubscriptionJson {
            object: "subscription",
            plan: s.plan,
            status: s.status,
            cancel_at_period_end: s.cancel_at_period_end,
            payment_method_ready: s.payment_method_ready,
            spend_limit_minor: s.spend_limit_minor,
            suspended_reason: s.suspended_reason,
            current_period_start: s.current_period.map(|p| p.0),
            current_period_end: s.current_period.map(|p| p.1),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlanRequest {
    /// `free`, `starter`, `business`, or another plan of the catalog.
    pub plan: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendLimitRequest {
    /// In minor units of the catalog's currency; `null` removes the limit.
    #[serde(deserialize_with = "crate::body::nullable_whole")]
    pub spend_limit_minor: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CardSetupJson {
    /// The SetupIntent to confirm with Stripe.js, then to complete here.
    pub id: String,
    pub client_secret: String,
    pub publishable_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EstimateJson {
    /// Always `estimate`.
    pub object: &'static str,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub currency: String,
    pub lines: Vec<LineJson>,
    pub subtotal_minor: i64,
    pub credits_minor: i64,
    pub total_minor: i64,
    pub total: String,
}

pub(super) fn payments(state: &AppState) -> Result<&Payments, ApiError> {
    state
        .config
        .payments
        .as_ref()
        .ok_or(ApiError::Domain(Error::PaymentsNotConfigured))
}

/// The organization's subscription.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/billing", tag = "billing",
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = SubscriptionJson), (status = 404, body = ProblemJson)))]
pub async fn subscription(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
) -> Result<Json<SubscriptionJson>, ApiError> {
    let subscription = subscriptions::get(&mut conn, &access, Utc::now()).await?;
    Ok(Json(subscription.into()))
}

/// Changes the plan from now on: the period is split, each part billed at
/// its own plan's prorated fee and allowance. A downgrade is refused while
/// clusters or endpoints exceed the new plan; a paid plan needs a card.
#[utoipa::path(put, path = "/v1/organizations/{org_id}/billing/plan", tag = "billing",
    params(("org_id" = Uuid, Path)),
    request_body = ChangePlanRequest,
    responses(
        (status = 200, body = SubscriptionJson),
        (status = 402, body = ProblemJson, description = "A card is needed first"),
        (status = 403, body = ProblemJson, description = "Holdings exceed the new plan"),
        (status = 422, body = ProblemJson),
    ))]
pub async fn change_plan(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, _, Body(body)): OrgMutation<Uuid, Body<ChangePlanRequest>>,
) -> Result<Response, ApiError> {
    let subscription = subscriptions::change_plan(
        unit.conn(),
        &access,
        &state.catalog.get().catalog,
        &body.plan,
        state.config.payments.is_some(),
        Utc::now(),
    )
    .await?;
    unit.answer(StatusCode::OK, &SubscriptionJson::from(subscription))
        .await
}

/// Ends the paid plan when the current period ends (back to free).
/// Choosing the current plan again undoes it.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/billing/cancel", tag = "billing",
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = SubscriptionJson), (status = 422, body = ProblemJson)))]
pub async fn cancel(
    OrgMutation(mut unit, access, _, ()): OrgMutation<Uuid, ()>,
) -> Result<Response, ApiError> {
    let subscription = subscriptions::cancel(unit.conn(), &access, Utc::now()).await?;
    unit.answer(StatusCode::OK, &SubscriptionJson::from(subscription))
        .await
}

/// Sets the most the period's usage may cost; past it, clusters and
/// endpoints are suspended until the limit is raised or the period ends.
#[utoipa::path(put, path = "/v1/organizations/{org_id}/billing/spend-limit", tag = "billing",
    params(("org_id" = Uuid, Path)),
    request_body = SpendLimitRequest,
    responses((status = 200, body = SubscriptionJson), (status = 422, body = ProblemJson)))]
pub async fn spend_limit(
    OrgMutation(mut unit, access, _, Body(body)): OrgMutation<Uuid, Body<SpendLimitRequest>>,
) -> Result<Response, ApiError> {
    let subscription =
        subscriptions::set_spend_limit(unit.conn(), &access, body.spend_limit_minor, Utc::now())
            .await?;
    unit.answer(StatusCode::OK, &SubscriptionJson::from(subscription))
        .await
}

/// Starts adding a card: confirm the returned SetupIntent with Stripe.js,
/// then complete it here.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/billing/card-setups", tag = "billing",
    params(("org_id" = Uuid, Path)),
    responses(
        (status = 201, body = CardSetupJson),
        (status = 409, body = ProblemJson, description = "The payment account is not created yet"),
        (status = 502, body = ProblemJson, description = "The payment provider could not be reached"),
        (status = 503, body = ProblemJson, description = "No payment provider is configured"),
    ))]
pub async fn start_card_setup(
    State(state): State<AppState>,
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
    mutation: Mutation<()>,
) -> Result<Response, ApiError> {
    let payments = payments(&state)?;
    // The provider dedupes by this key; without one, each call is new.
    let key = mutation
        .key
        .as_ref()
        .map_or_else(|| Uuid::now_v7().to_string(), |k| k.as_str().to_owned());
    let setup =
        payments::start_card_setup(&mut conn, &access, payments.provider.as_ref(), &key).await?;
    let body = CardSetupJson {
        id: setup.id,
        client_secret: setup.client_secret,
        publishable_key: payments.publishable_key.clone(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Completes a card setup the customer confirmed: the card becomes the
/// default for invoices.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/billing/card-setups/{setup_id}/complete",
    tag = "billing",
    params(("org_id" = Uuid, Path), ("setup_id" = String, Path)),
    responses(
        (status = 200, body = SubscriptionJson),
        (status = 409, body = ProblemJson, description = "The payment account is not created yet"),
        (status = 422, body = ProblemJson, description = "The setup has not succeeded"),
        (status = 502, body = ProblemJson, description = "The payment provider could not be reached"),
    ))]
pub async fn complete_card_setup(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path((org_id, setup_id)): Path<(Uuid, String)>,
    _mutation: Mutation<()>,
) -> Result<Json<SubscriptionJson>, ApiError> {
    let payments = payments(&state)?;
    let mut tx = state.db.begin().await?;
    let access = access::resolve(&mut tx, &principal, org_id).await?;
    payments::complete_card_setup(&mut tx, &access, payments.provider.as_ref(), &setup_id).await?;
    let subscription = subscriptions::get(&mut tx, &access, Utc::now()).await?;
    tx.commit().await?;
    Ok(Json(subscription.into()))
}

/// What the current period would bill if it closed now: the base fee in
/// full and the usage so far.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/billing/estimate", tag = "billing",
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = EstimateJson), (status = 404, body = ProblemJson)))]
pub async fn estimate(
    State(state): State<AppState>,
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
) -> Result<Json<EstimateJson>, ApiError> {
    let published = state.catalog.get();
    let (period, estimate) = invoices::estimate(&mut conn, &access, &published, Utc::now()).await?;
    Ok(Json(estimate_json(
        period,
        estimate,
        &published.catalog.currency,
    )))
}

fn estimate_json(period: billing::Period, e: RatedInvoice, currency: &str) -> EstimateJson {
    EstimateJson {
        object: "estimate",
        period_start: period.start(),
        period_end: period.end(),
        currency: currency.to_owned(),
        total: money::format(e.total_minor, currency),
        subtotal_minor: e.subtotal_minor,
        credits_minor: e.credits_minor,
        total_minor: e.total_minor,
        lines: e
            .lines
            .into_iter()
            .map(|l| LineJson::from_rated(l, currency))
            .collect(),
    }
}
