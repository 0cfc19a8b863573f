//! The dashboard in headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver: a new customer signs up,
//! creates a cluster and sees it Ready (simulated data plane), creates an
//! API key, sees a usage chart, opens an invoice and reads the audit log; a
//! platform admin finds the organization by a member's email and suspends
//! it from its page, and the customer sees why; among 100,000 organizations, the
//! console shows 25 to a page, pages on and searches. A free customer
//! upgrades through Stripe Checkout (localstripe behind the Checkout
//! stand-in), and another works the dashboard with the keyboard alone. A
//! shrink shows what it would move before it is confirmed.
//! Screenshots of each page go to `target/tmp/screenshots/`.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

#[path = "api/checkout_page.rs"]
#[expect(dead_code, reason = "the browser comes back itself; no webhook needed")]
mod checkout_page;
#[path = "api/helpers.rs"]
#[expect(
    dead_code,
    reason = "the browser test uses part of the API tests' helpers"
)]
mod helpers;
#[path = "api/localstripe.rs"]
#[expect(
    dead_code,
    reason = "the browser test needs no invoices from localstripe"
)]
mod localstripe;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use billing::payments::stripe::StripeProvider;
use checkout_page::CheckoutPage;
use chrono::{Duration as Span, DurationRound, Utc};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use helpers::{PASSWORD, TestApp};
use localstripe::{GOOD_CARD, LocalStripe, SECRET_KEY};
use serde_json::json;
use sqlx::PgPool;

const SCREENSHOTS: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/screenshots");

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    url: String,
    _process: tokio::process::Child,
    _profiles: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let process = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromedriver ({e}); install Debian's chromium and chromium-driver")
            });
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if reqwest::get(format!("{url}/status")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver {
            url,
            _process: process,
            _profiles: tempfile::tempdir().unwrap(),
        }
    }

    /// A fresh browser: its own profile, so its own cookies.
    async fn browser(&self, name: &str) -> Client {
        let profile = self._profiles.path().join(name);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.display())]
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap()
    }
}

/// Saves a screenshot of the page, after checking it with axe.
async fn screenshot(browser: &Client, name: &str) {
    let violations = accessibility(browser).await;
    assert!(violations.is_empty(), "{name}: {violations:#?}");
    std::fs::create_dir_all(SCREENSHOTS).unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(format!("{SCREENSHOTS}/{name}.png"), png).unwrap();
}

