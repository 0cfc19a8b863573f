//! Ingestion: exactly once, durable before it answers, fast. Owns
//! `usage_events` and `usage_ingest_state`; the rollups it writes into
//! `usage_hourly` are read through [`crate::rollups`] and [`crate::report`].
//!
//! One batch is one transaction, holding the row lock of
//! `usage_ingest_state` so that batches (from any replica) are applied one
//! at a time:
//!
//! 1. if another replica wrote since (its `last_seq` is ahead of the
//!    window's), catch the in-memory [`Window`] up from `usage_events`;
//! 2. drop events already in the window, or twice in the batch: a true
//!    resend is a duplicate; the same `(source, id)` with other content is
//!    a conflict, reported and logged, and the first stored content stands;
//! 3. `COPY` the rest into the append-only `usage_events`;
//! 4. add sums to their hourly rollups, computed in process, and recompute
//!    the hours of gauges touched (time-weighted, see [`crate::gauge`]) from
//!    the raw samples, so that a late or out-of-order sample lands exactly;
//! 5. commit, and only then remember the new keys.
//!
//! A crash anywhere before the commit leaves nothing behind and the sender
//! retries; a crash after it leaves everything, and the retry is a duplicate.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::event::UsageEvent;
use crate::gauge::{self, HOLD, Sample};
use crate::window::{self, Seen, Window};
use crate::{Aggregation, Meter};

/// Late events are accepted, and correct their hour, for this long.
pub const DEFAULT_LATENESS: Duration = Duration::hours(48);

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// What happened to a batch's checked events.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Ingested {
    /// Stored now.
    pub accepted: usize,
    /// Already stored before (or twice in this batch): nothing changed.
    pub duplicates: usize,
    /// Positions of events whose `(source, id)` was stored before (or
    /// earlier in this batch) with other content: not stored.
    pub conflicts: Vec<usize>,
}

#[derive(Debug)]
pub struct Ingester {
    pool: PgPool,
    lateness: Duration,
    window: Mutex<Window>,
}

use crate::window::Series;

impl Ingester {
    /// An ingester whose window is rebuilt from the stored events.
    pub async fn start(pool: PgPool, lateness: Duration) -> Result<Ingester, IngestError> {
        let ingester = Ingester {
            pool,
            lateness,
            window: Mutex::new(Window::default()),
        };
        let mut conn = ingester.pool.acquire().await?;
        let mut window = ingester.window.lock().await;
        let since = Utc::now() - lateness - Duration::hours(1);
        let rows: Vec<StoredRow> = sqlx::query_as(
            "SELECT source, event_id, seq, organization_id, resource_id, meter, dimension, time, value
             FROM usage_events WHERE time >= $1",
        )
        .bind(since)
        .fetch_all(&mut *conn)
        .await?;
        window.last_seq = sqlx::query_scalar("SELECT last_seq FROM usage_ingest_state")
            .fetch_one(&mut *conn)
            .await?;
        for row in rows {
            window.insert(
                window::key(&row.source, &row.event_id),
                row.gauge.content(),
                row.gauge.time,
            );
        }
        let gauges: Vec<GaugeRow> = sqlx::query_as(
            "SELECT DISTINCT ON (organization_id, resource_id, meter, dimension)
                    organization_id, resource_id, meter, dimension, time, value
             FROM usage_events
             WHERE meter = ANY($2) AND time >= $1
             ORDER BY organization_id, resource_id, meter, dimension, time DESC, seq DESC",
        )
        .bind(since)
        .bind(Meter::gauges())
        .fetch_all(&mut *conn)
        .await?;
        for row in gauges {
            remember_gauge(&mut window, row);
        }
        tracing::info!(events = window.len(), "usage deduplication window rebuilt");
        drop(window);
        Ok(ingester)
    }

    pub fn lateness(&self) -> Duration {
        self.lateness
    }

