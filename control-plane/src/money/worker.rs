//! The billing worker: the singleton that closes periods, ends cancelled
//! plans, creates payment customers, collects invoices, enforces limits and
//! runs the idle lifecycle. Every step is idempotent, so a pass repeated or
//! cut short is harmless.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use billing::catalog_store::LiveCatalog;
use billing::{Period, close};
use chrono::{DateTime, Duration, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use sqlx::PgPool;

use super::idle::{self, Lifecycle};
use super::payments::{self, Provider};
use super::subscriptions;
use super::suspension::{self, Enforced};
use crate::Result;
use crate::webhooks::InvoiceEvents;

/// `pg_advisory_lock` key of the billing worker ("qmbill").
const LOCK_KEY: i64 = 0x716d_6269_6c6c;

#[derive(Debug, Clone)]
pub struct BillingWorker {
    pool: PgPool,
    catalog: Arc<LiveCatalog>,
    provider: Option<Provider>,
    grace: Duration,
    invoices_closed: Counter,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pass {
    pub closed: Option<close::CloseReport>,
    pub plans_ended: usize,
    pub customers_created: usize,
    pub invoices_paid: usize,
    pub enforced: Enforced,
    /// Usage and spend thresholds that fired.
    pub alerts_fired: usize,
    /// Idle clusters warned, suspended and deleted.
    pub idle: Lifecycle,
    /// Credit expired, and automatic top-ups started and paid.
    pub prepaid: super::prepaid::Pass,
}

impl BillingWorker {
    pub fn new(
        pool: PgPool,
        catalog: Arc<LiveCatalog>,
        provider: Option<Provider>,
        grace: Duration,
    ) -> Self {
        BillingWorker {
            pool,
            catalog,
            provider,
            grace,
            invoices_closed: Counter::default(),
        }
    }

    /// Exposes how many invoices the worker's period closes created.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "invoices_closed",
            "Invoices created by the billing worker's period closes",
            self.invoices_closed.clone(),
        );
    }

    /// Runs passes while this replica holds the billing lock.
    pub async fn run(self, tick: StdDuration) {
        crate::db::singleton(&self.pool, LOCK_KEY, tick, "billing", || {
            self.run_once_at(Utc::now())
        })
        .await;
    }

    /// One pass at `now`.
    #[tracing::instrument(name = "billing pass", level = "debug", skip_all)]
    pub async fn run_once_at(&self, now: DateTime<Utc>) -> Result<Pass> {
        self.catalog.refresh(&self.pool).await?;
        let published = self.catalog.get();
        let mut pass = Pass::default();

        let previous = Period::containing(now).previous();
        let mut conn = self.pool.acquire().await?;
        if now >= close::closes_at(previous) && !close::is_closed(&mut conn, previous).await? {
            let report = close::close(
                &self.pool,
                &published,
                previous,
                now,
                Some(&InvoiceEvents),
                &mut |_, _| {},
            )
            .await?;
            self.invoices_closed.inc_by(report.created as u64);
            pass.closed = Some(report);
        }
        let mut tx = self.pool.begin().await?;
        pass.plans_ended = subscriptions::end_cancelled(&mut tx, now).await?;
        tx.commit().await?;

        if let Some(provider) = &self.provider {
            pass.customers_created =
                payments::create_customers(&self.pool, provider.as_ref(), now).await?;
            pass.invoices_paid = payments::collect(&self.pool, provider.as_ref(), now).await?;
        }
        pass.prepaid = super::prepaid::run(
            &self.pool,
            self.provider.as_deref(),
            &published.catalog,
            now,
        )
        .await?;
        for enforced in [
            suspension::enforce_payment(&self.pool, now, self.grace).await?,
            suspension::enforce_storage(&self.pool, &published, now).await?,
            suspension::enforce_spend(&self.pool, &published, now).await?,
        ] {
            pass.enforced.suspended += enforced.suspended;
            pass.enforced.resumed += enforced.resumed;
        }
        pass.alerts_fired = crate::alerts::evaluate(&self.pool, &published, now).await?;
        pass.idle = idle::enforce(&self.pool, &published, now).await?;
        Ok(pass)
    }
}
