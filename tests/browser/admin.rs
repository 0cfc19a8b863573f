//! The admin console among 100,000 organizations: pages and searches.

use fantoccini::{Client, Locator};
use sqlx::PgPool;

use crate::helpers::TestApp;
use crate::{Driver, arrive, fill, logged_in, screenshot, submit, text};

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
