//! Ingestion and reports against the real PostgreSQL.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use chrono::{DateTime, Duration, DurationRound, Utc};
use metering::ingest::DEFAULT_LATENESS;
use metering::report::{Granularity, ReportQuery, report};
use metering::{Ingested, Ingester, Meter, UsageEvent};
use sqlx::PgPool;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

fn hour() -> DateTime<Utc> {
    (Utc::now() - Duration::hours(3))
        .duration_trunc(Duration::hours(1))
        .unwrap()
}

fn event(
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

async fn rollup(
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

async fn stored(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM usage_events")
        .fetch_one(pool)
        .await
        .unwrap()
}

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
async fn one_organizations_usage_never_appears_in_anothers_report(pool: PgPool) {
    let ingester = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let (ada, eve) = (Uuid::now_v7(), Uuid::now_v7());
    let (ada_gpu, eve_gpu) = (Uuid::now_v7(), Uuid::now_v7());
    let h = hour();
    ingester
        .ingest(&[
            event(ada, ada_gpu, "a1", Meter::GpuSeconds, h, 3600),
            event(
                ada,
                ada_gpu,
                "a2",
                Meter::GpuSeconds,
                h + Duration::hours(1),
                1800,
            ),
            event(eve, eve_gpu, "e1", Meter::GpuSeconds, h, 60),
        ])
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let query = |org, granularity| ReportQuery {
        organization_id: org,
        from: h - Duration::days(1),
        to: h + Duration::days(1),
        granularity,
        resource_id: None,
        meter: None,
        key_id: None,
        group_by_label: None,
    };
    let ada_rows = report(&mut conn, &query(ada, Granularity::Hour))
        .await
        .unwrap();
    assert_eq!(ada_rows.len(), 2);
    assert!(ada_rows.iter().all(|r| r.resource_id == Some(ada_gpu)));
    let eve_rows = report(&mut conn, &query(eve, Granularity::Day))
        .await
        .unwrap();
    assert_eq!(eve_rows.len(), 1);
    assert_eq!(
        (eve_rows[0].resource_id, eve_rows[0].quantity.as_str()),
        (Some(eve_gpu), "60")
    );
    // Filtering by another organization's resource finds nothing.
    let mut probe = query(eve, Granularity::Day);
    probe.resource_id = Some(ada_gpu);
    assert!(report(&mut conn, &probe).await.unwrap().is_empty());
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

/// A gateway's minute of one key's tokens of one model.
fn tokens(
    org: Uuid,
    endpoint: Uuid,
    id: &str,
    meter: Meter,
    key: Uuid,
    time: DateTime<Utc>,
    value: i64,
) -> UsageEvent {
    UsageEvent {
        source: "dataplane/test/gateway-1".into(),
        dimension: format!("{key} org/model"),
        ..event(org, endpoint, id, meter, time, value)
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn tokens_sum_per_hour_and_key_and_the_report_reads_per_key(pool: PgPool) {
    let ingester = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let (org, endpoint) = (Uuid::now_v7(), Uuid::now_v7());
    let (alpha, beta) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let h = hour();
    let (input, output) = (Meter::InputTokens, Meter::OutputTokens);
    let batch = [
        tokens(org, endpoint, "t1", input, alpha, h, 1000),
        tokens(
            org,
            endpoint,
            "t2",
            input,
            alpha,
            h + Duration::minutes(59),
            234,
        ),
        tokens(
            org,
            endpoint,
            "t3",
            input,
            beta,
            h + Duration::minutes(5),
            7,
        ),
        tokens(org, endpoint, "t4", output, alpha, h, 300),
        tokens(org, endpoint, "t5", input, alpha, h + Duration::hours(1), 5),
    ];
    assert_eq!(ingester.ingest(&batch).await.unwrap().accepted, 5);

    let mut conn = pool.acquire().await.unwrap();
    let query = ReportQuery {
        organization_id: org,
        from: h,
        to: h + Duration::hours(2),
        granularity: Granularity::Hour,
        resource_id: None,
        meter: None,
        key_id: None,
        group_by_label: None,
    };
    let rows = report(&mut conn, &query).await.unwrap();
    let read: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.bucket - h,
                r.meter.as_str(),
                r.key_id,
                r.model.as_deref(),
                r.quantity.as_str(),
                r.events,
            )
        })
        .collect();
    let model = Some("org/model");
    assert_eq!(
        read,
        [
            (
                Duration::zero(),
                "input_tokens",
                Some(alpha),
                model,
                "1234",
                2
            ),
            (Duration::zero(), "input_tokens", Some(beta), model, "7", 1),
            (
                Duration::zero(),
                "output_tokens",
                Some(alpha),
                model,
                "300",
                1
            ),
            (
                Duration::hours(1),
                "input_tokens",
                Some(alpha),
                model,
                "5",
                1
            ),
        ]
    );

    // One key's usage alone.
    let only_beta = ReportQuery {
        key_id: Some(beta),
        group_by_label: None,
        ..query.clone()
    };
    let rows = report(&mut conn, &only_beta).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].key_id, rows[0].quantity.as_str()),
        (Some(beta), "7")
    );

    // An invoice line of the model traces to every key's rollups of it.
    let line_of = |model: &'static str| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.acquire().await.unwrap();
            let rollups = metering::rollups::hours(
                &mut conn,
                org,
                "input_tokens",
                model,
                h,
                h + Duration::hours(1),
            )
            .await
            .unwrap();
            rollups
                .iter()
                .map(|r| (r.dimension.clone(), r.quantity.to_string()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        line_of("org/model").await,
        [
            (format!("{alpha} org/model"), "1234".to_owned()),
            (format!("{beta} org/model"), "7".to_owned()),
        ]
    );
    assert!(line_of("org/other").await.is_empty());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn request_readings_name_the_last_busy_hour_and_the_hours_read(pool: PgPool) {
    let ingester = Ingester::start(pool.clone(), DEFAULT_LATENESS)
        .await
        .unwrap();
    let (org, busy, quiet, other_org) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let h0 = hour() - Duration::hours(2);
    let at = |h: i64, minute: i64| h0 + Duration::hours(h) + Duration::minutes(minute);
    let events = vec![
        // `busy` serves 7 requests in hour 1; hours 0 and 2 are read with none.
        event(org, busy, "b-0", Meter::Requests, at(0, 1), 0),
        event(org, busy, "b-1a", Meter::Requests, at(1, 1), 4),
        event(org, busy, "b-1b", Meter::Requests, at(1, 2), 3),
        event(org, busy, "b-2", Meter::Requests, at(2, 1), 0),
        // `quiet` is read in hours 0 and 2 only, never busy; its other
        // meters are no reading of requests.
        event(org, quiet, "q-0", Meter::Requests, at(0, 5), 0),
        event(org, quiet, "q-2", Meter::Requests, at(2, 5), 0),
        event(org, quiet, "q-n", Meter::NodeSeconds, at(1, 5), 60),
        // The same resource id under another organization is not `busy`.
        event(other_org, busy, "o-3", Meter::Requests, at(3, 1), 9),
    ];
    ingester.ingest(&events).await.unwrap();

    let mut conn = pool.acquire().await.unwrap();
    let now = at(3, 30);
    let readings = metering::rollups::request_readings(
        &mut conn,
        &[(org, busy, h0), (org, quiet, h0), (org, busy, at(2, 0))],
        now,
    )
    .await
    .unwrap();
    let read = |last: Option<DateTime<Utc>>, covered| metering::rollups::RequestReadings {
        last_active_hour: last,
        covered_hours: covered,
    };
    assert_eq!(
        readings,
        [
            read(Some(at(1, 0)), 3),
            read(None, 2),
            // The same resource over a shorter span, in the order asked.
            read(Some(at(1, 0)), 1),
        ]
    );
    // The hour of `now` counts for activity, not yet for coverage.
    let readings = metering::rollups::request_readings(&mut conn, &[(other_org, busy, h0)], now)
        .await
        .unwrap();
    assert_eq!(readings, [read(Some(at(3, 0)), 0)]);
}

/// Each hour's usage is reported under the labels its resource carried
/// when the hour started: a change at 10:30 leaves the 10:00 hour with the
/// old value, and the 11:00 hour has the new one.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_report_by_label_reads_each_hour_under_the_labels_in_force_at_its_start(pool: PgPool) {
    use chrono::TimeZone;
    use metering::labels::{self, LabelMap, Since};
    let org = Uuid::now_v7();
    let (search, chat, bare) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let at = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 11, 2, h, m, 0).unwrap();
    let team = |t: &str| LabelMap::from([("team".to_owned(), t.to_owned())]);
    let mut conn = pool.acquire().await.unwrap();
    labels::record(&mut conn, org, search, &team("a"), Since::Creation)
        .await
        .unwrap();
    labels::record(&mut conn, org, search, &team("b"), Since::At(at(10, 30)))
        .await
        .unwrap();
    labels::record(&mut conn, org, chat, &team("b"), Since::At(at(9, 0)))
        .await
        .unwrap();
    // A second change in the same instant replaces the first.
    labels::record(&mut conn, org, chat, &team("a"), Since::At(at(9, 0)))
        .await
        .unwrap();
    for (resource, hour) in [(search, 10), (search, 11), (chat, 10), (bare, 10)] {
        sqlx::query(
            "INSERT INTO usage_hourly (organization_id, resource_id, meter, dimension, hour,
                                       quantity, covered_seconds, events)
             VALUES ($1, $2, 'node_seconds', '', $3, 3600, 0, 60)",
        )
        .bind(org)
        .bind(resource)
        .bind(at(hour, 0))
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    let rows = report(
        &mut conn,
        &ReportQuery {
            organization_id: org,
            from: at(0, 0),
            to: at(23, 0),
            granularity: Granularity::Day,
            resource_id: None,
            meter: None,
            key_id: None,
            group_by_label: Some("team".into()),
        },
    )
    .await
    .unwrap();
    let read: Vec<_> = rows
        .iter()
        .map(|r| (r.resource_id, r.label.as_deref(), r.quantity.as_str()))
        .collect();
    assert_eq!(
        read,
        [
            (None, Some("a"), "7200"),
            (None, Some("b"), "3600"),
            (None, None, "3600"),
        ]
    );
    let spans: Vec<(String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT labels ->> 'team', valid_to FROM resource_labels
         WHERE resource_id = $1 ORDER BY valid_from",
    )
    .bind(chat)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(spans, [("a".to_owned(), None)]);
}
