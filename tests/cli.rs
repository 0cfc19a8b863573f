//! The `quartermaster` binary as a newcomer runs it.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sqlx::PgPool;

const BIN: &str = env!("CARGO_BIN_EXE_quartermaster");

/// Kills the child if the test fails before it could stop it cleanly.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no line containing {needle:?} within 60 s"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// `quartermaster dev` on free ports, its stdout read line by line.
fn dev(mut command: Command) -> (Running, mpsc::Receiver<String>) {
    let mut child = command
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--gateway-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Running(child), lines)
}

/// The URL a line such as `… listening on http://127.0.0.1:1234` ends with.
fn url_in(line: &str) -> String {
    let at = line.find("http://").unwrap();
    line[at..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn dev_starts_its_own_postgres_serves_the_api_and_cleans_up() {
    // A TMPDIR of its own, to see that the throwaway database is removed.
    // Readable by all: as root, PostgreSQL runs as `postgres` inside it.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // Without the sbin folders on PATH, as root's often is: `runuser` is
    // found where util-linux puts it.
    let path = std::env::var("PATH").unwrap_or_default();
    let without_sbin: Vec<&str> = path.split(':').filter(|d| !d.ends_with("sbin")).collect();
    let mut command = Command::new(BIN);
    command
        .env_remove("DATABASE_URL")
        .env("PATH", without_sbin.join(":"))
        .env("TMPDIR", tmp.path());
    let (running, lines) = dev(command);
    let base = url_in(&wait_for_line(&lines, "listening on http://"));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 204);
    let signup = client
        .post(format!("{base}/v1/signup"))
        .json(&serde_json::json!({ "email": "new@example.com", "password": "a long enough password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    // Plain HTTP on a laptop: the cookie must not be `Secure`, or no browser sends it back.
    let cookie = signup.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(!cookie.contains("Secure"), "{cookie}");
    let regions = client
        .get(format!("{base}/v1/regions"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    let regions: serde_json::Value = regions.json().await.unwrap();
    assert_eq!(
        regions["data"],
        serde_json::json!([{ "region": "local", "simulated": true }])
    );

    // SIGTERM: the server drains, PostgreSQL stops, the temporary folder goes.
    let mut running = running;
    let pid = running.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    wait_for_line(&lines, "stopped");
    let status = running.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

/// What the README promises a newcomer: a key made in the API, then a
/// chat completion from the simulated data plane's gateway, held while the
/// new endpoint starts.
#[sqlx::test(migrations = false)]
async fn dev_answers_a_chat_completion_through_its_gateway_with_a_key_of_ones_own(pool: PgPool) {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let mut command = Command::new(BIN);
    command
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{database}"),
        )
        .env("RUST_LOG", "warn");
    let (_running, lines) = dev(command);
    let api = url_in(&wait_for_line(&lines, "listening on http://"));
    let gateway = url_in(&wait_for_line(&lines, "Inference gateway:"));
    let json = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };
    let signup = reqwest::Client::new()
        .post(format!("{api}/v1/signup"))
        .json(&serde_json::json!({ "email": "new@example.com", "password": "a long enough password" }))
        .send()
        .await
        .unwrap();
    let cookie = signup.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (_, signup) = json(signup).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .default_headers(
            [(reqwest::header::COOKIE, cookie.parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .build()
        .unwrap();
    let org = format!(
        "{api}/v1/organizations/{}",
        signup["organization"]["id"].as_str().unwrap()
    );
    let plan = client
        .put(format!("{org}/billing/plan"))
        .json(&serde_json::json!({"plan": "starter"}));
    assert_eq!(plan.send().await.unwrap().status(), 200);
    let endpoint = client
        .post(format!("{org}/endpoints"))
        .json(&serde_json::json!({
            "name": "chat", "region": "local", "gpu_model": "nvidia-l4",
            "model_repository": "meta-llama/Llama-3.1-8B-Instruct",
        }));
    let (status, endpoint) = json(endpoint.send().await.unwrap()).await;
    assert_eq!(
        (status, endpoint["base_url"].as_str()),
        (202, Some(gateway.as_str())),
        "{endpoint}"
    );
    let key = client
        .post(format!("{org}/inference-keys"))
        .json(&serde_json::json!({"name": "laptop"}));
    let (status, key) = json(key.send().await.unwrap()).await;
    assert_eq!(status, 201, "{key}");
    let token = key["token"].as_str().unwrap();

    // The gateway learns new keys within its refresh (1 s in dev).
    let models = loop {
        let (status, models) = json(
            client
                .get(format!("{gateway}/models"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if status == 200 {
            break models;
        }
        assert_eq!(models["error"]["code"], "invalid_api_key", "{models}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        models["data"][0]["root"],
        "meta-llama/Llama-3.1-8B-Instruct"
    );
    let chat = client.post(format!("{gateway}/chat/completions")).bearer_auth(token).json(&serde_json::json!({
        "model": "chat", "max_tokens": 3, "messages": [{"role": "user", "content": "hello there"}],
    }));
    let (status, answer) = json(chat.send().await.unwrap()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], "tok0 tok1 tok2");
    assert_eq!(answer["usage"]["prompt_tokens"], 2);
}

#[sqlx::test(migrations = false)]
async fn migrate_creates_the_schema_and_is_safe_to_run_twice(pool: PgPool) {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    for _ in 0..2 {
        let output = Command::new(BIN)
            .args(["migrate", "--database-url", &url])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "migrations applied"
        );
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for table in [
        "api_keys",
        "audit_log",
        "data_planes",
        "idempotency_keys",
        "inference_endpoints",
        "memberships",
        "organizations",
        "outbox",
        "sessions",
        "subscriptions",
        "users",
        "vector_clusters",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "missing {table}: {tables:?}"
        );
    }
}

#[test]
fn an_unreachable_database_is_one_readable_line_and_a_failure() {
    let output = Command::new(BIN)
        .args([
            "migrate",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
        ])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("quartermaster: connecting to PostgreSQL"),
        "{stderr}"
    );
}

#[test]
fn a_bad_argument_is_refused() {
    let output = Command::new(BIN)
        .args(["serve", "--listen", "not-an-address"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid value 'not-an-address'"));
}

fn quartermaster(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn dataplane_add_registers_a_region_with_a_one_time_enrollment_token(pool: PgPool) {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    let add = |name: &str, region: &str, more: &[&str]| {
        let mut args = vec!["dataplane", "add", name, "--region", region];
        args.extend_from_slice(more);
        args.extend_from_slice(&["--database-url", &url]);
        quartermaster(&args)
    };
    let added = add("eu-1", "eu-west", &["--backups"]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let stdout = String::from_utf8_lossy(&added.stdout);
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines[0], "data plane `eu-1` now serves region `eu-west`");
    let token = lines[1]
        .strip_prefix("enrollment token (shown once): ")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(token.starts_with("qmen_"), "{stdout}");

    // No kubeconfig and no bucket key are kept; the token only as a hash;
    // backups go to the bucket the data plane names.
    let (kind, kubeconfig, credentials, destination): (
        String,
        Option<String>,
        Option<serde_json::Value>,
        serde_json::Value,
    ) = sqlx::query_as(
        "SELECT kind, kubeconfig, backup_credentials, backup_destination
         FROM data_planes WHERE name = 'eu-1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), kubeconfig, credentials),
        ("connected", None, None)
    );
    assert_eq!(destination["bucket"], "");
    let kept: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM data_plane_enrollments")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert!(!kept[0].windows(5).any(|w| w == b"qmen_"));

    // A kubeconfig is no longer taken.
    let pushed = add("eu-2", "eu-central", &["--kubeconfig", "/dev/null"]);
    assert!(!pushed.status.success());

    let again = add("eu-2", "eu-west", &[]);
    assert!(!again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stderr).trim(),
        "quartermaster: there is already a data plane for region `eu-west`"
    );

    let list = || {
        let listed = quartermaster(&["dataplane", "list", "--database-url", &url]);
        String::from_utf8_lossy(&listed.stdout).into_owned()
    };
    assert_eq!(list(), "eu-west\teu-1\tawaiting enrollment\n");

    // A new token replaces the unused one.
    let renewed = quartermaster(&[
        "dataplane",
        "enrollment-token",
        "eu-1",
        "--database-url",
        &url,
    ]);
    let renewed = String::from_utf8_lossy(&renewed.stdout).into_owned();
    assert!(
        renewed.starts_with("enrollment token (shown once): qmen_"),
        "{renewed}"
    );
    assert!(!renewed.contains(token));
    let unused: i64 = sqlx::query_scalar("SELECT count(*) FROM data_plane_enrollments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(unused, 1);

    let revoked = quartermaster(&["dataplane", "revoke", "eu-1", "--database-url", &url]);
    assert_eq!(
        String::from_utf8_lossy(&revoked.stdout),
        "data plane `eu-1` is revoked\n"
    );
    assert_eq!(list(), "eu-west\teu-1\trevoked\n");
    let unknown = quartermaster(&["dataplane", "revoke", "nope", "--database-url", &url]);
    assert!(!unknown.status.success());
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr).trim(),
        "quartermaster: data plane not found"
    );

    // Where its inference gateway answers: set, refused when not a URL,
    // cleared.
    let gateway = |args: &[&str]| {
        let mut all = vec!["dataplane", "gateway-url", "eu-1"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--database-url", &url]);
        quartermaster(&all)
    };
    let stored = async || -> Option<String> {
        sqlx::query_scalar("SELECT gateway_url FROM data_planes WHERE name = 'eu-1'")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let set = gateway(&["https://inference.eu.example.com/"]);
    assert_eq!(
        String::from_utf8_lossy(&set.stdout),
        "data plane `eu-1`'s inference gateway: https://inference.eu.example.com\n"
    );
    assert_eq!(
        stored().await.as_deref(),
        Some("https://inference.eu.example.com")
    );
    let refused = gateway(&["inference.eu.example.com"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is not an http:// or https:// URL"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(gateway(&[]).status.success());
    assert_eq!(stored().await, None);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn billing_close_writes_each_invoice_once_and_refuses_an_open_period(pool: PgPool) {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    // An organization on starter through October 2026.
    let mut tx = pool.begin().await.unwrap();
    let (_, organization) = control_plane::accounts::signup(
        &mut tx,
        control_plane::accounts::Email::parse("ada@example.com").unwrap(),
        control_plane::accounts::Password::parse("correct horse battery staple".into()).unwrap(),
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    sqlx::query(
        "UPDATE plan_periods SET plan = 'starter', valid_from = '2026-09-15T00:00:00Z'
         WHERE organization_id = $1",
    )
    .bind(organization.id)
    .execute(&pool)
    .await
    .unwrap();

    let close = |period: &str| {
        quartermaster(&[
            "billing",
            "close",
            "--period",
            period,
            "--database-url",
            &url,
        ])
    };
    let first = close("2026-10");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout.contains("closing 2026-10 with catalog version 1"),
        "{stdout}"
    );
    assert!(stdout.contains("1 of 1 invoices written"), "{stdout}");
    assert!(
        stdout.contains("2026-10: 1 invoices created (0 already closed"),
        "{stdout}"
    );
    assert!(stdout.contains("$25.00 billed"), "{stdout}");

    let second = close("2026-10");
    assert!(second.status.success());
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        stdout.contains("2026-10: 0 invoices created (1 already closed"),
        "{stdout}"
    );
    let invoices: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(invoices, 1);

    // Late usage may still arrive for a period that has just ended.
    let open = close(&billing::Period::containing(chrono::Utc::now()).to_string());
    assert!(!open.status.success());
    let stderr = String::from_utf8_lossy(&open.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("is still open to late usage until"),
        "{stderr}"
    );

    let malformed = close("2026-13");
    assert!(!malformed.status.success());
    let stderr = String::from_utf8_lossy(&malformed.stderr);
    assert!(stderr.contains("write a month as YYYY-MM"), "{stderr}");

    // The people who run the service are made platform administrators here.
    let grant =
        |email: &str| quartermaster(&["admin", "grant", "--email", email, "--database-url", &url]);
    let granted = grant("ada@example.com");
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    let admin: bool = sqlx::query_scalar("SELECT is_platform_admin FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(admin);
    let unknown = grant("nobody@example.com");
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("user not found"), "{stderr}");
}
