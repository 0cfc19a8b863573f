//! Members, and invitations by email link.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use control_plane::access::Role;
use control_plane::accounts::Email;
use control_plane::organizations;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::layout::page;
use super::{CsrfForm, OrgPage, PageError, Session, render, render_secret};
use crate::state::AppState;
use crate::unit::Unit;

pub async fn members(
    State(state): State<AppState>,
    visit: OrgPage,
    Path(org_id): Path<Uuid>,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await?;
    let members = organizations::members(&mut conn, &visit.access).await?;
    let body = html! {
        h1 { "Members" }
        table {
            thead { tr { th { "Email" } th { "Role" } th { "Since" } } }
            tbody {
                @for m in &members {
                    tr { td { (m.email) } td { (m.role.as_str()) } td { (m.created_at.format("%Y-%m-%d")) } }
                }
            }
        }
        h2 { "Invite by email" }
        p { "A link for that address to join; it works once, for seven days." }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/invitations" } {
            input type="hidden" name="csrf" value=(visit.session.csrf);
            label { "Email" input type="email" name="email" required; }
            label { "Role"
                select name="role" {
                    option value="member" { "member" } option value="billing" { "billing" }
                    option value="admin" { "admin" } option value="owner" { "owner" }
                }
            }
            button type="submit" { "Create invitation" }
        }
        h2 { "Add an existing account" }
        p { "For someone who has already signed up." }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/members" } {
            input type="hidden" name="csrf" value=(visit.session.csrf);
            label { "Email" input type="email" name="email" required; }
            label { "Role"
                select name="role" {
                    option value="member" { "member: clusters, endpoints, keys" }
                    option value="billing" { "billing: invoices and plan" }
                    option value="admin" { "admin: everything but owners" }
                    option value="owner" { "owner" }
                }
            }
            button type="submit" { "Add" }
        }
    };
    Ok(render(
        StatusCode::OK,
        page("Members", Some(&visit.viewer), None, body),
    ))
}

#[derive(Debug, Deserialize)]
pub struct NewMember {
    email: String,
    role: String,
}

impl NewMember {
    /// The address and role asked for; or a page titled `refusal` saying
    /// which is wrong.
    fn parse(&self, refusal: &'static str) -> Result<(Email, Role), PageError> {
        Email::parse(&self.email)
            .map_err(|e| e.to_string())
            .and_then(|email| self.role.parse::<Role>().map(|role| (email, role)))
            .map_err(|reason| PageError::refused(StatusCode::UNPROCESSABLE_ENTITY, refusal, reason))
    }
}

pub async fn add_member(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<NewMember>,
) -> Result<Response, PageError> {
    let (email, role) = form.parse("Not added")?;
    let mut unit = Unit::begin(&state).await?;
    organizations::add_member(unit.conn(), &access, &email, role).await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/members")).into_response())
}

pub async fn invite(
    State(state): State<AppState>,
    OrgPage { access, viewer, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    headers: axum::http::HeaderMap,
    CsrfForm(form): CsrfForm<NewMember>,
) -> Result<Response, PageError> {
    let (email, role) = form.parse("Not invited")?;
    let base = crate::public_url::base(&state.config, &headers);
    let mailed = state.config.mail.then_some(base.as_str());
    let mut unit = Unit::begin(&state).await?;
    let (invitation, token) =
        control_plane::invitations::create(unit.conn(), &access, &email, role, Utc::now(), mailed)
            .await?;
    unit.commit().await?;
    let link = format!("{base}/invitations/{token}");
    let body = html! {
        h1 { "Invitation for " (invitation.email) }
        div class="notice" role="status" {
            p { (if state.config.mail { "We are emailing this link to " } else { "Send this link to " })
                (invitation.email) ". It is shown only now, works once, until "
                (invitation.expires_at.format("%Y-%m-%d")) "." }
            p class="secret" data-testid="invitation-link" { (link) }
        }
        p { a href={ "/orgs/" (org_id) "/members" } { "Back to members" } }
    };
    Ok(render_secret(
        StatusCode::CREATED,
        page("Invitation", Some(&viewer), None, body),
    ))
}

pub async fn invitation(
    State(state): State<AppState>,
    session: Option<Session>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await?;
    let (invitation, organization) =
        control_plane::invitations::find(&mut conn, &token, Utc::now()).await?;
    let viewer = session.as_ref().map(|s| s.viewer(None, Vec::new()));
    let body = html! {
        h1 { "Join " (organization) }
        p { "As " (invitation.role.as_str()) ", for " (invitation.email) "." }
        @match &session {
            Some(session) => {
                form method="post" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button type="submit" { "Join " (organization) }
                }
            }
            None => {
                p { a href="/login" { "Log in" } " or " a href="/signup" { "sign up" }
                    " as " (invitation.email) ", then open this link again." }
            }
        }
    };
    Ok(render(
        StatusCode::OK,
        page("Invitation", viewer.as_ref(), None, body),
    ))
}

pub async fn accept_invitation(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
    _: CsrfForm,
) -> Result<Response, PageError> {
    let mut unit = Unit::begin(&state).await?;
    let org = control_plane::invitations::accept(unit.conn(), session.user_id, &token, Utc::now())
        .await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org}")).into_response())
}
