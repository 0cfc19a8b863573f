//! The hourly rollups (`usage_hourly`, owned here with `usage_events`) as
//! other crates need them: the latest level of a gauge, totals since an
//! instant or over spans (what a period close rates), and the hours behind
//! an invoice line. Each call answers for many organizations or resources
//! in one statement, so a caller listing them makes one query, not one per
//! row.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
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

/// The first instant of the calendar month (UTC) that contains `time`:
/// the month `usage_monthly` keeps a row for.
pub fn month_of(time: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(time.year(), time.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(time)
}

/// For each of `organizations`, the sum of each of the summed `meters` in
/// the calendar month that starts at `month`. Pairs with no usage are
/// absent. One primary-key lookup per pair, however long the month.
pub async fn month_totals(
    conn: &mut PgConnection,
    organizations: &[Uuid],
    meters: &[Meter],
    month: DateTime<Utc>,
) -> Result<HashMap<(Uuid, Meter), Decimal>, sqlx::Error> {
    let names: Vec<&str> = meters.iter().map(|m| m.as_str()).collect();
    let rows: Vec<(Uuid, String, Decimal)> = sqlx::query_as(
        "SELECT organization_id, meter, quantity FROM usage_monthly
         WHERE organization_id = ANY($1) AND meter = ANY($2) AND month = $3",
    )
    .bind(organizations)
    .bind(&names)
    .bind(month)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(org, meter, total)| Some(((org, Meter::from_str(&meter).ok()?), total)))
        .collect())
}

/// Organizations by their use of the summed `meter` in the month starting
/// at `month`, most first (ties by id, descending), after `after` and at
/// most `limit`: one scan of an index, for a console sorted by usage.
pub async fn month_ranking(
    conn: &mut PgConnection,
    meter: Meter,
    month: DateTime<Utc>,
    after: Option<(Decimal, Uuid)>,
    limit: i64,
) -> Result<Vec<(Uuid, Decimal)>, sqlx::Error> {
    // Above every real quantity: the first page is "after" the top.
    let (quantity, id) = after.unwrap_or((Decimal::MAX, Uuid::max()));
    sqlx::query_as(
        "SELECT organization_id, quantity FROM usage_monthly
         WHERE month = $1 AND meter = $2 AND quantity > 0
           AND (quantity, organization_id) < ($3, $4)
         ORDER BY quantity DESC, organization_id DESC LIMIT $5",
    )
    .bind(month)
    .bind(meter.as_str())
    .bind(quantity)
    .bind(id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

/// The rollups of one organization's meter and dimension from one instant
/// on: how many hours, and their sum.
#[derive(Debug, Clone, PartialEq)]
pub struct Total {
    pub organization_id: Uuid,
    pub from: DateTime<Utc>,
    pub meter: Meter,
    pub dimension: String,
    /// The price list of the resources summed ([`crate::price_lists`]);
    /// `None`: resources rated by the catalog's own prices.
    pub price_list: Option<String>,
    pub rows: i64,
    pub quantity: Decimal,
}

/// Organization, from, meter, dimension, price list ('' for none),
/// rollups, their sum.
type TotalRow = (Uuid, DateTime<Utc>, String, String, String, i64, Decimal);

fn totals_from(rows: Vec<TotalRow>) -> Result<Vec<Total>, sqlx::Error> {
    rows.into_iter()
        .map(
            |(organization_id, from, meter, dimension, price_list, rows, quantity)| {
                Ok(Total {
                    organization_id,
                    from,
                    meter: Meter::from_str(&meter).map_err(|e| sqlx::Error::Decode(e.into()))?,
                    dimension,
                    price_list: (!price_list.is_empty()).then_some(price_list),
                    rows,
                    quantity,
                })
            },
        )
        .collect()
}

/// How a totals query tells rollups apart by price list: the column
/// selected, the join, and the grouping after organization, from, meter
/// and dimension. The join is left out for organizations without a
/// price-listed resource: joining every rollup of a period cost its
/// aggregate about 85% against an empty table and 35% with 1% of the
/// resources listed (1.4M rollups, PostgreSQL 15 here), and almost every
/// organization has none.
fn by_price_list(listed: bool) -> (&'static str, &'static str, &'static str) {
    if listed {
        (
            "coalesce(p.price_list, '')",
            "LEFT JOIN resource_price_lists p
                  ON p.organization_id = u.organization_id AND p.resource_id = u.resource_id",
            ", coalesce(p.price_list, '')",
        )
    } else {
        ("''", "", "")
    }
}

/// Whether any of `organizations` (every one when `None`) has a resource
/// rated by a price list.
async fn any_listed(
    conn: &mut PgConnection,
    organizations: Option<&[Uuid]>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM resource_price_lists
                        WHERE $1::uuid[] IS NULL OR organization_id = ANY($1))",
    )
    .bind(organizations)
    .fetch_one(&mut *conn)
    .await
}

