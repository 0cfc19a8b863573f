//! The web dashboard and the admin console: pages rendered on the server
//! (maud), plain forms that work without JavaScript, the same domain calls
//! as the JSON API.
//!
//! Every form carries a CSRF token. Logged in, it is derived from the
//! session token (which scripts cannot read: the cookie is HttpOnly), so a
//! page on another site cannot know it; before login, it is a random value
//! also set as a cookie (double submit).
//!
//! A handler extracts what it needs ([`OrgPage`], [`CsrfForm`], [`Admin`]),
//! calls the domain and renders; it returns `Result<Response, PageError>`, so
//! a domain error becomes a page by `?`. Changes go through
//! [`crate::unit::Unit`], as the JSON API's do.

mod admin;
mod alerts;
mod audit;
mod auth;
mod billing;
mod chart;
mod clusters;
mod common;
mod credit;
mod endpoints;
mod error;
mod extract;
mod inference_keys;
mod keys;
mod labels;
mod layout;
mod members;
mod resize;
mod usage;
mod webhooks;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use control_plane::organizations;
use maud::Markup;

use crate::state::AppState;
pub use error::PageError;
use error::message;
pub use extract::{Admin, CsrfForm, OrgPage, Session};
pub use layout::Viewer;

/// The dashboard's routes, beside the JSON API's.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signup", get(auth::signup_form).post(auth::signup))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/orgs/{org_id}", get(clusters::overview))
        .route("/orgs/{org_id}/clusters", post(clusters::create_cluster))
        .route(
            "/orgs/{org_id}/clusters/{cluster_id}",
            get(clusters::cluster),
        )
        .route(
            "/orgs/{org_id}/clusters/{cluster_id}/delete",
            post(clusters::delete_cluster),
        )
        .route(
            "/orgs/{org_id}/clusters/{cluster_id}/update",
            post(clusters::update_cluster),
        )
        .route(
            "/orgs/{org_id}/clusters/{cluster_id}/resume",
            post(clusters::resume_cluster),
        )
        .route(
            "/orgs/{org_id}/clusters/{cluster_id}/labels",
            post(labels::set_cluster_labels),
        )
        .route(
            "/orgs/{org_id}/endpoints/{endpoint_id}/labels",
            post(labels::set_endpoint_labels),
        )
        .route(
            "/orgs/{org_id}/clusters/{cluster_id}/backup-policy",
            post(clusters::backup_policy),
        )
        .route(
            "/orgs/{org_id}/clusters/{cluster_id}/maintenance-window",
            post(clusters::maintenance_window),
        )
        .route(
            "/orgs/{org_id}/clusters/{cluster_id}/maintenance-window/clear",
            post(clusters::clear_maintenance_window),
        )
        .route(
            "/orgs/{org_id}/clusters/{cluster_id}/backups",
            post(clusters::take_backup),
        )
        .route(
            "/orgs/{org_id}/clusters/{cluster_id}/backups/{backup_id}/restore",
            post(clusters::restore_backup),
        )
        .route(
            "/orgs/{org_id}/endpoints/{endpoint_id}",
            get(endpoints::endpoint),
        )
        .route(
            "/orgs/{org_id}/endpoints/{endpoint_id}/wake",
            post(endpoints::wake_endpoint),
        )
        .route(
            "/orgs/{org_id}/endpoints/{endpoint_id}/delete",
            post(endpoints::delete_endpoint),
        )
        .route(
            "/orgs/{org_id}/endpoints/{endpoint_id}/inference-keys",
            post(inference_keys::create),
        )
        .route(
            "/orgs/{org_id}/endpoints/{endpoint_id}/inference-keys/{key_id}/revoke",
            post(inference_keys::revoke),
        )
        .route("/orgs/{org_id}/invitations", post(members::invite))
        .route(
            "/invitations/{token}",
            get(members::invitation).post(members::accept_invitation),
        )
        .route(
            "/orgs/{org_id}/members",
            get(members::members).post(members::add_member),
        )
        .route(
            "/orgs/{org_id}/api-keys",
            get(keys::api_keys).post(keys::create_api_key),
        )
        .route("/orgs/{org_id}/usage", get(usage::usage))
        .route("/orgs/{org_id}/usage/alerts", post(alerts::create))
        .route(
            "/orgs/{org_id}/usage/alerts/{alert_id}/delete",
            post(alerts::delete),
        )
        .route("/orgs/{org_id}/billing", get(billing::billing))
        .route("/orgs/{org_id}/billing/plan", post(billing::change_plan))
        .route(
            "/orgs/{org_id}/billing/checkout",
            get(billing::checkout_return),
        )
        .route("/orgs/{org_id}/billing/credit", post(credit::buy))
        .route(
            "/orgs/{org_id}/billing/credit/auto-top-up",
            post(credit::set_top_up),
        )
        .route(
            "/orgs/{org_id}/billing/credit/auto-top-up/delete",
            post(credit::clear_top_up),
        )
        .route(
            "/orgs/{org_id}/endpoints",
            get(endpoints::endpoints).post(endpoints::create_endpoint),
        )
        .route("/orgs/{org_id}/audit-log", get(audit::audit_log))
        .route(
            "/orgs/{org_id}/webhooks",
            get(webhooks::webhooks).post(webhooks::create),
        )
        .route(
            "/orgs/{org_id}/webhooks/{endpoint_id}",
            get(webhooks::endpoint),
        )
        .route(
            "/orgs/{org_id}/webhooks/{endpoint_id}/rotate",
            post(webhooks::rotate),
        )
        .route(
            "/orgs/{org_id}/webhooks/{endpoint_id}/enabled",
            post(webhooks::set_enabled),
        )
        .route(
            "/orgs/{org_id}/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend",
            post(webhooks::resend),
        )
        .route(
            "/orgs/{org_id}/webhooks/{endpoint_id}/delete",
            post(webhooks::delete),
        )
        .route("/admin", get(admin::console))
        .route("/admin/orgs/{org_id}", get(admin::organization))
        .route("/admin/clusters", get(admin::clusters))
        .route("/admin/audit", get(admin::audit_log))
        .route("/admin/data-planes", get(admin::data_planes))
        .route(
            "/admin/data-planes/{id}/revoke",
            post(admin::revoke_data_plane),
        )
        .route("/admin/orgs/{org_id}/suspend", post(admin::suspend))
        .route("/admin/orgs/{org_id}/resume", post(admin::resume))
        .route("/admin/orgs/{org_id}/plan", post(admin::change_plan))
        .route("/admin/orgs/{org_id}/credits", post(admin::grant_credit))
        .route(
            "/admin/orgs/{org_id}/usage-corrections",
            post(admin::correct_usage),
        )
        .route("/admin/fleet-upgrade", post(admin::fleet_upgrade))
}

/// `/`: the first organization's clusters, or the login page.
async fn home(
    State(state): State<AppState>,
    session: Option<Session>,
) -> Result<Response, PageError> {
    let Some(session) = session else {
        return Ok(Redirect::to("/login").into_response());
    };
    let mut conn = state.db.acquire().await?;
    let memberships = organizations::memberships(&mut conn, session.user_id).await?;
    Ok(match memberships.first() {
        Some(first) => Redirect::to(&format!("/orgs/{}", first.organization_id)).into_response(),
        None if session.admin => Redirect::to("/admin").into_response(),
        None => message(
            StatusCode::OK,
            "No organization",
            "You belong to no organization yet.",
        ),
    })
}

/// A page answering `status`.
pub fn render(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// As [`render`], for a page showing a secret this once: no cache keeps
/// it, and a reload shows the page without it.
pub fn render_secret(status: StatusCode, markup: Markup) -> Response {
    let mut response = render(status, markup);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
