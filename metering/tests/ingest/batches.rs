//! A large batch: stored whole and byte for byte, and rolled up once.

use std::collections::BTreeSet;

use chrono::Duration;
use metering::ingest::DEFAULT_LATENESS;
use metering::{Ingester, Meter};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{MIGRATOR, event, hour, rollup, stored};

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_large_batch_is_stored_whole_and_byte_for_byte(pool: PgPool) {
    let ingester = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let (org, gpu) = (Uuid::now_v7(), Uuid::now_v7());
    let h = hour();
    // Ids with a backslash (escaped in COPY's text format) and beyond ASCII.
    let batch: Vec<_> = (0..1_001)
        .map(|i| {
            let mut e = event(
                org,
                gpu,
                &format!("e\\{i}-é"),
                Meter::GpuSeconds,
                h + Duration::milliseconds(i * 3_000),
                i,
            );
            e.source = format!("dataplane\\{}", i % 3);
            e
        })
        .collect();

    let done = ingester.ingest(&batch).await.unwrap();
    assert_eq!((done.accepted, done.duplicates), (1_001, 0));
    assert_eq!(stored(&pool).await, 1_001);
    let ids: BTreeSet<(String, String, i64)> =
        sqlx::query_as("SELECT source, event_id, value FROM usage_events")
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let sent: BTreeSet<(String, String, i64)> = batch
        .iter()
        .map(|e| (e.source.clone(), e.id.clone(), e.value))
        .collect();
    assert_eq!(ids, sent);
    // 0 + 1 + … + 1000, all in the hour.
    assert_eq!(
        rollup(&pool, gpu, Meter::GpuSeconds, h).await,
        Some(("500500".into(), "0".into(), 1_001))
    );

    let again = ingester.ingest(&batch).await.unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 1_001));
    assert_eq!(stored(&pool).await, 1_001);
}