/// Every organization's totals (or `only` one's) over the hours from `from`
/// to `to`, by price list: one aggregate over the span, as fast as reading
/// the rollups. The few organizations with a price-listed resource are
/// summed again by price list, through their index, and their rows of the
/// aggregate dropped: each organization's totals come from one statement.
/// (Filtering them out of the aggregate instead cost it as much as the
/// join: a comparison per rollup.)
pub async fn totals(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    only: Option<Uuid>,
) -> Result<Vec<Total>, sqlx::Error> {
    let listed: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT organization_id FROM resource_price_lists
         WHERE $1::uuid IS NULL OR organization_id = $1",
    )
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    let sql = |joined: bool, scope: &str| {
        let (list, join, group) = by_price_list(joined);
        format!(
            "SELECT u.organization_id, $1 AS usage_from, u.meter, u.dimension, {list},
                    count(*), sum(u.quantity)
             FROM usage_hourly u {join}
             WHERE u.hour >= $1 AND u.hour < $2 AND ($3::uuid IS NULL OR u.organization_id = $3)
                   {scope}
             GROUP BY 1, 3, 4{group}"
        )
    };
    let mut rows: Vec<TotalRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql(false, "")))
        .bind(from)
        .bind(to)
        .bind(only)
        .fetch_all(&mut *conn)
        .await?;
    if !listed.is_empty() {
        let apart: HashSet<Uuid> = listed.iter().copied().collect();
        rows.retain(|row| !apart.contains(&row.0));
        let joined: Vec<TotalRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql(
            true,
            "AND u.organization_id = ANY($4)",
        )))
        .bind(from)
        .bind(to)
        .bind(only)
        .bind(&listed)
        .fetch_all(&mut *conn)
        .await?;
        rows.extend(joined);
    }
    totals_from(rows)
}

/// Totals over each `(organization, from, to)` span, labelled with its
/// `from`, by price list: for organizations whose period is cut by a
/// change of plan.
pub async fn totals_in_spans(
    conn: &mut PgConnection,
    spans: &[(Uuid, DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<Total>, sqlx::Error> {
    if spans.is_empty() {
        return Ok(Vec::new());
    }
    let (mut orgs, mut froms, mut tos) = (Vec::new(), Vec::new(), Vec::new());
    for (org, from, to) in spans {
        orgs.push(*org);
        froms.push(*from);
        tos.push(*to);
    }
    let (list, join, group) = by_price_list(any_listed(conn, Some(&orgs)).await?);
    // Each span summed on its own, through the (organization, hour) index:
    // as a join, PostgreSQL 15 hashed every rollup of the table to find a
    // tenth of them (88 s against 13 s at 144 million rollups).
    let rows: Vec<TotalRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT s.organization_id, s.usage_from, t.*
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[])
              AS s(organization_id, usage_from, usage_to)
         CROSS JOIN LATERAL (
             SELECT u.meter, u.dimension, {list}, count(*), sum(u.quantity)
             FROM usage_hourly u {join}
             WHERE u.organization_id = s.organization_id
               AND u.hour >= s.usage_from AND u.hour < s.usage_to
             GROUP BY u.meter, u.dimension{group}) t"
    )))
    .bind(&orgs)
    .bind(&froms)
    .bind(&tos)
    .fetch_all(&mut *conn)
    .await?;
    totals_from(rows)
}

