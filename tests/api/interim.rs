//! Threshold invoicing: usage reported through the ingest endpoint, an
//! interim invoice issued by the billing worker as soon as the unbilled
//! usage charges reach the plan's threshold, the close billing only the
//! rest, and an unpaid interim invoice dunned like any other.

use billing::Period;
use chrono::{Duration, DurationRound, Utc};
use metering::{Meter, UsageEvent};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::billing::{close_period, invoices_of, worker};
use crate::helpers::{Auth, Customer, TestApp};

/// Reports `node_hours` of `cluster` in the current hour, as event `id`.
async fn report(app: &TestApp, org: Uuid, cluster: Uuid, id: &str, node_hours: i64) {
    let event = UsageEvent {
        source: "dataplane/sim-test/collector".into(),
        id: id.to_owned(),
        organization_id: org,
        resource_id: cluster,
        meter: Meter::NodeSeconds,
        dimension: String::new(),
        time: Utc::now().duration_trunc(Duration::hours(1)).unwrap(),
        value: node_hours * 3600,
    };
    let token = app.data_plane_token(app.data_plane).await;
    app.post(
        "/v1/usage/events",
        &Auth::Key(token),
        json!([event.to_wire()]),
    )
    .await
    .ok(200);
}

async fn invoices(app: &TestApp, ada: &Customer) -> Vec<Value> {
    let list = app.get(&invoices_of(ada), &ada.session).await.ok(200)["data"].clone();
    let mut full = Vec::new();
    for invoice in list.as_array().unwrap() {
        let id = invoice["id"].as_str().unwrap();
        full.push(
            app.get(&format!("{}/{id}", invoices_of(ada)), &ada.session)
                .await
                .ok(200)
                .clone(),
        );
    }
    full
}

fn sum_of(lines: &Value, kind: &str) -> i64 {
    lines
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == kind)
        .map(|l| l["amount_minor"].as_i64().unwrap())
        .sum()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn usage_past_the_threshold_is_invoiced_at_once_and_the_close_bills_only_the_rest(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let cluster = app.create_cluster(ada.org_id, &ada.session, "search").await;
    let cluster: Uuid = cluster["id"].as_str().unwrap().parse().unwrap();
    let worker = worker(&pool).await;
    let now = Utc::now();

    // 5,000 node-hours at $0.05: $250 unbilled, under starter's $500.
    report(&app, ada.org_id, cluster, "a", 5_000).await;
    assert_eq!(worker.run_once_at(now).await.unwrap().interim_invoices, 0);
    // 6,000 more: $550 unbilled, an interim invoice for all of it, once.
    report(&app, ada.org_id, cluster, "b", 6_000).await;
    assert_eq!(worker.run_once_at(now).await.unwrap().interim_invoices, 1);
    assert_eq!(worker.run_once_at(now).await.unwrap().interim_invoices, 0);
    // 2,000 more: $100 unbilled, under the threshold again.
    report(&app, ada.org_id, cluster, "c", 2_000).await;
    assert_eq!(worker.run_once_at(now).await.unwrap().interim_invoices, 0);

    let issued = invoices(&app, &ada).await;
    assert_eq!(issued.len(), 1);
    let interim = &issued[0];
    assert_eq!(
        (
            &interim["kind"],
            &interim["status"],
            &interim["subtotal_minor"]
        ),
        (&json!("interim"), &json!("open"), &json!(55_000))
    );
    assert_eq!(
        sum_of(&interim["lines"], "usage"),
        55_000,
        "usage lines only"
    );
    assert_eq!(
        sum_of(&interim["lines"], "base_fee"),
        0,
        "the fee waits for the close"
    );
    let usage_line = interim["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "usage")
        .unwrap();
    assert_eq!(
        usage_line["rollup_quantity"], "39600000",
        "11,000 node-hours, traced"
    );

    // The close bills the period in full, less the interim invoice.
    let period = Period::containing(now);
    close_period(&pool, period).await;
    let all = invoices(&app, &ada).await;
    let last = all.iter().find(|i| i["kind"] == "period").unwrap();
    let lines = &last["lines"];
    assert_eq!(sum_of(lines, "usage"), 65_000, "13,000 node-hours");
    assert_eq!(sum_of(lines, "interim"), -55_000);
    let deduction = lines
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "interim")
        .unwrap();
    assert_eq!(deduction["billed_invoice_id"], interim["id"]);
    let fee = sum_of(lines, "base_fee");
    assert_eq!(
        last["subtotal_minor"],
        json!(fee + 10_000),
        "the fee and the rest"
    );
    assert_eq!(
        interim["subtotal_minor"].as_i64().unwrap() + last["subtotal_minor"].as_i64().unwrap(),
        fee + 65_000,
        "together, the single invoice the period would have had"
    );

    // Unpaid past the grace period, the interim invoice suspends, as any.
    let pass = worker.run_once_at(now + Duration::days(15)).await.unwrap();
    assert!(pass.enforced.suspended >= 1, "{pass:?}");
    let billing = app
        .get(
            &format!("/v1/organizations/{}/billing", ada.org_id),
            &ada.session,
        )
        .await
        .ok(200)
        .clone();
    let reason = billing["suspended_reason"].as_str().unwrap();
    assert!(
        reason.contains(interim["number"].as_str().unwrap()),
        "{reason}"
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_free_organization_gets_no_interim_invoice(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let cluster = app.create_cluster(ada.org_id, &ada.session, "search").await;
    let cluster: Uuid = cluster["id"].as_str().unwrap().parse().unwrap();
    report(&app, ada.org_id, cluster, "a", 100_000).await;
    let pass = worker(&pool).await.run_once_at(Utc::now()).await.unwrap();
    assert_eq!(pass.interim_invoices, 0);
    assert!(invoices(&app, &ada).await.is_empty());
}
