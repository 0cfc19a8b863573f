//! Deduplicating a batch. The window rules most events new at once; the
//! ids it cannot rule out are looked up in `usage_events` (which has no
//! index on them, see its migration), by time, which its BRIN index
//! narrows: first over the events' own times, since a resend has the time
//! of its stored copy; then, for the ids that found nothing there, over the
//! hours the window names (an id reused at another time, or a fingerprint
//! that merely matched another key's).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

use super::StoredRow;
use crate::event::UsageEvent;
use crate::window::{self, Content, Hours, Id, Key, Seen, Window};

/// Each event of the batch judged: new, duplicate or conflict.
pub(super) async fn deduplicate(
    conn: &mut PgConnection,
    window: &Window,
    events: &[UsageEvent],
    keys: &[Key],
) -> Result<Vec<Seen>, sqlx::Error> {
    let mut maybe: Vec<(&UsageEvent, Hours)> = events
        .iter()
        .zip(keys)
        .filter_map(|(e, key)| window.maybe_stored(*key).map(|hours| (e, hours)))
        .collect();
    let mut resent = Vec::new();
    if let (Some(first), Some(last)) = (
        maybe.iter().map(|(e, _)| e.time).min(),
        maybe.iter().map(|(e, _)| e.time).max(),
    ) {
        resent = stored(conn, &maybe, first, last + Duration::microseconds(1)).await?;
        let found: HashSet<Id<'_>> = resent.iter().map(StoredRow::id).collect();
        maybe.retain(|(e, _)| !found.contains(&e.source_id()));
    }
    let mut elsewhere = Vec::new();
    if let (Some(from), Some(until)) = (
        maybe.iter().map(|(_, h)| h.from).min(),
        maybe.iter().map(|(_, h)| h.until).max(),
    ) {
        elsewhere = stored(conn, &maybe, from, until).await?;
    }
    let mut known: HashMap<Id<'_>, Content<'_>> = HashMap::new();
    for row in resent.iter().chain(&elsewhere) {
        known.entry(row.id()).or_insert_with(|| row.gauge.content());
    }
    Ok(window::decide(
        events.iter().map(|e| (e.source_id(), e.content())),
        &known,
    ))
}

/// The stored events, first stored first, under the ids of `events` with
/// a time in `[from, until)`.
async fn stored(
    conn: &mut PgConnection,
    events: &[(&UsageEvent, Hours)],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<StoredRow>, sqlx::Error> {
    let sources: Vec<&str> = events.iter().map(|(e, _)| e.source.as_str()).collect();
    let ids: Vec<&str> = events.iter().map(|(e, _)| e.id.as_str()).collect();
    sqlx::query_as(
        "SELECT source, event_id, seq, organization_id, resource_id, meter, dimension, time, value
         FROM usage_events
         WHERE time >= $1 AND time < $2
           AND (source, event_id) IN (SELECT * FROM UNNEST($3::text[], $4::text[]))
         ORDER BY seq",
    )
    .bind(from)
    .bind(until)
    .bind(&sources)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
}
