//! Prepaid credit: the balance with its grants and ledger, buying credit on
//! the payment provider's checkout page, and automatic top-up.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use billing::credit::Credit;
use billing::prepaid::Movement;
use billing::prepaid::purchase::Purchase;
use billing::prepaid::top_up::{Settings, Standing, TopUp};
use chrono::{DateTime, Utc};
use control_plane::money::prepaid::{self, CreditAccount};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::billing::payments;
use super::checkout::{CheckoutSessionJson, page_request};
use crate::error::ApiError;
use crate::extract::{Json as Body, Mutation};
use crate::json::ProblemJson;
use crate::public_url;
use crate::state::AppState;
use crate::unit::{OrgMutation, OrgRead};

#[derive(Debug, Serialize, ToSchema)]
pub struct CreditGrantJson {
    pub id: Uuid,
    /// `grant` (from the service's staff), `purchase` or `top_up`.
    pub source: String,
    pub amount_minor: i64,
    /// What invoices have not used and did not expire.
    pub remaining_minor: i64,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<Credit> for CreditGrantJson {
    fn from(c: Credit) -> Self {
        CreditGrantJson {
            id: c.id,
            source: serde_json::to_value(c.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            amount_minor: c.amount_minor,
            remaining_minor: c.remaining_minor,
            reason: c.reason,
            created_at: c.created_at,
            expires_at: c.expires_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntryJson {
    pub credit_id: Uuid,
    /// `grant`, `purchase`, `top_up` (credit in), `applied` (an invoice
    /// used it), `released` (that invoice was voided) or `expired`.
    pub kind: String,
    /// Positive in, negative out.
    pub amount_minor: i64,
    pub invoice_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

impl From<Movement> for LedgerEntryJson {
    fn from(m: Movement) -> Self {
        LedgerEntryJson {
            credit_id: m.credit_id,
            kind: m.kind,
            amount_minor: m.amount_minor,
            invoice_id: m.invoice_id,
            at: m.at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreditPurchaseJson {
    pub checkout_session_id: String,
    pub amount_minor: i64,
    /// `pending` until the payment provider confirms the payment, then `paid`.
    pub status: &'static str,
    pub credit_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl From<Purchase> for CreditPurchaseJson {
    fn from(p: Purchase) -> Self {
        CreditPurchaseJson {
            checkout_session_id: p.checkout_session_id,
            amount_minor: p.amount_minor,
            status: if p.credit_id.is_some() {
                "paid"
            } else {
                "pending"
            },
            credit_id: p.credit_id,
            created_at: p.created_at,
            paid_at: p.paid_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AutoTopUpJson {
    /// Always `auto_top_up`.
    pub object: &'static str,
    pub threshold_minor: i64,
    pub amount_minor: i64,
    pub monthly_cap_minor: i64,
    /// False once a top-up was charged for this crossing, until the balance
    /// is back at the threshold.
    pub armed: bool,
    /// Charged (or being charged) this calendar month.
    pub charged_this_month_minor: i64,
}

impl From<Standing> for AutoTopUpJson {
    fn from(s: Standing) -> Self {
        AutoTopUpJson {
            object: "auto_top_up",
            threshold_minor: s.settings.threshold_minor,
            amount_minor: s.settings.amount_minor,
            monthly_cap_minor: s.settings.monthly_cap_minor,
            armed: s.armed,
            charged_this_month_minor: s.charged_minor,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopUpJson {
    pub id: Uuid,
    pub amount_minor: i64,
    /// `pending`, `paid` or `failed`.
    pub status: String,
    pub credit_id: Option<Uuid>,
    /// Why the charge failed, as the card's bank said.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

impl From<TopUp> for TopUpJson {
    fn from(t: TopUp) -> Self {
        TopUpJson {
            id: t.id,
            amount_minor: t.amount_minor,
            status: t.status,
            credit_id: t.credit_id,
            error: t.error,
            created_at: t.created_at,
            settled_at: t.settled_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreditJson {
    /// Always `credit_balance`.
    pub object: &'static str,
    /// The sum of `ledger`: what the next invoices draw on before any card
    /// is charged.
    pub balance_minor: i64,
    pub currency: String,
    pub grants: Vec<CreditGrantJson>,
    pub ledger: Vec<LedgerEntryJson>,
    pub purchases: Vec<CreditPurchaseJson>,
    pub auto_top_up: Option<AutoTopUpJson>,
    pub top_ups: Vec<TopUpJson>,
}

impl From<CreditAccount> for CreditJson {
    fn from(a: CreditAccount) -> Self {
        CreditJson {
            object: "credit_balance",
            balance_minor: a.balance_minor,
            currency: a.currency,
            grants: a.grants.into_iter().map(Into::into).collect(),
            ledger: a.ledger.into_iter().map(Into::into).collect(),
            purchases: a.purchases.into_iter().map(Into::into).collect(),
            auto_top_up: a.top_up.map(Into::into),
            top_ups: a.top_ups.into_iter().map(Into::into).collect(),
        }
    }
}

/// The organization's credit: balance, grants (soonest to expire is used
/// first), every movement, purchases and automatic top-up.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/billing/credit", tag = "billing",
    params(("org_id" = Uuid, Path)),
    responses(
        (status = 200, body = CreditJson),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
    ))]
pub async fn get_credit(
    State(state): State<AppState>,
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
) -> Result<Json<CreditJson>, ApiError> {
    let catalog = state.catalog.get();
    let account = prepaid::account(&mut conn, &access, &catalog.catalog, Utc::now()).await?;
    Ok(Json(account.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCreditPurchase {
    /// In the currency's minor unit, within the catalog's bounds
    /// (by default $5 to $5,000).
    #[schema(example = 2500)]
    pub amount_minor: i64,
    /// Where the browser returns after paying; `{CHECKOUT_SESSION_ID}` is
    /// replaced by the session's id. Defaults to the dashboard's billing page.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub success_url: Option<String>,
    /// Where the browser returns if the customer gives up.
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub cancel_url: Option<String>,
}

/// Opens a hosted checkout page on which the customer pays for credit. The
/// credit is granted when the payment provider confirms the payment (its
/// webhook), not when the browser comes back.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/billing/credit-purchases",
    tag = "billing",
    params(("org_id" = Uuid, Path)),
    request_body = NewCreditPurchase,
    responses(
        (status = 201, body = CheckoutSessionJson),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
        (status = 409, body = ProblemJson, description = "The payment account is not created yet"),
        (status = 422, body = ProblemJson, description = "An amount outside the catalog's bounds, or a return URL that is not http(s)"),
        (status = 502, body = ProblemJson, description = "The payment provider could not be reached"),
        (status = 503, body = ProblemJson, description = "No payment provider is configured"),
    ))]
pub async fn buy_credit(
    State(state): State<AppState>,
    OrgRead(mut conn, access, org_id): OrgRead<Uuid>,
    headers: HeaderMap,
    mutation: Mutation<Body<NewCreditPurchase>>,
) -> Result<Response, ApiError> {
    let payments = payments(&state)?;
    let request = &mutation.body.0;
    let (urls, key) = page_request(
        public_url::credit_return(&state.config, &headers, org_id),
        (&request.success_url, &request.cancel_url),
        &mutation,
    )?;
    let page = prepaid::buy(
        &mut conn,
        &access,
        payments.provider.as_ref(),
        &state.catalog.get().catalog,
        request.amount_minor,
        &urls,
        &key,
        Utc::now(),
    )
    .await?;
    let body = CheckoutSessionJson {
        object: "checkout_session",
        id: page.id,
        url: page.url,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoTopUpRequest {
    /// Top up when the balance falls below this (minor units).
    #[schema(example = 2000)]
    pub threshold_minor: i64,
    /// Charge this much to the card on file each time, within the catalog's
    /// purchase bounds.
    #[schema(example = 5000)]
    pub amount_minor: i64,
    /// Charge at most this much a calendar month; at least `amount_minor`.
    #[schema(example = 20000)]
    pub monthly_cap_minor: i64,
}

/// Turns automatic top-up on, or changes it (with `billing:write`). It
/// needs a card on file. A top-up is charged once per crossing of the
/// threshold, and not again until the balance is back at it.
#[utoipa::path(put, path = "/v1/organizations/{org_id}/billing/credit/auto-top-up",
    tag = "billing",
    params(("org_id" = Uuid, Path)),
    request_body = AutoTopUpRequest,
    responses(
        (status = 200, body = AutoTopUpJson),
        (status = 402, body = ProblemJson, description = "No card on file"),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
        (status = 422, body = ProblemJson),
    ))]
pub async fn set_auto_top_up(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, _, Body(request)): OrgMutation<Uuid, Body<AutoTopUpRequest>>,
) -> Result<Response, ApiError> {
    let settings = Settings {
        threshold_minor: request.threshold_minor,
        amount_minor: request.amount_minor,
        monthly_cap_minor: request.monthly_cap_minor,
    };
    let catalog = state.catalog.get();
    let standing = prepaid::set_top_up(
        unit.conn(),
        &access,
        &catalog.catalog,
        &settings,
        Utc::now(),
    )
    .await?;
    unit.answer(StatusCode::OK, &AutoTopUpJson::from(standing))
        .await
}

/// Turns automatic top-up off; answers with what it was.
#[utoipa::path(delete, path = "/v1/organizations/{org_id}/billing/credit/auto-top-up",
    tag = "billing",
    params(("org_id" = Uuid, Path)),
    responses(
        (status = 200, body = AutoTopUpJson),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson, description = "Automatic top-up is off"),
    ))]
pub async fn clear_auto_top_up(
    OrgMutation(mut unit, access, _, ()): OrgMutation<Uuid, ()>,
) -> Result<Response, ApiError> {
    let was = prepaid::clear_top_up(unit.conn(), &access, Utc::now()).await?;
    unit.answer(StatusCode::OK, &AutoTopUpJson::from(was)).await
}
