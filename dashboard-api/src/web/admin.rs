//! The admin console: every organization with its plan, standing and what
//! it owes, and suspending or resuming one. Platform administrators only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use billing::money;
use control_plane::admin;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::layout::page;
use super::{Admin, CsrfForm, PageError, render};
use crate::state::AppState;
use crate::unit::Unit;

pub async fn console(
    State(state): State<AppState>,
    Admin { session, admin }: Admin,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await?;
    let organizations = admin::organizations(&mut conn, &admin, chrono::Utc::now()).await?;
    let fleet = admin::fleet(&mut conn, &admin).await?;
    let planes = admin::data_planes(&mut conn, &admin).await?;
    let audit = admin::audit_log(&mut conn, &admin, 50).await?;
    let published = state.catalog.get();
    let currency = published.catalog.currency.clone();
    let body = html! {
        h1 { "Organizations" }
        table {
            thead { tr { th { "Name" } th { "Plan" } th { "Status" } th class="num" { "Clusters" } th class="num" { "Node-h / GPU-h this month" }
                th class="num" { "Unpaid" } th class="num" { "Credit" } th { "Action" } } }
            tbody {
                @for org in &organizations {
                    tr {
                        td { (org.name) br; small { code { (org.id) } } }
                        td { (org.plan) }
                        td { (org.status) @if let Some(r) = &org.suspended_reason { br; small { (r) } } }
                        td class="num" { (org.clusters) }
                        td class="num" { (org.node_hours) " / " (org.gpu_hours) }
                        td class="num" { (money::format(org.open_invoices_minor, &currency)) }
                        td class="num" { (money::format(org.credit_balance_minor, &currency)) }
                        td {
                            form method="post" action={ "/admin/orgs/" (org.id) "/plan" } {
                                input type="hidden" name="csrf" value=(session.csrf);
                                select name="plan" aria-label={ "Plan of " (org.name) } {
                                    @for plan in &published.catalog.plans {
                                        option value=(plan.id) selected[plan.id.as_str() == org.plan] { (plan.name) }
                                    }
                                }
                                button type="submit" { "Change plan" }
                            }
                            form method="post" action={ "/admin/orgs/" (org.id) "/credits" } {
                                input type="hidden" name="csrf" value=(session.csrf);
                                input type="number" name="amount_minor" min="1" required
                                    aria-label={ "Credit for " (org.name) ", in cents" } placeholder="cents";
                                input name="reason" required maxlength="500"
                                    aria-label={ "Why " (org.name) " gets credit" } placeholder="reason";
                                button type="submit" { "Grant credit" }
                            }
                            @if org.suspended_reason.is_some() {
                                form method="post" action={ "/admin/orgs/" (org.id) "/resume" } {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    button type="submit" { "Resume" }
                                }
                            } @else {
                                form method="post" action={ "/admin/orgs/" (org.id) "/suspend" } {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    label { "Reason" input name="reason" required maxlength="500"
                                        aria-label={ "Reason to suspend " (org.name) }; }
                                    button class="danger" type="submit" { "Suspend" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Fleet upgrade" }
        p { "Moves the next wave of Ready clusters to a new Qdrant version; the next wave starts only once every cluster of the last one is Ready again." }
        form class="stack" method="post" action="/admin/fleet-upgrade" {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "From version" input name="from" required placeholder="1.13.6"; }
            label { "To version" input name="to" required placeholder="1.14.0"; }
            label { "Clusters per wave" input type="number" name="size" min="1" max="100" value="5" required; }
            button type="submit" { "Start the next wave" }
        }
        h2 { "Clusters" }
        table {
            thead { tr { th { "Region" } th { "Organization" } th { "Cluster" } th { "Phase" } th { "Version" } th class="num" { "Nodes" } } }
            tbody {
                @for c in &fleet {
                    tr {
                        td { (c.region) } td { (c.organization) } td { (c.name) } td { (c.phase) }
                        @let wanted = c.spec.version.to_string();
                        td { (c.current_version.as_deref().unwrap_or("—")) @if c.current_version.as_deref() != Some(wanted.as_str()) { " → " (wanted) } }
                        td class="num" { (c.ready_nodes) " / " (c.spec.nodes) }
                    }
                }
            }
        }
        h2 { "Data planes" }
        table {
            thead { tr { th { "Region" } th { "Name" } th { "Kind" } th class="num" { "Clusters" } th { "Last heard" } th { "Backups" } } }
            tbody {
                @for p in &planes {
                    tr {
                        td { (p.region) } td { (p.name) } td { (p.kind) } td class="num" { (p.clusters) }
                        td { (p.last_synced_at.map_or("never".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())) }
                        td { @if p.backups { "yes" } @else { "no bucket" } }
                    }
                }
            }
        }
        h2 { "Audit log" }
        table {
            thead { tr { th { "When" } th { "Actor" } th { "Action" } th { "Target" } } }
            tbody {
                @for e in &audit {
                    tr {
                        td { (e.at.format("%Y-%m-%d %H:%M:%S")) } td { code { (e.actor) } } td { (e.action) }
                        td { (e.target_type) " " code { (e.target_id) } }
                    }
                }
            }
        }
    };
    Ok(render(
        StatusCode::OK,
        page("Admin", Some(&session.viewer(None, Vec::new())), None, body),
    ))
}

#[derive(Debug, Deserialize)]
pub struct SuspendForm {
    reason: String,
}

pub async fn suspend(
    State(state): State<AppState>,
    Admin { admin, .. }: Admin,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<SuspendForm>,
) -> Result<Redirect, PageError> {
    let mut unit = Unit::begin(&state).await?;
    admin::suspend(unit.conn(), &admin, org_id, &form.reason).await?;
    unit.commit().await?;
    Ok(to_console())
}

pub async fn resume(
    State(state): State<AppState>,
    Admin { admin, .. }: Admin,
    Path(org_id): Path<Uuid>,
    _: CsrfForm,
) -> Result<Redirect, PageError> {
    let mut unit = Unit::begin(&state).await?;
    admin::resume(unit.conn(), &admin, org_id).await?;
    unit.commit().await?;
    Ok(to_console())
}

#[derive(Debug, Deserialize)]
pub struct PlanForm {
    plan: String,
}

pub async fn change_plan(
    State(state): State<AppState>,
    Admin { admin, .. }: Admin,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<PlanForm>,
) -> Result<Redirect, PageError> {
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    admin::change_plan(
        unit.conn(),
        &admin,
        &catalog.catalog,
        org_id,
        &form.plan,
        chrono::Utc::now(),
    )
    .await?;
    unit.commit().await?;
    Ok(to_console())
}

#[derive(Debug, Deserialize)]
pub struct CreditForm {
    amount_minor: i64,
    reason: String,
}

pub async fn grant_credit(
    State(state): State<AppState>,
    Admin { admin, .. }: Admin,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<CreditForm>,
) -> Result<Redirect, PageError> {
    let mut unit = Unit::begin(&state).await?;
    admin::grant_credit(unit.conn(), &admin, org_id, form.amount_minor, &form.reason).await?;
    unit.commit().await?;
    Ok(to_console())
}

#[derive(Debug, Deserialize)]
pub struct FleetForm {
    from: String,
    to: String,
    size: i64,
}

pub async fn fleet_upgrade(
    State(state): State<AppState>,
    Admin { session, admin }: Admin,
    CsrfForm(form): CsrfForm<FleetForm>,
) -> Result<Response, PageError> {
    let mut unit = Unit::begin(&state).await?;
    let wave = admin::upgrade_wave(unit.conn(), &admin, &form.from, &form.to, form.size).await?;
    unit.commit().await?;
    let body = html! {
        h1 { "Fleet upgrade to " (form.to.trim()) }
        @if wave.in_flight > 0 {
            p class="notice" role="status" { (wave.in_flight) " cluster(s) of the last wave are not Ready yet: no new wave was started." }
        } @else {
            p role="status" { "Started on " (wave.started.len()) " cluster(s): " (wave.started.join(", ")) "." }
        }
        p { (wave.remaining) " cluster(s) remain on " (form.from.trim()) "." }
        p { a href="/admin" { "Back to the console" } }
    };
    Ok(render(
        StatusCode::OK,
        page(
            "Fleet upgrade",
            Some(&session.viewer(None, Vec::new())),
            None,
            body,
        ),
    ))
}

/// After an action: back to the console.
fn to_console() -> Redirect {
    Redirect::to("/admin")
}
