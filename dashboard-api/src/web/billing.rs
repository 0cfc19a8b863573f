//! The plan, this period's estimate, invoices, and changing plan.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use billing::{Period, money};
use chrono::Utc;
use control_plane::Error;
use control_plane::money::checkout;
use control_plane::money::invoices;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::layout::page;
use super::{CsrfForm, OrgPage, PageError, render};
use crate::public_url;
use crate::state::AppState;
use crate::unit::Unit;

#[derive(Debug, Deserialize)]
pub struct Notice {
    /// Set on the way back from a completed checkout.
    checkout: Option<String>,
    /// Break the newest invoice down by this label key.
    label: Option<String>,
    /// The checkout of a credit purchase the browser came back from.
    credit_checkout: Option<String>,
}

pub async fn billing(
    State(state): State<AppState>,
    visit: OrgPage,
    Path(org_id): Path<Uuid>,
    Query(notice): Query<Notice>,
) -> Result<Response, PageError> {
    let published = state.catalog.get();
    let mut conn = state.db.acquire().await?;
    let subscription =
        control_plane::money::subscriptions::get(&mut conn, &visit.access, Utc::now()).await?;
    let (period, estimate) =
        invoices::estimate(&mut conn, &visit.access, &published, Utc::now()).await?;
    let invoices = invoices::list(&mut conn, &visit.access).await?;
    let breakdown = match (notice.label.as_deref(), invoices.first()) {
        (Some(key), Some(newest)) if !key.is_empty() => {
            Some(invoices::breakdown(&mut conn, &visit.access, newest.id, key).await?)
        }
        _ => None,
    };
    let credit = control_plane::money::prepaid::account(
        &mut conn,
        &visit.access,
        &published.catalog,
        Utc::now(),
    )
    .await?;
    let currency = &published.catalog.currency;
    let body = html! {
        h1 { "Billing" }
        @if let Some(reason) = &subscription.suspended_reason {
            p class="notice error" role="alert" { strong { "Suspended: " } (reason) }
        }
        @if notice.checkout.as_deref() == Some("done") {
            p class="notice" role="status" { "Card saved. You are on the " strong { (subscription.plan) } " plan." }
        }
        p { "Plan: " strong { (subscription.plan) } " · status " (subscription.status)
            @if subscription.cancel_at_period_end { " · ends with this period" }
            @if subscription.payment_method_ready { " · card on file" } }
        form method="post" action={ "/orgs/" (org_id) "/billing/plan" } {
            input type="hidden" name="csrf" value=(visit.session.csrf);
            label { "Change plan"
                select name="plan" {
                    @for plan in &published.catalog.plans {
                        option value=(plan.id) selected[plan.id.as_str() == subscription.plan] {
                            (plan.name) " — " (money::format(plan.base_fee_minor, currency)) " a month"
                        }
                    }
                }
            }
            button type="submit" { "Change plan" }
            @if state.config.payments.is_some() && !subscription.payment_method_ready {
                small { " Paid plans need a card: you will save one on Stripe's secure page, then come back here." }
            }
        }
        h2 { "This period so far (" (Period::containing(period.start()).to_string()) ")" }
        table {
            tbody {
                @for line in &estimate.lines {
                    tr { td { (line.description) } td class="num" { (money::format(line.amount_minor, currency)) } }
                }
                tr { th { "Estimated total" } th class="num" { (money::format(estimate.total_minor, currency)) } }
            }
        }
        (super::credit::section(
            &credit,
            &visit.access,
            &visit.session.csrf,
            state.config.payments.is_some(),
            notice.credit_checkout.as_deref(),
        ))
        h2 { "Invoices" }
        @if invoices.is_empty() { p { "No invoices yet." } }
        table {
            @if !invoices.is_empty() {
                thead { tr { th { "Number" } th { "Period" } th { "Status" } th class="num" { "Total" } } }
            }
            tbody {
                @for i in &invoices {
                    tr {
                        td {
                            a href={ "/v1/organizations/" (org_id) "/invoices/" (i.id) "/html" } { (i.number) }
                            " · " a href={ "/v1/organizations/" (org_id) "/invoices/" (i.id) "/html?download=1" }
                                aria-label={ "Download " (i.number) } { "download" }
                        }
                        td { (i.period_start.format("%Y-%m"))
                            @if i.kind == "interim" { " (interim)" } @else {
                                " · " a href={ "/v1/organizations/" (org_id) "/billing/focus?period=" (i.period_start.format("%Y-%m")) }
                                    aria-label={ "FOCUS export of " (i.number) } { "FOCUS CSV" }
                            } }
                        td { (i.status) }
                        td class="num" { (money::format(i.total_minor, &i.currency)) }
                    }
                }
            }
        }
        @if let Some(newest) = invoices.first() {
            h2 { "Cost by label (" (newest.number) ")" }
            form method="get" action={ "/orgs/" (org_id) "/billing" } {
                label { "Label key" input name="label" placeholder="team" value=[notice.label.as_deref()]; }
                button type="submit" { "Break down" }
            }
            @if let Some((invoice, breakdown)) = &breakdown {
                table data-testid="cost-by-label" {
                    thead { tr { th { (breakdown.key) } th class="num" { "Amount" } } }
                    tbody {
                        @for v in &breakdown.by_value {
                            tr { td { (v.value.as_deref().unwrap_or("(unlabelled)")) }
                                 td class="num" { (money::format(v.amount_minor, &invoice.currency)) } }
                        }
                        @for (kind, amount) in &breakdown.unallocated {
                            tr { td { (kind.replace('_', " ")) " (no resource)" }
                                 td class="num" { (money::format(*amount, &invoice.currency)) } }
                        }
                        tr { th { "Total" } th class="num" { (money::format(invoice.total_minor, &invoice.currency)) } }
                    }
                }
            }
        }
    };
    Ok(render(
        StatusCode::OK,
        page("Billing", Some(&visit.viewer), None, body),
    ))
}