/// One hourly rollup, as an invoice line traces back to it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Rollup {
    pub resource_id: Uuid,
    /// For a token meter, `<key> <model>`: which key's usage this was.
    pub dimension: String,
    pub hour: DateTime<Utc>,
    pub quantity: Decimal,
}

/// The rollups of an organization's `meter` and `dimension` over the hours
/// from `from` to `to`, of the resources rated by `price_list` (`None`: by
/// the catalog's own prices), by hour, resource and dimension. For a token
/// meter `dimension` is a model, as a token line is priced, and every
/// key's rollups of that model are listed.
pub async fn hours(
    conn: &mut PgConnection,
    organization_id: Uuid,
    (meter, dimension): (&str, &str),
    price_list: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Rollup>, sqlx::Error> {
    sqlx::query_as(
        "SELECT resource_id, dimension, hour, quantity FROM usage_hourly u
         WHERE organization_id = $1 AND meter = $2
           AND coalesce((SELECT p.price_list FROM resource_price_lists p
                         WHERE p.organization_id = $1 AND p.resource_id = u.resource_id), '')
               = coalesce($7, '')
           AND CASE WHEN meter = ANY($6)
                    -- `<uuid> <model>`: the model begins after 36 + 1 characters.
                    THEN substr(dimension, 38) = $3 AND substr(dimension, 37, 1) = ' '
                    ELSE dimension = $3 END
           AND hour >= $4 AND hour < $5
         ORDER BY hour, resource_id, dimension",
    )
    .bind(organization_id)
    .bind(meter)
    .bind(dimension)
    .bind(from)
    .bind(to)
    .bind(Meter::token_meters())
    .bind(price_list)
    .fetch_all(&mut *conn)
    .await
}

/// What a resource's `requests` readings say: the latest hour with a
/// request, and how many hours of a span have a reading at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestReadings {
    /// The latest hour, started by `now`, whose rollup counts a request.
    pub last_active_hour: Option<DateTime<Utc>>,
    /// Hours in `[since, hour of now)` with a `requests` rollup (zero
    /// requests included): an hour without one is an hour not read.
    pub covered_hours: i64,
}

/// For each `(organization, resource, since)`, in the order given, what its
/// `requests` rollups say up to `now` ([`RequestReadings`]); `since` is an
/// hour's start. One statement; a resource may be asked about twice, for
/// two spans.
pub async fn request_readings(
    conn: &mut PgConnection,
    asked: &[(Uuid, Uuid, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<Vec<RequestReadings>, sqlx::Error> {
    let (mut organizations, mut resources, mut sinces) = (Vec::new(), Vec::new(), Vec::new());
    for (organization, resource, since) in asked {
        organizations.push(*organization);
        resources.push(*resource);
        sinces.push(*since);
    }
    let rows: Vec<(Option<DateTime<Utc>>, i64)> = sqlx::query_as(
        "SELECT (SELECT max(u.hour) FROM usage_hourly u
                 WHERE u.organization_id = a.organization_id AND u.resource_id = a.resource_id
                   AND u.meter = $4 AND u.dimension = '' AND u.hour <= $5 AND u.quantity > 0),
                (SELECT count(*) FROM usage_hourly u
                 WHERE u.organization_id = a.organization_id AND u.resource_id = a.resource_id
                   AND u.meter = $4 AND u.dimension = ''
                   AND u.hour >= a.since AND u.hour < $6)
         FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[])
              WITH ORDINALITY AS a(organization_id, resource_id, since, n)
         ORDER BY a.n",
    )
    .bind(&organizations)
    .bind(&resources)
    .bind(&sinces)
    .bind(Meter::Requests.as_str())
    .bind(now)
    .bind(crate::gauge::hour_of(now))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(last_active_hour, covered_hours)| RequestReadings {
            last_active_hour,
            covered_hours,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_starts_at_midnight_utc_on_its_first_day() {
        let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        assert_eq!(month_of(at(2026, 12, 7, 10)), at(2026, 12, 1, 0));
        assert_eq!(month_of(at(2026, 12, 1, 0)), at(2026, 12, 1, 0));
        assert_eq!(
            month_of(at(2027, 1, 1, 0) - chrono::Duration::seconds(1)),
            at(2026, 12, 1, 0)
        );
    }
}
