//! The web dashboard and the admin console: pages rendered on the server
//! (maud), plain forms that work without JavaScript, the same domain calls
//! as the JSON API.
//!
//! Every form carries a CSRF token. Logged in, it is derived from the
//! session token (which scripts cannot read: the cookie is HttpOnly), so a
//! page on another site cannot know it; before login, it is a random value
//! also set as a cookie (double submit).

/// The organization a page is about, with the navigation's view of the
/// person; or, from the handler, the page that says why not (404).
macro_rules! visit {
    ($state:expr, $session:expr, $org:expr) => {
        match $crate::web::organization(&$state, &$session, $org).await {
            Ok(found) => found,
            Err(page) => return page,
        }
    };
}

/// As `visit!` for a form: its CSRF token is checked first.
macro_rules! submit {
    ($state:expr, $session:expr, $org:expr, $csrf:expr) => {
        submit!($state, $session, $org, $csrf, with viewer).0
    };
    ($state:expr, $session:expr, $org:expr, $csrf:expr, with viewer) => {{
        if let Some(refused) = $session.refuse($csrf) {
            return refused;
        }
        visit!($state, $session, $org)
    }};
}

/// Runs `work` on a pooled connection; a domain error becomes a page.
macro_rules! db {
    ($state:expr, |$conn:ident| $work:expr) => {{
        let result = async {
            let mut $conn = $state.db.acquire().await?;
            $work.await
        }
        .await;
        match result {
            Ok(value) => value,
            Err(e) => return fail(control_plane::Error::from(e).into()),
        }
    }};
}

/// Runs `work` in one transaction and commits it; a domain error (a plan
/// limit, a bad value) becomes a page saying why.
macro_rules! commit {
    ($state:expr, |$tx:ident| $work:expr) => {{
        let result = async {
            let mut $tx = $state.db.begin().await?;
            let value = $work.await?;
            $tx.commit().await?;
            Ok::<_, control_plane::Error>(value)
        }
        .await;
        match result {
            Ok(value) => value,
            Err(e) => return $crate::web::fail(e.into()),
        }
    }};
}

mod admin;
mod auth;
mod billing;
mod chart;
mod clusters;
mod common;
mod endpoints;
mod keys;
mod layout;
mod members;
mod resize;
mod usage;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use control_plane::access::{self, OrgAccess, Principal};
use control_plane::accounts::{self, sessions};
use control_plane::organizations;
use maud::{Markup, html};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::session_token;
use crate::state::AppState;
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
        .route("/orgs/{org_id}/billing", get(billing::billing))
        .route("/orgs/{org_id}/billing/plan", post(billing::change_plan))
        .route(
            "/orgs/{org_id}/billing/checkout",
            get(billing::checkout_return),
        )
        .route(
            "/orgs/{org_id}/endpoints",
            get(endpoints::endpoints).post(endpoints::create_endpoint),
        )
        .route("/admin", get(admin::console))
        .route("/admin/orgs/{org_id}/suspend", post(admin::suspend))
        .route("/admin/orgs/{org_id}/resume", post(admin::resume))
        .route("/admin/orgs/{org_id}/plan", post(admin::change_plan))
        .route("/admin/orgs/{org_id}/credits", post(admin::grant_credit))
        .route("/admin/fleet-upgrade", post(admin::fleet_upgrade))
}

/// The CSRF token of a session.
fn csrf_for(session: &str) -> String {
    Sha256::digest(format!("quartermaster-csrf:{session}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A logged-in person, with the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: Uuid,
    pub email: String,
    pub admin: bool,
    pub csrf: String,
}

impl Session {
    pub fn principal(&self) -> Principal {
        Principal::User {
            user_id: self.user_id,
        }
    }

    /// The answer to a form whose token is not this session's; `None`
    /// when it is.
    pub fn refuse(&self, token: &str) -> Option<Response> {
        (!constant_time_eq(token.as_bytes(), self.csrf.as_bytes())).then(|| {
            message(
                StatusCode::FORBIDDEN,
                "The form has expired",
                "Reload the page and send it again.",
            )
        })
    }

    /// The navigation's view of this person in `organization`, among
    /// `organizations`.
    pub fn viewer(
        &self,
        organization: Option<(Uuid, String)>,
        organizations: Vec<(Uuid, String)>,
    ) -> Viewer {
        Viewer {
            email: self.email.clone(),
            organization,
            organizations,
            admin: self.admin,
            csrf: self.csrf.clone(),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/login").into_response();
        let token = session_token(&parts.headers).ok_or_else(to_login)?;
        let mut conn = state.db.acquire().await.map_err(|e| fail(e.into()))?;
        let user_id = sessions::user_for(&mut conn, &token)
            .await
            .map_err(|_| to_login())?;
        let user = accounts::user(&mut conn, user_id)
            .await
            .map_err(|e| fail(e.into()))?;
        Ok(Session {
            user_id,
            email: user.email,
            admin: user.is_platform_admin,
            csrf: csrf_for(&token),
        })
    }
}

/// An organization the session may see, for a page under `/orgs/{id}`.
pub async fn organization(
    state: &AppState,
    session: &Session,
    org_id: Uuid,
) -> Result<(OrgAccess, Viewer), Response> {
    let mut conn = state.db.acquire().await.map_err(|e| fail(e.into()))?;
    let access = access::resolve(&mut conn, &session.principal(), org_id)
        .await
        .map_err(|e| fail(e.into()))?;
    let org = organizations::get(&mut conn, &access)
        .await
        .map_err(|e| fail(e.into()))?;
    let all = organizations::memberships(&mut conn, session.user_id)
        .await
        .map_err(|e| fail(e.into()))?
        .into_iter()
        .map(|m| (m.organization_id, m.organization_name))
        .collect();
    Ok((access, session.viewer(Some((org.id, org.name)), all)))
}

/// `/`: the first organization's clusters, or the login page.
async fn home(state: axum::extract::State<AppState>, session: Option<Session>) -> Response {
    let Some(session) = session else {
        return Redirect::to("/login").into_response();
    };
    let mut conn = match state.db.acquire().await {
        Ok(conn) => conn,
        Err(e) => return fail(e.into()),
    };
    match organizations::memberships(&mut conn, session.user_id).await {
        Ok(memberships) => match memberships.first() {
            Some(first) => {
                Redirect::to(&format!("/orgs/{}", first.organization_id)).into_response()
            }
            None if session.admin => Redirect::to("/admin").into_response(),
            None => message(
                StatusCode::OK,
                "No organization",
                "You belong to no organization yet.",
            ),
        },
        Err(e) => fail(e.into()),
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Response> {
        Ok(
            <Session as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
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

/// A short page saying what happened.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    render(
        status,
        layout::page(
            title,
            None,
            None,
            html! { h1 { (title) } p { (text) } p { a href="/" { "Back to the dashboard" } } },
        ),
    )
}

/// A domain error as a page: what went wrong, in the API's words.
pub fn fail(err: ApiError) -> Response {
    let (status, detail) = err.status_and_detail();
    let title = if status == StatusCode::NOT_FOUND {
        "Not found"
    } else {
        "That did not work"
    };
    message(status, title, &detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_follows_the_session_and_is_compared_whole() {
        let a = csrf_for("session-a");
        assert_eq!(a.len(), 64);
        assert_eq!(a, csrf_for("session-a"));
        assert_ne!(a, csrf_for("session-b"));
        assert!(constant_time_eq(a.as_bytes(), a.as_bytes()));
        assert!(!constant_time_eq(a.as_bytes(), &a.as_bytes()[..63]));
    }
}