#[derive(Debug, Deserialize)]
pub struct PlanChoice {
    plan: String,
}

/// Changes plan at once; where a paid plan needs a card first, the browser
/// goes to the provider's checkout page and the plan changes when it comes
/// back (`checkout_return`).
pub async fn change_plan(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<PlanChoice>,
) -> Result<Response, PageError> {
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    let changed = control_plane::money::subscriptions::change_plan(
        unit.conn(),
        &access,
        &catalog.catalog,
        &form.plan,
        state.config.payments.is_some(),
        Utc::now(),
    )
    .await;
    let next = match (changed, &state.config.payments) {
        // The refused change is rolled back (the unit is not committed);
        // the checkout only reads.
        (Err(Error::PaymentMethodRequired), Some(payments)) => {
            let urls = public_url::checkout_return(&state.config, &headers, org_id);
            let page = checkout::start(
                unit.conn(),
                &access,
                payments.provider.as_ref(),
                &catalog.catalog,
                &form.plan,
                &urls,
                &Uuid::now_v7().to_string(),
            )
            .await?;
            page.url
        }
        (changed, _) => {
            changed?;
            unit.commit().await?;
            format!("/orgs/{org_id}/billing")
        }
    };
    Ok(Redirect::to(&next).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CheckoutReturn {
    session_id: String,
}

/// Where the provider's checkout page sends the browser back: the card
/// becomes the default and the plan changes. Coming back twice (a reload)
/// changes nothing more.
pub async fn checkout_return(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    Query(back): Query<CheckoutReturn>,
) -> Result<Response, PageError> {
    let payments = state
        .config
        .payments
        .as_ref()
        .ok_or(Error::PaymentsNotConfigured)?;
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    checkout::complete(
        unit.conn(),
        &access,
        payments.provider.as_ref(),
        &catalog.catalog,
        &back.session_id,
        Utc::now(),
    )
    .await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/billing?checkout=done")).into_response())
}
