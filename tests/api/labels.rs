//! Labels on clusters and endpoints: set on create and replaced by PATCH,
//! checked as Kubernetes labels, never a new generation; and the usage
//! report grouped by a label, each hour under the labels in force when it
//! started.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::billing::rollup;
use crate::helpers::{REGION, TestApp};

fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn labels_given_at_creation_are_shown_and_a_patch_replaces_them_without_a_new_generation(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let key = app.api_key(&ada).await;
    let clusters = format!("/v1/organizations/{}/clusters", ada.org_id);
    let created = app
        .post(
            &clusters,
            &key,
            json!({ "name": "search", "region": REGION,
                    "labels": { "team": "search", "example.com/env": "prod", "tier": "" } }),
        )
        .await;
    let created = created.ok(202);
    assert_eq!(
        created["labels"],
        json!({ "team": "search", "example.com/env": "prod", "tier": "" })
    );
    let path = format!("{clusters}/{}", created["id"].as_str().unwrap());
    let generation = created["spec"]["generation"].clone();

    let patched = app
        .patch(&path, &key, json!({ "labels": { "team": "ranking" } }))
        .await;
    let patched = patched.ok(202);
    assert_eq!(
        patched["labels"],
        json!({ "team": "ranking" }),
        "a full replace"
    );
    assert_eq!(
        patched["spec"]["generation"], generation,
        "labels are not spec"
    );
    assert_eq!(patched["status"]["phase"], created["status"]["phase"]);

    // A spec change alone keeps the labels; read back in the list as well.
    let resized = app.patch(&path, &key, json!({ "nodes": 2 })).await;
    assert_eq!(resized.ok(202)["labels"], json!({ "team": "ranking" }));
    let listed = app.get(&clusters, &key).await;
    assert_eq!(
        listed.ok(200)["data"][0]["labels"],
        json!({ "team": "ranking" })
    );
    let cleared = app.patch(&path, &key, json!({ "labels": {} })).await;
    assert_eq!(cleared.ok(202)["labels"], json!({}));

    // Endpoints the same way.
    let endpoints = format!("/v1/organizations/{}/endpoints", ada.org_id);
    let endpoint = app
        .post(
            &endpoints,
            &key,
            json!({ "name": "chat", "region": REGION,
                    "model_repository": "meta-llama/Llama-3.1-8B-Instruct",
                    "gpu_model": "nvidia-l4", "labels": { "team": "chat" } }),
        )
        .await;
    let endpoint = endpoint.ok(202).clone();
    assert_eq!(endpoint["labels"], json!({ "team": "chat" }));
    let path = format!("{endpoints}/{}", endpoint["id"].as_str().unwrap());
    let patched = app
        .patch(&path, &key, json!({ "labels": { "team": "assist" } }))
        .await;
    assert_eq!(patched.ok(202)["labels"], json!({ "team": "assist" }));
    assert_eq!(
        patched.body["spec"]["generation"],
        endpoint["spec"]["generation"]
    );
    let read = app.get(&path, &key).await;
    assert_eq!(read.ok(200)["labels"], json!({ "team": "assist" }));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn bad_labels_are_refused_naming_each_key_and_change_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (ada, key, _, path) = app.ada_with_a_cluster("starter").await;
    let clusters = format!("/v1/organizations/{}/clusters", ada.org_id);
    let before = app.stored_rows().await;

    let refused = app
        .post(
            &clusters,
            &key,
            json!({ "name": "other", "region": REGION,
                    "labels": { "-team": "x", "env": "a b", "ok": "fine",
                                "Example.com/x": "y" } }),
        )
        .await;
    assert_eq!(
        fields(refused.problem(422, "validation-failed")),
        ["labels.-team", "labels.Example.com/x", "labels.env"]
    );
    // One answer names the spec's field and the label's together.
    let refused = app
        .patch(
            &path,
            &key,
            json!({ "nodes": 99, "labels": { "team": "x".repeat(64) } }),
        )
        .await;
    assert_eq!(
        fields(refused.problem(422, "validation-failed")),
        ["nodes", "labels.team"]
    );
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let refused = app.patch(&path, &key, json!({ "labels": many })).await;
    assert_eq!(
        fields(refused.problem(422, "validation-failed")),
        ["labels"]
    );
    // Not a map of strings, or null: the body is refused as such.
    for labels in [json!({ "team": 7 }), json!(["team"]), Value::Null] {
        let refused = app.patch(&path, &key, json!({ "labels": labels })).await;
        assert_eq!(refused.status.as_u16(), 422, "{labels}: {}", refused.body);
    }
    assert_eq!(app.stored_rows().await, before, "nothing was stored");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn another_organization_can_neither_label_nor_read_by_label(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (ada, _, _, path) = app.ada_with_a_cluster("starter").await;
    let bob = app.signup("bob@example.com").await;
    let bobs_path = path.replace(&ada.org_id.to_string(), &bob.org_id.to_string());
    let before = app.stored_rows().await;
    for target in [&path, &bobs_path] {
        app.patch(target, &bob.session, json!({ "labels": { "team": "bob" } }))
            .await
            .problem(404, "not-found");
    }
    app.get(
        &format!("/v1/organizations/{}/usage?group_by=label:team", ada.org_id),
        &bob.session,
    )
    .await
    .problem(404, "not-found");
    assert_eq!(app.stored_rows().await, before);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn usage_by_label_counts_each_hour_under_the_labels_in_force_when_it_started(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let key = app.api_key(&ada).await;
    let clusters = format!("/v1/organizations/{}/clusters", ada.org_id);
    let labelled = app
        .post(
            &clusters,
            &key,
            json!({ "name": "search", "region": REGION, "labels": { "team": "a" } }),
        )
        .await;
    let labelled: Uuid = labelled.ok(202)["id"].as_str().unwrap().parse().unwrap();
    let bare = app.create_cluster(ada.org_id, &key, "scratch").await;
    let bare: Uuid = bare["id"].as_str().unwrap().parse().unwrap();
    app.patch(
        &format!("{clusters}/{labelled}"),
        &key,
        json!({ "labels": { "team": "b" } }),
    )
    .await
    .ok(202);
    // When the change took effect, as recorded; the hour it fell in began
    // under the old labels.
    let changed: DateTime<Utc> = sqlx::query_scalar(
        "SELECT valid_from FROM resource_labels WHERE resource_id = $1 AND valid_to IS NULL",
    )
    .bind(labelled)
    .fetch_one(&pool)
    .await
    .unwrap();
    let hour = changed.duration_trunc(Duration::hours(1)).unwrap();
    assert!(hour < changed, "the change fell inside its hour");
    let before = hour - Duration::hours(1);
    let after = hour + Duration::hours(1);
    for (resource, at) in [
        (labelled, before),
        (labelled, hour),
        (labelled, after),
        (bare, before),
    ] {
        rollup(&pool, ada.org_id, resource, "node_seconds", at, 3600).await;
    }

    let range = format!(
        "from={}&to={}",
        before.format("%Y-%m-%dT%H:%M:%SZ"),
        (after + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let usage = format!("/v1/organizations/{}/usage?{range}", ada.org_id);
    let grouped = app.get(&format!("{usage}&group_by=label:team"), &key).await;
    let grouped = grouped.ok(200);
    assert_eq!(grouped["group_by"], "label:team");
    let read: Vec<(i64, Value, Value, &str)> = grouped["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let bucket: DateTime<Utc> = r["bucket"].as_str().unwrap().parse().unwrap();
            (
                (bucket - before).num_hours(),
                r["label"].clone(),
                r["resource_id"].clone(),
                r["quantity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            (0, json!("a"), Value::Null, "3600"),
            (0, Value::Null, Value::Null, "3600"),
            (1, json!("a"), Value::Null, "3600"),
            (2, json!("b"), Value::Null, "3600"),
        ]
    );
    let crate::helpers::Auth::Key(token) = &key else {
        panic!("an API key")
    };
    let text = app
        .request(
            reqwest::Method::GET,
            &format!("{usage}&group_by=label:team&format=csv"),
        )
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().ends_with(",key_id,model,label"));
    assert!(lines.next().unwrap().ends_with(",a"));

    // Ungrouped rows are per resource, with no label.
    let plain = app.get(&usage, &key).await;
    assert!(
        plain.ok(200)["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["resource_id"].is_string() && r["label"].is_null())
    );
    for bad in ["team", "label:", "label:-x", "label:a/b/c", "tag:team"] {
        let refused = app.get(&format!("{usage}&group_by={bad}"), &key).await;
        assert_eq!(
            fields(refused.problem(422, "validation-failed")),
            ["group_by"],
            "{bad}"
        );
    }
}
