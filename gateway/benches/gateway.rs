//! The gateway's cost on loopback: the vLLM stand-in called directly and
//! through the gateway, in one process, the same requests at the same
//! concurrency. Prints throughput and p50/p99 latency of each, non-streaming
//! and streaming (time to first byte), and the ratios: once against an
//! engine that answers at once, once against one that takes 1 ms a token.
//!
//! `cargo bench --bench gateway` (`QM_BENCH_REQUESTS`, `QM_BENCH_CONCURRENCY`).

#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark program"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crds::gateway::{GatewayEndpoint, InferenceKey, KeySet, key_hash};
use futures::StreamExt;
use gateway::keys::{KeyStore, Keys};
use gateway::pods::{Pod, Pods, Waker};
use gateway::standin::{self, Engine};
use gateway::{Gateway, router};
use serde_json::{Value, json};
use uuid::Uuid;

const MODEL: &str = "bench/model";
const ENGINE_KEY: &str = "engine-key";
const KEY: &str = "qmi_bench";

struct Never;
impl Waker for Never {
    fn wake<'a>(
        &'a self,
        _: &'a GatewayEndpoint,
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

#[derive(Debug)]
struct Run {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn run(
    url: String,
    key: &'static str,
    body: Value,
    stream: bool,
    requests: usize,
    concurrency: usize,
) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap_or_default();
    let started = Instant::now();
    let per_worker = requests / concurrency;
    let workers = (0..concurrency).map(|_| {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                if stream {
                    let mut chunks = response.bytes_stream();
                    chunks.next().await;
                    latencies.push(t.elapsed());
                    while chunks.next().await.is_some() {}
                } else {
                    response.bytes().await.unwrap();
                    latencies.push(t.elapsed());
                }
            }
            latencies
        })
    });
    let mut all = Vec::new();
    for worker in workers.collect::<Vec<_>>() {
        all.extend(worker.await.unwrap());
    }
    let took = started.elapsed();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Run {
        per_second: all.len() as f64 / took.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn report(name: &str, direct: &Run, through: &Run) {
    println!(
        "{name:<14} direct {:>8.0} req/s p50 {:>6.2} ms p99 {:>6.2} ms | gateway {:>8.0} req/s p50 {:>6.2} ms p99 {:>6.2} ms | throughput ratio {:.2}x, p99 added {:+.2} ms",
        direct.per_second,
        direct.p50.as_secs_f64() * 1e3,
        direct.p99.as_secs_f64() * 1e3,
        through.per_second,
        through.p50.as_secs_f64() * 1e3,
        through.p99.as_secs_f64() * 1e3,
        through.per_second / direct.per_second,
        (through.p99.as_secs_f64() - direct.p99.as_secs_f64()) * 1e3,
    );
}

/// Runs `start` on a runtime of its own, in threads of its own, as if in a
/// process of its own (the engine and the gateway are pods apart; here
/// their tasks do not queue behind the load's); answers what `start` gives.
async fn apart<T, F>(start: F) -> T
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let _ = tx.send(start.await);
            std::future::pending::<()>().await;
        });
    });
    rx.await.unwrap()
}

/// The stand-in taking `token_delay` a token, called directly and
/// through a gateway, non-streaming then streaming.
async fn compare(token_delay: Duration, requests: usize, concurrency: usize) {
    let engine = Engine {
        token_delay,
        ..Engine::new(MODEL, Some(ENGINE_KEY))
    };
    let engine = apart(standin::serve(engine)).await.unwrap();
    let endpoint = Uuid::from_u128(1);
    let organization = Uuid::from_u128(2);
    let keys = Arc::new(KeyStore::new(Duration::from_secs(3600)));
    keys.replace(Keys::new(KeySet {
        keys: vec![InferenceKey {
            id: Uuid::from_u128(3),
            organization_id: organization,
            hash: key_hash(KEY),
            endpoint_id: None,
            expires_at: None,
            requests_per_minute: None,
            tokens_per_minute: None,
        }],
        refused: vec![],
        endpoints: vec![GatewayEndpoint {
            id: endpoint,
            organization_id: organization,
            name: "chat".into(),
            served_model: MODEL.into(),
            cold_start_timeout_seconds: 600,
        }],
    }));
    let pods = Arc::new(Pods::default());
    pods.set(
        endpoint,
        vec![Pod::new(engine.base_url(), Some(ENGINE_KEY.into()))],
    );
    let gateway = Arc::new(Gateway::new(keys, pods, Arc::new(Never), 64).unwrap());
    let addr = apart(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { gateway::serve(listener, router(gateway)).await.unwrap() });
        addr
    })
    .await;

    println!(
        "{requests} requests, {concurrency} at a time, on loopback; the stand-in writes 16 tokens at {} ms each",
        token_delay.as_secs_f64() * 1e3
    );
    let direct_url = format!("{}/v1/chat/completions", engine.base_url());
    let gateway_url = format!("http://{addr}/v1/chat/completions");
    let messages = json!([{"role": "user", "content": "what is a vector database"}]);
    let plain = json!({"model": MODEL, "messages": messages});
    let through = json!({"model": "chat", "messages": messages});
    let stream = |mut b: Value| {
        b["stream"] = json!(true);
        b
    };
    // Warm both paths' connections.
    run(
        direct_url.clone(),
        ENGINE_KEY,
        plain.clone(),
        false,
        concurrency * 10,
        concurrency,
    )
    .await;
    run(
        gateway_url.clone(),
        KEY,
        through.clone(),
        false,
        concurrency * 10,
        concurrency,
    )
    .await;

    let d = run(
        direct_url.clone(),
        ENGINE_KEY,
        plain.clone(),
        false,
        requests,
        concurrency,
    )
    .await;
    let g = run(
        gateway_url.clone(),
        KEY,
        through.clone(),
        false,
        requests,
        concurrency,
    )
    .await;
    report("non-streaming", &d, &g);
    let d = run(
        direct_url,
        ENGINE_KEY,
        stream(plain),
        true,
        requests,
        concurrency,
    )
    .await;
    let g = run(
        gateway_url,
        KEY,
        stream(through),
        true,
        requests,
        concurrency,
    )
    .await;
    report("streaming TTFT", &d, &g);
}

fn main() {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let requests = env("QM_BENCH_REQUESTS", 20_000);
    let concurrency = env("QM_BENCH_CONCURRENCY", 16);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // An engine that does no work: the gateway's own cost, on cores it
        // shares with the engine and the load.
        compare(Duration::ZERO, requests, concurrency).await;
        // One that takes a millisecond a token, as a small model on a GPU:
        // what a customer sees.
        compare(Duration::from_millis(1), requests / 10, concurrency).await;
    });
}
