//! localstripe (PyPI `localstripe==1.15.10`), one process per test, bound to
//! 127.0.0.1 on a free port, stopped when dropped. Requests made here play
//! the parts that are not Quartermaster's: the customer's browser running
//! Stripe.js, and Stripe's own subscription machinery (the only way
//! localstripe makes an invoice).

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

pub const SECRET_KEY: &str = "sk_test_quartermaster";
/// Charges succeed.
pub const GOOD_CARD: &str = "4242424242424242";
/// Attaches, then every charge is declined.
pub const DECLINING_CARD: &str = "4000000000000341";

pub struct LocalStripe {
    base: String,
    http: reqwest::Client,
    _process: tokio::process::Child,
}

impl LocalStripe {
    pub async fn start() -> LocalStripe {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/run_localstripe.py"
        );
        let process = tokio::process::Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("python3 tests/fixtures/run_localstripe.py: {e}"));
        let stripe = LocalStripe {
            base: format!("http://127.0.0.1:{port}/"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            _process: process,
        };
        for _ in 0..200 {
            let ready = stripe
                .http
                .get(format!("{}v1/customers", stripe.base))
                .basic_auth(SECRET_KEY, Some(""))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return stripe;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("localstripe did not start; install it with `pip install localstripe==1.15.10`");
    }

    /// The API base to give the Stripe client.
    pub fn api_base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> Value {
        let reply = self
            .http
            .get(format!("{}v1/{path}", self.base))
            .basic_auth(SECRET_KEY, Some(""))
            .send()
            .await
            .unwrap();
        reply.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let reply = self
            .http
            .post(format!("{}v1/{path}", self.base))
            .basic_auth(SECRET_KEY, Some(""))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = reply.status();
        let body: Value = reply.json().await.unwrap();
        assert!(status.is_success(), "localstripe {path}: {body}");
        body
    }

    /// Sends every event to `url`, signed with `secret`.
    pub async fn register_webhook(&self, url: &str, secret: &str) {
        let reply = self
            .http
            .post(format!("{}_config/webhooks/quartermaster", self.base))
            .form(&[("url", url), ("secret", secret)])
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success());
    }

    /// What Stripe.js does in the customer's browser: confirms a setup
    /// intent with the card typed in.
    pub async fn confirm_card_setup(&self, setup_id: &str, card: &str) -> Value {
        self.post(
            &format!("setup_intents/{setup_id}/confirm"),
            &[
                ("payment_method_data[type]", "card"),
                ("payment_method_data[card][number]", card),
                ("payment_method_data[card][exp_month]", "12"),
                ("payment_method_data[card][exp_year]", "2030"),
                ("payment_method_data[card][cvc]", "123"),
            ],
        )
        .await
    }

    /// An open invoice of `amount` for `customer`, as Stripe's subscription
    /// machinery makes one: localstripe makes no other kind. A declining
    /// card is its default meanwhile, so the first charge fails and the
    /// invoice stays open; the previous default card is restored after.
    pub async fn open_invoice(&self, customer: &str, amount: i64) -> String {
        let before = self.get(&format!("customers/{customer}")).await["invoice_settings"]
            ["default_payment_method"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let declining = self.card(DECLINING_CARD).await;
        self.post(
            &format!("payment_methods/{declining}/attach"),
            &[("customer", customer)],
        )
        .await;
        self.set_default_card(customer, &declining).await;
        let plan = format!("plan-{amount}");
        let amount = amount.to_string();
        let exists = self.get(&format!("plans/{plan}")).await.get("id").is_some();
        if !exists {
            self.post(
                "plans",
                &[
                    ("id", plan.as_str()),
                    ("amount", amount.as_str()),
                    ("currency", "usd"),
                    ("interval", "month"),
                    ("product[name]", "Quartermaster"),
                ],
            )
            .await;
        }
        let subscription = self
            .post(
                "subscriptions",
                &[("customer", customer), ("items[0][plan]", plan.as_str())],
            )
            .await;
        let invoice = subscription["latest_invoice"].as_str().unwrap().to_owned();
        assert_eq!(
            self.get(&format!("invoices/{invoice}")).await["status"],
            "open"
        );
        self.set_default_card(customer, &before).await;
        invoice
    }

    pub async fn card(&self, number: &str) -> String {
        let card = self
            .post(
                "payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", number),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2030"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        card["id"].as_str().unwrap().to_owned()
    }

    pub async fn set_default_card(&self, customer: &str, card: &str) {
        self.post(
            &format!("customers/{customer}"),
            &[("invoice_settings[default_payment_method]", card)],
        )
        .await;
    }
}
