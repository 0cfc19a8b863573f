//! Rebalancing 100 collections from 2 to 6 nodes against the Qdrant
//! stand-in, in one process: the operator's own work per transfer (reading
//! Qdrant's layout, deciding) against the transfer request itself.
//!
//! `cargo bench -p operator --bench rebalance`
//!
//! 100 collections of 6 shards at factor 1 start on two peers; four peers
//! join. Each step reads the layout over HTTP (`GET /cluster`,
//! `GET /collections`, one `GET /collections/{c}/cluster` each), plans
//! (`shards::plan`) and starts one operation; the stand-in then ends the
//! transfer at once (a real one moves data: seconds to hours). Prints the
//! transfers, the time of each part per transfer, and the ratio of the
//! operator's overhead to the transfer request.

#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark program"
)]

#[path = "../tests/reconcile/qdrant.rs"]
#[expect(
    dead_code,
    reason = "the stand-in serves the tests more than this benchmark uses"
)]
mod qdrant;
#[path = "../tests/common/qdrant_schema.rs"]
mod qdrant_schema;

use std::time::{Duration, Instant};

use operator::engine::{Engine, QdrantHttp};
use operator::reconcile::shards::{self, Plan};

#[tokio::main]
async fn main() {
    let names: Vec<String> = (0..100).map(|i| format!("collection-{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut cluster = qdrant::Cluster::new(2, &refs, 6);
    for n in 2..6u64 {
        cluster
            .peers
            .insert(101 + n, format!("http://search-{n}.search-peers:6335/"));
    }
    let (url, state) = qdrant::serve(cluster).await;
    let http = QdrantHttp::new().unwrap();
    let key = qdrant::API_KEY;

    let (mut reading, mut deciding, mut transferring) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut transfers = 0u32;
    let started = Instant::now();
    loop {
        let t = Instant::now();
        let layout = http.layout(&url, key, "search").await.unwrap();
        reading += t.elapsed();
        let t = Instant::now();
        let plan = shards::plan(&layout, 6, 1);
        deciding += t.elapsed();
        let Plan::Act { operation, .. } = plan else {
            assert_eq!(plan, Plan::Settled, "a still stand-in never makes it wait");
            break;
        };
        let t = Instant::now();
        http.operate(&url, key, &operation).await.unwrap();
        transferring += t.elapsed();
        transfers += 1;
        state.lock().unwrap().finish_transfers();
    }
    let total = started.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(transfers.max(1));
    let mut load = std::collections::BTreeMap::<u64, usize>::new();
    for collection in state.lock().unwrap().collections.values() {
        for replicas in collection.shards.values() {
            for peer in replicas.keys() {
                *load.entry(*peer).or_default() += 1;
            }
        }
    }
    println!("rebalance 100 collections × 6 shards, 2 → 6 nodes");
    println!(
        "  transfers: {transfers} in {:.2} s; replicas per peer now {load:?}",
        total.as_secs_f64()
    );
    println!(
        "  per transfer: reading the layout {:.0} µs, deciding {:.1} µs, the transfer request {:.0} µs",
        per(reading),
        per(deciding),
        per(transferring)
    );
    println!(
        "  operator overhead / transfer request: {:.1}",
        (reading + deciding).as_secs_f64() / transferring.as_secs_f64().max(f64::EPSILON)
    );
}
