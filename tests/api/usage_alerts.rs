//! Usage and spend alerts: set through the API, evaluated by the billing
//! worker as usage arrives, each threshold told once a period by email and
//! by webhook, however many workers evaluate it.

use chrono::{Duration, DurationRound, Utc};
use metering::{Meter, UsageEvent};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::billing::worker;
use crate::helpers::{Auth, Customer, TestApp};
use crate::receiver::Receiver;

const GIB: i64 = 1 << 30;

fn alerts_of(customer: &Customer) -> String {
    format!("/v1/organizations/{}/usage-alerts", customer.org_id)
}

/// Reports `bytes` stored by `cluster` in the hour `hours_ago` back, as the
/// data plane's collector does.
async fn report_storage(app: &TestApp, org: Uuid, cluster: Uuid, hours_ago: i64, bytes: i64) {
    let hour = (Utc::now() - Duration::hours(hours_ago))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let event = UsageEvent {
        source: "dataplane/sim-test/collector".into(),
        id: format!("storage-{hours_ago}"),
        organization_id: org,
        resource_id: cluster,
        meter: Meter::StorageBytes,
        dimension: String::new(),
        time: hour,
        value: bytes,
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

/// The alert emails queued for `to`, by subject.
async fn emails(pool: &PgPool, to: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT payload->>'subject' FROM outbox
         WHERE topic = 'email.send' AND payload->>'to' = $1 AND payload->>'subject' LIKE '%reached%'
         ORDER BY id",
    )
    .bind(to)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn deliver(pool: &PgPool) -> usize {
    let client = control_plane::webhooks::delivery::client(
        control_plane::webhooks::UrlPolicy::AllowLoopback,
    )
    .unwrap();
    control_plane::webhooks::deliver(pool, &client, Utc::now() + Duration::days(40))
        .await
        .unwrap()
        .delivered
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_free_tiers_storage_cap_warns_once_a_period_at_80_percent(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let receiver = Receiver::start().await;
    let endpoint = app
        .post(
            &format!("/v1/organizations/{}/webhook-endpoints", ada.org_id),
            &ada.session,
            json!({ "url": receiver.url, "event_types": ["usage.threshold_crossed"] }),
        )
        .await;
    receiver.trust(&[endpoint.ok(201)["secret"].as_str().unwrap()]);
    let cluster = app.create_cluster(ada.org_id, &ada.session, "search").await;
    let cluster: Uuid = cluster["id"].as_str().unwrap().parse().unwrap();
    let worker = worker(&pool).await;
    let now = Utc::now();

    // 0.5 GiB of the free tier's 1 GiB: nothing to say.
    report_storage(&app, ada.org_id, cluster, 4, GIB / 2).await;
    assert_eq!(worker.run_once_at(now).await.unwrap().alerts_fired, 0);

    // Over 80 %: told once, by email and by webhook.
    report_storage(&app, ada.org_id, cluster, 3, GIB * 85 / 100).await;
    assert_eq!(worker.run_once_at(now).await.unwrap().alerts_fired, 1);
    assert_eq!(
        worker.run_once_at(now).await.unwrap().alerts_fired,
        0,
        "evaluated again"
    );
    // Down under, then over 80 % again in the same period: not told again.
    report_storage(&app, ada.org_id, cluster, 2, GIB / 2).await;
    worker.run_once_at(now).await.unwrap();
    report_storage(&app, ada.org_id, cluster, 1, GIB * 9 / 10).await;
    assert_eq!(worker.run_once_at(now).await.unwrap().alerts_fired, 0);
    assert_eq!(
        emails(&pool, "ada@example.com").await,
        ["Your storage reached 80 % of 1 GiB"]
    );
    assert_eq!(deliver(&pool).await, 1);
    let events = receiver.events();
    assert_eq!(events.len(), 1);
    let crossed = &events[0]["data"]["object"];
    assert_eq!(crossed["alert"], "default:storage_cap");
    assert_eq!(
        (crossed["percent"].as_i64(), crossed["metric"].as_str()),
        (Some(80), Some("storage_bytes"))
    );

    // The next period, still over: told again, once.
    let next = billing::Period::containing(now).next().start() + Duration::hours(1);
    report_storage(&app, ada.org_id, cluster, 0, GIB * 9 / 10).await;
    assert_eq!(worker.run_once_at(next).await.unwrap().alerts_fired, 1);
    report_storage(&app, ada.org_id, cluster, 5, GIB / 10).await;
    assert_eq!(worker.run_once_at(next).await.unwrap().alerts_fired, 0);
    assert_eq!(emails(&pool, "ada@example.com").await.len(), 2);
    assert_eq!(deliver(&pool).await, 1);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn two_billing_workers_at_once_fire_a_threshold_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let cluster = app.create_cluster(ada.org_id, &ada.session, "search").await;
    let cluster: Uuid = cluster["id"].as_str().unwrap().parse().unwrap();
    // Her own alert: 50 % and 100 % of 2 GiB stored.
    let set = app
        .post(
            &alerts_of(&ada),
            &ada.session,
            json!({ "metric": "storage_bytes", "budget": 2 * GIB, "percents": [100, 50, 50] }),
        )
        .await;
    let alert = set.ok(201).clone();
    assert_eq!(alert["percents"], json!([50, 100]), "sorted, once each");
    let (one, two) = (worker(&pool).await, worker(&pool).await);
    let now = Utc::now();
    // One pass first closes last month: two closes at once would refuse
    // each other (`CloseRunning`), which is not what this test is about.
    one.run_once_at(now).await.unwrap();
    report_storage(&app, ada.org_id, cluster, 1, GIB * 3 / 2).await;
    let (a, b) = tokio::join!(one.run_once_at(now), two.run_once_at(now));
    assert_eq!(a.unwrap().alerts_fired + b.unwrap().alerts_fired, 1);
    let fired: Vec<(String, i16)> =
        sqlx::query_as("SELECT alert, percent FROM usage_alert_firings")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(fired, [(alert["id"].as_str().unwrap().to_owned(), 50)]);
    assert_eq!(emails(&pool, "ada@example.com").await.len(), 1);
    // Both workers again, with the usage marked changed once more.
    report_storage(&app, ada.org_id, cluster, 0, GIB * 3 / 2).await;
    let (a, b) = tokio::join!(one.run_once_at(now), two.run_once_at(now));
    assert_eq!(a.unwrap().alerts_fired + b.unwrap().alerts_fired, 0);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn alerts_are_the_organizations_own_and_bad_ones_are_named(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let bob = app.signup("bob@example.com").await;
    let set = app
        .post(
            &alerts_of(&ada),
            &ada.session,
            json!({ "metric": "spend", "budget": 50000 }),
        )
        .await;
    let alert = set.ok(201).clone();
    assert_eq!(
        alert["percents"],
        json!([80, 100]),
        "the default percentages"
    );
    let path = format!("{}/{}", alerts_of(&ada), alert["id"].as_str().unwrap());

    let before = app.stored_rows().await;
    let bad = app
        .post(
            &alerts_of(&ada),
            &ada.session,
            json!({ "metric": "dollars", "budget": 0, "percents": [0] }),
        )
        .await;
    let fields: Vec<&str> = bad.problem(422, "validation-failed")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["metric", "budget", "percents"]);
    assert_eq!(app.stored_rows().await, before);

    for (method, path) in [
        (Method::GET, alerts_of(&ada)),
        (Method::DELETE, path.clone()),
    ] {
        app.send(method, &path, &bob.session, None, &[])
            .await
            .problem(404, "not-found");
    }
    let listed = app.get(&alerts_of(&ada), &ada.session).await;
    assert_eq!(listed.ok(200)["data"].as_array().unwrap().len(), 1);
    app.delete(&path, &ada.session).await.ok(200);
    let listed = app.get(&alerts_of(&ada), &ada.session).await;
    assert_eq!(listed.ok(200)["data"], Value::Array(vec![]));
    app.delete(&path, &ada.session)
        .await
        .problem(404, "not-found");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_usage_page_sets_an_alert_in_dollars_and_removes_it(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut ada = crate::forms::Browser::signed_up(&app, "ada@example.com").await;
    let (_, home, _) = ada.get("/").await;
    let usage = format!("{home}/usage");
    let (status, _, page) = ada.get(&usage).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"<option value="storage_bytes">storage_bytes (GiB)</option>"#),
        "{page}"
    );
    let token = crate::forms::csrf(&page);

    let form = [
        ("csrf", token.as_str()),
        ("metric", "spend"),
        ("budget", "500"),
        ("percents", "50, 80 %, 100"),
    ];
    let (status, location, _) = ada.post(&format!("{usage}/alerts"), &form).await;
    assert_eq!((status, location.as_str()), (303, usage.as_str()));
    let (_, _, page) = ada.get(&usage).await;
    assert!(
        page.contains("$500.00") && page.contains("50 %, 80 %, 100 %"),
        "{page}"
    );
    let stored: (String, i64) = sqlx::query_as("SELECT metric, budget::bigint FROM usage_alerts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, ("spend".to_owned(), 50_000), "stored in cents");

    // A budget that is not a number is named; nothing more is stored.
    let bad = [
        ("csrf", token.as_str()),
        ("metric", "spend"),
        ("budget", "lots"),
        ("percents", "80"),
    ];
    let (status, _, refused) = ada.post(&format!("{usage}/alerts"), &bad).await;
    assert_eq!(status, 422);
    assert!(refused.contains("must be a positive number"), "{refused}");

    let id: Uuid = sqlx::query_scalar("SELECT id FROM usage_alerts")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (status, _, _) = ada
        .post(
            &format!("{usage}/alerts/{id}/delete"),
            &[("csrf", token.as_str())],
        )
        .await;
    assert_eq!(status, 303);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_alerts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
