//! Shared state: one `Arc` handed to every handler.

use std::ops::Deref;
use std::sync::Arc;

use billing::Catalog;
use metering::Ingester;
use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct Config {
    /// Mark cookies `Secure`: on wherever the API is served over HTTPS.
    pub secure_cookies: bool,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secure_cookies: true,
            max_body_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub db: PgPool,
    pub catalog: Catalog,
    pub config: Config,
    pub ingester: Ingester,
}

impl AppState {
    /// The state, with a usage ingester whose window is rebuilt from `db`.
    pub async fn new(
        db: PgPool,
        catalog: Catalog,
        config: Config,
    ) -> Result<Self, metering::IngestError> {
        let ingester = Ingester::start(db.clone(), metering::ingest::DEFAULT_LATENESS).await?;
        Ok(AppState(Arc::new(Inner {
            db,
            catalog,
            config,
            ingester,
        })))
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
