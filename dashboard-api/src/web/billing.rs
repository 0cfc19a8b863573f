//! The plan, this period's estimate, invoices, and changing plan.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use billing::{Period, money};
use chrono::Utc;
use control_plane::invoices;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::common::in_transaction;
use super::layout::page;
use super::{Session, fail, render};
use crate::state::AppState;

pub async fn billing(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
) -> Response {
    let (access, viewer) = visit!(state, session, org_id);
    let published = state.catalog.get();
    let (subscription, (period, estimate), invoices) = db!(state, |conn| async {
        let subscription =
            control_plane::subscriptions::get(&mut conn, &access, Utc::now()).await?;
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
        p { "Plan: " strong { (subscription.plan) } " · status " (subscription.status)
            @if subscription.cancel_at_period_end { " · ends with this period" } }
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
                small { " Paid plans need a card on file: add one through the API's card setup (Stripe)." }
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

pub async fn change_plan(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    Form(form): Form<PlanChoice>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    let catalog = state.catalog.get();
    let card_required = state.config.payments.is_some();
    in_transaction(&state, format!("/orgs/{org_id}/billing"), |tx| {
        Box::pin(async move {
            control_plane::subscriptions::change_plan(
                tx,
                &access,
                &catalog.catalog,
                &form.plan,
                card_required,
                Utc::now(),
            )
            .await?;
            Ok(())
        })
    })
    .await
}
