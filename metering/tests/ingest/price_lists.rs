//! Totals by price list: a resource assigned one is summed apart, in the
//! whole-period aggregate and in spans alike, and its hours are traced
//! apart.

use chrono::Duration;
use metering::{Meter, price_lists, rollups};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{MIGRATOR, event, hour};

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_price_listed_resource_is_summed_and_traced_apart(pool: PgPool) {
    let ingester = metering::Ingester::start(pool.clone(), metering::ingest::DEFAULT_LATENESS)
        .await
        .unwrap();
    let (org, own, shared, other_org) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let h = hour();
    let nodes = |org, resource, id: &str, hours: i64| {
        event(org, resource, id, Meter::NodeSeconds, h, hours * 3600)
    };
    ingester
        .ingest(&[
            nodes(org, own, "a", 3),
            nodes(org, shared, "b", 5),
            nodes(other_org, Uuid::now_v7(), "c", 7),
        ])
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let (from, to) = (h, h + Duration::hours(1));
    let sums = |totals: Vec<rollups::Total>| {
        let mut sums: Vec<_> = totals
            .into_iter()
            .map(|t| {
                (
                    t.organization_id,
                    t.price_list,
                    t.rows,
                    t.quantity.to_string(),
                )
            })
            .collect();
        sums.sort();
        sums
    };

    // None assigned yet: one total per organization.
    let before = sums(rollups::totals(&mut conn, from, to, None).await.unwrap());
    assert_eq!(before.len(), 2);

    price_lists::assign(&mut conn, org, own, "customer-run")
        .await
        .unwrap();
    // Assigning again keeps the first.
    price_lists::assign(&mut conn, org, own, "other")
        .await
        .unwrap();
    let mut expected = vec![
        (org, None, 1, "18000".to_owned()),
        (org, Some("customer-run".to_owned()), 1, "10800".to_owned()),
        (other_org, None, 1, "25200".to_owned()),
    ];
    expected.sort();
    assert_eq!(
        sums(rollups::totals(&mut conn, from, to, None).await.unwrap()),
        expected
    );
    let spans = [(org, from, to), (other_org, from, to)];
    assert_eq!(
        sums(rollups::totals_in_spans(&mut conn, &spans).await.unwrap()),
        expected
    );
    // Only the other organization asked about: no join, the same answer.
    assert_eq!(
        sums(
            rollups::totals(&mut conn, from, to, Some(other_org))
                .await
                .unwrap()
        ),
        vec![(other_org, None, 1, "25200".to_owned())]
    );

    let traced = |list: Option<&'static str>| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.acquire().await.unwrap();
            rollups::hours(&mut conn, org, ("node_seconds", ""), list, from, to)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.resource_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(traced(Some("customer-run")).await, [own]);
    assert_eq!(traced(None).await, [shared]);
    assert_eq!(
        price_lists::in_use(&mut conn).await.unwrap(),
        ["customer-run"]
    );
}
