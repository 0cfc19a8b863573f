//! Customer-run data planes (BYOC) through the API: a business
//! organization registers one (its enrollment token shown once), others
//! are refused and store nothing, nobody else sees or places into it, and
//! the close rates usage there by the catalog's customer-run price list.

use billing::Period;
use chrono::{Duration, DurationRound, Utc};
use metering::{Meter, UsageEvent};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::billing::{close_period, history, invoices_of, rollup, traced_rollups};
use crate::helpers::{Auth, Customer, REGION, TestApp};

const GIB: i64 = 1 << 30;

fn data_planes(org: Uuid) -> String {
    format!("/v1/organizations/{org}/data-planes")
}

/// Registers a data plane for `region` as `auth`, with an idempotency key.
async fn register(
    app: &TestApp,
    org: Uuid,
    auth: &Auth,
    region: &str,
    key: &str,
) -> crate::helpers::Reply {
    app.send(
        Method::POST,
        &data_planes(org),
        auth,
        Some(json!({ "name": format!("{region}-plane"), "region": region })),
        &[("idempotency-key", key)],
    )
    .await
}

async fn business(app: &TestApp, email: &str) -> Customer {
    let customer = app.signup(email).await;
    app.set_plan(customer.org_id, &customer.session, "business")
        .await;
    customer
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_business_organization_registers_its_data_plane_and_sees_the_token_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = business(&app, "ada@example.com").await;

    let first = register(&app, ada.org_id, &ada.session, "ada-eu", "byoc-1").await;
    let created = first.ok(201).clone();
    assert_eq!(first.headers["cache-control"], "no-store");
    assert_eq!(
        (
            &created["object"],
            &created["region"],
            &created["standing"],
            &created["price_list"]
        ),
        (
            &json!("data_plane"),
            &json!("ada-eu"),
            &json!("awaiting_enrollment"),
            &json!("customer-run")
        )
    );
    let token = created["enrollment_token"].as_str().unwrap();

    // A replay answers the same data plane, without the token.
    let replay = register(&app, ada.org_id, &ada.session, "ada-eu", "byoc-1").await;
    let replayed = replay.ok(201);
    assert_eq!(replayed["id"], created["id"]);
    assert!(replayed.get("enrollment_token").is_none(), "{replayed}");

    // Listed with its standing; the operator enrolls with the token.
    let listed = app.get(&data_planes(ada.org_id), &ada.session).await;
    let listed = listed.ok(200)["data"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], created["id"]);
    app.post(
        "/v1/data-plane/enroll",
        &Auth::None,
        json!({ "token": token }),
    )
    .await
    .ok(200);
    let listed = app.get(&data_planes(ada.org_id), &ada.session).await;
    assert_eq!(listed.ok(200)["data"][0]["standing"], "connected");

    // The region (or the name) is taken, whoever asks.
    register(&app, ada.org_id, &ada.session, "ada-eu", "byoc-2")
        .await
        .problem(409, "data-plane-exists");
    register(&app, ada.org_id, &ada.session, REGION, "byoc-3")
        .await
        .problem(409, "data-plane-exists");
    register(&app, ada.org_id, &ada.session, " ", "byoc-4")
        .await
        .problem(422, "validation-failed");

    // Audited once, with who did it.
    let log = app
        .get(
            &format!("/v1/organizations/{}/audit-log", ada.org_id),
            &ada.session,
        )
        .await;
    let registered: Vec<_> = log.ok(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "data_plane.register")
        .cloned()
        .collect();
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["target_id"], created["id"]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_starter_organization_or_a_mere_member_is_refused_and_nothing_is_stored(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let bob = app.signup("bob@example.com").await;
    app.set_plan(bob.org_id, &bob.session, "starter").await;
    let before = app.stored_rows().await;
    let refused = register(&app, bob.org_id, &bob.session, "bob-eu", "k1").await;
    let problem = refused.problem(403, "plan-limit-exceeded");
    assert!(
        problem["detail"].as_str().unwrap().contains("Business"),
        "{problem}"
    );
    assert_eq!(app.stored_rows().await, before);

    // A member of a business organization, or an API key with the
    // default scopes, may not register one.
    let ada = business(&app, "ada@example.com").await;
    let cy = app.signup("cy@example.com").await;
    app.post(
        &format!("/v1/organizations/{}/members", ada.org_id),
        &ada.session,
        json!({ "email": "cy@example.com", "role": "member" }),
    )
    .await
    .ok(201);
    let key = app.api_key(&ada).await;
    let before = app.stored_rows().await;
    for auth in [&cy.session, &key] {
        register(&app, ada.org_id, auth, "ada-eu", "k2")
            .await
            .problem(403, "forbidden");
    }
    assert_eq!(app.stored_rows().await, before);
    // The member still sees where clusters may go.
    let listed = app.get(&data_planes(ada.org_id), &cy.session).await;
    assert_eq!(listed.ok(200)["data"], json!([]));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn another_organization_neither_sees_nor_places_into_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = business(&app, "ada@example.com").await;
    let eve = business(&app, "eve@example.com").await;
    register(&app, ada.org_id, &ada.session, "ada-eu", "k")
        .await
        .ok(201);

    let listed = app.get(&data_planes(eve.org_id), &eve.session).await;
    assert_eq!(listed.ok(200)["data"], json!([]));
    app.get(&data_planes(ada.org_id), &eve.session)
        .await
        .problem(404, "not-found");
    let placed = app
        .post(
            &format!("/v1/organizations/{}/clusters", eve.org_id),
            &eve.session,
            json!({ "name": "sneaky", "region": "ada-eu" }),
        )
        .await;
    placed.problem(422, "validation-failed");
    app.post(
        &format!("/v1/organizations/{}/clusters", ada.org_id),
        &ada.session,
        json!({ "name": "mine", "region": "ada-eu" }),
    )
    .await
    .ok(202);

    // Its usage is rated by the customer-run list: a catalog without it
    // cannot be published any more.
    let mut catalog = billing::Catalog::default_catalog().unwrap();
    catalog.price_lists.clear();
    let mut tx = app.pool.begin().await.unwrap();
    let refused = billing::catalog_store::publish(&mut tx, &catalog, "test").await;
    assert!(
        matches!(
            refused,
            Err(billing::Error::Catalog(billing::CatalogError::PriceListInUse(ref id))) if id == "customer-run"
        ),
        "{refused:?}"
    );
}

