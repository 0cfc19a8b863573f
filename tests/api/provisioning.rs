//! Through the REST API with the simulated data plane: a cluster is created,
//! becomes Ready with an endpoint, is resized, and is deleted, as the
//! provisioner carries each change to the data plane and mirrors it back.

use chrono::{Duration, Utc};
use control_plane::provisioner::Provisioner;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn create_ready_resize_delete_with_the_simulated_data_plane(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let provisioner = Provisioner::new(pool, Duration::seconds(3));
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let key = app.api_key(&ada).await;
    let clusters = format!("/v1/organizations/{}/clusters", ada.org_id);

    let created = app.create_cluster(ada.org_id, &key, "search").await;
    let one = format!("{clusters}/{}", created["id"].as_str().unwrap());
    assert_eq!(created["status"]["phase"], "Provisioning");

    // Applied now, not ready until the data plane's delay has passed.
    let t0 = Utc::now();
    assert_eq!(provisioner.run_once_at(t0).await.unwrap(), 1);
    let provisioning = app.get(&one, &key).await;
    assert_eq!(provisioning.ok(200)["status"]["phase"], "Provisioning");
    assert_eq!(provisioning.body["status"]["endpoint"], json!(null));

    provisioner
        .run_once_at(t0 + Duration::seconds(3))
        .await
        .unwrap();
    let ready = app.get(&one, &key).await;
    let status = &ready.ok(200)["status"];
    assert_eq!(status["phase"], "Ready");
    assert_eq!(status["observed_generation"], 1);
    assert_eq!(status["current_version"], created["spec"]["version"]);
    assert_eq!(status["ready_nodes"], 1);
    assert!(
        status["endpoint"]
            .as_str()
            .unwrap()
            .starts_with("http://search.")
    );
    assert_eq!(ready.body["simulated"], true);
    // Settled: the next pass has nothing to do.
    assert_eq!(
        provisioner
            .run_once_at(t0 + Duration::seconds(4))
            .await
            .unwrap(),
        0
    );

    // Resize the disk: Updating until the data plane has acted on generation 2.
    let resized = app.patch(&one, &key, json!({ "storage_gib": 20 })).await;
    assert_eq!(resized.ok(202)["status"]["phase"], "Updating");
    let t1 = t0 + Duration::seconds(10);
    provisioner.run_once_at(t1).await.unwrap();
    let updating = app.get(&one, &key).await;
    assert_eq!(updating.ok(200)["status"]["phase"], "Updating");
    assert_eq!(updating.body["status"]["observed_generation"], 1);
    provisioner
        .run_once_at(t1 + Duration::seconds(3))
        .await
        .unwrap();
    let resized = app.get(&one, &key).await;
    assert_eq!(resized.ok(200)["status"]["phase"], "Ready");
    assert_eq!(resized.body["status"]["observed_generation"], 2);
    assert_eq!(resized.body["spec"]["storage_gib"], 20);

    // Delete: Deleting until the data plane confirms, then gone, name free again.
    app.delete(&one, &key).await.ok(202);
    // The deletion was asked for at the real time, so the pass runs at it.
    let t2 = Utc::now();
    provisioner.run_once_at(t2).await.unwrap();
    assert_eq!(
        app.get(&one, &key).await.ok(200)["status"]["phase"],
        "Deleting"
    );
    provisioner
        .run_once_at(t2 + Duration::seconds(3))
        .await
        .unwrap();
    app.get(&one, &key).await.problem(404, "not-found");
    let listed = app.get(&clusters, &key).await;
    assert_eq!(listed.ok(200)["data"], json!([]));
    app.create_cluster(ada.org_id, &key, "search").await;
}
