//! A new customer from signup to a Ready cluster, keys, usage, an invoice
//! and the audit log; suspended by a platform admin, and told why.

use std::time::Duration;

use chrono::{Duration as Span, DurationRound, Utc};
use fantoccini::Locator;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp};
use crate::{Driver, arrive, fill, logged_in, screenshot, submit, text};

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
