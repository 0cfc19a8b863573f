//! The routes a connected data plane's operator calls (`crds::sync` has
//! the protocol): enrollment with a one-time token, then its desired state
//! by long poll, its status reports and credential rotation, each with its
//! own credential and scoped to its own resources.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use control_plane::data_planes::{desired, enrollment};
use control_plane::provisioner::reported;
use crds::sync::{Enrollment, MAX_WAIT_SECONDS, StatusReport};
use serde::Deserialize;
use tokio::time::Instant;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::extract::{ConnectedDataPlane, Json, Query};
use crate::json::ProblemJson;
use crate::state::AppState;
use axum::extract::State;

/// Exchanges a one-time enrollment token (from `quartermaster dataplane
/// add`) for the data plane's credential, shown once. A used, expired or
/// unknown token, or one of a revoked data plane, is refused.
#[utoipa::path(post, path = "/v1/data-plane/enroll", tag = "data-plane", security(()),
    request_body(content = Object, description = "`{\"token\": \"qmen_…\"}`"),
    responses(
        (status = 200, description = "`{\"data_plane\": {id, name, region, organization_id}, \"credential\": \"qmdc_…\"}`", body = Object),
        (status = 401, body = ProblemJson), (status = 422, body = ProblemJson),
    ))]
pub async fn enroll(
    State(state): State<AppState>,
    Json(request): Json<Enrollment>,
) -> Result<Response, ApiError> {
    let mut conn = state.db.acquire().await?;
    let enrolled = enrollment::enroll(&mut conn, request.token.trim(), Utc::now()).await?;
    Ok(secret(enrolled))
}

/// A new credential for the calling data plane, shown once; the one that
/// asked keeps working for ten minutes.
#[utoipa::path(post, path = "/v1/data-plane/credential", tag = "data-plane",
    security(("api_key" = [])),
    responses((status = 200, body = Object), (status = 401, body = ProblemJson)))]
pub async fn rotate(
    State(state): State<AppState>,
    plane: ConnectedDataPlane,
) -> Result<Response, ApiError> {
    let mut conn = state.db.acquire().await?;
    let enrolled = enrollment::rotate(&mut conn, &plane.credential, Utc::now()).await?;
    Ok(secret(enrolled))
}

/// A credential in an answer that no cache may keep.
fn secret(enrolled: crds::sync::Enrolled) -> Response {
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(enrolled),
    )
        .into_response()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DesiredQuery {
    /// The version the data plane has; left out, the whole state.
    #[param(minimum = 0)]
    since: Option<u64>,
    /// Seconds to wait for a change when there is none yet (at most 55).
    #[param(minimum = 0, maximum = 55)]
    wait: Option<u64>,
}

/// The calling data plane's desired state: whole without `since`, else the
/// resources changed after it, waiting up to `wait` seconds for one. With
/// nothing changed: `204 No Content`.
#[utoipa::path(get, path = "/v1/data-plane/desired-state", tag = "data-plane",
    params(DesiredQuery), security(("api_key" = [])),
    responses(
        (status = 200, description = "`{version, complete, resources: [...]}`", body = Object),
        (status = 204, description = "Nothing changed within `wait`"),
        (status = 400, body = ProblemJson), (status = 401, body = ProblemJson),
    ))]
pub async fn desired_state(
    State(state): State<AppState>,
    ConnectedDataPlane {
        identity: plane, ..
    }: ConnectedDataPlane,
    Query(query): Query<DesiredQuery>,
) -> Result<Response, ApiError> {
    let wait = query.wait.unwrap_or(0).min(MAX_WAIT_SECONDS);
    let deadline = Instant::now() + Duration::from_secs(wait);
    let since = query.since.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    // Subscribed before the first read: a change between it and the wait
    // still wakes this request.
    let mut waiter = state.changes.subscribe();
    loop {
        let answer = {
            let mut conn = state.db.acquire().await?;
            desired::read(&mut conn, plane.id, since).await?
        };
        if answer.complete || !answer.resources.is_empty() {
            return Ok(axum::Json(answer).into_response());
        }
        if Instant::now() >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        waiter.wait(plane.id, deadline).await;
    }
}

/// What the calling data plane observes of its resources. Reports about
/// resources that are not its own change nothing and come back in
/// `unknown`.
#[utoipa::path(post, path = "/v1/data-plane/status", tag = "data-plane",
    security(("api_key" = [])),
    request_body(content = Object, description = "`{\"reports\": [...]}`"),
    responses(
        (status = 200, description = "`{\"applied\": n, \"unknown\": [ids]}`", body = Object),
        (status = 401, body = ProblemJson), (status = 422, body = ProblemJson),
    ))]
pub async fn status(
    State(state): State<AppState>,
    ConnectedDataPlane {
        identity: plane, ..
    }: ConnectedDataPlane,
    Json(report): Json<StatusReport>,
) -> Result<axum::Json<reported::Outcome>, ApiError> {
    let outcome = reported::record(&state.db, plane.id, report.reports, Utc::now()).await?;
    Ok(axum::Json(outcome))
}
