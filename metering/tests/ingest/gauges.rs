//! Gauges as time-weighted averages: irregular and late samples, batches
//! rolled up incrementally, a series continued by another replica.

use chrono::Duration;
use metering::ingest::DEFAULT_LATENESS;
use metering::report::{Granularity, ReportQuery, report};
use metering::{Ingester, Meter};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{MIGRATOR, event, hour, rollup};

#[sqlx::test(migrator = "MIGRATOR")]
async fn gauges_average_exactly_over_irregular_samples(pool: PgPool) {
    let ingester = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let (org, cluster) = (Uuid::now_v7(), Uuid::now_v7());
    let h = hour();
    let samples = [(0, 1_000), (7, 4_000), (9, 2_500), (30, 1_000)];
    let batch: Vec<_> = samples
        .iter()
        .map(|(m, v)| {
            event(
                org,
                cluster,
                &format!("s{m}"),
                Meter::StorageBytes,
                h + Duration::minutes(*m),
                *v,
            )
        })
        .collect();
    ingester.ingest(&batch).await.unwrap();
    // 1000×420 s + 4000×120 s + 2500×600 s (held 10 min) + 1000×600 s (held 10 min)
    let integral = 1_000 * 420 + 4_000 * 120 + 2_500 * 600 + 1_000 * 600;
    assert_eq!(
        rollup(&pool, cluster, Meter::StorageBytes, h).await,
        Some((format!("{integral}.000"), "1740.000".into(), 4))
    );
    let mut conn = pool.acquire().await.unwrap();
    let rows = report(
        &mut conn,
        &ReportQuery {
            organization_id: org,
            from: h,
            to: h + Duration::hours(1),
            granularity: Granularity::Hour,
            resource_id: None,
            meter: Some(Meter::StorageBytes),
            key_id: None,
            group_by_label: None,
        },
    )
    .await
    .unwrap();
    // 3 000 000 / 1740 = 1724.137931…
    assert_eq!(rows[0].average.as_deref(), Some("1724.137931"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn late_events_update_the_hour_they_belong_to(pool: PgPool) {
    let ingester = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let (org, cluster) = (Uuid::now_v7(), Uuid::now_v7());
    let h = hour();
    let earlier = h - Duration::hours(20);
    ingester
        .ingest(&[event(org, cluster, "now", Meter::NodeSeconds, h, 60)])
        .await
        .unwrap();
    ingester
        .ingest(&[event(
            org,
            cluster,
            "late",
            Meter::NodeSeconds,
            earlier + Duration::minutes(5),
            30,
        )])
        .await
        .unwrap();
    assert_eq!(
        rollup(&pool, cluster, Meter::NodeSeconds, earlier)
            .await
            .unwrap()
            .0,
        "30"
    );
    assert_eq!(
        rollup(&pool, cluster, Meter::NodeSeconds, h)
            .await
            .unwrap()
            .0,
        "60"
    );

    // A late gauge sample between two others changes its hour's integral.
    ingester
        .ingest(&[
            event(org, cluster, "g0", Meter::ObjectCount, h, 100),
            event(
                org,
                cluster,
                "g2",
                Meter::ObjectCount,
                h + Duration::minutes(10),
                100,
            ),
        ])
        .await
        .unwrap();
    assert_eq!(
        rollup(&pool, cluster, Meter::ObjectCount, h)
            .await
            .unwrap()
            .0,
        "120000.000"
    );
    ingester
        .ingest(&[event(
            org,
            cluster,
            "g1",
            Meter::ObjectCount,
            h + Duration::minutes(5),
            300,
        )])
        .await
        .unwrap();
    assert_eq!(
        rollup(&pool, cluster, Meter::ObjectCount, h)
            .await
            .unwrap()
            .0,
        "180000.000"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn in_order_batches_roll_up_gauges_incrementally_to_the_exact_integral(pool: PgPool) {
    use metering::gauge::{Sample, integrate};
    let ingester = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let (org, cluster) = (Uuid::now_v7(), Uuid::now_v7());
    let h = hour();
    // Irregular gaps, some longer than a sample holds, across an hour boundary.
    let gaps = [0, 50, 70, 700, 30, 900, 45, 1200, 60, 61, 599, 601];
    let mut t = h + Duration::minutes(25);
    let mut samples = Vec::new();
    for (i, gap) in gaps.iter().enumerate() {
        t += Duration::seconds(*gap);
        samples.push((
            format!("o{i}"),
            Sample {
                time: t,
                value: (i as i64 + 1) * 1_000,
            },
        ));
    }
    // Three batches, in order, as a collector sends them.
    for batch in samples.chunks(4) {
        let events: Vec<_> = batch
            .iter()
            .map(|(id, s)| event(org, cluster, id, Meter::ObjectCount, s.time, s.value))
            .collect();
        ingester.ingest(&events).await.unwrap();
    }
    let all: Vec<Sample> = samples.iter().map(|(_, s)| *s).collect();
    for hour in [h, h + Duration::hours(1), h + Duration::hours(2)] {
        let expected = integrate(&all, hour);
        let stored = rollup(&pool, cluster, Meter::ObjectCount, hour).await;
        let (quantity, covered) = stored
            .map(|(q, c, _)| (q, c))
            .unwrap_or(("0.000".into(), "0.000".into()));
        assert_eq!(
            quantity,
            metering::gauge::millis_decimal(expected.value_ms),
            "{hour}"
        );
        assert_eq!(
            covered,
            metering::gauge::millis_decimal(i128::from(expected.covered_ms)),
            "{hour}"
        );
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_replica_continues_a_gauge_another_one_started(pool: PgPool) {
    use metering::gauge::{Sample, integrate};
    let first = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let second = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let (org, cluster) = (Uuid::now_v7(), Uuid::now_v7());
    let h = hour();
    let a = Sample {
        time: h + Duration::minutes(10),
        value: 500,
    };
    let b = Sample {
        time: h + Duration::minutes(14),
        value: 900,
    };
    first
        .ingest(&[event(
            org,
            cluster,
            "a",
            Meter::StorageBytes,
            a.time,
            a.value,
        )])
        .await
        .unwrap();
    // The second replica must learn of `a` to cut its hold short at `b`.
    second
        .ingest(&[event(
            org,
            cluster,
            "b",
            Meter::StorageBytes,
            b.time,
            b.value,
        )])
        .await
        .unwrap();
    let expected = integrate(&[a, b], h);
    assert_eq!(expected.value_ms, (500 * 240 + 900 * 600) * 1000);
    let (quantity, _, events) = rollup(&pool, cluster, Meter::StorageBytes, h)
        .await
        .unwrap();
    assert_eq!(quantity, metering::gauge::millis_decimal(expected.value_ms));
    assert_eq!(events, 2);
}
