//! Signup, login and logout as forms.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use control_plane::accounts::{self, Email, Password, sessions};
use maud::{Markup, html};
use rand::RngCore;
use serde::Deserialize;

use super::layout::page;
use super::{CsrfForm, PageError, render};
use crate::routes::auth::set_session;
use crate::state::AppState;
use crate::unit::Unit;

/// The pre-login CSRF cookie, matched against the form's field.
const FORM_COOKIE: &str = "qm_form";

#[derive(Debug, Deserialize)]
pub struct Credentials {
    csrf: String,
    email: String,
    password: String,
}

fn form_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == FORM_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// A form page with a fresh double-submit token in a cookie and the form.
fn credentials_page(state: &AppState, title: &str, action: &str, error: Option<&str>) -> Response {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let other = if action == "/login" {
        html! { p { "New here? " a href="/signup" { "Sign up" } } }
    } else {
        html! { p { "Have an account? " a href="/login" { "Log in" } } }
    };
    let body: Markup = html! {
        h1 { (title) }
        @if let Some(error) = error { p class="notice error" role="alert" { (error) } }
        form class="stack" method="post" action=(action) {
            input type="hidden" name="csrf" value=(token);
            label { "Email" input type="email" name="email" autocomplete="email" required; }
            label {
                "Password"
                small { "12 characters or more" }
                input type="password" name="password" minlength="12" required
                    autocomplete=(if action == "/login" { "current-password" } else { "new-password" });
            }
            button type="submit" { (title) }
        }
        (other)
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut response = render(status, page(title, None, None, body));
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{FORM_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn same_form(headers: &HeaderMap, sent: &str) -> bool {
    form_token(headers).is_some_and(|cookie| !cookie.is_empty() && cookie == sent)
}

pub async fn signup_form(State(state): State<AppState>) -> Response {
    credentials_page(&state, "Sign up", "/signup", None)
}

pub async fn login_form(State(state): State<AppState>) -> Response {
    credentials_page(&state, "Log in", "/login", None)
}

/// Logged in: the session cookie, then the dashboard.
fn logged_in(state: &AppState, token: &sessions::SessionToken) -> Response {
    let mut response = Redirect::to("/").into_response();
    set_session(
        &mut response,
        token.expose(),
        sessions::LIFETIME.num_seconds(),
        state.config.secure_cookies,
    );
    response
}

pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Result<Response, PageError> {
    let again = |error: &str| credentials_page(&state, "Sign up", "/signup", Some(error));
    if !same_form(&headers, &form.csrf) {
        return Ok(again("The form expired; send it again."));
    }
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(e) => return Ok(again(&format!("Email: {e}"))),
    };
    let password = match Password::parse(form.password) {
        Ok(password) => password,
        Err(e) => return Ok(again(&format!("Password: {e}"))),
    };
    let mut unit = Unit::begin(&state).await?;
    let user = match accounts::signup(unit.conn(), email, password, None).await {
        Ok((user, _)) => user,
        Err(control_plane::Error::Conflict(conflict)) => {
            return Ok(again(&conflict.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    let token = sessions::start(unit.conn(), user.id).await?;
    unit.commit().await?;
    Ok(logged_in(&state, &token))
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Result<Response, PageError> {
    let again = |error: &str| credentials_page(&state, "Log in", "/login", Some(error));
    if !same_form(&headers, &form.csrf) {
        return Ok(again("The form expired; send it again."));
    }
    let mut unit = Unit::begin(&state).await?;
    let user = match accounts::login(unit.conn(), &form.email, form.password).await {
        Ok(user) => user,
        Err(control_plane::Error::InvalidCredentials) => {
            return Ok(again("The email address or password is not correct."));
        }
        Err(e) => return Err(e.into()),
    };
    let token = sessions::start(unit.conn(), user.id).await?;
    unit.commit().await?;
    Ok(logged_in(&state, &token))
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _: CsrfForm,
) -> Result<Response, PageError> {
    if let Some(token) = crate::extract::session_token(&headers) {
        let mut conn = state.db.acquire().await?;
        sessions::end(&mut conn, &token).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    set_session(&mut response, "", 0, state.config.secure_cookies);
    Ok(response)
}
