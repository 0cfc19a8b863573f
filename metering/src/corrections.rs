//! Usage corrections: a void, or a corrected value, of stored usage events,
//! named by `(source, id)` or by resource, meter and time range. Owns
//! `usage_corrections` and `usage_correction_events`.
//!
//! The events are never changed. A correction is a row of its own and one
//! correction event per event whose value it changes: the value before and
//! after (none: voided), keyed by the correction's id and the event's
//! `(source, id)`, so the same correction cannot apply twice. An event's
//! value now is its latest correction event's, else its own.
//!
//! Whether the rollups change is the caller's decision (billing knows
//! whether the period was invoiced; metering does not):
//!
//! - `in_rollups`: the rollups are changed in the caller's transaction,
//!   under the ingesters' row lock: a sum's hours and month get the signed
//!   difference, as new events would add; a gauge's touched hours are
//!   recomputed from its samples as corrected. The lock's `last_correction`
//!   tells each ingester to re-read the corrected gauges' last samples.
//! - otherwise the rollups stay as invoiced, and [`Recorded::changes`]
//!   says what the correction changes in each hour, for billing to adjust.
//!
//! Gauges: a voided sample is removed from the series, so the sample
//! before it holds on as it would have without it (up to
//! [`crate::gauge::HOLD`]); a corrected sample keeps its time and holds its
//! new value for the same span.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::gauge::{self, HourIntegral};
use crate::ingest::rollup::{self, Corrected, SumChanges};
use crate::window::Series;
use crate::{Aggregation, Meter};

/// The most events one correction may change: a month of one resource's
/// per-minute samples, with room.
pub const MAX_EVENTS: usize = 100_000;

/// What a correction names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Event {
        source: String,
        id: String,
    },
    /// Every event of the resource's meter with a time in `[from, to)`.
    Range {
        resource_id: Uuid,
        meter: Meter,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Void,
    /// Each event named takes this value.
    Set(i64),
}

impl Action {
    fn value(self) -> Option<i64> {
        match self {
            Action::Void => None,
            Action::Set(value) => Some(value),
        }
    }
}

/// A stored event as it stands now: `value` after every correction so far
/// (`None`: voided).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Standing {
    pub source: String,
    pub event_id: String,
    pub resource_id: Uuid,
    pub meter: String,
    pub dimension: String,
    pub time: DateTime<Utc>,
    pub value: Option<i64>,
}

const STANDING: &str = "SELECT e.source, e.event_id, e.resource_id, e.meter, e.dimension, e.time,
            CASE WHEN c.seq IS NULL THEN e.value ELSE c.value END AS value
     FROM usage_events e
     LEFT JOIN LATERAL (
         SELECT c.seq, c.value FROM usage_correction_events c
         WHERE c.source = e.source AND c.event_id = e.event_id
         ORDER BY c.seq DESC LIMIT 1) c ON true
     WHERE e.organization_id = $1";

/// The organization's events that `target` names, as they stand, by time.
/// An event named by `(source, id)` is found by a scan of the events (they
/// have no index on ids, see the usage migration): an administrator's
/// rare action, not a hot path.
pub async fn targeted(
    conn: &mut PgConnection,
    organization_id: Uuid,
    target: &Target,
) -> Result<Vec<Standing>, sqlx::Error> {
    match target {
        Target::Event { source, id } => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{STANDING} AND e.source = $2 AND e.event_id = $3 ORDER BY e.seq LIMIT 1"
            )))
            .bind(organization_id)
            .bind(source)
            .bind(id)
            .fetch_all(&mut *conn)
            .await
        }
        Target::Range {
            resource_id,
            meter,
            from,
            to,
        } => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{STANDING} AND e.resource_id = $2 AND e.meter = $3 AND e.time >= $4 AND e.time < $5
                 ORDER BY e.time, e.seq LIMIT $6"
            )))
            .bind(organization_id)
            .bind(resource_id)
            .bind(meter.as_str())
            .bind(from)
            .bind(to)
            .bind(i64::try_from(MAX_EVENTS + 1).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await
        }
    }
}

/// One correction event: `event` goes from its standing value to `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub event: Standing,
    pub value: Option<i64>,
}

