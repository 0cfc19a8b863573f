//! Every kind of error the API answers with, in one table: its stable `type`
//! slug, HTTP status and title. Clients match on the slug.

use axum::http::StatusCode;

/// The base of every problem `type` URI.
pub const TYPE_BASE: &str = "https://quartermaster.dev/problems/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    ValidationFailed,
    MalformedJson,
    InvalidBody,
    UnknownField,
    UnsupportedMediaType,
    PayloadTooLarge,
    InvalidQuery,
    InvalidIdempotencyKey,
    IdempotencyKeyReused,
    Unauthenticated,
    InvalidCredentials,
    InvalidApiKey,
    ApiKeyRevoked,
    SessionExpired,
    Forbidden,
    PlanLimitExceeded,
    NotFound,
    MethodNotAllowed,
    EmailTaken,
    ClusterNameTaken,
    ClusterDeleting,
    EndpointNameTaken,
    EndpointDeleting,
    AlreadyMember,
    LastOwner,
    DataPlaneExists,
    BackupNameTaken,
    BackupNotRestorable,
    CheckoutIncomplete,
    PlacementUnknown,
    ClusterNotResumable,
    PaymentMethodRequired,
    PaymentAccountPending,
    PaymentsNotConfigured,
    PaymentRefused,
    PaymentProviderUnavailable,
    WebhookSignatureInvalid,
    PeriodOpen,
    InvoiceState,
    EnrollmentTokenRefused,
    DataPlaneRevoked,
    Internal,
}

