//! Backups through the API with the simulated data plane: plan limits, a
//! schedule in the cluster's spec, a backup taken by hand, a restore into a
//! new cluster, deletion, and tenancy.

use chrono::{Duration, Utc};
use control_plane::provisioner::Provisioner;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{Auth, TestApp};

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn backups_follow_the_plan_and_restore_into_a_new_cluster(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let provisioner = Provisioner::new(pool, Duration::seconds(3));
    let ada = app.signup("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let created = app.create_cluster(ada.org_id, &key, "search").await;
    let cluster = format!(
        "/v1/organizations/{}/clusters/{}",
        ada.org_id,
        created["id"].as_str().unwrap()
    );
    let policy = |body: Value| {
        let (app, key, path) = (&app, key.clone(), format!("{cluster}/backup-policy"));
        async move { app.send(Method::PUT, &path, &key, Some(body), &[]).await }
    };
    let daily = json!({ "schedule": "0 2 * * *", "retention_days": 7 });

    // Free: no backups at all.
    let refused = policy(daily.clone()).await;
    assert_eq!(
        refused.problem(403, "plan-limit-exceeded")["limit"],
        "backups"
    );
    let before = app.stored_rows().await;
    app.post(&format!("{cluster}/backups"), &key, json!(null))
        .await
        .problem(403, "plan-limit-exceeded");
    assert_eq!(app.stored_rows().await, before);

    // Starter: daily, kept a week.
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let hourly = policy(json!({ "schedule": "@hourly", "retention_days": 7 })).await;
    assert_eq!(
        hourly.problem(403, "plan-limit-exceeded")["limit"],
        "backup_schedule"
    );
    let long = policy(json!({ "schedule": "0 2 * * *", "retention_days": 10 })).await;
    assert_eq!(
        long.problem(403, "plan-limit-exceeded")["limit"],
        "backup_retention"
    );
    let malformed = policy(json!({ "schedule": "daily", "retention_days": 0 })).await;
    let errors: Vec<&str> = malformed.problem(422, "validation-failed")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(errors, ["schedule", "retention_days"]);
    // Test restores come with Business.
    let verified =
        policy(json!({ "schedule": "0 2 * * *", "retention_days": 7, "verify": true })).await;
    let denial = verified.problem(403, "plan-limit-exceeded");
    assert_eq!(denial["limit"], "backup_verification");
    let set = policy(daily).await;
    let spec = &set.ok(202)["spec"];
    assert_eq!(
        spec["backup"],
        json!({ "schedule": "0 2 * * *", "retention_days": 7, "retention_count": 7, "verify": false })
    );
    assert_eq!(
        spec["generation"], 2,
        "the schedule is part of the desired spec"
    );
    let same = policy(json!({ "schedule": "0 2 * * *", "retention_days": 7 })).await;
    assert_eq!(
        same.ok(202)["spec"]["generation"],
        2,
        "the same policy again changes nothing"
    );
    // Back to free is refused while the cluster has a schedule.
    let downgrade = app
        .send(
            Method::PUT,
            &format!("/v1/organizations/{}/billing/plan", ada.org_id),
            &ada.session,
            Some(json!({ "plan": "free" })),
            &[],
        )
        .await;
    assert_eq!(
        downgrade.problem(403, "plan-limit-exceeded")["limit"],
        "backups"
    );

    // A backup by hand: Pending, then done in the simulated data plane.
    let taken = app
        .post(&format!("{cluster}/backups"), &key, json!(null))
        .await;
    let backup = taken.ok(202).clone();
    assert_eq!(
        (backup["phase"].as_str(), backup["origin"].as_str()),
        (Some("Pending"), Some("manual"))
    );
    let backup_path = format!("{cluster}/backups/{}", backup["id"].as_str().unwrap());
    let t0 = Utc::now();
    provisioner.run_once_at(t0).await.unwrap();
    assert_eq!(
        app.get(&backup_path, &key).await.ok(200)["phase"],
        "Running"
    );
    provisioner
        .run_once_at(t0 + Duration::seconds(3))
        .await
        .unwrap();
    assert_eq!(
        app.get(&backup_path, &key).await.ok(200)["phase"],
        "Succeeded"
    );
    let list = app.get(&format!("{cluster}/backups"), &key).await;
    assert_eq!(list.ok(200)["data"][0]["id"], backup["id"]);

    // Restoring into a new cluster is a business feature.
    let restore = |name: &str| {
        let (app, key) = (&app, key.clone());
        let path = format!("{backup_path}/restore");
        let body = json!({ "name": name });
        async move { app.post(&path, &key, body).await }
    };
    assert_eq!(
        restore("search-copy")
            .await
            .problem(403, "plan-limit-exceeded")["limit"],
        "restore"
    );
    app.set_plan(ada.org_id, &ada.session, "business").await;
    let copy = restore("search-copy").await;
    let copy = copy.ok(202).clone();
    assert_eq!(copy["name"], "search-copy");
    assert_eq!(copy["spec"]["storage_gib"], created["spec"]["storage_gib"]);
    assert_eq!(
        copy["restore"],
        json!({ "backup_id": backup["id"], "phase": "Pending", "message": null })
    );
    let copy_path = format!(
        "/v1/organizations/{}/clusters/{}",
        ada.org_id,
        copy["id"].as_str().unwrap()
    );
    // The new cluster comes up first; then the backup is loaded into it.
    let t1 = t0 + Duration::seconds(10);
    for (at, phase, restore_phase) in [
        (t1, "Provisioning", "Pending"),
        (t1 + Duration::seconds(3), "Ready", "Running"),
        (t1 + Duration::seconds(6), "Ready", "Succeeded"),
    ] {
        provisioner.run_once_at(at).await.unwrap();
        let now = app.get(&copy_path, &key).await;
        let now = now.ok(200);
        assert_eq!(
            (
                now["status"]["phase"].as_str(),
                now["restore"]["phase"].as_str()
            ),
            (Some(phase), Some(restore_phase)),
            "at {at}"
        );
    }

    // Another organization sees none of it.
    let bob = app.signup("bob@example.com").await;
    let bobs = Auth::Key(match app.api_key(&bob).await {
        Auth::Key(token) => token,
        _ => unreachable!(),
    });
    app.get(&format!("{cluster}/backups"), &bobs)
        .await
        .problem(404, "not-found");
    app.get(&backup_path, &bobs).await.problem(404, "not-found");
    let foreign = format!(
        "/v1/organizations/{}/clusters/{}/backups/{}",
        bob.org_id,
        created["id"].as_str().unwrap(),
        backup["id"].as_str().unwrap()
    );
    app.get(&foreign, &bobs).await.problem(404, "not-found");

    // Deleted: not restorable any more, and gone once the data plane says so.
    let deleted = app.delete(&backup_path, &key).await;
    assert!(deleted.ok(202)["deletion_requested_at"].is_string());
    restore("another-copy")
        .await
        .problem(409, "backup-not-restorable");
    provisioner
        .run_once_at(t1 + Duration::seconds(10))
        .await
        .unwrap();
    app.get(&backup_path, &key).await.problem(404, "not-found");

    // No more schedule: the spec moves on without it.
    let cleared = app
        .send(
            Method::DELETE,
            &format!("{cluster}/backup-policy"),
            &key,
            None,
            &[],
        )
        .await;
    assert_eq!(cleared.ok(202)["spec"]["backup"], Value::Null);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn business_backups_can_be_verified_and_the_last_test_restore_shows_on_the_cluster(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let (ada, key, id, cluster) = app.ada_with_a_cluster("business").await;
    let set = app
        .send(
            Method::PUT,
            &format!("{cluster}/backup-policy"),
            &key,
            Some(json!({ "schedule": "@hourly", "retention_days": 30, "verify": true })),
            &[],
        )
        .await;
    assert_eq!(set.ok(202)["spec"]["backup"]["verify"], true);
    assert_eq!(set.body["status"]["last_verified_backup"], json!(null));
    // Starter would keep an hourly schedule from moving anyway; a daily one
    // with test restores is held back by the test restores alone.
    app.send(
        Method::PUT,
        &format!("{cluster}/backup-policy"),
        &key,
        Some(json!({ "schedule": "@daily", "retention_days": 7, "verify": true })),
        &[],
    )
    .await
    .ok(202);
    let downgrade = app
        .send(
            Method::PUT,
            &format!("/v1/organizations/{}/billing/plan", ada.org_id),
            &ada.session,
            Some(json!({ "plan": "starter" })),
            &[],
        )
        .await;
    assert_eq!(
        downgrade.problem(403, "plan-limit-exceeded")["limit"],
        "backup_verification"
    );

    // As the data plane reports a test restore that lost points.
    let reported = json!({ "backup": "b-20261125-0200", "finishedAt": "2026-11-25T03:20:00Z",
                           "succeeded": false,
                           "message": "docs: 990 points restored, the backup counted 1000" });
    sqlx::query("UPDATE vector_clusters SET backup_last_verified = $2 WHERE id = $1::uuid")
        .bind(&id)
        .bind(&reported)
        .execute(&pool)
        .await
        .unwrap();
    let shown = app.get(&cluster, &key).await;
    assert_eq!(
        shown.ok(200)["status"]["last_verified_backup"],
        json!({ "backup": "b-20261125-0200", "finished_at": "2026-11-25T03:20:00Z",
                "succeeded": false,
                "message": "docs: 990 points restored, the backup counted 1000" })
    );
    // Clearing the schedule turns the test restores off with it.
    let cleared = app.delete(&format!("{cluster}/backup-policy"), &key).await;
    assert_eq!(cleared.ok(202)["spec"]["backup"], json!(null));
    let again = app
        .send(
            Method::PUT,
            &format!("{cluster}/backup-policy"),
            &key,
            Some(json!({ "schedule": "@hourly", "retention_days": 30 })),
            &[],
        )
        .await;
    assert_eq!(again.ok(202)["spec"]["backup"]["verify"], false);
}
