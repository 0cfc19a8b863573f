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
//! 2. drop events already stored, or twice in the batch: a true resend is a
//!    duplicate; the same `(source, id)` with other content is a conflict,
//!    reported and logged, and the first stored content stands. The window
//!    rules out most ids in memory; the rest are looked up in the store
//!    ([`dedup`]);
//! 3. `COPY` the rest into the append-only `usage_events`;
//! 4. add sums to their hourly rollups, computed in process, and recompute
//!    the hours of gauges touched (time-weighted, see [`crate::gauge`]) from
//!    the raw samples, so that a late or out-of-order sample lands exactly;
//! 5. commit, and only then remember the new keys.
//!
//! A usage correction ([`crate::corrections`]) takes the same row lock and
//! raises `last_correction`; a window behind it re-reads the last sample
//! of each gauge series corrected since, so that a sample appended after a
//! corrected or voided one is rolled up from what the rollups now hold.
//!
//! A crash anywhere before the commit leaves nothing behind and the sender
//! retries; a crash after it leaves everything, and the retry is a duplicate.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt as _;
use sqlx::{PgConnection, PgPool, Row as _};
use tokio::sync::Mutex;
use uuid::Uuid;

mod copy;
mod dedup;
pub(crate) mod rollup;

use copy::{copy_events, copy_line};
use rollup::roll_up;

use crate::event::UsageEvent;
use crate::gauge::Sample;
use crate::window::{self, Content, Id, MAX_LATENESS, Seen, Window};
use crate::{Aggregation, Meter};

/// Late events are accepted, and correct their hour, for this long.
pub const DEFAULT_LATENESS: Duration = Duration::hours(48);

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Why an ingester did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "a lateness of {0} hours is longer than the deduplication window can keep ({max} hours)",
        max = MAX_LATENESS.num_hours()
    )]
    Lateness(i64),
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