impl ProblemType {
    /// `(slug, status, title)`.
    const fn row(self) -> (&'static str, StatusCode, &'static str) {
        use ProblemType::*;
        match self {
            ValidationFailed => (
                "validation-failed",
                StatusCode::UNPROCESSABLE_ENTITY,
                "The request has invalid fields",
            ),
            MalformedJson => (
                "malformed-json",
                StatusCode::BAD_REQUEST,
                "The body is not valid JSON",
            ),
            InvalidBody => (
                "invalid-body",
                StatusCode::UNPROCESSABLE_ENTITY,
                "The body does not have the expected shape",
            ),
            UnknownField => (
                "unknown-field",
                StatusCode::UNPROCESSABLE_ENTITY,
                "The body has a field this operation does not take",
            ),
            UnsupportedMediaType => (
                "unsupported-media-type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "The body must be application/json",
            ),
            PayloadTooLarge => (
                "payload-too-large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "The body is too large",
            ),
            InvalidQuery => (
                "invalid-query",
                StatusCode::BAD_REQUEST,
                "The query string is not valid",
            ),
            InvalidIdempotencyKey => (
                "invalid-idempotency-key",
                StatusCode::BAD_REQUEST,
                "The Idempotency-Key header is not valid",
            ),
            IdempotencyKeyReused => (
                "idempotency-key-reused",
                StatusCode::UNPROCESSABLE_ENTITY,
                "The Idempotency-Key was used for another request",
            ),
            Unauthenticated => (
                "unauthenticated",
                StatusCode::UNAUTHORIZED,
                "Authentication is required",
            ),
            InvalidCredentials => (
                "invalid-credentials",
                StatusCode::UNAUTHORIZED,
                "The email address or password is not correct",
            ),
            InvalidApiKey => (
                "invalid-api-key",
                StatusCode::UNAUTHORIZED,
                "The API key is not valid",
            ),
            ApiKeyRevoked => (
                "api-key-revoked",
                StatusCode::UNAUTHORIZED,
                "The API key has been revoked",
            ),
            SessionExpired => (
                "session-expired",
                StatusCode::UNAUTHORIZED,
                "The session has expired",
            ),
            Forbidden => (
                "forbidden",
                StatusCode::FORBIDDEN,
                "The caller may not do this",
            ),
            PlanLimitExceeded => (
                "plan-limit-exceeded",
                StatusCode::FORBIDDEN,
                "The organization's plan does not allow this",
            ),
            NotFound => ("not-found", StatusCode::NOT_FOUND, "Not found"),
            MethodNotAllowed => (
                "method-not-allowed",
                StatusCode::METHOD_NOT_ALLOWED,
                "The method is not allowed here",
            ),
            EmailTaken => (
                "email-taken",
                StatusCode::CONFLICT,
                "The email address is already registered",
            ),
            ClusterNameTaken => (
                "cluster-name-taken",
                StatusCode::CONFLICT,
                "The cluster name is taken",
            ),
            ClusterDeleting => (
                "cluster-deleting",
                StatusCode::CONFLICT,
                "The cluster is being deleted",
            ),
            EndpointNameTaken => (
                "endpoint-name-taken",
                StatusCode::CONFLICT,
                "The endpoint name is taken",
            ),
            EndpointDeleting => (
                "endpoint-deleting",
                StatusCode::CONFLICT,
                "The endpoint is being deleted",
            ),
            AlreadyMember => ("already-member", StatusCode::CONFLICT, "Already a member"),
            LastOwner => (
                "last-owner",
                StatusCode::CONFLICT,
                "The last owner cannot be removed",
            ),
            DataPlaneExists => (
                "data-plane-exists",
                StatusCode::CONFLICT,
                "A data plane with this name or region exists",
            ),
            BackupNameTaken => (
                "backup-name-taken",
                StatusCode::CONFLICT,
                "A backup with this name exists",
            ),
            BackupNotRestorable => (
                "backup-not-restorable",
                StatusCode::CONFLICT,
                "The backup cannot be restored",
            ),
            CheckoutIncomplete => (
                "checkout-incomplete",
                StatusCode::CONFLICT,
                "The checkout was not completed",
            ),
            EnrollmentTokenRefused => (
                "enrollment-token-refused",
                StatusCode::UNAUTHORIZED,
                "The enrollment token cannot be used",
            ),
            DataPlaneRevoked => (
                "data-plane-revoked",
                StatusCode::UNAUTHORIZED,
                "The data plane has been revoked",
            ),
            PlacementUnknown => (
                "placement-unknown",
                StatusCode::CONFLICT,
                "Where the shards are is not known yet",
            ),
            ClusterNotResumable => (
                "cluster-not-resumable",
                StatusCode::CONFLICT,
                "The cluster is suspended for another cause",
            ),
            PaymentMethodRequired => (
                "payment-method-required",
                StatusCode::PAYMENT_REQUIRED,
                "A card on file is needed for this plan",
            ),
            PaymentAccountPending => (
                "payment-account-pending",
                StatusCode::CONFLICT,
                "The payment account is still being set up",
            ),
            PaymentsNotConfigured => (
                "payments-not-configured",
                StatusCode::SERVICE_UNAVAILABLE,
                "Payments are not configured on this installation",
            ),
            PaymentRefused => (
                "payment-refused",
                StatusCode::UNPROCESSABLE_ENTITY,
                "The payment provider refused the request",
            ),
            PaymentProviderUnavailable => (
                "payment-provider-unavailable",
                StatusCode::BAD_GATEWAY,
                "The payment provider could not be reached",
            ),
            WebhookSignatureInvalid => (
                "webhook-signature-invalid",
                StatusCode::BAD_REQUEST,
                "The webhook signature does not verify",
            ),
            PeriodOpen => (
                "period-open",
                StatusCode::CONFLICT,
                "The billing period is still open",
            ),
            InvoiceState => (
                "invoice-state",
                StatusCode::CONFLICT,
                "The invoice cannot make this change in its current state",
            ),
            Internal => (
                "internal",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side",
            ),
        }
    }

    pub const fn slug(self) -> &'static str {
        self.row().0
    }

    pub const fn status(self) -> StatusCode {
        self.row().1
    }

    pub const fn title(self) -> &'static str {
        self.row().2
    }

    pub fn type_uri(self) -> String {
        format!("{TYPE_BASE}{}", self.slug())
    }
}
