//! What a billing worker pass does for each organization whose usage
//! changed since the last (the ingester marks them, `metering::changes`):
//! its usage alerts, and an interim invoice where the usage not yet
//! invoiced reached its plan's threshold. The marked organizations are
//! taken a batch at a time with `SKIP LOCKED`, so replicas share them.

use billing::catalog_store::Published;
use billing::close::Finalizing;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::Result;
use crate::webhooks::InvoiceEvents;

/// Organizations taken per transaction.
const BATCH: i64 = 100;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// Usage and spend thresholds that fired.
    pub alerts_fired: usize,
    /// Interim invoices issued.
    pub interim_invoices: usize,
}

pub async fn run(pool: &PgPool, published: &Published, now: DateTime<Utc>) -> Result<Changed> {
    let mut done = Changed::default();
    loop {
        let mut tx = pool.begin().await?;
        let changed = metering::changes::take(&mut tx, BATCH).await?;
        for &organization_id in &changed {
            done.alerts_fired +=
                crate::alerts::evaluate_one(&mut tx, published, organization_id, now).await?;
            if let Some(invoice) =
                billing::interim::issue(&mut tx, published, organization_id, now).await?
            {
                // Told as the close's invoices are: finalized (and paid, if
                // credit covered it).
                InvoiceEvents
                    .opened(&mut tx, std::slice::from_ref(&invoice))
                    .await?;
                done.interim_invoices += 1;
            }
        }
        tx.commit().await?;
        if (changed.len() as i64) < BATCH {
            return Ok(done);
        }
    }
}