/// Reports `node_hours` of `cluster` in the current hour through the
/// ingest endpoint, as data plane `plane`'s collector.
async fn report_nodes(app: &TestApp, plane: Uuid, org: Uuid, cluster: Uuid, node_hours: i64) {
    let event = UsageEvent {
        source: format!("dataplane/{plane}/collector"),
        id: format!("{cluster}-nodes"),
        organization_id: org,
        resource_id: cluster,
        meter: Meter::NodeSeconds,
        dimension: String::new(),
        time: Utc::now().duration_trunc(Duration::hours(1)).unwrap(),
        value: node_hours * 3600,
    };
    let token = app.data_plane_token(plane).await;
    app.post(
        "/v1/usage/events",
        &Auth::Key(token),
        json!([event.to_wire()]),
    )
    .await
    .ok(200);
}

fn usage_line<'a>(lines: &'a [Value], meter: &str, price_list: Option<&str>) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| {
            l["kind"] == "usage" && l["meter"] == meter && l["price_list"] == json!(price_list)
        })
        .collect()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_close_bills_node_hours_in_its_own_data_plane_at_the_platform_fee_and_nothing_else(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = business(&app, "ada@example.com").await;
    let period = Period::containing(Utc::now());
    // Business all period, so the fee and the allowance are whole.
    history(&pool, ada.org_id, &[("business", period.start())]).await;
    let created = register(&app, ada.org_id, &ada.session, "ada-eu", "k").await;
    let plane: Uuid = created.ok(201)["id"].as_str().unwrap().parse().unwrap();
    let cluster = |name: &'static str, region: &'static str| {
        let app = &app;
        let ada = &ada;
        async move {
            let created = app
                .post(
                    &format!("/v1/organizations/{}/clusters", ada.org_id),
                    &ada.session,
                    json!({ "name": name, "region": region }),
                )
                .await;
            created.ok(202)["id"]
                .as_str()
                .unwrap()
                .parse::<Uuid>()
                .unwrap()
        }
    };
    let own = cluster("own", "ada-eu").await;
    let shared = cluster("shared", REGION).await;

    report_nodes(&app, plane, ada.org_id, own, 1_000).await;
    report_nodes(&app, app.data_plane, ada.org_id, shared, 700).await;
    // 100 TiB held for an hour by each (written as a rollup: a gauge's
    // time weighting is metering's to test).
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    for id in [own, shared] {
        rollup(
            &pool,
            ada.org_id,
            id,
            "storage_bytes",
            hour,
            100 * 1024 * GIB,
        )
        .await;
    }

    close_period(&pool, period).await;
    let list = app.get(&invoices_of(&ada), &ada.session).await;
    let id = list.ok(200)["data"][0]["id"].as_str().unwrap().to_owned();
    let invoice = app
        .get(&format!("{}/{id}", invoices_of(&ada)), &ada.session)
        .await;
    let invoice = invoice.ok(200).clone();
    let lines = invoice["lines"].as_array().unwrap();

    // Customer-run: 1,000 node-hours at $0.02; its storage is not billed.
    let own_nodes = usage_line(lines, "node_seconds", Some("customer-run"));
    assert_eq!(own_nodes.len(), 1, "{lines:#?}");
    assert_eq!(
        (
            &own_nodes[0]["amount_minor"],
            &own_nodes[0]["unit_amount_minor"],
            &own_nodes[0]["description"]
        ),
        (
            &json!(2_000),
            &json!(2),
            &json!("node-hour (Customer-run price list), Business plan")
        )
    );
    assert!(usage_line(lines, "storage_bytes", Some("customer-run")).is_empty());
    // Shared: 700 node-hours at $0.05, storage beyond 16 GiB at $0.25.
    let shared_nodes = usage_line(lines, "node_seconds", None);
    assert_eq!(shared_nodes[0]["amount_minor"], 3_500);
    let storage = usage_line(lines, "storage_bytes", None);
    assert_eq!(storage.len(), 1);
    let seconds = i128::from(period.seconds());
    // (102,400 GiB·h − 16 GiB·month) in GiB-months at 25, half away from zero.
    let numerator = (102_400 * 3600 - 16 * seconds) * 25;
    let expected = i64::try_from((2 * numerator + seconds) / (2 * seconds)).unwrap();
    assert_eq!(storage[0]["amount_minor"], expected);
    assert_eq!(
        invoice["subtotal_minor"],
        10_000 + 2_000 + 3_500 + expected,
        "exact, in cents"
    );

    // Each line traces to its own cluster's rollups only.
    let traced = traced_rollups(&app, &ada, &id, own_nodes[0]).await;
    assert_eq!(traced.len(), 1);
    assert_eq!(traced[0]["resource_id"], own.to_string());
    let traced = traced_rollups(&app, &ada, &id, shared_nodes[0]).await;
    assert_eq!(traced.len(), 1);
    assert_eq!(traced[0]["resource_id"], shared.to_string());
    let traced = traced_rollups(&app, &ada, &id, storage[0]).await;
    assert_eq!(traced.len(), 1);
    assert_eq!(traced[0]["resource_id"], shared.to_string());
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn backups_are_offered_only_where_the_organization_says_its_chart_names_a_bucket(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = business(&app, "ada@example.com").await;
    register(&app, ada.org_id, &ada.session, "ada-plain", "byoc-plain")
        .await
        .ok(201);
    app.send(
        Method::POST,
        &data_planes(ada.org_id),
        &ada.session,
        Some(json!({ "name": "ada-backed", "region": "ada-backed", "backups": true })),
        &[],
    )
    .await
    .ok(201);
    let destinations: Vec<(String, Option<Value>)> = sqlx::query_as(
        "SELECT region, backup_destination FROM data_planes
         WHERE organization_id = $1 ORDER BY region",
    )
    .bind(ada.org_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    // The bucket is the data plane's own: the control plane keeps none.
    assert_eq!(destinations[0].0, "ada-backed");
    assert_eq!(destinations[0].1.as_ref().unwrap()["bucket"], "");
    assert_eq!(destinations[1], ("ada-plain".to_owned(), None));
}