impl Ingester {
    /// An ingester whose window is rebuilt from the stored events.
    pub async fn start(pool: PgPool, lateness: Duration) -> Result<Ingester, StartError> {
        if lateness > MAX_LATENESS {
            return Err(StartError::Lateness(lateness.num_hours()));
        }
        let since = Utc::now() - lateness - Duration::hours(1);
        let mut window = Window::new(since);
        let mut conn = pool.acquire().await?;
        // Read first: every event up to it is committed, so none is missed;
        // any stored after it is caught up by seq.
        (window.last_seq, window.last_correction) =
            sqlx::query_as("SELECT last_seq, last_correction FROM usage_ingest_state")
                .fetch_one(&mut *conn)
                .await?;
        // Streamed, the strings borrowed from each row: the window's memory
        // is all that grows with the events.
        let mut rows =
            sqlx::query("SELECT source, event_id, time FROM usage_events WHERE time >= $1")
                .bind(since)
                .fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            let (source, id): (&str, &str) = (row.try_get(0)?, row.try_get(1)?);
            window.insert(window::key(source, id), row.try_get(2)?);
        }
        drop(rows);
        for row in last_gauges(&mut conn, since, None).await? {
            remember_gauge(&mut window, row);
        }
        tracing::info!(events = window.len(), "usage deduplication window rebuilt");
        drop(conn);
        Ok(Ingester {
            pool,
            lateness,
            window: Mutex::new(window),
        })
    }

    pub fn lateness(&self) -> Duration {
        self.lateness
    }

    /// Stores checked events exactly once; durable when this returns `Ok`.
    pub async fn ingest(&self, events: &[UsageEvent]) -> Result<Ingested, IngestError> {
        // What does not depend on the stored state is done before the lock.
        let keys: Vec<window::Key> = events
            .iter()
            .map(|e| window::key(&e.source, &e.id))
            .collect();
        let lines: Vec<String> = events.iter().map(copy_line).collect();
        let mut window = self.window.lock().await;
        let mut tx = self.pool.begin().await?;
        let (stored_seq, stored_correction): (i64, i64) =
            sqlx::query_as("SELECT last_seq, last_correction FROM usage_ingest_state FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
        let caught_up = if stored_seq > window.last_seq {
            catch_up(&mut tx, &mut window).await?
        } else {
            window.last_seq
        };
        if stored_correction > window.last_correction {
            let since = Utc::now() - self.lateness - Duration::hours(1);
            refresh_corrected(&mut tx, &mut window, since, stored_correction).await?;
        }

        let seen = dedup::deduplicate(&mut tx, &window, events, &keys).await?;
        let mut fresh = Vec::with_capacity(events.len());
        let mut fresh_keys = Vec::with_capacity(events.len());
        let mut copy_data = String::with_capacity(lines.iter().map(String::len).sum());
        let mut conflicts = Vec::new();
        for (index, (((event, key), line), seen)) in
            events.iter().zip(&keys).zip(&lines).zip(seen).enumerate()
        {
            match seen {
                Seen::New => {
                    fresh.push(event);
                    fresh_keys.push((*key, event.time));
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
        roll_up(&mut tx, &window, &fresh).await?;
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

        for (key, time) in fresh_keys {
            window.insert(key, time);
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
        window.insert(window::key(&row.source, &row.event_id), row.gauge.time);
        last = last.max(row.seq);
        remember_gauge(window, row.gauge);
    }
    Ok(last)
}

/// Each gauge series' last sample from `since` on (of `resources` only,
/// if given), as the rollups count it: corrected, voided ones left out.
async fn last_gauges(
    conn: &mut PgConnection,
    since: DateTime<Utc>,
    resources: Option<&[Uuid]>,
) -> Result<Vec<GaugeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (e.organization_id, e.resource_id, e.meter, e.dimension)
                e.organization_id, e.resource_id, e.meter, e.dimension, e.time,
                v.value
         FROM usage_events e
         LEFT JOIN LATERAL (
             SELECT c.seq, c.value FROM usage_correction_events c
             WHERE c.source = e.source AND c.event_id = e.event_id AND c.in_rollups
             ORDER BY c.seq DESC LIMIT 1) c ON true
         CROSS JOIN LATERAL (SELECT CASE WHEN c.seq IS NULL THEN e.value ELSE c.value END AS value) v
         WHERE e.meter = ANY($2) AND e.time >= $1 AND v.value IS NOT NULL
           AND ($3::uuid[] IS NULL OR e.resource_id = ANY($3))
         ORDER BY e.organization_id, e.resource_id, e.meter, e.dimension, e.time DESC, e.seq DESC",
    )
    .bind(since)
    .bind(Meter::gauges())
    .bind(resources)
    .fetch_all(&mut *conn)
    .await
}

/// Re-reads the last sample of each gauge series that corrections after
/// the window's `last_correction` changed, up to `stored`.
async fn refresh_corrected(
    conn: &mut PgConnection,
    window: &mut Window,
    since: DateTime<Utc>,
    stored: i64,
) -> Result<(), sqlx::Error> {
    let corrected: Vec<(Uuid, Uuid, String, String)> = sqlx::query_as(
        "SELECT DISTINCT organization_id, resource_id, meter, dimension FROM usage_correction_events
         WHERE seq > $1 AND seq <= $2 AND in_rollups AND meter = ANY($3)",
    )
    .bind(window.last_correction)
    .bind(stored)
    .bind(Meter::gauges())
    .fetch_all(&mut *conn)
    .await?;
    let mut series = HashSet::new();
    for (org, resource, meter, dimension) in corrected {
        if let Ok(meter) = meter.parse::<Meter>() {
            let one = (org, resource, meter, dimension);
            window.last_gauge.remove(&one);
            series.insert(one);
        }
    }
    let resources: Vec<Uuid> = series.iter().map(|s| s.1).collect();
    for row in last_gauges(conn, since, Some(&resources)).await? {
        if let Ok(meter) = row.meter.parse::<Meter>()
            && series.contains(&(
                row.organization_id,
                row.resource_id,
                meter,
                row.dimension.clone(),
            ))
        {
            remember_gauge(window, row);
        }
    }
    window.last_correction = stored;
    Ok(())
}

/// A stored event.
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

impl StoredRow {
    fn id(&self) -> Id<'_> {
        (&self.source, &self.event_id)
    }
}

impl GaugeRow {
    fn content(&self) -> Content<'_> {
        Content::new(
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