/// What `action` changes of `standing` events: those whose value it
/// leaves as it is are left out, and so are voided events: a void is
/// final, a value is set only on events that count.
pub fn plan(standing: Vec<Standing>, action: Action) -> Vec<Change> {
    standing
        .into_iter()
        .filter(|e| e.value.is_some() && e.value != action.value())
        .map(|event| Change {
            event,
            value: action.value(),
        })
        .collect()
}

/// A correction as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Correction {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub resource_id: Uuid,
    pub meter: String,
    pub event_source: Option<String>,
    pub event_id: Option<String>,
    pub time_from: Option<DateTime<Utc>>,
    pub time_to: Option<DateTime<Utc>>,
    /// `void` or `set`.
    pub action: String,
    pub value: Option<i64>,
    pub reason: String,
    /// Whether the rollups were corrected (the period was not invoiced).
    pub in_rollups: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Events it changed.
    pub events: i64,
}

/// A correction to record.
#[derive(Debug, Clone)]
pub struct NewCorrection<'a> {
    pub organization_id: Uuid,
    pub resource_id: Uuid,
    pub meter: Meter,
    pub target: &'a Target,
    pub action: Action,
    pub reason: &'a str,
    pub created_by: &'a str,
    pub in_rollups: bool,
}

/// What a correction changes in one hour of one meter and dimension, in
/// the rollups' unit (value × seconds for a gauge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuantityChange {
    pub meter: Meter,
    pub dimension: String,
    pub hour: DateTime<Utc>,
    pub quantity: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub correction: Correction,
    /// For a correction not in the rollups: what it changes, per hour.
    pub changes: Vec<QuantityChange>,
}

const COLUMNS: &str = "c.id, c.organization_id, c.resource_id, c.meter, c.event_source, c.event_id,
        c.time_from, c.time_to, c.action, c.value, c.reason, c.in_rollups, c.created_by,
        c.created_at,
        (SELECT count(*) FROM usage_correction_events e WHERE e.correction_id = c.id) AS events";

