//! `quartermaster-operator`: prints the CRDs, runs the controller with
//! leader election and a Prometheus endpoint, or the sync loop of a
//! connected data plane. Logs and traces as the
//! `telemetry` crate sets them up.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::runtime::controller;
use kube::runtime::watcher;
use kube::{Api, Client};
use operator::VectorCluster;
use operator::backup::qdrant::SnapshotApi;
use operator::backup::run::{self, Source};
use operator::backup::store::{Destination, Store};
use operator::build::SystemNamespaces;
use operator::children::Children;
use operator::collector::{self, spool::Spool, spool::deliver};
use operator::controllers;
use operator::crd::backup::{VectorClusterBackup, VectorClusterRestore};
use operator::crd::inference_endpoint::InferenceEndpoint;
use operator::engine::QdrantHttp;
use operator::lease::{self, Candidate};
use operator::metrics::Metrics;
use operator::names::MANAGED_BY;
use operator::own_writes::OwnWrites;
use operator::reconcile::events::KubeEvents;
use operator::reconcile::{Context, backup, endpoint, measured};
use prometheus_client::registry::Registry;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(
    name = "quartermaster-operator",
    version,
    about = "Reconciles Quartermaster's custom resources"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Sample usage every interval and report it to the control plane.
    Collect {
        /// The control plane's `POST /v1/usage/events` URL.
        #[arg(long, env = "QM_INGEST_URL")]
        ingest_url: String,
        /// A file holding the data plane's credential (the Secret the sync
        /// loop keeps), or an ingest token of a data plane not yet switched.
        #[arg(long, env = "QM_INGEST_TOKEN_FILE")]
        token_file: std::path::PathBuf,
        /// Where reports wait until acknowledged; keep it on a volume.
        #[arg(long, default_value = "/var/lib/quartermaster/usage-spool")]
        spool_dir: std::path::PathBuf,
        /// This data plane's name, in each event's `source`.
        #[arg(long, env = "QM_DATA_PLANE")]
        data_plane: String,
        #[arg(long, default_value_t = 60)]
        interval_seconds: u64,
    },
    /// Run the controller.
    Run {
        /// The operator's namespace (for its Lease and the clusters' NetworkPolicies).
        #[arg(long, env = "POD_NAMESPACE", default_value = "quartermaster-system")]
        namespace: String,
        /// This replica's name in the Lease.
        #[arg(long, env = "POD_NAME")]
        identity: Option<String>,
        #[arg(long, default_value = "0.0.0.0:9090")]
        metrics_listen: SocketAddr,
        /// Reconciles at once, per controller; kube-rs runs unboundedly
        /// many otherwise.
        #[arg(long, env = "QM_CONCURRENCY", default_value_t = controllers::DEFAULT_CONCURRENCY)]
        concurrency: u16,
        /// The namespace of the Prometheus that scrapes tenants' metrics
        /// ports; empty: none is admitted.
        #[arg(long, env = "QM_PROMETHEUS_NAMESPACE", default_value = "monitoring")]
        prometheus_namespace: String,
        /// The namespace of the ingress controller or inference gateway in
        /// front of endpoints; empty: none is admitted.
        #[arg(long, env = "QM_GATEWAY_NAMESPACE", default_value = "")]
        gateway_namespace: String,
        /// The image backup and restore Jobs run: this operator's own.
        #[arg(long, env = "QM_OPERATOR_IMAGE", default_value = concat!("ghcr.io/quartermaster/quartermaster-operator:", env!("CARGO_PKG_VERSION")))]
        backup_image: String,
    },
    /// Pull this data plane's desired state from the control plane, apply
    /// it, and report status back (a connected data plane).
    Sync(SyncArgs),
    /// Back a cluster up into a bucket (what a backup Job runs).
    Backup {
        #[command(flatten)]
        transfer: Transfer,
        /// The Qdrant version the cluster runs, for the manifest.
        #[arg(long)]
        version: String,
    },
    /// Restore a backup into a cluster (what a restore Job runs).
    Restore {
        #[command(flatten)]
        transfer: Transfer,
        /// Where snapshots are checked before they are loaded.
        #[arg(long, default_value = "/work")]
        workdir: std::path::PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct SyncArgs {
    /// The control plane's base URL.
    #[arg(long, env = "QM_CONTROL_PLANE_URL")]
    control_plane: String,
    /// A file with the one-time enrollment token (used when no credential
    /// is kept yet).
    #[arg(long, env = "QM_ENROLLMENT_TOKEN_FILE")]
    enrollment_token_file: std::path::PathBuf,
    /// The operator's namespace: the credential's Secret and the backup key's.
    #[arg(long, env = "POD_NAMESPACE", default_value = "quartermaster-system")]
    namespace: String,
    /// This data plane's backup bucket; none: clusters' backup policies are left out.
    #[arg(long, env = "QM_BACKUP_BUCKET")]
    backup_bucket: Option<String>,
    #[arg(
        long,
        env = "QM_BACKUP_ENDPOINT",
        default_value = "https://s3.amazonaws.com"
    )]
    backup_endpoint: String,
    #[arg(long, env = "QM_BACKUP_REGION", default_value = "us-east-1")]
    backup_region: String,
    /// Put before each cluster's own prefix (its id).
    #[arg(long, env = "QM_BACKUP_PREFIX")]
    backup_prefix: Option<String>,
    /// A Secret in the namespace with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
    #[arg(long, env = "QM_BACKUP_CREDENTIALS_SECRET")]
    backup_credentials_secret: Option<String>,
    #[arg(long, default_value_t = 24)]
    rotate_after_hours: u64,
}

