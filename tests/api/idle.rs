//! The free tier's idle lifecycle through the billing worker, with time
//! injected: a free cluster that serves no request is warned at 5 days,
//! suspended at 7, warned at 21 and 27 days suspended and deleted at 28;
//! the customer resumes it with one click, which restarts its clock; an
//! hour without a reading of the request counter never counts as idle; a
//! paid cluster is never touched.
//!
//! The `requests` readings go through metering's ingester with chosen
//! times, one reading an hour: its HTTP edge refuses events older than
//! 48 h, and these stories span weeks.

use std::sync::Arc;

use billing::catalog_store::{self, LiveCatalog};
use chrono::{DateTime, Duration, DurationRound, Utc};
use control_plane::money::worker::{BillingWorker, Pass};
use control_plane::provisioner::Provisioner;
use metering::ingest::DEFAULT_LATENESS;
use metering::{Ingester, Meter, UsageEvent};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::forms::{Browser, csrf};
use crate::helpers::{Auth, Customer, TestApp};
use crate::receiver::Receiver;

/// A cluster whose clock the test drives from `t0`, its creation.
struct Idle {
    app: TestApp,
    ada: Customer,
    key: Auth,
    id: Uuid,
    path: String,
    t0: DateTime<Utc>,
    worker: BillingWorker,
    ingester: Ingester,
}

/// Ada's cluster on `plan`, made at `t0` (its creation moved there, as if
/// made then), on the hour.
async fn idle_cluster(pool: PgPool, plan: &str, t0: DateTime<Utc>) -> Idle {
    let app = TestApp::spawn(pool.clone()).await;
    let (ada, key, id, path) = app.ada_with_a_cluster(plan).await;
    let id: Uuid = id.parse().unwrap();
    let t0 = t0.duration_trunc(Duration::hours(1)).unwrap();
    sqlx::query("UPDATE vector_clusters SET created_at = $2 WHERE id = $1")
        .bind(id)
        .bind(t0)
        .execute(&pool)
        .await
        .unwrap();
    let published = catalog_store::current(&mut pool.acquire().await.unwrap())
        .await
        .unwrap()
        .unwrap();
    let worker = BillingWorker::new(
        pool.clone(),
        Arc::new(LiveCatalog::new(published)),
        None,
        Duration::days(14),
    );
    let ingester = Ingester::start(pool, DEFAULT_LATENESS).await.unwrap();
    Idle {
        app,
        ada,
        key,
        id,
        path,
        t0,
        worker,
        ingester,
    }
}

impl Idle {
    fn at(&self, days: i64, hours: i64) -> DateTime<Utc> {
        self.t0 + Duration::days(days) + Duration::hours(hours)
    }

    /// One reading of the request counter in each hour of `hours` after
    /// `from` (its half past), counting `busy` requests in the hours listed
    /// there and none in the others; `unread` hours have no reading.
    async fn read(
        &self,
        from: DateTime<Utc>,
        hours: std::ops::Range<i64>,
        busy: &[(i64, i64)],
        unread: std::ops::Range<i64>,
    ) {
        let from = from.duration_trunc(Duration::hours(1)).unwrap();
        let events: Vec<UsageEvent> = hours
            .filter(|h| !unread.contains(h))
            .map(|h| {
                let time = from + Duration::hours(h) + Duration::minutes(30);
                UsageEvent {
                    source: "dataplane/test/collector".into(),
                    id: format!("{}/requests//{}", self.id, time.timestamp()),
                    organization_id: self.ada.org_id,
                    resource_id: self.id,
                    meter: Meter::Requests,
                    dimension: String::new(),
                    time,
                    value: busy.iter().find(|(b, _)| *b == h).map_or(0, |(_, n)| *n),
                }
            })
            .collect();
        self.ingester.ingest(&events).await.unwrap();
    }

    async fn pass(&self, at: DateTime<Utc>) -> Pass {
        self.worker.run_once_at(at).await.unwrap()
    }

