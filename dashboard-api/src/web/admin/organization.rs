//! One organization's page in the console: members, clusters and endpoints
//! with their phases, invoices and payments, credits, suspensions with
//! their reasons, usage corrections with their adjustments, its audit log
//! and usage charts; and the actions on it (suspend, resume, change plan,
//! grant credit, correct usage), each behind a box ticked to confirm it.

use axum::extract::{Path, State};
use axum::response::{Redirect, Response};
use billing::money;
use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, Utc};
use control_plane::admin::corrections::{self, CorrectionRequest};
use control_plane::admin::{self, AuditQuery};
use control_plane::validation::ValidationErrors;
use maud::html;
use metering::report::{self, Granularity, ReportQuery};
use serde::Deserialize;
use uuid::Uuid;

use super::{confirm_box, console_page};
use crate::state::AppState;
use crate::unit::Unit;
use crate::web::common::{audit_entries, confirmed, phase_cell};
use crate::web::usage::charts;
use crate::web::{Admin, CsrfForm, PageError};

/// Audit entries shown on the page; the rest are one link away.
const AUDIT_ON_PAGE: u32 = 20;

pub async fn organization(
    State(state): State<AppState>,
    Admin { session, admin }: Admin,
    Path(org_id): Path<Uuid>,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let mut conn = state.db.acquire().await?;
    let detail = admin::organization(&mut conn, &admin, org_id, now).await?;
    let audit_query = AuditQuery {
        organization: Some(org_id),
        limit: AUDIT_ON_PAGE,
        ..AuditQuery::default()
    };
    let (audit, _) = admin::audit_log(&mut conn, &admin, &audit_query).await?;
    let corrections = corrections::list(&mut conn, &admin, org_id).await?;
    let to = now.duration_trunc(Duration::days(1)).unwrap_or(now) + Duration::days(1);
    let usage = report::report(
        &mut conn,
        &ReportQuery {
            organization_id: org_id,
            from: to - Duration::days(30),
            to,
            granularity: Granularity::Day,
            resource_id: None,
            meter: None,
            key_id: None,
            group_by_label: None,
        },
    )
    .await?;
    let published = state.catalog.get();
    let currency = &published.catalog.currency;
    let org = &detail.summary;
    let csrf = &session.csrf;
    let action = |verb: &str| format!("/admin/orgs/{org_id}/{verb}");
    let body = html! {
        h1 { (org.name) }
        table class="facts" {
            tr { th { "Id" } td { code { (org.id) } } }
            tr { th { "Plan" } td { (org.plan) } }
            tr { th { "Standing" } td { (org.standing().as_str()) } }
            tr { th { "Stripe customer" } td { (org.payment_customer_id.as_deref().unwrap_or("none yet")) } }
            tr { th { "Unpaid" } td { (money::format(org.open_invoices_minor, currency)) } }
            tr { th { "Credit" } td { (money::format(org.credit_balance_minor, currency)) } }
            tr { th { "Created" } td { (org.created_at.format("%Y-%m-%d %H:%M")) } }
        }
        h2 { "Suspensions" }
        @if let (Some(by), Some(reason)) = (&org.suspended_by, &org.suspended_reason) {
            p class="notice error" role="alert" { strong { "Suspended by " (by) ": " } (reason) }
        } @else {
            p { "The organization is not suspended." }
        }
        h2 { "Members" }
        table {
            thead { tr { th { "Email" } th { "Role" } th { "Joined" } } }
            tbody { @for m in &detail.members { tr { td { (m.email) } td { (m.role) } td { (m.joined_at.format("%Y-%m-%d")) } } } }
        }
        h2 { "Clusters and endpoints" }
        table {
            thead { tr { th { "Kind" } th { "Name" } th { "Region" } th { "Phase" } } }
            tbody {
                @for r in &detail.resources {
                    tr { td { (r.kind) } td { (r.name) br; small { code { (r.id) } } } td { (r.region) }
                        (phase_cell(&r.phase, r.suspended_reason.as_deref())) }
                }
            }
        }
        @if detail.resources.is_empty() { p { "Nothing running." } }
        h2 { "Usage, last 30 days" }
        (charts(&usage, "%m-%d"))
        h2 { "Invoices and payments" }
        table {
            thead { tr { th { "Number" } th { "Period" } th { "Status" } th class="num" { "Total" } th { "Paid" } th { "Last payment error" } } }
            tbody {
                @for i in &detail.invoices {
                    tr { td { (i.number) } td { (i.period_start.format("%Y-%m")) } td { (i.status.as_str()) }
                        td class="num" { (money::format(i.total_minor, &i.currency)) }
                        td { (i.paid_at.map_or("—".to_owned(), |t| t.format("%Y-%m-%d").to_string())) }
                        td { (i.payment_error.as_deref().unwrap_or("—")) } }
                }
            }
        }
        @if detail.invoices.is_empty() { p { "No invoices yet." } }
        h2 { "Credits" }
        table {
            thead { tr { th { "Granted" } th class="num" { "Amount" } th { "Reason" } th { "By" } } }
            tbody {
                @for c in &detail.credits {
                    tr { td { (c.created_at.format("%Y-%m-%d")) } td class="num" { (money::format(c.amount_minor, currency)) }
                        td { (c.reason) } td { code { (c.created_by) } } }
                }
            }
        }
        @if detail.credits.is_empty() { p { "No credit granted." } }
        h2 { "Usage corrections" }
        table {
            thead { tr { th { "When" } th { "Events named" } th { "Action" } th { "Reason" } th { "Effect" } th { "By" } } }
            tbody {
                @for d in &corrections {
                    @let c = &d.correction;
                    tr {
                        td { (c.created_at.format("%Y-%m-%d %H:%M")) }
                        td { code { (c.meter) } " of " code { (c.resource_id) } br;
                            @if let (Some(source), Some(id)) = (&c.event_source, &c.event_id) {
                                "event " code { (source) " / " (id) }
                            } @else if let (Some(from), Some(to)) = (c.time_from, c.time_to) {
                                (from.format("%Y-%m-%d %H:%M")) " to " (to.format("%Y-%m-%d %H:%M"))
                            }
                            " (" (c.events) " changed)" }
                        td { (c.action) @if let Some(v) = c.value { " to " (v) } }
                        td { (c.reason) }
                        td {
                            @if c.in_rollups { "Rollups corrected" }
                            @else if d.adjustments.is_empty() { "Nothing invoiced changes" }
                            @for a in &d.adjustments {
                                (a.invoice_number) " line " (a.line_no) ": " (money::format(a.amount_minor, currency))
                                ", " (money::format(a.applied_minor, currency)) " applied" br;
                            }
                        }
                        td { code { (c.created_by) } }
                    }
                }
            }
        }
        @if corrections.is_empty() { p { "No usage corrected." } }
        h2 { "Actions" }
        div class="actions" {
            @if org.suspended_reason.is_some() {
                form method="post" action=(action("resume")) {
                    input type="hidden" name="csrf" value=(csrf);
                    (confirm_box(html! { "Resume what an administrator suspended" }))
                    button type="submit" { "Resume" }
                }
            } @else {
                form method="post" action=(action("suspend")) {
                    input type="hidden" name="csrf" value=(csrf);
                    label { "Reason, shown to the customer" input name="reason" required maxlength="500"; }
                    (confirm_box(html! { "Suspend every cluster and endpoint of " (org.name) }))
                    button class="danger" type="submit" { "Suspend" }
                }
            }
            form method="post" action=(action("plan")) {
                input type="hidden" name="csrf" value=(csrf);
                label { "Plan" select name="plan" {
                    @for plan in &published.catalog.plans {
                        option value=(plan.id) selected[plan.id.as_str() == org.plan] { (plan.name) }
                    }
                } }
                (confirm_box(html! { "Move " (org.name) " to this plan now, without a card" }))
                button type="submit" { "Change plan" }
            }
            form method="post" action=(action("credits")) {
                input type="hidden" name="csrf" value=(csrf);
                label { "Credit, in cents" input type="number" name="amount_minor" min="1" required; }
                label { "Reason" input name="reason" required maxlength="500"; }
                (confirm_box(html! { "Grant this credit to " (org.name) }))
                button type="submit" { "Grant credit" }
            }
            form method="post" action=(action("usage-corrections")) {
                input type="hidden" name="csrf" value=(csrf);
                fieldset {
                    legend { "One event" }
                    label { "Event source" input name="event_source" maxlength="255"; }
                    label { "Event id" input name="event_id" maxlength="255"; }
                }
                fieldset {
                    legend { "Or a range, in one month (UTC)" }
                    label { "Resource id" input name="resource_id"; }
                    label { "Meter" select name="meter" {
                        option value="" { "—" }
                        @for meter in metering::Meter::ALL { option value=(meter.as_str()) { (meter.as_str()) } }
                    } }
                    label { "From" input type="datetime-local" name="from"; }
                    label { "To" input type="datetime-local" name="to"; }
                }
                label { "Action" select name="action" {
                    option value="void" { "Void" }
                    option value="set" { "Set the value to" }
                } }
                label { "Value" input type="number" name="value" min="0"; }
                label { "Reason" input name="reason" required maxlength="500"; }
                (confirm_box(html! { "Correct this usage of " (org.name) }))
                button type="submit" { "Correct usage" }
            }
        }
        h2 { "Audit log" }
        (audit_entries(&audit))
        p { a href={ "/admin/audit?organization=" (org_id) } { "The whole audit log of " (org.name) } }
    };
    Ok(console_page(&session, &org.name, body))
}

