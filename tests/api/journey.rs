//! A customer's first session, start to finish.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{Auth, PASSWORD, REGION, TestApp, session_cookie};

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn signup_login_key_and_a_cluster_through_its_whole_life(pool: PgPool) {
    let app = TestApp::spawn(pool).await;

    // Sign up: a user, an organization on the free plan, and a session.
    let ada = app.signup("Ada@Example.com").await;
    let me = app.get("/v1/me", &ada.session).await;
    assert_eq!(me.ok(200)["user"]["email"], "ada@example.com");
    assert_eq!(me.body["memberships"][0]["role"], "owner");
    let org = app
        .get(&format!("/v1/organizations/{}", ada.org_id), &ada.session)
        .await;
    assert_eq!(org.ok(200)["plan"], "free");
    let outbox: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT topic, payload FROM outbox")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        outbox,
        vec![(
            "payments.customer.create".to_owned(),
            json!({ "organization_id": ada.org_id })
        )],
        "the payment customer is created through the outbox, not in the request"
    );
    let stored_hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(stored_hash.starts_with("$argon2id$"));

    // Log out, and the old session no longer works; log in again.
    app.post("/v1/logout", &ada.session, json!({}))
        .await
        .ok(204);
    app.get("/v1/me", &ada.session)
        .await
        .problem(401, "session-expired");
    let login = app
        .post(
            "/v1/login",
            &Auth::None,
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    login.ok(200);
    let session = Auth::Session(session_cookie(&login));

    // An API key, shown once, stored only as a hash.
    let created = app
        .post(
            &format!("/v1/organizations/{}/api-keys", ada.org_id),
            &session,
            json!({ "name": "terraform", "scopes": ["clusters:read", "clusters:write"] }),
        )
        .await;
    let token = created.ok(201)["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with(&format!("qm_{}_", created.body["prefix"].as_str().unwrap())));
    let listed = app
        .get(
            &format!("/v1/organizations/{}/api-keys", ada.org_id),
            &session,
        )
        .await;
    assert_eq!(listed.ok(200)["data"][0]["name"], "terraform");
    assert!(listed.body["data"][0].get("token").is_none());
    let leaked: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM api_keys t WHERE position($1 in t::text) > 0)
              + (SELECT count(*) FROM audit_log t WHERE position($1 in t::text) > 0)
              + (SELECT count(*) FROM idempotency_keys t WHERE position($1 in t::text) > 0)",
    )
    .bind(&token)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(leaked, 0, "the token is stored nowhere");
    let key = Auth::Key(token);

    // A cluster, created with the key, on a plan with room to grow.
    app.set_plan(ada.org_id, &session, "starter").await;
    let clusters = format!("/v1/organizations/{}/clusters", ada.org_id);
    let cluster = app
        .post(
            &clusters,
            &key,
            json!({ "name": "search", "region": REGION }),
        )
        .await;
    let cluster = cluster.ok(202).clone();
    assert_eq!(cluster["status"]["phase"], "Provisioning");
    assert_eq!(cluster["spec"]["generation"], 1);
    assert_eq!(cluster["spec"]["nodes"], 1);
    assert_eq!(cluster["simulated"], true);
    let id = cluster["id"].as_str().unwrap();

    let list = app.get(&clusters, &key).await;
    assert_eq!(list.ok(200)["object"], "list");
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["data"][0]["id"], id);
    assert_eq!(list.body["has_more"], false);

    // Upgrade and grow the disk: a new generation.
    let one = format!("{clusters}/{id}");
    let updated = app
        .patch(
            &one,
            &key,
            json!({ "version": "1.14.0", "storage_gib": 20 }),
        )
        .await;
    assert_eq!(updated.ok(202)["spec"]["generation"], 2);
    assert_eq!(updated.body["spec"]["version"], "1.14.0");
    assert_eq!(updated.body["spec"]["storage_gib"], 20);
    // The same change again changes nothing.
    let again = app.patch(&one, &key, json!({ "version": "1.14.0" })).await;
    assert_eq!(again.ok(202)["spec"]["generation"], 2);

    // Delete: accepted, shown as Deleting, and no longer changeable.
    let deleted = app.delete(&one, &key).await;
    assert_eq!(deleted.ok(202)["status"]["phase"], "Deleting");
    assert!(deleted.body["deletion_requested_at"].is_string());
    app.patch(&one, &key, json!({ "nodes": 1 }))
        .await
        .problem(409, "cluster-deleting");
    app.delete(&one, &key).await.ok(202);

    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        actions,
        [
            "user.signup",
            "organization.create",
            "api_key.create",
            "subscription.change_plan",
            "cluster.create",
            "cluster.update",
            "cluster.delete"
        ]
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn lists_page_by_cursor(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let path = format!("/v1/organizations/{}/api-keys", ada.org_id);
    for name in ["a", "b", "c"] {
        app.post(&path, &ada.session, json!({ "name": name }))
            .await
            .ok(201);
    }
    let first = app.get(&format!("{path}?limit=2"), &ada.session).await;
    let names: Vec<_> = first.ok(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(first.body["has_more"], true);
    let last_id = first.body["data"][1]["id"].as_str().unwrap();
    let second = app
        .get(
            &format!("{path}?limit=2&starting_after={last_id}"),
            &ada.session,
        )
        .await;
    assert_eq!(second.ok(200)["data"][0]["name"], "c");
    assert_eq!(second.body["has_more"], false);
    app.get(&format!("{path}?limit=101"), &ada.session)
        .await
        .problem(422, "validation-failed");
    app.get(&format!("{path}?limit=many"), &ada.session)
        .await
        .problem(400, "invalid-query");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn members_join_by_email_and_the_last_owner_stays(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let bob = app.signup("bob@example.com").await;
    let members = format!("/v1/organizations/{}/members", ada.org_id);

    app.post(
        &members,
        &ada.session,
        json!({ "email": "bob@example.com", "role": "member" }),
    )
    .await
    .ok(201);
    app.post(
        &members,
        &ada.session,
        json!({ "email": "bob@example.com", "role": "admin" }),
    )
    .await
    .problem(409, "already-member");
    app.post(
        &members,
        &ada.session,
        json!({ "email": "nobody@example.com", "role": "member" }),
    )
    .await
    .problem(404, "not-found");
    app.post(
        &members,
        &ada.session,
        json!({ "email": "bob@example.com", "role": "root" }),
    )
    .await
    .problem(422, "validation-failed");

    // Bob sees the organization now; as a member he cannot manage members.
    let listed = app.get(&members, &bob.session).await;
    assert_eq!(listed.ok(200)["data"].as_array().unwrap().len(), 2);
    app.delete(&format!("{members}/{}", ada.user_id), &bob.session)
        .await
        .problem(403, "forbidden");

    // The only owner cannot leave; removing Bob works.
    app.delete(&format!("{members}/{}", ada.user_id), &ada.session)
        .await
        .problem(409, "last-owner");
    app.delete(&format!("{members}/{}", bob.user_id), &ada.session)
        .await
        .ok(204);
    app.get(&members, &bob.session)
        .await
        .problem(404, "not-found");
}
