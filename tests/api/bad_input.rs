//! Bad input gets a specific problem document and changes nothing stored.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{Auth, Customer, REGION, TestApp};

struct Setup {
    app: TestApp,
    ada: Customer,
    key: Auth,
    clusters: String,
    cluster: String,
}

async fn setup(pool: PgPool) -> Setup {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let clusters = format!("/v1/organizations/{}/clusters", ada.org_id);
    let created = app.create_cluster(ada.org_id, &key, "existing").await;
    let cluster = format!("{clusters}/{}", created["id"].as_str().unwrap());
    Setup {
        app,
        ada,
        key,
        clusters,
        cluster,
    }
}

/// Sends `body` raw to create a cluster, and checks nothing was stored.
async fn refused_create(s: &Setup, body: impl Into<reqwest::Body>, content_type: &str) -> Value {
    let before = s.app.stored_rows().await;
    let Auth::Key(token) = &s.key else {
        unreachable!()
    };
    let reply = s
        .app
        .raw(
            s.app
                .request(Method::POST, &s.clusters)
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body),
        )
        .await;
    assert_eq!(s.app.stored_rows().await, before, "stored rows changed");
    reply.body.clone()
}

fn slug(problem: &Value) -> &str {
    problem["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://quartermaster.dev/problems/")
}

fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .map(|e| e.iter().map(|e| e["field"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn malformed_json_is_a_400_that_says_where(pool: PgPool) {
    let s = setup(pool).await;
    let problem = refused_create(&s, r#"{"name": "x", "region": "#, "application/json").await;
    assert_eq!(slug(&problem), "malformed-json");
    assert_eq!(problem["status"], 400);
    assert!(problem["detail"].as_str().unwrap().contains("line 1"));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_unknown_field_is_named(pool: PgPool) {
    let s = setup(pool).await;
    let body = json!({ "name": "new", "region": REGION, "node": 3 }).to_string();
    let problem = refused_create(&s, body, "application/json").await;
    assert_eq!(slug(&problem), "unknown-field");
    assert_eq!(problem["status"], 422);
    assert_eq!(fields(&problem), ["node"]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_wrong_type_names_its_field(pool: PgPool) {
    let s = setup(pool).await;
    let body = json!({ "name": "new", "region": REGION, "nodes": "three" }).to_string();
    let problem = refused_create(&s, body, "application/json").await;
    assert_eq!(slug(&problem), "invalid-body");
    assert_eq!(fields(&problem), ["nodes"]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn negative_and_out_of_range_sizes_name_every_field(pool: PgPool) {
    let s = setup(pool).await;
    let body = json!({
        "name": "new", "region": REGION,
        "nodes": -1, "storage_gib": -10, "memory_mib": 0, "replication_factor": 99,
    })
    .to_string();
    let problem = refused_create(&s, body, "application/json").await;
    assert_eq!(slug(&problem), "validation-failed");
    assert_eq!(problem["status"], 422);
    assert_eq!(
        fields(&problem),
        ["nodes", "replication_factor", "memory_mib", "storage_gib"]
    );
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("got -1")
    );

    // A resize is held to the same rules, and to the plan.
    let before = s.app.stored_rows().await;
    let reply = s
        .app
        .patch(&s.cluster, &s.key, json!({ "nodes": -3 }))
        .await;
    assert_eq!(fields(reply.problem(422, "validation-failed")), ["nodes"]);
    let reply = s
        .app
        .patch(&s.cluster, &s.key, json!({ "storage_gib": 2 }))
        .await;
    assert_eq!(
        reply.problem(403, "plan-limit-exceeded")["limit"],
        "included_storage_gib"
    );
    let reply = s.app.patch(&s.cluster, &s.key, json!({ "nodes": 3 })).await;
    assert_eq!(
        reply.problem(403, "plan-limit-exceeded")["limit"],
        "max_nodes_per_cluster"
    );
    assert_eq!(s.app.stored_rows().await, before);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn sql_metacharacters_in_names_are_refused_as_invalid_names(pool: PgPool) {
    let s = setup(pool).await;
    for name in [
        "x'; DROP TABLE vector_clusters; --",
        "a\"b",
        "robert');--",
        "名前",
    ] {
        let body = json!({ "name": name, "region": REGION }).to_string();
        let problem = refused_create(&s, body, "application/json").await;
        assert_eq!(slug(&problem), "validation-failed", "{name}");
        assert_eq!(fields(&problem), ["name"]);
    }
    // In a free-text field they are stored as text, verbatim.
    let reply = s
        .app
        .post(
            &format!("/v1/organizations/{}/api-keys", s.ada.org_id),
            &s.ada.session,
            json!({ "name": "x'); DROP TABLE api_keys; --" }),
        )
        .await;
    assert_eq!(reply.ok(201)["name"], "x'); DROP TABLE api_keys; --");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_ten_megabyte_body_is_refused_unread(pool: PgPool) {
    let s = setup(pool).await;
    let huge = format!(
        r#"{{"name": "big", "region": "{REGION}", "version": "{}"}}"#,
        "9".repeat(10 * 1024 * 1024)
    );
    let problem = refused_create(&s, huge, "application/json").await;
    assert_eq!(slug(&problem), "payload-too-large");
    assert_eq!(problem["status"], 413);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_body_that_is_not_json_is_refused(pool: PgPool) {
    let s = setup(pool).await;
    let problem = refused_create(
        &s,
        "name=new&region=eu-test",
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(slug(&problem), "unsupported-media-type");
    assert_eq!(problem["status"], 415);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn unknown_regions_and_taken_names_are_specific(pool: PgPool) {
    let s = setup(pool).await;
    // On starter a second cluster is allowed, so only the name can clash.
    s.app
        .set_plan(s.ada.org_id, &s.ada.session, "starter")
        .await;
    let before = s.app.stored_rows().await;
    let reply = s
        .app
        .post(
            &s.clusters,
            &s.key,
            json!({ "name": "new", "region": "mars-1" }),
        )
        .await;
    let problem = reply.problem(422, "validation-failed");
    assert_eq!(fields(problem), ["region"]);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("eu-test")
    );
    s.app
        .post(
            &s.clusters,
            &s.key,
            json!({ "name": "existing", "region": REGION }),
        )
        .await
        .problem(409, "cluster-name-taken");
    assert_eq!(s.app.stored_rows().await, before);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_free_plan_allows_one_cluster(pool: PgPool) {
    let s = setup(pool).await;
    let before = s.app.stored_rows().await;
    let reply = s
        .app
        .post(
            &s.clusters,
            &s.key,
            json!({ "name": "second", "region": REGION }),
        )
        .await;
    let problem = reply.problem(403, "plan-limit-exceeded");
    assert_eq!(problem["limit"], "max_vector_clusters");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Free plan allows 1 vector cluster")
    );
    assert_eq!(s.app.stored_rows().await, before);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn wrong_passwords_and_unknown_emails_get_the_same_answer(pool: PgPool) {
    let s = setup(pool).await;
    let before = s.app.stored_rows().await;
    let wrong = s
        .app
        .post(
            "/v1/login",
            &Auth::None,
            json!({ "email": s.ada.email, "password": "not the password" }),
        )
        .await;
    let unknown = s
        .app
        .post(
            "/v1/login",
            &Auth::None,
            json!({ "email": "nobody@example.com", "password": "whatever it is" }),
        )
        .await;
    assert_eq!(
        wrong.problem(401, "invalid-credentials"),
        unknown.problem(401, "invalid-credentials")
    );
    assert!(wrong.headers.get("set-cookie").is_none());
    assert_eq!(s.app.stored_rows().await, before);

    let taken = s
        .app
        .post(
            "/v1/signup",
            &Auth::None,
            json!({ "email": "ADA@example.com", "password": "another long password" }),
        )
        .await;
    taken.problem(409, "email-taken");
    let weak = s
        .app
        .post(
            "/v1/signup",
            &Auth::None,
            json!({ "email": "not-an-email", "password": "short" }),
        )
        .await;
    assert_eq!(
        fields(weak.problem(422, "validation-failed")),
        ["email", "password"]
    );
    assert_eq!(s.app.stored_rows().await, before);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_revoked_key_is_refused_at_once(pool: PgPool) {
    let s = setup(pool).await;
    let keys = format!("/v1/organizations/{}/api-keys", s.ada.org_id);
    let listed = s.app.get(&keys, &s.ada.session).await;
    let key_id = listed.ok(200)["data"][0]["id"].as_str().unwrap().to_owned();
    let revoked = s
        .app
        .delete(&format!("{keys}/{key_id}"), &s.ada.session)
        .await;
    assert!(revoked.ok(200)["revoked_at"].is_string());

    let before = s.app.stored_rows().await;
    s.app
        .get(&s.clusters, &s.key)
        .await
        .problem(401, "api-key-revoked");
    let reply = s
        .app
        .post(
            &s.clusters,
            &s.key,
            json!({ "name": "after", "region": REGION }),
        )
        .await;
    reply.problem(401, "api-key-revoked");
    assert!(reply.headers.contains_key("www-authenticate"));
    s.app
        .get(&s.clusters, &Auth::Key("qm_abcdefgh_forged".into()))
        .await
        .problem(401, "invalid-api-key");
    s.app
        .get(&s.clusters, &Auth::None)
        .await
        .problem(401, "unauthenticated");
    assert_eq!(s.app.stored_rows().await, before);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn malformed_ids_and_unknown_routes_are_not_found(pool: PgPool) {
    let s = setup(pool).await;
    s.app
        .get(&format!("{}/not-a-uuid", s.clusters), &s.key)
        .await
        .problem(404, "not-found");
    s.app
        .get("/v1/nothing-here", &s.key)
        .await
        .problem(404, "not-found");
    s.app
        .send(Method::PUT, &s.clusters, &s.key, Some(json!({})), &[])
        .await
        .problem(405, "method-not-allowed");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_nul_in_the_region_is_a_field_error_not_a_500(pool: PgPool) {
    let s = setup(pool).await;
    let body = json!({ "name": "regtest", "region": "lo\u{0}cal" }).to_string();
    let problem = refused_create(&s, body, "application/json").await;
    assert_eq!(problem["status"], 422, "{problem}");
    assert_eq!(fields(&problem), ["region"], "{problem}");
    let endpoints = format!("/v1/organizations/{}/endpoints", s.ada.org_id);
    let reply = s
        .app
        .send(
            Method::POST,
            &endpoints,
            &s.key,
            Some(
                json!({ "name": "chat", "region": "lo\u{0}cal", "gpu_model": "nvidia-l4",
                         "model_repository": "meta-llama/Llama-3.1-8B-Instruct",
                         "model_revision": "0e9e39f" }),
            ),
            &[],
        )
        .await;
    assert_eq!(fields(reply.problem(422, "validation-failed")), ["region"]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_nul_in_a_password_is_a_field_error_and_makes_no_account(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let reply = app
        .post(
            "/v1/signup",
            &Auth::None,
            json!({ "email": "nul@example.com", "password": "correct horse\u{0}battery" }),
        )
        .await;
    assert_eq!(
        fields(reply.problem(422, "validation-failed")),
        ["password"]
    );
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_whole_float_is_a_number_and_a_fraction_or_null_is_refused(pool: PgPool) {
    let s = setup(pool).await;
    // JSON has one number type: 1.0 is the whole number JSON Schema's
    // `integer` says it is.
    let reply = s
        .app
        .patch(
            &s.cluster,
            &s.key,
            json!({ "nodes": 1.0, "storage_gib": 1.0 }),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
    assert_eq!(reply.body["spec"]["nodes"], 1);
    // `null` is not a number: refused, where it once meant "the default".
    let body = json!({ "name": "nulls", "region": REGION, "nodes": null }).to_string();
    let problem = refused_create(&s, body, "application/json").await;
    assert_eq!(
        (problem["status"].as_u64(), slug(&problem)),
        (Some(422), "invalid-body")
    );
    assert_eq!(fields(&problem), ["nodes"], "{problem}");
    let body = json!({ "name": "halves", "region": REGION, "nodes": 1.5 }).to_string();
    let problem = refused_create(&s, body, "application/json").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("expected a whole number"),
        "{problem}"
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn logging_out_needs_a_live_session(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.post("/v1/logout", &Auth::None, json!({}))
        .await
        .problem(401, "unauthenticated");
    let ada = app.signup("ada@example.com").await;
    let reply = app.post("/v1/logout", &ada.session, json!({})).await;
    assert_eq!(reply.status.as_u16(), 204, "{}", reply.body);
    // The session ended: there is nothing left to end.
    assert_eq!(
        app.post("/v1/logout", &ada.session, json!({}))
            .await
            .status
            .as_u16(),
        401
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_nul_in_an_admins_reason_is_a_field_error_not_a_500(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup_admin("ada@example.com").await;
    let credits = format!("/v1/admin/organizations/{}/credits", ada.org_id);
    let reply = app
        .post(
            &credits,
            &ada.session,
            json!({ "amount_minor": 500, "reason": "goodwill\u{0}" }),
        )
        .await;
    assert_eq!(fields(reply.problem(422, "validation-failed")), ["reason"]);
    let reply = app
        .post(
            &credits,
            &ada.session,
            json!({ "amount_minor": i64::MAX, "reason": "goodwill" }),
        )
        .await;
    assert_eq!(
        fields(reply.problem(422, "validation-failed")),
        ["amount_minor"]
    );
    let credits_stored: i64 = sqlx::query_scalar("SELECT count(*) FROM credits")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(credits_stored, 0);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_array_is_not_a_body_even_where_every_field_may_be_left_out(pool: PgPool) {
    let s = setup(pool).await;
    let before = s.app.stored_rows().await;
    // serde takes an array for a struct, field by field: `[]` was an
    // empty update, `["new", "local"]` a cluster named by position.
    let reply = s.app.patch(&s.cluster, &s.key, json!([])).await;
    let problem = reply.problem(422, "invalid-body");
    assert!(
        problem["detail"].as_str().unwrap().contains("not an array"),
        "{problem}"
    );
    let problem = refused_create(
        &s,
        json!(["positional", REGION]).to_string(),
        "application/json",
    )
    .await;
    assert_eq!(
        (problem["status"].as_u64(), slug(&problem)),
        (Some(422), "invalid-body")
    );
    assert_eq!(s.app.stored_rows().await, before);
}
