//! A cluster's maintenance window through the REST API: Business only,
//! part of the spec (each change raises the generation), validated field
//! by field, and another organization's cluster is not found.

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_business_cluster_holds_its_changes_to_a_window_until_it_is_removed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "business").await;
    let cluster = app.create_cluster(ada.org_id, &ada.session, "search").await;
    let path = format!(
        "/v1/organizations/{}/clusters/{}",
        ada.org_id,
        cluster["id"].as_str().unwrap()
    );
    let window = format!("{path}/maintenance-window");
    let generation = cluster["spec"]["generation"].as_i64().unwrap();

    let put = |body| app.send(Method::PUT, &window, &ada.session, Some(body), &[]);
    let sunday = json!({ "day": "sun", "start_hour": 22, "duration_hours": 4 });
    let set = put(sunday.clone()).await;
    let spec = &set.ok(202)["spec"];
    assert_eq!(
        spec["maintenance_window"],
        json!({ "day": "sun", "start_hour": 22, "duration_hours": 4 })
    );
    assert_eq!(spec["generation"], generation + 1);
    // The same window again is no change: no new generation to roll.
    let again = put(sunday).await;
    assert_eq!(again.ok(202)["spec"]["generation"], generation + 1);
    let read = app.get(&path, &ada.session).await;
    assert_eq!(read.ok(200)["spec"]["maintenance_window"]["start_hour"], 22);

    // Every day, from midnight, all day.
    let daily = put(json!({ "start_hour": 0, "duration_hours": 24 })).await;
    assert_eq!(
        daily.ok(202)["spec"]["maintenance_window"],
        json!({ "day": null, "start_hour": 0, "duration_hours": 24 })
    );

    let cleared = app.delete(&window, &ada.session).await;
    assert_eq!(cleared.ok(202)["spec"]["maintenance_window"], json!(null));
    assert_eq!(cleared.body["spec"]["generation"], generation + 3);
    let again = app.delete(&window, &ada.session).await;
    assert_eq!(
        again.ok(202)["spec"]["generation"],
        generation + 3,
        "clearing no window changes nothing"
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn windows_are_refused_below_business_and_when_malformed_and_for_other_organizations(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let cluster = app.create_cluster(ada.org_id, &ada.session, "search").await;
    let id = cluster["id"].as_str().unwrap();
    let window = format!(
        "/v1/organizations/{}/clusters/{id}/maintenance-window",
        ada.org_id
    );
    let before = app.stored_rows().await;
    let put = |body| app.send(Method::PUT, &window, &ada.session, Some(body), &[]);

    let starter = put(json!({ "day": "sun", "start_hour": 2, "duration_hours": 4 })).await;
    let problem = starter.problem(403, "plan-limit-exceeded");
    assert!(
        problem["detail"].as_str().unwrap().contains("Business"),
        "{problem}"
    );
    assert_eq!(app.stored_rows().await, before, "nothing stored");

    app.set_plan(ada.org_id, &ada.session, "business").await;
    let after_upgrade = app.stored_rows().await;
    let malformed = put(json!({ "day": "someday", "start_hour": 24, "duration_hours": 0 })).await;
    let fields: Vec<&str> = malformed.problem(422, "validation-failed")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["day", "start_hour", "duration_hours"]);
    put(json!({ "start_hour": 2, "duration_hours": 4, "timezone": "CET" }))
        .await
        .problem(422, "unknown-field");
    assert_eq!(app.stored_rows().await, after_upgrade, "nothing stored");

    let eve = app.signup("eve@example.com").await;
    app.set_plan(eve.org_id, &eve.session, "business").await;
    let under_eve = format!(
        "/v1/organizations/{}/clusters/{id}/maintenance-window",
        eve.org_id
    );
    app.send(
        Method::PUT,
        &under_eve,
        &eve.session,
        Some(json!({ "start_hour": 2, "duration_hours": 4 })),
        &[],
    )
    .await
    .problem(404, "not-found");
    let read = app
        .get(
            &format!("/v1/organizations/{}/clusters/{id}", ada.org_id),
            &ada.session,
        )
        .await;
    assert_eq!(read.ok(200)["spec"]["maintenance_window"], json!(null));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_downgrade_waits_until_no_cluster_holds_a_window(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "business").await;
    let cluster = app.create_cluster(ada.org_id, &ada.session, "search").await;
    let window = format!(
        "/v1/organizations/{}/clusters/{}/maintenance-window",
        ada.org_id,
        cluster["id"].as_str().unwrap()
    );
    app.send(
        Method::PUT,
        &window,
        &ada.session,
        Some(json!({ "start_hour": 2, "duration_hours": 4 })),
        &[],
    )
    .await
    .ok(202);
    let plan = format!("/v1/organizations/{}/billing/plan", ada.org_id);
    let downgrade = || {
        app.send(
            Method::PUT,
            &plan,
            &ada.session,
            Some(json!({ "plan": "starter" })),
            &[],
        )
    };

    let refused = downgrade().await;
    let detail = refused.problem(403, "plan-limit-exceeded")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.ends_with("1 cluster of this organization has one: remove it first."),
        "{detail}"
    );

    app.delete(&window, &ada.session).await.ok(202);
    assert_eq!(downgrade().await.ok(200)["plan"], "starter");
}
