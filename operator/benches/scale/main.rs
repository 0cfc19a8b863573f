//! The operator at scale: `QM_BENCH_CLUSTERS` VectorClusters (default
//! 2,000) from a cold start, against a real cluster when
//! `QM_TEST_KUBECONFIG` names one and against the in-memory apiserver
//! stand-in (`operator::fake_apiserver`, in a process of its own) otherwise.
//!
//! `cargo bench -p operator --bench operator_scale`
//!
//! Prints, each beside its goal (issue 20):
//! - the time until the operator has applied every child, over the time a
//!   raw server-side-apply loop takes to apply the same objects, one child
//!   of a cluster after another and as many clusters at once as the
//!   operator reconciles, in the same run (goal ≤ 1.3×); and over the same
//!   loop applying each cluster's children in the operator's stages, as
//!   `apply_children` does;
//! - the operator's resident memory per 1,000 clusters: what this process
//!   grew by while the operator came up and settled (goal ≤ 15 MB);
//! - the writes a resync of every settled cluster makes (goal 0 PATCH).
//!
//! The clusters are suspended, so no pod is scheduled on a real cluster:
//! the benchmark measures the operator, not the kubelet.

#![expect(
    clippy::print_stdout,
    reason = "a benchmark program prints its figures"
)]

use std::collections::BTreeMap;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::NamespaceResourceScope;
use kube::runtime::controller;
use kube::{Api, Client, Config, ResourceExt};
use operator::build::{self, ApiKeys, Desired, Rollout, SystemNamespaces, ValidatedCluster};
use operator::children::{Children, stamp};
use operator::controllers::{self, DEFAULT_CONCURRENCY};
use operator::crd::vector_cluster::NodeResources;
use operator::engine::QdrantHttp;
use operator::metrics::Metrics;
use operator::own_writes::OwnWrites;
use operator::reconcile::events::KubeEvents;
use operator::reconcile::{self, Context, FIELD_MANAGER, apply_children};
use operator::{EngineVersion, VectorCluster, VectorClusterSpec};
use tokio::io::AsyncBufReadExt;

/// Set on the child process that serves the stand-in.
const ROLE: &str = "QM_BENCH_ROLE";
const OPERATOR_NS: &str = "qm-bench-operator";
const RAW_NS: &str = "qm-bench-raw";
const STAGED_NS: &str = "qm-bench-raw-staged";
/// Children applied per cluster.
const CHILDREN: usize = 7;

fn main() -> ExitCode {
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| {
            if std::env::var(ROLE).is_ok_and(|r| r == "apiserver") {
                runtime.block_on(serve())
            } else {
                runtime.block_on(bench())
            }
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            println!("operator_scale: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The stand-in: says its port on stdout, then serves until killed.
async fn serve() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?.port());
    axum::serve(
        listener,
        operator::fake_apiserver::ApiServer::new().router(),
    )
    .await?;
    Ok(())
}

/// Requests the client sent: writes by kind, and every request by method
/// and resource, to see where a run's requests go.
#[derive(Default)]
struct Writes {
    patch: AtomicU64,
    other: AtomicU64,
    by_target: Mutex<BTreeMap<String, u64>>,
}

impl Writes {
    fn count<B>(&self, request: &http::Request<B>) {
        let method = request.method();
        match *method {
            http::Method::PATCH => self.patch.fetch_add(1, Ordering::Relaxed),
            http::Method::GET => 0,
            _ => self.other.fetch_add(1, Ordering::Relaxed),
        };
        let watch = request
            .uri()
            .query()
            .is_some_and(|q| q.contains("watch=true"));
        let target = format!(
            "{method} {}{}",
            resource(request.uri().path()),
            if watch { " (watch)" } else { "" }
        );
        *self
            .by_target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(target)
            .or_default() += 1;
    }

    fn now(&self) -> (u64, u64) {
        (
            self.patch.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed),
        )
    }

    fn targets(&self) -> BTreeMap<String, u64> {
        self.by_target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The resource a path names (`statefulsets`, `vectorclusters/status`).
fn resource(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.iter().position(|p| *p == "namespaces") {
        Some(i) if parts.len() > i + 2 => {
            let rest = &parts[i + 2..];
            match rest {
                [resource, _, sub] => format!("{resource}/{sub}"),
                [resource, ..] => (*resource).to_owned(),
                [] => String::new(),
            }
        }
        _ => parts.last().copied().unwrap_or_default().to_owned(),
    }
}

/// This process's resident memory, in bytes.
fn resident() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kib * 1024)
}

async fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) -> anyhow::Result<()> {
    let started = Instant::now();
    while !done() {
        anyhow::ensure!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn cluster(namespace: &str, i: usize) -> VectorCluster {
    let mut spec = VectorClusterSpec::new(
        EngineVersion::new(1, 13, 6),
        1,
        1,
        NodeResources {
            cpu_millicores: 500,
            memory_mib: 1024,
            storage_gib: 1,
        },
    );
    spec.suspend = true;
    let mut vc = VectorCluster::new(&format!("c{i:05}"), spec);
    vc.metadata.namespace = Some(namespace.to_owned());
    // As the control plane and the sync loop create it.
    vc.metadata.finalizers = Some(vec![reconcile::FINALIZER.to_owned()]);
    vc
}

fn system() -> SystemNamespaces {
    SystemNamespaces {
        operator: "quartermaster-system".to_owned(),
        prometheus: None,
        gateway: None,
    }
}

fn context(client: Client, children: Children) -> anyhow::Result<Arc<Context>> {
    let qdrant = Arc::new(QdrantHttp::new()?);
    Ok(Arc::new(Context {
        client: client.clone(),
        engine: qdrant.clone(),
        requests: qdrant,
        events: Arc::new(KubeEvents::new(client, Some("operator-scale".to_owned()))),
        metrics: Arc::new(Metrics::default()),
        system: system(),
        backup_image: "operator:bench".to_owned(),
        children,
        own_writes: OwnWrites::default(),
    }))
}

/// The stand-in as a child process, and a configuration that reaches it.
async fn stand_in() -> anyhow::Result<(Config, tokio::process::Child)> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .env(ROLE, "apiserver")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("the stand-in's stdout")?;
    let port = tokio::io::BufReader::new(stdout)
        .lines()
        .next_line()
        .await?
        .context("the stand-in said no port")?;
    let config = Config::new(format!("http://127.0.0.1:{port}").parse()?);
    Ok((config, child))
}

/// Installs the CRDs (a real cluster) and the namespaces (both: the
/// stand-in also refuses objects in a namespace that does not exist).
async fn prepare(client: &Client, real: bool) -> anyhow::Result<()> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    if real {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in operator::crd::all() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            crds.patch(&name, &params, &Patch::Apply(&crd)).await?;
        }
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in [OPERATOR_NS, RAW_NS, STAGED_NS] {
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name }
        }))?;
        namespaces.patch(name, &params, &Patch::Apply(&ns)).await?;
    }
    if real {
        // A custom resource is served once its CRD is established.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}

async fn bench() -> anyhow::Result<()> {
    let clusters: usize = std::env::var("QM_BENCH_CLUSTERS")
        .ok()
        .map(|n| n.parse())
        .transpose()
        .context("QM_BENCH_CLUSTERS")?
        .unwrap_or(2_000);
    let concurrency = DEFAULT_CONCURRENCY;
    let real = std::env::var_os("QM_TEST_KUBECONFIG");
    let (config, _stand_in, against) = match &real {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)?;
            let config =
                Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
            (
                config,
                None,
                format!("the cluster of {}", path.to_string_lossy()),
            )
        }
        None => {
            let (config, child) = stand_in().await?;
            (config, Some(child), "the apiserver stand-in".to_owned())
        }
    };
    let writes = Arc::new(Writes::default());
    let counter = writes.clone();
    let client = ClientBuilder::try_from(config)?
        .with_layer(&tower::util::MapRequestLayer::new(
            move |request: http::Request<kube::client::Body>| {
                counter.count(&request);
                request
            },
        ))
        .build();
    prepare(&client, real.is_some()).await?;
    println!(
        "operator_scale: {clusters} VectorClusters against {against}, {concurrency} reconciles at once"
    );

    let vcs: Api<VectorCluster> = Api::namespaced(client.clone(), OPERATOR_NS);
    create(&client, OPERATOR_NS, clusters, concurrency).await?;
    let children = clusters * CHILDREN;

    // The operator, from a cold start.
    let before = resident()?;
    let watched = Children::default();
    let watches = controllers::watch_children(&client, &watched);
    let ctx = context(client.clone(), watched)?;
    let created = writes.now();
    let targets_before = writes.targets();
    let started = Instant::now();
    let config = controller::Config::default().concurrency(concurrency);
    let running = tokio::spawn(controllers::vector_clusters(
        ctx.clone(),
        watches.statefulsets,
        config,
    ));
    let stores = tokio::spawn(watches.stores);
    let limit = Duration::from_secs(1800);
    wait_until("every child applied", limit, || {
        ctx.children.applied_count() >= children
    })
    .await?;
    let operator_time = started.elapsed();
    wait_until("every child seen by the watches", limit, || {
        ctx.children.watched() >= children
    })
    .await?;
    // Settled: nothing written for a second.
    let mut last = writes.now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = writes.now();
        if now == last {
            break;
        }
        last = now;
    }
    let grown = resident()?.saturating_sub(before);
    let cold_requests: Vec<String> = writes
        .targets()
        .into_iter()
        .map(|(target, n)| {
            (
                n - targets_before.get(&target).copied().unwrap_or(0),
                target,
            )
        })
        .filter(|(n, _)| *n > 0)
        .map(|(n, target)| format!("{target} {n}"))
        .collect();
    let (cold_patches, cold_others) = (last.0 - created.0, last.1 - created.1);

    // A resync of every cluster, with nothing to change.
    let (patches, others) = writes.now();
    let listed = vcs.list(&ListParams::default()).await?.items;
    let failed = futures::stream::iter(listed)
        .map(|vc| reconcile::reconcile(Arc::new(vc), ctx.clone()))
        .buffer_unordered(usize::from(concurrency))
        .filter(|r| std::future::ready(r.is_err()))
        .count()
        .await;
    anyhow::ensure!(failed == 0, "{failed} reconciles of the resync failed");
    let (resync_patches, resync_others) = {
        let (p, o) = writes.now();
        (p - patches, o - others)
    };
    running.abort();
    stores.abort();

    // The raw loops: the same children, applied with nothing read or
    // skipped, one after another and in stages. Their owners exist, as the
    // operator's do, or a real cluster's garbage collector would delete
    // the children as they are applied.
    let raw_time = timed(&client, clusters, concurrency, RAW_NS, |d| {
        let client = client.clone();
        async move { apply_in_turn(&client, RAW_NS, d).await }
    })
    .await?;
    let staged_ctx = context(client.clone(), Children::default())?;
    let staged_time = timed(&client, clusters, concurrency, STAGED_NS, |d| {
        let ctx = staged_ctx.clone();
        async move {
            apply_children(&ctx, STAGED_NS, d).await?;
            Ok(())
        }
    })
    .await?;

    if real.is_some() {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for name in [OPERATOR_NS, RAW_NS, STAGED_NS] {
            namespaces.delete(name, &DeleteParams::default()).await?;
        }
    }

    let per_thousand = grown as f64 / clusters as f64 * 1000.0 / 1e6;
    let operator_secs = operator_time.as_secs_f64();
    println!(
        "  every child applied ({children}): operator {operator_secs:.2} s, raw server-side-apply \
         loop {:.2} s: ratio {:.2} (goal <= 1.3); raw loop in the operator's stages {:.2} s: \
         ratio {:.2}",
        raw_time.as_secs_f64(),
        operator_secs / raw_time.as_secs_f64(),
        staged_time.as_secs_f64(),
        operator_secs / staged_time.as_secs_f64(),
    );
    // What the operator wrote beyond the children: where its time goes.
    println!(
        "  the operator's writes from the cold start until settled: {cold_patches} PATCH \
         ({children} children), {cold_others} other writes"
    );
    println!(
        "  its requests by method and resource: {}",
        cold_requests.join(", ")
    );
    println!(
        "  operator resident memory: +{:.1} MB for {clusters} clusters = {per_thousand:.1} MB per 1,000 \
         (goal <= 15)",
        grown as f64 / 1e6
    );
    println!(
        "  resync of {clusters} settled clusters: {resync_patches} PATCH, {resync_others} other writes \
         (goal 0 PATCH)"
    );
    Ok(())
}

