//! The payment provider's webhook: signature first, then the event, once.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use billing::payments::webhook;
use chrono::Utc;
use control_plane::Error;
use control_plane::money::payments;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, RequestError};
use crate::json::ProblemJson;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceipt {
    /// Whether this delivery changed anything (`false` for a redelivery or
    /// an event type Quartermaster does not act on).
    pub applied: bool,
}

/// Receives Stripe events. Only events signed with the endpoint's secret
/// (header `Stripe-Signature`) within five minutes are accepted.
#[utoipa::path(post, path = "/v1/webhooks/stripe", tag = "billing",
    security(()),
    params(("Stripe-Signature" = String, Header, description = "Stripe's signature of the body: `t=<unix time>,v1=<hex HMAC-SHA256>`")),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 200, body = WebhookReceipt),
        (status = 400, body = ProblemJson, description = "Missing, forged or stale signature"),
    ))]
pub async fn stripe(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let payments = state
        .config
        .payments
        .as_ref()
        .ok_or(ApiError::Domain(Error::PaymentsNotConfigured))?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = Utc::now();
    webhook::verify(&payments.webhook_secret, signature, &body, now).map_err(RequestError::from)?;
    let (id, kind, event) = webhook::parse(&body).map_err(RequestError::from)?;
    let applied = payments::apply_event(
        &state.db,
        Some(payments.provider.as_ref()),
        &state.catalog.get().catalog,
        &id,
        &kind,
        event,
        now,
    )
    .await?;
    tracing::info!(event = %id, kind = %kind, applied, "payment event");
    Ok(Json(WebhookReceipt { applied }))
}
