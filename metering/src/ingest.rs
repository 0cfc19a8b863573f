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

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Mutex;
use uuid::Uuid;

mod copy;
mod rollup;

use copy::{copy_events, copy_line};
use rollup::{add_sums, roll_up_gauges};

use crate::event::UsageEvent;
use crate::gauge::Sample;
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
