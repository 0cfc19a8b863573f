//! The dashboard in headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver, one module per concern: the
//! customer's journey from signup to a suspension explained (`journey`),
//! the keyboard alone (`keyboard`), Checkout and prepaid credit
//! (`payments`), cluster and endpoint pages (`resources`) and the admin
//! console among 100,000 organizations (`admin`). Here: the driver and the
//! steps every module takes, each page checked by axe. Screenshots of each
//! page go to `target/tmp/screenshots/`.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

#[path = "../api/checkout_page.rs"]
#[expect(dead_code, reason = "the browser test makes no off-session charge")]
mod checkout_page;
#[path = "../api/helpers.rs"]
#[expect(
    dead_code,
    reason = "the browser test uses part of the API tests' helpers"
)]
mod helpers;
#[path = "../api/localstripe.rs"]
#[expect(
    dead_code,
    reason = "the browser test needs no invoices from localstripe"
)]
mod localstripe;

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use helpers::PASSWORD;
use serde_json::json;

mod admin;
mod journey;
mod keyboard;
mod payments;
mod resources;

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