#[derive(Debug, Deserialize)]
pub struct SuspendForm {
    reason: String,
    confirm: Option<String>,
}

pub async fn suspend(
    State(state): State<AppState>,
    Admin { admin, .. }: Admin,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<SuspendForm>,
) -> Result<Redirect, PageError> {
    confirmed(form.confirm.as_deref(), "suspension")?;
    let mut unit = Unit::begin(&state).await?;
    admin::suspend(unit.conn(), &admin, org_id, &form.reason).await?;
    unit.commit().await?;
    Ok(back_to(org_id))
}

#[derive(Debug, Deserialize)]
pub struct ResumeForm {
    confirm: Option<String>,
}

pub async fn resume(
    State(state): State<AppState>,
    Admin { admin, .. }: Admin,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ResumeForm>,
) -> Result<Redirect, PageError> {
    confirmed(form.confirm.as_deref(), "resumption")?;
    let mut unit = Unit::begin(&state).await?;
    admin::resume(unit.conn(), &admin, org_id).await?;
    unit.commit().await?;
    Ok(back_to(org_id))
}

#[derive(Debug, Deserialize)]
pub struct PlanForm {
    plan: String,
    confirm: Option<String>,
}

pub async fn change_plan(
    State(state): State<AppState>,
    Admin { admin, .. }: Admin,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<PlanForm>,
) -> Result<Redirect, PageError> {
    confirmed(form.confirm.as_deref(), "plan change")?;
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    admin::change_plan(
        unit.conn(),
        &admin,
        &catalog.catalog,
        org_id,
        &form.plan,
        Utc::now(),
    )
    .await?;
    unit.commit().await?;
    Ok(back_to(org_id))
}

