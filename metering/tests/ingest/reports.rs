//! Reports: tenancy, tokens per key, request readings, usage by label.

use chrono::{DateTime, Duration, Utc};
use metering::ingest::DEFAULT_LATENESS;
use metering::report::{Granularity, ReportQuery, report};
use metering::{Ingester, Meter, UsageEvent};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{MIGRATOR, event, hour};

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
                ("input_tokens", model),
                None,
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
