//! Invoices and the current period's estimate, as an organization sees them.

use billing::catalog_store::Published;
use billing::cost_allocation::{self, LabelBreakdown};
use billing::focus::{self, Account};
use billing::invoice::{self, Invoice, Rollup, StoredLine};
use billing::rating::RatedInvoice;
use billing::{Period, close};
use chrono::{DateTime, Utc};
use metering::corrections::Correction;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::access::{OrgAccess, Permission};
use crate::labels;
use crate::validation::ValidationErrors;
use crate::{Error, Result, organizations, resource};

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

/// An invoice by the value of label `key`: each usage line's amount split
/// over the resources whose rollups made it, summed per value of the label
/// they carried when each hour started; the base fee and credits apart.
pub async fn breakdown(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
    key: &str,
) -> Result<(Invoice, LabelBreakdown)> {
    labels::valid_key(key).map_err(|m| Error::Validation(ValidationErrors::single("label", m)))?;
    access.require(Permission::BillingRead)?;
    let (invoice, lines, parts) = cost_allocation::allocate(conn, access.organization_id(), id)
        .await?
        .ok_or_else(|| Error::not_found("invoice"))?;
    let breakdown = cost_allocation::by_label(&lines, &parts, key);
    Ok((invoice, breakdown))
}

/// The invoice of `period` as a FOCUS 1.2 CSV file ([`billing::focus`]):
/// one row per usage line, resource and day, and the base fee and credits,
/// adding up to the invoice's total.
pub async fn focus_csv(
    conn: &mut PgConnection,
    access: &OrgAccess,
    period: Period,
) -> Result<(Invoice, Vec<u8>)> {
    access.require(Permission::BillingRead)?;
    let organization = organizations::get(conn, access).await?;
    let id = invoice::of_period(conn, access.organization_id(), period.start())
        .await?
        .ok_or_else(|| Error::not_found("invoice of that period"))?;
    let (invoice, lines, parts) = cost_allocation::allocate(conn, access.organization_id(), id)
        .await?
        .ok_or_else(|| Error::not_found("invoice of that period"))?;
    let ids: Vec<Uuid> = parts
        .iter()
        .filter_map(|p| p.resource_id)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let resources = resource::described(conn, access.organization_id(), &ids).await?;
    let account = Account {
        id: organization.id,
        name: &organization.name,
    };
    let rows = focus::rows(&account, &invoice, &lines, &parts, &resources);
    Ok((invoice, focus::to_csv(&rows)?))
}
