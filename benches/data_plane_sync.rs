//! A connected data plane's sync, measured: the real control plane (the
//! router on loopback, its own runtime) and the operator's sync loop
//! (`operator::sync::run`) against the in-memory Kubernetes API server.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench data_plane_sync`
//!
//! Seeds N clusters (default 2,000, `QM_BENCH_CLUSTERS`), four to an
//! organization, and prints:
//! - the time from the sync loop's cold start until every cluster and its
//!   tenant's namespace, quota and policy are applied, against a raw
//!   server-side-apply loop of the same objects into a fresh API server in
//!   the same run (the ratio);
//! - what an idle sync moves over a minute (`QM_BENCH_IDLE_SECONDS`, default
//!   60): requests and bytes between the planes, and writes to Kubernetes;
//! - the time from a change through the API to the data plane's apply,
//!   over 20 changes (p50, max).

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

use crds::VectorCluster;
use crds::tenant::{FIELD_MANAGER, baseline, resource_meta};
use crds::vector_cluster::VectorClusterSpec;
use kube::Api;
use kube::api::{Patch, PatchParams};
use operator::fake_apiserver::ApiServer;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

const PER_ORGANIZATION: usize = 4;
const CHANGES: usize = 20;

/// Bytes and requests that crossed between the planes.
#[derive(Default)]
struct Traffic {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// A loopback relay to the control plane that counts what crosses it: the
/// bytes both ways, and the requests (each starts with its method).
async fn relay(base: &str, traffic: Arc<Traffic>) -> String {
    let target = base.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (inbound, _) = listener.accept().await.unwrap();
            let outbound = TcpStream::connect(&target).await.unwrap();
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            tokio::spawn(pump(in_read, out_write, traffic.clone(), true));
            tokio::spawn(pump(out_read, in_write, traffic.clone(), false));
        }
    });
    url
}

