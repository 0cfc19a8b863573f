//! Usage corrections by a platform administrator: before the period is
//! invoiced they correct the rollups (the report and the invoice show the
//! corrected figures, traced to the rollups and the corrections); after,
//! they become an adjustment line on the next invoice, referring to the
//! line they adjust, once however often periods are closed. The events
//! themselves never change.
//!
//! Events are reported in the current hour through the data plane's own
//! endpoint; periods are closed with their closing time given, never the
//! clock's.

use billing::Period;
use chrono::{DateTime, Duration, DurationRound, Utc};
use metering::{Meter, UsageEvent};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::billing::{close_period, history, invoices_of, traced_rollups};
use crate::forms::{Browser, csrf};
use crate::helpers::{Auth, Customer, TestApp};

const SOURCE: &str = "dataplane/sim-test/collector";

fn event(
    org: Uuid,
    cluster: Uuid,
    id: &str,
    meter: Meter,
    time: DateTime<Utc>,
    value: i64,
) -> Value {
    UsageEvent {
        source: SOURCE.into(),
        id: id.into(),
        organization_id: org,
        resource_id: cluster,
        meter,
        dimension: String::new(),
        time,
        value,
    }
    .to_wire()
}

fn corrections_of(org: Uuid) -> String {
    format!("/v1/admin/organizations/{org}/usage-corrections")
}

/// Ada on starter since before the current period, with a cluster and
/// ten node-hours reported in the current hour (ten events of an hour
/// each, a millisecond apart); the hour and the cluster.
async fn ada_with_usage(app: &TestApp, pool: &PgPool) -> (Customer, DateTime<Utc>, Uuid) {
    let ada = app.signup("ada@example.com").await;
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let period = Period::containing(hour);
    history(
        pool,
        ada.org_id,
        &[("starter", period.start() - Duration::days(1))],
    )
    .await;
    let cluster: Uuid = app.create_cluster(ada.org_id, &ada.session, "search").await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let token = Auth::Key(app.data_plane_token(app.data_plane).await);
    let batch: Vec<Value> = (0..10)
        .map(|i| {
            let time = hour + Duration::milliseconds(i);
            event(
                ada.org_id,
                cluster,
                &format!("node-{i}"),
                Meter::NodeSeconds,
                time,
                3600,
            )
        })
        .collect();
    let reply = app.post("/v1/usage/events", &token, json!(batch)).await;
    assert_eq!(reply.ok(200)["accepted"], 10);
    (ada, hour, cluster)
}

/// Ada's node-seconds as her usage report shows them, and its events.
async fn reported(app: &TestApp, ada: &Customer) -> (Value, Value) {
    let path = format!(
        "/v1/organizations/{}/usage?granularity=hour&meter=node_seconds",
        ada.org_id
    );
    let report = app.get(&path, &ada.session).await;
    let rows = report.ok(200)["data"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    (rows[0]["quantity"].clone(), rows[0]["events"].clone())
}

/// The stored events, by id: never changed by a correction.
async fn stored_events(pool: &PgPool) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT event_id, value FROM usage_events ORDER BY event_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The one invoice of `period` of Ada's, with its lines.
async fn invoice_of(app: &TestApp, ada: &Customer, period: Period) -> Value {
    let list = app.get(&invoices_of(ada), &ada.session).await;
    let start = period
        .start()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let id = list.ok(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["period_start"] == start)
        .unwrap_or_else(|| panic!("no invoice of {period}: {}", list.body))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&format!("{}/{id}", invoices_of(ada)), &ada.session)
        .await
        .ok(200)
        .clone()
}

