//! Commands and their arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Run everything on this machine: a throwaway PostgreSQL unless
    /// DATABASE_URL is set, and a simulated data plane.
    Dev {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DataplaneCommand {
    /// Register a Kubernetes cluster as the data plane of a region.
    Add {
        name: String,
        #[arg(long)]
        kubeconfig: PathBuf,
        #[arg(long)]
        region: String,
        /// Register without first checking that the API server answers.
        #[arg(long)]
        no_check: bool,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// List the regions and what serves them.
    List {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[arg(long, default_value = "0.0.0.0:8080", env = "QM_LISTEN")]
    listen: SocketAddr,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// A plan catalog (TOML) to use instead of the built-in one.
    #[arg(long, env = "QM_CATALOG")]
    catalog: Option<PathBuf>,
    /// Send cookies without the `Secure` flag (only for plain-HTTP testing).
    #[arg(long)]
    insecure_cookies: bool,
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
                    secure_cookies: !args.insecure_cookies,
                    catalog,
                    simulated_region: None,
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
            Command::Dev {
                listen,
                database_url,
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
                    secure_cookies: false,
                    catalog: billing::Catalog::default_catalog()?,
                    simulated_region: Some("local"),
                };
                server::run(&url, options).await
            }
        }
    }
}

async fn dataplane(command: DataplaneCommand) -> anyhow::Result<()> {
    match command {
        DataplaneCommand::Add {
            name,
            kubeconfig,
            region,
            no_check,
            database_url,
        } => {
            let text = std::fs::read_to_string(&kubeconfig)
                .with_context(|| format!("reading {}", kubeconfig.display()))?;
            let client = control_plane::provisioner::kube_client(&text).await?;
            if !no_check {
                let version =
                    tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
                        .await
                        .map_err(|_| {
                            anyhow::anyhow!(
                                "the API server in {} did not answer within 10 s",
                                kubeconfig.display()
                            )
                        })?
                        .with_context(|| {
                            format!("reaching the API server in {}", kubeconfig.display())
                        })?;
                server::say(&format!(
                    "API server answers: Kubernetes {}.{}",
                    version.major, version.minor
                ));
            }
            let pool = server::connect(&database_url).await?;
            control_plane::db::migrate(&pool).await?;
            // Registered with its token, or not at all.
            let mut tx = pool.begin().await?;
            let id =
                control_plane::data_planes::register_kubernetes(&mut tx, &name, &region, &text)
                    .await?;
            let token = control_plane::data_planes::issue_ingest_token(&mut tx, id).await?;
            tx.commit().await?;
            server::say(&format!("data plane `{name}` now serves region `{region}`"));
            server::say(&format!(
                "its usage collector's ingest token (shown once): {token}"
            ));
            Ok(())
        }
        DataplaneCommand::List { database_url } => {
            let pool = server::connect(&database_url).await?;
            let mut conn = pool.acquire().await?;
            for region in control_plane::data_planes::regions(&mut conn).await? {
                let kind = if region.simulated {
                    "simulated"
                } else {
                    "kubernetes"
                };
                server::say(&format!("{}\t{kind}", region.region));
            }
            Ok(())
        }
    }
}
