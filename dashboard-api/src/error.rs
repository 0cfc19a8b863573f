//! How every failure becomes a problem+json response (RFC 9457).
//!
//! Domain errors map to problem types in one exhaustive `match`, so a new
//! error cannot ship without a decision on how it looks to clients.

use crate::json::{FieldErrorJson, ProblemJson};
use crate::problem::ProblemType;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use billing::payments::PaymentError;
use control_plane::{Conflict, Error};

/// Why a request was refused before it reached the domain.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{detail}")]
    InvalidBody {
        field: Option<String>,
        detail: String,
    },
    #[error("unknown field `{0}`")]
    UnknownField(String),
    #[error("send the body as JSON with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("the body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the body could not be read: {0}")]
    Unreadable(String),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("{0}")]
    InvalidIdempotencyKey(&'static str),
    #[error("log in, or send an API key as `Authorization: Bearer <key>`")]
    Unauthenticated,
    #[error("this operation needs a logged-in user; API keys cannot perform it")]
    UserRequired,
    #[error("there is no {0} here")]
    NotFound(&'static str),
    #[error("this path does not accept that method")]
    MethodNotAllowed,
    #[error("{0}")]
    Webhook(#[from] billing::payments::WebhookError),
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] Error),
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::Domain(Error::Database(err))
    }
}

impl ApiError {
    fn problem_type(&self) -> ProblemType {
        use ProblemType as P;
        match self {
            ApiError::Domain(err) => match err {
                Error::Validation(_) | Error::Kubeconfig(_) => P::ValidationFailed,
                Error::NotFound { .. } => P::NotFound,
                Error::Conflict(conflict) => match conflict {
                    Conflict::EmailTaken => P::EmailTaken,
                    Conflict::ClusterNameTaken(_) => P::ClusterNameTaken,
                    Conflict::ClusterDeleting => P::ClusterDeleting,
                    Conflict::EndpointNameTaken(_) => P::EndpointNameTaken,
                    Conflict::EndpointDeleting => P::EndpointDeleting,
                    Conflict::AlreadyMember => P::AlreadyMember,
                    Conflict::LastOwner => P::LastOwner,
                    Conflict::DataPlaneExists(_) => P::DataPlaneExists,
                    Conflict::BackupNameTaken(_) => P::BackupNameTaken,
                    Conflict::BackupNotRestorable(_) => P::BackupNotRestorable,
                    Conflict::CheckoutIncomplete => P::CheckoutIncomplete,
                    Conflict::PlacementUnknown => P::PlacementUnknown,
                    Conflict::SuspendedForAnotherCause(_) => P::ClusterNotResumable,
                },
                Error::InvalidCredentials => P::InvalidCredentials,
                Error::InvalidApiKey => P::InvalidApiKey,
                Error::ApiKeyRevoked => P::ApiKeyRevoked,
                Error::EnrollmentRefused(_) => P::EnrollmentTokenRefused,
                Error::DataPlaneRevoked => P::DataPlaneRevoked,
                Error::SessionExpired => P::SessionExpired,
                Error::Forbidden { .. } => P::Forbidden,
                Error::Denied(_) => P::PlanLimitExceeded,
                Error::IdempotencyKeyReused => P::IdempotencyKeyReused,
                Error::PaymentMethodRequired => P::PaymentMethodRequired,
                Error::PaymentAccountPending => P::PaymentAccountPending,
                Error::PaymentsNotConfigured => P::PaymentsNotConfigured,
                Error::Payment(PaymentError::Refused(_)) => P::PaymentRefused,
                Error::Payment(PaymentError::Unavailable(_)) => P::PaymentProviderUnavailable,
                Error::Billing(err) => match err {
                    billing::Error::PeriodOpen { .. } | billing::Error::CloseRunning => {
                        P::PeriodOpen
                    }
                    billing::Error::Transition { .. } => P::InvoiceState,
                    billing::Error::Catalog(_) => P::ValidationFailed,
                    billing::Error::Rating(_)
                    | billing::Error::NoCatalog
                    | billing::Error::Corrupt(_)
                    | billing::Error::Export(_)
                    | billing::Error::Database(_) => P::Internal,
                },
                Error::UnknownPlan(..)
                | Error::PasswordHashing(_)
                | Error::Join(_)
                | Error::DataPlane(_)
                | Error::Database(_) => P::Internal,
            },
            ApiError::Request(err) => match err {
                RequestError::MalformedJson(_) => P::MalformedJson,
                RequestError::InvalidBody { .. } => P::InvalidBody,
                RequestError::UnknownField(_) => P::UnknownField,
                RequestError::UnsupportedMediaType => P::UnsupportedMediaType,
                RequestError::PayloadTooLarge(_) => P::PayloadTooLarge,
                RequestError::Unreadable(_) => P::InvalidBody,
                RequestError::InvalidQuery(_) => P::InvalidQuery,
                RequestError::InvalidIdempotencyKey(_) => P::InvalidIdempotencyKey,
                RequestError::Unauthenticated => P::Unauthenticated,
                RequestError::UserRequired => P::Forbidden,
                RequestError::NotFound(_) => P::NotFound,
                RequestError::MethodNotAllowed => P::MethodNotAllowed,
                RequestError::Webhook(_) => P::WebhookSignatureInvalid,
            },
        }
    }

    fn field_errors(&self) -> Option<Vec<FieldErrorJson>> {
        let one = |field: &str, message: String| {
            Some(vec![FieldErrorJson {
                field: field.to_owned(),
                message,
            }])
        };
        match self {
            ApiError::Domain(Error::Validation(errors)) => Some(
                errors
                    .errors()
                    .iter()
                    .map(|e| FieldErrorJson {
                        field: e.field.clone(),
                        message: e.message.clone(),
                    })
                    .collect(),
            ),
            ApiError::Domain(Error::Denied(denial)) => {
                denial.field.and_then(|f| one(f, denial.message.clone()))
            }
            ApiError::Request(RequestError::UnknownField(field)) => {
                one(field, "is not a field of this operation".to_owned())
            }
            ApiError::Request(RequestError::InvalidBody {
                field: Some(field),
                detail,
            }) => one(field, detail.clone()),
            _ => None,
        }
    }
}

impl ApiError {
    /// The status and the text to show a person: for the JSON API's problem
    /// documents and the dashboard's pages alike. Internal errors are
    /// logged here, with their cause, and never shown.
    pub(crate) fn status_and_detail(&self) -> (StatusCode, String) {
        let kind = self.problem_type();
        let detail = if kind == ProblemType::Internal {
            tracing::error!(error = %self, cause = ?self, "request failed");
            "The error has been logged; retrying with the same Idempotency-Key is safe.".to_owned()
        } else {
            self.to_string()
        };
        (kind.status(), detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.problem_type();
        let (_, detail) = self.status_and_detail();
        let problem = ProblemJson {
            type_uri: kind.type_uri(),
            title: kind.title(),
            status: kind.status().as_u16(),
            detail,
            errors: self.field_errors(),
            limit: match &self {
                ApiError::Domain(Error::Denied(denial)) => Some(denial.limit),
                _ => None,
            },
        };
        problem_response(kind.status(), &problem)
    }
}

fn problem_response(status: StatusCode, problem: &ProblemJson) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"quartermaster\""),
        );
    }
    response
}
