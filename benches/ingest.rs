//! Usage ingestion against raw `COPY`, in one process, on one PostgreSQL.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench ingest`
//!
//! Creates a scratch database, then ingests the same N events (default
//! 1,000,000; `QM_BENCH_EVENTS` to change) in batches of 1,000 three ways:
//! a raw `COPY` of the rows into an unindexed table (the baseline), the
//! library path (`metering::Ingester`, deduplication on, rollups included),
//! and the HTTP path (`POST /v1/usage/events` on a loopback server). Prints
//! events per second and the ratio of each path to the baseline.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark program"
)]

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{Duration, DurationRound, SecondsFormat, Utc};
use metering::{Meter, UsageEvent};
use sqlx::PgPool;
use uuid::Uuid;

mod common;

const BATCH: usize = 1_000;
const CLUSTERS: usize = 100;

fn events(n: usize, org: Uuid, clusters: &[Uuid]) -> Vec<UsageEvent> {
    let start = (Utc::now() - Duration::hours(40))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    (0..n)
        .map(|i| {
            let meter = match i % 20 {
                0 => Meter::StorageBytes,
                1 => Meter::ObjectCount,
                2..=10 => Meter::GpuSeconds,
                _ => Meter::NodeSeconds,
            };
            UsageEvent {
                source: "dataplane/bench/collector".into(),
                id: format!("ev-{i}"),
                organization_id: org,
                resource_id: clusters[i % clusters.len()],
                meter,
                dimension: if meter == Meter::GpuSeconds {
                    "nvidia-l4".into()
                } else {
                    String::new()
                },
                // Spread over 36 hours, in order, as collectors send them.
                time: start + Duration::milliseconds((i as i64) * 129_600_000 / n as i64),
                value: 60,
            }
        })
        .collect()
}

async fn baseline(pool: &PgPool, events: &[UsageEvent]) -> f64 {
    sqlx::query(
        "CREATE TABLE bench_raw (source text, event_id text, organization_id uuid, resource_id uuid,
                                 meter text, dimension text, time timestamptz, value bigint)",
    )
    .execute(pool)
    .await
    .unwrap();
    let started = Instant::now();
    for batch in events.chunks(BATCH) {
        let mut data = String::with_capacity(batch.len() * 160);
        for e in batch {
            let _ = writeln!(
                data,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                e.source,
                e.id,
                e.organization_id,
                e.resource_id,
                e.meter.as_str(),
                e.dimension,
                e.time.to_rfc3339_opts(SecondsFormat::Micros, true),
                e.value
            );
        }
        let mut tx = pool.begin().await.unwrap();
        let mut copy = tx.copy_in_raw("COPY bench_raw FROM STDIN").await.unwrap();
        copy.send(data.into_bytes()).await.unwrap();
        copy.finish().await.unwrap();
        tx.commit().await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

async fn library(pool: &PgPool, events: &[UsageEvent]) -> f64 {
    let ingester = metering::Ingester::start(pool.clone(), metering::ingest::DEFAULT_LATENESS)
        .await
        .unwrap();
    let started = Instant::now();
    for batch in events.chunks(BATCH) {
        let done = ingester.ingest(batch).await.unwrap();
        assert_eq!(done.accepted, batch.len());
    }
    let took = started.elapsed().as_secs_f64();
    // Replaying the first batch changes nothing.
    assert_eq!(
        ingester.ingest(&events[..BATCH]).await.unwrap().duplicates,
        BATCH
    );
    took
}

async fn http(pool: &PgPool, data_plane: Uuid, events: &[UsageEvent]) -> f64 {
    let mut conn = pool.acquire().await.unwrap();
    let token = control_plane::data_planes::issue_ingest_token(&mut conn, data_plane)
        .await
        .unwrap();
    drop(conn);
    let config = dashboard_api::Config {
        secure_cookies: false,
        ..Default::default()
    };
    let state = dashboard_api::AppState::new(
        pool.clone(),
        billing::Catalog::default_catalog().unwrap(),
        config,
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/usage/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, dashboard_api::router(state)).await });
    // Bodies are built before the clock starts: a sender's cost, not ours.
    let bodies: Vec<Vec<u8>> = events
        .chunks(BATCH)
        .map(|batch| {
            serde_json::to_vec(&batch.iter().map(UsageEvent::to_wire).collect::<Vec<_>>()).unwrap()
        })
        .collect();
    let client = reqwest::Client::new();
    let started = Instant::now();
    // Two senders, so that parsing one batch overlaps writing another.
    let mut senders = Vec::new();
    for half in bodies.chunks(bodies.len().div_ceil(2)) {
        let (client, url, token, half) =
            (client.clone(), url.clone(), token.clone(), half.to_vec());
        senders.push(tokio::spawn(async move {
            for body in half {
                let reply = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status(), 200);
                let answer: serde_json::Value = reply.json().await.unwrap();
                assert_eq!(answer["rejected"], serde_json::json!([]), "{answer}");
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let n = common::size("QM_BENCH_EVENTS", 1_000_000);
    let scratch = common::Scratch::create().await;
    let pool = scratch.pool.clone();

    // One organization with its clusters in one data plane, for the HTTP path's tenant check.
    let mut conn = pool.acquire().await.unwrap();
    let data_plane = control_plane::data_planes::ensure_simulated(&mut conn, "bench", "bench")
        .await
        .unwrap();
    let org = Uuid::now_v7();
    sqlx::query("INSERT INTO organizations (id, name) VALUES ($1, 'bench')")
        .bind(org)
        .execute(&mut *conn)
        .await
        .unwrap();
    let clusters: Vec<Uuid> = (0..CLUSTERS).map(|_| Uuid::now_v7()).collect();
    for (i, id) in clusters.iter().enumerate() {
        sqlx::query(
            "INSERT INTO vector_clusters (id, organization_id, data_plane_id, name, spec)
             VALUES ($1, $2, $3, $4, '{\"version\": \"1.13.6\", \"nodes\": 1,
                 \"replicationFactor\": 1, \"resources\": {\"cpuMillicores\": 1000,
                 \"memoryMib\": 2048, \"storageGib\": 10}}')",
        )
        .bind(id)
        .bind(org)
        .bind(data_plane)
        .bind(format!("bench-{i}"))
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    drop(conn);
    let events = events(n, org, &clusters);

    println!("ingesting {n} events in batches of {BATCH} ({CLUSTERS} clusters, 10% gauges)");
    let copy = baseline(&pool, &events).await;
    let lib = library(&pool, &events).await;
    sqlx::query("TRUNCATE usage_events, usage_hourly")
        .execute(&pool)
        .await
        .unwrap();
    let web = http(&pool, data_plane, &events).await;

    let rate = |seconds: f64| n as f64 / seconds;
    println!(
        "{:<40} {:>12} {:>10} {:>8}",
        "path", "events/s", "seconds", "ratio"
    );
    for (path, seconds) in [
        ("raw COPY, unindexed table (baseline)", copy),
        ("library: Ingester::ingest, dedup on", lib),
        ("HTTP: POST /v1/usage/events", web),
    ] {
        println!(
            "{path:<40} {:>12.0} {seconds:>10.2} {:>8.2}",
            rate(seconds),
            copy / seconds
        );
    }
    scratch.drop().await;
}