/// Records a correction and its `changes` (from [`plan`]), in the caller's
/// transaction, and corrects the rollups if `new.in_rollups`.
pub async fn record(
    conn: &mut PgConnection,
    new: &NewCorrection<'_>,
    changes: &[Change],
) -> Result<Recorded, sqlx::Error> {
    // Applied one at a time with ingest batches: a gauge's hours and the
    // ingesters' last samples cannot be changed under each other.
    sqlx::query("SELECT 1 FROM usage_ingest_state FOR UPDATE")
        .execute(&mut *conn)
        .await?;
    let series: Vec<(Series, DateTime<Utc>)> = changes
        .iter()
        .filter_map(|c| Some((series_of(new.organization_id, &c.event)?, c.event.time)))
        .collect();
    let touched = rollup::touched(series.iter().cloned());
    let before = if new.in_rollups {
        Vec::new()
    } else {
        rollup::gauge_hours(conn, &touched, Corrected::All).await?
    };

    let id = Uuid::now_v7();
    let (source, event_id, from, to) = match new.target {
        Target::Event { source, id } => (Some(source.as_str()), Some(id.as_str()), None, None),
        Target::Range { from, to, .. } => (None, None, Some(*from), Some(*to)),
    };
    sqlx::query(
        "INSERT INTO usage_corrections (id, organization_id, resource_id, meter, event_source,
                                        event_id, time_from, time_to, action, value, reason,
                                        in_rollups, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(id)
    .bind(new.organization_id)
    .bind(new.resource_id)
    .bind(new.meter.as_str())
    .bind(source)
    .bind(event_id)
    .bind(from)
    .bind(to)
    .bind(match new.action {
        Action::Void => "void",
        Action::Set(_) => "set",
    })
    .bind(new.action.value())
    .bind(new.reason)
    .bind(new.in_rollups)
    .bind(new.created_by)
    .execute(&mut *conn)
    .await?;
    let last_seq = insert_events(conn, id, new, changes).await?;

    let mut quantity_changes = Vec::new();
    if new.in_rollups {
        rollup::add_sums(conn, sum_changes(new.organization_id, changes)).await?;
        rollup::recompute_gauges(conn, &touched).await?;
        if let Some(seq) = last_seq {
            sqlx::query(
                "UPDATE usage_ingest_state SET last_correction = greatest(last_correction, $1)",
            )
            .bind(seq)
            .execute(&mut *conn)
            .await?;
        }
        crate::changes::mark(conn, &[new.organization_id]).await?;
    } else {
        for (((_, _, meter, dimension), hour), (quantity, _)) in
            sum_changes(new.organization_id, changes)
        {
            quantity_changes.push(QuantityChange {
                meter,
                dimension,
                hour,
                quantity: Decimal::from(quantity),
            });
        }
        let after = rollup::gauge_hours(conn, &touched, Corrected::All).await?;
        quantity_changes.extend(gauge_changes(&before, &after));
    }
    let correction = get(conn, new.organization_id, id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok(Recorded {
        correction,
        changes: quantity_changes,
    })
}

/// Inserts the correction events; returns the highest seq given.
async fn insert_events(
    conn: &mut PgConnection,
    id: Uuid,
    new: &NewCorrection<'_>,
    changes: &[Change],
) -> Result<Option<i64>, sqlx::Error> {
    let (mut source, mut event_id, mut resource, mut meter, mut dimension) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut time, mut previous, mut value) = (vec![], vec![], vec![]);
    for c in changes {
        source.push(c.event.source.as_str());
        event_id.push(c.event.event_id.as_str());
        resource.push(c.event.resource_id);
        meter.push(c.event.meter.as_str());
        dimension.push(c.event.dimension.as_str());
        time.push(c.event.time);
        previous.push(c.event.value);
        value.push(c.value);
    }
    sqlx::query_scalar(
        "WITH inserted AS (
             INSERT INTO usage_correction_events (correction_id, source, event_id, organization_id,
                 resource_id, meter, dimension, time, previous_value, value, in_rollups)
             SELECT $1, s, i, $2, r, m, d, t, p, v, $3
             FROM UNNEST($4::text[], $5::text[], $6::uuid[], $7::text[], $8::text[],
                         $9::timestamptz[], $10::bigint[], $11::bigint[]) AS x(s, i, r, m, d, t, p, v)
             ON CONFLICT DO NOTHING
             RETURNING seq)
         SELECT max(seq) FROM inserted",
    )
    .bind(id)
    .bind(new.organization_id)
    .bind(new.in_rollups)
    .bind(&source)
    .bind(&event_id)
    .bind(&resource)
    .bind(&meter)
    .bind(&dimension)
    .bind(&time)
    .bind(&previous)
    .bind(&value)
    .fetch_one(&mut *conn)
    .await
}

fn series_of(organization_id: Uuid, event: &Standing) -> Option<Series> {
    let meter = event.meter.parse::<Meter>().ok()?;
    Some((
        organization_id,
        event.resource_id,
        meter,
        event.dimension.clone(),
    ))
}

/// The signed differences the changes of summed meters make per hour: of
/// quantity, and of events counted (a voided event no longer counts).
pub fn sum_changes(organization_id: Uuid, changes: &[Change]) -> SumChanges {
    let mut sums = SumChanges::new();
    for c in changes {
        let Some(series) = series_of(organization_id, &c.event) else {
            continue;
        };
        if series.2.aggregation() != Aggregation::Sum {
            continue;
        }
        let entry = sums
            .entry((series, gauge::hour_of(c.event.time)))
            .or_default();
        entry.0 += c.value.unwrap_or(0) - c.event.value.unwrap_or(0);
        entry.1 += i32::from(c.value.is_some()) - i32::from(c.event.value.is_some());
    }
    sums
}

type GaugeHour = (Series, DateTime<Utc>, HourIntegral, usize);

/// Each gauge hour's change of integral from `before` to `after` (value ×
/// seconds, exact), the unchanged left out.
fn gauge_changes(before: &[GaugeHour], after: &[GaugeHour]) -> Vec<QuantityChange> {
    let mut by_hour: BTreeMap<(Series, DateTime<Utc>), i128> = BTreeMap::new();
    for (series, hour, integral, _) in after {
        *by_hour.entry((series.clone(), *hour)).or_default() += integral.value_ms;
    }
    for (series, hour, integral, _) in before {
        *by_hour.entry((series.clone(), *hour)).or_default() -= integral.value_ms;
    }
    by_hour
        .into_iter()
        .filter(|(_, ms)| *ms != 0)
        .map(|(((_, _, meter, dimension), hour), ms)| QuantityChange {
            meter,
            dimension,
            hour,
            quantity: millis(ms),
        })
        .collect()
}