impl SyncArgs {
    fn config(self) -> operator::sync::Config {
        let mut config = operator::sync::Config::new(
            self.control_plane,
            self.namespace,
            self.enrollment_token_file,
        );
        config.backup = operator::sync::LocalBackup {
            bucket: self.backup_bucket.filter(|b| !b.is_empty()),
            endpoint: self.backup_endpoint,
            region: self.backup_region,
            prefix: self.backup_prefix,
        };
        config.backup_credentials_secret = self.backup_credentials_secret.filter(|s| !s.is_empty());
        config.rotate_after = Duration::from_secs(self.rotate_after_hours.max(1) * 3600);
        config
    }
}

/// A backup's place in a bucket, and the cluster's nodes.
#[derive(Debug, clap::Args)]
struct Transfer {
    /// `namespace/name` of the cluster.
    #[arg(long)]
    cluster: String,
    /// The backup's name (its VectorClusterBackup's).
    #[arg(long)]
    backup: String,
    #[arg(long)]
    bucket: String,
    #[arg(long, default_value = "")]
    prefix: String,
    #[arg(long)]
    endpoint: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Each node's API URL, in ordinal order.
    #[arg(long = "node", required = true)]
    nodes: Vec<String>,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    access_key_id: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: String,
    #[arg(long, env = "QDRANT_API_KEY", hide_env_values = true)]
    qdrant_api_key: String,
}

impl Transfer {
    fn open(&self) -> anyhow::Result<(SnapshotApi, Store)> {
        let store = Store::s3(&Destination {
            bucket: self.bucket.clone(),
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
        })?;
        Ok((SnapshotApi::new(&self.qdrant_api_key)?, store))
    }
}

