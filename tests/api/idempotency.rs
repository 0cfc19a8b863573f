//! Idempotency-Key: a replay gets the first response and acts once.

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{REGION, TestApp};

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_replayed_key_gets_the_same_response_and_no_second_row(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let path = format!("/v1/organizations/{}/clusters", ada.org_id);
    let body = json!({ "name": "once", "region": REGION });
    let headers = [("idempotency-key", "create-once-1")];

    let first = app
        .send(Method::POST, &path, &key, Some(body.clone()), &headers)
        .await;
    first.ok(202);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let second = app
        .send(Method::POST, &path, &key, Some(body.clone()), &headers)
        .await;
    second.ok(202);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(second.body, first.body);
    assert_eq!(count(&app, "vector_clusters").await, 1);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'cluster.create'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);

    // The same key for a different request is an error, not a replay.
    let other = app
        .send(
            Method::POST,
            &path,
            &key,
            Some(json!({ "name": "other", "region": REGION })),
            &headers,
        )
        .await;
    other.problem(422, "idempotency-key-reused");
    assert_eq!(count(&app, "vector_clusters").await, 1);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn concurrent_requests_with_one_key_act_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let path = format!("/v1/organizations/{}/clusters", ada.org_id);
    let body = json!({ "name": "racy", "region": REGION });
    let headers = [("idempotency-key", "race")];
    let send = || app.send(Method::POST, &path, &key, Some(body.clone()), &headers);
    let (a, b, c) = tokio::join!(send(), send(), send());
    for reply in [&a, &b, &c] {
        assert_eq!(reply.ok(202)["id"], a.body["id"]);
    }
    assert_eq!(count(&app, "vector_clusters").await, 1);
    assert_eq!(count(&app, "idempotency_keys").await, 1);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn keys_belong_to_one_organization(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let eve = app.signup("eve@example.com").await;
    let headers = [("idempotency-key", "shared-key")];
    for who in [&ada, &eve] {
        let path = format!("/v1/organizations/{}/clusters", who.org_id);
        let body = json!({ "name": "same", "region": REGION });
        let reply = app
            .send(Method::POST, &path, &who.session, Some(body), &headers)
            .await;
        reply.ok(202);
        assert!(reply.headers.get("idempotent-replayed").is_none());
    }
    assert_eq!(count(&app, "vector_clusters").await, 2);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_failed_request_saves_nothing_and_its_key_can_be_used_again(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let path = format!("/v1/organizations/{}/clusters", ada.org_id);
    let headers = [("idempotency-key", "fix-and-retry")];
    app.send(
        Method::POST,
        &path,
        &ada.session,
        Some(json!({ "name": "x", "region": REGION })),
        &headers,
    )
    .await
    .problem(422, "validation-failed");
    assert_eq!(count(&app, "idempotency_keys").await, 0);
    app.send(
        Method::POST,
        &path,
        &ada.session,
        Some(json!({ "name": "fixed", "region": REGION })),
        &headers,
    )
    .await
    .ok(202);

    let too_long = "k".repeat(256);
    app.send(
        Method::POST,
        &path,
        &ada.session,
        Some(json!({ "name": "other", "region": REGION })),
        &[("idempotency-key", &too_long)],
    )
    .await
    .problem(400, "invalid-idempotency-key");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_replayed_key_creation_never_shows_the_secret_again(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let path = format!("/v1/organizations/{}/api-keys", ada.org_id);
    let headers = [("idempotency-key", "mint")];
    let body = Some(json!({ "name": "ci" }));
    let first = app
        .send(Method::POST, &path, &ada.session, body.clone(), &headers)
        .await;
    assert!(first.ok(201)["token"].is_string());
    let replay = app
        .send(Method::POST, &path, &ada.session, body, &headers)
        .await;
    assert_eq!(replay.ok(201)["id"], first.body["id"]);
    assert!(replay.body.get("token").is_none());
    assert_eq!(count(&app, "api_keys").await, 1);
}
