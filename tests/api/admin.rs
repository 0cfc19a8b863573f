//! The admin console's organization list at work on its ranked sorts: the
//! organizations a figure ranks come first, most first, and then the rest,
//! newest first; pages follow one another by cursor without a gap or a
//! repeat, and filters hold throughout.

use serde_json::json;
use sqlx::PgPool;

use crate::forms::Browser;
use crate::helpers::{Auth, Customer, TestApp};

/// The organization names a console page lists, in order, and its next
/// page's link.
fn listed(page: &str) -> (Vec<String>, Option<String>) {
    let names = page
        .split("<a href=\"/admin/orgs/")
        .skip(1)
        .filter_map(|rest| rest.split_once("\">")?.1.split_once("</a>"))
        .map(|(name, _)| name.replace("&#39;", "'"))
        .collect();
    let next = page
        .split_once("\" rel=\"next\"")
        .and_then(|(before, _)| before.rsplit_once("href=\""))
        .map(|(_, link)| link.replace("&amp;", "&"));
    (names, next)
}

/// Every page of `path`, followed by its next links.
async fn all_pages(root: &mut Browser<'_>, path: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next = Some(path.to_owned());
    while let Some(path) = next {
        let (status, _, page) = root.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let (names, link) = listed(&page);
        pages.push(names);
        next = link;
    }
    pages
}

async fn node_hours(app: &TestApp, customer: &Customer, hours: i64) {
    let cluster = app
        .create_cluster(customer.org_id, &customer.session, "search")
        .await;
    if hours == 0 {
        return;
    }
    let data_plane = Auth::Key(app.data_plane_token(app.data_plane).await);
    let event = metering::UsageEvent {
        source: "dataplane/sim-test/collector".into(),
        id: format!("node-{}", customer.org_id),
        organization_id: customer.org_id,
        resource_id: cluster["id"].as_str().unwrap().parse().unwrap(),
        meter: metering::Meter::NodeSeconds,
        dimension: String::new(),
        time: chrono::Utc::now(),
        value: hours * 3600,
    };
    app.post("/v1/usage/events", &data_plane, json!([event.to_wire()]))
        .await
        .ok(200);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_ranked_sort_lists_the_ranked_then_the_rest_page_by_page(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    // Signed up in this order; node-hours this month as given.
    let mut customers = Vec::new();
    for (name, hours) in [("ann", 3), ("bob", 0), ("cat", 1), ("dan", 0), ("eve", 2)] {
        let customer = app.signup(&format!("{name}@example.com")).await;
        node_hours(&app, &customer, hours).await;
        customers.push(customer);
    }
    for name in ["bob", "cat"] {
        sqlx::query(
            "UPDATE subscriptions SET plan = 'starter' WHERE organization_id IN
             (SELECT organization_id FROM memberships m JOIN users u ON u.id = m.user_id
              WHERE u.email = $1)",
        )
        .bind(format!("{name}@example.com"))
        .execute(&pool)
        .await
        .unwrap();
    }
    app.signup_admin("root@example.com").await;
    let mut root = Browser::logged_in(&app, "root@example.com").await;
    let org = |name: &str| format!("{name}'s organization");

    let pages = all_pages(&mut root, "/admin?sort=node_hours&limit=2").await;
    let expected = [
        vec![org("ann"), org("eve")],
        vec![org("cat"), org("root")],
        vec![org("dan"), org("bob")],
    ];
    assert_eq!(pages, expected);

    let pages = all_pages(&mut root, "/admin?sort=node_hours&plan=starter&limit=1").await;
    assert_eq!(pages, [vec![org("cat")], vec![org("bob")]]);

    let pages = all_pages(&mut root, "/admin?sort=oldest&limit=4").await;
    assert_eq!(
        pages,
        [
            vec![org("ann"), org("bob"), org("cat"), org("dan")],
            vec![org("eve"), org("root")],
        ]
    );

    // A cursor from one sort is refused by another, with the field named.
    let (status, _, page) = root
        .get("/admin?sort=newest&after=u.00000000000000000000000000000000")
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("is not a cursor for this sort"), "{page}");
    let (status, _, _) = root.get("/admin?after=nonsense").await;
    assert_eq!(status, 422);
}