fn lines_of<'a>(invoice: &'a Value, kind: &str) -> Vec<&'a Value> {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == kind)
        .collect()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn corrections_before_the_close_change_the_rollups_and_after_it_the_next_invoice(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let root = app.signup_admin("root@example.com").await;
    let (ada, hour, cluster) = ada_with_usage(&app, &pool).await;
    let period = Period::containing(hour);
    let path = corrections_of(ada.org_id);
    let originals = stored_events(&pool).await;
    assert_eq!(reported(&app, &ada).await, (json!("36000"), json!(10)));

    // Before the close: one event voided by its (source, id)...
    let void = app
        .post(
            &path,
            &root.session,
            json!({ "event_source": SOURCE, "event_id": "node-0", "action": "void",
                    "reason": "reported twice by a collector bug" }),
        )
        .await;
    let void = void.ok(201).clone();
    assert_eq!(
        (
            &void["object"],
            &void["in_rollups"],
            &void["events"],
            &void["adjustments"]
        ),
        (
            &json!("usage_correction"),
            &json!(true),
            &json!(1),
            &json!([])
        )
    );
    assert_eq!(reported(&app, &ada).await, (json!("32400"), json!(9)));
    // ...and every event of the hour set to half an hour: the voided one
    // stays voided, the nine others change.
    let set = app
        .post(
            &path,
            &root.session,
            json!({ "resource_id": cluster, "meter": "node_seconds",
                    "from": hour, "to": hour + Duration::hours(1),
                    "action": "set", "value": 1800, "reason": "the node ran half the time" }),
        )
        .await;
    assert_eq!(set.ok(201)["events"], 9);
    let set_id = set.body["id"].clone();
    assert_eq!(reported(&app, &ada).await, (json!("16200"), json!(9)));

    // The close bills the corrected 4.5 node-hours (at 5 cents: 22.5,
    // rounded to 23), and the line traces to the corrected rollups.
    close_period(&pool, period).await;
    let first = invoice_of(&app, &ada, period).await;
    let usage = lines_of(&first, "usage");
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (&usage[0]["rollup_quantity"], &usage[0]["amount_minor"]),
        (&json!("16200"), &json!(23))
    );
    let rollups = traced_rollups(&app, &ada, first["id"].as_str().unwrap(), usage[0]).await;
    assert_eq!(rollups.len(), 1);
    assert_eq!(first["total_minor"], 2500 + 23);
    // The corrections that made those rollups are listed, with why.
    let listed = app.get(&path, &root.session).await;
    let listed = listed.ok(200)["data"].as_array().unwrap().clone();
    let reasons: Vec<_> = listed
        .iter()
        .map(|c| (c["reason"].clone(), c["in_rollups"].clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            (json!("the node ran half the time"), json!(true)),
            (json!("reported twice by a collector bug"), json!(true)),
        ]
    );

    // After the close: one more event voided. The invoiced rollups stay as
    // billed; the line's 4.5 hours become 4, 20 cents: an adjustment of -3.
    let late = app
        .post(
            &path,
            &root.session,
            json!({ "event_source": SOURCE, "event_id": "node-1", "action": "void",
                    "reason": "the node was down" }),
        )
        .await;
    let late = late.ok(201).clone();
    assert_eq!(late["in_rollups"], false);
    let adjustment = &late["adjustments"][0];
    assert_eq!(
        (
            &adjustment["invoice_id"],
            &adjustment["line_no"],
            &adjustment["rollup_quantity_before"],
            &adjustment["rollup_quantity_after"],
            &adjustment["amount_minor"],
            &adjustment["applied_minor"],
        ),
        (
            &first["id"],
            &usage[0]["line_no"],
            &json!("16200"),
            &json!("14400"),
            &json!(-3),
            &json!(0)
        )
    );
    assert_eq!(reported(&app, &ada).await, (json!("16200"), json!(9)));

    // The next invoice carries it, referring to the line it adjusts and the
    // correction; closing again, or the period after, adjusts nothing more.
    let next = period.next();
    close_period(&pool, next).await;
    close_period(&pool, next).await;
    close_period(&pool, next.next()).await;
    let second = invoice_of(&app, &ada, next).await;
    let adjusted = lines_of(&second, "adjustment");
    assert_eq!(adjusted.len(), 1, "{second}");
    assert_eq!(
        (
            &adjusted[0]["adjusts_invoice_id"],
            &adjusted[0]["adjusts_line_no"],
            &adjusted[0]["correction_id"],
            &adjusted[0]["amount_minor"],
        ),
        (&first["id"], &usage[0]["line_no"], &late["id"], &json!(-3))
    );
    assert!(
        adjusted[0]["description"]
            .as_str()
            .unwrap()
            .contains(first["number"].as_str().unwrap())
    );
    assert_eq!(second["total_minor"], 2500 - 3);
    let third = invoice_of(&app, &ada, next.next()).await;
    assert!(lines_of(&third, "adjustment").is_empty(), "{third}");
    assert_eq!(third["total_minor"], 2500);
    let listed = app.get(&path, &root.session).await;
    assert_eq!(
        listed.ok(200)["data"][0]["adjustments"][0]["applied_minor"],
        -3
    );
    // Ada sees, behind her invoiced line, its rollups and the corrections:
    // the two in them, and the one adjusting it.
    let line_usage = format!(
        "{}/{}/lines/{}/usage",
        invoices_of(&ada),
        first["id"].as_str().unwrap(),
        usage[0]["line_no"]
    );
    let traced = app.get(&line_usage, &ada.session).await;
    let corrections: Vec<_> = traced.ok(200)["corrections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].clone(),
                c["in_rollups"].clone(),
                c["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        corrections,
        [
            (
                void["id"].clone(),
                json!(true),
                json!("reported twice by a collector bug")
            ),
            (set_id, json!(true), json!("the node ran half the time")),
            (late["id"].clone(), json!(false), json!("the node was down")),
        ]
    );

    // Every correction is an audit row of the admin's; the events are as
    // they were reported.
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, actor FROM audit_log WHERE target_type = 'usage_correction' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 3);
    assert!(
        audited
            .iter()
            .all(|(action, actor)| action == "usage.correct"
                && actor == &format!("admin:{}", root.user_id))
    );
    assert_eq!(stored_events(&pool).await, originals);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_corrected_gauge_sample_is_averaged_as_corrected_and_later_samples_follow_it(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let root = app.signup_admin("root@example.com").await;
    let (ada, hour, cluster) = ada_with_usage(&app, &pool).await;
    let token = Auth::Key(app.data_plane_token(app.data_plane).await);
    let sample = |id: &str, ms: i64, value: i64| {
        event(
            ada.org_id,
            cluster,
            id,
            Meter::StorageBytes,
            hour + Duration::milliseconds(ms),
            value,
        )
    };
    let storage = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT quantity::text FROM usage_hourly WHERE meter = 'storage_bytes' AND hour = $1",
        )
        .bind(hour)
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    // 1000 for a millisecond, then 3000 held ten minutes.
    app.post(
        "/v1/usage/events",
        &token,
        json!([sample("s0", 0, 1000), sample("s1", 1, 3000)]),
    )
    .await
    .ok(200);
    assert_eq!(storage().await, "1800001.000");
    // Voided, the second sample is gone: the first holds its ten minutes.
    app.post(
        &corrections_of(ada.org_id),
        &root.session,
        json!({ "event_source": SOURCE, "event_id": "s1", "action": "void",
                "reason": "a misread volume" }),
    )
    .await
    .ok(201);
    assert_eq!(storage().await, "600000.000");
    // A sample after it follows the first, not the voided one: 1000 for
    // two milliseconds, then 5000 for ten minutes.
    app.post("/v1/usage/events", &token, json!([sample("s2", 2, 5000)]))
        .await
        .ok(200);
    assert_eq!(storage().await, "3000002.000");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn only_platform_admins_correct_usage_and_bad_requests_name_their_fields(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let root = app.signup_admin("root@example.com").await;
    let (ada, hour, cluster) = ada_with_usage(&app, &pool).await;
    let eve = app.signup("eve@example.com").await;
    let path = corrections_of(ada.org_id);
    let void = json!({ "event_source": SOURCE, "event_id": "node-0", "action": "void",
                       "reason": "test" });

    // Ada's own session or key is no admin's.
    app.post(&path, &ada.session, void.clone())
        .await
        .problem(403, "forbidden");
    let key = app.api_key(&root).await;
    app.post(&path, &key, void.clone())
        .await
        .problem(403, "forbidden");
    app.get(&path, &ada.session).await.problem(403, "forbidden");

    // Every field at fault is named.
    let bad = app
        .post(
            &path,
            &root.session,
            json!({ "resource_id": cluster, "meter": "gpu_hours", "from": hour, "to": hour,
                    "action": "set", "reason": "" }),
        )
        .await;
    let fields: Vec<_> = bad.problem(422, "validation-failed")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["value", "reason", "meter", "to"]);
    let both = app
        .post(
            &path,
            &root.session,
            json!({ "event_source": SOURCE, "event_id": "node-0", "resource_id": cluster,
                    "action": "void", "reason": "test" }),
        )
        .await;
    assert_eq!(
        both.problem(422, "validation-failed")["errors"][0]["field"],
        "event_id"
    );

    // An unknown event, another organization's event, an unknown
    // organization: not found; and nothing was recorded.
    let unknown = json!({ "event_source": SOURCE, "event_id": "node-99", "action": "void",
                          "reason": "test" });
    app.post(&path, &root.session, unknown)
        .await
        .problem(404, "not-found");
    app.post(&corrections_of(eve.org_id), &root.session, void.clone())
        .await
        .problem(404, "not-found");
    app.post(&corrections_of(Uuid::now_v7()), &root.session, void.clone())
        .await
        .problem(404, "not-found");
    let listed = app.get(&path, &root.session).await;
    assert_eq!(listed.ok(200)["data"], json!([]));

    // Voiding twice changes nothing the second time, and says so.
    app.post(&path, &root.session, void.clone()).await.ok(201);
    let again = app.post(&path, &root.session, void).await;
    assert_eq!(
        again.problem(422, "validation-failed")["errors"][0]["field"],
        "value"
    );
    assert_eq!(reported(&app, &ada).await, (json!("32400"), json!(9)));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_console_corrects_usage_behind_a_ticked_box_and_lists_the_corrections(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signup_admin("root@example.com").await;
    let (ada, hour, cluster) = ada_with_usage(&app, &pool).await;
    let mut root = Browser::logged_in(&app, "root@example.com").await;
    let page_path = format!("/admin/orgs/{}", ada.org_id);
    let (_, _, page) = root.get(&page_path).await;
    assert!(page.contains("No usage corrected."), "{page}");
    let token = csrf(&page);
    let action = format!("{page_path}/usage-corrections");
    let from = hour.format("%Y-%m-%dT%H:%M").to_string();
    let to = (hour + Duration::hours(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let resource = cluster.to_string();
    let form = |confirm: Option<&'static str>| {
        let mut fields = vec![
            ("csrf", token.clone()),
            ("resource_id", resource.clone()),
            ("meter", "node_seconds".to_owned()),
            ("from", from.clone()),
            ("to", to.clone()),
            ("action", "set".to_owned()),
            ("value", "1800".to_owned()),
            ("reason", "the node ran half the time".to_owned()),
        ];
        if let Some(yes) = confirm {
            fields.push(("confirm", yes.to_owned()));
        }
        fields
    };

    // Without the box ticked, nothing happens.
    let unticked = form(None);
    let unticked: Vec<(&str, &str)> = unticked.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, refused) = root.post(&action, &unticked).await;
    assert_eq!(status, 422);
    assert!(refused.contains("Tick the box to confirm the usage correction."));
    assert_eq!(reported(&app, &ada).await, (json!("36000"), json!(10)));

    // A field that does not parse is named.
    let mut bad = form(Some("yes"));
    bad[1].1 = "not-a-uuid".to_owned();
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, refused) = root.post(&action, &bad).await;
    assert_eq!(status, 422);
    assert!(refused.contains("resource_id"), "{refused}");

    let ticked = form(Some("yes"));
    let ticked: Vec<(&str, &str)> = ticked.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, location, _) = root.post(&action, &ticked).await;
    assert_eq!((status, location.as_str()), (303, page_path.as_str()));
    assert_eq!(reported(&app, &ada).await, (json!("18000"), json!(10)));
    let (_, _, page) = root.get(&page_path).await;
    assert!(page.contains("the node ran half the time"), "{page}");
    assert!(
        page.contains("Rollups corrected") && page.contains("(10 changed)"),
        "{page}"
    );
}