const SERVICE: telemetry::Service = telemetry::Service {
    name: "quartermaster-operator",
    version: env!("CARGO_PKG_VERSION"),
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| {
            let telemetry = telemetry::init(SERVICE, runtime.handle())?;
            let result = runtime.block_on(run(cli));
            // The last spans are sent on the runtime: before it goes.
            drop(telemetry);
            result
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "quartermaster-operator: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crd => {
            let mut out = std::io::stdout().lock();
            for crd in operator::crd::all() {
                out.write_all(b"---\n")?;
                out.write_all(serde_yaml::to_string(&crd)?.as_bytes())?;
            }
            Ok(())
        }
        Command::Collect {
            ingest_url,
            token_file,
            spool_dir,
            data_plane,
            interval_seconds,
        } => {
            // Read again before each delivery: a connected data plane's
            // credential is rotated in its Secret, and the file follows.
            let read_token = || -> anyhow::Result<String> {
                Ok(std::fs::read_to_string(&token_file)
                    .with_context(|| format!("reading {}", token_file.display()))?
                    .trim()
                    .to_owned())
            };
            read_token()?;
            let client = Client::try_default()
                .await
                .context("connecting to Kubernetes")?;
            let spool = Spool::open(&spool_dir)
                .with_context(|| format!("opening {}", spool_dir.display()))?;
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?;
            let source = format!("dataplane/{data_plane}/collector");
            let qdrant = QdrantHttp::new()?;
            let interval = chrono::Duration::seconds(i64::try_from(interval_seconds).unwrap_or(60));
            let mut ticker = tokio::time::interval(Duration::from_secs(interval_seconds));
            let mut counters = collector::requests::Counters::default();
            // As PID 1 in a container nothing else ends it on SIGTERM: a pass
            // under way finishes (its report is spooled), then it stops.
            let mut terminate = signal(SignalKind::terminate())?;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = terminate.recv() => break,
                    _ = tokio::signal::ctrl_c() => break,
                }
                let now = chrono::Utc::now();
                match collector::running(&client, &qdrant, &mut counters).await {
                    Ok(running) => {
                        let events = collector::sample(&source, now, interval, &running);
                        if !events.is_empty() {
                            spool.put(now.timestamp(), &events)?;
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "listing resources to sample failed"),
                }
                let token = match read_token() {
                    Ok(token) => token,
                    Err(err) => {
                        tracing::warn!(error = %err, "reading the token failed; reports wait in the spool");
                        continue;
                    }
                };
                if let Err(err) = deliver(&spool, &http, &ingest_url, &token).await {
                    tracing::warn!(error = %err, "reading the usage spool failed");
                }
            }
            tracing::info!(
                pending = spool.pending().map_or(0, |p| p.len()),
                "stopping; reports not yet acknowledged wait in the spool"
            );
            Ok(())
        }
        Command::Run {
            namespace,
            identity,
            metrics_listen,
            concurrency,
            prometheus_namespace,
            gateway_namespace,
            backup_image,
        } => {
            let client = Client::try_default()
                .await
                .context("connecting to Kubernetes")?;
            let metrics = Arc::new(Metrics::default());
            let mut registry = Registry::with_prefix("quartermaster_operator");
            metrics.register(&mut registry);
            telemetry::metrics::serve(metrics_listen, registry)
                .await
                .with_context(|| format!("listening on {metrics_listen} for metrics"))?;
            let identity =
                identity.unwrap_or_else(|| format!("{MANAGED_BY}-{}", std::process::id()));
            let candidate = Candidate {
                name: MANAGED_BY.to_owned(),
                namespace: namespace.clone(),
                identity: identity.clone(),
                duration: Duration::from_secs(15),
            };
            let held = lease::hold(client.clone(), candidate).await;
            let http = Arc::new(QdrantHttp::new()?);
            let children = Children::default();
            let watches = controllers::watch_children(&client, &children);
            let ctx = Arc::new(Context {
                client: client.clone(),
                engine: http.clone(),
                requests: http,
                events: Arc::new(KubeEvents::new(client.clone(), Some(identity))),
                metrics,
                system: SystemNamespaces {
                    operator: namespace,
                    prometheus: Some(prometheus_namespace).filter(|n| !n.is_empty()),
                    gateway: Some(gateway_namespace).filter(|n| !n.is_empty()),
                },
                backup_image: backup_image.clone(),
                children,
                own_writes: OwnWrites::default(),
            });
            let jobs = watcher::Config::default()
                .labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}"));
            let config = controller::Config::default().concurrency(concurrency);
            let clusters =
                controllers::vector_clusters(ctx.clone(), watches.statefulsets, config.clone());
            let endpoints =
                controllers::of::<InferenceEndpoint>(&client, &ctx.events, config.clone())
                    .owns_stream(watches.deployments)
                    .shutdown_on_signal()
                    .run(
                        measured("inference_endpoint", endpoint::reconcile),
                        endpoint::error_policy,
                        ctx.clone(),
                    )
                    .for_each(|_| async {});
            let schedules = controllers::of::<VectorCluster>(&client, &ctx.events, config.clone())
                .shutdown_on_signal()
                .run(
                    measured("backup_schedule", backup::schedule),
                    backup::error_policy,
                    ctx.clone(),
                )
                .for_each(|_| async {});
            let backups =
                controllers::of::<VectorClusterBackup>(&client, &ctx.events, config.clone())
                    .owns(Api::<Job>::all(client.clone()), jobs.clone())
                    .shutdown_on_signal()
                    .run(
                        measured("backup", backup::run),
                        backup::error_policy,
                        ctx.clone(),
                    )
                    .for_each(|_| async {});
            let restores = controllers::of::<VectorClusterRestore>(&client, &ctx.events, config)
                .owns(Api::<Job>::all(client), jobs)
                .shutdown_on_signal()
                .run(
                    measured("restore", backup::restore),
                    backup::error_policy,
                    ctx,
                )
                .for_each(|_| async {});
            // Each controller stops at SIGTERM or Ctrl-C once its reconciles
            // finish; then the lease goes, so a successor need not wait.
            // The children's other watches run until the controllers stop.
            let controllers = async {
                futures::join!(clusters, endpoints, schedules, backups, restores);
            };
            futures::pin_mut!(controllers);
            futures::future::select(controllers, watches.stores).await;
            held.release().await;
            Ok(())
        }
        Command::Sync(args) => {
            let client = Client::try_default()
                .await
                .context("connecting to Kubernetes")?;
            let mut terminate = signal(SignalKind::terminate())?;
            let shutdown = async move {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            };
            operator::sync::run(args.config(), client, shutdown).await?;
            Ok(())
        }
        Command::Backup { transfer, version } => {
            let (api, store) = transfer.open()?;
            let source = Source {
                cluster: &transfer.cluster,
                version: &version,
                nodes: &transfer.nodes,
            };
            let manifest =
                run::take(&api, &store, &transfer.prefix, &transfer.backup, &source).await?;
            tracing::info!(
                backup = %transfer.backup,
                snapshots = manifest.snapshots.len(),
                bytes = manifest.size(),
                "backup complete"
            );
            Ok(())
        }
        Command::Restore { transfer, workdir } => {
            let (api, store) = transfer.open()?;
            let manifest = run::restore(
                &api,
                &store,
                &transfer.prefix,
                &transfer.backup,
                &transfer.nodes,
                &workdir,
            )
            .await?;
            tracing::info!(
                backup = %transfer.backup,
                collections = manifest.collections().len(),
                "restore complete"
            );
            Ok(())
        }
    }
}
