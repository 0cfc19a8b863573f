//! Hourly rollups of newly stored events, computed in process and upserted
//! in one statement: sums added, gauges extended; the sums' monthly totals
//! in a second; gauges whose samples came out of order are recomputed
//! exactly from their raw samples (see [`crate::gauge`]) in a third.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::event::UsageEvent;
use crate::gauge::{self, HOLD, Sample};
use crate::window::{Series, Window};
use crate::{Aggregation, Meter};

/// Adds the new events to their hourly rollups in one upsert: sums added,
/// gauges extended; then recomputes the gauge hours that cannot be.
pub(super) async fn roll_up(
    conn: &mut PgConnection,
    window: &Window,
    events: &[&UsageEvent],
) -> Result<(), sqlx::Error> {
    let mut columns = Columns::default();
    let monthly = push_sums(&mut columns, events);
    let out_of_order = push_gauges(&mut columns, window, events);
    // A sum's `covered` is zero, so the gauges' additions suit it too.
    columns
        .upsert(
            conn,
            "quantity = usage_hourly.quantity + EXCLUDED.quantity,
             covered_seconds = usage_hourly.covered_seconds + EXCLUDED.covered_seconds,
             events = usage_hourly.events + EXCLUDED.events",
        )
        .await?;
    add_monthly(conn, monthly).await?;
    recompute_gauges(conn, &out_of_order).await?;
    let organizations: BTreeSet<Uuid> = events.iter().map(|e| e.organization_id).collect();
    let organizations: Vec<Uuid> = organizations.into_iter().collect();
    crate::changes::mark(conn, &organizations).await
}

/// Sums per organization, meter and calendar month, for `usage_monthly`.
type Monthly = BTreeMap<(Uuid, Meter, DateTime<Utc>), i64>;

/// Pushes the sums' hourly changes; returns them summed per month.
fn push_sums(columns: &mut Columns, events: &[&UsageEvent]) -> Monthly {
    let mut sums: BTreeMap<(Series, DateTime<Utc>), (i64, i32)> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e.meter.aggregation() == Aggregation::Sum)
    {
        let series = (
            e.organization_id,
            e.resource_id,
            e.meter,
            e.dimension.clone(),
        );
        let entry = sums.entry((series, gauge::hour_of(e.time))).or_default();
        entry.0 += e.value;
        entry.1 += 1;
    }
    let mut monthly = Monthly::new();
    for (((org, _, meter, _), hour), (quantity, _)) in &sums {
        *monthly
            .entry((*org, *meter, crate::rollups::month_of(*hour)))
            .or_default() += quantity;
    }
    for (((org, resource, meter, dimension), hour), (quantity, count)) in sums {
        columns.push(
            org,
            resource,
            meter,
            dimension,
            hour,
            quantity.to_string(),
            "0".to_owned(),
            count,
        );
    }
    monthly
}

/// Adds the batch's sums to `usage_monthly`, one row per organization,
/// meter and month: what "usage this month" is ranked by.
async fn add_monthly(conn: &mut PgConnection, monthly: Monthly) -> Result<(), sqlx::Error> {
    if monthly.is_empty() {
        return Ok(());
    }
    let (mut org, mut meter, mut month, mut quantity) = (vec![], vec![], vec![], vec![]);
    for ((o, m, start), q) in monthly {
        org.push(o);
        meter.push(m.as_str());
        month.push(start);
        quantity.push(q);
    }
    sqlx::query(
        "INSERT INTO usage_monthly (organization_id, meter, month, quantity)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::bigint[])
         ON CONFLICT (organization_id, meter, month) DO UPDATE
         SET quantity = usage_monthly.quantity + EXCLUDED.quantity",
    )
    .bind(&org)
    .bind(&meter)
    .bind(&month)
    .bind(&quantity)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Gauge rollup changes for the new samples. A series whose new samples
/// all come after its latest stored one (the usual case: collectors send
/// in order) gets the exact change [`gauge::append`] computes from that
/// one sample; the other series' samples are returned, for their touched
/// hours to be recomputed from the raw samples.
fn push_gauges<'e>(
    columns: &mut Columns,
    window: &Window,
    events: &[&'e UsageEvent],
) -> Vec<&'e UsageEvent> {
    let mut by_series: BTreeMap<Series, Vec<&UsageEvent>> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e.meter.aggregation() == Aggregation::TimeWeightedAverage)
    {
        by_series
            .entry((
                e.organization_id,
                e.resource_id,
                e.meter,
                e.dimension.clone(),
            ))
            .or_default()
            .push(e);
    }
    let mut out_of_order: Vec<&UsageEvent> = Vec::new();
    for (series, mut samples) in by_series {
        samples.sort_by_key(|e| e.time);
        let last = window.last_gauge.get(&series).copied();
        let distinct = samples.windows(2).all(|w| w[0].time < w[1].time);
        let after = last.is_none_or(|l| samples[0].time > l.time);
        if !(distinct && after) {
            out_of_order.extend(samples);
            continue;
        }
        let new: Vec<Sample> = samples
            .iter()
            .map(|e| Sample {
                time: e.time,
                value: e.value,
            })
            .collect();
        for (hour, change) in gauge::append(last, &new) {
            columns.push_gauge(&series, hour, change, in_hour(&new, hour));
        }
    }
    out_of_order
}

