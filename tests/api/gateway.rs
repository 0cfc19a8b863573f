//! The inference gateway against this control plane, over HTTP as a data
//! plane runs it: a key made through the API admits a chat, the gateway's
//! token usage goes through ingest into the rollups and onto an invoice
//! line that traces back to them, and a data plane wakes its own endpoints
//! only.

use std::sync::Arc;
use std::time::Duration;

use billing::period::Period;
use chrono::Utc;
use gateway::control_plane::{self as reporting, ControlPlane};
use gateway::keys::{KeyStore, Keys};
use gateway::pods::{Pod, Pods};
use gateway::standin::{self, Engine};
use gateway::{Gateway, router};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::billing::{close_period, invoices_of, traced_rollups};
use crate::helpers::{Auth, REGION, TestApp};

const SERVED: &str = "meta-llama/Llama-3.1-8B-Instruct";

/// A gateway for the test's data plane, with its key set fetched once
/// through `GET /v1/data-plane/inference-keys`, in front of a stand-in
/// serving `endpoint`; its URL.
async fn gateway(app: &TestApp, endpoint: Uuid) -> (Arc<Gateway>, ControlPlane, String) {
    let token = app.data_plane_token(app.data_plane).await;
    let control_plane = ControlPlane::new(&app.base, token, Duration::from_secs(10)).unwrap();
    let (set, _) = control_plane.key_set(None).await.unwrap().unwrap();
    let keys = Arc::new(KeyStore::new(Duration::from_secs(600)));
    keys.replace(Keys::new(set));
    let engine = standin::serve(Engine::new(SERVED, Some("engine-key")))
        .await
        .unwrap();
    let pods = Arc::new(Pods::default());
    pods.set(
        endpoint,
        vec![Pod::new(engine.base_url(), Some("engine-key".into()))],
    );
    let gateway = Arc::new(Gateway::new(keys, pods, Arc::new(control_plane.clone()), 8).unwrap());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway::serve(listener, router(Arc::clone(&gateway))));
    (gateway, control_plane, url)
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_chat_through_the_gateway_is_billed_on_a_line_that_traces_to_its_hours(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let endpoint: Uuid = app
        .create_endpoint(ada.org_id, &ada.session, REGION)
        .await
        .parse()
        .unwrap();
    let created = app
        .post(
            &format!("/v1/organizations/{}/inference-keys", ada.org_id),
            &ada.session,
            json!({ "name": "support bot" }),
        )
        .await;
    let created = created.ok(201).clone();
    let (key_id, token) = (
        created["id"].as_str().unwrap(),
        created["token"].as_str().unwrap(),
    );

    let (gateway, control_plane, url) = gateway(&app, endpoint).await;
    let answer: Value = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(token)
        .json(&json!({"model": "chat", "max_tokens": 4,
            "messages": [{"role": "user", "content": "one two three"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["usage"]["prompt_tokens"], 3, "{answer}");
    assert_eq!(answer["usage"]["completion_tokens"], 4);

    // What the gateway holds goes through the ingest path; once stored, it
    // is forgotten there.
    reporting::report(
        &control_plane,
        &gateway.ledger,
        "quartermaster-gateway/test",
        true,
    )
    .await;
    assert!(
        gateway.ledger.pending().is_empty(),
        "the control plane did not store the report"
    );

    let usage = app
        .get(
            &format!("/v1/organizations/{}/usage?key_id={key_id}", ada.org_id),
            &ada.session,
        )
        .await;
    let rows = usage.ok(200)["data"].as_array().unwrap().clone();
    let tokens = |meter: &str| {
        rows.iter()
            .filter(|r| r["meter"] == meter)
            .map(|r| {
                r["quantity"]
                    .as_str()
                    .map_or_else(|| r["quantity"].to_string(), str::to_owned)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(tokens("input_tokens"), ["3"], "{rows:?}");
    assert_eq!(tokens("output_tokens"), ["4"]);

    // The period's close bills them on lines that trace to those hours.
    let period = Period::containing(Utc::now());
    assert_eq!(close_period(&pool, period).await.created, 1);
    let invoices = app.get(&invoices_of(&ada), &ada.session).await;
    let id = invoices.ok(200)["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invoice = app
        .get(&format!("{}/{id}", invoices_of(&ada)), &ada.session)
        .await;
    let lines = invoice.ok(200)["lines"].as_array().unwrap().clone();
    for (meter, quantity) in [("input_tokens", "3"), ("output_tokens", "4")] {
        let line = lines
            .iter()
            .find(|l| l["meter"] == meter)
            .unwrap_or_else(|| panic!("no {meter} line in {lines:?}"));
        assert_eq!(
            (line["dimension"].as_str(), line["rollup_quantity"].as_str()),
            (Some(SERVED), Some(quantity))
        );
        let rollups = traced_rollups(&app, &ada, &id, line).await;
        assert_eq!(rollups.len(), 1);
        assert_eq!(rollups[0]["dimension"], format!("{key_id} {SERVED}"));
    }
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_data_plane_wakes_its_own_endpoints_and_no_other(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let endpoint = app.create_endpoint(ada.org_id, &ada.session, REGION).await;
    let wake = format!("/v1/data-plane/endpoints/{endpoint}/wake");

    let own = Auth::Key(app.data_plane_token(app.data_plane).await);
    app.post(&wake, &own, json!(null)).await.ok(204);
    let woken: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT wake_requested_at FROM inference_endpoints WHERE id = $1::uuid")
            .bind(&endpoint)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(woken.is_some());

    let other = {
        let mut conn = pool.acquire().await.unwrap();
        control_plane::data_planes::ensure_simulated(&mut conn, "sim-other", "elsewhere")
            .await
            .unwrap()
    };
    let theirs = Auth::Key(app.data_plane_token(other).await);
    app.post(&wake, &theirs, json!(null))
        .await
        .problem(404, "not-found");
    app.post(&wake, &Auth::Key("qmdp_nope".into()), json!(null))
        .await
        .problem(401, "invalid-api-key");
}