    /// Stores checked events exactly once; durable when this returns `Ok`.
    pub async fn ingest(&self, events: &[UsageEvent]) -> Result<Ingested, IngestError> {
        // What does not depend on the stored state is done before the lock.
        let prepared: Vec<(window::Key, window::Content, String)> = events
            .iter()
            .map(|e| {
                let content = window::content(
                    e.organization_id,
                    e.resource_id,
                    e.meter.as_str(),
                    &e.dimension,
                    e.time,
                    e.value,
                );
                (window::key(&e.source, &e.id), content, copy_line(e))
            })
            .collect();
        let mut window = self.window.lock().await;
        let mut tx = self.pool.begin().await?;
        let stored_seq: i64 =
            sqlx::query_scalar("SELECT last_seq FROM usage_ingest_state FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
        let caught_up = if stored_seq > window.last_seq {
            catch_up(&mut tx, &mut window).await?
        } else {
            window.last_seq
        };

        let mut fresh = Vec::with_capacity(events.len());
        let mut fresh_keys = Vec::with_capacity(events.len());
        let mut copy_data =
            String::with_capacity(prepared.iter().map(|(_, _, line)| line.len()).sum());
        let mut batch: HashMap<window::Key, window::Content> = HashMap::with_capacity(events.len());
        let mut conflicts = Vec::new();
        for (index, (event, (key, content, line))) in events.iter().zip(&prepared).enumerate() {
            let seen = match window.seen(*key, *content) {
                Seen::New => match batch.entry(*key) {
                    Entry::Vacant(entry) => {
                        entry.insert(*content);
                        Seen::New
                    }
                    Entry::Occupied(first) if first.get() == content => Seen::Duplicate,
                    Entry::Occupied(_) => Seen::Conflict,
                },
                known => known,
            };
            match seen {
                Seen::New => {
                    fresh.push(event);
                    fresh_keys.push((*key, *content, event.time));
                    copy_data.push_str(line);
                }
                Seen::Duplicate => {}
                Seen::Conflict => {
                    tracing::warn!(source = %event.source, id = %event.id, "usage event conflicts with one stored under its id; the first stands");
                    conflicts.push(index);
                }
            }
        }
        let outcome = Ingested {
            accepted: fresh.len(),
            duplicates: events.len() - fresh.len() - conflicts.len(),
            conflicts,
        };
        if fresh.is_empty() {
            tx.commit().await?;
            window.last_seq = caught_up;
            return Ok(outcome);
        }

        copy_events(&mut tx, copy_data).await?;
        add_sums(&mut tx, &fresh).await?;
        roll_up_gauges(&mut tx, &window, &fresh).await?;
        // Only this transaction writes events now, so the session's last
        // identity value is the highest seq.
        let last_seq: i64 = sqlx::query_scalar(
            "UPDATE usage_ingest_state
             SET last_seq = currval(pg_get_serial_sequence('usage_events', 'seq'))
             RETURNING last_seq",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;

        for (key, content, time) in fresh_keys {
            window.insert(key, content, time);
        }
        for e in fresh
            .iter()
            .filter(|e| e.meter.aggregation() == Aggregation::TimeWeightedAverage)
        {
            let series = (
                e.organization_id,
                e.resource_id,
                e.meter,
                e.dimension.clone(),
            );
            window.saw_gauge(
                series,
                Sample {
                    time: e.time,
                    value: e.value,
                },
            );
        }
        window.last_seq = last_seq.max(caught_up);
        window.forget_before(Utc::now() - self.lateness - Duration::hours(1));
        Ok(outcome)
    }
}

/// Adds to the window what other writers stored since it last looked.
async fn catch_up(conn: &mut PgConnection, window: &mut Window) -> Result<i64, sqlx::Error> {
    let rows: Vec<StoredRow> = sqlx::query_as(
        "SELECT source, event_id, seq, organization_id, resource_id, meter, dimension, time, value
         FROM usage_events WHERE seq > $1 ORDER BY seq",
    )
    .bind(window.last_seq)
    .fetch_all(&mut *conn)
    .await?;
    let mut last = window.last_seq;
    for row in rows {
        window.insert(
            window::key(&row.source, &row.event_id),
            row.gauge.content(),
            row.gauge.time,
        );
        last = last.max(row.seq);
        remember_gauge(window, row.gauge);
    }
    Ok(last)
}

/// An event another writer stored.
#[derive(sqlx::FromRow)]
struct StoredRow {
    source: String,
    event_id: String,
    seq: i64,
    #[sqlx(flatten)]
    gauge: GaugeRow,
}

#[derive(sqlx::FromRow)]
struct GaugeRow {
    organization_id: Uuid,
    resource_id: Uuid,
    meter: String,
    dimension: String,
    time: DateTime<Utc>,
    value: i64,
}

impl GaugeRow {
    fn content(&self) -> window::Content {
        window::content(
            self.organization_id,
            self.resource_id,
            &self.meter,
            &self.dimension,
            self.time,
            self.value,
        )
    }
}

fn remember_gauge(window: &mut Window, row: GaugeRow) {
    if let Ok(meter) = row.meter.parse::<Meter>()
        && meter.aggregation() == Aggregation::TimeWeightedAverage
    {
        let series = (row.organization_id, row.resource_id, meter, row.dimension);
        window.saw_gauge(
            series,
            Sample {
                time: row.time,
                value: row.value,
            },
        );
    }
}

/// COPY text format; fields were checked to hold no control characters, so
/// only the backslash needs escaping.
fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
}

/// One event as a line of `COPY … FROM STDIN` text.
fn copy_line(e: &UsageEvent) -> String {
    let mut line = String::with_capacity(160);
    escape(&e.source, &mut line);
    line.push('\t');
    escape(&e.id, &mut line);
    let _ = write!(
        line,
        "\t{}\t{}\t{}\t",
        e.organization_id,
        e.resource_id,
        e.meter.as_str()
    );
    escape(&e.dimension, &mut line);
    let _ = writeln!(
        line,
        "\t{}\t{}",
        e.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        e.value
    );
    line
}

async fn copy_events(conn: &mut PgConnection, data: String) -> Result<(), sqlx::Error> {
    let mut copy = conn
        .copy_in_raw(
            "COPY usage_events (source, event_id, organization_id, resource_id, meter, dimension, time, value) FROM STDIN",
        )
        .await?;
    copy.send(data.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

async fn add_sums(conn: &mut PgConnection, events: &[&UsageEvent]) -> Result<(), sqlx::Error> {
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
    if sums.is_empty() {
        return Ok(());
    }
    let mut columns = Columns::default();
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
    columns
        .upsert(
            conn,
            "quantity = usage_hourly.quantity + EXCLUDED.quantity, events = usage_hourly.events + EXCLUDED.events",
        )
        .await
}

/// Gauge rollups for the new samples. A series whose new samples all come
/// after its latest stored one (the usual case: collectors send in order)
/// gets the exact change [`gauge::append`] computes from that one sample;
/// any other series has its touched hours recomputed from the raw samples.
async fn roll_up_gauges(
    conn: &mut PgConnection,
    window: &Window,
    events: &[&UsageEvent],
) -> Result<(), sqlx::Error> {
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
    let mut columns = Columns::default();
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
        let (org, resource, meter, dimension) = series;
        for (hour, change) in gauge::append(last, &new) {
            let count = new
                .iter()
                .filter(|s| gauge::hour_of(s.time) == hour)
                .count();
            columns.push(
                org,
                resource,
                meter,
                dimension.clone(),
                hour,
                gauge::millis_decimal(change.value_ms),
                gauge::millis_decimal(i128::from(change.covered_ms)),
                i32::try_from(count).unwrap_or(i32::MAX),
            );
        }
    }
    columns
        .upsert(
            conn,
            "quantity = usage_hourly.quantity + EXCLUDED.quantity,
             covered_seconds = usage_hourly.covered_seconds + EXCLUDED.covered_seconds,
             events = usage_hourly.events + EXCLUDED.events",
        )
        .await?;
    recompute_gauges(conn, &out_of_order).await
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
    for ((org, resource, meter, dimension), hour) in touched {
        let series_samples = samples
            .get(&(org, resource, meter, dimension.clone()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let integral = gauge::integrate(series_samples, hour);
        let count = series_samples
            .iter()
            .filter(|s| gauge::hour_of(s.time) == hour)
            .count();
        if integral.covered_ms == 0 && count == 0 {
            continue;
        }
        columns.push(
            org,
            resource,
            meter,
            dimension,
            hour,
            gauge::millis_decimal(integral.value_ms),
            gauge::millis_decimal(i128::from(integral.covered_ms)),
            i32::try_from(count).unwrap_or(i32::MAX),
        );
    }
    columns
        .upsert(
            conn,
            "quantity = EXCLUDED.quantity, covered_seconds = EXCLUDED.covered_seconds, events = EXCLUDED.events",
        )
        .await
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
