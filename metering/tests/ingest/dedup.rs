//! Exact deduplication on `(source, id)`: replays, restarts, replicas and
//! ids reused with other content.

use chrono::Duration;
use metering::ingest::DEFAULT_LATENESS;
use metering::{Ingested, Ingester, Meter};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{MIGRATOR, event, hour, rollup, stored};

#[sqlx::test(migrator = "MIGRATOR")]
async fn duplicates_and_replayed_batches_count_once(pool: PgPool) {
    let ingester = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let (org, gpu) = (Uuid::now_v7(), Uuid::now_v7());
    let h = hour();
    let batch: Vec<_> = (0..10)
        .map(|i| {
            event(
                org,
                gpu,
                &format!("e{i}"),
                Meter::GpuSeconds,
                h + Duration::minutes(i),
                60,
            )
        })
        .collect();
    let mut with_dup = batch.clone();
    with_dup.push(batch[3].clone());

    assert_eq!(
        ingester.ingest(&with_dup).await.unwrap(),
        Ingested {
            accepted: 10,
            duplicates: 1,
            conflicts: vec![]
        }
    );
    assert_eq!(
        ingester.ingest(&batch).await.unwrap(),
        Ingested {
            accepted: 0,
            duplicates: 10,
            conflicts: vec![]
        }
    );
    assert_eq!(stored(&pool).await, 10);
    assert_eq!(
        rollup(&pool, gpu, Meter::GpuSeconds, h).await,
        Some(("600".into(), "0".into(), 10))
    );
    // The month's sum, kept beside the hours, counted once too.
    let month = metering::rollups::month_of(h);
    let totals = metering::rollups::month_totals(
        &mut pool.acquire().await.unwrap(),
        &[org],
        &[Meter::GpuSeconds],
        month,
    )
    .await
    .unwrap();
    assert_eq!(totals[&(org, Meter::GpuSeconds)], 600.into());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_restart_or_another_replica_still_counts_a_replay_once(pool: PgPool) {
    let (org, node) = (Uuid::now_v7(), Uuid::now_v7());
    let h = hour();
    let batch: Vec<_> = (0..5)
        .map(|i| {
            event(
                org,
                node,
                &format!("n{i}"),
                Meter::NodeSeconds,
                h + Duration::minutes(i),
                60,
            )
        })
        .collect();

    // The first replica stores the batch; its answer is lost (the sender crashes
    // or the connection drops after the commit) and the sender retries elsewhere.
    let first = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let second = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    assert_eq!(first.ingest(&batch).await.unwrap().accepted, 5);
    assert_eq!(
        second.ingest(&batch).await.unwrap(),
        Ingested {
            accepted: 0,
            duplicates: 5,
            conflicts: vec![]
        },
        "caught up by seq"
    );
    // A process that starts afresh rebuilds its window from the table.
    let restarted = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    assert_eq!(restarted.ingest(&batch).await.unwrap().duplicates, 5);
    assert_eq!(
        rollup(&pool, node, Meter::NodeSeconds, h).await.unwrap().0,
        "300"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_id_reused_with_other_content_is_a_conflict_and_the_first_value_stands(pool: PgPool) {
    let (org, gpu) = (Uuid::now_v7(), Uuid::now_v7());
    let h = hour();
    let first = event(org, gpu, "e1", Meter::GpuSeconds, h, 60);
    let ingester = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let mut bigger = first.clone();
    bigger.value = 3600;
    let mut elsewhere = first.clone();
    elsewhere.resource_id = Uuid::now_v7();
    // In one batch: the first stands, the later one with the same id is a
    // conflict, and an exact resend a duplicate.
    assert_eq!(
        ingester
            .ingest(&[first.clone(), bigger.clone(), first.clone()])
            .await
            .unwrap(),
        Ingested {
            accepted: 1,
            duplicates: 1,
            conflicts: vec![1]
        }
    );
    // Later, and after a restart (the window rebuilt from the table).
    for ingester in [
        ingester,
        Ingester::start(pool.clone(), DEFAULT_LATENESS)
            .await
            .unwrap(),
    ] {
        assert_eq!(
            ingester
                .ingest(&[elsewhere.clone(), first.clone(), bigger.clone()])
                .await
                .unwrap(),
            Ingested {
                accepted: 0,
                duplicates: 1,
                conflicts: vec![0, 2]
            }
        );
    }
    assert_eq!(stored(&pool).await, 1);
    assert_eq!(
        rollup(&pool, gpu, Meter::GpuSeconds, h).await.unwrap().0,
        "60",
        "the first value stands"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_id_reused_at_another_time_is_a_conflict_found_in_the_store(pool: PgPool) {
    // The window holds fingerprints only: the store is asked, first at the
    // events' own times (where a resend finds its copy), then over the
    // hours the window names for the rest.
    let (org, gpu) = (Uuid::now_v7(), Uuid::now_v7());
    let h = hour();
    let e1 = event(org, gpu, "e1", Meter::GpuSeconds, h, 60);
    let e2 = event(
        org,
        gpu,
        "e2",
        Meter::GpuSeconds,
        h + Duration::minutes(1),
        60,
    );
    let ingester = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    assert_eq!(
        ingester
            .ingest(&[e1.clone(), e2.clone()])
            .await
            .unwrap()
            .accepted,
        2
    );
    let e3 = event(
        org,
        gpu,
        "e3",
        Meter::GpuSeconds,
        h + Duration::hours(1),
        60,
    );
    assert_eq!(
        ingester.ingest(&[e1.clone(), e3]).await.unwrap(),
        Ingested {
            accepted: 1,
            duplicates: 1,
            conflicts: vec![]
        }
    );
    // Alone in their batches, so that only the window's hours find them.
    let mut later = e2.clone();
    later.time = h + Duration::hours(1);
    let mut earlier = e1.clone();
    earlier.time = h - Duration::hours(2);
    for reused in [later, earlier] {
        assert_eq!(
            ingester.ingest(&[reused]).await.unwrap(),
            Ingested {
                accepted: 0,
                duplicates: 0,
                conflicts: vec![0]
            }
        );
    }
    assert_eq!(stored(&pool).await, 3);
}
