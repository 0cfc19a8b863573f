//! `quartermaster-gateway`: the data plane's OpenAI-compatible inference
//! gateway. Each customer calls with a key of their own; the gateway
//! checks it against the key set the control plane publishes, holds a
//! request while an endpoint scaled to zero wakes, forwards it to the
//! least busy ready engine pod with the engine's own key, passes streams
//! through event by event, and sums the tokens the engine reports per key,
//! endpoint and minute for metering.

pub mod control_plane;
pub mod error;
pub mod keys;
pub mod kubernetes;
pub mod limits;
pub mod metrics;
pub mod pods;
pub mod proxy;
pub mod standin;
pub mod stream;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;

use crate::keys::KeyStore;
use crate::limits::Limiter;
use crate::metrics::Metrics;
use crate::pods::{Pods, Waker};
use crate::usage::Ledger;

/// The largest request body forwarded: long prompts, not uploads.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Everything a request needs, shared by all of them.
pub struct Gateway {
    pub keys: Arc<KeyStore>,
    pub pods: Arc<Pods>,
    pub waker: Arc<dyn Waker>,
    pub limiter: Limiter,
    pub ledger: Arc<Ledger>,
    pub metrics: Arc<Metrics>,
    /// The client to the engines.
    pub engines: reqwest::Client,
    /// How many requests may wait for one endpoint's cold start.
    pub queue: usize,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    pub fn new(
        keys: Arc<KeyStore>,
        pods: Arc<Pods>,
        waker: Arc<dyn Waker>,
        queue: usize,
    ) -> Result<Gateway, reqwest::Error> {
        Ok(Gateway {
            keys,
            pods,
            waker,
            limiter: Limiter::default(),
            ledger: Arc::new(Ledger::default()),
            metrics: Arc::new(Metrics::default()),
            // A stream may pause between tokens, never for this long; a
            // connection that cannot be made fails fast.
            engines: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(Duration::from_secs(300))
                .pool_max_idle_per_host(256)
                .build()?,
            queue,
        })
    }
}

/// Serves `app` on `listener` with `TCP_NODELAY`: an event of a stream is
/// a few bytes, which Nagle's algorithm would otherwise hold back for the
/// peer's delayed acknowledgement (up to 40 ms a token).
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(listener.tap_io(no_delay), app).await
}

/// As [`serve`], until `stop` resolves, then draining what is in flight.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener.tap_io(no_delay), app)
        .with_graceful_shutdown(stop)
        .await
}

fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::warn!(error = %err, "could not set TCP_NODELAY");
    }
}

/// The OpenAI routes vLLM serves, behind per-key auth.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/models", get(proxy::models))
        .route("/v1/chat/completions", post(proxy::forward))
        .route("/v1/completions", post(proxy::forward))
        .route("/v1/embeddings", post(proxy::forward))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(gateway)
}
