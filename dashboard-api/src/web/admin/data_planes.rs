//! The data planes: how each stands (a connected one silent for too long is
//! stale), which are customer-run and for whom, and the revocation of a
//! connected one, behind a box ticked to confirm it.

use axum::extract::{Path, State};
use axum::response::{Redirect, Response};
use chrono::Utc;
use control_plane::data_planes::{enrollment, standing};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{confirm_box, console_page};
use crate::state::AppState;
use crate::web::common::confirmed;
use crate::web::{Admin, CsrfForm, PageError};

pub async fn data_planes(
    State(state): State<AppState>,
    Admin { session, admin: _ }: Admin,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await?;
    let planes = standing::list(&mut conn, Utc::now()).await?;
    let csrf = &session.csrf;
    let body = html! {
        h1 { "Data planes" }
        p { "A connected data plane silent for more than "
            (standing::STALE_AFTER.num_minutes()) " minutes is stale: its clusters keep their "
            "last known state, and none is deleted for silence." }
        table {
            thead { tr {
                th { "Region" } th { "Name" } th { "Standing" } th { "Run by" }
                th { "Last seen" } th { "Clusters" } th { "Endpoints" } th { "Actions" }
            } }
            tbody {
                @for plane in &planes {
                    tr {
                        td { (plane.region) }
                        td { (plane.name) }
                        td { span class={ "badge " (plane.standing.as_str().replace(' ', "-")) } { (plane.standing.as_str()) } }
                        td {
                            @match (&plane.organization_id, &plane.organization_name) {
                                (Some(id), Some(name)) => {
                                    "customer-run: " a href={ "/admin/orgs/" (id) } { (name) }
                                    @if let Some(list) = &plane.price_list { " (price list " (list) ")" }
                                }
                                _ => "the service",
                            }
                        }
                        td { @match plane.last_seen_at { Some(t) => (t.format("%Y-%m-%d %H:%M:%S UTC")), None => "never" } }
                        td { (plane.clusters) }
                        td { (plane.endpoints) }
                        td {
                            @if matches!(plane.standing, standing::Standing::Connected
                                | standing::Standing::Stale | standing::Standing::AwaitingEnrollment) {
                                form method="post" action={ "/admin/data-planes/" (plane.id) "/revoke" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    (confirm_box(html! { "Revoke " (plane.name) "'s credentials" }))
                                    button class="danger" type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(console_page(&session, "Data planes", body))
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    confirm: Option<String>,
}

pub async fn revoke_data_plane(
    State(state): State<AppState>,
    Admin { admin, .. }: Admin,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<RevokeForm>,
) -> Result<Redirect, PageError> {
    confirmed(form.confirm.as_deref(), "revocation")?;
    let mut conn = state.db.acquire().await?;
    enrollment::revoke(&mut conn, id, &admin.actor(), Utc::now()).await?;
    Ok(Redirect::to("/admin/data-planes"))
}
