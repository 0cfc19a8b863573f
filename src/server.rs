//! Starting the API: the pool, migrations, the listeners, the workers.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use billing::payments::metered::{Metered, PaymentMetrics};
use dashboard_api::{AppState, Config};
use prometheus_client::registry::Registry;
use sqlx::PgPool;

use crate::dev_gateway;

#[derive(Debug)]
pub struct Options {
    pub listen: SocketAddr,
    /// Where Prometheus metrics are served; `None`: they are not.
    pub metrics_listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub secure_cookies: bool,
    pub catalog: billing::Catalog,
    /// Run a simulated data plane, with its inference gateway (for `dev`).
    pub simulated: Option<Simulated>,
    pub payments: Option<dashboard_api::Payments>,
    /// How long an invoice may stay unpaid past due before suspension.
    pub grace: chrono::Duration,
    /// Sends invitations by email; `None`: links are only shown.
    pub mailer: Option<std::sync::Arc<dyn control_plane::mail::Mailer>>,
}

/// The simulated data plane of `dev`.
#[derive(Debug, Clone, Copy)]
pub struct Simulated {
    pub region: &'static str,
    /// Where its inference gateway listens.
    pub gateway_listen: SocketAddr,
}

/// The simulated data plane's name.
const SIMULATED: &str = "simulated-local";

/// A line for the person at the terminal.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    control_plane::db::connect(url)
        .await
        .context("connecting to PostgreSQL (is DATABASE_URL right, and the server up?)")
}

pub async fn run(database_url: &str, options: Options) -> anyhow::Result<()> {
    let pool = connect(database_url).await?;
    control_plane::db::migrate(&pool)
        .await
        .context("applying migrations")?;
    let simulated_plane = match options.simulated {
        Some(simulated) => {
            let mut conn = pool.acquire().await?;
            let id = control_plane::data_planes::ensure_simulated(
                &mut conn,
                SIMULATED,
                simulated.region,
            )
            .await?;
            Some((id, simulated))
        }
        None => None,
    };
    let provisioner = control_plane::provisioner::Provisioner::new(
        pool.clone(),
        control_plane::provisioner::SIMULATED_DELAY,
    );
    let provisioning = tokio::spawn(provisioner.run(std::time::Duration::from_secs(1)));
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let address = listener.local_addr()?;
    let payment_metrics = PaymentMetrics::default();
    let payments = options.payments.map(|mut payments| {
        payments.provider = Arc::new(Metered::new(payments.provider, payment_metrics.clone()));
        payments
    });
    let payments_on = payments.is_some();
    let config = Config {
        secure_cookies: options.secure_cookies,
        payments,
        public_url: options.public_url,
        mail: options.mailer.is_some(),
        // `dev` runs on one machine: its receivers may be too.
        webhook_urls: if options.simulated.is_some() {
            control_plane::webhooks::UrlPolicy::AllowLoopback
        } else {
            control_plane::webhooks::UrlPolicy::Public
        },
        ..Config::default()
    };
    let state = AppState::new(pool.clone(), options.catalog, config.clone())
        .await
        .context("starting the API")?;
    let worker = control_plane::money::worker::BillingWorker::new(
        pool,
        state.catalog.clone(),
        config.payments.as_ref().map(|p| p.provider.clone()),
        options.grace,
    );
    let metrics = match options.metrics_listen {
        Some(listen) => {
            let mut registry = Registry::with_prefix("quartermaster");
            state.metrics.register(&mut registry);
            payment_metrics.register(&mut registry);
            worker.register_metrics(&mut registry);
            let serving = telemetry::metrics::serve(listen, registry).await;
            Some(serving.with_context(|| format!("listening on {listen} for metrics"))?)
        }
        None => None,
    };
    let billing = tokio::spawn(worker.run(std::time::Duration::from_secs(30)));
    let webhooks = tokio::spawn(control_plane::webhooks::delivery::run(
        state.db.clone(),
        control_plane::webhooks::delivery::client(config.webhook_urls)
            .context("building the webhook client")?,
        std::time::Duration::from_secs(2),
    ));
    let mail = options.mailer.map(|mailer| {
        tokio::spawn(control_plane::mail::run(
            state.db.clone(),
            mailer,
            std::time::Duration::from_secs(5),
        ))
    });
    let gateway = match simulated_plane {
        Some((id, simulated)) => {
            let at = dev_gateway::start(
                state.db.clone(),
                id,
                format!("http://{address}"),
                simulated.gateway_listen,
            )
            .await?;
            let mut conn = state.db.acquire().await?;
            let url = format!("http://{at}");
            control_plane::data_planes::set_gateway_url(&mut conn, SIMULATED, Some(&url)).await?;
            Some(at)
        }
        None => None,
    };
    let app = dashboard_api::router(state);
    say(&format!("Quartermaster API listening on http://{address}"));
    say(&format!(
        "  OpenAPI document: http://{address}/openapi.json"
    ));
    if let Some(metrics) = metrics {
        say(&format!("  Metrics: http://{metrics}/metrics"));
    }
    if mail.is_none() {
        say("  Mail: off (set QM_SMTP_URL and QM_MAIL_FROM to email invitations)");
    }
    if !payments_on {
        say("  Payments: off (set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to collect them)");
    }
    if let Some(gateway) = gateway {
        say("  Data plane: simulated (region `local`); clusters there serve no traffic");
        say(&format!(
            "  Inference gateway: http://{gateway}/v1 (OpenAI API, in front of vLLM stand-ins)"
        ));
        say(&format!(
            "  Try: curl -i -H 'content-type: application/json' \
             -d '{{\"email\":\"you@example.com\",\"password\":\"a long password\"}}' \
             http://{address}/v1/signup"
        ));
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    provisioning.abort();
    billing.abort();
    webhooks.abort();
    if let Some(mail) = mail {
        mail.abort();
    }
    say("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