/// Copies one direction of a connection, counting its bytes and, going to
/// the control plane, the requests it starts.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    traffic: Arc<Traffic>,
    requests: bool,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buffer).await {
        if n == 0 || to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
        traffic.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let chunk = &buffer[..n];
        if requests && (chunk.starts_with(b"GET ") || chunk.starts_with(b"POST ")) {
            traffic.requests.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn spec() -> VectorClusterSpec {
    serde_json::from_value(json!({
        "version": "1.13.6", "nodes": 1, "replicationFactor": 1,
        "resources": { "cpuMillicores": 1000, "memoryMib": 2048, "storageGib": 1 },
    }))
    .unwrap()
}

/// What the sync loop applies for `clusters`, applied one by one with
/// server-side apply: the baseline of each tenant, then its clusters.
async fn raw_apply_loop(clusters: &[(Uuid, Uuid, String)]) -> Duration {
    let api = ApiServer::new();
    let client = ApiServer::client(api.serve().await.unwrap()).unwrap();
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let started = Instant::now();
    let mut tenants = std::collections::BTreeSet::new();
    for (org, id, name) in clusters {
        if tenants.insert(*org) {
            let b = baseline(*org);
            let ns = crds::tenant::namespace_of(*org);
            Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
                .patch(&ns, &apply, &Patch::Apply(&b.namespace))
                .await
                .unwrap();
            Api::<k8s_openapi::api::core::v1::ResourceQuota>::namespaced(client.clone(), &ns)
                .patch("quartermaster", &apply, &Patch::Apply(&b.quota))
                .await
                .unwrap();
            Api::<k8s_openapi::api::networking::v1::NetworkPolicy>::namespaced(client.clone(), &ns)
                .patch("default-deny", &apply, &Patch::Apply(&b.default_deny))
                .await
                .unwrap();
        }
        let mut cluster = VectorCluster::new(name, spec());
        cluster.metadata = resource_meta(name, *org, *id, None);
        Api::<VectorCluster>::namespaced(client.clone(), &crds::tenant::namespace_of(*org))
            .patch(name, &apply, &Patch::Apply(&cluster))
            .await
            .unwrap();
    }
    started.elapsed()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let clusters = common::size("QM_BENCH_CLUSTERS", 2_000);
    let idle =
        Duration::from_secs(u64::try_from(common::size("QM_BENCH_IDLE_SECONDS", 60)).unwrap());
    let scratch = common::Scratch::create().await;
    let pool = scratch.pool.clone();

    // The data plane, registered, and its clusters.
    let mut conn = pool.acquire().await.unwrap();
    let plane = control_plane::data_planes::enrollment::NewDataPlane {
        name: "eu-1",
        region: "eu-west",
        organization_id: None,
        price_list: None,
        backups: false,
        gateway_url: None,
    };
    let (plane_id, token) = control_plane::data_planes::enrollment::register(
        &mut conn,
        &plane,
        chrono::Duration::hours(1),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let organizations = clusters.div_ceil(PER_ORGANIZATION);
    sqlx::query(
        "INSERT INTO organizations (id, name)
         SELECT uuidv7_like, 'bench-' || n FROM (
             SELECT n, (lpad(to_hex(n), 8, '0') || '-0000-7000-8000-000000000000')::uuid AS uuidv7_like
             FROM generate_series(1, $1) AS n) o",
    )
    .bind(i64::try_from(organizations).unwrap())
    .execute(&mut *conn)
    .await
    .unwrap();
    let spec = serde_json::to_value(spec()).unwrap();
    let seeded: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "INSERT INTO vector_clusters (id, organization_id, data_plane_id, name, spec)
         SELECT gen_random_uuid(),
                (lpad(to_hex((n - 1) / $3 + 1), 8, '0') || '-0000-7000-8000-000000000000')::uuid,
                $2, 'search-' || n, $4
         FROM generate_series(1, $1) AS n
         RETURNING organization_id, id, name",
    )
    .bind(i64::try_from(clusters).unwrap())
    .bind(plane_id)
    .bind(i64::try_from(PER_ORGANIZATION).unwrap())
    .bind(&spec)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    println!("seeded {clusters} clusters in {organizations} organizations");

    let raw = raw_apply_loop(&seeded).await;

    // The control plane on its own runtime, reached through a counting relay.
    let base = serve::serve(pool.clone());
    let traffic = Arc::new(Traffic::default());
    let url = relay(&base, traffic.clone()).await;
    let api = ApiServer::new();
    let client = ApiServer::client(api.serve().await.unwrap()).unwrap();
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .patch(
            "quartermaster-system",
            &PatchParams::apply("bench").force(),
            &Patch::Apply(json!({ "apiVersion": "v1", "kind": "Namespace",
                                  "metadata": { "name": "quartermaster-system" } })),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, token).unwrap();
    let config = operator::sync::Config::new(url, "quartermaster-system", token_file);
    let started = Instant::now();
    tokio::spawn(operator::sync::run(
        config,
        client.clone(),
        std::future::pending(),
    ));
    let all = Api::<VectorCluster>::all(client.clone());
    loop {
        let applied = all.list(&Default::default()).await.unwrap().items.len();
        if applied == clusters {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cold = started.elapsed();
    println!(
        "cold sync of {clusters} clusters: {:.2} s; raw server-side-apply loop of the same objects: {:.2} s; ratio {:.2}x",
        cold.as_secs_f64(),
        raw.as_secs_f64(),
        cold.as_secs_f64() / raw.as_secs_f64()
    );
    println!(
        "  cold sync moved {} requests and {} KiB between the planes",
        traffic.requests.load(Ordering::Relaxed),
        traffic.bytes.load(Ordering::Relaxed) / 1024
    );

    // Let the first reports land, then an idle minute.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (requests, bytes, patches) = (
        traffic.requests.load(Ordering::Relaxed),
        traffic.bytes.load(Ordering::Relaxed),
        api.count("PATCH"),
    );
    tokio::time::sleep(idle).await;
    println!(
        "idle for {} s: {} requests, {} bytes between the planes; {} writes to Kubernetes",
        idle.as_secs(),
        traffic.requests.load(Ordering::Relaxed) - requests,
        traffic.bytes.load(Ordering::Relaxed) - bytes,
        api.count("PATCH") - patches,
    );

    // From an API change to the data plane's apply.
    let http = reqwest::Client::new();
    let signup = http
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
    let signup: serde_json::Value = signup.json().await.unwrap();
    let org = signup["organization"]["id"].as_str().unwrap().to_owned();
    let key: serde_json::Value = http
        .post(format!("{base}/v1/organizations/{org}/api-keys"))
        .header("cookie", &cookie)
        .json(&json!({ "name": "bench" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["token"].as_str().unwrap().to_owned();
    // Starter, so that the disk may grow (no payment provider: no card).
    let plan = http
        .put(format!("{base}/v1/organizations/{org}/billing/plan"))
        .header("cookie", &cookie)
        .json(&json!({ "plan": "starter" }))
        .send()
        .await
        .unwrap();
    assert!(plan.status().is_success(), "{}", plan.text().await.unwrap());
    let created: serde_json::Value = http
        .post(format!("{base}/v1/organizations/{org}/clusters"))
        .bearer_auth(&key)
        .json(&json!({ "name": "latency", "region": "eu-west" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let ns = format!("qm-{}", org.replace('-', ""));
    let mut latencies = Vec::with_capacity(CHANGES);
    let from = usize::try_from(created["spec"]["storage_gib"].as_u64().unwrap()).unwrap() + 1;
    for gib in from..from + CHANGES {
        let started = Instant::now();
        let answer = http
            .patch(format!("{base}/v1/organizations/{org}/clusters/{id}"))
            .bearer_auth(&key)
            .json(&json!({ "storage_gib": gib }))
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "{}",
            answer.text().await.unwrap()
        );
        loop {
            let applied = api
                .get::<VectorCluster>(&ns, "latency")
                .is_some_and(|c| c.spec.resources.storage_gib as usize == gib);
            if applied {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!(
        "API change to the data plane's apply, over {CHANGES} changes: p50 {:.1} ms, max {:.1} ms",
        latencies[CHANGES / 2].as_secs_f64() * 1e3,
        latencies[CHANGES - 1].as_secs_f64() * 1e3,
    );
    println!(
        "memory: {} MiB resident at the end (control plane, data plane and both API servers)",
        common::memory("VmRSS") >> 20
    );
    scratch.drop().await;
}