    async fn cluster(&self) -> Value {
        self.app.get(&self.path, &self.key).await.ok(200).clone()
    }

    /// The subjects of the emails queued for Ada, oldest first.
    async fn emails(&self) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT payload->>'subject' FROM outbox
             WHERE topic = 'email.send' AND payload->>'to' = $1 ORDER BY id",
        )
        .bind(&self.ada.email)
        .fetch_all(&self.app.pool)
        .await
        .unwrap()
    }

    /// What `system:idle` did, as the audit log has it.
    async fn audited(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT action FROM audit_log WHERE actor = 'system:idle' ORDER BY id")
            .fetch_all(&self.app.pool)
            .await
            .unwrap()
    }
}

const WARNED: &str = "Your cluster search will be suspended in 2 days";

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_idle_free_cluster_is_warned_once_at_five_days_and_suspended_at_seven(pool: PgPool) {
    let c = idle_cluster(pool, "free", Utc::now()).await;
    c.read(c.t0, 0..7 * 24 + 2, &[], 0..0).await;

    let pass = c.pass(c.at(5, 0) - Duration::minutes(1)).await;
    assert_eq!(pass.idle.warned, 0);
    let pass = c.pass(c.at(5, 0)).await;
    assert_eq!(pass.idle.warned, 1);
    for at in [c.at(5, 0), c.at(5, 1), c.at(6, 0)] {
        assert_eq!(c.pass(at).await.idle.warned, 0, "sent once");
    }
    assert_eq!(c.emails().await, [WARNED]);
    assert_eq!(c.cluster().await["status"]["suspended_by"], Value::Null);

    assert_eq!(
        c.pass(c.at(7, 0) - Duration::minutes(1))
            .await
            .idle
            .suspended,
        0
    );
    let pass = c.pass(c.at(7, 0)).await;
    assert_eq!((pass.idle.suspended, pass.idle.warned), (1, 0));
    assert_eq!(c.pass(c.at(7, 1)).await.idle.suspended, 0, "suspended once");
    let cluster = c.cluster().await;
    assert_eq!(cluster["status"]["suspended_by"], "idle");
    assert_eq!(
        cluster["spec"]["generation"], 2,
        "the suspension reaches the data plane, which scales it to zero (data kept)"
    );
    let reason = cluster["status"]["suspended_reason"].as_str().unwrap();
    assert!(reason.contains("served no request for 7 days"), "{reason}");
    assert_eq!(c.audited().await, ["resources.suspend"]);
    assert_eq!(c.emails().await, [WARNED]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn resuming_with_one_click_restarts_the_idle_clock(pool: PgPool) {
    // Suspended in the past, so that the resume (now) comes after it.
    let c = idle_cluster(pool, "free", Utc::now() - Duration::days(9)).await;
    c.read(c.t0, 0..7 * 24 + 2, &[], 0..0).await;
    c.pass(c.at(5, 0)).await;
    assert_eq!(c.pass(c.at(7, 0)).await.idle.suspended, 1);

    let resume = format!("{}/resume", c.path);
    let before = Utc::now();
    let resumed = c.app.post(&resume, &c.key, json!({})).await;
    let after = Utc::now();
    let resumed = resumed.ok(202).clone();
    assert_eq!(resumed["status"]["suspended_by"], Value::Null);
    assert_eq!(
        resumed["spec"]["generation"], 3,
        "created, suspended, resumed"
    );
    // Resuming a running cluster again changes nothing.
    let again = c.app.post(&resume, &c.key, json!({})).await;
    assert_eq!(
        again.ok(202)["spec"]["generation"],
        resumed["spec"]["generation"]
    );

    // Running and read again, with no request since the original start.
    c.read(before, 0..6 * 24, &[], 0..0).await;
    let pass = c.pass(after + Duration::minutes(1)).await;
    assert_eq!((pass.idle.warned, pass.idle.suspended), (0, 0));
    assert_eq!(
        c.pass(before + Duration::days(5) - Duration::minutes(1))
            .await
            .idle
            .warned,
        0
    );
    assert_eq!(
        c.emails().await,
        [WARNED],
        "only the first stretch's warning"
    );
    assert_eq!(c.pass(after + Duration::days(5)).await.idle.warned, 1);
    assert_eq!(c.emails().await, [WARNED, WARNED]);
    assert_eq!(c.cluster().await["status"]["suspended_by"], Value::Null);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_cluster_suspended_for_idleness_is_deleted_after_twenty_eight_days(pool: PgPool) {
    let c = idle_cluster(pool.clone(), "free", Utc::now()).await;
    let receiver = Receiver::start().await;
    let endpoints = format!("/v1/organizations/{}/webhook-endpoints", c.ada.org_id);
    c.app
        .post(
            &endpoints,
            &c.ada.session,
            json!({ "url": receiver.url, "event_types": ["cluster.deleted"] }),
        )
        .await
        .ok(201);
    c.read(c.t0, 0..7 * 24 + 2, &[], 0..0).await;
    c.pass(c.at(5, 0)).await;
    assert_eq!(c.pass(c.at(7, 0)).await.idle.suspended, 1);
    let suspended = c.at(7, 0);
    let day = |n: i64| suspended + Duration::days(n);

    assert_eq!(c.pass(day(21) - Duration::minutes(1)).await.idle.warned, 0);
    for at in [day(21), day(21) + Duration::hours(1), day(26)] {
        c.pass(at).await;
    }
    let seven = "Your suspended cluster search will be deleted in 7 days";
    assert_eq!(c.emails().await, [WARNED, seven]);
    for at in [day(27), day(27) + Duration::hours(12)] {
        c.pass(at).await;
    }
    let one = "Your suspended cluster search will be deleted in 1 day";
    assert_eq!(c.emails().await, [WARNED, seven, one]);

    assert_eq!(c.pass(day(28) - Duration::minutes(1)).await.idle.deleted, 0);
    let pass = c.pass(day(28)).await;
    assert_eq!(pass.idle.deleted, 1);
    assert_eq!(c.pass(day(28) + Duration::hours(1)).await.idle.deleted, 0);
    assert_eq!(c.cluster().await["status"]["phase"], "Deleting");
    assert_eq!(c.audited().await, ["resources.suspend", "cluster.delete"]);

    // The normal path from here: the provisioner removes it and tells.
    let provisioner = Provisioner::new(pool.clone(), Duration::seconds(3));
    let mut t = day(28) + Duration::minutes(1);
    for _ in 0..3 {
        provisioner.run_once_at(t).await.unwrap();
        t += Duration::seconds(4);
    }
    c.app.get(&c.path, &c.key).await.problem(404, "not-found");
    let events: Vec<String> =
        sqlx::query_scalar("SELECT type FROM webhook_events WHERE organization_id = $1")
            .bind(c.ada.org_id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(events, ["cluster.deleted"]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_hour_without_a_reading_never_counts_as_idle(pool: PgPool) {
    let c = idle_cluster(pool, "free", Utc::now()).await;
    // Hours 30 to 32 unread (the collector down, or the counter refused).
    c.read(c.t0, 0..8 * 24 + 12, &[], 30..33).await;
    for at in [c.at(5, 0), c.at(5, 32)] {
        assert_eq!(c.pass(at).await.idle.warned, 0, "{at}");
    }
    // Idle is counted from the end of the last unread hour.
    assert_eq!(c.pass(c.at(5, 33)).await.idle.warned, 1);
    assert_eq!(c.pass(c.at(7, 32)).await.idle.suspended, 0);
    assert_eq!(c.pass(c.at(7, 33)).await.idle.suspended, 1);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_cluster_never_read_is_never_idle(pool: PgPool) {
    let c = idle_cluster(pool, "free", Utc::now()).await;
    for day in [5, 7, 30, 40] {
        let pass = c.pass(c.at(day, 0)).await;
        assert_eq!((pass.idle.warned, pass.idle.suspended), (0, 0));
    }
    // Read for a day only: still nothing known of the rest.
    c.read(c.t0 + Duration::days(41), 0..24, &[], 0..0).await;
    let pass = c.pass(c.at(45, 0)).await;
    assert_eq!((pass.idle.warned, pass.idle.suspended), (0, 0));
    assert!(c.emails().await.is_empty());
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_request_keeps_a_free_cluster_active_from_its_hour(pool: PgPool) {
    let c = idle_cluster(pool, "free", Utc::now()).await;
    // A request in hour 48: idle from hour 49, warned 5 days after that.
    c.read(c.t0, 0..9 * 24, &[(48, 3)], 0..0).await;
    assert_eq!(c.pass(c.at(7, 0)).await.idle.warned, 0);
    assert_eq!(
        c.pass(c.at(7, 1) - Duration::minutes(1)).await.idle.warned,
        0
    );
    assert_eq!(c.pass(c.at(7, 1)).await.idle.warned, 1);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_paid_cluster_is_never_suspended_for_idleness(pool: PgPool) {
    let paid = idle_cluster(pool, "starter", Utc::now()).await;
    paid.read(paid.t0, 0..40 * 24, &[], 0..0).await;
    for day in [5, 7, 30, 36] {
        let pass = paid.pass(paid.at(day, 0)).await;
        assert_eq!(
            (pass.idle.warned, pass.idle.suspended, pass.idle.deleted),
            (0, 0, 0)
        );
    }
    assert_eq!(paid.cluster().await["status"]["suspended_by"], Value::Null);
    assert!(paid.emails().await.is_empty());
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn only_an_idle_suspension_is_lifted_by_resume(pool: PgPool) {
    let c = idle_cluster(pool.clone(), "free", Utc::now()).await;
    let mut conn = pool.acquire().await.unwrap();
    control_plane::money::suspension::suspend(
        &mut conn,
        c.ada.org_id,
        control_plane::money::suspension::Scope::Cluster(c.id),
        control_plane::money::suspension::Cause::StorageCap,
        "over the cap",
        "system:billing",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let refused = c
        .app
        .post(&format!("{}/resume", c.path), &c.key, json!({}))
        .await;
    refused.problem(409, "cluster-not-resumable");
    assert_eq!(c.cluster().await["status"]["suspended_by"], "storage_cap");
    // Another organization's cluster is not found.
    let bob = c.app.signup("bob@example.com").await;
    let bobs = c.app.api_key(&bob).await;
    let path = format!(
        "/v1/organizations/{}/clusters/{}/resume",
        c.ada.org_id, c.id
    );
    c.app
        .post(&path, &bobs, json!({}))
        .await
        .problem(404, "not-found");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_dashboard_shows_why_and_resumes_with_its_button(pool: PgPool) {
    let c = idle_cluster(pool, "free", Utc::now() - Duration::days(8)).await;
    c.read(c.t0, 0..7 * 24 + 2, &[], 0..0).await;
    c.pass(c.at(5, 0)).await;
    assert_eq!(c.pass(c.at(7, 0)).await.idle.suspended, 1);

    let mut ada = Browser::logged_in(&c.app, &c.ada.email).await;
    let page_path = format!("/orgs/{}/clusters/{}", c.ada.org_id, c.id);
    let (status, _, page) = ada.get(&page_path).await;
    assert_eq!(status, 200);
    assert!(page.contains("served no request for 7 days"), "{page}");
    let button = format!(r#"action="{page_path}/resume""#);
    assert!(page.contains(&button), "{page}");
    let (status, location, _) = ada
        .post(&format!("{page_path}/resume"), &[("csrf", &csrf(&page))])
        .await;
    assert_eq!((status, location.as_str()), (303, page_path.as_str()));
    assert_eq!(c.cluster().await["status"]["suspended_by"], Value::Null);
    let (_, _, page) = ada.get(&page_path).await;
    assert!(!page.contains(&button), "no button on a running cluster");
}
