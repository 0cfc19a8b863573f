//! The dashboard's pages over HTTP: forms need their CSRF token, and a
//! member of one organization cannot reach another's pages by changing ids.

use serde_json::json;
use sqlx::PgPool;

use crate::forms::{Browser, csrf, invitation_link};
use crate::helpers::{Auth, PASSWORD, TestApp};

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn forms_need_their_token_and_other_organizations_pages_are_not_found(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let bob = app.signup("bob@example.com").await;
    let bob_cluster = app.create_cluster(bob.org_id, &bob.session, "bobs").await;

    let mut ada = Browser::new(&app);
    let (status, _, form) = ada.get("/signup").await;
    assert_eq!(status, 200);
    assert!(
        form.contains(r#"<label>Email<input type="email" name="email""#),
        "labelled fields"
    );
    // A form posted from elsewhere has no token: refused, nobody signed up.
    let (status, _, page) = Browser::new(&app)
        .post(
            "/signup",
            &[
                ("csrf", "guess"),
                ("email", "eve@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("The form expired"));
    let token = csrf(&form);
    let (status, location, _) = ada
        .post(
            "/signup",
            &[
                ("csrf", &token),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/"));
    let (_, home, _) = ada.get("/").await;
    assert!(home.starts_with("/orgs/"), "{home}");
    let (status, _, overview) = ada.get(&home).await;
    assert_eq!(status, 200);
    assert!(
        overview.contains("The Free plan allows 1 cluster"),
        "limits shown before submit"
    );

    // A cross-site form without the session's token creates nothing.
    let before = app.stored_rows().await;
    let (status, _, _) = ada
        .post(
            &format!("{home}/clusters"),
            &[
                ("csrf", "0000"),
                ("name", "search"),
                ("region", crate::helpers::REGION),
            ],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(app.stored_rows().await, before);
    let (status, location, _) = ada
        .post(
            &format!("{home}/clusters"),
            &[
                ("csrf", &csrf(&overview)),
                ("name", "search"),
                ("region", crate::helpers::REGION),
                ("nodes", "1"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert!(
        location.starts_with(&format!("{home}/clusters/")),
        "{location}"
    );

    // Bob's organization, and Bob's cluster under Ada's or Bob's id: 404.
    let bob_cluster_id = bob_cluster["id"].as_str().unwrap();
    for path in [
        format!("/orgs/{}", bob.org_id),
        format!("/orgs/{}/api-keys", bob.org_id),
        format!("/orgs/{}/usage", bob.org_id),
        format!("/orgs/{}/billing", bob.org_id),
        format!("/orgs/{}/members", bob.org_id),
        format!("/orgs/{}/endpoints", bob.org_id),
        format!("/orgs/{}/clusters/{bob_cluster_id}", bob.org_id),
        format!("{home}/clusters/{bob_cluster_id}"),
    ] {
        let (status, _, page) = ada.get(&path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!page.contains("bobs"), "{path} shows nothing of Bob's");
    }
    // Nor can she delete it.
    let (status, _, _) = ada
        .post(
            &format!("/orgs/{}/clusters/{bob_cluster_id}/delete", bob.org_id),
            &[("csrf", &csrf(&overview)), ("confirm", "yes")],
        )
        .await;
    assert_eq!(status, 404);
    let cluster = app
        .get(
            &format!("/v1/organizations/{}/clusters/{bob_cluster_id}", bob.org_id),
            &bob.session,
        )
        .await;
    assert_eq!(
        cluster.ok(200)["deletion_requested_at"],
        serde_json::Value::Null
    );

    // The admin console is for platform administrators only.
    let (status, _, _) = ada.get("/admin").await;
    assert_eq!(status, 403);
    // Logged out: pages send you to the login.
    let (_, _, page) = ada.get(&home).await;
    ada.post("/logout", &[("csrf", &csrf(&page))]).await;
    let (status, location, _) = ada.get(&home).await;
    assert_eq!((status, location.as_str()), (303, "/login"));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_admin_console_shows_the_fleet_and_changes_plans_and_credits(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ada = app.signup("ada@example.com").await;
    let cluster = app.create_cluster(ada.org_id, &ada.session, "search").await;
    app.signup_admin("root@example.com").await;
    let mut root = Browser::logged_in(&app, "root@example.com").await;
    let org = ada.org_id.to_string();
    let (status, _, console) = root.get("/admin?q=ada%40example").await;
    assert_eq!(status, 200);
    assert!(console.contains(&format!("/admin/orgs/{org}")), "{console}");
    assert!(console.contains("1 shown of 1 organizations"), "{console}");
    let (_, _, clusters) = root.get("/admin/clusters?q=sear").await;
    for needle in ["search", "<h2>Data planes</h2>", "eu-test"] {
        assert!(clusters.contains(needle), "{needle}");
    }
    let (_, _, audit) = root.get(&format!("/admin/audit?organization={org}")).await;
    assert!(audit.contains("organization.create"), "{audit}");
    let (status, _, page) = root.get("/admin?standing=overdue").await;
    assert_eq!(status, 422);
    assert!(page.contains("standing: must be active, past_due or suspended"));

    let (_, _, org_page) = root.get(&format!("/admin/orgs/{org}")).await;
    assert!(org_page.contains("ada@example.com") && org_page.contains("owner"));
    let token = csrf(&org_page);

    // A plan change needs no card here, but its box ticked; an unknown
    // plan is refused.
    let (status, _, page) = root
        .post(
            &format!("/admin/orgs/{org}/plan"),
            &[("csrf", &token), ("plan", "starter")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("Tick the box to confirm the plan change."));
    let (status, location, _) = root
        .post(
            &format!("/admin/orgs/{org}/plan"),
            &[("csrf", &token), ("plan", "starter"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, format!("/admin/orgs/{org}").as_str())
    );
    let plan: String =
        sqlx::query_scalar("SELECT plan FROM subscriptions WHERE organization_id = $1")
            .bind(ada.org_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(plan, "starter");
    let (status, _, page) = root
        .post(
            &format!("/admin/orgs/{org}/plan"),
            &[("csrf", &token), ("plan", "platinum"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("unknown plan `platinum`"));

    // Credit, recorded with who granted it.
    let (status, _, _) = root
        .post(
            &format!("/admin/orgs/{org}/credits"),
            &[
                ("csrf", &token),
                ("amount_minor", "1500"),
                ("reason", "outage on Nov 20"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (amount, by): (i64, String) =
        sqlx::query_as("SELECT amount_minor, created_by FROM credits WHERE organization_id = $1")
            .bind(ada.org_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(amount, 1500);
    assert!(by.starts_with("admin:"));
    // The console shows the credit and this month's usage, as the data
    // plane reported it: 90 node-minutes count as one whole hour.
    let data_plane = Auth::Key(app.data_plane_token(app.data_plane).await);
    let event = metering::UsageEvent {
        source: "dataplane/sim-test/collector".into(),
        id: "node-1".into(),
        organization_id: ada.org_id,
        resource_id: cluster["id"].as_str().unwrap().parse().unwrap(),
        meter: metering::Meter::NodeSeconds,
        dimension: String::new(),
        time: chrono::Utc::now(),
        value: 5400,
    };
    app.post("/v1/usage/events", &data_plane, json!([event.to_wire()]))
        .await
        .ok(200);
    let (_, _, console) = root.get("/admin").await;
    let row = console.split("<tr>").find(|r| r.contains(&org)).unwrap();
    assert!(row.contains(r#"<td class="num">1 / 0</td>"#), "{row}");
    assert!(row.contains(r#"<td class="num">$15.00</td>"#), "{row}");
    let (_, _, org_page) = root.get(&format!("/admin/orgs/{org}")).await;
    assert!(org_page.contains("outage on Nov 20") && org_page.contains("Node-hours"));
    // Without the console's token, nothing happens.
    let (status, _, _) = root
        .post(
            &format!("/admin/orgs/{org}/plan"),
            &[("csrf", "forged"), ("plan", "business"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(status, 403);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_cluster_is_resized_and_backed_up_and_members_added_from_the_pages(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut ada = Browser::signed_up(&app, "ada@example.com").await;
    let (_, home, _) = ada.get("/").await;
    let (_, _, overview) = ada.get(&home).await;
    let token = csrf(&overview);
    let cluster = ada.create_cluster(&home, &token, "search").await;

    // Free: no backups, and the page says why.
    let (status, _, page) = ada
        .post(&format!("{cluster}/backups"), &[("csrf", &token)])
        .await;
    assert_eq!(status, 403);
    assert!(page.contains("does not include backups"), "{page}");

    // Starter: resize to 2 nodes, a daily schedule, a backup now.
    let org: uuid::Uuid = home.trim_start_matches("/orgs/").parse().unwrap();
    let bob = app.signup("bob@example.com").await;
    let (_, _, members) = ada.get(&format!("{home}/members")).await;
    let (status, _, _) = ada
        .post(
            &format!("{home}/members"),
            &[
                ("csrf", &csrf(&members)),
                ("email", &bob.email),
                ("role", "owner"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, _, members) = ada.get(&format!("{home}/members")).await;
    assert!(members.contains("bob@example.com"));
    let (status, _, page) = ada
        .post(
            &format!("{home}/members"),
            &[
                ("csrf", &token),
                ("email", "carol@example.com"),
                ("role", "root"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("unknown role `root`"));
    app.set_plan(org, &bob.session, "starter").await;

    let (status, _, _) = ada
        .post(
            &format!("{cluster}/update"),
            &[
                ("csrf", &token),
                ("version", "1.13.6"),
                ("nodes", "2"),
                ("storage_gib", "1"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (status, _, _) = ada
        .post(
            &format!("{cluster}/backup-policy"),
            &[
                ("csrf", &token),
                ("schedule", "@hourly"),
                ("retention_days", "7"),
            ],
        )
        .await;
    assert_eq!(status, 403, "starter backs up daily at most");
    let (status, _, _) = ada
        .post(
            &format!("{cluster}/backup-policy"),
            &[
                ("csrf", &token),
                ("schedule", "0 3 * * *"),
                ("retention_days", "7"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (status, _, _) = ada
        .post(&format!("{cluster}/backups"), &[("csrf", &token)])
        .await;
    assert_eq!(status, 303);
    let (_, _, page) = ada.get(&cluster).await;
    assert!(
        page.contains("2 of 2") || page.contains("of 2 ready"),
        "resized"
    );
    assert!(page.contains("Scheduled <code>0 3 * * *</code>"), "{page}");
    assert!(page.contains("manual"), "the backup is listed");

    // Business restores a finished backup into a new cluster from the page.
    app.set_plan(org, &bob.session, "business").await;
    sqlx::query("UPDATE cluster_backups SET phase = 'Succeeded', finished_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    let (_, _, page) = ada.get(&cluster).await;
    let action = page
        .split("action=\"")
        .map(|a| a.split('"').next().unwrap())
        .find(|a| a.ends_with("/restore"))
        .unwrap()
        .to_owned();
    let (status, location, _) = ada
        .post(&action, &[("csrf", &token), ("name", "search-copy")])
        .await;
    assert_eq!(status, 303);
    let (_, _, restored) = ada.get(&location).await;
    assert!(
        restored.contains("search-copy") && restored.contains("from a backup: Pending"),
        "{restored}"
    );

    // Business proves each backup by a test restore; the page says how the
    // last one went.
    let (status, _, _) = ada
        .post(
            &format!("{cluster}/backup-policy"),
            &[
                ("csrf", &token),
                ("schedule", "@hourly"),
                ("retention_days", "30"),
                ("verify", "yes"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, _, page) = ada.get(&cluster).await;
    assert!(
        page.contains(r#"name="verify" value="yes" checked"#),
        "{page}"
    );
    sqlx::query("UPDATE vector_clusters SET backup_last_verified = $1 WHERE name = 'search'")
        .bind(
            json!({ "backup": "search-20261125-0200", "finishedAt": "2026-11-25T03:20:00Z",
                  "succeeded": true,
                  "message": "every collection came back with the points the backup counted" }),
        )
        .execute(&app.pool)
        .await
        .unwrap();
    let (_, _, page) = ada.get(&cluster).await;
    assert!(
        page.contains("Last verified: backup search-20261125-0200, restored 2026-11-25T03:20:00Z"),
        "{page}"
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn endpoints_plans_usage_by_hour_and_the_switcher_work_from_the_pages(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut ada = Browser::signed_up(&app, "ada@example.com").await;
    let (_, home, _) = ada.get("/").await;
    let (_, _, endpoints) = ada.get(&format!("{home}/endpoints")).await;
    assert!(
        endpoints.contains("does not include GPU inference"),
        "{endpoints}"
    );
    let token = csrf(&endpoints);

    // Upgrade from the billing page (no payment provider here: no card needed).
    let (status, location, _) = ada
        .post(
            &format!("{home}/billing/plan"),
            &[("csrf", &token), ("plan", "starter")],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, format!("{home}/billing").as_str())
    );
    let (_, _, endpoints) = ada.get(&format!("{home}/endpoints")).await;
    assert!(endpoints.contains("allows up to 1 GPU per endpoint"));
    let fields = [
        ("csrf", token.as_str()),
        ("name", "chat"),
        ("region", crate::helpers::REGION),
        ("model_repository", "meta-llama/Llama-3.1-8B-Instruct"),
        ("model_revision", "main"),
        ("gpu_model", "nvidia-l4"),
        ("gpu_count", "2"),
    ];
    let (status, _, page) = ada.post(&format!("{home}/endpoints"), &fields).await;
    assert_eq!(status, 403, "two GPUs are over starter's limit");
    assert!(page.contains("up to 1 GPU per endpoint"));
    let mut one = fields;
    one[6] = ("gpu_count", "1");
    let (status, _, _) = ada.post(&format!("{home}/endpoints"), &one).await;
    assert_eq!(status, 303);
    let (_, _, endpoints) = ada.get(&format!("{home}/endpoints")).await;
    assert!(endpoints.contains(">chat</a>") && endpoints.contains("1 × nvidia-l4"));
    let link = endpoints
        .split("href=\"")
        .map(|a| a.split('"').next().unwrap())
        .find(|a| a.contains("/endpoints/"))
        .unwrap()
        .to_owned();
    let (status, _, detail) = ada.get(&link).await;
    assert_eq!(status, 200);
    assert!(detail.contains("1 × nvidia-l4 per replica"));
    let (status, _, _) = ada.post(&format!("{link}/wake"), &[("csrf", &token)]).await;
    assert_eq!(status, 303);
    let (status, _, _) = ada
        .post(&format!("{link}/delete"), &[("csrf", &token)])
        .await;
    assert_eq!(status, 422, "not without the confirmation");
    let (status, _, _) = ada
        .post(
            &format!("{link}/delete"),
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(status, 303);

    // A key's tokens of this hour are charted apart, in millions.
    let key = uuid::Uuid::now_v7();
    let org: uuid::Uuid = home.trim_start_matches("/orgs/").parse().unwrap();
    let hour =
        chrono::DurationRound::duration_trunc(chrono::Utc::now(), chrono::Duration::hours(1))
            .unwrap();
    sqlx::query(
        "INSERT INTO usage_hourly (organization_id, resource_id, meter, dimension, hour, quantity, events)
         VALUES ($1, $1, 'input_tokens', $2, $3, 2500000, 1)",
    )
    .bind(org)
    .bind(format!("{key} org/model"))
    .bind(hour)
    .execute(&app.pool)
    .await
    .unwrap();
    let (status, _, usage) = ada.get(&format!("{home}/usage?by=hour")).await;
    assert_eq!(status, 200);
    assert!(usage.contains("The last 48 hours, per hour."));
    assert!(
        usage.contains(&format!(
            "Input tokens, key {key}: 1 points, highest 2.50 M tokens"
        )),
        "{usage}"
    );
    // The period's cost so far, as the billing page totals it.
    let (_, _, billing) = ada.get(&format!("{home}/billing")).await;
    let total = billing
        .split("Estimated total</th><th class=\"num\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert!(
        usage.contains(&format!("This period so far: <strong>{total}</strong>")),
        "{total} in {usage}"
    );

    // Two organizations: the switcher lists both.
    let bob = app.signup("bob@example.com").await;
    let (_, _, members) = ada.get(&format!("{home}/members")).await;
    ada.post(
        &format!("{home}/members"),
        &[
            ("csrf", &csrf(&members)),
            ("email", &bob.email),
            ("role", "member"),
        ],
    )
    .await;
    let mut bobs = Browser::logged_in(&app, "bob@example.com").await;
    let (_, _, page) = bobs.get(&home).await;
    assert!(
        page.contains(r#"aria-label="Switch organization""#),
        "{page}"
    );
    assert!(page.contains("ada's organization") && page.contains("bob's organization"));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_fleet_upgrade_moves_in_waves_each_after_the_last_is_ready(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    for who in ["a", "b", "c"] {
        let customer = app.signup(&format!("{who}@example.com")).await;
        app.create_cluster(customer.org_id, &customer.session, &format!("search-{who}"))
            .await;
    }
    let ready = || async {
        sqlx::query("UPDATE vector_clusters SET phase = 'Ready'")
            .execute(&pool)
            .await
            .unwrap();
    };
    ready().await;
    app.signup_admin("root@example.com").await;
    let mut root = Browser::logged_in(&app, "root@example.com").await;
    let (_, _, console) = root.get("/admin/clusters").await;
    let token = csrf(&console);
    let wave = |from: &'static str, to: &'static str| {
        [
            ("csrf", token.clone()),
            ("from", from.to_owned()),
            ("to", to.to_owned()),
            ("size", "2".to_owned()),
        ]
    };
    let first = wave("1.13.6", "1.14.0");
    let pairs: Vec<(&str, &str)> = first.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, page) = root.post("/admin/fleet-upgrade", &pairs).await;
    assert_eq!(status, 200);
    assert!(page.contains("Started on 2 cluster(s)"), "{page}");
    assert!(page.contains("1 cluster(s) remain on 1.13.6"));
    // The wave is still rolling: no new one.
    let (_, _, page) = root.post("/admin/fleet-upgrade", &pairs).await;
    assert!(
        page.contains("2 cluster(s) of the last wave are not Ready yet"),
        "{page}"
    );
    ready().await;
    let (_, _, page) = root.post("/admin/fleet-upgrade", &pairs).await;
    assert!(page.contains("Started on 1 cluster(s)"), "{page}");
    assert!(page.contains("0 cluster(s) remain"));
    let upgraded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM vector_clusters WHERE version = '1.14.0'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(upgraded, 3);

    let backwards = wave("1.14.0", "1.13.0");
    let pairs: Vec<(&str, &str)> = backwards.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, page) = root.post("/admin/fleet-upgrade", &pairs).await;
    assert_eq!(status, 422);
    assert!(page.contains("must be newer"));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_invitation_link_lets_its_address_join_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut ada = Browser::signed_up(&app, "ada@example.com").await;
    let (_, home, _) = ada.get("/").await;
    let (status, page) = ada.invite(&home, "carol@example.com", "billing").await;
    assert_eq!(status, 201);
    let link = invitation_link(&page);
    let path = link.trim_start_matches(&format!(
        "http://{}",
        app.base.trim_start_matches("http://")
    ));
    assert!(path.starts_with("/invitations/"), "{link}");

    // Not logged in: told how to come back.
    let (status, _, page) = Browser::new(&app).get(path).await;
    assert_eq!(status, 200);
    assert!(page.contains("then open this link again"));

    // Someone else's account cannot use it.
    let mut bob = Browser::signed_up(&app, "bob@example.com").await;
    let (_, _, page) = bob.get(path).await;
    let (status, _, _) = bob.post(path, &[("csrf", &csrf(&page))]).await;
    assert_eq!(status, 403);

    // Carol signs up and joins, as billing; the link is then spent.
    let mut carol = Browser::new(&app);
    let (_, _, form) = carol.get("/signup").await;
    carol
        .post(
            "/signup",
            &[
                ("csrf", &csrf(&form)),
                ("email", "carol@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let (_, _, page) = carol.get(path).await;
    assert!(page.contains("As billing, for carol@example.com"));
    let (status, location, _) = carol.post(path, &[("csrf", &csrf(&page))]).await;
    assert_eq!((status, location.as_str()), (303, home.as_str()));
    let (_, _, members) = ada.get(&format!("{home}/members")).await;
    assert!(
        members.contains("<td>carol@example.com</td><td>billing</td>"),
        "{members}"
    );
    let (status, _, _) = carol.get(path).await;
    assert_eq!(status, 404, "used once");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_maintenance_window_is_set_and_removed_from_the_cluster_page(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (mut ada, home, token, page) =
        Browser::with_cluster(&app, "ada@example.com", "search").await;
    let (_, _, shown) = ada.get(&page).await;
    assert!(shown.contains("Upgrades and resizes roll as soon as they are made."));
    let form = [
        ("csrf", token.as_str()),
        ("day", "sun"),
        ("start_hour", "22"),
        ("duration_hours", "4"),
    ];

    // Free: refused, with the reason.
    let (status, _, refused) = ada.post(&format!("{page}/maintenance-window"), &form).await;
    assert_eq!(status, 403);
    assert!(
        refused.contains("maintenance windows come with Business"),
        "{refused}"
    );

    let (status, _, _) = ada
        .post(
            &format!("{home}/billing/plan"),
            &[("csrf", &token), ("plan", "business")],
        )
        .await;
    assert_eq!(status, 303);
    let (status, location, _) = ada.post(&format!("{page}/maintenance-window"), &form).await;
    assert_eq!((status, location.as_str()), (303, page.as_str()));
    let (_, _, shown) = ada.get(&page).await;
    assert!(
        shown.contains("Upgrades and resizes begin only in the window: sun 22:00 UTC for 4 h."),
        "{shown}"
    );
    assert!(shown.contains(r#"<option value="sun" selected>sun</option>"#));

    let (status, _, _) = ada
        .post(
            &format!("{page}/maintenance-window/clear"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(status, 303);
    let (_, _, shown) = ada.get(&page).await;
    assert!(shown.contains("Upgrades and resizes roll as soon as they are made."));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn labels_are_set_from_the_cluster_page_and_a_bad_one_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (mut ada, _, token, page) = Browser::with_cluster(&app, "ada@example.com", "search").await;
    let (_, _, shown) = ada.get(&page).await;
    assert!(shown.contains("No labels."), "{shown}");

    let labels = format!("{page}/labels");
    let (status, location, _) = ada
        .post(
            &labels,
            &[("csrf", &token), ("labels", "team=search\nenv=prod\n")],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, page.as_str()));
    let (_, _, shown) = ada.get(&page).await;
    assert!(
        shown.contains("<td><code>team</code></td><td><code>search</code></td>"),
        "{shown}"
    );
    assert!(
        shown.contains("env=prod\nteam=search\n"),
        "the form holds them"
    );

    let (status, _, refused) = ada
        .post(&labels, &[("csrf", &token), ("labels", "-team=x")])
        .await;
    assert_eq!(status, 422);
    assert!(refused.contains("labels.-team"), "{refused}");
    let (_, _, shown) = ada.get(&page).await;
    assert!(shown.contains("<code>search</code>"), "unchanged");
}
