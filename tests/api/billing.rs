//! Billing through the API: a plan change mid-period rated into one
//! invoice whose every line traces back to its rollups; estimates; the
//! admin's catalog and credits; and continuous enforcement of the free
//! storage cap and of spend limits.
//!
//! Rollups are written directly: metering refuses events older than 48 h,
//! and a closed period is always older. Metering has its own tests.

use std::sync::Arc;

use billing::catalog_store::{self, LiveCatalog};
use billing::{Period, close, dunning};
use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use control_plane::money::worker::BillingWorker;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{Auth, Customer, TestApp, assert_lines, exposition};

const GIB: i64 = 1 << 30;

/// Writes one hourly rollup: for a gauge, `value` held the whole hour.
pub(crate) async fn rollup(
    pool: &PgPool,
    org: Uuid,
    resource: Uuid,
    meter: &str,
    hour: DateTime<Utc>,
    value: i64,
) {
    let quantity = if meter == "node_seconds" {
        value
    } else {
        value * 3600
    };
    let covered = if meter == "node_seconds" { 0 } else { 3600 };
    insert_rollup(pool, (org, resource, meter, ""), hour, quantity, covered).await;
}

/// Writes one hourly rollup of `(organization, resource, meter, dimension)`.
async fn insert_rollup(
    pool: &PgPool,
    (org, resource, meter, dimension): (Uuid, Uuid, &str, &str),
    hour: DateTime<Utc>,
    quantity: i64,
    covered: i64,
) {
    sqlx::query(
        "INSERT INTO usage_hourly (organization_id, resource_id, meter, dimension, hour, quantity,
                                   covered_seconds, events)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 60)",
    )
    .bind(org)
    .bind(resource)
    .bind(meter)
    .bind(dimension)
    .bind(hour)
    .bind(quantity)
    .bind(covered)
    .execute(pool)
    .await
    .unwrap();
}

/// Replaces an organization's plan history, as if it had changed plans then.
pub(crate) async fn history(pool: &PgPool, org: Uuid, plans: &[(&str, DateTime<Utc>)]) {
    sqlx::query("DELETE FROM plan_periods WHERE organization_id = $1")
        .bind(org)
        .execute(pool)
        .await
        .unwrap();
    for (i, (plan, from)) in plans.iter().enumerate() {
        sqlx::query(
            "INSERT INTO plan_periods (organization_id, plan, valid_from, valid_to) VALUES ($1, $2, $3, $4)",
        )
        .bind(org)
        .bind(plan)
        .bind(from)
        .bind(plans.get(i + 1).map(|p| p.1))
        .execute(pool)
        .await
        .unwrap();
    }
    let current = plans.last().unwrap().0;
    sqlx::query("UPDATE subscriptions SET plan = $2 WHERE organization_id = $1")
        .bind(org)
        .bind(current)
        .execute(pool)
        .await
        .unwrap();
}

/// Puts the organization on starter since `from`, as if it had moved then.
pub(crate) async fn on_starter_since(pool: &PgPool, org: Uuid, from: DateTime<Utc>) {
    sqlx::query(
        "UPDATE plan_periods SET plan = 'starter', valid_from = $2 WHERE organization_id = $1",
    )
    .bind(org)
    .bind(from)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE subscriptions SET plan = 'starter' WHERE organization_id = $1")
        .bind(org)
        .execute(pool)
        .await
        .unwrap();
}

pub(crate) async fn close_period(pool: &PgPool, period: Period) -> close::CloseReport {
    let published = catalog_store::current(&mut pool.acquire().await.unwrap())
        .await
        .unwrap()
        .unwrap();
    close::close(
        pool,
        &published,
        period,
        close::closes_at(period),
        Some(&control_plane::webhooks::InvoiceEvents),
        &mut |_, _| {},
    )
    .await
    .unwrap()
}

