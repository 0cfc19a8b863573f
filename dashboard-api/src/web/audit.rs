//! The organization's own audit log, for its owners and admins: newest
//! first, filtered by action, older entries a link away.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use control_plane::admin::query;
use control_plane::audit::{self, AuditQuery};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::common::{audit_entries, next_link};
use super::layout::page;
use super::{OrgPage, PageError, render};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct AuditView {
    action: Option<String>,
    before: Option<i64>,
}

pub async fn audit_log(
    State(state): State<AppState>,
    OrgPage { access, viewer, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    Query(view): Query<AuditView>,
) -> Result<Response, PageError> {
    let action = AuditQuery::filter("action", view.action.as_deref())?;
    let query = AuditQuery {
        organization: None,
        actor: None,
        action: action.clone(),
        before: view.before,
        limit: query::DEFAULT_LIMIT,
    };
    let mut conn = state.db.acquire().await?;
    let (entries, next) = audit::list(&mut conn, &access, query).await?;
    let here = format!("/orgs/{org_id}/audit-log");
    let older = next.map(|id| {
        next_link(
            &here,
            &[("action", action.as_deref())],
            "before",
            &id.to_string(),
        )
    });
    let body = html! {
        h1 { "Audit log" }
        p { "Who did what in this organization, newest first: members by email, API keys by name." }
        form class="filters" method="get" action=(here) role="search" {
            label { "Action" input name="action" value=(action.as_deref().unwrap_or("")) placeholder="cluster.create"; }
            button type="submit" { "Filter" }
        }
        (audit_entries(&entries))
        nav class="pager" aria-label="Pages" {
            a href=(here) { "Newest" }
            @if let Some(older) = older { " · " a href=(older) rel="next" { "Older" } }
        }
    };
    Ok(render(
        StatusCode::OK,
        page("Audit log", Some(&viewer), None, body),
    ))
}
