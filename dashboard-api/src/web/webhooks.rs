//! Webhook endpoints on the dashboard: listed and added (the signing secret
//! shown once), and each one's page with its deliveries, each with its
//! status and the receiver's answer, and a button to send it again.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use control_plane::page::PageRequest;
use control_plane::webhooks::{
    Delivery, EndpointChange, EventType, NewEndpoint, WebhookEndpoint, delivery, endpoints,
};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::common::{Confirmed, confirmed, delete_form};
use super::layout::page;
use super::{CsrfForm, OrgPage, PageError, Session, Viewer, render, render_secret};
use crate::state::AppState;
use crate::unit::Unit;

/// How many of an endpoint's deliveries its page shows.
const DELIVERIES_SHOWN: u32 = 50;

fn when(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map_or_else(
        || "—".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn status(e: &WebhookEndpoint) -> Markup {
    match (&e.disabled_at, &e.disabled_reason) {
        (None, _) => html! { span class="phase Ready" { "Enabled" } },
        (Some(_), reason) => html! {
            span class="phase Suspended" { "Disabled" }
            @if let Some(reason) = reason { br; small { (reason) } }
        },
    }
}

/// The secret of a new endpoint or rotation, shown this once.
fn secret_notice(secret: Option<&str>) -> Markup {
    html! {
        @if let Some(secret) = secret {
            div class="notice" role="status" {
                p { strong { "Your signing secret. " } "Copy it now: it is shown only once." }
                p class="secret" data-testid="webhook-secret" { (secret) }
            }
        }
    }
}

fn list_page(
    session: &Session,
    viewer: &Viewer,
    org_id: Uuid,
    found: &[WebhookEndpoint],
    secret: Option<&str>,
) -> Markup {
    let body = html! {
        h1 { "Webhooks" }
        p {
            "Quartermaster posts each event to your endpoints, signed in the "
            code { "Quartermaster-Signature" } " header as Stripe signs its webhooks, "
            "and retries a failed delivery for 3 days."
        }
        (secret_notice(secret))
        table {
            thead { tr { th { "URL" } th { "Events" } th { "Status" } } }
            tbody {
                @for e in found {
                    tr {
                        td { a href={ "/orgs/" (org_id) "/webhooks/" (e.id) } { (e.url) } }
                        td { (e.event_types.join(", ")) }
                        td { (status(e)) }
                    }
                }
            }
        }
        h2 { "New endpoint" }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/webhooks" } {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "URL" input name="url" type="url" required maxlength="2048" placeholder="https://hooks.example.com/quartermaster"; }
            label { "Description" input name="description" maxlength="200"; }
            fieldset {
                legend { "Events" }
                @for t in EventType::ALL {
                    label class="inline" { input type="checkbox" name={ "event:" (t.as_str()) } value="on"; " " code { (t.as_str()) } }
                }
            }
            button type="submit" { "Add endpoint" }
        }
    };
    page("Webhooks", Some(viewer), None, body)
}

pub async fn webhooks(
    State(state): State<AppState>,
    OrgPage {
        session,
        access,
        viewer,
    }: OrgPage,
    Path(org_id): Path<Uuid>,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await?;
    let found = endpoints::list(&mut conn, &access, PageRequest::parse(Some(100), None)?).await?;
    Ok(render(
        StatusCode::OK,
        list_page(&session, &viewer, org_id, &found.data, None),
    ))
}

/// The new endpoint form: a checkbox per event type (`event:<type>`).
#[derive(Debug, Deserialize)]
pub struct NewEndpointForm {
    url: String,
    #[serde(default)]
    description: String,
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

pub async fn create(
    State(state): State<AppState>,
    OrgPage {
        session,
        access,
        viewer,
    }: OrgPage,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<NewEndpointForm>,
) -> Result<Response, PageError> {
    let types: Vec<String> = form
        .fields
        .keys()
        .filter_map(|k| k.strip_prefix("event:"))
        .map(str::to_owned)
        .collect();
    let new = NewEndpoint::parse(
        &form.url,
        Some(&form.description),
        &types,
        state.config.webhook_urls,
    )?;
    let mut unit = Unit::begin(&state).await?;
    let (_, secret) = endpoints::create(unit.conn(), &access, new).await?;
    let found = endpoints::list(unit.conn(), &access, PageRequest::parse(Some(100), None)?).await?;
    unit.commit().await?;
    Ok(render_secret(
        StatusCode::CREATED,
        list_page(
            &session,
            &viewer,
            org_id,
            &found.data,
            Some(secret.expose()),
        ),
    ))
}

fn endpoint_page(
    session: &Session,
    viewer: &Viewer,
    org_id: Uuid,
    e: &WebhookEndpoint,
    deliveries: &[Delivery],
    secret: Option<&str>,
) -> Markup {
    let here = format!("/orgs/{org_id}/webhooks/{}", e.id);
    let enabled = e.disabled_at.is_none();
    let body = html! {
        h1 { "Webhook endpoint" }
        (secret_notice(secret))
        table {
            tr { th { "URL" } td { code { (e.url) } } }
            @if !e.description.is_empty() { tr { th { "Description" } td { (e.description) } } }
            tr { th { "Events" } td { (e.event_types.join(", ")) } }
            tr { th { "Status" } td { (status(e)) } }
            @if let Some(until) = e.previous_expires_at.filter(|t| *t > Utc::now()) {
                tr { th { "Previous secret" } td { "still signs until " (when(Some(until))) } }
            }
        }
        div class="actions" {
            form method="post" action={ (here) "/enabled" } {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="enabled" value=(if enabled { "false" } else { "true" });
                button type="submit" { (if enabled { "Disable" } else { "Enable" }) }
            }
            form method="post" action={ (here) "/rotate" } {
                input type="hidden" name="csrf" value=(session.csrf);
                button type="submit" { "Rotate secret (the old one signs for 24 hours more)" }
            }
        }
        h2 { "Deliveries" }
        table {
            thead { tr { th { "Created" } th { "Event" } th { "Status" } th { "Attempts" } th { "Response" } th { "Last attempt" } th { "" } } }
            tbody {
                @for d in deliveries {
                    tr {
                        td { (when(Some(d.created_at))) }
                        td { code { (d.event_type) } br; small { (d.event_id.0) } }
                        td {
                            (d.status)
                            @if let Some(next) = d.next_attempt_at { br; small { "next try " (when(Some(next))) } }
                        }
                        td { (d.attempts) }
                        td {
                            @if let Some(code) = d.response_status { (code) } @else { "—" }
                            @if let Some(err) = &d.last_error { br; small { (err) } }
                        }
                        td { (when(d.last_attempt_at)) }
                        td {
                            form method="post" action={ (here) "/deliveries/" (d.id) "/resend" } {
                                input type="hidden" name="csrf" value=(session.csrf);
                                button type="submit" { "Resend" }
                            }
                        }
                    }
                }
            }
        }
        (delete_form(&format!("{here}/delete"), &session.csrf, "endpoint", "Nothing more is sent to it; its delivery log goes with it."))
    };
    page("Webhook endpoint", Some(viewer), None, body)
}

async fn show(
    state: &AppState,
    visit: OrgPage,
    org_id: Uuid,
    endpoint_id: Uuid,
    status: StatusCode,
    secret: Option<&str>,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await?;
    let e = endpoints::get(&mut conn, &visit.access, endpoint_id).await?;
    let (deliveries, _) = delivery::list(
        &mut conn,
        &visit.access,
        endpoint_id,
        None,
        DELIVERIES_SHOWN,
    )
    .await?;
    let markup = endpoint_page(
        &visit.session,
        &visit.viewer,
        org_id,
        &e,
        &deliveries,
        secret,
    );
    Ok(match secret {
        Some(_) => render_secret(status, markup),
        None => render(status, markup),
    })
}

pub async fn endpoint(
    State(state): State<AppState>,
    visit: OrgPage,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, PageError> {
    show(&state, visit, org_id, endpoint_id, StatusCode::OK, None).await
}

pub async fn rotate(
    State(state): State<AppState>,
    visit: OrgPage,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
    _: CsrfForm,
) -> Result<Response, PageError> {
    let mut unit = Unit::begin(&state).await?;
    let overlap = endpoints::rotation_overlap(None)?;
    let (_, secret) =
        endpoints::rotate(unit.conn(), &visit.access, endpoint_id, overlap, Utc::now()).await?;
    unit.commit().await?;
    show(
        &state,
        visit,
        org_id,
        endpoint_id,
        StatusCode::OK,
        Some(secret.expose()),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct EnabledForm {
    enabled: bool,
}

pub async fn set_enabled(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<EnabledForm>,
) -> Result<Response, PageError> {
    let change = EndpointChange::parse(
        None,
        None,
        None,
        Some(form.enabled),
        state.config.webhook_urls,
    )?;
    let mut unit = Unit::begin(&state).await?;
    endpoints::update(unit.conn(), &access, endpoint_id, change).await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/webhooks/{endpoint_id}")).into_response())
}

pub async fn resend(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, endpoint_id, delivery_id)): Path<(Uuid, Uuid, Uuid)>,
    _: CsrfForm,
) -> Result<Response, PageError> {
    let mut unit = Unit::begin(&state).await?;
    delivery::resend(unit.conn(), &access, endpoint_id, delivery_id, Utc::now()).await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/webhooks/{endpoint_id}")).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<Response, PageError> {
    confirmed(form.confirm.as_deref(), "deletion")?;
    let mut unit = Unit::begin(&state).await?;
    endpoints::delete(unit.conn(), &access, endpoint_id).await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/webhooks")).into_response())
}
