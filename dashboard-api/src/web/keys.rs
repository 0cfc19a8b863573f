//! API keys: listed, and created with the token shown once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use control_plane::api_keys::{self, NewApiKey};
use control_plane::page::PageRequest;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::page;
use super::{CsrfForm, OrgPage, PageError, Session, render, render_secret};
use crate::state::AppState;
use crate::unit::Unit;

fn keys_page(
    session: &Session,
    viewer: &super::Viewer,
    org_id: Uuid,
    keys: &[api_keys::ApiKey],
    token: Option<&str>,
) -> Markup {
    let body = html! {
        h1 { "API keys" }
        @if let Some(token) = token {
            div class="notice" role="status" {
                p { strong { "Your new key. " } "Copy it now: it is shown only once." }
                p class="secret" data-testid="new-token" { (token) }
            }
        }
        table {
            thead { tr { th { "Name" } th { "Prefix" } th { "Scopes" } th { "Last used" } } }
            tbody {
                @for k in keys {
                    tr {
                        td { (k.name) @if k.revoked_at.is_some() { " (revoked)" } }
                        td { code { (k.prefix) } }
                        td { (k.scopes.0.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) }
                        td { (k.last_used_at.map_or("never".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())) }
                    }
                }
            }
        }
        h2 { "New key" }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/api-keys" } {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "Name" input name="name" required maxlength="100"; }
            button type="submit" { "Create key" }
        }
    };
    page("API keys", Some(viewer), None, body)
}

pub async fn api_keys(
    State(state): State<AppState>,
    visit: OrgPage,
    Path(org_id): Path<Uuid>,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await?;
    let keys = api_keys::list(
        &mut conn,
        &visit.access,
        PageRequest::parse(Some(100), None)?,
    )
    .await?;
    Ok(render(
        StatusCode::OK,
        keys_page(&visit.session, &visit.viewer, org_id, &keys.data, None),
    ))
}

#[derive(Debug, Deserialize)]
pub struct NewKey {
    name: String,
}

pub async fn create_api_key(
    State(state): State<AppState>,
    visit: OrgPage,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<NewKey>,
) -> Result<Response, PageError> {
    let new = NewApiKey::parse(&form.name, None)?;
    let mut unit = Unit::begin(&state).await?;
    let (_, token) = api_keys::create(unit.conn(), &visit.access, new).await?;
    let keys = api_keys::list(
        unit.conn(),
        &visit.access,
        PageRequest::parse(Some(100), None)?,
    )
    .await?;
    unit.commit().await?;
    Ok(render_secret(
        StatusCode::CREATED,
        keys_page(
            &visit.session,
            &visit.viewer,
            org_id,
            &keys.data,
            Some(token.expose()),
        ),
    ))
}
