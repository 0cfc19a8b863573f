//! One organization never sees or touches another's resources: the answer
//! is 404, exactly as for an id that does not exist.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn another_organization_cannot_see_change_or_delete_a_cluster(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let eve = app.signup("eve@example.com").await;
    let ada_key = app.api_key(&ada).await;
    let eve_key = app.api_key(&eve).await;
    let cluster = app.create_cluster(ada.org_id, &ada_key, "private").await;
    let id = cluster["id"].as_str().unwrap();
    // Use Eve's key once, so its `last_used_at` is set before the snapshot.
    app.get(&format!("/v1/organizations/{}", eve.org_id), &eve_key)
        .await
        .ok(200);
    let before = app.stored_rows().await;

    let ada_clusters = format!("/v1/organizations/{}/clusters", ada.org_id);
    let ada_cluster = format!("{ada_clusters}/{id}");
    // Eve's cluster list path with Ada's cluster id.
    let through_eve = format!("/v1/organizations/{}/clusters/{id}", eve.org_id);
    for eve_auth in [&eve.session, &eve_key] {
        app.get(&ada_clusters, eve_auth)
            .await
            .problem(404, "not-found");
        app.get(&ada_cluster, eve_auth)
            .await
            .problem(404, "not-found");
        app.patch(&ada_cluster, eve_auth, json!({ "nodes": 1 }))
            .await
            .problem(404, "not-found");
        app.delete(&ada_cluster, eve_auth)
            .await
            .problem(404, "not-found");
        app.get(&through_eve, eve_auth)
            .await
            .problem(404, "not-found");
        app.patch(&through_eve, eve_auth, json!({ "nodes": 1 }))
            .await
            .problem(404, "not-found");
        app.delete(&through_eve, eve_auth)
            .await
            .problem(404, "not-found");
        app.post(
            &ada_clusters,
            eve_auth,
            json!({ "name": "mine", "region": "eu-test" }),
        )
        .await
        .problem(404, "not-found");
        let listed = app
            .get(
                &format!("/v1/organizations/{}/clusters", eve.org_id),
                eve_auth,
            )
            .await;
        assert_eq!(listed.ok(200)["data"], json!([]));
    }

    // The same answer as for an organization that does not exist at all.
    let missing = app
        .get(
            &format!("/v1/organizations/{}/clusters", Uuid::now_v7()),
            &eve.session,
        )
        .await;
    let foreign = app.get(&ada_clusters, &eve.session).await;
    assert_eq!(
        missing.problem(404, "not-found"),
        foreign.problem(404, "not-found")
    );

    // Nor can Eve read Ada's keys or members, or revoke Ada's key.
    let ada_keys = format!("/v1/organizations/{}/api-keys", ada.org_id);
    app.get(&ada_keys, &eve.session)
        .await
        .problem(404, "not-found");
    app.get(
        &format!("/v1/organizations/{}/members", ada.org_id),
        &eve_key,
    )
    .await
    .problem(404, "not-found");
    let ada_key_id: Uuid = sqlx::query_scalar("SELECT id FROM api_keys WHERE organization_id = $1")
        .bind(ada.org_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let under_eve = format!("/v1/organizations/{}/api-keys/{ada_key_id}", eve.org_id);
    app.get(&under_eve, &eve.session)
        .await
        .problem(404, "not-found");
    app.delete(&under_eve, &eve.session)
        .await
        .problem(404, "not-found");
    // Access is checked before a body's values: a key or a member Eve may
    // not add is not found, even when the request is also invalid.
    for body in [
        json!({ "name": "mine" }),
        json!({ "name": "", "scopes": ["nope"] }),
    ] {
        app.post(&ada_keys, &eve.session, body)
            .await
            .problem(404, "not-found");
    }
    let ada_members = format!("/v1/organizations/{}/members", ada.org_id);
    for body in [
        json!({ "email": "eve@example.com", "role": "admin" }),
        json!({ "email": "not an email", "role": "emperor" }),
    ] {
        app.post(&ada_members, &eve_key, body)
            .await
            .problem(404, "not-found");
    }
    // Ada reads her own key, without its secret.
    let own = app
        .get(&format!("{ada_keys}/{ada_key_id}"), &ada.session)
        .await;
    assert_eq!(own.ok(200)["id"], ada_key_id.to_string());
    assert!(own.body.get("token").is_none(), "{}", own.body);

    assert_eq!(app.stored_rows().await, before, "nothing changed");
    app.get(&ada_cluster, &ada_key).await.ok(200);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_key_can_do_only_what_its_scopes_allow(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let keys = format!("/v1/organizations/{}/api-keys", ada.org_id);
    let read_only = app
        .post(
            &keys,
            &ada.session,
            json!({ "name": "ro", "scopes": ["clusters:read"] }),
        )
        .await;
    let read_only =
        crate::helpers::Auth::Key(read_only.ok(201)["token"].as_str().unwrap().to_owned());
    let clusters = format!("/v1/organizations/{}/clusters", ada.org_id);
    app.get(&clusters, &read_only).await.ok(200);
    let before = app.stored_rows().await;
    let denied = app
        .post(
            &clusters,
            &read_only,
            json!({ "name": "nope", "region": "eu-test" }),
        )
        .await;
    assert!(
        denied.problem(403, "forbidden")["detail"]
            .as_str()
            .unwrap()
            .contains("clusters:write")
    );
    // A key cannot mint a key, nor a session-less caller act as a user.
    app.post(&keys, &read_only, json!({ "name": "escalate" }))
        .await
        .problem(403, "forbidden");
    app.get("/v1/me", &read_only)
        .await
        .problem(403, "forbidden");
    assert_eq!(app.stored_rows().await, before);
}
