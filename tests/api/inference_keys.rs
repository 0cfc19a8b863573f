//! Inference keys through the REST API: created with the token shown once
//! (never kept for replays), scoped to the organization, revoked; and the
//! key set a data plane's gateway fetches with its own token, tagged so
//! that an unchanged set costs a 304; and the keys on an endpoint's page.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::forms::{Browser, csrf};
use crate::helpers::{Auth, REGION, Reply, TestApp};

const KEY_SET: &str = crds::gateway::KEY_SET_PATH;

async fn data_plane_token(app: &TestApp, data_plane: Uuid) -> Auth {
    Auth::Key(app.data_plane_token(data_plane).await)
}

/// The key set, unless it is still the one tagged `tag`.
async fn key_set_unless(app: &TestApp, gateway: &Auth, tag: &str) -> Reply {
    let headers = [("if-none-match", tag)];
    app.send(Method::GET, KEY_SET, gateway, None, &headers)
        .await
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_key_is_shown_once_kept_in_its_organization_and_revoked(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let bob = app.signup("bob@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let chat = app.create_endpoint(ada.org_id, &ada.session, REGION).await;
    let keys = format!("/v1/organizations/{}/inference-keys", ada.org_id);

    let body = json!({ "name": "bot", "endpoint_id": chat, "requests_per_minute": 60 });
    let headers = [("idempotency-key", "make-bot-key")];
    let created = app
        .send(
            Method::POST,
            &keys,
            &ada.session,
            Some(body.clone()),
            &headers,
        )
        .await;
    let created = created.ok(201).clone();
    assert_eq!(created["object"], "inference_key");
    assert_eq!(created["endpoint_id"], json!(chat));
    assert_eq!(created["requests_per_minute"], 60);
    assert_eq!(created["tokens_per_minute"], Value::Null);
    let token = created["token"].as_str().unwrap();
    let prefix = created["prefix"].as_str().unwrap();
    assert!(token.starts_with(&format!("qmi_{prefix}_")), "{token}");

    // A replay answers the same key without its secret, which was never kept.
    let replay = app
        .send(Method::POST, &keys, &ada.session, Some(body), &headers)
        .await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.ok(201)["id"], created["id"]);
    assert_eq!(replay.body.get("token"), None);
    let everything = app.stored_rows().await;
    let stored = serde_json::to_string(&everything).unwrap();
    assert!(!stored.contains(token), "the token is stored somewhere");

    let one = format!("{keys}/{}", created["id"].as_str().unwrap());
    assert_eq!(app.get(&one, &ada.session).await.ok(200)["name"], "bot");
    assert_eq!(app.get(&one, &ada.session).await.body.get("token"), None);
    let listed = app.get(&keys, &ada.session).await;
    assert_eq!(listed.ok(200)["data"].as_array().unwrap().len(), 1);

    // Bob sees neither Ada's organization nor her key through his own.
    app.get(&keys, &bob.session).await.problem(404, "not-found");
    let bobs_view = format!(
        "/v1/organizations/{}/inference-keys/{}",
        bob.org_id,
        created["id"].as_str().unwrap()
    );
    app.get(&bobs_view, &bob.session)
        .await
        .problem(404, "not-found");
    app.delete(&bobs_view, &bob.session)
        .await
        .problem(404, "not-found");

    let revoked = app.delete(&one, &ada.session).await;
    assert!(revoked.ok(200)["revoked_at"].is_string());

    // Field errors together; the plan's cap as a plan limit.
    let bad = app
        .post(
            &keys,
            &ada.session,
            json!({ "name": "", "endpoint_id": Uuid::nil(), "expires_at": "2020-01-01T00:00:00Z" }),
        )
        .await;
    let fields: Vec<&str> = bad.problem(422, "validation-failed")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "expires_at", "endpoint_id"]);
    let over = app
        .post(
            &keys,
            &ada.session,
            json!({ "name": "greedy", "tokens_per_minute": 1_000_000 }),
        )
        .await;
    assert_eq!(
        over.problem(403, "plan-limit-exceeded")["limit"],
        "max_key_tokens_per_minute"
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_gateway_gets_its_own_key_set_then_304_until_a_key_is_revoked(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let chat = app.create_endpoint(ada.org_id, &ada.session, REGION).await;
    let keys = format!("/v1/organizations/{}/inference-keys", ada.org_id);
    let created = app
        .post(&keys, &ada.session, json!({ "name": "bot" }))
        .await;
    let created = created.ok(201).clone();
    let token = created["token"].as_str().unwrap();
    let gateway = data_plane_token(&app, app.data_plane).await;

    let first = app.get(KEY_SET, &gateway).await;
    let set = first.ok(200);
    assert_eq!(first.headers["content-type"], "application/json");
    assert_eq!(set["keys"].as_array().unwrap().len(), 1);
    let key = &set["keys"][0];
    assert_eq!(key["id"], created["id"]);
    assert_eq!(key["organization_id"], json!(ada.org_id));
    assert_eq!(key["hash"], crds::gateway::key_hash(token));
    assert_eq!(key["requests_per_minute"], 600, "the Starter cap");
    assert_eq!(set["endpoints"][0]["id"], json!(chat));
    assert_eq!(
        set["endpoints"][0]["served_model"],
        "meta-llama/Llama-3.1-8B-Instruct"
    );
    assert_eq!(set["refused"], json!([]));
    let tag = first.headers["etag"].to_str().unwrap().to_owned();
    assert!(tag.starts_with('"') && tag.len() == 66, "{tag}");

    let again = key_set_unless(&app, &gateway, &tag).await;
    assert_eq!(again.status, 304);
    assert_eq!(again.body, Value::Null, "no body");
    assert_eq!(again.headers["etag"].to_str().unwrap(), tag);

    app.delete(
        &format!("{keys}/{}", created["id"].as_str().unwrap()),
        &ada.session,
    )
    .await
    .ok(200);
    let after = key_set_unless(&app, &gateway, &tag).await;
    assert_eq!(after.ok(200)["keys"], json!([]), "the revoked key is gone");
    assert_ne!(after.headers["etag"].to_str().unwrap(), tag);

    // Another data plane sees nothing of this one's.
    let other = {
        let mut conn = app.pool.acquire().await.unwrap();
        control_plane::data_planes::ensure_simulated(&mut conn, "sim-other", "elsewhere")
            .await
            .unwrap()
    };
    app.post(&keys, &ada.session, json!({ "name": "second" }))
        .await
        .ok(201);
    let theirs = data_plane_token(&app, other).await;
    let set = app.get(KEY_SET, &theirs).await;
    assert_eq!(
        *set.ok(200),
        json!({ "keys": [], "refused": [], "endpoints": [] })
    );

    for bad in [Auth::None, Auth::Key("qmdp_not-a-token".into())] {
        let refused = app.get(KEY_SET, &bad).await;
        assert_eq!(refused.status, 401, "{bad:?}");
        assert_eq!(refused.headers["content-type"], "application/problem+json");
    }
    // A customer's own API key is no data plane's token.
    let api_key = app.api_key(&ada).await;
    app.get(KEY_SET, &api_key)
        .await
        .problem(401, "invalid-api-key");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_endpoint_page_makes_shows_once_and_revokes_its_keys_and_names_the_base_url(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let mut ada = Browser::signed_up(&app, "ada@example.com").await;
    let (_, home, _) = ada.get("/").await;
    let (_, _, page) = ada.get(&home).await;
    let token = csrf(&page);
    let (status, _, _) = ada
        .post(
            &format!("{home}/billing/plan"),
            &[("csrf", &token), ("plan", "starter")],
        )
        .await;
    assert_eq!(status, 303);
    let fields = [
        ("csrf", token.as_str()),
        ("name", "chat"),
        ("region", REGION),
        ("model_repository", "meta-llama/Llama-3.1-8B-Instruct"),
        ("model_revision", "main"),
        ("gpu_model", "nvidia-l4"),
    ];
    let (status, _, _) = ada.post(&format!("{home}/endpoints"), &fields).await;
    assert_eq!(status, 303);
    let (_, _, list) = ada.get(&format!("{home}/endpoints")).await;
    let link = list
        .split("href=\"")
        .map(|a| a.split('"').next().unwrap())
        .find(|a| a.contains("/endpoints/"))
        .unwrap()
        .to_owned();

    let (_, _, page) = ada.get(&link).await;
    assert!(
        page.contains("this region has no inference gateway yet"),
        "{page}"
    );
    assert!(page.contains("No key may call this endpoint yet."));
    app.set_gateway_url("https://gw.example.com").await;
    let (_, _, page) = ada.get(&link).await;
    assert!(
        page.contains(r#"<code data-testid="base-url">https://gw.example.com/v1</code>"#),
        "{page}"
    );

    let keys = format!("{link}/inference-keys");
    let new_key = [
        ("csrf", token.as_str()),
        ("name", "bot"),
        ("scope", "endpoint"),
        ("expires_in_days", ""),
        ("requests_per_minute", "10"),
        ("tokens_per_minute", ""),
    ];
    let (status, _, made) = ada.post(&keys, &new_key).await;
    assert_eq!(status, 201, "{made}");
    let secret = made
        .split(r#"data-testid="new-inference-key">"#)
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("qmi_"), "{secret}");
    let (_, _, page) = ada.get(&link).await;
    assert!(page.contains("<td>bot</td>") && page.contains("this endpoint"));
    assert!(!page.contains(&secret), "shown once");

    let mut bad = new_key;
    bad[1] = ("name", "wide");
    bad[2] = ("scope", "all");
    bad[3] = ("expires_in_days", "0");
    let (status, _, refused) = ada.post(&keys, &bad).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused.contains("expires_in_days"), "{refused}");

    let revoke = page
        .split("action=\"")
        .map(|a| a.split('"').next().unwrap())
        .find(|a| a.ends_with("/revoke"))
        .unwrap()
        .to_owned();
    let (status, location, _) = ada.post(&revoke, &[("csrf", &token)]).await;
    assert_eq!((status, location), (303, format!("{link}#inference-keys")));
    let (_, _, page) = ada.get(&link).await;
    assert!(
        page.contains("No key may call this endpoint yet."),
        "{page}"
    );
}
