//! Ingestion and reports against the real PostgreSQL, by concern; the
//! helpers here serve every module.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use chrono::{DateTime, Duration, DurationRound, Utc};
use metering::{Meter, UsageEvent};
use sqlx::PgPool;
use uuid::Uuid;

mod batches;
mod dedup;
mod gauges;
mod price_lists;
mod reports;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

pub(crate) fn hour() -> DateTime<Utc> {
    (Utc::now() - Duration::hours(3))
        .duration_trunc(Duration::hours(1))
        .unwrap()
}

pub(crate) fn event(
    org: Uuid,
    resource: Uuid,
    id: &str,
    meter: Meter,
    time: DateTime<Utc>,
    value: i64,
) -> UsageEvent {
    UsageEvent {
        source: "dataplane/test".into(),
        id: id.into(),
        organization_id: org,
        resource_id: resource,
        meter,
        dimension: if meter == Meter::GpuSeconds {
            "nvidia-l4".into()
        } else {
            String::new()
        },
        time,
        value,
    }
}

pub(crate) async fn rollup(
    pool: &PgPool,
    resource: Uuid,
    meter: Meter,
    hour: DateTime<Utc>,
) -> Option<(String, String, i32)> {
    sqlx::query_as(
        "SELECT quantity::text, covered_seconds::text, events FROM usage_hourly
         WHERE resource_id = $1 AND meter = $2 AND hour = $3",
    )
    .bind(resource)
    .bind(meter.as_str())
    .bind(hour)
    .fetch_optional(pool)
    .await
    .unwrap()
}

pub(crate) async fn stored(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM usage_events")
        .fetch_one(pool)
        .await
        .unwrap()
}
