//! The gateway's two calls to the control plane, both with its data
//! plane's token: the key set (a conditional GET, so an unchanged set
//! costs a `304`) and the token usage (the ingest path the collector uses).
//! A connected data plane's credential is rotated in its Secret, so the
//! token is read from its file again for each call.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crds::gateway::{GatewayEndpoint, KEY_SET_PATH, KeySet};
use futures::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};

use crate::keys::{KeyStore, Keys};
use crate::metrics::Metrics;
use crate::pods::Waker;
use crate::usage::{self, Ledger};

/// The most events one ingest request carries (the control plane's limit).
const MAX_BATCH: usize = 5_000;

/// Where the data plane's token comes from.
#[derive(Clone)]
pub enum Token {
    Fixed(String),
    /// A file (a mounted Secret), read for each call.
    File(std::path::PathBuf),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Fixed(_) => f.write_str("Token(<redacted>)"),
            Token::File(path) => write!(f, "Token(file {})", path.display()),
        }
    }
}

impl From<String> for Token {
    fn from(token: String) -> Token {
        Token::Fixed(token)
    }
}

impl From<&str> for Token {
    fn from(token: &str) -> Token {
        Token::Fixed(token.to_owned())
    }
}

impl Token {
    pub fn current(&self) -> Result<String, SyncError> {
        match self {
            Token::Fixed(token) => Ok(token.clone()),
            Token::File(path) => std::fs::read_to_string(path)
                .map(|t| t.trim().to_owned())
                .map_err(|e| SyncError::Token(path.display().to_string(), e)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("reading the data plane's token from {0}: {1}")]
    Token(String, std::io::Error),
    #[error("the control plane could not be reached: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("the control plane answered {0}")]
    Status(StatusCode),
}

#[derive(Debug, Clone)]
pub struct ControlPlane {
    client: reqwest::Client,
    base_url: String,
    token: Token,
}

impl ControlPlane {
    /// `base_url` such as `https://qm.example.com`; every call times out
    /// after `timeout`.
    pub fn new(
        base_url: &str,
        token: impl Into<Token>,
        timeout: Duration,
    ) -> Result<ControlPlane, SyncError> {
        Ok(ControlPlane {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.into(),
        })
    }

    /// The key set, unless it is still `etag`'s (`None`), with its new tag.
    pub async fn key_set(
        &self,
        etag: Option<&str>,
    ) -> Result<Option<(KeySet, Option<String>)>, SyncError> {
        let mut request = self
            .client
            .get(format!("{}{KEY_SET_PATH}", self.base_url))
            .bearer_auth(self.token.current()?);
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let response = request.send().await?;
        match response.status() {
            StatusCode::NOT_MODIFIED => Ok(None),
            StatusCode::OK => {
                let etag = response
                    .headers()
                    .get(ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Ok(Some((response.json().await?, etag)))
            }
            status => Err(SyncError::Status(status)),
        }
    }

    /// Reports usage events; `Ok` once the control plane has stored them.
    pub async fn report(&self, events: &[serde_json::Value]) -> Result<(), SyncError> {
        for batch in events.chunks(MAX_BATCH) {
            let response = self
                .client
                .post(format!("{}/v1/usage/events", self.base_url))
                .bearer_auth(self.token.current()?)
                .json(batch)
                .send()
                .await?;
            if !response.status().is_success() {
                return Err(SyncError::Status(response.status()));
            }
        }
        Ok(())
    }
}

/// The path a gateway asks the control plane to wake an endpoint at, with
/// its data plane's token: the same wake as the customer's `…/wake`, so
/// the provisioner carries it into the data plane.
pub fn wake_path(endpoint: uuid::Uuid) -> String {
    format!("/v1/data-plane/endpoints/{endpoint}/wake")
}

impl Waker for ControlPlane {
    fn wake<'a>(&'a self, endpoint: &'a GatewayEndpoint) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let response = self
                .client
                .post(format!("{}{}", self.base_url, wake_path(endpoint.id)))
                .bearer_auth(self.token.current().map_err(|e| e.to_string())?)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("the control plane answered {}", response.status()))
            }
        })
    }
}

/// Keeps `store` current, asking every `every`; an answer refreshes the
/// set's age even when unchanged. On failure the last set stays in use for
/// as long as the store trusts it.
pub async fn keep_keys(
    control_plane: ControlPlane,
    store: Arc<KeyStore>,
    metrics: Arc<Metrics>,
    every: Duration,
) {
    let mut etag: Option<String> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match control_plane.key_set(etag.as_deref()).await {
            Ok(Some((set, tag))) => {
                store.replace(Keys::new(set));
                etag = tag;
            }
            Ok(None) => store.confirm(),
            Err(err) => {
                tracing::warn!(error = %err, "fetching the key set failed; serving with the last one")
            }
        }
        metrics.key_set_age(store.age());
    }
}

/// Reports the minutes that closed, every `every`, until `stop` resolves;
/// then reports everything left, once.
pub async fn keep_reporting(
    control_plane: ControlPlane,
    ledger: Arc<Ledger>,
    source: String,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        let all = tokio::select! {
            _ = tick.tick() => false,
            () = &mut stop => true,
        };
        report(&control_plane, &ledger, &source, all).await;
        if all {
            break;
        }
    }
    // The last minutes live only here: try a few more times within a pod's
    // usual 30 s grace before giving up on them, loudly.
    for _ in 0..FINAL_ATTEMPTS {
        if ledger.pending().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        report(&control_plane, &ledger, &source, true).await;
    }
    let lost: u64 = ledger.pending().values().map(|t| t.total()).sum();
    if lost > 0 {
        tracing::error!(
            tokens = lost,
            "stopping with token usage the control plane did not take"
        );
    }
}

/// Reports tried again at shutdown, two seconds apart.
const FINAL_ATTEMPTS: u32 = 10;

/// One report of what is due; what fails stays for the next.
pub async fn report(control_plane: &ControlPlane, ledger: &Ledger, source: &str, all: bool) {
    let closed = ledger.closed(Utc::now(), all);
    if closed.is_empty() {
        return;
    }
    match control_plane.report(&usage::events(source, &closed)).await {
        Ok(()) => ledger.acknowledge(&closed),
        Err(err) => {
            tracing::warn!(error = %err, minutes = closed.len(), "reporting token usage failed; kept for the next report")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_is_read_again_for_each_call_so_a_rotation_needs_no_restart() {
        let path = std::env::temp_dir().join(format!("qm-gateway-token-{}", std::process::id()));
        std::fs::write(&path, "qmdc_first\n").unwrap();
        let token = Token::File(path.clone());
        assert_eq!(token.current().unwrap(), "qmdc_first");
        std::fs::write(&path, "qmdc_rotated").unwrap();
        assert_eq!(token.current().unwrap(), "qmdc_rotated");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(token.current(), Err(SyncError::Token(..))));
        assert_eq!(
            format!("{:?}", Token::from("qmdc_secret")),
            "Token(<redacted>)"
        );
    }
}
