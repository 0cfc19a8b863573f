//! Usage ingestion against raw `COPY`, in one process, on one PostgreSQL.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench ingest`
//!
//! First the deduplication window's memory: a window loaded directly (no
//! rows written) with the keys of 49 hours of a fleet of 10,000 clusters
//! and 1,000 endpoints, four meters, one sample a minute (129 million keys;
//! `QM_BENCH_WINDOW_HOURS` to change the hours), as 64-bit hashes like
//! those of real ids. Prints the resident memory (`VmRSS`) before and
//! after, and bytes per key.
//!
//! Then creates a scratch database and ingests the same N events (default
//! 1,000,000; `QM_BENCH_EVENTS` to change), in batches of 1,000 and of
//! 10,000, two ways: a raw `COPY` of the rows into an unindexed table (the
//! baseline) and the library path (`metering::Ingester`, deduplication on,
//! rollups included); in batches of 1,000 also the HTTP path (`POST
//! /v1/usage/events` on a loopback server). Prints events per second and
//! the ratio of each path to its baseline (each the best of 3 interleaved
//! rounds; `QM_BENCH_ROUNDS` to change), and how long an ingester takes
//! to start on the stored events (its window rebuilt).

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
const BATCHES: [usize; 2] = [1_000, 10_000];
const CLUSTERS: usize = 100;

/// The fleet of issue 20: 10,000 clusters and 1,000 endpoints, four
/// meters, a sample a minute.
const FLEET_KEYS_PER_HOUR: u64 = 11_000 * 4 * 60;

/// Resident memory of this process, in bytes.
/// Loads a window with `hours` hours of the fleet's keys and reports its
/// memory.
fn window_memory(hours: u64) {
    let start = (Utc::now() - Duration::hours(hours as i64))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let before = common::memory("VmRSS");
    let began = Instant::now();
    let mut window = metering::window::Window::new(start);
    let mut state: u64 = 0x5EED;
    for hour in 0..hours {
        let time = start + Duration::hours(hour as i64);
        for _ in 0..FLEET_KEYS_PER_HOUR {
            // SplitMix64: uniform 64-bit keys, as SipHash gives for real ids.
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            window.insert(z ^ (z >> 31), time);
        }
    }
    let took = began.elapsed().as_secs_f64();
    let after = common::memory("VmRSS");
    let keys = window.len() as f64;
    println!(
        "window: {} keys ({hours} h of 11,000 resources x 4 meters x 60/h), loaded directly, no rows written, in {took:.1} s",
        window.len()
    );
    println!(
        "window: resident {:.0} MiB before, {:.0} MiB after ({:.2} bytes/key); slots {:.0} MiB ({:.2} bytes/key)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        (after - before) as f64 / keys,
        window.key_bytes() as f64 / 1048576.0,
        window.key_bytes() as f64 / keys,
    );
}

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

/// Where the rows go: the baseline's unindexed table, or `usage_events`
/// itself (its identity, defaults and indexes) with no deduplication.
const UNINDEXED: &str = "bench_raw";
const USAGE_EVENTS: &str =
    "usage_events (source, event_id, organization_id, resource_id, meter, dimension, time, value)";

/// `COPY`s `events` into emptied tables; the seconds taken.
async fn copy(pool: &PgPool, events: &[UsageEvent], batch_size: usize, into: &str) -> f64 {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_raw (source text, event_id text, organization_id uuid, resource_id uuid,
                                 meter text, dimension text, time timestamptz, value bigint)",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("TRUNCATE bench_raw, usage_events, usage_hourly")
        .execute(pool)
        .await
        .unwrap();
    let statement = format!("COPY {into} FROM STDIN");
    let started = Instant::now();
    for batch in events.chunks(batch_size) {
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
        let mut copy = tx.copy_in_raw(&statement).await.unwrap();
        copy.send(data.into_bytes()).await.unwrap();
        copy.finish().await.unwrap();
        tx.commit().await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// Ingests `events` into emptied tables; the seconds taken.
async fn library(pool: &PgPool, events: &[UsageEvent], batch_size: usize) -> f64 {
    sqlx::query("TRUNCATE usage_events, usage_hourly")
        .execute(pool)
        .await
        .unwrap();
    let ingester = metering::Ingester::start(pool.clone(), metering::ingest::DEFAULT_LATENESS)
        .await
        .unwrap();
    let started = Instant::now();
    for batch in events.chunks(batch_size) {
        let done = ingester.ingest(batch).await.unwrap();
        assert_eq!(done.accepted, batch.len());
    }
    let took = started.elapsed().as_secs_f64();
    // Replaying the first batch changes nothing.
    let replay = &events[..batch_size.min(events.len())];
    assert_eq!(
        ingester.ingest(replay).await.unwrap().duplicates,
        replay.len()
    );
    took
}

/// How long an ingester takes to start on what is stored.
async fn restart(pool: &PgPool) -> f64 {
    let started = Instant::now();
    metering::Ingester::start(pool.clone(), metering::ingest::DEFAULT_LATENESS)
        .await
        .unwrap();
    started.elapsed().as_secs_f64()
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
    window_memory(common::size("QM_BENCH_WINDOW_HOURS", 49) as u64);
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

    let rounds = common::size("QM_BENCH_ROUNDS", 3);
    println!("ingesting {n} events ({CLUSTERS} clusters, 10% gauges), best of {rounds} rounds");
    let mut rows = Vec::new();
    for batch_size in BATCHES {
        // Interleaved rounds, the best of each kept: the machine is shared.
        let (mut raw, mut table, mut lib) = (f64::MAX, f64::MAX, f64::MAX);
        for _ in 0..rounds {
            raw = raw.min(copy(&pool, &events, batch_size, UNINDEXED).await);
            table = table.min(copy(&pool, &events, batch_size, USAGE_EVENTS).await);
            lib = lib.min(library(&pool, &events, batch_size).await);
        }
        rows.push((
            format!("raw COPY, unindexed table, batches of {batch_size}"),
            raw,
            raw,
        ));
        rows.push((
            "  COPY into usage_events, no dedup/rollups".to_owned(),
            table,
            raw,
        ));
        rows.push((
            format!("library: Ingester::ingest, batches of {batch_size}"),
            lib,
            raw,
        ));
    }
    let start = restart(&pool).await;
    sqlx::query("TRUNCATE usage_events, usage_hourly")
        .execute(&pool)
        .await
        .unwrap();
    let web = http(&pool, data_plane, &events).await;
    let copy = rows[0].1;
    rows.push((
        format!("HTTP: POST /v1/usage/events, batches of {BATCH}"),
        web,
        copy,
    ));

    let rate = |seconds: f64| n as f64 / seconds;
    println!(
        "{:<48} {:>12} {:>10} {:>8}",
        "path", "events/s", "seconds", "ratio"
    );
    for (path, seconds, baseline) in rows {
        println!(
            "{path:<48} {:>12.0} {seconds:>10.2} {:>8.2}",
            rate(seconds),
            baseline / seconds
        );
    }
    println!("start-up: window rebuilt from {n} stored events in {start:.2} s");
    scratch.drop().await;
}
