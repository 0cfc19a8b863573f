//! Liveness and readiness for load balancers and Kubernetes probes.

use axum::extract::State;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 204, description = "Alive")))]
pub async fn live() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The process can reach its database.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 204, description = "Ready"), (status = 500, body = crate::json::ProblemJson)))]
pub async fn ready(State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    sqlx::query("SELECT 1").execute(&state.db).await?;
    Ok(StatusCode::NO_CONTENT)
}
