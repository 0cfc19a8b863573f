//! Connected data planes through the sync routes, as an operator calls
//! them: enrollment, the desired state by version and long poll, status
//! reports, rotation, revocation, staleness, customer-run data planes, and
//! the switch of a data plane pushed to through a kubeconfig. Every sync
//! route is checked for tenancy: a data plane reads and writes only its
//! own resources, of the organizations they belong to.

use chrono::{Duration, Utc};
use control_plane::data_planes::{enrollment, standing};
use control_plane::provisioner::Provisioner;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{Auth, TestApp};

/// A connected data plane as its operator sees it: its id and credential.
struct Plane {
    id: Uuid,
    auth: Auth,
}

/// Registers a connected data plane for `region`; its enrollment token.
async fn register(app: &TestApp, name: &str, region: &str, owner: Option<Uuid>) -> String {
    let mut conn = app.pool.acquire().await.unwrap();
    let plane = enrollment::NewDataPlane {
        name,
        region,
        organization_id: owner,
        price_list: None,
        backups: true,
        gateway_url: None,
    };
    enrollment::register(&mut conn, &plane, enrollment::ENROLLMENT_TTL, Utc::now())
        .await
        .unwrap()
        .1
}

/// The answer to an enrollment with `token`.
async fn enrolling(app: &TestApp, token: &str) -> crate::helpers::Reply {
    app.post(
        "/v1/data-plane/enroll",
        &Auth::None,
        json!({ "token": token }),
    )
    .await
}

async fn enroll(app: &TestApp, token: &str) -> Plane {
    let enrolled = enrolling(app, token).await;
    let body = enrolled.ok(200);
    Plane {
        id: body["data_plane"]["id"].as_str().unwrap().parse().unwrap(),
        auth: Auth::Key(body["credential"].as_str().unwrap().to_owned()),
    }
}

async fn connected(app: &TestApp, name: &str, region: &str) -> Plane {
    let token = register(app, name, region, None).await;
    enroll(app, &token).await
}

async fn desired(app: &TestApp, plane: &Plane, query: &str) -> crate::helpers::Reply {
    app.get(&format!("/v1/data-plane/desired-state{query}"), &plane.auth)
        .await
}

async fn report(app: &TestApp, plane: &Plane, reports: Value) -> Value {
    app.post(
        "/v1/data-plane/status",
        &plane.auth,
        json!({ "reports": reports }),
    )
    .await
    .ok(200)
    .clone()
}

/// A cluster's report: applied at `generation`, acted on, in `phase`.
fn cluster_report(id: &str, org: Uuid, generation: i64, phase: &str) -> Value {
    json!({
        "kind": "VectorCluster", "id": id, "organization_id": org,
        "applied_generation": generation, "acted": true,
        "status": {
            "observedGeneration": 1, "phase": phase, "readyNodes": 1,
            "currentVersion": "v1.16.3", "endpoint": "http://search.qm.svc:6333",
            "conditions": [],
        }
    })
}