/// Recomputes every (gauge series, hour) that the new samples touch — the
/// sample's hour and the next, into which it may hold — from all samples.
async fn recompute_gauges(
    conn: &mut PgConnection,
    events: &[&UsageEvent],
) -> Result<(), sqlx::Error> {
    let touched: BTreeSet<(Series, DateTime<Utc>)> = events
        .iter()
        .filter(|e| e.meter.aggregation() == Aggregation::TimeWeightedAverage)
        .flat_map(|e| {
            let series = (
                e.organization_id,
                e.resource_id,
                e.meter,
                e.dimension.clone(),
            );
            let hour = gauge::hour_of(e.time);
            [(series.clone(), hour), (series, hour + Duration::hours(1))]
        })
        .collect();
    let (Some(first), Some(last)) = (
        touched.iter().map(|t| t.1).min(),
        touched.iter().map(|t| t.1).max(),
    ) else {
        return Ok(());
    };
    let resources: Vec<Uuid> = touched
        .iter()
        .map(|((_, r, _, _), _)| *r)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rows: Vec<(Uuid, Uuid, String, String, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT organization_id, resource_id, meter, dimension, time, value FROM usage_events
         WHERE resource_id = ANY($1) AND meter = ANY($4)
           AND time >= $2 AND time < $3
         ORDER BY seq",
    )
    .bind(&resources)
    .bind(first - HOLD)
    .bind(last + Duration::hours(1))
    .bind(Meter::gauges())
    .fetch_all(&mut *conn)
    .await?;
    let mut samples: BTreeMap<Series, Vec<Sample>> = BTreeMap::new();
    for (org, resource, meter, dimension, time, value) in rows {
        let Ok(meter) = meter.parse::<Meter>() else {
            continue;
        };
        samples
            .entry((org, resource, meter, dimension))
            .or_default()
            .push(Sample { time, value });
    }
    let mut columns = Columns::default();
    for (series, hour) in touched {
        let series_samples = samples.get(&series).map(Vec::as_slice).unwrap_or(&[]);
        let integral = gauge::integrate(series_samples, hour);
        let count = in_hour(series_samples, hour);
        if integral.covered_ms == 0 && count == 0 {
            continue;
        }
        columns.push_gauge(&series, hour, integral, count);
    }
    columns
        .upsert(
            conn,
            "quantity = EXCLUDED.quantity, covered_seconds = EXCLUDED.covered_seconds, events = EXCLUDED.events",
        )
        .await
}

/// How many of `samples` fall in `hour`.
fn in_hour(samples: &[Sample], hour: DateTime<Utc>) -> usize {
    samples
        .iter()
        .filter(|s| gauge::hour_of(s.time) == hour)
        .count()
}

/// Rollup rows as columns, for one `UNNEST` upsert.
#[derive(Default)]
struct Columns {
    org: Vec<Uuid>,
    resource: Vec<Uuid>,
    meter: Vec<&'static str>,
    dimension: Vec<String>,
    hour: Vec<DateTime<Utc>>,
    quantity: Vec<String>,
    covered: Vec<String>,
    events: Vec<i32>,
}

impl Columns {
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per column of the row"
    )]
    fn push(
        &mut self,
        org: Uuid,
        resource: Uuid,
        meter: Meter,
        dimension: String,
        hour: DateTime<Utc>,
        quantity: String,
        covered: String,
        events: i32,
    ) {
        self.org.push(org);
        self.resource.push(resource);
        self.meter.push(meter.as_str());
        self.dimension.push(dimension);
        self.hour.push(hour);
        self.quantity.push(quantity);
        self.covered.push(covered);
        self.events.push(events);
    }

    /// A gauge's `hour` of `series`: its integral and the `count` of
    /// samples in it.
    fn push_gauge(
        &mut self,
        series: &Series,
        hour: DateTime<Utc>,
        integral: gauge::HourIntegral,
        count: usize,
    ) {
        let (org, resource, meter, dimension) = series;
        self.push(
            *org,
            *resource,
            *meter,
            dimension.clone(),
            hour,
            gauge::millis_decimal(integral.value_ms),
            gauge::millis_decimal(i128::from(integral.covered_ms)),
            i32::try_from(count).unwrap_or(i32::MAX),
        );
    }

    async fn upsert(
        self,
        conn: &mut PgConnection,
        on_conflict: &'static str,
    ) -> Result<(), sqlx::Error> {
        if self.org.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO usage_hourly (organization_id, resource_id, meter, dimension, hour, quantity, covered_seconds, events)
             SELECT o, r, m, d, h, q::numeric, c::numeric, e
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::int[])
                  AS t(o, r, m, d, h, q, c, e)
             ON CONFLICT (organization_id, resource_id, meter, dimension, hour) DO UPDATE
             SET {on_conflict}, updated_at = now()"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.org)
            .bind(&self.resource)
            .bind(&self.meter)
            .bind(&self.dimension)
            .bind(&self.hour)
            .bind(&self.quantity)
            .bind(&self.covered)
            .bind(&self.events)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
