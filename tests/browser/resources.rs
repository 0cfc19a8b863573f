//! Cluster and endpoint pages: a shrink previewed before it is confirmed,
//! an inference key shown once and revoked.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;
use crate::{Driver, arrive, fill, logged_in, screenshot, submit, text};

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_shrink_shows_what_moves_before_it_is_confirmed(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let bea = app.signup("bea@example.com").await;
    app.set_plan(bea.org_id, &bea.session, "business").await;
    let key = app.api_key(&bea).await;
    let created = app.create_cluster(bea.org_id, &key, "search").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let api = format!("/v1/organizations/{}/clusters/{id}", bea.org_id);
    app.patch(&api, &key, json!({ "nodes": 3 })).await.ok(202);
    // As the data plane reports it: one collection, a shard on each node.
    let shards: Vec<_> = (0..3).map(|s| json!({ "id": s, "nodes": [s] })).collect();
    sqlx::query("UPDATE vector_clusters SET placement = $2 WHERE id = $1::uuid")
        .bind(&id)
        .bind(json!({ "collections": [
            { "name": "docs", "points": 3_000_000, "pointBytes": 3072, "shards": shards }] }))
        .execute(&pool)
        .await
        .unwrap();
    let driver = Driver::start().await;
    let browser = logged_in(&driver, &app.base, "bea@example.com").await;
    let page = format!("{}/orgs/{}/clusters/{id}", app.base, bea.org_id);
    browser.goto(&page).await.unwrap();
    let nodes = browser
        .find(Locator::Css("form[action$='/update'] input[name=nodes]"))
        .await
        .unwrap();
    nodes.clear().await.unwrap();
    nodes.send_keys("2").await.unwrap();
    submit(&browser, "form[action$='/update'] button[type=submit]").await;

    // Nothing changed yet: the page says what the shrink would move.
    browser
        .wait()
        .for_element(Locator::Css("input[name=confirmed]"))
        .await
        .unwrap();
    let shown = text(&browser).await;
    assert!(
        shown.contains("Shrink search from 3 nodes to 2 nodes?"),
        "{shown}"
    );
    assert!(shown.contains("moves from node 2 to node 0"), "{shown}");
    // A third of 3,000,000 points of 3 KiB vectors: 2.8 GiB.
    assert!(
        shown.contains("1000000 points, 2.8 GiB of vectors"),
        "{shown}"
    );
    assert!(
        browser
            .find(Locator::Css("[data-testid=last-replica]"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .starts_with("1 shard has its only copy on a leaving node")
    );
    screenshot(&browser, "shrink-confirm").await;
    let stored = app.get(&api, &key).await;
    assert_eq!(
        stored.ok(200)["spec"]["nodes"],
        3,
        "not changed before confirming"
    );

    submit(&browser, "form:has(input[name=confirmed]) button").await;
    for _ in 0..50 {
        if browser
            .find(Locator::Css("input[name=confirmed]"))
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let changed = app.get(&api, &key).await;
    assert_eq!(changed.ok(200)["spec"]["nodes"], 2);
    browser.close().await.unwrap();
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_inference_key_is_made_on_the_endpoint_page_shown_once_and_revoked(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let created = app
        .post(
            &format!("/v1/organizations/{}/endpoints", ada.org_id),
            &ada.session,
            json!({ "name": "chat", "region": crate::helpers::REGION,
                    "model_repository": "meta-llama/Llama-3.1-8B-Instruct", "gpu_model": "nvidia-l4" }),
        )
        .await;
    let endpoint = created.ok(202)["id"].as_str().unwrap().to_owned();
    app.set_gateway_url("https://gw.example.com").await;

    let driver = Driver::start().await;
    let browser = logged_in(&driver, &app.base, "ada@example.com").await;
    let page = format!("{}/orgs/{}/endpoints/{endpoint}", app.base, ada.org_id);
    browser.goto(&page).await.unwrap();
    assert!(text(&browser).await.contains("https://gw.example.com/v1"));
    screenshot(&browser, "endpoint-keys").await;

    let form = "form[action$='/inference-keys']";
    fill(&browser, &format!("{form} input[name=name]"), "support bot").await;
    fill(
        &browser,
        &format!("{form} input[name=requests_per_minute]"),
        "60",
    )
    .await;
    submit(&browser, &format!("{form} button[type=submit]")).await;
    let token = browser
        .wait()
        .for_element(Locator::Css("[data-testid=new-inference-key]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(token.starts_with("qmi_"), "{token}");
    screenshot(&browser, "endpoint-new-key").await;

    browser.goto(&page).await.unwrap();
    let shown = text(&browser).await;
    assert!(
        shown.contains("support bot") && !shown.contains(&token),
        "{shown}"
    );
    submit(&browser, "form[action$='/revoke'] button").await;
    arrive(&browser, "#inference-keys").await;
    assert!(
        text(&browser)
            .await
            .contains("No key may call this endpoint yet.")
    );
    browser.close().await.unwrap();
}