/// Creates `clusters` VectorClusters in `namespace`, `concurrency` at once.
async fn create(
    client: &Client,
    namespace: &str,
    clusters: usize,
    concurrency: u16,
) -> anyhow::Result<Vec<VectorCluster>> {
    let vcs: Api<VectorCluster> = Api::namespaced(client.clone(), namespace);
    Ok(futures::stream::iter(0..clusters)
        .map(|i| {
            let vcs = vcs.clone();
            async move {
                vcs.create(&PostParams::default(), &cluster(namespace, i))
                    .await
            }
        })
        .buffer_unordered(usize::from(concurrency))
        .try_collect::<Vec<_>>()
        .await?)
}

/// How long `apply` takes over the children of `clusters` clusters created
/// in `namespace` (not timed), `concurrency` clusters at once.
async fn timed<F, Fut>(
    client: &Client,
    clusters: usize,
    concurrency: u16,
    namespace: &str,
    apply: F,
) -> anyhow::Result<Duration>
where
    F: Fn(Desired) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let desired = create(client, namespace, clusters, concurrency)
        .await?
        .iter()
        .map(|vc| {
            let valid = ValidatedCluster::new(vc, &system())?;
            Ok(build::desired(
                &valid,
                &ApiKeys::generate(),
                Rollout { partition: 0 },
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    futures::stream::iter(desired)
        .map(apply)
        .buffer_unordered(usize::from(concurrency))
        .try_collect::<Vec<_>>()
        .await?;
    Ok(started.elapsed())
}

/// A cluster's children applied one after another, in the order the
/// operator's stages keep.
async fn apply_in_turn(client: &Client, namespace: &str, desired: Desired) -> anyhow::Result<()> {
    let Desired {
        config_map,
        secret,
        headless_service,
        client_service,
        statefulset,
        pdb,
        network_policy,
    } = desired;
    ssa(client, namespace, &network_policy).await?;
    ssa(client, namespace, &pdb).await?;
    ssa(client, namespace, &config_map).await?;
    ssa(client, namespace, &secret).await?;
    ssa(client, namespace, &headless_service).await?;
    ssa(client, namespace, &client_service).await?;
    ssa(client, namespace, &statefulset).await
}

/// One server-side apply of `object`, stamped as the operator stamps it.
async fn ssa<K>(client: &Client, namespace: &str, object: &K) -> anyhow::Result<()>
where
    K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let (stamped, _) = stamp(object)?;
    let api = Api::<K>::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&object.name_any(), &params, &Patch::Apply(&stamped))
        .await?;
    Ok(())
}
