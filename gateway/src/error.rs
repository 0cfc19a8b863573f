//! The gateway's refusals, answered as the OpenAI API answers errors
//! (`{"error": {"message", "type", "param", "code"}}`), so that OpenAI
//! clients raise their usual exceptions. `type` is stable and names the
//! class (`authentication_error`, `rate_limit_error`, …); `code` names the
//! exact reason.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no API key: send it as `Authorization: Bearer qmi_…`")]
    MissingKey,
    #[error("the API key is not valid or was revoked")]
    InvalidKey,
    #[error("the API key expired")]
    ExpiredKey,
    #[error("the API key may not call `{0}`")]
    EndpointNotAllowed(String),
    #[error("`{0}` is not an endpoint here; `GET /v1/models` lists those this key may call")]
    UnknownModel(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the organization is suspended; see the dashboard's billing page")]
    Suspended,
    #[error("the organization has reached its spend limit for this period")]
    SpendLimit,
    #[error("the key's limit of {limit} {what} per minute is reached")]
    RateLimited {
        what: &'static str,
        limit: u32,
        retry_after: Duration,
    },
    #[error("the endpoint is waking from zero and {0} requests already wait for it")]
    QueueFull(usize, Duration),
    #[error("the endpoint did not become ready within {0} s")]
    ColdStartTimeout(u64),
    #[error("the engine could not be reached: {0}")]
    Upstream(String),
    #[error(
        "the gateway has not reached the control plane for too long to trust its keys; try again shortly"
    )]
    KeysStale,
}

impl GatewayError {
    /// The HTTP status, the stable `type` and the exact `code`.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use GatewayError as E;
        match self {
            E::MissingKey => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "missing_api_key",
            ),
            E::InvalidKey => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid_api_key",
            ),
            E::ExpiredKey => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "expired_api_key",
            ),
            E::EndpointNotAllowed(_) => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "endpoint_not_allowed",
            ),
            E::UnknownModel(_) => (StatusCode::NOT_FOUND, "not_found_error", "model_not_found"),
            E::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "bad_request",
            ),
            E::Suspended => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "organization_suspended",
            ),
            E::SpendLimit => (
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_quota",
                "spend_limit_reached",
            ),
            E::RateLimited { what, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                if *what == "requests" {
                    "requests_per_minute"
                } else {
                    "tokens_per_minute"
                },
            ),
            E::QueueFull(..) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "cold_start_queue_full",
            ),
            E::ColdStartTimeout(_) => (
                StatusCode::GATEWAY_TIMEOUT,
                "timeout_error",
                "cold_start_timeout",
            ),
            E::Upstream(_) => (StatusCode::BAD_GATEWAY, "api_error", "engine_unreachable"),
            E::KeysStale => (
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "key_set_stale",
            ),
        }
    }

    /// The stable `code` of this refusal, for metrics and spans.
    pub fn code(&self) -> &'static str {
        self.parts().2
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            GatewayError::RateLimited { retry_after, .. }
            | GatewayError::QueueFull(_, retry_after) => Some(*retry_after),
            GatewayError::KeysStale => Some(Duration::from_secs(5)),
            _ => None,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let (status, kind, code) = self.parts();
        let body = json!({ "error": {
            "message": self.to_string(),
            "type": kind,
            "param": null,
            "code": code,
        }});
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(after) = self.retry_after() {
            // Whole seconds, rounded up: `Retry-After: 0` would invite a storm.
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
