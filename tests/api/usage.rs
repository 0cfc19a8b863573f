//! Usage through HTTP: a data plane reports it with its own token, exactly
//! once even when it resends after a lost answer; customers read it as JSON
//! or CSV, and only their own.

use std::io::Write;

use chrono::{Duration, DurationRound, Utc};
use metering::{Meter, UsageEvent};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{Auth, Customer, TestApp, assert_lines, exposition};

fn events(org: Uuid, cluster: Uuid, ids: std::ops::Range<u32>) -> Vec<Value> {
    let hour = (Utc::now() - Duration::hours(2))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    ids.map(|i| {
        UsageEvent {
            source: "dataplane/sim-test/collector".into(),
            id: format!("node-{i}"),
            organization_id: org,
            resource_id: cluster,
            meter: Meter::NodeSeconds,
            dimension: String::new(),
            time: hour + Duration::minutes(i64::from(i)),
            value: 60,
        }
        .to_wire()
    })
    .collect()
}

/// A new cluster of `customer`'s, by its id.
async fn cluster_of(app: &TestApp, customer: &Customer, name: &str) -> Uuid {
    app.create_cluster(customer.org_id, &customer.session, name)
        .await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn node_seconds(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(quantity), 0)::bigint FROM usage_hourly WHERE meter = 'node_seconds'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_data_plane_reports_usage_once_and_customers_read_only_their_own(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let eve = app.signup("eve@example.com").await;
    let cluster = cluster_of(&app, &ada, "search").await;
    let eve_cluster = cluster_of(&app, &eve, "other").await;
    let token = app.data_plane_token(app.data_plane).await;
    let data_plane = Auth::Key(token.clone());

    // No token, or a customer's key, is not a data plane.
    let batch = events(ada.org_id, cluster, 0..10);
    app.post("/v1/usage/events", &Auth::None, json!(batch))
        .await
        .problem(401, "unauthenticated");
    let key = app.api_key(&ada).await;
    app.post("/v1/usage/events", &key, json!(batch))
        .await
        .problem(401, "invalid-api-key");

    // A batch with a malformed event and one for a resource the data plane
    // does not run: those two are refused with reasons, the rest kept.
    let mut mixed = events(ada.org_id, cluster, 0..10);
    mixed[3]["data"]["meter"] = json!("gpu_hours");
    mixed.push(events(ada.org_id, Uuid::now_v7(), 50..51).remove(0));
    let reply = app
        .post("/v1/usage/events", &data_plane, json!(mixed))
        .await;
    let body = reply.ok(200);
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(9), Some(0))
    );
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(
        (rejected[0]["index"].as_u64(), rejected[0]["id"].as_str()),
        (Some(3), Some("node-3"))
    );
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown meter `gpu_hours`")
    );
    assert_eq!(rejected[1]["index"], 10);
    assert!(
        rejected[1]["reason"]
            .as_str()
            .unwrap()
            .contains("not a cluster or endpoint of this data plane")
    );
    assert_eq!(node_seconds(&app).await, 540);
    let counted = exposition(|registry| app.metrics.register(registry));
    assert_lines(
        &counted,
        &[
            r#"quartermaster_usage_events_total{outcome="accepted"} 9"#.to_owned(),
            r#"quartermaster_usage_events_total{outcome="duplicate"} 0"#.to_owned(),
            r#"quartermaster_usage_events_total{outcome="rejected"} 2"#.to_owned(),
        ],
    );

    // The sender loses the connection before the answer and sends again:
    // whatever the server had done, the usage counts once.
    let all = events(ada.org_id, cluster, 0..20);
    let body = serde_json::to_vec(&all).unwrap();
    let address = app.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /v1/usage/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body).unwrap();
    drop(stream);
    let retry = app.post("/v1/usage/events", &data_plane, json!(all)).await;
    let retry = retry.ok(200);
    assert_eq!(
        retry["accepted"].as_u64().unwrap() + retry["duplicates"].as_u64().unwrap(),
        20
    );
    let again = app.post("/v1/usage/events", &data_plane, json!(all)).await;
    assert_eq!(again.ok(200)["duplicates"], 20);
    assert_eq!(
        node_seconds(&app).await,
        1200,
        "20 events of 60 s, once each"
    );

    // Eve's cluster, reported by the same data plane, stays Eve's.
    app.post(
        "/v1/usage/events",
        &data_plane,
        json!(events(eve.org_id, eve_cluster, 0..3)),
    )
    .await
    .ok(200);

    let usage = format!("/v1/organizations/{}/usage?granularity=day", ada.org_id);
    let report = app.get(&usage, &ada.session).await;
    let rows = report.ok(200)["data"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["resource_id"], cluster.to_string());
    assert_eq!(rows[0]["quantity"], "1200");
    assert_eq!(rows[0]["events"], 20);

    let lines = csv(&app, &ada, &format!("{usage}&format=csv")).await;
    assert!(
        lines[1].ends_with(&format!(",{cluster},node_seconds,,seconds,1200,,20,,")),
        "{lines:?}"
    );

    let eve_report = app
        .get(
            &format!("/v1/organizations/{}/usage", eve.org_id),
            &eve.session,
        )
        .await;
    let eve_rows = eve_report.ok(200)["data"].as_array().unwrap().clone();
    assert!(
        eve_rows
            .iter()
            .all(|r| r["resource_id"] == eve_cluster.to_string())
    );
    app.get(&usage, &eve.session)
        .await
        .problem(404, "not-found");
    app.get(&format!("{usage}&meter=gpu_hours"), &ada.session)
        .await
        .problem(422, "validation-failed");
}

