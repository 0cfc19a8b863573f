//! The API under load, against the server's own `/healthz` in the same run.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench api`
//!
//! Seeds a scratch database with N organizations (default 100,000;
//! `QM_BENCH_ORGS` to change), each with a cluster, and 30 days of hourly
//! node-second and GPU-second rollups for 1,000 of them. Serves the real
//! router on loopback (its own runtime, two workers) and, per request type:
//! finds the most it serves per second with 32 requests always in flight,
//! then sends an open loop at fixed rates (25, 50 and 75 % of that). In an
//! open loop each request is due at its own instant and its latency counts
//! from then, so a stalled server is charged for the requests queued
//! behind it (coordinated omission corrected). Prints each type's maximum,
//! p50 and p99 at each rate, and the p99 at 50 % against the goal. The
//! load generator runs in the same process, on one thread.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark program"
)]

mod common;
#[path = "common/serve.rs"]
mod serve;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DurationRound, Utc};
use reqwest::{Client, Method, RequestBuilder};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// Organizations with usage, and the ones the requests are spread over.
const WITH_USAGE: i64 = 1_000;
const IN_FLIGHT: usize = 32;
/// The open loop's connections at most.
const CONNECTIONS: usize = 64;
const SATURATE: Duration = Duration::from_secs(3);
const OPEN_LOOP: Duration = Duration::from_secs(4);

/// Makes the `n`-th request of a type.
type Make = Box<dyn Fn(&Target, u64) -> RequestBuilder + Send + Sync>;

/// A request type: its name, its goal for p99 at 50 % load, and how to
/// make its `n`-th request.
struct Kind {
    name: &'static str,
    goal_ms: Option<u64>,
    make: Make,
}

/// Where requests go, and as whom.
struct Target {
    client: Client,
    base: String,
    cookie: String,
    /// The organizations with usage, each with its cluster.
    orgs: Vec<(Uuid, Uuid)>,
    /// A prefix of each run's created cluster names, unique per run.
    run: String,
}

