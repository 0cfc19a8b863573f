//! Invoices and the current period's estimate, as an organization sees them.

use billing::catalog_store::Published;
use billing::invoice::{self, Invoice, Rollup, StoredLine};
use billing::rating::RatedInvoice;
use billing::{Period, close};
use chrono::{DateTime, Utc};
use metering::corrections::Correction;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::access::{OrgAccess, Permission};
use crate::{Error, Result};

pub async fn list(conn: &mut PgConnection, access: &OrgAccess) -> Result<Vec<Invoice>> {
    access.require(Permission::BillingRead)?;
    Ok(invoice::list(conn, access.organization_id()).await?)
}

pub async fn get(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
) -> Result<(Invoice, Vec<StoredLine>)> {
    access.require(Permission::BillingRead)?;
    invoice::get(conn, access.organization_id(), id)
        .await?
        .ok_or_else(|| Error::not_found("invoice"))
}

/// One line of an invoice with what it traces to: its hourly rollups, and
/// the usage corrections of its meter in its hours.
#[derive(Debug, Clone, PartialEq)]
pub struct LineTrace {
    pub line: StoredLine,
    pub rollups: Vec<Rollup>,
    pub corrections: Vec<Correction>,
}

/// The hourly rollups and usage corrections behind one line of an invoice.
pub async fn line_rollups(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
    line_no: i32,
) -> Result<LineTrace> {
    let (_, lines) = get(conn, access, id).await?;
    let line = lines
        .into_iter()
        .find(|l| l.line_no == line_no)
        .ok_or_else(|| Error::not_found("invoice line"))?;
    let rollups = invoice::line_rollups(conn, access.organization_id(), &line).await?;
    let corrections = invoice::line_corrections(conn, access.organization_id(), &line).await?;
    Ok(LineTrace {
        line,
        rollups,
        corrections,
    })
}

/// What the current period would bill if it closed with the usage so far.
pub async fn estimate(
    conn: &mut PgConnection,
    access: &OrgAccess,
    published: &Published,
    now: DateTime<Utc>,
) -> Result<(Period, RatedInvoice)> {
    access.require(Permission::BillingRead)?;
    let period = Period::containing(now);
    let estimate = close::estimate(conn, published, access.organization_id(), period, now).await?;
    Ok((period, estimate))
}
