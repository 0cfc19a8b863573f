//! Signup, login, logout, and who am I.
//!
//! These set or clear the session cookie, so they keep no idempotency
//! record: a saved response would hold a live session token. Signup is safe
//! to retry anyway: a second attempt finds the email taken.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use control_plane::accounts::{self, Email, Password, sessions};
use control_plane::organizations::{self, OrganizationName};
use control_plane::validation::ValidationErrors;

use crate::error::{ApiError, RequestError};
use crate::extract::{Caller, Json, SESSION_COOKIE, session_token};
use crate::json::{
    LoginRequest, MeResponse, MembershipJson, ProblemJson, SignupRequest, SignupResponse, UserJson,
};
use crate::state::AppState;

/// `body` with a new session's cookie.
fn with_session(
    status: StatusCode,
    body: impl serde::Serialize,
    token: &sessions::SessionToken,
    secure: bool,
) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    set_session(
        &mut response,
        token.expose(),
        sessions::LIFETIME.num_seconds(),
        secure,
    );
    response
}

pub(crate) fn set_session(response: &mut Response, value: &str, max_age: i64, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Creates an account with its own organization on the free plan, and logs in.
#[utoipa::path(post, path = "/v1/signup", tag = "auth", security(()),
    request_body = SignupRequest,
    responses(
        (status = 201, body = SignupResponse, description = "Signed up; the session cookie is set"),
        (status = 409, body = ProblemJson, description = "email-taken"),
        (status = 422, body = ProblemJson, description = "validation-failed"),
    ))]
pub async fn signup(
    State(state): State<AppState>,
    Json(request): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    let mut errors = ValidationErrors::default();
    let email = errors.check("email", Email::parse(&request.email));
    let password = errors.check("password", Password::parse(request.password));
    let organization_name = match request.organization_name.as_deref() {
        Some(raw) => errors
            .check("organization_name", OrganizationName::parse(raw))
            .map(Some),
        None => Some(None),
    };
    let (email, (password, organization_name)) =
        errors.finish(email.zip(password.zip(organization_name)))?;

    let mut tx = state.db.begin().await?;
    let (user, organization) =
        accounts::signup(&mut tx, email, password, organization_name).await?;
    let token = sessions::start(&mut tx, user.id).await?;
    tx.commit().await?;

    let body = SignupResponse {
        user: user.into(),
        organization: organization.into(),
    };
    Ok(with_session(
        StatusCode::CREATED,
        body,
        &token,
        state.config.secure_cookies,
    ))
}

/// Logs in with email and password; sets the session cookie.
#[utoipa::path(post, path = "/v1/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, body = UserJson),
        (status = 401, body = ProblemJson, description = "invalid-credentials"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let mut tx = state.db.begin().await?;
    let user = accounts::login(&mut tx, &request.email, request.password).await?;
    let token = sessions::start(&mut tx, user.id).await?;
    tx.commit().await?;
    Ok(with_session(
        StatusCode::OK,
        UserJson::from(user),
        &token,
        state.config.secure_cookies,
    ))
}

/// Ends the session and clears the cookie. Without a live session there is
/// nothing to end: 401, as for every other call that needs one.
#[utoipa::path(post, path = "/v1/logout", tag = "auth",
    responses((status = 204, description = "Logged out")))]
pub async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let token = session_token(&headers).ok_or(RequestError::Unauthenticated)?;
    let mut conn = state.db.acquire().await?;
    sessions::user_for(&mut conn, &token).await?;
    sessions::end(&mut conn, &token).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_session(&mut response, "", 0, state.config.secure_cookies);
    Ok(response)
}

/// The logged-in user and their organizations.
#[utoipa::path(get, path = "/v1/me", tag = "auth",
    responses((status = 200, body = MeResponse), (status = 401, body = ProblemJson)))]
pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<MeResponse>, ApiError> {
    let user_id = caller.user_id()?;
    let mut conn = state.db.acquire().await?;
    let user = accounts::user(&mut conn, user_id).await?;
    let memberships = organizations::memberships(&mut conn, user_id).await?;
    Ok(axum::Json(MeResponse {
        user: user.into(),
        memberships: memberships.into_iter().map(MembershipJson::from).collect(),
    }))
}
