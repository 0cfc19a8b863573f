//! Outgoing webhooks end to end: endpoints registered through the API, real
//! changes through the API and the provisioner, deliveries by the worker to
//! a loopback receiver that checks every signature.

use chrono::{DateTime, Duration, Utc};
use control_plane::provisioner::Provisioner;
use control_plane::webhooks::{self, delivery};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::forms::{Browser, csrf};
use crate::helpers::{Customer, TestApp};
use crate::receiver::Receiver;

const ALL: [&str; 20] = [
    "cluster.ready",
    "cluster.degraded",
    "cluster.suspended",
    "cluster.resumed",
    "cluster.deleted",
    "endpoint.ready",
    "endpoint.degraded",
    "endpoint.suspended",
    "endpoint.resumed",
    "endpoint.deleted",
    "backup.succeeded",
    "backup.failed",
    "restore.succeeded",
    "restore.failed",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "usage.threshold_crossed",
    "organization.suspended",
    "organization.resumed",
];

fn endpoints_of(customer: &Customer) -> String {
    format!("/v1/organizations/{}/webhook-endpoints", customer.org_id)
}

/// Registers `receiver` for `types` as `customer`'s owner; the endpoint,
/// whose secret the receiver then trusts.
async fn register(
    app: &TestApp,
    customer: &Customer,
    receiver: &Receiver,
    types: &[&str],
) -> Value {
    let created = app
        .post(
            &endpoints_of(customer),
            &customer.session,
            json!({ "url": receiver.url, "event_types": types, "description": "ops" }),
        )
        .await;
    let endpoint = created.ok(201).clone();
    let secret = endpoint["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{endpoint}");
    receiver.trust(&[secret]);
    endpoint
}

/// Runs the delivery worker at `at` until it has nothing due.
async fn deliver_all(pool: &PgPool, at: DateTime<Utc>) -> usize {
    let client = delivery::client(webhooks::UrlPolicy::AllowLoopback).unwrap();
    let mut delivered = 0;
    loop {
        let pass = webhooks::deliver(pool, &client, at).await.unwrap();
        delivered += pass.delivered;
        if pass.delivered + pass.failed == 0 {
            return delivered;
        }
    }
}

/// Runs the provisioner until the simulated data plane has acted.
async fn settle(provisioner: &Provisioner, t: &mut DateTime<Utc>) {
    for _ in 0..3 {
        provisioner.run_once_at(*t).await.unwrap();
        *t += Duration::seconds(4);
    }
}