async fn create_in(app: &TestApp, org: Uuid, auth: &Auth, name: &str, region: &str) -> String {
    app.post(
        &format!("/v1/organizations/{org}/clusters"),
        auth,
        json!({ "name": name, "region": region }),
    )
    .await
    .ok(202)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Ada, her API key and a cluster `search` in `plane`'s region `eu-west`,
/// reported Ready by the data plane.
async fn a_ready_cluster(app: &TestApp, plane: &Plane) -> (crate::helpers::Customer, Auth, String) {
    let ada = app.signup("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let id = create_in(app, ada.org_id, &key, "search", "eu-west").await;
    report(
        app,
        plane,
        json!([cluster_report(&id, ada.org_id, 1, "Ready")]),
    )
    .await;
    (ada, key, id)
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_enrollment_token_is_exchanged_once_and_never_after_it_expires(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let token = register(&app, "eu-1", "eu-west", None).await;
    let enrolled = enrolling(&app, &token).await;
    assert_eq!(enrolled.headers["cache-control"], "no-store");
    let body = enrolled.ok(200);
    assert_eq!(body["data_plane"]["name"], "eu-1");
    assert_eq!(body["data_plane"]["region"], "eu-west");
    let credential = body["credential"].as_str().unwrap();
    assert!(credential.starts_with("qmdc_"));

    let again = enrolling(&app, &token).await;
    let refused = again.problem(401, "enrollment-token-refused");
    assert!(
        refused["detail"].as_str().unwrap().contains("already used"),
        "{refused}"
    );
    for bad in ["qmen_not-a-token", "qmdc_wrong-kind", ""] {
        let unknown = enrolling(&app, bad).await;
        unknown.problem(401, "enrollment-token-refused");
    }
    app.post("/v1/data-plane/enroll", &Auth::None, json!({}))
        .await
        .problem(422, "invalid-body");
    app.post(
        "/v1/data-plane/enroll",
        &Auth::None,
        json!({ "token": token, "region": "us-east" }),
    )
    .await
    .problem(422, "unknown-field");

    // A token past its time is refused, and a new one works.
    let mut conn = pool.acquire().await.unwrap();
    let id = control_plane::data_planes::id_of(&mut conn, "eu-1")
        .await
        .unwrap();
    let day_ago = Utc::now() - Duration::hours(25);
    let stale = enrollment::issue(&mut conn, id, Duration::hours(24), day_ago)
        .await
        .unwrap();
    let expired = enrolling(&app, &stale).await;
    let expired = expired.problem(401, "enrollment-token-refused");
    assert!(expired["detail"].as_str().unwrap().contains("expired"));

    // Neither the token nor the credential is stored as itself.
    let rows = format!("{:?}", app.stored_rows().await)
        + &sqlx::query_scalar::<_, String>(
            "SELECT string_agg(encode(token_hash, 'escape'), ',') FROM data_plane_credentials",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!rows.contains(credential));
    assert!(!rows.contains(&token));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_cluster_made_through_the_api_is_pulled_and_its_status_comes_back(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let plane = connected(&app, "eu-1", "eu-west").await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let key = app.api_key(&ada).await;

    // Nothing yet: the whole state is empty, and a poll from it waits.
    let empty = desired(&app, &plane, "").await;
    assert_eq!(empty.ok(200)["complete"], true);
    assert_eq!(empty.body["resources"], json!([]));
    let from = empty.body["version"].as_i64().unwrap();
    let idle = desired(&app, &plane, &format!("?since={from}&wait=0")).await;
    assert_eq!(idle.status.as_u16(), 204);
    assert_eq!(idle.body, Value::Null);

    // A long poll is woken by the change it waits for.
    let Auth::Key(credential) = &plane.auth else {
        unreachable!()
    };
    let poll = app
        .request(
            Method::GET,
            &format!("/v1/data-plane/desired-state?since={from}&wait=30"),
        )
        .bearer_auth(credential)
        .send();
    let poll = tokio::spawn(poll);
    let id = create_in(&app, ada.org_id, &key, "search", "eu-west").await;
    let woken: Value = poll.await.unwrap().unwrap().json().await.unwrap();
    assert_eq!(woken["complete"], false);
    let resources = woken["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "{woken}");
    let cluster = &resources[0];
    assert_eq!(cluster["kind"], "VectorCluster");
    assert_eq!(cluster["id"], id.as_str());
    assert_eq!(cluster["organization_id"], ada.org_id.to_string());
    assert_eq!(cluster["name"], "search");
    assert_eq!(cluster["generation"], 1);
    assert_eq!(cluster["delete"], false);
    assert_eq!(cluster["spec"]["nodes"], 1);
    let version = woken["version"].as_i64().unwrap();
    assert!(version > from);

    // Applied and acted on: the status comes back through the same path as
    // a pushed data plane's.
    let answer = report(
        &app,
        &plane,
        json!([cluster_report(&id, ada.org_id, 1, "Ready")]),
    )
    .await;
    assert_eq!(answer, json!({ "applied": 1, "unknown": [] }));
    let path = format!("/v1/organizations/{}/clusters/{id}", ada.org_id);
    let ready = app.get(&path, &key).await;
    let status = &ready.ok(200)["status"];
    assert_eq!(status["phase"], "Ready");
    assert_eq!(status["observed_generation"], 1);
    assert_eq!(status["endpoint"], "http://search.qm.svc:6333");

    // A status report moves no version: an idle poll stays idle.
    let still = desired(&app, &plane, &format!("?since={version}&wait=0")).await;
    assert_eq!(still.status.as_u16(), 204);

    // A resize is the next change; Updating until acted on.
    app.patch(&path, &key, json!({ "storage_gib": 20 }))
        .await
        .ok(202);
    let resized = desired(&app, &plane, &format!("?since={version}&wait=5")).await;
    let resized = resized.ok(200);
    assert_eq!(resized["resources"][0]["generation"], 2);
    assert_eq!(
        resized["resources"][0]["spec"]["resources"]["storageGib"],
        20
    );
    let version = resized["version"].as_i64().unwrap();
    let mut waiting = cluster_report(&id, ada.org_id, 2, "Updating");
    waiting["acted"] = json!(false);
    report(&app, &plane, json!([waiting])).await;
    let updating = app.get(&path, &key).await;
    assert_eq!(updating.ok(200)["status"]["observed_generation"], 1);
    report(
        &app,
        &plane,
        json!([cluster_report(&id, ada.org_id, 2, "Ready")]),
    )
    .await;
    let acted = app.get(&path, &key).await;
    assert_eq!(acted.ok(200)["status"]["observed_generation"], 2);

    // Deleted: asked, then gone once the data plane says so; the record's
    // removal is sent too, which the data plane finds already done.
    app.delete(&path, &key).await.ok(202);
    let deleting = desired(&app, &plane, &format!("?since={version}&wait=5")).await;
    let deleting = deleting.ok(200);
    assert_eq!(deleting["resources"][0]["delete"], true);
    let version = deleting["version"].as_i64().unwrap();
    app.get(&path, &key).await.ok(200);
    let gone =
        json!([{ "kind": "Gone", "of": "VectorCluster", "id": id, "organization_id": ada.org_id }]);
    assert_eq!(report(&app, &plane, gone).await["applied"], 1);
    app.get(&path, &key).await.problem(404, "not-found");
    let removed = desired(&app, &plane, &format!("?since={version}&wait=5")).await;
    let removed = removed.ok(200);
    assert_eq!(removed["resources"][0]["kind"], "Removed");
    assert_eq!(removed["resources"][0]["of"], "VectorCluster");
    assert_eq!(removed["resources"][0]["delete"], true);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn every_sync_route_reads_and_writes_only_its_own_data_plane(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let west = connected(&app, "eu-1", "eu-west").await;
    let east = connected(&app, "us-1", "us-east").await;
    let ada = app.signup("ada@example.com").await;
    let ada_key = app.api_key(&ada).await;
    let bob = app.signup("bob@example.com").await;
    let bob_key = app.api_key(&bob).await;
    let in_west = create_in(&app, ada.org_id, &ada_key, "search", "eu-west").await;
    let in_east = create_in(&app, bob.org_id, &bob_key, "docs", "us-east").await;

    // Each data plane's state holds its own resources only.
    let ids = |state: &Value| -> Vec<String> {
        state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(desired(&app, &west, "").await.ok(200)),
        std::slice::from_ref(&in_west)
    );
    assert_eq!(
        ids(desired(&app, &east, "").await.ok(200)),
        std::slice::from_ref(&in_east)
    );

    // A report on another data plane's cluster, or naming another
    // organization for its own, changes nothing.
    app.delete(
        &format!("/v1/organizations/{}/clusters/{in_west}", ada.org_id),
        &ada_key,
    )
    .await
    .ok(202);
    let before = app.stored_rows().await;
    let foreign = report(
        &app,
        &east,
        json!([cluster_report(&in_west, ada.org_id, 1, "Ready")]),
    )
    .await;
    assert_eq!(foreign, json!({ "applied": 0, "unknown": [in_west] }));
    let wrong_org = report(
        &app,
        &west,
        json!([cluster_report(&in_west, bob.org_id, 1, "Ready")]),
    )
    .await;
    assert_eq!(wrong_org["unknown"], json!([in_west]));
    let gone = json!([{ "kind": "Gone", "of": "VectorCluster", "id": in_west, "organization_id": ada.org_id }]);
    assert_eq!(report(&app, &east, gone).await["unknown"], json!([in_west]));
    let backup = json!([{
        "kind": "VectorClusterBackup", "id": in_west, "organization_id": ada.org_id,
        "cluster_id": in_west, "name": "nightly-1", "status": { "phase": "Succeeded" }
    }]);
    assert_eq!(
        report(&app, &east, backup).await["unknown"],
        json!([in_west])
    );
    let after = app.stored_rows().await;
    assert_eq!(before, after);

    // Only a data plane's own credential opens the sync routes.
    let ingest_token = app.data_plane_token(west.id).await;
    for auth in [
        Auth::None,
        Auth::Key(ingest_token),
        ada_key.clone(),
        ada.session.clone(),
    ] {
        let refused = app
            .send(
                Method::GET,
                "/v1/data-plane/desired-state",
                &auth,
                None,
                &[],
            )
            .await;
        assert_eq!(refused.status.as_u16(), 401, "{auth:?}: {}", refused.body);
        let refused = app
            .send(
                Method::POST,
                "/v1/data-plane/status",
                &auth,
                Some(json!({ "reports": [] })),
                &[],
            )
            .await;
        assert_eq!(refused.status.as_u16(), 401, "{auth:?}: {}", refused.body);
    }
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_revoked_data_plane_gets_nothing_and_its_clusters_stay(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let plane = connected(&app, "eu-1", "eu-west").await;
    let (ada, key, id) = a_ready_cluster(&app, &plane).await;

    let admin = app.signup_admin("ops@example.com").await;
    let listed = app.get("/v1/admin/data-planes", &admin.session).await;
    let eu = listed.ok(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "eu-1")
        .cloned()
        .unwrap();
    assert_eq!(eu["standing"], "connected");
    assert_eq!(eu["clusters"], 1);
    app.post(
        &format!("/v1/admin/data-planes/{}/revoke", plane.id),
        &ada.session,
        json!({}),
    )
    .await
    .problem(403, "forbidden");
    let revoked = app
        .post(
            &format!("/v1/admin/data-planes/{}/revoke", plane.id),
            &admin.session,
            json!({}),
        )
        .await;
    assert_eq!(revoked.status.as_u16(), 204);

    desired(&app, &plane, "")
        .await
        .problem(401, "data-plane-revoked");
    app.post(
        "/v1/data-plane/status",
        &plane.auth,
        json!({ "reports": [] }),
    )
    .await
    .problem(401, "data-plane-revoked");
    app.post("/v1/data-plane/credential", &plane.auth, json!({}))
        .await
        .problem(401, "data-plane-revoked");
    // Its usage reports too.
    app.post("/v1/usage/events", &plane.auth, json!([]))
        .await
        .problem(401, "data-plane-revoked");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'data_plane.revoked' AND target_id = $1",
    )
    .bind(plane.id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // The cluster is as it was: revocation deletes nothing.
    let cluster = app
        .get(
            &format!("/v1/organizations/{}/clusters/{id}", ada.org_id),
            &key,
        )
        .await;
    assert_eq!(cluster.ok(200)["status"]["phase"], "Ready");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_rotated_credential_works_for_the_grace_only(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let plane = connected(&app, "eu-1", "eu-west").await;
    let rotated = app
        .post("/v1/data-plane/credential", &plane.auth, json!({}))
        .await;
    assert_eq!(rotated.headers["cache-control"], "no-store");
    let fresh = rotated.ok(200)["credential"].as_str().unwrap().to_owned();
    let Auth::Key(old) = &plane.auth else {
        unreachable!()
    };
    assert_ne!(&fresh, old);
    desired(
        &app,
        &Plane {
            id: plane.id,
            auth: Auth::Key(fresh.clone()),
        },
        "",
    )
    .await
    .ok(200);
    desired(&app, &plane, "").await.ok(200);
    let mut conn = pool.acquire().await.unwrap();
    let later = Utc::now() + Duration::minutes(11);
    let expired = enrollment::authenticate(&mut conn, old, later).await;
    assert!(
        matches!(expired, Err(control_plane::Error::InvalidApiKey)),
        "{expired:?}"
    );
    assert_eq!(
        enrollment::authenticate(&mut conn, &fresh, later)
            .await
            .unwrap()
            .id,
        plane.id
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_silent_data_plane_is_stale_and_its_clusters_are_left_as_they_were(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let plane = connected(&app, "eu-1", "eu-west").await;
    let (ada, key, id) = a_ready_cluster(&app, &plane).await;
    let path = format!("/v1/organizations/{}/clusters/{id}", ada.org_id);
    app.delete(&path, &key).await.ok(202);

    // A day of silence: the push provisioner leaves a connected data
    // plane's clusters alone, and a deletion waits for the data plane to
    // report the cluster gone: nothing is deleted for silence.
    let provisioner = Provisioner::new(pool.clone(), Duration::seconds(3));
    let later = Utc::now() + Duration::days(1);
    assert_eq!(provisioner.run_once_at(later).await.unwrap(), 0);
    let cluster = app.get(&path, &key).await;
    assert_eq!(cluster.ok(200)["status"]["phase"], "Deleting");
    assert_eq!(cluster.body["status"]["ready_nodes"], 1);
    let mut conn = pool.acquire().await.unwrap();
    let planes = standing::list(&mut conn, Utc::now() + Duration::minutes(6))
        .await
        .unwrap();
    let eu = planes.iter().find(|p| p.id == plane.id).unwrap();
    assert_eq!(eu.standing, standing::Standing::Stale);
    let now = standing::list(&mut conn, Utc::now()).await.unwrap();
    assert_eq!(
        now.iter().find(|p| p.id == plane.id).unwrap().standing,
        standing::Standing::Connected
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_customer_run_data_plane_takes_only_its_organizations_clusters(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let ada_key = app.api_key(&ada).await;
    let bob = app.signup("bob@example.com").await;
    let bob_key = app.api_key(&bob).await;
    let token = register(&app, "acme-onprem", "acme-dc1", Some(ada.org_id)).await;
    let plane = enroll(&app, &token).await;

    let id = create_in(&app, ada.org_id, &ada_key, "search", "acme-dc1").await;
    let refused = app
        .post(
            &format!("/v1/organizations/{}/clusters", bob.org_id),
            &bob_key,
            json!({ "name": "docs", "region": "acme-dc1" }),
        )
        .await;
    let problem = refused.problem(422, "validation-failed");
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("unknown region `acme-dc1`"),
        "{message}"
    );
    assert!(!message.contains("available: acme-dc1"), "{message}");

    // Others do not see the region; its organization does.
    let regions = app.get("/v1/regions", &bob_key).await;
    assert!(!regions.ok(200).to_string().contains("acme-dc1"));
    let state = desired(&app, &plane, "").await;
    let resources = state.ok(200)["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1);
    assert_eq!(resources[0]["id"], id.as_str());
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_data_plane_pushed_to_is_switched_by_enrolling_and_its_kubeconfig_deleted(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO data_planes (id, name, region, kind, kubeconfig, backup_destination,
                                  backup_credentials)
         VALUES ($1, 'eu-1', 'eu-west', 'kubernetes', 'apiVersion: v1', $2, $3)",
    )
    .bind(id)
    .bind(
        json!({ "bucket": "qm-backups", "endpoint": "https://s3.example.com",
                  "region": "eu-west-1", "credentialsSecret": "quartermaster-backup-credentials" }),
    )
    .bind(json!({ "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t" }))
    .execute(&pool)
    .await
    .unwrap();
    let ada = app.signup("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let cluster = create_in(&app, ada.org_id, &key, "search", "eu-west").await;

    let mut conn = pool.acquire().await.unwrap();
    let token = enrollment::issue(&mut conn, id, Duration::hours(1), Utc::now())
        .await
        .unwrap();
    let plane = enroll(&app, &token).await;
    assert_eq!(plane.id, id);
    let (kind, kubeconfig, credentials, destination): (
        String,
        Option<String>,
        Option<Value>,
        Value,
    ) = sqlx::query_as(
        "SELECT kind, kubeconfig, backup_credentials, backup_destination
             FROM data_planes WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), kubeconfig, credentials),
        ("connected", None, None)
    );
    assert_eq!(destination["bucket"], "");
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'data_plane.switched'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
    // Its clusters are pulled from now on.
    let state = desired(&app, &plane, "").await;
    assert_eq!(state.ok(200)["resources"][0]["id"], cluster.as_str());
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_admin_console_shows_each_data_plane_and_revokes_one_once_confirmed(pool: PgPool) {
    use crate::forms::{Browser, csrf};

    let app = TestApp::spawn(pool.clone()).await;
    let plane = connected(&app, "eu-1", "eu-west").await;
    let ada = app.signup("ada@example.com").await;
    let owned = register(&app, "acme-onprem", "acme-dc1", Some(ada.org_id)).await;
    assert!(owned.starts_with("qmen_"));
    app.signup_admin("root@example.com").await;
    let mut root = Browser::logged_in(&app, "root@example.com").await;
    let (status, _, page) = root.get("/admin/data-planes").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("eu-1") && page.contains(">connected<"),
        "{page}"
    );
    assert!(page.contains("awaiting enrollment"), "{page}");
    assert!(
        page.contains(&format!(
            "customer-run: <a href=\"/admin/orgs/{}\">",
            ada.org_id
        )),
        "{page}"
    );
    assert!(page.contains(">simulated<"), "{page}");

    // Not without the box ticked; then revoked, and said so.
    let action = format!("/admin/data-planes/{}/revoke", plane.id);
    let token = csrf(&page);
    let (status, _, _) = root.post(&action, &[("csrf", &token)]).await;
    assert_eq!(status, 422);
    desired(&app, &plane, "").await.ok(200);
    let (status, location, _) = root
        .post(&action, &[("csrf", &token), ("confirm", "yes")])
        .await;
    assert_eq!((status, location.as_str()), (303, "/admin/data-planes"));
    desired(&app, &plane, "")
        .await
        .problem(401, "data-plane-revoked");
    let (_, _, page) = root.get("/admin/data-planes").await;
    assert!(page.contains(">revoked<"), "{page}");
}
