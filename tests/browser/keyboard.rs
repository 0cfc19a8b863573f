//! The dashboard worked with the keyboard alone.

use fantoccini::Client;
use fantoccini::key::Key;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp};
use crate::{Driver, arrive, text};

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
