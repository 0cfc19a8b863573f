//! Commands and their arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::local_postgres::LocalPostgres;
use crate::server;

#[derive(Debug, Parser)]
#[command(
    name = "quartermaster",
    version,
    about = "The Quartermaster control plane"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API (migrations are applied first).
    Serve(ServeArgs),
    /// Apply the database migrations and exit.
    Migrate {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Register and list data planes (one Kubernetes cluster per region).
    #[command(subcommand)]
    Dataplane(DataplaneCommand),
    /// Close billing periods by hand.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// Administer the platform.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Run everything on this machine: a throwaway PostgreSQL unless
    /// DATABASE_URL is set, and a simulated data plane.
    Dev {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Serve Prometheus metrics at this address too.
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// Where the simulated data plane's inference gateway listens.
        #[arg(long, default_value = "127.0.0.1:8081")]
        gateway_listen: SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
enum DataplaneCommand {
    /// Register a data plane for a region. Its operator connects to the
    /// control plane with the one-time enrollment token printed here; no
    /// kubeconfig is asked for or kept.
    Add {
        name: String,
        #[arg(long)]
        region: String,
        /// Where its inference gateway answers customers, such as
        /// https://inference.eu-west.example.com (clients add /v1).
        #[arg(long)]
        gateway_url: Option<String>,
        /// Its operator chart names a backup bucket: offer backups there.
        #[arg(long)]
        backups: bool,
        /// How long the enrollment token can be used.
        #[arg(long, default_value_t = 24)]
        token_ttl_hours: u32,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// A new one-time enrollment token for a data plane: one whose token was
    /// lost or expired, or one pushed to through a kubeconfig, which its
    /// enrollment switches to connecting (and whose kubeconfig it deletes).
    EnrollmentToken {
        name: String,
        #[arg(long, default_value_t = 24)]
        token_ttl_hours: u32,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Revoke a connected data plane: its credentials stop working at once.
    Revoke {
        name: String,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Set where a data plane's inference gateway answers, or clear it.
    GatewayUrl {
        name: String,
        /// An http:// or https:// URL; left out, the data plane has none.
        url: Option<String>,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// List the data planes and how each stands.
    List {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
}

#[derive(Debug, Subcommand)]
enum BillingCommand {
    /// Rate a period's usage into invoices for every organization. Safe to
    /// run twice: an organization's invoice for a period is written once.
    Close {
        /// The month, as YYYY-MM.
        #[arg(long)]
        period: billing::Period,
        /// Leave the new invoices as drafts instead of opening them for payment.
        #[arg(long)]
        draft: bool,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Make an existing user a platform administrator.
    Grant {
        #[arg(long)]
        email: String,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
}

/// Collecting payment through Stripe (or a Stripe-compatible server).
#[derive(Debug, Args)]
pub struct StripeArgs {
    /// Stripe secret key; without it, payments are off (paid plans need no card).
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    stripe_secret_key: Option<String>,
    /// Stripe's API base, ending with a slash (for localstripe).
    #[arg(long, env = "STRIPE_API_BASE")]
    stripe_api_base: Option<String>,
    /// The webhook endpoint's signing secret.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    stripe_webhook_secret: Option<String>,
    #[arg(long, env = "STRIPE_PUBLISHABLE_KEY")]
    stripe_publishable_key: Option<String>,
    /// Days an invoice may stay unpaid past due before suspension.
    #[arg(long, env = "QM_DUNNING_GRACE_DAYS", default_value_t = 14)]
    grace_days: u32,
}

impl StripeArgs {
    fn payments(&self) -> anyhow::Result<Option<dashboard_api::Payments>> {
        let Some(secret) = &self.stripe_secret_key else {
            return Ok(None);
        };
        let webhook_secret = self.stripe_webhook_secret.clone().context(
            "STRIPE_WEBHOOK_SECRET is needed with STRIPE_SECRET_KEY, to verify Stripe's events",
        )?;
        let provider = billing::payments::stripe::StripeProvider::new(
            secret,
            self.stripe_api_base.as_deref(),
        )?;
        Ok(Some(dashboard_api::Payments {
            provider: std::sync::Arc::new(provider),
            webhook_secret,
            publishable_key: self.stripe_publishable_key.clone(),
        }))
    }

    fn grace(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.grace_days))
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[arg(long, default_value = "0.0.0.0:8080", env = "QM_LISTEN")]
    listen: SocketAddr,
    /// Serve Prometheus metrics on this address (`/metrics`), apart from
    /// the API; without it, metrics are not served.
    #[arg(long, env = "QM_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// A plan catalog (TOML) to use instead of the built-in one.
    #[arg(long, env = "QM_CATALOG")]
    catalog: Option<PathBuf>,
    /// Send cookies without the `Secure` flag (only for plain-HTTP testing).
    #[arg(long)]
    insecure_cookies: bool,
    /// Where customers reach the dashboard (`https://console.example.com`),
    /// for links in invitations and back from Stripe Checkout; without it,
    /// each request's Host.
    #[arg(long, env = "QM_PUBLIC_URL")]
    public_url: Option<String>,
    #[command(flatten)]
    stripe: StripeArgs,
    #[command(flatten)]
    mail: MailArgs,
}

/// Sending email (invitations); without a server, invitation links are only
/// shown to the inviter.
#[derive(Debug, Args)]
struct MailArgs {
    /// The mail server: smtp://host:25, smtp://user:password@host:587?tls=required
    /// (STARTTLS) or smtps://user:password@host:465.
    #[arg(
        long,
        env = "QM_SMTP_URL",
        hide_env_values = true,
        requires = "mail_from"
    )]
    smtp_url: Option<String>,
    /// The sender, such as `Quartermaster <noreply@example.com>`.
    #[arg(long, env = "QM_MAIL_FROM")]
    mail_from: Option<String>,
}

impl MailArgs {
    fn mailer(&self) -> anyhow::Result<Option<std::sync::Arc<dyn control_plane::mail::Mailer>>> {
        let (Some(url), Some(from)) = (&self.smtp_url, &self.mail_from) else {
            return Ok(None);
        };
        let mailer = control_plane::mail::SmtpMailer::new(url, from)?;
        Ok(Some(std::sync::Arc::new(mailer)))
    }
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => {
                let catalog = match &args.catalog {
                    Some(path) => {
                        let text = std::fs::read_to_string(path)
                            .with_context(|| format!("reading the catalog {}", path.display()))?;
                        billing::Catalog::from_toml(&text)?
                    }
                    None => billing::Catalog::default_catalog()?,
                };
                let options = server::Options {
                    listen: args.listen,
                    metrics_listen: args.metrics_listen,
                    public_url: args.public_url,
                    secure_cookies: !args.insecure_cookies,
                    catalog,
                    simulated: None,
                    payments: args.stripe.payments()?,
                    grace: args.stripe.grace(),
                    mailer: args.mail.mailer()?,
                };
                server::run(&args.database_url, options).await
            }
            Command::Migrate { database_url } => {
                let pool = server::connect(&database_url).await?;
                control_plane::db::migrate(&pool).await?;
                server::say("migrations applied");
                Ok(())
            }
            Command::Dataplane(command) => dataplane(command).await,
            Command::Billing(command) => billing_command(command).await,
            Command::Admin(AdminCommand::Grant {
                email,
                database_url,
            }) => {
                let email = control_plane::accounts::Email::parse(&email)
                    .map_err(|e| anyhow::anyhow!("`{email}` is not an email address: {e}"))?;
                let pool = server::connect(&database_url).await?;
                let mut conn = pool.acquire().await?;
                control_plane::admin::grant(&mut conn, &email)
                    .await
                    .with_context(|| format!("granting {email}"))?;
                server::say(&format!("{email} is now a platform administrator"));
                Ok(())
            }
            Command::Dev {
                listen,
                metrics_listen,
                database_url,
                gateway_listen,
            } => {
                // Held until the server stops; dropping it stops PostgreSQL.
                let (_local, url) = match database_url {
                    Some(url) => (None, url),
                    None => {
                        server::say("starting a throwaway PostgreSQL…");
                        let local = LocalPostgres::start().await?;
                        let url = local.url();
                        (Some(local), url)
                    }
                };
                let options = server::Options {
                    listen,
                    metrics_listen,
                    public_url: None,
                    secure_cookies: false,
                    catalog: billing::Catalog::default_catalog()?,
                    simulated: Some(server::Simulated {
                        region: "local",
                        gateway_listen,
                    }),
                    payments: None,
                    grace: billing::dunning::DEFAULT_GRACE,
                    mailer: None,
                };
                server::run(&url, options).await
            }
        }
    }
}

async fn billing_command(command: BillingCommand) -> anyhow::Result<()> {
    let BillingCommand::Close {
        period,
        draft,
        database_url,
    } = command;
    let pool = server::connect(&database_url).await?;
    control_plane::db::migrate(&pool).await?;
    let published =
        billing::catalog_store::ensure(&pool, &billing::Catalog::default_catalog()?).await?;
    server::say(&format!(
        "closing {period} with catalog version {}…",
        published.version
    ));
    let mut last_shown = 0;
    let mut progress = |done: usize, total: usize| {
        // Every tenth of the way, and at the end.
        if done == total || done * 10 / total.max(1) > last_shown {
            last_shown = done * 10 / total.max(1);
            server::say(&format!("  {done} of {total} invoices written"));
        }
    };
    let report = billing::close::close(
        &pool,
        &published,
        period,
        chrono::Utc::now(),
        (!draft).then_some(&control_plane::webhooks::InvoiceEvents as _),
        &mut progress,
    )
    .await?;
    server::say(&format!(
        "{period}: {} invoices created ({} already closed, {} with nothing to bill), \
         {} rollup rows rated, {} billed",
        report.created,
        report.already_closed,
        report.nothing_to_bill,
        report.rollup_rows,
        billing::money::format(report.billed_minor, &published.catalog.currency)
    ));
    if !report.failed.is_empty() {
        for (organization, reason) in &report.failed {
            server::say(&format!(
                "  not closed: organization {organization}: {reason}"
            ));
        }
        anyhow::bail!(
            "{} organizations could not be rated; fix the catalog and run the close again",
            report.failed.len()
        );
    }
    Ok(())
}

async fn dataplane(command: DataplaneCommand) -> anyhow::Result<()> {
    use control_plane::data_planes::{self, enrollment};
    let ttl = |hours: u32| chrono::Duration::hours(i64::from(hours));
    let enroll_with = |token: &str| {
        server::say(&format!("enrollment token (shown once): {token}"));
        server::say("give it to the operator chart: --set controlPlane.enrollmentToken=<token>");
    };
    match command {
        DataplaneCommand::Add {
            name,
            region,
            gateway_url,
            backups,
            token_ttl_hours,
            database_url,
        } => {
            let pool = server::connect(&database_url).await?;
            control_plane::db::migrate(&pool).await?;
            let mut conn = pool.acquire().await?;
            let plane = enrollment::NewDataPlane {
                name: &name,
                region: &region,
                organization_id: None,
                price_list: None,
                backups,
                gateway_url: gateway_url.as_deref(),
            };
            let (_, token) =
                enrollment::register(&mut conn, &plane, ttl(token_ttl_hours), chrono::Utc::now())
                    .await?;
            server::say(&format!("data plane `{name}` now serves region `{region}`"));
            enroll_with(&token);
            Ok(())
        }
        DataplaneCommand::EnrollmentToken {
            name,
            token_ttl_hours,
            database_url,
        } => {
            let pool = server::connect(&database_url).await?;
            let mut tx = pool.begin().await?;
            let id = data_planes::id_of(&mut tx, &name).await?;
            let token =
                enrollment::issue(&mut tx, id, ttl(token_ttl_hours), chrono::Utc::now()).await?;
            tx.commit().await?;
            enroll_with(&token);
            Ok(())
        }
        DataplaneCommand::Revoke { name, database_url } => {
            let pool = server::connect(&database_url).await?;
            let mut conn = pool.acquire().await?;
            let id = data_planes::id_of(&mut conn, &name).await?;
            enrollment::revoke(&mut conn, id, "cli", chrono::Utc::now()).await?;
            server::say(&format!("data plane `{name}` is revoked"));
            Ok(())
        }
        DataplaneCommand::GatewayUrl {
            name,
            url,
            database_url,
        } => {
            let url = url
                .as_deref()
                .map(control_plane::data_planes::gateway_url)
                .transpose()?;
            let pool = server::connect(&database_url).await?;
            let mut conn = pool.acquire().await?;
            control_plane::data_planes::set_gateway_url(&mut conn, &name, url.as_deref()).await?;
            server::say(&match url {
                Some(url) => format!("data plane `{name}`'s inference gateway: {url}"),
                None => format!("data plane `{name}` has no inference gateway"),
            });
            Ok(())
        }
        DataplaneCommand::List { database_url } => {
            let pool = server::connect(&database_url).await?;
            let mut conn = pool.acquire().await?;
            for plane in data_planes::standing::list(&mut conn, chrono::Utc::now()).await? {
                let owner = plane
                    .organization_name
                    .map_or(String::new(), |o| format!("\tcustomer-run by {o}"));
                server::say(&format!(
                    "{}\t{}\t{}{owner}",
                    plane.region,
                    plane.name,
                    plane.standing.as_str()
                ));
            }
            Ok(())
        }
    }
}
