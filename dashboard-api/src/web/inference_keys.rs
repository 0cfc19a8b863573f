//! An endpoint's inference keys on its page: those that may call it (its
//! own and the organization-wide ones), a form for a new one whose token
//! is shown once, and a revoke button for each.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use control_plane::Error;
use control_plane::access::Permission;
use control_plane::inference_keys::{self, CreateInferenceKey, InferenceKey};
use control_plane::validation::ValidationErrors;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::endpoints::endpoint_page;
use super::{CsrfForm, OrgPage, PageError, render_secret};
use crate::state::AppState;
use crate::unit::Unit;

/// The section of the endpoint page at `base`; `token` is a key just made.
pub(super) fn section(
    visit: &OrgPage,
    base: &str,
    keys: &[InferenceKey],
    token: Option<&str>,
) -> Markup {
    let csrf = &visit.session.csrf;
    let date = |t: Option<chrono::DateTime<Utc>>, none: &str| {
        t.map_or(none.to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
    };
    let limit = |n: Option<u32>| n.map_or("the plan's cap".to_owned(), |n| n.to_string());
    html! {
        h2 id="inference-keys" { "Inference keys" }
        @if let Some(token) = token {
            div class="notice" role="status" {
                p { strong { "Your new inference key. " } "Copy it now: it is shown only once." }
                p class="secret" data-testid="new-inference-key" { (token) }
            }
        }
        @if keys.is_empty() {
            p { "No key may call this endpoint yet." }
        } @else {
            table aria-labelledby="inference-keys" {
                thead { tr {
                    th { "Name" } th { "Prefix" } th { "Scope" } th { "Expires" }
                    th class="num" { "Requests / min" } th class="num" { "Tokens / min" }
                    th { "Revoke" }
                } }
                tbody {
                    @for k in keys {
                        @let limits = k.limits();
                        tr {
                            td { (k.name) }
                            td { code { (k.prefix) } }
                            td { @if k.endpoint_id.is_some() { "this endpoint" } @else { "all endpoints" } }
                            td { (date(k.expires_at, "never")) }
                            td class="num" { (limit(limits.requests_per_minute)) }
                            td class="num" { (limit(limits.tokens_per_minute)) }
                            td {
                                form method="post" action={ (base) "/inference-keys/" (k.id) "/revoke" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" aria-label={ "Revoke " (k.name) } { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 { "New inference key" }
        form class="stack" method="post" action={ (base) "/inference-keys" } {
            input type="hidden" name="csrf" value=(csrf);
            label { "Name" input name="name" required maxlength="100"; }
            fieldset {
                legend { "May call" }
                label { input type="radio" name="scope" value="endpoint" checked; " this endpoint" }
                label { input type="radio" name="scope" value="all"; " all endpoints of the organization" }
            }
            label { "Expires after (days)" small { "optional" } input type="number" name="expires_in_days" min="1" max="3650"; }
            label { "Requests per minute" small { "optional" } input type="number" name="requests_per_minute" min="1"; }
            label { "Tokens per minute" small { "optional" } input type="number" name="tokens_per_minute" min="1"; }
            button type="submit" { "Create inference key" }
        }
    }
}

/// The keys the endpoint page lists: none for a caller who may not read
/// them (its section then is not shown).
pub(super) async fn listed(
    conn: &mut sqlx::PgConnection,
    visit: &OrgPage,
    endpoint_id: Uuid,
) -> Result<Option<Vec<InferenceKey>>, PageError> {
    if !visit.access.allows(Permission::InferenceKeysRead) {
        return Ok(None);
    }
    let keys = inference_keys::for_endpoint(conn, &visit.access, endpoint_id).await?;
    Ok(Some(keys))
}

#[derive(Debug, Deserialize)]
pub struct NewInferenceKey {
    name: String,
    scope: Option<String>,
    expires_in_days: Option<String>,
    requests_per_minute: Option<String>,
    tokens_per_minute: Option<String>,
}

impl NewInferenceKey {
    /// The request the form asks for; a blank number is left out.
    fn request(&self, endpoint_id: Uuid) -> Result<CreateInferenceKey, Error> {
        let mut errors = ValidationErrors::default();
        let mut whole = |field: &str, raw: &Option<String>| {
            let raw = raw.as_deref().map(str::trim).filter(|r| !r.is_empty())?;
            errors.check(
                field,
                raw.parse::<i64>().map_err(|_| "must be a whole number"),
            )
        };
        let requests_per_minute = whole("requests_per_minute", &self.requests_per_minute);
        let tokens_per_minute = whole("tokens_per_minute", &self.tokens_per_minute);
        let days = whole("expires_in_days", &self.expires_in_days);
        let days = days.and_then(|days| errors.in_range("expires_in_days", days, 1..=3650));
        let endpoint_id = match self.scope.as_deref() {
            Some("all") => None,
            _ => Some(endpoint_id),
        };
        errors.into_result(CreateInferenceKey {
            name: self.name.clone(),
            endpoint_id,
            expires_at: days.map(|d| Utc::now() + Duration::days(i64::from(d))),
            requests_per_minute,
            tokens_per_minute,
        })
    }
}

pub async fn create(
    State(state): State<AppState>,
    visit: OrgPage,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<NewInferenceKey>,
) -> Result<Response, PageError> {
    let request = form.request(endpoint_id)?;
    let catalog = &state.catalog.get().catalog;
    let mut unit = Unit::begin(&state).await?;
    let (_, token) = inference_keys::create(unit.conn(), &visit.access, catalog, &request).await?;
    let page = endpoint_page(
        unit.conn(),
        &visit,
        org_id,
        endpoint_id,
        Some(token.expose()),
    )
    .await?;
    unit.commit().await?;
    Ok(render_secret(StatusCode::CREATED, page))
}

pub async fn revoke(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, endpoint_id, key_id)): Path<(Uuid, Uuid, Uuid)>,
    _: CsrfForm,
) -> Result<Response, PageError> {
    let mut unit = Unit::begin(&state).await?;
    inference_keys::revoke(unit.conn(), &access, key_id).await?;
    unit.commit().await?;
    let page = format!("/orgs/{org_id}/endpoints/{endpoint_id}#inference-keys");
    Ok(Redirect::to(&page).into_response())
}
