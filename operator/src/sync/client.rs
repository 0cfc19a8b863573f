//! The control plane over HTTP(S), in the protocol of `crds::sync`: enroll,
//! long-poll the desired state, post status, rotate the credential. Every
//! call has a deadline; an error answer (RFC 9457 problem+json) surfaces
//! its `detail`.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crds::sync::{
    DESIRED_PATH, DesiredState, ENROLL_PATH, Enrolled, Enrollment, ROTATE_PATH, STATUS_PATH,
    StatusReport,
};
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Added to a long poll's wait for its whole request, and the deadline of
/// a call that does not wait.
const REQUEST_SLACK: Duration = Duration::from_secs(10);

/// A secret string (credential or enrollment token) that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// 401: the credential (or token) is unknown, revoked or used.
    #[error("the control plane refused the credential: {detail}")]
    Unauthorized { detail: String },
    #[error("the control plane answered {status}: {detail}")]
    Problem { status: StatusCode, detail: String },
    #[error("the control plane could not be reached: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("the control plane's answer could not be read: {0}")]
    Decode(#[source] reqwest::Error),
}

impl ClientError {
    /// Whether trying again later may succeed.
    pub fn transient(&self) -> bool {
        match self {
            ClientError::Unauthorized { .. } => false,
            ClientError::Problem { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            ClientError::Transport(_) | ClientError::Decode(_) => true,
        }
    }
}

/// An RFC 9457 problem, as far as it is read.
#[derive(Debug, Deserialize)]
struct Problem {
    title: Option<String>,
    detail: Option<String>,
}

/// The answer to a status report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Acknowledged {
    pub applied: u64,
    #[serde(default)]
    pub unknown: Vec<Uuid>,
}

#[derive(Debug, Clone)]
pub struct ControlPlane {
    http: reqwest::Client,
    base: String,
    credential: Arc<RwLock<Option<Secret>>>,
}

impl ControlPlane {
    pub fn new(base: &str) -> Result<ControlPlane, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(ClientError::Transport)?;
        Ok(ControlPlane {
            http,
            base: base.trim_end_matches('/').to_owned(),
            credential: Arc::default(),
        })
    }

    /// The credential used from now on (after enrollment or rotation).
    pub fn use_credential(&self, credential: Secret) {
        *self
            .credential
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(credential);
    }

    fn bearer(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let credential = self
            .credential
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match credential {
            Some(c) => request.bearer_auth(c.expose()),
            None => request,
        }
    }

    pub async fn enroll(&self, token: &Secret) -> Result<Enrolled, ClientError> {
        let request = self
            .http
            .post(format!("{}{ENROLL_PATH}", self.base))
            .timeout(REQUEST_SLACK)
            .json(&Enrollment {
                token: token.expose().to_owned(),
            });
        read(request).await?.ok_or_else(no_content)
    }

    /// The desired state after `since`, or `None` when nothing changed
    /// within `wait`.
    pub async fn desired(
        &self,
        since: i64,
        wait: Duration,
    ) -> Result<Option<DesiredState>, ClientError> {
        let request = self
            .http
            .get(format!("{}{DESIRED_PATH}", self.base))
            .query(&[("since", since), ("wait", wait_seconds(wait))])
            .timeout(wait + REQUEST_SLACK);
        read(self.bearer(request)).await
    }

    pub async fn status(&self, report: &StatusReport) -> Result<Acknowledged, ClientError> {
        let request = self
            .http
            .post(format!("{}{STATUS_PATH}", self.base))
            .timeout(REQUEST_SLACK)
            .json(report);
        read(self.bearer(request)).await?.ok_or_else(no_content)
    }

    pub async fn rotate(&self) -> Result<Enrolled, ClientError> {
        let request = self
            .http
            .post(format!("{}{ROTATE_PATH}", self.base))
            .timeout(REQUEST_SLACK);
        read(self.bearer(request)).await?.ok_or_else(no_content)
    }
}

fn wait_seconds(wait: Duration) -> i64 {
    i64::try_from(wait.as_secs()).unwrap_or(i64::MAX)
}

fn no_content() -> ClientError {
    ClientError::Problem {
        status: StatusCode::NO_CONTENT,
        detail: "an empty answer where a body was due".to_owned(),
    }
}

/// Sends `request`: the body of a success, `None` for 204, or the error
/// with the problem's `detail` (else its `title`, else the status text).
async fn read<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<Option<T>, ClientError> {
    let response = request.send().await.map_err(ClientError::Transport)?;
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return Ok(None);
    }
    if status.is_success() {
        return response.json().await.map(Some).map_err(ClientError::Decode);
    }
    let text = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<Problem>(&text)
        .ok()
        .and_then(|p| p.detail.or(p.title))
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_owned()
        });
    Err(if status == StatusCode::UNAUTHORIZED {
        ClientError::Unauthorized { detail }
    } else {
        ClientError::Problem { status, detail }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let secret = Secret::new("qmdc_very_secret");
        assert!(!format!("{secret:?}").contains("very"));
    }

    #[test]
    fn only_server_trouble_is_worth_retrying_soon() {
        let problem = |status| ClientError::Problem {
            status,
            detail: String::new(),
        };
        assert!(problem(StatusCode::SERVICE_UNAVAILABLE).transient());
        assert!(problem(StatusCode::TOO_MANY_REQUESTS).transient());
        assert!(!problem(StatusCode::UNPROCESSABLE_ENTITY).transient());
        assert!(
            !ClientError::Unauthorized {
                detail: String::new()
            }
            .transient()
        );
    }
}
