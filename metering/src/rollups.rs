//! The hourly rollups (`usage_hourly`, owned here with `usage_events`) as
//! other crates need them: the latest level of a gauge, and totals since
//! an instant. Each call answers for many organizations or resources in one
//! statement, so a caller listing them makes one query, not one per row.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Meter;

/// For each `(organization, resource)`, the time-weighted average of the
/// gauge `meter` over the latest hour reported. A resource with no rollup,
/// or whose latest hour knew no value, is absent.
pub async fn latest_averages(
    conn: &mut PgConnection,
    meter: Meter,
    resources: &[(Uuid, Uuid)],
) -> Result<HashMap<Uuid, Decimal>, sqlx::Error> {
    let (organizations, ids): (Vec<Uuid>, Vec<Uuid>) = resources.iter().copied().unzip();
    let rows: Vec<(Uuid, Decimal)> = sqlx::query_as(
        "SELECT r.resource_id, latest.average
         FROM UNNEST($1::uuid[], $2::uuid[]) AS r(organization_id, resource_id)
         CROSS JOIN LATERAL (
             SELECT u.quantity / nullif(u.covered_seconds, 0) AS average FROM usage_hourly u
             WHERE u.organization_id = r.organization_id AND u.resource_id = r.resource_id
               AND u.meter = $3
             ORDER BY u.hour DESC LIMIT 1) AS latest
         WHERE latest.average IS NOT NULL",
    )
    .bind(&organizations)
    .bind(&ids)
    .bind(meter.as_str())
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// For each of `organizations`, the sum of each of `meters` over the hours
/// from `since` on. Pairs with no rollup are absent.
pub async fn totals_since(
    conn: &mut PgConnection,
    organizations: &[Uuid],
    meters: &[Meter],
    since: DateTime<Utc>,
) -> Result<HashMap<(Uuid, Meter), Decimal>, sqlx::Error> {
    let names: Vec<&str> = meters.iter().map(|m| m.as_str()).collect();
    let rows: Vec<(Uuid, String, Decimal)> = sqlx::query_as(
        "SELECT organization_id, meter, sum(quantity) FROM usage_hourly
         WHERE organization_id = ANY($1) AND meter = ANY($2) AND hour >= $3
         GROUP BY organization_id, meter",
    )
    .bind(organizations)
    .bind(&names)
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(org, meter, total)| Some(((org, Meter::from_str(&meter).ok()?), total)))
        .collect())
}