async fn fill(browser: &Client, css: &str, text: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn submit(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits for the browser to reach a URL containing `part` (a form's answer
/// arrives after the click returns); the URL it reached.
async fn arrive(browser: &Client, part: &str) -> String {
    for _ in 0..50 {
        let url = browser.current_url().await.unwrap().to_string();
        if url.contains(part) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "never reached {part}; at {} showing: {}",
        browser.current_url().await.unwrap(),
        text(browser).await
    );
}

/// Runs axe-core (`npm ci` in `tests/fixtures`) on the page; the serious and
/// critical accessibility violations it finds, as "rule: element" lines.
async fn accessibility(browser: &Client) -> Vec<String> {
    let axe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/node_modules/axe-core/axe.min.js"
    ))
    .unwrap_or_else(|e| panic!("axe-core ({e}); run `npm ci` in tests/fixtures"));
    browser.execute(&axe, vec![]).await.unwrap();
    let found = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(
               r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .flatMap(v => v.nodes.map(n => v.id + ': ' + n.target.join(' ')))));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

/// A fresh browser logged in as `email` (signed up already), at its
/// organization's page.
async fn logged_in(driver: &Driver, base: &str, email: &str) -> Client {
    let browser = driver.browser(email).await;
    browser.goto(&format!("{base}/login")).await.unwrap();
    fill(&browser, "input[name=email]", email).await;
    fill(&browser, "input[name=password]", PASSWORD).await;
    submit(&browser, "form button[type=submit]").await;
    arrive(&browser, "/orgs/").await;
    browser
}

async fn text(browser: &Client) -> String {
    browser
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_customer_goes_from_signup_to_a_ready_cluster_and_sees_a_suspension(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let provisioner = control_plane::provisioner::Provisioner::new(pool.clone(), Span::seconds(1));
    tokio::spawn(provisioner.run(Duration::from_millis(200)));
    let driver = Driver::start().await;
    let ada = driver.browser("ada").await;

    // Sign up.
    ada.goto(&format!("{}/signup", app.base)).await.unwrap();
    screenshot(&ada, "signup").await;
    fill(&ada, "input[name=email]", "ada@example.com").await;
    fill(&ada, "input[name=password]", PASSWORD).await;
    submit(&ada, "form button[type=submit]").await;
    let overview = arrive(&ada, "/orgs/").await;
    assert!(text(&ada).await.contains("The Free plan allows 1 cluster"));

    // Create a cluster, and watch it become Ready.
    fill(&ada, "input[name=name]", "search").await;
    submit(&ada, "main form button[type=submit]").await;
    let cluster_page = arrive(&ada, "/clusters/").await;
    let mut page = String::new();
    for _ in 0..50 {
        ada.refresh().await.unwrap();
        page = text(&ada).await;
        if page.contains("Ready") && page.contains("1 of 1 ready") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(page.contains("1 of 1 ready"), "{page}");
    screenshot(&ada, "cluster").await;

    // An API key, shown once.
    let org = overview.rsplit('/').next().unwrap().to_owned();
    ada.goto(&format!("{}/orgs/{org}/api-keys", app.base))
        .await
        .unwrap();
    fill(&ada, "input[name=name]", "ci").await;
    submit(&ada, "main form button[type=submit]").await;
    let token = ada
        .wait()
        .for_element(Locator::Css("[data-testid=new-token]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(token.starts_with("qm_"), "{token}");
    screenshot(&ada, "api-keys").await;
    ada.goto(&format!("{}/orgs/{org}/api-keys", app.base))
        .await
        .unwrap();
    assert!(!text(&ada).await.contains(&token), "shown once");

    // Usage as a chart.
    let org_id: uuid::Uuid = org.parse().unwrap();
    let cluster_id: uuid::Uuid = cluster_page.rsplit('/').next().unwrap().parse().unwrap();
    let today = Utc::now().duration_trunc(Span::hours(1)).unwrap();
    for h in 1..=3 {
        sqlx::query(
            "INSERT INTO usage_hourly (organization_id, resource_id, meter, dimension, hour, quantity, events)
             VALUES ($1, $2, 'node_seconds', '', $3, 3600, 60)",
        )
        .bind(org_id)
        .bind(cluster_id)
        .bind(today - Span::hours(h * 24))
        .execute(&pool)
        .await
        .unwrap();
    }
    ada.goto(&format!("{}/orgs/{org}/usage", app.base))
        .await
        .unwrap();
    let chart = ada.find(Locator::Css("svg[role=img]")).await.unwrap();
    let label = chart.attr("aria-label").await.unwrap().unwrap();
    assert!(label.starts_with("Node-hours: 3 points"), "{label}");
    screenshot(&ada, "usage").await;

    // An invoice: October on starter, closed; opened from the billing page.
    sqlx::query(
        "UPDATE plan_periods SET plan = 'starter', valid_from = '2026-09-01T00:00:00Z' WHERE organization_id = $1",
    )
    .bind(org_id)
    .execute(&pool)
    .await
    .unwrap();
    let period: billing::Period = "2026-10".parse().unwrap();
    let published = billing::catalog_store::current(&mut pool.acquire().await.unwrap())
        .await
        .unwrap()
        .unwrap();
    billing::close::close(
        &pool,
        &published,
        period,
        billing::close::closes_at(period),
        Some(&control_plane::webhooks::InvoiceEvents),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    ada.goto(&format!("{}/orgs/{org}/billing", app.base))
        .await
        .unwrap();
    screenshot(&ada, "billing").await;
    ada.find(Locator::Css("main table a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let invoice = ada.source().await.unwrap();
    assert!(
        invoice.contains("Invoice QM-") && invoice.contains("$25.00"),
        "{invoice}"
    );
    screenshot(&ada, "invoice").await;
    // The owner reads who did what, by email.
    ada.goto(&format!("{}/orgs/{org}/audit-log", app.base))
        .await
        .unwrap();
    let log = text(&ada).await;
    assert!(
        log.contains("cluster.create") && log.contains("ada@example.com"),
        "{log}"
    );
    screenshot(&ada, "audit-log").await;
    // She adds a webhook endpoint, ticking the events it gets; its secret
    // shows once.
    ada.goto(&format!("{}/orgs/{org}/webhooks", app.base))
        .await
        .unwrap();
    screenshot(&ada, "webhooks").await;
    fill(&ada, "input[name=url]", "http://127.0.0.1:9/hook").await;
    ada.find(Locator::Css("input[name='event:cluster.ready']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit(&ada, "form[action$='/webhooks'] button[type=submit]").await;
    // The answer comes at the same URL: wait for its secret, not the URL.
    ada.wait()
        .for_element(Locator::Css("[data-testid=webhook-secret]"))
        .await
        .unwrap();
    let added = text(&ada).await;
    assert!(
        added.contains("Your signing secret") && added.contains("whsec_"),
        "{added}"
    );
    screenshot(&ada, "webhook-added").await;

    // A platform admin suspends the organization; the customer sees why.
    app.signup_admin("root@example.com").await;
    let root = logged_in(&driver, &app.base, "root@example.com").await;
    root.find(Locator::LinkText("Admin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&root, "/admin").await;
    // Found by a member's email, then acted on from its own page.
    fill(&root, "input[name=q]", "ada@example.com").await;
    submit(&root, "form[role=search] button").await;
    arrive(&root, "q=ada%40example.com").await;
    root.find(Locator::Css(&format!("a[href='/admin/orgs/{org}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&root, &format!("/admin/orgs/{org}")).await;
    let form = format!("form[action='/admin/orgs/{org}/suspend']");
    fill(
        &root,
        &format!("{form} input[name=reason]"),
        "Abuse report #42 under review",
    )
    .await;
    submit(&root, &format!("{form} input[name=confirm]")).await;
    screenshot(&root, "admin-organization").await;
    submit(&root, &format!("{form} button")).await;
    root.wait()
        .for_element(Locator::Css("form[action$='/resume']"))
        .await
        .unwrap();
    assert!(text(&root).await.contains("Abuse report #42 under review"));

    ada.goto(&cluster_page).await.unwrap();
    // On a phone's width too: the page reflows rather than scrolls sideways.
    ada.set_window_size(390, 844).await.unwrap();
    let overflow: serde_json::Value = ada
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    screenshot(&ada, "cluster-phone").await;
    assert_eq!(overflow, json!(true), "no sideways scrolling at 390 px");
    let alert = ada
        .find(Locator::Css("[role=alert]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(alert, "Suspended: Abuse report #42 under review");
    screenshot(&ada, "suspended").await;

    root.close().await.unwrap();
    ada.close().await.unwrap();
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_free_customer_upgrades_to_starter_by_saving_a_card_on_the_checkout_page(pool: PgPool) {
    let stripe = LocalStripe::start().await;
    let checkout = CheckoutPage::start(&stripe).await;
    let provider = Arc::new(StripeProvider::new(SECRET_KEY, Some(&checkout.api_base())).unwrap());
    let payments = dashboard_api::Payments {
        provider: provider.clone(),
        webhook_secret: "whsec_browser_test".to_owned(),
        publishable_key: None,
    };
    let app = TestApp::spawn_with(pool.clone(), Some(payments)).await;
    let driver = Driver::start().await;
    let ada = driver.browser("ada").await;

    ada.goto(&format!("{}/signup", app.base)).await.unwrap();
    fill(&ada, "input[name=email]", "ada@example.com").await;
    fill(&ada, "input[name=password]", PASSWORD).await;
    submit(&ada, "form button[type=submit]").await;
    let overview = arrive(&ada, "/orgs/").await;
    // The outbox worker's pass: the organization's Stripe customer.
    control_plane::money::payments::create_customers(&pool, provider.as_ref(), Utc::now())
        .await
        .unwrap();

    ada.goto(&format!("{overview}/billing")).await.unwrap();
    assert!(
        text(&ada)
            .await
            .contains("you will save one on Stripe's secure page")
    );
    ada.find(Locator::Css("select[name=plan]"))
        .await
        .unwrap()
        .select_by_value("starter")
        .await
        .unwrap();
    submit(&ada, "form[action$='/billing/plan'] button").await;
    arrive(&ada, "/pay/cs_test_").await;
    screenshot(&ada, "checkout").await;
    fill(&ada, "input[name=card]", GOOD_CARD).await;
    submit(&ada, "form button[type=submit]").await;

    arrive(&ada, "/billing?checkout=done").await;
    let page = text(&ada).await;
    assert!(
        page.contains("Card saved. You are on the starter plan."),
        "{page}"
    );
    assert!(
        page.contains("Plan: starter") && page.contains("card on file"),
        "{page}"
    );
    screenshot(&ada, "billing-upgraded").await;
    assert_eq!(checkout.sessions().len(), 1, "one page opened");

    // Buying $25 of credit: paid on the checkout page, granted only once
    // Stripe's webhook confirms it.
    fill(
        &ada,
        "form[action$='/billing/credit'] input[name=amount]",
        "25",
    )
    .await;
    submit(&ada, "form[action$='/billing/credit'] button").await;
    arrive(&ada, "/pay/cs_test_2").await;
    fill(&ada, "input[name=card]", GOOD_CARD).await;
    submit(&ada, "form button[type=submit]").await;
    arrive(&ada, "/billing?credit_checkout=cs_test_2").await;
    let page = text(&ada).await;
    assert!(page.contains("Payment of $25.00 received."), "{page}");
    assert!(page.contains("Balance: $0.00"), "{page}");
    checkout
        .deliver_completed(
            "cs_test_2",
            &format!("{}/v1/webhooks/stripe", app.base),
            "whsec_browser_test",
        )
        .await;
    ada.refresh().await.unwrap();
    ada.wait()
        .for_element(Locator::Css("[data-credit-balance]"))
        .await
        .unwrap();
    let page = text(&ada).await;
    assert!(
        page.contains("Payment confirmed: $25.00 of credit added.")
            && page.contains("Balance: $25.00"),
        "{page}"
    );
    screenshot(&ada, "billing-credit").await;
    ada.close().await.unwrap();
}

/// Presses Tab until the focus is on `css` (at most 30 times); checks that
/// the focused element shows where the focus is.
async fn tab_to(browser: &Client, css: &str) {
    for _ in 0..30 {
        let focused = browser.active_element().await.unwrap();
        let here: serde_json::Value = browser
            .execute(
                "return document.activeElement.matches(arguments[0]);",
                vec![json!(css)],
            )
            .await
            .unwrap();
        if here == json!(true) {
            let outline: serde_json::Value = browser
                .execute(
                    "return getComputedStyle(document.activeElement).outlineStyle;",
                    vec![],
                )
                .await
                .unwrap();
            assert_ne!(outline, json!("none"), "{css} shows no focus");
            return;
        }
        focused.send_keys(&Key::Tab).await.unwrap();
    }
    panic!("Tab never reached {css}");
}

async fn type_keys(browser: &Client, keys: &str) {
    browser
        .active_element()
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_customer_logs_in_and_creates_a_cluster_with_the_keyboard_alone(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.signup("kay@example.com").await;
    let driver = Driver::start().await;
    let kay = driver.browser("kay").await;
    kay.goto(&format!("{}/login", app.base)).await.unwrap();

    // The first Tab reaches a link past the navigation, shown while focused.
    tab_to(&kay, "a.skip").await;
    let shown: serde_json::Value = kay
        .execute(
            "return document.activeElement.getBoundingClientRect().left >= 0;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        shown,
        json!(true),
        "the skip link is on screen when focused"
    );
    type_keys(&kay, &Key::Enter).await;
    assert!(kay.current_url().await.unwrap().as_str().ends_with("#main"));

    tab_to(&kay, "input[name=email]").await;
    type_keys(&kay, "kay@example.com").await;
    tab_to(&kay, "input[name=password]").await;
    type_keys(&kay, &format!("{PASSWORD}{}", Key::Enter)).await;
    arrive(&kay, "/orgs/").await;

    tab_to(&kay, "input[name=name]").await;
    type_keys(&kay, &format!("typed{}", Key::Enter)).await;
    arrive(&kay, "/clusters/").await;
    assert!(text(&kay).await.contains("typed"));
    kay.close().await.unwrap();
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_shrink_shows_what_moves_before_it_is_confirmed(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let bea = app.signup("bea@example.com").await;
    app.set_plan(bea.org_id, &bea.session, "business").await;
    let key = app.api_key(&bea).await;
    let created = app.create_cluster(bea.org_id, &key, "search").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let api = format!("/v1/organizations/{}/clusters/{id}", bea.org_id);
    app.patch(&api, &key, json!({ "nodes": 3 })).await.ok(202);
    // As the data plane reports it: one collection, a shard on each node.
    let shards: Vec<_> = (0..3).map(|s| json!({ "id": s, "nodes": [s] })).collect();
    sqlx::query("UPDATE vector_clusters SET placement = $2 WHERE id = $1::uuid")
        .bind(&id)
        .bind(json!({ "collections": [
            { "name": "docs", "points": 3_000_000, "pointBytes": 3072, "shards": shards }] }))
        .execute(&pool)
        .await
        .unwrap();
    let driver = Driver::start().await;
    let browser = logged_in(&driver, &app.base, "bea@example.com").await;
    let page = format!("{}/orgs/{}/clusters/{id}", app.base, bea.org_id);
    browser.goto(&page).await.unwrap();
    let nodes = browser
        .find(Locator::Css("form[action$='/update'] input[name=nodes]"))
        .await
        .unwrap();
    nodes.clear().await.unwrap();
    nodes.send_keys("2").await.unwrap();
    submit(&browser, "form[action$='/update'] button[type=submit]").await;

    // Nothing changed yet: the page says what the shrink would move.
    browser
        .wait()
        .for_element(Locator::Css("input[name=confirmed]"))
        .await
        .unwrap();
    let shown = text(&browser).await;
    assert!(
        shown.contains("Shrink search from 3 nodes to 2 nodes?"),
        "{shown}"
    );
    assert!(shown.contains("moves from node 2 to node 0"), "{shown}");
    // A third of 3,000,000 points of 3 KiB vectors: 2.8 GiB.
    assert!(
        shown.contains("1000000 points, 2.8 GiB of vectors"),
        "{shown}"
    );
    assert!(
        browser
            .find(Locator::Css("[data-testid=last-replica]"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .starts_with("1 shard has its only copy on a leaving node")
    );
    screenshot(&browser, "shrink-confirm").await;
    let stored = app.get(&api, &key).await;
    assert_eq!(
        stored.ok(200)["spec"]["nodes"],
        3,
        "not changed before confirming"
    );

    submit(&browser, "form:has(input[name=confirmed]) button").await;
    for _ in 0..50 {
        if browser
            .find(Locator::Css("input[name=confirmed]"))
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let changed = app.get(&api, &key).await;
    assert_eq!(changed.ok(200)["spec"]["nodes"], 2);
    browser.close().await.unwrap();
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_inference_key_is_made_on_the_endpoint_page_shown_once_and_revoked(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let created = app
        .post(
            &format!("/v1/organizations/{}/endpoints", ada.org_id),
            &ada.session,
            json!({ "name": "chat", "region": helpers::REGION,
                    "model_repository": "meta-llama/Llama-3.1-8B-Instruct", "gpu_model": "nvidia-l4" }),
        )
        .await;
    let endpoint = created.ok(202)["id"].as_str().unwrap().to_owned();
    app.set_gateway_url("https://gw.example.com").await;

    let driver = Driver::start().await;
    let browser = logged_in(&driver, &app.base, "ada@example.com").await;
    let page = format!("{}/orgs/{}/endpoints/{endpoint}", app.base, ada.org_id);
    browser.goto(&page).await.unwrap();
    assert!(text(&browser).await.contains("https://gw.example.com/v1"));
    screenshot(&browser, "endpoint-keys").await;

    let form = "form[action$='/inference-keys']";
    fill(&browser, &format!("{form} input[name=name]"), "support bot").await;
    fill(
        &browser,
        &format!("{form} input[name=requests_per_minute]"),
        "60",
    )
    .await;
    submit(&browser, &format!("{form} button[type=submit]")).await;
    let token = browser
        .wait()
        .for_element(Locator::Css("[data-testid=new-inference-key]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(token.starts_with("qmi_"), "{token}");
    screenshot(&browser, "endpoint-new-key").await;

    browser.goto(&page).await.unwrap();
    let shown = text(&browser).await;
    assert!(
        shown.contains("support bot") && !shown.contains(&token),
        "{shown}"
    );
    submit(&browser, "form[action$='/revoke'] button").await;
    arrive(&browser, "#inference-keys").await;
    assert!(
        text(&browser)
            .await
            .contains("No key may call this endpoint yet.")
    );
    browser.close().await.unwrap();
}

/// 100,000 organizations, each with its subscription (ids are UUIDv7, as
/// the service makes them); every tenth on business, every hundredth past
/// due. One statement.
async fn seed_organizations(pool: &PgPool, count: u32) {
    let ids: Vec<uuid::Uuid> = (0..count).map(|_| uuid::Uuid::now_v7()).collect();
    sqlx::query(
        "WITH o AS (
             INSERT INTO organizations (id, name)
             SELECT id, format('Fleet %s', lpad(n::text, 6, '0'))
             FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)
             RETURNING id, name)
         INSERT INTO subscriptions (organization_id, plan, status)
         SELECT id, CASE WHEN right(name, 1) = '0' THEN 'business' ELSE 'free' END,
                CASE WHEN right(name, 2) = '00' THEN 'past_due' ELSE 'active' END
         FROM o",
    )
    .bind(&ids)
    .execute(pool)
    .await
    .unwrap();
}

/// The names in the console's table, in order.
async fn listed(browser: &Client) -> Vec<String> {
    let mut names = Vec::new();
    for cell in browser
        .find_all(Locator::Css("main tbody tr td:first-child a"))
        .await
        .unwrap()
    {
        names.push(cell.text().await.unwrap());
    }
    names
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_admin_console_pages_and_searches_100000_organizations(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    seed_organizations(&pool, 100_000).await;
    app.signup_admin("root@example.com").await;
    let driver = Driver::start().await;
    let root = logged_in(&driver, &app.base, "root@example.com").await;
    root.goto(&format!("{}/admin", app.base)).await.unwrap();

    // Newest first, 25 of them: root's own organization, then the last seeded.
    let first = listed(&root).await;
    assert_eq!(first.len(), 25, "{first:?}");
    assert_eq!(first[1], "Fleet 100000");
    assert_eq!(first[24], "Fleet 099977");
    assert!(
        text(&root)
            .await
            .contains("25 shown of 100,001 organizations")
    );
    screenshot(&root, "admin-100000").await;
    root.find(Locator::Css("a[rel=next]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&root, "after=").await;
    let second = listed(&root).await;
    assert_eq!(second.first().map(String::as_str), Some("Fleet 099976"));
    assert_eq!(second.len(), 25);

    // Filtered and searched: past-due business organizations named 0995…
    root.goto(&format!("{}/admin", app.base)).await.unwrap();
    fill(&root, "input[name=q]", "Fleet 0995").await;
    root.find(Locator::Css("select[name=plan] option[value=business]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    root.find(Locator::Css("select[name=standing] option[value=past_due]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit(&root, "form[role=search] button").await;
    arrive(&root, "standing=past_due").await;
    assert_eq!(listed(&root).await, ["Fleet 099500"]);
    assert!(text(&root).await.contains("1 shown of 1 organizations"));
    screenshot(&root, "admin-search").await;
    root.close().await.unwrap();
}