/// A usage report as CSV, by its lines, the header checked.
async fn csv(app: &TestApp, customer: &Customer, path: &str) -> Vec<String> {
    let Auth::Session(cookie) = &customer.session else {
        unreachable!()
    };
    let csv = app
        .request(Method::GET, path)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let lines: Vec<String> = csv
        .text()
        .await
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        lines[0],
        "bucket,resource_id,meter,dimension,unit,quantity,average,events,key_id,model"
    );
    lines
}

/// The batch as JSON text, with `replace` applied: a number no JSON value
/// can hold has to be written by hand.
fn batch_text(batch: &[Value], replace: (&str, &str)) -> String {
    serde_json::to_string(batch)
        .unwrap()
        .replacen(replace.0, replace.1, 1)
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn one_unreadable_or_conflicting_event_refuses_only_itself(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let cluster = cluster_of(&app, &ada, "search").await;
    let token = app.data_plane_token(app.data_plane).await;
    let post = |token: &str, body: String| {
        app.raw(
            app.request(Method::POST, "/v1/usage/events")
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body),
        )
    };

    // The token is checked before the body is read.
    post("qmdp_not-a-token", "[{".to_owned())
        .await
        .problem(401, "invalid-api-key");

    // A value of 1e309 fits no number: that event alone is refused, by id.
    let batch = events(ada.org_id, cluster, 0..2);
    let text = batch_text(&batch, ("\"value\":60", "\"value\":1e309"));
    let reply = post(&token, text).await;
    let body = reply.ok(200);
    assert_eq!(body["accepted"], 1, "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(
        (rejected[0]["index"].as_u64(), rejected[0]["id"].as_str()),
        (Some(0), Some("node-0"))
    );
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("number out of range"),
        "{body}"
    );
    assert_eq!(node_seconds(&app).await, 60);

    // node-1 again with another value, then with another resource: each a
    // conflict, not a duplicate; the first value stands. An exact resend is
    // a duplicate.
    let mut changed = batch.clone();
    changed[1]["data"]["value"] = json!(3600);
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let mut elsewhere = batch[1].clone();
    elsewhere["subject"] = json!(format!(
        "organizations/{}/clusters/{}",
        ada.org_id,
        cluster_of(&app, &ada, "other").await
    ));
    let resent = vec![changed[1].clone(), elsewhere, batch[1].clone()];
    let reply = post(&token, serde_json::to_string(&resent).unwrap()).await;
    let body = reply.ok(200);
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(0), Some(1)),
        "{body}"
    );
    let conflicts = body["conflicts"].as_array().unwrap();
    assert_eq!(
        conflicts
            .iter()
            .map(|c| (c["index"].as_u64(), c["id"].as_str()))
            .collect::<Vec<_>>(),
        [(Some(0), Some("node-1")), (Some(1), Some("node-1"))]
    );
    assert!(
        conflicts[0]["reason"]
            .as_str()
            .unwrap()
            .contains("other content, which stands")
    );
    assert_eq!(node_seconds(&app).await, 60, "the first value stands");
    let counted = exposition(|registry| app.metrics.register(registry));
    assert_lines(
        &counted,
        &[
            r#"quartermaster_usage_events_total{outcome="accepted"} 1"#.to_owned(),
            r#"quartermaster_usage_events_total{outcome="duplicate"} 1"#.to_owned(),
            r#"quartermaster_usage_events_total{outcome="rejected"} 1"#.to_owned(),
            r#"quartermaster_usage_events_total{outcome="conflict"} 2"#.to_owned(),
        ],
    );
}

