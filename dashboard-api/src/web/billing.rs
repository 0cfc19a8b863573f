//! The plan, this period's estimate, invoices, and changing plan.

use axum::Form;
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
use super::{Session, fail, render};
use crate::public_url;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct Notice {
    /// Set on the way back from a completed checkout.
    checkout: Option<String>,
}

pub async fn billing(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    Query(notice): Query<Notice>,
) -> Response {
    let (access, viewer) = visit!(state, session, org_id);
    let published = state.catalog.get();
    let (subscription, (period, estimate), invoices) = db!(state, |conn| async {
        let subscription =
            control_plane::money::subscriptions::get(&mut conn, &access, Utc::now()).await?;
        let estimate = invoices::estimate(&mut conn, &access, &published, Utc::now()).await?;
        let invoices = invoices::list(&mut conn, &access).await?;
        Ok::<_, control_plane::Error>((subscription, estimate, invoices))
    });
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
            input type="hidden" name="csrf" value=(session.csrf);
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
                        td { (i.period_start.format("%Y-%m")) }
                        td { (i.status) }
                        td class="num" { (money::format(i.total_minor, &i.currency)) }
                    }
                }
            }
        }
    };
    render(StatusCode::OK, page("Billing", Some(&viewer), None, body))
}

#[derive(Debug, Deserialize)]
pub struct PlanChoice {
    csrf: String,
    plan: String,
}

/// Changes plan at once; where a paid plan needs a card first, the browser
/// goes to the provider's checkout page and the plan changes when it comes
/// back (`checkout_return`).
pub async fn change_plan(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    headers: HeaderMap,
    Form(form): Form<PlanChoice>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    let catalog = state.catalog.get();
    let billing_page = format!("/orgs/{org_id}/billing");
    let changed = async {
        let mut tx = state.db.begin().await?;
        let changed = control_plane::money::subscriptions::change_plan(
            &mut tx,
            &access,
            &catalog.catalog,
            &form.plan,
            state.config.payments.is_some(),
            Utc::now(),
        )
        .await;
        match (changed, &state.config.payments) {
            (Err(Error::PaymentMethodRequired), Some(payments)) => {
                let urls = public_url::checkout_return(&state.config, &headers, org_id);
                let page = checkout::start(
                    &mut tx,
                    &access,
                    payments.provider.as_ref(),
                    &catalog.catalog,
                    &form.plan,
                    &urls,
                    &Uuid::now_v7().to_string(),
                )
                .await?;
                Ok(page.url)
            }
            (changed, _) => {
                changed?;
                tx.commit().await?;
                Ok::<_, Error>(billing_page.clone())
            }
        }
    }
    .await;
    match changed {
        Ok(next) => Redirect::to(&next).into_response(),
        Err(e) => fail(e.into()),
    }
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
    session: Session,
    Path(org_id): Path<Uuid>,
    Query(back): Query<CheckoutReturn>,
) -> Response {
    let (access, _) = visit!(state, session, org_id);
    let Some(payments) = &state.config.payments else {
        return fail(Error::PaymentsNotConfigured.into());
    };
    let catalog = state.catalog.get();
    commit!(state, |tx| checkout::complete(
        &mut tx,
        &access,
        payments.provider.as_ref(),
        &catalog.catalog,
        &back.session_id,
        Utc::now()
    ));
    Redirect::to(&format!("/orgs/{org_id}/billing?checkout=done")).into_response()
}
