//! Prepaid credit on the Billing page: the balance, buying credit on the
//! provider's checkout page, automatic top-up, the grants with what is left
//! of each, and every movement.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use billing::money;
use billing::prepaid::top_up::Settings;
use chrono::Utc;
use control_plane::access::{OrgAccess, Permission};
use control_plane::money::prepaid::{self, CreditAccount};
use control_plane::validation::ValidationErrors;
use maud::{Markup, html};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use uuid::Uuid;

use super::{CsrfForm, OrgPage, PageError};
use crate::public_url;
use crate::state::AppState;
use crate::unit::Unit;

/// The section of the Billing page. `returned` is the checkout the browser
/// just came back from, if any: its credit shows once the provider's
/// webhook confirmed the payment.
pub(super) fn section(
    account: &CreditAccount,
    access: &OrgAccess,
    csrf: &str,
    payments: bool,
    returned: Option<&str>,
) -> Markup {
    let org_id = access.organization_id();
    let currency = &account.currency;
    let amount = |minor: i64| money::format(minor, currency);
    let can_change = payments && access.allows(Permission::BillingWrite);
    let returned = returned.map(|id| {
        account
            .purchases
            .iter()
            .find(|p| p.checkout_session_id == id)
    });
    html! {
        h2 { "Prepaid credit" }
        @match returned {
            Some(Some(p)) if p.credit_id.is_some() => {
                p class="notice" role="status" { "Payment confirmed: " (amount(p.amount_minor)) " of credit added." }
            }
            Some(Some(p)) => {
                p class="notice" role="status" {
                    "Payment of " (amount(p.amount_minor)) " received. The credit is added as soon as the "
                    "payment provider confirms it, usually within seconds: reload this page to see it."
                }
            }
            _ => {}
        }
        p { "Balance: " strong data-credit-balance { (amount(account.balance_minor)) }
            ". Invoices draw on it before your card is charged, credit that expires soonest first." }
        @if can_change {
            form class="stack" method="post" action={ "/orgs/" (org_id) "/billing/credit" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "Buy credit (" (currency.to_uppercase()) ")"
                    input name="amount" inputmode="decimal" required placeholder="50"; }
                button type="submit" { "Buy credit" }
                small { " You pay on Stripe's secure page." }
            }
            h3 { "Automatic top-up" }
            @if let Some(t) = &account.top_up {
                p { "On: below " (amount(t.settings.threshold_minor)) ", " (amount(t.settings.amount_minor))
                    " is charged to your card, at most " (amount(t.settings.monthly_cap_minor)) " a month ("
                    (amount(t.charged_minor)) " this month)."
                    @if !t.armed { " Charged for this dip; it arms again once the balance is back at the threshold." } }
                form method="post" action={ "/orgs/" (org_id) "/billing/credit/auto-top-up/delete" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { "Turn off automatic top-up" }
                }
            }
            form class="stack" method="post" action={ "/orgs/" (org_id) "/billing/credit/auto-top-up" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "When the balance is below" input name="threshold" inputmode="decimal" required placeholder="20"; }
                label { "charge" input name="amount" inputmode="decimal" required placeholder="50"; }
                label { "at most, a month" input name="monthly_cap" inputmode="decimal" required placeholder="200"; }
                button type="submit" { "Save automatic top-up" }
            }
        }
        @if !account.grants.is_empty() {
            h3 { "Grants" }
            table {
                thead { tr { th { "Added" } th { "From" } th class="num" { "Amount" } th class="num" { "Left" } th { "Expires" } } }
                tbody {
                    @for g in &account.grants {
                        tr {
                            td { (g.created_at.format("%Y-%m-%d")) }
                            td { (g.reason) }
                            td class="num" { (amount(g.amount_minor)) }
                            td class="num" { (amount(g.remaining_minor)) }
                            td { @match g.expires_at { Some(at) => (at.format("%Y-%m-%d")), None => "never" } }
                        }
                    }
                }
            }
            h3 { "Movements" }
            table {
                thead { tr { th { "When" } th { "What" } th class="num" { "Amount" } } }
                tbody {
                    @for m in &account.ledger {
                        tr {
                            td { (m.at.format("%Y-%m-%d %H:%M")) }
                            td { (m.kind) }
                            td class="num" { (amount(m.amount_minor)) }
                        }
                    }
                }
            }
        }
        @for t in account.top_ups.iter().filter(|t| t.status == "failed").take(1) {
            p class="notice error" role="alert" {
                "The top-up of " (amount(t.amount_minor)) " on " (t.created_at.format("%Y-%m-%d"))
                " failed: " (t.error.as_deref().unwrap_or("declined"))
            }
        }
    }
}

