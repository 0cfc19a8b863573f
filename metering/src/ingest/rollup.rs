//! Hourly rollups of newly stored events, computed in process and upserted
//! in one statement: sums added, gauges extended; the sums' monthly totals
//! in a second; gauges whose samples came out of order are recomputed
//! exactly from their samples (see [`crate::gauge`]) in a third.
//!
//! A gauge's samples are read as corrected ([`crate::corrections`]): a
//! voided sample is left out, a corrected one has its new value; only the
//! corrections already in the rollups count, so a recompute never undoes
//! one nor brings in one that waits for an adjustment.

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
    let monthly = push_sums(&mut columns, sums_of(events));
    let out_of_order = push_gauges(&mut columns, window, events);
    columns.add_to(conn).await?;
    add_monthly(conn, monthly).await?;
    let touched = touched(out_of_order.iter().map(|e| (series_of(e), e.time)));
    recompute_gauges(conn, &touched).await?;
    let organizations: BTreeSet<Uuid> = events.iter().map(|e| e.organization_id).collect();
    let organizations: Vec<Uuid> = organizations.into_iter().collect();
    crate::changes::mark(conn, &organizations).await
}

/// Sums per organization, meter and calendar month, for `usage_monthly`.
type Monthly = BTreeMap<(Uuid, Meter, DateTime<Utc>), i64>;

/// Changes to summed rollups: quantity and events per series and hour.
pub(crate) type SumChanges = BTreeMap<(Series, DateTime<Utc>), (i64, i32)>;

/// The series an event belongs to.
pub(crate) fn series_of(e: &UsageEvent) -> Series {
    (
        e.organization_id,
        e.resource_id,
        e.meter,
        e.dimension.clone(),
    )
}

/// What new events of summed meters add to their hours.
fn sums_of(events: &[&UsageEvent]) -> SumChanges {
    let mut sums = SumChanges::new();
    for e in events
        .iter()
        .filter(|e| e.meter.aggregation() == Aggregation::Sum)
    {
        let entry = sums
            .entry((series_of(e), gauge::hour_of(e.time)))
            .or_default();
        entry.0 += e.value;
        entry.1 += 1;
    }
    sums
}

/// Adds changes to summed rollups, hourly and monthly (a correction's
/// signed deltas: the same additions as new events make).
pub(crate) async fn add_sums(conn: &mut PgConnection, sums: SumChanges) -> Result<(), sqlx::Error> {
    let mut columns = Columns::default();
    let monthly = push_sums(&mut columns, sums);
    columns.add_to(conn).await?;
    add_monthly(conn, monthly).await
}

/// Pushes the sums' hourly changes; returns them summed per month.
fn push_sums(columns: &mut Columns, sums: SumChanges) -> Monthly {
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
        by_series.entry(series_of(e)).or_default().push(e);
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

/// The (gauge series, hour) pairs that samples at these times touch: the
/// sample's hour and the next, into which it may hold.
pub(crate) fn touched(
    samples: impl Iterator<Item = (Series, DateTime<Utc>)>,
) -> BTreeSet<(Series, DateTime<Utc>)> {
    samples
        .filter(|(series, _)| series.2.aggregation() == Aggregation::TimeWeightedAverage)
        .flat_map(|(series, time)| {
            let hour = gauge::hour_of(time);
            [(series.clone(), hour), (series, hour + Duration::hours(1))]
        })
        .collect()
}

/// Which corrections a gauge's samples are read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Corrected {
    /// Those applied to the rollups: the samples the rollups are of.
    InRollups,
    /// Every correction: what was really measured, as far as is known.
    All,
}

/// A gauge sample read back: organization, resource, meter, dimension,
/// time, and its value as corrected (`None`: voided).
type SampleRow = (Uuid, Uuid, String, String, DateTime<Utc>, Option<i64>);

