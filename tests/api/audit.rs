//! An organization's own audit log through the API: its owners see who did
//! what, by email or key name, page by page; another organization's log is
//! not found, and a member or a key without `audit:read` is refused.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{Auth, TestApp};

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_organization_reads_its_own_audit_log_and_no_one_elses(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let bob = app.signup("bob@example.com").await;
    app.create_cluster(ada.org_id, &ada.session, "search").await;
    app.create_cluster(bob.org_id, &bob.session, "other").await;
    // Starter, for a second cluster.
    sqlx::query("UPDATE subscriptions SET plan = 'starter' WHERE organization_id = $1")
        .bind(ada.org_id)
        .execute(&pool)
        .await
        .unwrap();
    let key = app
        .post(
            &format!("/v1/organizations/{}/api-keys", ada.org_id),
            &ada.session,
            json!({ "name": "ci", "scopes": ["audit:read", "clusters:read", "clusters:write"] }),
        )
        .await;
    let key = Auth::Key(key.ok(201)["token"].as_str().unwrap().to_owned());
    app.post(
        &format!("/v1/organizations/{}/clusters", ada.org_id),
        &key,
        json!({ "name": "from-ci", "region": crate::helpers::REGION }),
    )
    .await
    .ok(202);
    let log = format!("/v1/organizations/{}/audit-log", ada.org_id);

    let page = app.get(&log, &ada.session).await;
    let entries = page.ok(200)["data"].as_array().unwrap().clone();
    let seen: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor_name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(seen[0], ("cluster.create", "ci"), "{seen:?}");
    assert!(
        seen.contains(&("cluster.create", "ada@example.com")),
        "{seen:?}"
    );
    assert!(
        entries.iter().all(|e| e["target_id"] != "other"),
        "bob's entries are not ada's"
    );
    // Newest first, page by page, each entry once.
    let first = app.get(&format!("{log}?limit=1"), &ada.session).await;
    let first = first.ok(200);
    assert_eq!(first["has_more"], true);
    let after = first["data"][0]["id"].as_i64().unwrap();
    let second = app
        .get(
            &format!("{log}?limit=1&starting_after={after}"),
            &ada.session,
        )
        .await;
    assert_eq!(second.ok(200)["data"][0]["id"], entries[1]["id"]);
    let only = app.get(&format!("{log}?action=api_key.create"), &key).await;
    let only = only.ok(200)["data"].as_array().unwrap().clone();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["actor_name"], "ada@example.com");

    // Not another organization's, not a member's, not a key's without the scope.
    app.get(
        &format!("/v1/organizations/{}/audit-log", bob.org_id),
        &ada.session,
    )
    .await
    .problem(404, "not-found");
    let carol = app.signup("carol@example.com").await;
    sqlx::query(
        "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'member')",
    )
    .bind(ada.org_id)
    .bind(carol.user_id)
    .execute(&pool)
    .await
    .unwrap();
    app.get(&log, &carol.session)
        .await
        .problem(403, "forbidden");
    let plain = app.api_key(&ada).await;
    app.get(&log, &plain).await.problem(403, "forbidden");
    // A filter PostgreSQL could not even read is a field error.
    app.get(&format!("{log}?action=a%00b"), &ada.session)
        .await
        .problem(422, "validation-failed");
}