/// Milliseconds of value × time as value × seconds, exactly.
fn millis(ms: i128) -> Decimal {
    Decimal::try_from_i128_with_scale(ms, 3).unwrap_or(Decimal::MAX)
}

pub async fn get(
    conn: &mut PgConnection,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<Correction>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM usage_corrections c WHERE c.organization_id = $1 AND c.id = $2"
    )))
    .bind(organization_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
}

/// An organization's corrections, newest first.
pub async fn list(
    conn: &mut PgConnection,
    organization_id: Uuid,
) -> Result<Vec<Correction>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM usage_corrections c WHERE c.organization_id = $1
         ORDER BY c.created_at DESC, c.id DESC"
    )))
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await
}

/// The organization's corrections of `meter` with an event in `[from,
/// to)`, oldest first: what made those hours' rollups differ from the
/// events as reported (`in_rollups`), or adjusted what was invoiced for
/// them.
pub async fn of_hours(
    conn: &mut PgConnection,
    organization_id: Uuid,
    meter: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Correction>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM usage_corrections c
         WHERE c.organization_id = $1 AND c.meter = $2
           AND EXISTS (SELECT 1 FROM usage_correction_events e
                       WHERE e.correction_id = c.id AND e.time >= $3 AND e.time < $4)
         ORDER BY c.created_at, c.id"
    )))
    .bind(organization_id)
    .bind(meter)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event(id: &str, meter: &str, minute: u32, value: Option<i64>) -> Standing {
        Standing {
            source: "collector".into(),
            event_id: id.into(),
            resource_id: Uuid::from_u128(2),
            meter: meter.into(),
            dimension: String::new(),
            time: Utc.with_ymd_and_hms(2026, 11, 25, 12, minute, 0).unwrap(),
            value,
        }
    }

    #[test]
    fn a_correction_changes_only_the_events_whose_value_it_changes() {
        let standing = vec![
            event("a", "node_seconds", 0, Some(60)),
            event("b", "node_seconds", 1, Some(30)),
            event("c", "node_seconds", 2, None),
        ];
        let set = plan(standing.clone(), Action::Set(30));
        let ids: Vec<_> = set.iter().map(|c| c.event.event_id.as_str()).collect();
        assert_eq!(ids, ["a"]);
        let void = plan(standing, Action::Void);
        let ids: Vec<_> = void.iter().map(|c| c.event.event_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn sums_change_by_the_signed_difference_and_voided_events_stop_counting() {
        let org = Uuid::from_u128(1);
        let changes = plan(
            vec![
                event("a", "node_seconds", 0, Some(60)),
                event("b", "node_seconds", 1, Some(30)),
                // Voided: stays so.
                event("c", "node_seconds", 2, None),
                // Gauges are recomputed, not added.
                event("d", "storage_bytes", 3, Some(5)),
            ],
            Action::Set(45),
        );
        let sums = sum_changes(org, &changes);
        let hour = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let series = (org, Uuid::from_u128(2), Meter::NodeSeconds, String::new());
        assert_eq!(
            sums.into_iter().collect::<Vec<_>>(),
            [((series, hour), (-15 + 15, 0))]
        );
        let voided = sum_changes(
            org,
            &plan(vec![event("a", "node_seconds", 0, Some(60))], Action::Void),
        );
        assert_eq!(voided.values().copied().collect::<Vec<_>>(), [(-60, -1)]);
    }

    #[test]
    fn a_gauge_change_is_the_exact_difference_of_integrals() {
        let series = (
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            Meter::StorageBytes,
            String::new(),
        );
        let hour = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let at = |ms| HourIntegral {
            value_ms: ms,
            covered_ms: 600_000,
        };
        let before = [(series.clone(), hour, at(6_000_001), 1)];
        let after = [(series.clone(), hour, at(1), 1)];
        assert_eq!(
            gauge_changes(&before, &after),
            [QuantityChange {
                meter: Meter::StorageBytes,
                dimension: String::new(),
                hour,
                quantity: Decimal::new(-6_000_000, 3),
            }]
        );
        assert_eq!(gauge_changes(&before, &before), []);
    }
}