/// Each touched (series, hour)'s integral and count of samples, from the
/// samples as `corrected`; pairs with no sample and no covered time are
/// left out.
pub(crate) async fn gauge_hours(
    conn: &mut PgConnection,
    touched: &BTreeSet<(Series, DateTime<Utc>)>,
    corrected: Corrected,
) -> Result<Vec<(Series, DateTime<Utc>, gauge::HourIntegral, usize)>, sqlx::Error> {
    let (Some(first), Some(last)) = (
        touched.iter().map(|t| t.1).min(),
        touched.iter().map(|t| t.1).max(),
    ) else {
        return Ok(Vec::new());
    };
    let resources: Vec<Uuid> = touched
        .iter()
        .map(|((_, r, _, _), _)| *r)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rows: Vec<SampleRow> = sqlx::query_as(
        "SELECT e.organization_id, e.resource_id, e.meter, e.dimension, e.time,
                CASE WHEN c.seq IS NULL THEN e.value ELSE c.value END
         FROM usage_events e
         LEFT JOIN LATERAL (
             SELECT c.seq, c.value FROM usage_correction_events c
             WHERE c.source = e.source AND c.event_id = e.event_id AND (c.in_rollups OR $5)
             ORDER BY c.seq DESC LIMIT 1) c ON true
         WHERE e.resource_id = ANY($1) AND e.meter = ANY($4)
           AND e.time >= $2 AND e.time < $3
         ORDER BY e.seq",
    )
    .bind(&resources)
    .bind(first - HOLD)
    .bind(last + Duration::hours(1))
    .bind(Meter::gauges())
    .bind(corrected == Corrected::All)
    .fetch_all(&mut *conn)
    .await?;
    let mut samples: BTreeMap<Series, Vec<Sample>> = BTreeMap::new();
    for (org, resource, meter, dimension, time, value) in rows {
        // A voided sample is not a sample.
        let (Ok(meter), Some(value)) = (meter.parse::<Meter>(), value) else {
            continue;
        };
        samples
            .entry((org, resource, meter, dimension))
            .or_default()
            .push(Sample { time, value });
    }
    let mut hours = Vec::with_capacity(touched.len());
    for (series, hour) in touched {
        let series_samples = samples.get(series).map(Vec::as_slice).unwrap_or(&[]);
        let integral = gauge::integrate(series_samples, *hour);
        let count = in_hour(series_samples, *hour);
        hours.push((series.clone(), *hour, integral, count));
    }
    Ok(hours)
}

/// Recomputes every touched (gauge series, hour) from its samples as the
/// rollups count them.
pub(crate) async fn recompute_gauges(
    conn: &mut PgConnection,
    touched: &BTreeSet<(Series, DateTime<Utc>)>,
) -> Result<(), sqlx::Error> {
    let mut columns = Columns::default();
    let mut emptied = Columns::default();
    for (series, hour, integral, count) in gauge_hours(conn, touched, Corrected::InRollups).await? {
        let into = if integral.covered_ms == 0 && count == 0 {
            &mut emptied
        } else {
            &mut columns
        };
        into.push_gauge(&series, hour, integral, count);
    }
    columns
        .upsert(
            conn,
            "quantity = EXCLUDED.quantity, covered_seconds = EXCLUDED.covered_seconds, events = EXCLUDED.events",
        )
        .await?;
    // An hour left with nothing (its samples voided) keeps its row, at
    // zero; an hour that never had one gets none.
    if emptied.org.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE usage_hourly u SET quantity = 0, covered_seconds = 0, events = 0, updated_at = now()
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[]) AS t(o, r, m, d, h)
         WHERE (u.organization_id, u.resource_id, u.meter, u.dimension, u.hour) = (t.o, t.r, t.m, t.d, t.h)",
    )
    .bind(&emptied.org)
    .bind(&emptied.resource)
    .bind(&emptied.meter)
    .bind(&emptied.dimension)
    .bind(&emptied.hour)
    .execute(&mut *conn)
    .await?;
    Ok(())
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

    /// Adds the rows to the stored ones. A sum's `covered` is zero, so
    /// the gauges' additions suit it too.
    async fn add_to(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.upsert(
            conn,
            "quantity = usage_hourly.quantity + EXCLUDED.quantity,
             covered_seconds = usage_hourly.covered_seconds + EXCLUDED.covered_seconds,
             events = usage_hourly.events + EXCLUDED.events",
        )
        .await
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
