//! The admin console: every organization with its plan, standing and what
//! it owes, and suspending or resuming one. Platform administrators only.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use billing::money;
use control_plane::admin::{self, PlatformAdmin};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::layout::page;
use super::{Session, fail, render};
use crate::state::AppState;

async fn check(state: &AppState, session: &Session) -> Result<PlatformAdmin, Response> {
    let result = async {
        let mut conn = state.db.acquire().await?;
        admin::check(&mut conn, &session.principal()).await
    }
    .await;
    result.map_err(|e| fail(e.into()))
}

pub async fn console(State(state): State<AppState>, session: Session) -> Response {
    let admin = match check(&state, &session).await {
        Ok(admin) => admin,
        Err(page) => return page,
    };
    let organizations = async {
        let mut conn = state.db.acquire().await?;
        admin::organizations(&mut conn, &admin).await
    }
    .await;
    let organizations = match organizations {
        Ok(found) => found,
        Err(e) => return fail(e.into()),
    };
    let currency = state.catalog.get().catalog.currency.clone();
    let body = html! {
        h1 { "Organizations" }
        table {
            thead { tr { th { "Name" } th { "Plan" } th { "Status" } th class="num" { "Clusters" } th class="num" { "Unpaid" } th { "Action" } } }
            tbody {
                @for org in &organizations {
                    tr {
                        td { (org.name) br; small { code { (org.id) } } }
                        td { (org.plan) }
                        td { (org.status) @if let Some(r) = &org.suspended_reason { br; small { (r) } } }
                        td class="num" { (org.clusters) }
                        td class="num" { (money::format(org.open_invoices_minor, &currency)) }
                        td {
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
    };
    render(
        StatusCode::OK,
        page("Admin", Some(&session.viewer(None)), None, body),
    )
}

#[derive(Debug, Deserialize)]
pub struct SuspendForm {
    csrf: String,
    reason: String,
}

pub async fn suspend(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    Form(form): Form<SuspendForm>,
) -> Response {
    if let Some(refused) = session.refuse(&form.csrf) {
        return refused;
    }
    let admin = match check(&state, &session).await {
        Ok(admin) => admin,
        Err(page) => return page,
    };
    let done = async {
        let mut tx = state.db.begin().await?;
        admin::suspend(&mut tx, &admin, org_id, &form.reason).await?;
        tx.commit().await?;
        Ok::<_, control_plane::Error>(())
    }
    .await;
    match done {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(e) => fail(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn resume(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = session.refuse(&form.csrf) {
        return refused;
    }
    let admin = match check(&state, &session).await {
        Ok(admin) => admin,
        Err(page) => return page,
    };
    let done = async {
        let mut tx = state.db.begin().await?;
        admin::resume(&mut tx, &admin, org_id).await?;
        tx.commit().await?;
        Ok::<_, control_plane::Error>(())
    }
    .await;
    match done {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(e) => fail(e.into()),
    }
}
