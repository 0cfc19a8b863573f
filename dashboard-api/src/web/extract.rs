//! What a dashboard handler extracts before it runs: the session, the
//! organization of the path with the navigation's view of it, a form whose
//! CSRF token is this session's, the platform administrator.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use control_plane::access::{self, OrgAccess, Principal};
use control_plane::accounts::{self, sessions};
use control_plane::admin::{self, PlatformAdmin};
use control_plane::organizations;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{PageError, Viewer};
use crate::extract::session_token;
use crate::state::AppState;

/// The CSRF token of a session.
fn csrf_for(session: &str) -> String {
    Sha256::digest(format!("quartermaster-csrf:{session}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

    /// Refuses a form whose token is not this session's.
    fn check_csrf(&self, token: &str) -> Result<(), PageError> {
        if constant_time_eq(token.as_bytes(), self.csrf.as_bytes()) {
            return Ok(());
        }
        Err(PageError::refused(
            StatusCode::FORBIDDEN,
            "The form has expired",
            "Reload the page and send it again.",
        ))
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

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        // Kept for the request, so a page's extractors look it up once.
        if let Some(session) = parts.extensions.get::<Session>() {
            return Ok(session.clone());
        }
        let to_login = || Redirect::to("/login").into_response();
        let token = session_token(&parts.headers).ok_or_else(to_login)?;
        let found = async {
            let mut conn = state.db.acquire().await?;
            let Ok(user_id) = sessions::user_for(&mut conn, &token).await else {
                return Ok(None);
            };
            let user = accounts::user(&mut conn, user_id).await?;
            Ok::<_, PageError>(Some(Session {
                user_id,
                email: user.email,
                admin: user.is_platform_admin,
                csrf: csrf_for(&token),
            }))
        };
        let session = found
            .await
            .map_err(IntoResponse::into_response)?
            .ok_or_else(to_login)?;
        parts.extensions.insert(session.clone());
        Ok(session)
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

/// A page under `/orgs/{org_id}`: the session, its access to that
/// organization and the navigation's view of it. An organization the
/// session may not see is not found.
#[derive(Debug)]
pub struct OrgPage {
    pub session: Session,
    pub access: OrgAccess,
    pub viewer: Viewer,
}

/// The organization's id among the path's parameters.
#[derive(Debug, Deserialize)]
struct OrgPath {
    org_id: Uuid,
}

impl FromRequestParts<AppState> for OrgPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state).await?;
        let axum::extract::Path(path) =
            axum::extract::Path::<OrgPath>::from_request_parts(parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
        OrgPage::resolve(state, session, path.org_id)
            .await
            .map_err(IntoResponse::into_response)
    }
}

impl OrgPage {
    async fn resolve(state: &AppState, session: Session, org_id: Uuid) -> Result<Self, PageError> {
        let mut conn = state.db.acquire().await?;
        let access = access::resolve(&mut conn, &session.principal(), org_id).await?;
        let org = organizations::get(&mut conn, &access).await?;
        let all = organizations::memberships(&mut conn, session.user_id)
            .await?
            .into_iter()
            .map(|m| (m.organization_id, m.organization_name))
            .collect();
        let viewer = session.viewer(Some((org.id, org.name)), all);
        Ok(OrgPage {
            session,
            access,
            viewer,
        })
    }
}

/// A form posted from one of the session's pages: its `csrf` field is
/// checked against the session before `T` is read. `CsrfForm` alone is a
/// form with nothing else to read.
#[derive(Debug)]
pub struct CsrfForm<T = IgnoredAny>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let sent = form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == "csrf")
            .map(|(_, token)| token)
            .unwrap_or_default();
        session
            .check_csrf(&sent)
            .map_err(IntoResponse::into_response)?;
        let request = Request::from_parts(parts, Body::from(bytes));
        let axum::Form(form) = axum::Form::<T>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(CsrfForm(form))
    }
}

/// A platform administrator's session, for the admin console.
#[derive(Debug)]
pub struct Admin {
    pub session: Session,
    pub admin: PlatformAdmin,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state).await?;
        let checked = async {
            let mut conn = state.db.acquire().await?;
            Ok::<_, PageError>(admin::check(&mut conn, &session.principal()).await?)
        };
        let admin = checked.await.map_err(IntoResponse::into_response)?;
        Ok(Admin { session, admin })
    }
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