/// `text` in the currency's major unit (dollars) as minor units (cents).
fn minor_of(field: &'static str, text: &str, currency: &str) -> Result<i64, PageError> {
    let refused = || {
        PageError::from(control_plane::Error::Validation(ValidationErrors::single(
            field,
            "must be an amount such as 25 or 25.50",
        )))
    };
    let major: Decimal = text.trim().parse().map_err(|_| refused())?;
    let minor = major * Decimal::from(money::minor_per_major(currency));
    if minor.fract() != Decimal::ZERO {
        return Err(refused());
    }
    minor.to_i64().ok_or_else(refused)
}

#[derive(Debug, Deserialize)]
pub struct BuyForm {
    amount: String,
}

/// Opens the provider's checkout page for the amount chosen.
pub async fn buy(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<BuyForm>,
) -> Result<Response, PageError> {
    let payments = state
        .config
        .payments
        .as_ref()
        .ok_or(control_plane::Error::PaymentsNotConfigured)?;
    let catalog = state.catalog.get();
    let amount_minor = minor_of("amount", &form.amount, &catalog.catalog.currency)?;
    let mut unit = Unit::begin(&state).await?;
    let page = prepaid::buy(
        unit.conn(),
        &access,
        payments.provider.as_ref(),
        &catalog.catalog,
        amount_minor,
        &public_url::credit_return(&state.config, &headers, org_id),
        &Uuid::now_v7().to_string(),
        Utc::now(),
    )
    .await?;
    unit.commit().await?;
    Ok(Redirect::to(&page.url).into_response())
}

#[derive(Debug, Deserialize)]
pub struct TopUpForm {
    threshold: String,
    amount: String,
    monthly_cap: String,
}

pub async fn set_top_up(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<TopUpForm>,
) -> Result<Response, PageError> {
    let catalog = state.catalog.get();
    let currency = &catalog.catalog.currency;
    let settings = Settings {
        threshold_minor: minor_of("threshold", &form.threshold, currency)?,
        amount_minor: minor_of("amount", &form.amount, currency)?,
        monthly_cap_minor: minor_of("monthly_cap", &form.monthly_cap, currency)?,
    };
    let mut unit = Unit::begin(&state).await?;
    prepaid::set_top_up(
        unit.conn(),
        &access,
        &catalog.catalog,
        &settings,
        Utc::now(),
    )
    .await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/billing")).into_response())
}

pub async fn clear_top_up(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    _: CsrfForm,
) -> Result<Response, PageError> {
    let mut unit = Unit::begin(&state).await?;
    prepaid::clear_top_up(unit.conn(), &access, Utc::now()).await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/billing")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_in_dollars_and_kept_in_cents_exactly() {
        assert_eq!(minor_of("amount", "25", "usd").unwrap(), 2_500);
        assert_eq!(minor_of("amount", " 25.50 ", "usd").unwrap(), 2_550);
        assert_eq!(minor_of("amount", "500", "jpy").unwrap(), 500);
        for bad in ["", "abc", "0.001", "25.505", "1e400"] {
            assert!(minor_of("amount", bad, "usd").is_err(), "{bad}");
        }
    }
}
