//! Inference endpoints through the REST API with the simulated data plane:
//! plan limits on GPUs, create to Ready, a revision upgrade, scale to zero
//! and wake-up, and deletion.

use chrono::{Duration, Utc};
use control_plane::provisioner::Provisioner;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{REGION, TestApp};

fn chat(name: &str, gpus: i64, min: i64) -> Value {
    let mut body = json!({
        "name": name, "region": REGION,
        "model_repository": "meta-llama/Llama-3.1-8B-Instruct", "model_revision": "rev-a",
        "gpu_model": "nvidia-l4", "gpu_count": gpus, "min_replicas": min, "max_replicas": 2,
    });
    if min == 0 {
        body["scale_to_zero_after_seconds"] = json!(600);
    }
    body
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn endpoints_from_plan_check_to_ready_upgrade_sleep_wake_and_delete(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let provisioner = Provisioner::new(pool, Duration::seconds(3));
    let ada = app.signup("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let endpoints = format!("/v1/organizations/{}/endpoints", ada.org_id);

    // The free plan has no GPUs.
    let before = app.stored_rows().await;
    let denied = app.post(&endpoints, &key, chat("chat", 1, 1)).await;
    let problem = denied.problem(403, "plan-limit-exceeded");
    assert_eq!(problem["limit"], "max_gpus_per_endpoint");
    assert_eq!(problem["errors"][0]["field"], "gpu_count");
    assert_eq!(app.stored_rows().await, before);

    // Starter: one GPU per endpoint.
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    app.post(&endpoints, &key, chat("big", 2, 1))
        .await
        .problem(403, "plan-limit-exceeded");
    let bad = app
        .post(
            &endpoints,
            &key,
            json!({ "name": "xyz", "region": REGION, "gpu_model": "nvidia-t4" }),
        )
        .await;
    let fields: Vec<_> = bad.problem(422, "validation-failed")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["model", "gpu_model"]);

    let created = app.post(&endpoints, &key, chat("chat", 1, 1)).await;
    let created = created.ok(202).clone();
    assert_eq!(created["status"]["phase"], "Provisioning");
    assert_eq!(created["spec"]["gpu_count"], 1);
    let one = format!("{endpoints}/{}", created["id"].as_str().unwrap());
    app.post(&endpoints, &key, chat("chat", 1, 1))
        .await
        .problem(409, "endpoint-name-taken");

    let t0 = Utc::now();
    provisioner.run_once_at(t0).await.unwrap();
    assert_eq!(
        app.get(&one, &key).await.ok(200)["status"]["phase"],
        "Provisioning"
    );
    provisioner
        .run_once_at(t0 + Duration::seconds(3))
        .await
        .unwrap();
    let ready = app.get(&one, &key).await;
    let status = &ready.ok(200)["status"];
    assert_eq!(status["phase"], "Ready");
    assert_eq!(
        status["served_revision"],
        "meta-llama/Llama-3.1-8B-Instruct@rev-a"
    );
    assert_eq!(status["ready_replicas"], 1);
    assert!(
        status["endpoint"]
            .as_str()
            .unwrap()
            .starts_with("http://chat.")
    );

    // A new revision: Updating, then served.
    let upgraded = app
        .patch(&one, &key, json!({ "model_revision": "rev-b" }))
        .await;
    assert_eq!(upgraded.ok(202)["spec"]["generation"], 2);
    assert_eq!(upgraded.body["status"]["phase"], "Updating");
    let t1 = t0 + Duration::seconds(10);
    provisioner.run_once_at(t1).await.unwrap();
    provisioner
        .run_once_at(t1 + Duration::seconds(3))
        .await
        .unwrap();
    let served = app.get(&one, &key).await;
    assert_eq!(
        served.ok(200)["status"]["served_revision"],
        "meta-llama/Llama-3.1-8B-Instruct@rev-b"
    );
    assert_eq!(served.body["status"]["observed_generation"], 2);

    // Another organization sees none of it.
    let eve = app.signup("eve@example.com").await;
    app.get(&one, &eve.session).await.problem(404, "not-found");

    // Delete: Deleting, then gone.
    app.delete(&one, &key).await.ok(202);
    app.patch(&one, &key, json!({ "max_replicas": 3 }))
        .await
        .problem(409, "endpoint-deleting");
    let t2 = Utc::now();
    provisioner
        .run_once_at(t2 + Duration::seconds(3))
        .await
        .unwrap();
    app.get(&one, &key).await.problem(404, "not-found");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_idle_endpoint_scales_to_zero_and_wakes_on_request(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let provisioner = Provisioner::new(pool, Duration::seconds(3));
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "business").await;
    let endpoints = format!("/v1/organizations/{}/endpoints", ada.org_id);
    let created = app
        .post(&endpoints, &ada.session, chat("sleepy", 1, 0))
        .await;
    let one = format!("{endpoints}/{}", created.ok(202)["id"].as_str().unwrap());

    let t0 = Utc::now();
    provisioner.run_once_at(t0).await.unwrap();
    provisioner
        .run_once_at(t0 + Duration::seconds(3))
        .await
        .unwrap();
    assert_eq!(
        app.get(&one, &ada.session).await.ok(200)["status"]["phase"],
        "Ready"
    );
    let later = t0 + Duration::seconds(700);
    provisioner.run_once_at(later).await.unwrap();
    let asleep = app.get(&one, &ada.session).await;
    assert_eq!(asleep.ok(200)["status"]["phase"], "ScaledToZero");
    assert_eq!(asleep.body["status"]["ready_replicas"], 0);

    let woken = app
        .post(&format!("{one}/wake"), &ada.session, json!(null))
        .await;
    assert!(woken.ok(202)["status"]["wake_requested_at"].is_string());
    provisioner
        .run_once_at(later + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        app.get(&one, &ada.session).await.ok(200)["status"]["phase"],
        "Provisioning"
    );
    provisioner
        .run_once_at(later + Duration::seconds(4))
        .await
        .unwrap();
    assert_eq!(
        app.get(&one, &ada.session).await.ok(200)["status"]["phase"],
        "Ready"
    );
}