#[derive(Debug, Deserialize)]
pub struct CreditForm {
    amount_minor: i64,
    reason: String,
    confirm: Option<String>,
}

pub async fn grant_credit(
    State(state): State<AppState>,
    Admin { admin, .. }: Admin,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<CreditForm>,
) -> Result<Redirect, PageError> {
    confirmed(form.confirm.as_deref(), "credit")?;
    let mut unit = Unit::begin(&state).await?;
    admin::grant_credit(unit.conn(), &admin, org_id, form.amount_minor, &form.reason).await?;
    unit.commit().await?;
    Ok(back_to(org_id))
}

/// The form's fields, as typed: an empty field is one left out.
#[derive(Debug, Deserialize)]
pub struct CorrectionForm {
    #[serde(default)]
    event_source: String,
    #[serde(default)]
    event_id: String,
    #[serde(default)]
    resource_id: String,
    #[serde(default)]
    meter: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    action: String,
    #[serde(default)]
    value: String,
    reason: String,
    confirm: Option<String>,
}

impl CorrectionForm {
    /// The request the form asks for; fields that do not parse are named.
    fn request(self) -> Result<CorrectionRequest, control_plane::Error> {
        let mut errors = ValidationErrors::default();
        let given = |s: String| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let resource_id =
            given(self.resource_id).and_then(|r| errors.check("resource_id", r.parse::<Uuid>()));
        let value = given(self.value).and_then(|v| errors.check("value", v.parse::<i64>()));
        let mut time = |field: &str, raw: String| {
            let raw = given(raw)?;
            let parsed = DateTime::parse_from_rfc3339(&raw)
                .map(|t| t.with_timezone(&Utc))
                .or_else(|_| {
                    NaiveDateTime::parse_from_str(&raw, "%Y-%m-%dT%H:%M").map(|t| t.and_utc())
                });
            errors.check(
                field,
                parsed.map_err(|_| "must be a date and time such as 2026-11-25T12:00"),
            )
        };
        let (from, to) = (time("from", self.from), time("to", self.to));
        errors.into_result(CorrectionRequest {
            event_source: given(self.event_source),
            event_id: given(self.event_id),
            resource_id,
            meter: given(self.meter),
            from,
            to,
            action: self.action,
            value,
            reason: self.reason,
        })
    }
}

pub async fn correct_usage(
    State(state): State<AppState>,
    Admin { admin, .. }: Admin,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<CorrectionForm>,
) -> Result<Redirect, PageError> {
    confirmed(form.confirm.as_deref(), "usage correction")?;
    let request = form.request()?;
    let mut unit = Unit::begin(&state).await?;
    corrections::correct(unit.conn(), &admin, org_id, &request).await?;
    unit.commit().await?;
    Ok(back_to(org_id))
}

/// After an action: back to the organization's page.
fn back_to(org_id: Uuid) -> Redirect {
    Redirect::to(&format!("/admin/orgs/{org_id}"))
}
