//! The OpenAPI document matches the routes and does not change unnoticed.

use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{Auth, TestApp};

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/openapi.json");

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn every_documented_operation_is_served(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let served = app.get("/openapi.json", &Auth::None).await;
    let doc = served.ok(200);
    assert_eq!(
        *doc,
        serde_json::to_value(dashboard_api::openapi()).unwrap()
    );

    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 12, "{:?}", paths.keys());
    let mut operations = 0;
    for (path, item) in paths {
        // Any id will do: the route must exist even if the resource does not.
        let concrete = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "00000000-0000-0000-0000-000000000000"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let reply = app
                .send(method.clone(), &concrete, &Auth::None, None, &[])
                .await;
            let unrouted = reply.status == 405
                || (reply.status == 404
                    && reply.body["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains("no route")));
            assert!(
                !unrouted,
                "{method} {path} is documented but not served: {}",
                reply.body
            );
            operations += 1;
        }
    }
    assert!(operations >= 18, "only {operations} operations documented");
}

#[test]
fn the_document_matches_its_snapshot() {
    let current = serde_json::to_string_pretty(&dashboard_api::openapi()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(SNAPSHOT, &current).unwrap();
    }
    let stored = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    let parse = |s: &str| serde_json::from_str::<Value>(s).ok();
    assert!(
        parse(&stored) == parse(&current) && parse(&current).is_some(),
        "the OpenAPI document changed; review it and run \
         `UPDATE_SNAPSHOTS=1 cargo test --test api openapi` to accept the change"
    );
}