impl Target {
    fn get(&self, path: &str) -> RequestBuilder {
        self.client
            .request(Method::GET, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
    }

    fn org(&self, n: u64) -> (Uuid, Uuid) {
        self.orgs[usize::try_from(n).unwrap() % self.orgs.len()]
    }
}

fn kinds() -> Vec<Kind> {
    let day = |d| {
        Utc::now()
            .duration_trunc(chrono::Duration::days(1))
            .unwrap()
            + chrono::Duration::days(d)
    };
    let (from, to) = (day(-29).to_rfc3339(), day(1).to_rfc3339());
    vec![
        Kind {
            name: "healthz (baseline)",
            goal_ms: None,
            make: Box::new(|t, _| t.get("/healthz")),
        },
        Kind {
            name: "list clusters",
            goal_ms: Some(50),
            make: Box::new(|t, n| t.get(&format!("/v1/organizations/{}/clusters", t.org(n).0))),
        },
        Kind {
            name: "get a cluster",
            goal_ms: Some(50),
            make: Box::new(|t, n| {
                let (org, cluster) = t.org(n);
                t.get(&format!("/v1/organizations/{org}/clusters/{cluster}"))
            }),
        },
        Kind {
            name: "30-day usage by day",
            goal_ms: Some(100),
            make: Box::new(move |t, n| {
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("granularity", "day")
                    .append_pair("from", &from)
                    .append_pair("to", &to)
                    .finish();
                t.get(&format!("/v1/organizations/{}/usage?{query}", t.org(n).0))
            }),
        },
        Kind {
            name: "create a cluster",
            goal_ms: Some(200),
            make: Box::new(|t, n| {
                let (org, _) = t.org(n);
                let name = format!("{}-{n}", t.run);
                t.client
                    .request(
                        Method::POST,
                        format!("{}/v1/organizations/{org}/clusters", t.base),
                    )
                    .header("cookie", &t.cookie)
                    .header("idempotency-key", &name)
                    .json(&json!({ "name": name, "region": "bench" }))
            }),
        },
        Kind {
            name: "admin search",
            goal_ms: Some(200),
            make: Box::new(|t, n| {
                // A part of a name that 100 organizations share: a page of
                // 25 of them, and their count.
                t.get(&format!("/admin?q=Bench+{:04}", n % 10_000))
            }),
        },
    ]
}

async fn seed(pool: &PgPool, organizations: i64, template_cluster: Uuid) {
    let started = Instant::now();
    let mut conn = pool.acquire().await.unwrap().detach();
    let conn = &mut conn;
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *conn)
        .await
        .unwrap();
    // UUIDv7-shaped ids, in order of creation as the service's are.
    sqlx::query(
        "INSERT INTO organizations (id, name, created_at)
         SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
                'Bench ' || lpad(i::text, 6, '0'), now() - make_interval(secs => $1 - i)
         FROM generate_series(1, $1) i",
    )
    .bind(organizations)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO subscriptions (organization_id, plan)
         SELECT id, 'business' FROM organizations WHERE name LIKE 'Bench %'",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    // Each a copy of the cluster made through the API, its id from the
    // organization's.
    sqlx::query(
        "INSERT INTO vector_clusters (id, organization_id, data_plane_id, name, spec)
         SELECT ('00000000-0000-7000-9000-' || right(o.id::text, 12))::uuid, o.id,
                t.data_plane_id, 'search', t.spec
         FROM organizations o, vector_clusters t
         WHERE o.name LIKE 'Bench %' AND t.id = $1",
    )
    .bind(template_cluster)
    .execute(&mut *conn)
    .await
    .unwrap();
    // 30 days of hourly rollups for the first organizations, a node and a
    // GPU meter each, and their monthly sums as the ingester keeps them.
    sqlx::query(
        "INSERT INTO usage_hourly (organization_id, resource_id, meter, dimension, hour, quantity, events)
         SELECT c.organization_id, c.id, m.meter, '', h, 3600, 60
         FROM vector_clusters c
         CROSS JOIN (VALUES ('node_seconds'), ('gpu_seconds')) AS m(meter)
         CROSS JOIN generate_series(date_trunc('hour', now()) - interval '30 days',
                                    date_trunc('hour', now()), interval '1 hour') h
         WHERE c.id > '00000000-0000-7000-9000-000000000000'
           AND c.id <= ('00000000-0000-7000-9000-' || lpad(to_hex($1::bigint), 12, '0'))::uuid",
    )
    .bind(WITH_USAGE)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_monthly (organization_id, meter, month, quantity)
         SELECT organization_id, meter, date_trunc('month', hour, 'UTC'), sum(quantity)
         FROM usage_hourly GROUP BY 1, 2, 3",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(&mut *conn).await.unwrap();
    println!(
        "seeded {organizations} organizations with a cluster each, 30 days of rollups for {WITH_USAGE}, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Sends one request; fails the benchmark on an answer that is not 2xx.
async fn send(target: &Target, kind: &Kind, n: u64) {
    let response = (kind.make)(target, n).send().await.unwrap();
    let status = response.status();
    if !status.is_success() {
        panic!(
            "{}: {status}: {}",
            kind.name,
            response.text().await.unwrap_or_default()
        );
    }
    response.bytes().await.unwrap();
}

/// The most requests per second served with [`IN_FLIGHT`] always waiting.
async fn saturate(target: &Arc<Target>, kind: &Arc<Kind>, counter: &Arc<AtomicU64>) -> f64 {
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (target, kind, counter, done) =
                (target.clone(), kind.clone(), counter.clone(), done.clone());
            tokio::spawn(async move {
                while started.elapsed() < SATURATE {
                    send(&target, &kind, counter.fetch_add(1, Ordering::Relaxed)).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Latencies at `rate` requests per second, each from the instant it was
/// due, sorted.
async fn open_loop(
    target: &Arc<Target>,
    kind: &Arc<Kind>,
    counter: &Arc<AtomicU64>,
    rate: f64,
) -> Vec<Duration> {
    let count = (rate * OPEN_LOOP.as_secs_f64()).ceil() as u64;
    let start = tokio::time::Instant::now();
    // Connections are bounded as a real client's pool is: a request due
    // while all are busy waits for one, and its wait counts.
    let connections = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
    let mut tasks = Vec::with_capacity(usize::try_from(count).unwrap());
    for i in 0..count {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let (target, kind, counter) = (target.clone(), kind.clone(), counter.clone());
        let connections = connections.clone();
        tasks.push(tokio::spawn(async move {
            let _connection = connections.acquire().await.unwrap();
            send(&target, &kind, counter.fetch_add(1, Ordering::Relaxed)).await;
            due.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await.unwrap());
    }
    latencies.sort();
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

fn main() {
    let organizations = i64::try_from(common::size("QM_BENCH_ORGS", 100_000)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let scratch = common::Scratch::create().await;
        let mut conn = scratch.pool.acquire().await.unwrap();
        control_plane::data_planes::ensure_simulated(&mut conn, "sim-bench", "bench")
            .await
            .unwrap();
        drop(conn);
        let base = serve::serve(scratch.pool.clone());
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(CONNECTIONS)
            .build()
            .unwrap();
        // One person, platform administrator and owner of every organization
        // with usage; the template cluster is made through the API.
        let signup = client
            .post(format!("{base}/v1/signup"))
            .json(&json!({ "email": "bench@example.com", "password": "correct horse battery staple" }))
            .send()
            .await
            .unwrap();
        let cookie = signup.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body: serde_json::Value = signup.json().await.unwrap();
        let own_org = body["organization"]["id"].as_str().unwrap().to_owned();
        let created: serde_json::Value = client
            .post(format!("{base}/v1/organizations/{own_org}/clusters"))
            .header("cookie", &cookie)
            .json(&json!({ "name": "template", "region": "bench" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let template: Uuid = created["id"].as_str().unwrap().parse().unwrap();
        seed(&scratch.pool, organizations, template).await;
        let orgs: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "WITH usage AS (SELECT DISTINCT organization_id FROM usage_monthly)
             SELECT c.organization_id, c.id FROM vector_clusters c JOIN usage u USING (organization_id)
             WHERE c.name = 'search'",
        )
        .fetch_all(&scratch.pool)
        .await
        .unwrap();
        sqlx::query("UPDATE users SET is_platform_admin = true WHERE email = 'bench@example.com'")
            .execute(&scratch.pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO memberships (organization_id, user_id, role)
             SELECT o, u.id, 'owner' FROM unnest($1::uuid[]) o, users u
             WHERE u.email = 'bench@example.com'",
        )
        .bind(orgs.iter().map(|(o, _)| *o).collect::<Vec<_>>())
        .execute(&scratch.pool)
        .await
        .unwrap();
        let target = Arc::new(Target {
            client,
            base,
            cookie,
            orgs,
            run: format!("b{}", std::process::id()),
        });
        let counter = Arc::new(AtomicU64::new(0));
        println!(
            "{:<20} {:>9} | {:>17} {:>17} {:>17} | {:>9} {:>6}",
            "request", "max rps", "p50/p99 at 25 %", "p50/p99 at 50 %", "p50/p99 at 75 %", "p99 goal", "met"
        );
        let mut baseline_p99 = None;
        for kind in kinds() {
            let kind = Arc::new(kind);
            let max = saturate(&target, &kind, &counter).await;
            let mut cells = Vec::new();
            let mut p99_at_half = 0.0;
            for fraction in [0.25, 0.5, 0.75] {
                let latencies = open_loop(&target, &kind, &counter, max * fraction).await;
                let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
                if fraction == 0.5 {
                    p99_at_half = p99;
                }
                cells.push(format!("{p50:>7.1}/{p99:>7.1} ms"));
            }
            let baseline = *baseline_p99.get_or_insert(p99_at_half);
            let (goal, met) = match kind.goal_ms {
                Some(goal) => (format!("{goal} ms"), if p99_at_half <= goal as f64 { "yes" } else { "NO" }),
                None => ("—".to_owned(), ""),
            };
            println!(
                "{:<20} {:>9.0} | {} | {:>9} {:>6}   (p99 {:.1}× healthz's)",
                kind.name,
                max,
                cells.join(" "),
                goal,
                met,
                p99_at_half / baseline
            );
        }
        println!(
            "memory: {} MiB resident at the end, {} MiB at the peak (server and load generator)",
            common::memory("VmRSS") >> 20,
            common::memory("VmHWM") >> 20
        );
        scratch.drop().await;
    });
}