/// A platform administrator's browser, suspending or resuming `org`.
async fn admin_action(admin: &mut Browser<'_>, org: Uuid, action: &str) {
    let (_, _, page) = admin.get(&format!("/admin/orgs/{org}")).await;
    let (status, _, body) = admin
        .post(
            &format!("/admin/orgs/{org}/{action}"),
            &[
                ("csrf", &csrf(&page)),
                ("reason", "abuse review"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{action}: {body}");
}

/// The event types received about `resource` (an id), in order.
fn about(receiver: &Receiver, resource: &str) -> Vec<String> {
    receiver
        .events()
        .iter()
        .filter(|e| e["data"]["object"]["id"] == resource)
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn changes_through_the_api_reach_the_receiver_signed_and_only_the_organizations_own(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let provisioner = Provisioner::new(pool.clone(), Duration::seconds(3));
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "business").await;
    let receiver = Receiver::start().await;
    register(&app, &ada, &receiver, &ALL).await;
    // Bob listens to everything too, and hears nothing of Ada's.
    let bob = app.signup("bob@example.com").await;
    let bobs = Receiver::start().await;
    register(&app, &bob, &bobs, &ALL).await;
    app.signup_admin("root@example.com").await;
    let mut admin = Browser::logged_in(&app, "root@example.com").await;
    let key = app.api_key(&ada).await;
    let mut t = Utc::now();

    // A cluster and an inference endpoint become ready.
    let cluster = app.create_cluster(ada.org_id, &key, "search").await;
    let cluster_id = cluster["id"].as_str().unwrap().to_owned();
    let cluster_path = format!("/v1/organizations/{}/clusters/{cluster_id}", ada.org_id);
    let endpoint_id = app
        .create_endpoint(ada.org_id, &key, crate::helpers::REGION)
        .await;
    settle(&provisioner, &mut t).await;

    // A backup by hand, and a restore of it into a new cluster.
    let backup = app
        .post(&format!("{cluster_path}/backups"), &key, json!(null))
        .await
        .ok(202)
        .clone();
    settle(&provisioner, &mut t).await;
    let backup_path = format!("{cluster_path}/backups/{}", backup["id"].as_str().unwrap());
    let copy = app
        .post(
            &format!("{backup_path}/restore"),
            &key,
            json!({ "name": "search-copy" }),
        )
        .await
        .ok(202)
        .clone();
    let copy_id = copy["id"].as_str().unwrap().to_owned();
    settle(&provisioner, &mut t).await;
    settle(&provisioner, &mut t).await;

    // The service suspends the organization, then resumes it.
    admin_action(&mut admin, ada.org_id, "suspend").await;
    settle(&provisioner, &mut t).await;
    admin_action(&mut admin, ada.org_id, "resume").await;
    settle(&provisioner, &mut t).await;

    // Both are deleted.
    app.delete(&cluster_path, &key).await.ok(202);
    let endpoint_path = format!("/v1/organizations/{}/endpoints/{endpoint_id}", ada.org_id);
    app.delete(&endpoint_path, &key).await.ok(202);
    settle(&provisioner, &mut t).await;

    // The month closes (as of when it may): the invoice is opened for payment.
    let period = billing::Period::containing(Utc::now());
    crate::billing::close_period(&pool, period).await;
    deliver_all(&pool, billing::close::closes_at(period)).await;
    assert_eq!(
        about(&receiver, &cluster_id),
        [
            "cluster.ready",
            "cluster.suspended",
            "cluster.resumed",
            "cluster.ready",
            "cluster.deleted"
        ]
    );
    assert_eq!(
        about(&receiver, &endpoint_id),
        [
            "endpoint.ready",
            "endpoint.suspended",
            "endpoint.resumed",
            "endpoint.ready",
            "endpoint.deleted"
        ]
    );
    assert_eq!(
        about(&receiver, backup["id"].as_str().unwrap()),
        ["backup.succeeded"]
    );
    assert!(about(&receiver, &copy_id).contains(&"restore.succeeded".to_owned()));
    assert_eq!(
        about(&receiver, &ada.org_id.to_string()),
        ["organization.suspended", "organization.resumed"]
    );
    let invoices: Vec<Value> = receiver
        .events()
        .into_iter()
        .filter(|e| e["type"] == "invoice.finalized")
        .collect();
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    assert_eq!(invoices[0]["data"]["object"]["status"], "open");
    let listed = app
        .get(&crate::billing::invoices_of(&ada), &ada.session)
        .await;
    let invoice = &listed.ok(200)["data"][0];
    assert_eq!(invoices[0]["data"]["object"]["id"], invoice["id"]);
    assert_eq!(
        invoices[0]["data"]["object"]["total_minor"],
        invoice["total_minor"]
    );

    // Every event came once, about Ada's organization, signed.
    let events = receiver.events();
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "each event once");
    assert!(
        events
            .iter()
            .all(|e| e["organization_id"] == ada.org_id.to_string())
    );
    assert_eq!(receiver.refused(), 0);
    assert_eq!(
        bobs.types(),
        Vec::<String>::new(),
        "Bob hears nothing of Ada's"
    );
    // Each delivery shows as succeeded, with the receiver's answer.
    let endpoints = app.get(&endpoints_of(&ada), &ada.session).await;
    let endpoint = endpoints.ok(200)["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deliveries = app
        .get(
            &format!("{}/{endpoint}/deliveries?limit=100", endpoints_of(&ada)),
            &ada.session,
        )
        .await;
    let deliveries = deliveries.ok(200)["data"].as_array().unwrap().clone();
    assert_eq!(deliveries.len(), events.len());
    assert!(
        deliveries.iter().all(|d| d["status"] == "succeeded"
            && d["response_status"] == 204
            && d["attempts"] == 1),
        "{deliveries:?}"
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_receiver_down_then_up_gets_every_event_once_in_order(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let provisioner = Provisioner::new(pool.clone(), Duration::seconds(3));
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let receiver = Receiver::start().await;
    let endpoint = register(&app, &ada, &receiver, &ALL[..5]).await;
    let deliveries = format!(
        "{}/{}/deliveries",
        endpoints_of(&ada),
        endpoint["id"].as_str().unwrap()
    );
    app.signup_admin("root@example.com").await;
    let mut admin = Browser::logged_in(&app, "root@example.com").await;
    let key = app.api_key(&ada).await;
    let mut t = Utc::now();
    receiver.set_down(true);

    let first = app.create_cluster(ada.org_id, &key, "first").await;
    let second = app.create_cluster(ada.org_id, &key, "second").await;
    settle(&provisioner, &mut t).await;
    admin_action(&mut admin, ada.org_id, "suspend").await;
    settle(&provisioner, &mut t).await;
    admin_action(&mut admin, ada.org_id, "resume").await;
    settle(&provisioner, &mut t).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    app.delete(
        &format!("/v1/organizations/{}/clusters/{first_id}", ada.org_id),
        &key,
    )
    .await
    .ok(202);
    settle(&provisioner, &mut t).await;

    // Down: one attempt per resource, the rest waiting behind it.
    assert_eq!(deliver_all(&pool, t).await, 0);
    let shown = app.get(&deliveries, &ada.session).await.ok(200).clone();
    let tried: Vec<&Value> = shown["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["attempts"] == 1)
        .collect();
    assert_eq!(
        tried.len(),
        2,
        "the first of each cluster's events: {shown}"
    );
    assert!(
        tried
            .iter()
            .all(|d| d["response_status"] == 503 && d["status"] == "pending")
    );
    assert_eq!(receiver.types(), Vec::<String>::new());

    // Up again: once the backoff has passed, everything arrives in order.
    receiver.set_down(false);
    assert_eq!(deliver_all(&pool, t).await, 0, "backing off");
    let later = t + Duration::minutes(5);
    assert_eq!(deliver_all(&pool, later).await, 9);
    assert_eq!(
        about(&receiver, &first_id),
        [
            "cluster.ready",
            "cluster.suspended",
            "cluster.resumed",
            "cluster.ready",
            "cluster.deleted"
        ]
    );
    assert_eq!(
        about(&receiver, second["id"].as_str().unwrap()),
        [
            "cluster.ready",
            "cluster.suspended",
            "cluster.resumed",
            "cluster.ready"
        ]
    );
    assert_eq!(
        deliver_all(&pool, later + Duration::hours(1)).await,
        0,
        "each once"
    );

    // A resend goes again, with the same event id.
    let shown = app.get(&deliveries, &ada.session).await.ok(200).clone();
    let last = &shown["data"][0];
    let resent = app
        .post(
            &format!("{deliveries}/{}/resend", last["id"].as_str().unwrap()),
            &ada.session,
            json!(null),
        )
        .await;
    assert_eq!(resent.ok(202)["status"], "pending");
    assert_eq!(deliver_all(&pool, later + Duration::hours(1)).await, 1);
    let events = receiver.events();
    assert_eq!(events.last().unwrap()["id"], last["event_id"]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_change_that_rolls_back_raises_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let receiver = Receiver::start().await;
    register(&app, &ada, &receiver, &["organization.suspended"]).await;

    let mut tx = pool.begin().await.unwrap();
    let suspended = control_plane::money::suspension::suspend(
        &mut tx,
        ada.org_id,
        control_plane::money::suspension::Scope::Organization,
        control_plane::money::suspension::Cause::Admin,
        "a mistake",
        "admin:test",
        chrono::Utc::now(),
    )
    .await;
    suspended.unwrap();
    tx.rollback().await.unwrap();

    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 0);
    assert_eq!(deliver_all(&pool, Utc::now()).await, 0);
    assert_eq!(receiver.types(), Vec::<String>::new());

    // The same change committed is told.
    let mut tx = pool.begin().await.unwrap();
    control_plane::money::suspension::suspend(
        &mut tx,
        ada.org_id,
        control_plane::money::suspension::Scope::Organization,
        control_plane::money::suspension::Cause::Admin,
        "abuse",
        "admin:test",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(deliver_all(&pool, Utc::now()).await, 1);
    assert_eq!(receiver.types(), ["organization.suspended"]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn during_a_rotation_both_secrets_sign_and_afterwards_only_the_new(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let provisioner = Provisioner::new(pool.clone(), Duration::seconds(3));
    let ada = app.signup("ada@example.com").await;
    let receiver = Receiver::start().await;
    let endpoint = register(&app, &ada, &receiver, &["cluster.ready", "cluster.deleted"]).await;
    let old = endpoint["secret"].as_str().unwrap().to_owned();
    let path = format!(
        "{}/{}",
        endpoints_of(&ada),
        endpoint["id"].as_str().unwrap()
    );
    let key = app.api_key(&ada).await;

    let rotated = app
        .post(
            &format!("{path}/rotate-secret"),
            &ada.session,
            json!({ "expires_in_seconds": 3600 }),
        )
        .await;
    let rotated = rotated.ok(200).clone();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].is_string());
    let shown = app.get(&path, &ada.session).await.ok(200).clone();
    assert!(shown.get("secret").is_none(), "never shown again: {shown}");

    // Within the hour, a receiver that still holds the old secret accepts.
    let cluster = app.create_cluster(ada.org_id, &key, "search").await;
    let mut t = Utc::now();
    settle(&provisioner, &mut t).await;
    receiver.trust(&[&old]);
    assert_eq!(deliver_all(&pool, t).await, 1);
    // After it, only the new secret signs: the old one alone is refused.
    let cluster_path = format!(
        "/v1/organizations/{}/clusters/{}",
        ada.org_id,
        cluster["id"].as_str().unwrap()
    );
    app.delete(&cluster_path, &key).await.ok(202);
    let mut later = t + Duration::hours(2);
    settle(&provisioner, &mut later).await;
    assert_eq!(deliver_all(&pool, later).await, 0);
    assert_eq!(receiver.refused(), 1);
    receiver.trust(&[&new]);
    assert_eq!(deliver_all(&pool, later + Duration::minutes(5)).await, 1);
    assert_eq!(receiver.types(), ["cluster.ready", "cluster.deleted"]);

    // Out of bounds, the overlap is refused.
    let refused = app
        .post(
            &format!("{path}/rotate-secret"),
            &ada.session,
            json!({ "expires_in_seconds": 604801 }),
        )
        .await;
    refused.problem(422, "validation-failed");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_endpoint_failing_for_three_days_is_disabled_and_its_owner_told(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let provisioner = Provisioner::new(pool.clone(), Duration::seconds(3));
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let receiver = Receiver::start().await;
    let endpoint = register(&app, &ada, &receiver, &["cluster.ready"]).await;
    let path = format!(
        "{}/{}",
        endpoints_of(&ada),
        endpoint["id"].as_str().unwrap()
    );
    let key = app.api_key(&ada).await;
    receiver.set_down(true);
    app.create_cluster(ada.org_id, &key, "search").await;
    let mut t = Utc::now();
    settle(&provisioner, &mut t).await;

    // Tried through three days, backing off; still enabled until then.
    for hours in [0, 1, 24, 48, 71] {
        deliver_all(&pool, t + Duration::hours(hours)).await;
        assert_eq!(
            app.get(&path, &ada.session).await.ok(200)["enabled"],
            true,
            "{hours} h"
        );
    }
    deliver_all(&pool, t + Duration::hours(73)).await;
    let disabled = app.get(&path, &ada.session).await.ok(200).clone();
    assert_eq!(disabled["enabled"], false);
    assert_eq!(
        disabled["disabled_reason"],
        "every delivery failed for 3 days"
    );
    let deliveries = app.get(&format!("{path}/deliveries"), &ada.session).await;
    let first = deliveries.ok(200)["data"][0].clone();
    assert_eq!(first["status"], "failed");
    assert!(first["attempts"].as_i64().unwrap() >= 6, "{first}");
    let emailed: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE topic = 'email.send' AND payload->>'to' = 'ada@example.com'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(emailed.len(), 1);
    assert!(emailed[0]["text"].as_str().unwrap().contains(&receiver.url));

    // A disabled endpoint is sent nothing new; enabled again, it is.
    receiver.set_down(false);
    app.create_cluster(ada.org_id, &key, "other").await;
    let mut later = t + Duration::hours(74);
    settle(&provisioner, &mut later).await;
    assert_eq!(deliver_all(&pool, later).await, 0);
    let enabled = app
        .patch(&path, &ada.session, json!({ "enabled": true }))
        .await;
    assert_eq!(enabled.ok(200)["enabled"], true);
    app.create_cluster(ada.org_id, &key, "third").await;
    settle(&provisioner, &mut later).await;
    assert_eq!(deliver_all(&pool, later).await, 1);
    assert_eq!(receiver.types(), ["cluster.ready"]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn endpoints_are_the_organizations_own_and_for_owners_and_admins(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let bob = app.signup("bob@example.com").await;
    let receiver = Receiver::start().await;
    let endpoint = register(&app, &ada, &receiver, &["invoice.paid"]).await;
    let id = endpoint["id"].as_str().unwrap();
    let path = format!("{}/{id}", endpoints_of(&ada));
    let delivery = format!("{path}/deliveries/{}/resend", Uuid::now_v7());

    // Bob, in Ada's organization's paths: nothing is there for him.
    for (method, path, body) in [
        (Method::GET, endpoints_of(&ada), None),
        (Method::GET, path.clone(), None),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({ "enabled": false })),
        ),
        (
            Method::POST,
            format!("{path}/rotate-secret"),
            Some(json!({})),
        ),
        (Method::GET, format!("{path}/deliveries"), None),
        (Method::POST, delivery.clone(), None),
        (Method::DELETE, path.clone(), None),
    ] {
        let reply = app
            .send(method.clone(), &path, &bob.session, body, &[])
            .await;
        reply.problem(404, "not-found");
    }
    // Nor is Ada's endpoint under Bob's organization.
    let under_bob = format!("{}/{id}", endpoints_of(&bob));
    app.get(&under_bob, &bob.session)
        .await
        .problem(404, "not-found");

    // A key with the default scopes may not manage webhooks.
    let key = app.api_key(&ada).await;
    app.get(&endpoints_of(&ada), &key)
        .await
        .problem(403, "forbidden");

    // Bad input is named, field by field, and stores nothing.
    let before = app.stored_rows().await;
    let bad = app
        .post(
            &endpoints_of(&ada),
            &ada.session,
            json!({ "url": "ftp://example.com", "event_types": ["cluster.exploded"] }),
        )
        .await;
    let fields: Vec<&str> = bad.problem(422, "validation-failed")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["url", "event_types"]);
    assert_eq!(app.stored_rows().await, before);

    // A replayed creation does not show the secret again.
    let body = json!({ "url": receiver.url, "event_types": ["invoice.paid"] });
    let headers = [("idempotency-key", "hook-1")];
    let first = app
        .send(
            Method::POST,
            &endpoints_of(&ada),
            &ada.session,
            Some(body.clone()),
            &headers,
        )
        .await;
    assert!(first.ok(201)["secret"].is_string());
    let replay = app
        .send(
            Method::POST,
            &endpoints_of(&ada),
            &ada.session,
            Some(body),
            &headers,
        )
        .await;
    assert_eq!(replay.ok(201)["id"], first.body["id"]);
    assert!(replay.body.get("secret").is_none());

    // Deleted, it is gone.
    app.delete(&path, &ada.session).await.ok(200);
    app.get(&path, &ada.session).await.problem(404, "not-found");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_dashboard_adds_an_endpoint_shows_its_deliveries_and_resends_one(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let provisioner = Provisioner::new(pool.clone(), Duration::seconds(3));
    let mut ada = Browser::signed_up(&app, "ada@example.com").await;
    let (_, home, _) = ada.get("/").await;
    let (status, _, list) = ada.get(&format!("{home}/webhooks")).await;
    assert_eq!(status, 200);
    assert!(
        list.contains(r#"name="event:cluster.ready""#),
        "a box per event type"
    );
    let receiver = Receiver::start().await;

    // Added with two boxes ticked: the secret shows once, never cached.
    let (status, _, added) = ada
        .post(
            &format!("{home}/webhooks"),
            &[
                ("csrf", &csrf(&list)),
                ("url", &receiver.url),
                ("description", "ops"),
                ("event:cluster.ready", "on"),
                ("event:cluster.deleted", "on"),
            ],
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let marker = r#"data-testid="webhook-secret">"#;
    let at = added.find(marker).unwrap() + marker.len();
    let secret = added[at..].split('<').next().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.trust(&[&secret]);
    let (_, _, again) = ada.get(&format!("{home}/webhooks")).await;
    assert!(!again.contains(&secret), "shown once");
    assert!(again.contains("cluster.ready, cluster.deleted"));

    // A bad URL is named, and nothing is stored.
    let before = app.stored_rows().await;
    let (status, _, refused) = ada
        .post(
            &format!("{home}/webhooks"),
            &[
                ("csrf", &csrf(&list)),
                ("url", "http://example.com/"),
                ("event:cluster.ready", "on"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(refused.contains("must be an https URL"), "{refused}");
    assert_eq!(app.stored_rows().await, before);

    // A cluster becomes ready; its delivery is listed with the answer.
    let endpoint: Uuid = sqlx::query_scalar("SELECT id FROM webhook_endpoints")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (_, _, overview) = ada.get(&home).await;
    let form = [
        ("csrf", csrf(&overview)),
        ("name", "search".to_owned()),
        ("region", crate::helpers::REGION.to_owned()),
        ("nodes", "1".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) = ada.post(&format!("{home}/clusters"), &form).await;
    assert_eq!(status, 303);
    let mut t = Utc::now();
    settle(&provisioner, &mut t).await;
    assert_eq!(deliver_all(&pool, t).await, 1);
    let page = format!("{home}/webhooks/{endpoint}");
    let (status, _, shown) = ada.get(&page).await;
    assert_eq!(status, 200);
    assert!(
        shown.contains("cluster.ready") && shown.contains("succeeded"),
        "{shown}"
    );
    assert!(shown.contains("<td>204"), "the receiver's answer: {shown}");

    // Resent from its button: the same event arrives again.
    let delivery: Uuid = sqlx::query_scalar("SELECT id FROM webhook_deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (status, location, _) = ada
        .post(
            &format!("{page}/deliveries/{delivery}/resend"),
            &[("csrf", &csrf(&shown))],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, page.as_str()));
    assert_eq!(deliver_all(&pool, t).await, 1);
    let events = receiver.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["id"], events[1]["id"]);

    // Deleted behind its box.
    let (status, _, _) = ada
        .post(&format!("{page}/delete"), &[("csrf", &csrf(&shown))])
        .await;
    assert_eq!(status, 422, "not without the box ticked");
    let (status, _, _) = ada
        .post(
            &format!("{page}/delete"),
            &[("csrf", &csrf(&shown)), ("confirm", "yes")],
        )
        .await;
    assert_eq!(status, 303);
    let (status, _, _) = ada.get(&page).await;
    assert_eq!(status, 404);
}
