//! The control plane's errors: what went wrong, in terms a caller can act on.

use crate::validation::ValidationErrors;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Validation(ValidationErrors),
    /// Absent, or not visible to the caller: the two are never told apart.
    #[error("{resource} not found")]
    NotFound { resource: &'static str },
    #[error("{0}")]
    Conflict(Conflict),
    #[error("the email address or password is not correct")]
    InvalidCredentials,
    #[error("the API key is not valid")]
    InvalidApiKey,
    #[error("the API key has been revoked")]
    ApiKeyRevoked,
    #[error("the session has expired or was ended; log in again")]
    SessionExpired,
    #[error("this requires the `{permission}` permission, which the caller does not have")]
    Forbidden { permission: &'static str },
    #[error(transparent)]
    Denied(#[from] billing::Denial),
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    #[error("a paid plan needs a card on file; add one first")]
    PaymentMethodRequired,
    #[error("the organization's payment account is still being set up; try again in a minute")]
    PaymentAccountPending,
    #[error("payments are not configured on this installation")]
    PaymentsNotConfigured,
    #[error(transparent)]
    Payment(#[from] billing::payments::PaymentError),
    #[error(transparent)]
    Billing(#[from] billing::Error),
    #[error("organization {0} is on plan `{1}`, which the catalog does not contain")]
    UnknownPlan(uuid::Uuid, String),
    #[error("password hashing failed: {0}")]
    PasswordHashing(String),
    #[error("a blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("data plane: {0}")]
    DataPlane(#[from] kube::Error),
    #[error("the kubeconfig cannot be used: {0}")]
    Kubeconfig(String),
    #[error(transparent)]
    EnrollmentRefused(#[from] crate::data_planes::enrollment::Refusal),
    #[error("this data plane has been revoked; register it again to reconnect")]
    DataPlaneRevoked,
}

/// A request that contradicts the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error("this organization already has a cluster named `{0}`")]
    ClusterNameTaken(String),
    #[error("the cluster is being deleted and can no longer be changed")]
    ClusterDeleting,
    #[error("this organization already has an endpoint named `{0}`")]
    EndpointNameTaken(String),
    #[error("the endpoint is being deleted and can no longer be changed")]
    EndpointDeleting,
    #[error("this user is already a member of the organization")]
    AlreadyMember,
    #[error("an organization must keep at least one owner")]
    LastOwner,
    #[error("there is already {0}")]
    DataPlaneExists(String),
    #[error("this cluster already has a backup named `{0}`; try again in a second")]
    BackupNameTaken(String),
    #[error("backup `{0}` has not succeeded or is being deleted, so it cannot be restored")]
    BackupNotRestorable(String),
    #[error("the checkout was not completed; finish it on the payment page or start again")]
    CheckoutIncomplete,
    #[error(
        "the data plane has not yet reported where this cluster's shards are; try again in a minute"
    )]
    PlacementUnknown,
    #[error(
        "the cluster is suspended for `{0}`, not for idleness: it resumes when that cause is lifted"
    )]
    SuspendedForAnotherCause(String),
}

impl Error {
    pub(crate) fn not_found(resource: &'static str) -> Self {
        Error::NotFound { resource }
    }
}

/// Turns a unique violation on `constraint` into `conflict`; any other error
/// stays a database error.
pub(crate) fn on_unique(constraint: &str, conflict: Conflict) -> impl FnOnce(sqlx::Error) -> Error {
    move |err| match &err {
        sqlx::Error::Database(db)
            if db.is_unique_violation() && db.constraint() == Some(constraint) =>
        {
            Error::Conflict(conflict)
        }
        _ => Error::Database(err),
    }
}