pub(crate) async fn worker(pool: &PgPool) -> BillingWorker {
    let published = catalog_store::current(&mut pool.acquire().await.unwrap())
        .await
        .unwrap()
        .unwrap();
    BillingWorker::new(
        pool.clone(),
        Arc::new(LiveCatalog::new(published)),
        None,
        dunning::DEFAULT_GRACE,
    )
}

pub(crate) fn invoices_of(customer: &Customer) -> String {
    format!("/v1/organizations/{}/invoices", customer.org_id)
}

/// The rollups behind an invoice line, checked to be as many as it rated
/// and to add up to what it rated.
pub(crate) async fn traced_rollups(
    app: &TestApp,
    customer: &Customer,
    invoice: &str,
    line: &Value,
) -> Vec<Value> {
    let path = format!(
        "{}/{invoice}/lines/{}/usage",
        invoices_of(customer),
        line["line_no"]
    );
    let usage = app.get(&path, &customer.session).await;
    let usage = usage.ok(200);
    let rollups = usage["rollups"].as_array().unwrap().clone();
    assert_eq!(rollups.len() as i64, line["rollup_rows"].as_i64().unwrap());
    assert_eq!(usage["sum"], line["rollup_quantity"]);
    rollups
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_upgrade_mid_month_is_one_invoice_whose_lines_trace_to_their_rollups(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let bob = app.signup("bob@example.com").await;
    let october: Period = "2026-10".parse().unwrap();
    let upgrade = Utc.with_ymd_and_hms(2026, 10, 16, 12, 30, 0).unwrap();
    history(
        &pool,
        ada.org_id,
        &[
            ("free", october.start() - Duration::days(30)),
            ("starter", upgrade),
        ],
    )
    .await;
    history(&pool, bob.org_id, &[("free", october.start())]).await;

    // One node all month; 8 GiB stored all month.
    let cluster = Uuid::now_v7();
    let hours = october.seconds() / 3600;
    for h in 0..hours {
        let hour = october.start() + Duration::hours(h);
        rollup(&pool, ada.org_id, cluster, "node_seconds", hour, 3600).await;
        rollup(&pool, ada.org_id, cluster, "storage_bytes", hour, 8 * GIB).await;
    }
    let report = close_period(&pool, october).await;
    assert_eq!(
        (report.created, report.nothing_to_bill),
        (1, 1),
        "bob has nothing to pay"
    );
    assert_eq!(
        report.rollup_rows,
        2 * 744,
        "every rollup of the month is rated"
    );

    let list = app.get(&invoices_of(&ada), &ada.session).await;
    let listed = &list.ok(200)["data"];
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let id = listed[0]["id"].as_str().unwrap();
    let invoice = app
        .get(&format!("{}/{id}", invoices_of(&ada)), &ada.session)
        .await;
    let invoice = invoice.ok(200);
    assert_eq!(invoice["status"], "open");

    // Starter from Oct 16 12:30: 15 days 11.5 hours of 31 days of $25, down.
    let starter_seconds = (october.end() - upgrade).num_seconds();
    let fee = 2500 * starter_seconds / october.seconds();
    // Usage from the 12:00 hour, the one the change fell in: 372 hours.
    let node_hours = 372;
    // 8 GiB over those hours, less 4 GiB over the starter seconds, per
    // GiB-month of October, at 25 cents; rounded once.
    let gib_seconds = 8 * node_hours * 3600 - 4 * starter_seconds;
    let storage = (gib_seconds * 25 * 2 + october.seconds()) / (2 * october.seconds());
    let lines = invoice["lines"].as_array().unwrap();
    let amounts: Vec<(&str, i64)> = lines
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap(),
                l["amount_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        amounts,
        [
            ("base_fee", fee),
            ("usage", node_hours * 5),
            ("usage", storage)
        ]
    );
    assert_eq!(invoice["total_minor"], fee + node_hours * 5 + storage);
    assert_eq!(
        invoice["total"],
        format!(
            "${}.{:02}",
            (fee + 1860 + storage) / 100,
            (fee + 1860 + storage) % 100
        )
    );

    // Every usage line names its rollups, and they add up to what it rated.
    for line in lines.iter().filter(|l| l["kind"] == "usage") {
        traced_rollups(&app, &ada, id, line).await;
        assert_eq!(line["usage_from"], "2026-10-16T12:00:00Z");
        assert_eq!(line["usage_to"], "2026-11-01T00:00:00Z");
    }

    // The printable invoice, with the organization's name escaped.
    let Auth::Session(cookie) = &ada.session else {
        unreachable!()
    };
    let html = app
        .request(Method::GET, &format!("{}/{id}/html", invoices_of(&ada)))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 200);
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    let text = html.text().await.unwrap();
    let number = invoice["number"].as_str().unwrap();
    assert!(text.contains(&format!("Invoice {number}")));
    assert!(text.contains("ada&#39;s organization"));
    let download = app
        .request(
            Method::GET,
            &format!("{}/{id}/html?download=1", invoices_of(&ada)),
        )
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        download.headers()["content-disposition"],
        format!("attachment; filename=\"{number}.html\"").as_str()
    );

    // Nobody else sees it, by list, id, line or document.
    assert_eq!(
        app.get(&invoices_of(&bob), &bob.session).await.ok(200)["data"],
        json!([])
    );
    for path in [
        format!("{}/{id}", invoices_of(&ada)),
        format!("{}/{id}/lines/2/usage", invoices_of(&ada)),
        format!("{}/{id}/html", invoices_of(&ada)),
    ] {
        app.get(&path, &bob.session).await.problem(404, "not-found");
    }
    app.get(&format!("{}/{id}", invoices_of(&bob)), &bob.session)
        .await
        .problem(404, "not-found");

    // Closing again writes nothing and changes nothing.
    let before = app.stored_rows().await;
    let again = close_period(&pool, october).await;
    assert_eq!((again.created, again.already_closed), (0, 1));
    assert_eq!(app.stored_rows().await, before);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn tokens_are_billed_per_model_on_the_sum_of_every_key_and_trace_to_their_hours(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let october: Period = "2026-10".parse().unwrap();
    history(
        &pool,
        ada.org_id,
        &[("starter", october.start() - Duration::days(30))],
    )
    .await;

    // Two keys of one model, one of another, on one endpoint: 100 hours of
    // 12 345 input tokens a key, and a little output.
    let endpoint = Uuid::now_v7();
    let (alpha, beta) = (Uuid::now_v7(), Uuid::now_v7());
    let (small, large) = ("org/small", "org/large");
    let hourly = [
        ("input_tokens", alpha, small, 12_345),
        ("input_tokens", beta, small, 12_345),
        ("input_tokens", alpha, large, 12_345),
        ("output_tokens", beta, small, 999),
    ];
    for h in 0..100 {
        let hour = october.start() + Duration::hours(h);
        for (meter, key, model, tokens) in hourly {
            let dimension = format!("{key} {model}");
            insert_rollup(
                &pool,
                (ada.org_id, endpoint, meter, &dimension),
                hour,
                tokens,
                0,
            )
            .await;
        }
    }
    let report = close_period(&pool, october).await;
    assert_eq!(report.created, 1);
    assert_eq!(report.rollup_rows, 400);

    let id = app.get(&invoices_of(&ada), &ada.session).await.ok(200)["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invoice = app
        .get(&format!("{}/{id}", invoices_of(&ada)), &ada.session)
        .await;
    let invoice = invoice.ok(200).clone();
    let tokens: Vec<_> = invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["meter"].as_str().is_some_and(|m| m.ends_with("_tokens")))
        .cloned()
        .collect();
    // Per million tokens, rounded half away from zero once per line:
    // 2 469 000 small input tokens at 20 ¢ are 49.38 ¢, 1 234 500 large ones
    // 24.69 ¢, 99 900 output tokens at 60 ¢ 5.994 ¢.
    let read: Vec<_> = tokens
        .iter()
        .map(|l| {
            (
                l["meter"].as_str().unwrap(),
                l["dimension"].as_str().unwrap(),
                l["rollup_rows"].as_i64().unwrap(),
                l["rollup_quantity"].as_str().unwrap(),
                l["amount_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            ("input_tokens", large, 100, "1234500", 25),
            ("input_tokens", small, 200, "2469000", 49),
            ("output_tokens", small, 100, "99900", 6),
        ]
    );

    // Each line lists the hourly rollups of every key it summed.
    for line in &tokens {
        let rollups = traced_rollups(&app, &ada, &id, line).await;
        let model = line["dimension"].as_str().unwrap();
        assert!(
            rollups.iter().all(|r| r["dimension"]
                .as_str()
                .unwrap()
                .ends_with(&format!(" {model}"))),
            "{rollups:?}"
        );
    }
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn plans_change_with_their_limits_and_cancel_at_the_end_of_the_period(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let billing = format!("/v1/organizations/{}/billing", ada.org_id);
    let put = |path: String, body: Value| {
        let (app, session) = (&app, ada.session.clone());
        async move {
            app.send(Method::PUT, &path, &session, Some(body), &[])
                .await
        }
    };

    let unknown = put(format!("{billing}/plan"), json!({ "plan": "platinum" })).await;
    let problem = unknown.problem(422, "validation-failed");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("plans are free, starter, business")
    );

    app.set_plan(ada.org_id, &ada.session, "business").await;
    let key = app.api_key(&ada).await;
    app.create_cluster(ada.org_id, &key, "one").await;
    app.create_cluster(ada.org_id, &key, "two").await;
    // Two clusters do not fit the free plan: the downgrade is refused.
    let down = put(format!("{billing}/plan"), json!({ "plan": "free" })).await;
    assert_eq!(
        down.problem(403, "plan-limit-exceeded")["limit"],
        "max_vector_clusters"
    );

    // The estimate shows this period's fee for the plan.
    let estimate = app.get(&format!("{billing}/estimate"), &ada.session).await;
    let estimate = estimate.ok(200);
    assert_eq!(estimate["lines"][0]["kind"], "base_fee");
    assert!(estimate["total_minor"].as_i64().unwrap() <= 10_000);

    // Cancel: still business until the period ends, free from the next.
    let cancelled = app
        .post(&format!("{billing}/cancel"), &ada.session, json!(null))
        .await;
    assert_eq!(cancelled.ok(200)["cancel_at_period_end"], true);
    assert_eq!(cancelled.body["plan"], "business");
    let next = Period::containing(Utc::now()).next().start();
    let mut conn = pool.acquire().await.unwrap();
    let ended = control_plane::money::subscriptions::end_cancelled(&mut conn, Utc::now())
        .await
        .unwrap();
    assert_eq!(ended, 0, "the period has not ended");
    let ended =
        control_plane::money::subscriptions::end_cancelled(&mut conn, next + Duration::hours(1))
            .await
            .unwrap();
    assert_eq!(ended, 1);
    let after = app.get(&billing, &ada.session).await;
    assert_eq!(after.ok(200)["plan"], "free");
    assert_eq!(after.body["cancel_at_period_end"], false);
    let switched: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT plan, valid_from FROM plan_periods WHERE organization_id = $1 ORDER BY valid_from",
    )
    .bind(ada.org_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(switched.last().unwrap(), &("free".to_owned(), next));

    // An API key with the default scopes cannot read the bill.
    app.get(&billing, &key).await.problem(403, "forbidden");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn any_key_lists_the_plans_on_offer_with_their_limits(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let plans = app.get("/v1/plans", &key).await;
    let data = plans.ok(200)["data"].as_array().unwrap();
    let ids: Vec<&str> = data.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["free", "starter", "business"]);
    assert_eq!(data[0]["max_vector_clusters"], 1);
    assert_eq!(data[2]["max_vector_clusters"], Value::Null, "unlimited");
    assert_eq!(data[2]["max_gpus_per_endpoint"], 8);
    assert_eq!(data[2]["backups"], "scheduled");
    assert_eq!(data[2]["currency"], "usd");
    // What inference is billed by, and the caps of its keys.
    assert_eq!(data[0]["inference_billing"], "gpu_hours");
    assert_eq!(data[1]["inference_billing"], "both");
    assert_eq!(data[1]["max_key_requests_per_minute"], 600);
    assert_eq!(data[1]["included_input_tokens"], 0);
    app.get("/v1/plans", &Auth::None)
        .await
        .problem(401, "unauthenticated");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn platform_admins_publish_the_catalog_and_grant_credit(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let root = app.signup_admin("root@example.com").await;
    app.get("/v1/admin/catalog", &ada.session)
        .await
        .problem(403, "forbidden");
    let key = app.api_key(&root).await;
    app.get("/v1/admin/catalog", &key)
        .await
        .problem(403, "forbidden");

    let current = app.get("/v1/admin/catalog", &root.session).await;
    let mut document = current.ok(200)["document"].clone();
    assert_eq!(current.body["version"], 1);
    let put = |body: Value| {
        let (app, session) = (&app, root.session.clone());
        async move {
            app.send(Method::PUT, "/v1/admin/catalog", &session, Some(body), &[])
                .await
        }
    };

    // Starter costs $30 from version 2 on.
    document["plans"][1]["base_fee_minor"] = json!(3000);
    let published = put(document.clone()).await;
    assert_eq!(published.ok(200)["version"], 2);

    // A plan in use cannot go; a negative price is refused; nothing changes.
    history(
        &pool,
        ada.org_id,
        &[("starter", "2026-09-01T00:00:00Z".parse().unwrap())],
    )
    .await;
    let mut without_starter = document.clone();
    without_starter["plans"].as_array_mut().unwrap().remove(1);
    let refused = put(without_starter).await;
    assert!(
        refused.problem(422, "validation-failed")["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("plan `starter` is in use")
    );
    let mut negative = document.clone();
    negative["prices"][0]["unit_amount_minor"] = json!(-1);
    put(negative).await.problem(422, "validation-failed");
    assert_eq!(
        app.get("/v1/admin/catalog", &root.session).await.ok(200)["version"],
        2
    );

    // Credit, used by the next invoice: $30 of starter less $10.
    let credits = format!("/v1/admin/organizations/{}/credits", ada.org_id);
    app.post(
        &credits,
        &ada.session,
        json!({ "amount_minor": 1000, "reason": "outage" }),
    )
    .await
    .problem(403, "forbidden");
    app.post(
        &credits,
        &root.session,
        json!({ "amount_minor": 0, "reason": "" }),
    )
    .await
    .problem(422, "validation-failed");
    let granted = app
        .post(
            &credits,
            &root.session,
            json!({ "amount_minor": 1000, "reason": "outage" }),
        )
        .await;
    assert_eq!(granted.ok(201)["amount_minor"], 1000);
    let october: Period = "2026-10".parse().unwrap();
    close_period(&pool, october).await;
    let list = app.get(&invoices_of(&ada), &ada.session).await;
    let invoice = &list.ok(200)["data"][0];
    assert_eq!(
        (
            invoice["subtotal_minor"].clone(),
            invoice["credits_minor"].clone(),
            invoice["total_minor"].clone()
        ),
        (json!(3000), json!(1000), json!(2000))
    );
    assert_eq!(invoice["catalog_version"], 2);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn free_storage_over_the_cap_suspends_the_cluster_until_it_is_back_under(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let created = app.create_cluster(ada.org_id, &key, "search").await;
    assert_eq!(
        created["spec"]["storage_gib"], 1,
        "a free cluster gets what fits the cap"
    );
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let cluster = format!("/v1/organizations/{}/clusters/{id}", ada.org_id);
    let worker = worker(&pool).await;
    let hour = (Utc::now() - Duration::hours(2))
        .duration_trunc(Duration::hours(1))
        .unwrap();

    rollup(&pool, ada.org_id, id, "storage_bytes", hour, 3 * GIB / 2).await;
    let pass = worker.run_once_at(Utc::now()).await.unwrap();
    assert_eq!(pass.enforced.suspended, 1);
    let status = app.get(&cluster, &key).await.ok(200)["status"].clone();
    assert!(
        status["suspended_reason"]
            .as_str()
            .unwrap()
            .starts_with("This cluster stores 1.50 GiB, over the 1 GiB the Free plan includes.")
    );

    // Back under the cap in the next hour: resumed.
    rollup(
        &pool,
        ada.org_id,
        id,
        "storage_bytes",
        hour + Duration::hours(1),
        GIB / 2,
    )
    .await;
    let pass = worker.run_once_at(Utc::now()).await.unwrap();
    assert_eq!(pass.enforced.resumed, 1);
    assert_eq!(
        app.get(&cluster, &key).await.ok(200)["status"]["suspended_reason"],
        Value::Null
    );
    let generation = app.get(&cluster, &key).await.ok(200)["spec"]["generation"].clone();
    assert_eq!(
        generation, 3,
        "suspend and resume each reached the data plane"
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_spend_limit_suspends_usage_over_it_until_it_is_raised(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let key = app.api_key(&ada).await;
    let created = app.create_cluster(ada.org_id, &key, "search").await;
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let cluster = format!("/v1/organizations/{}/clusters/{id}", ada.org_id);
    let billing = format!("/v1/organizations/{}/billing", ada.org_id);
    // Ten node-hours this period: 50 cents.
    let start = Period::containing(Utc::now()).start();
    history(&pool, ada.org_id, &[("starter", start)]).await;
    for h in 0..10 {
        rollup(
            &pool,
            ada.org_id,
            id,
            "node_seconds",
            start + Duration::hours(h),
            3600,
        )
        .await;
    }
    let limit = |cents: i64| {
        let (app, session, path) = (&app, ada.session.clone(), format!("{billing}/spend-limit"));
        async move {
            app.send(
                Method::PUT,
                &path,
                &session,
                Some(json!({ "spend_limit_minor": cents })),
                &[],
            )
            .await
        }
    };
    limit(-5).await.problem(422, "validation-failed");
    limit(40).await.ok(200);
    let worker = worker(&pool).await;
    assert_eq!(
        worker
            .run_once_at(Utc::now())
            .await
            .unwrap()
            .enforced
            .suspended,
        1
    );
    let reason = app.get(&billing, &ada.session).await.ok(200)["suspended_reason"].clone();
    assert_eq!(
        reason,
        "Usage this period has reached $0.50, over the spend limit of $0.40. Resources are \
         suspended (data is kept) until the limit is raised or the next period starts."
    );
    assert_eq!(
        app.get(&cluster, &key).await.ok(200)["status"]["suspended_reason"],
        reason
    );

    limit(100).await.ok(200);
    assert_eq!(
        worker
            .run_once_at(Utc::now())
            .await
            .unwrap()
            .enforced
            .resumed,
        1
    );
    assert_eq!(
        app.get(&billing, &ada.session).await.ok(200)["suspended_reason"],
        Value::Null
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_billing_worker_counts_the_invoices_its_period_close_creates(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    app.signup("bob@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let worker = worker(&pool).await;
    let counted = || exposition(|registry| worker.register_metrics(registry));

    // Next month, on starter all of it for Ada and with nothing to bill
    // for Bob, closes once; a later pass closes nothing more.
    let next = Period::containing(Utc::now()).next();
    let pass = worker.run_once_at(close::closes_at(next)).await.unwrap();
    let report = pass.closed.unwrap();
    assert_eq!((report.created, report.nothing_to_bill), (1, 1));
    let again = worker
        .run_once_at(close::closes_at(next) + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again.closed, None);
    assert_lines(
        &counted(),
        &["quartermaster_invoices_closed_total 1".to_owned()],
    );
}
