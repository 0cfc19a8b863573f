//! Shared state: one `Arc` handed to every handler.

use std::ops::Deref;
use std::sync::Arc;

use billing::Catalog;
use billing::catalog_store::{self, LiveCatalog};
use control_plane::money::payments::Provider;
use control_plane::webhooks::UrlPolicy;
use metering::Ingester;
use sqlx::PgPool;

use crate::observe::ApiMetrics;

#[derive(Debug, Clone)]
pub struct Config {
    /// Mark cookies `Secure`: on wherever the API is served over HTTPS.
    pub secure_cookies: bool,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Collecting payment; `None` where no payment provider is configured
    /// (then paid plans need no card, and invoices wait unpaid).
    pub payments: Option<Payments>,
    /// Where customers reach this installation (`https://console.example.com`),
    /// for links that leave it: checkout return pages, invitations. Without
    /// it, the request's `Host` is used.
    pub public_url: Option<String>,
    /// Whether a mail worker sends the control plane's email: then
    /// invitations are emailed, not only shown to the inviter.
    pub mail: bool,
    /// Which webhook receivers may be registered: public HTTPS only, or
    /// plain HTTP to this machine as well (`dev`).
    pub webhook_urls: UrlPolicy,
}

#[derive(Debug, Clone)]
pub struct Payments {
    pub provider: Provider,
    /// The secret webhook events are signed with.
    pub webhook_secret: String,
    /// The publishable key the browser uses with Stripe.js.
    pub publishable_key: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secure_cookies: true,
            max_body_bytes: 1024 * 1024,
            payments: None,
            public_url: None,
            mail: false,
            webhook_urls: UrlPolicy::Public,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub db: PgPool,
    /// The catalog in force, refreshed by the billing worker.
    pub catalog: Arc<LiveCatalog>,
    pub config: Config,
    pub ingester: Ingester,
    pub metrics: ApiMetrics,
    /// Wakes connected data planes' long polls.
    pub changes: control_plane::data_planes::changes::Changes,
}

impl AppState {
    /// The state, with a usage ingester whose window is rebuilt from `db`.
    /// `initial` is published as the catalog if none ever was.
    pub async fn new(db: PgPool, initial: Catalog, config: Config) -> Result<Self, StartError> {
        let catalog = Arc::new(LiveCatalog::new(
            catalog_store::ensure(&db, &initial).await?,
        ));
        let ingester = Ingester::start(db.clone(), metering::ingest::DEFAULT_LATENESS).await?;
        let changes = control_plane::data_planes::changes::Changes::start(db.clone());
        Ok(AppState(Arc::new(Inner {
            changes,
            db,
            catalog,
            config,
            ingester,
            metrics: ApiMetrics::default(),
        })))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("rebuilding the usage deduplication window: {0}")]
    Ingester(#[from] metering::StartError),
    #[error("loading the plan catalog: {0}")]
    Catalog(#[from] billing::Error),
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
