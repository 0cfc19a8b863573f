//! The audit log across organizations, filtered by organization, actor or
//! action, newest first, paged by keyset.

use axum::extract::{Query, State};
use axum::response::Response;
use control_plane::admin::query;
use control_plane::admin::{self, AuditQuery};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{console_page, given, parsed};
use crate::state::AppState;
use crate::web::common::audit_entries;
use crate::web::common::next_link;
use crate::web::{Admin, PageError};

#[derive(Debug, Default, Deserialize)]
pub struct AuditFilters {
    organization: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

pub async fn audit_log(
    State(state): State<AppState>,
    Admin { session, admin }: Admin,
    Query(filters): Query<AuditFilters>,
) -> Result<Response, PageError> {
    let query = AuditQuery {
        organization: parsed::<Uuid>("organization", &filters.organization)?,
        actor: AuditQuery::filter("actor", given(&filters.actor))?,
        action: AuditQuery::filter("action", given(&filters.action))?,
        before: parsed::<i64>("before", &filters.before)?,
        limit: query::limit(parsed("limit", &filters.limit)?)?,
    };
    let mut conn = state.db.acquire().await?;
    let (rows, next) = admin::audit_log(&mut conn, &admin, &query).await?;
    let pairs = [
        ("organization", given(&filters.organization)),
        ("actor", given(&filters.actor)),
        ("action", given(&filters.action)),
        ("limit", given(&filters.limit)),
    ];
    let next = next.map(|id| next_link("/admin/audit", &pairs, "before", &id.to_string()));
    let body = html! {
        h1 { "Audit log" }
        form class="filters" method="get" action="/admin/audit" role="search" {
            label { "Organization id" input name="organization" value=(given(&filters.organization).unwrap_or("")); }
            label { "Actor" input name="actor" value=(given(&filters.actor).unwrap_or("")) placeholder="user:…, admin:…, system"; }
            label { "Action" input name="action" value=(given(&filters.action).unwrap_or("")) placeholder="resources.suspend"; }
            button type="submit" { "Filter" }
        }
        (audit_entries(&rows))
        nav class="pager" aria-label="Pages" {
            a href="/admin/audit" { "Newest" }
            @if let Some(next) = next { " · " a href=(next) rel="next" { "Older" } }
        }
    };
    Ok(console_page(&session, "Audit log", body))
}
