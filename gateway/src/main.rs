//! `quartermaster-gateway`: serves the OpenAI API for a data plane's
//! inference endpoints, with keys and usage from the control plane.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use gateway::control_plane::{self, ControlPlane};
use gateway::keys::KeyStore;
use gateway::pods::Pods;
use gateway::{Gateway, router};
use prometheus_client::registry::Registry;
use tokio::signal::unix::{SignalKind, signal};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "quartermaster-gateway",
    version,
    about = "The data plane's OpenAI-compatible inference gateway"
)]
struct Cli {
    #[arg(long, env = "QM_GATEWAY_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    #[arg(long, default_value = "0.0.0.0:9090")]
    metrics_listen: SocketAddr,
    /// The control plane's base URL.
    #[arg(long, env = "QM_CONTROL_PLANE_URL")]
    control_plane_url: String,
    /// A file holding the data plane's credential (the Secret its sync loop
    /// keeps; read again for each call, as it is rotated), or the ingest
    /// token of a data plane not yet switched.
    #[arg(long, env = "QM_INGEST_TOKEN_FILE")]
    token_file: PathBuf,
    /// How often the key set is asked for; a revoked key stops working
    /// within this (plus one answer).
    #[arg(long, default_value_t = 5)]
    refresh_seconds: u64,
    /// How long the last key set is trusted while the control plane cannot
    /// be reached; after that every request is refused.
    #[arg(long, default_value_t = 900)]
    max_staleness_seconds: u64,
    /// Requests that may wait for one endpoint's cold start.
    #[arg(long, default_value_t = 64)]
    queue: usize,
    /// How often closed minutes of token usage are reported.
    #[arg(long, default_value_t = 15)]
    report_seconds: u64,
    /// This replica's name, in its usage events' source.
    #[arg(long, env = "POD_NAME", default_value = "gateway")]
    instance: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("quartermaster-gateway: starting the runtime failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    let _telemetry = match telemetry::init(
        telemetry::Service {
            name: "quartermaster-gateway",
            version: env!("CARGO_PKG_VERSION"),
        },
        runtime.handle(),
    ) {
        Ok(t) => t,
        Err(err) => {
            eprintln!("quartermaster-gateway: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("quartermaster-gateway: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let token = control_plane::Token::File(cli.token_file.clone());
    token.current()?;
    let control_plane = ControlPlane::new(&cli.control_plane_url, token, Duration::from_secs(10))?;
    let keys = Arc::new(KeyStore::new(Duration::from_secs(
        cli.max_staleness_seconds,
    )));
    let pods = Arc::new(Pods::default());
    let kubernetes = kube::Client::try_default()
        .await
        .context("connecting to this data plane's Kubernetes API")?;
    tokio::spawn(gateway::kubernetes::watch(kubernetes, Arc::clone(&pods)));
    let gateway = Arc::new(Gateway::new(
        Arc::clone(&keys),
        pods,
        Arc::new(control_plane.clone()),
        cli.queue,
    )?);

    let mut registry = Registry::with_prefix("quartermaster_gateway");
    gateway.metrics.register(&mut registry);
    telemetry::metrics::serve(cli.metrics_listen, registry).await?;
    tokio::spawn(control_plane::keep_keys(
        control_plane.clone(),
        keys,
        Arc::clone(&gateway.metrics),
        Duration::from_secs(cli.refresh_seconds),
    ));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let reporting = tokio::spawn(control_plane::keep_reporting(
        control_plane,
        Arc::clone(&gateway.ledger),
        format!("quartermaster-gateway/{}/{}", cli.instance, Uuid::new_v4()),
        Duration::from_secs(cli.report_seconds),
        async move {
            let _ = stop_rx.await;
        },
    ));
    // Kubernetes stops a pod with SIGTERM: finish the requests in flight,
    // then report every minute left, so that no served token goes unbilled.
    let mut terminate = signal(SignalKind::terminate())?;
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    tracing::info!(listen = %cli.listen, "serving the OpenAI API");
    gateway::serve_until(listener, router(gateway), async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    })
    .await?;
    // Served requests are all counted now: report every minute left.
    let _ = stop_tx.send(());
    reporting.await?;
    Ok(())
}