/// A gateway's minute of one key's tokens of one model, for an endpoint.
fn token_event(org: Uuid, endpoint: Uuid, id: &str, meter: Meter, key: Uuid, value: i64) -> Value {
    let hour = (Utc::now() - Duration::hours(2))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let mut event = UsageEvent {
        source: "dataplane/sim-test/gateway-7f3a".into(),
        id: id.into(),
        organization_id: org,
        resource_id: endpoint,
        meter,
        // As `crds::gateway::token_dimension` writes it.
        dimension: format!("{key} meta-llama/Llama-3.1-8B-Instruct"),
        time: hour,
        value,
    }
    .to_wire();
    event["subject"] = json!(format!("organizations/{org}/endpoints/{endpoint}"));
    event
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_gateways_token_usage_is_reported_per_key_and_model(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let created = app
        .post(
            &format!("/v1/organizations/{}/endpoints", ada.org_id),
            &ada.session,
            json!({
                "name": "chat", "region": crate::helpers::REGION,
                "model_repository": "meta-llama/Llama-3.1-8B-Instruct", "model_revision": "main",
                "gpu_model": "nvidia-l4", "gpu_count": 1,
            }),
        )
        .await;
    let endpoint: Uuid = created.ok(202)["id"].as_str().unwrap().parse().unwrap();
    let data_plane = Auth::Key(app.data_plane_token(app.data_plane).await);
    let (alpha, beta) = (Uuid::now_v7(), Uuid::now_v7());
    let (input, output) = (Meter::InputTokens, Meter::OutputTokens);
    let mut bad = token_event(ada.org_id, endpoint, "t-bad", input, alpha, 5);
    bad["data"]["dimension"] = json!("meta-llama/Llama-3.1-8B-Instruct");
    let batch = [
        token_event(ada.org_id, endpoint, "t-1", input, alpha, 1200),
        token_event(ada.org_id, endpoint, "t-2", output, alpha, 300),
        bad,
        token_event(ada.org_id, endpoint, "t-3", input, beta, 45),
    ];
    let reply = app
        .post("/v1/usage/events", &data_plane, json!(batch))
        .await;
    let body = reply.ok(200);
    assert_eq!(body["accepted"], 3, "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(
        (rejected.len(), rejected[0]["index"].as_u64()),
        (1, Some(2))
    );
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("input_tokens needs `<key uuid> <model>` as its dimension"),
        "{body}"
    );

    let usage = format!("/v1/organizations/{}/usage?granularity=day", ada.org_id);
    let report = app.get(&usage, &ada.session).await;
    let rows: Vec<_> = report.ok(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["meter"].as_str().unwrap().to_owned(),
                r["key_id"].as_str().unwrap().parse::<Uuid>().unwrap(),
                r["model"].as_str().unwrap().to_owned(),
                r["quantity"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let model = "meta-llama/Llama-3.1-8B-Instruct".to_owned();
    let mut expected = vec![
        (
            "input_tokens".to_owned(),
            alpha,
            model.clone(),
            "1200".to_owned(),
        ),
        (
            "input_tokens".to_owned(),
            beta,
            model.clone(),
            "45".to_owned(),
        ),
        (
            "output_tokens".to_owned(),
            alpha,
            model.clone(),
            "300".to_owned(),
        ),
    ];
    // Rows come by dimension, and the keys' uuids are ordered as made.
    expected.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert_eq!(rows, expected);

    let only_beta = app
        .get(&format!("{usage}&key_id={beta}"), &ada.session)
        .await;
    let only_beta = only_beta.ok(200)["data"].as_array().unwrap().clone();
    assert_eq!(only_beta.len(), 1);
    assert_eq!(only_beta[0]["quantity"], "45");

    let lines = csv(
        &app,
        &ada,
        &format!("{usage}&format=csv&meter=output_tokens"),
    )
    .await;
    assert!(
        lines[1].ends_with(&format!(
            ",{endpoint},output_tokens,{alpha} {model},tokens,300,,1,{alpha},{model}"
        )),
        "{lines:?}"
    );
}
