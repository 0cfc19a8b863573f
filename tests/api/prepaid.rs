//! Prepaid credit against localstripe and the Checkout stand-in of
//! `checkout_page.rs`: a purchase granted once by the webhook, never by the
//! return page; an invoice paid partly from credit and partly by card;
//! automatic top-up charged once per crossing; expiry recorded.

use std::sync::Arc;

use billing::catalog_store::{self, LiveCatalog};
use billing::{Period, close, dunning};
use chrono::{Duration, Utc};
use control_plane::money::worker::BillingWorker;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::checkout::{Setup, WEBHOOK_SECRET, setup};
use crate::helpers::Customer;
use crate::localstripe::GOOD_CARD;

impl Setup {
    /// Saves `GOOD_CARD` as the default, as the dashboard's card form does.
    async fn add_card(&self, customer: &Customer) {
        crate::payments::add_card(&self.app, &self.stripe, customer, GOOD_CARD, None).await;
    }

    /// Buys `amount_minor` of credit: opens the checkout, pays on its page
    /// and follows the browser back. The session's id.
    async fn buy(&self, customer: &Customer, amount_minor: i64) -> String {
        let opened = self
            .app
            .post(
                &format!(
                    "/v1/organizations/{}/billing/credit-purchases",
                    customer.org_id
                ),
                &customer.session,
                json!({ "amount_minor": amount_minor }),
            )
            .await;
        let body = opened.ok(201);
        let (id, url) = (
            body["id"].as_str().unwrap().to_owned(),
            body["url"].as_str().unwrap().to_owned(),
        );
        let paid = self
            .browser
            .post(&url)
            .form(&[("card", GOOD_CARD)])
            .send()
            .await
            .unwrap();
        assert_eq!(paid.status(), 303);
        let back = paid.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            back.ends_with(&format!(
                "/orgs/{}/billing?credit_checkout={id}",
                customer.org_id
            )),
            "{back}"
        );
        id
    }

    /// Stripe's `checkout.session.completed` for `session`, delivered.
    async fn confirm(&self, session: &str) {
        let webhook = format!("{}/v1/webhooks/stripe", self.app.base);
        self.page
            .deliver_completed(session, &webhook, WEBHOOK_SECRET)
            .await;
    }

    async fn credit(&self, customer: &Customer) -> Value {
        self.app
            .get(
                &format!("/v1/organizations/{}/billing/credit", customer.org_id),
                &customer.session,
            )
            .await
            .ok(200)
            .clone()
    }

    async fn worker(&self) -> BillingWorker {
        let published = catalog_store::current(&mut self.app.pool.acquire().await.unwrap())
            .await
            .unwrap()
            .unwrap();
        BillingWorker::new(
            self.app.pool.clone(),
            Arc::new(LiveCatalog::new(published)),
            Some(self.provider.clone()),
            dunning::DEFAULT_GRACE,
        )
    }

    /// Puts `customer` on starter from before `period` and closes it: the
    /// invoice's id and body.
    async fn close_on_starter(&self, customer: &Customer, period: Period) -> Value {
        let pool = &self.app.pool;
        crate::billing::on_starter_since(pool, customer.org_id, period.previous().start()).await;
        let report = crate::billing::close_period(pool, period).await;
        assert_eq!(report.created, 1, "{report:?}");
        let invoices = self
            .app
            .get(&crate::billing::invoices_of(customer), &customer.session)
            .await
            .ok(200)["data"]
            .clone();
        let id = invoices[0]["id"].as_str().unwrap().to_owned();
        self.app
            .get(
                &format!("{}/{id}", crate::billing::invoices_of(customer)),
                &customer.session,
            )
            .await
            .ok(200)
            .clone()
    }
}

/// The fields a problem names, in order.
fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

/// The ledger's amounts sum to the balance.
fn assert_ledger_sums(credit: &Value) {
    let sum: i64 = credit["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["amount_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, credit["balance_minor"].as_i64().unwrap(), "{credit}");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn credit_bought_on_checkout_is_granted_once_by_the_webhook_and_never_by_the_return_page(
    pool: PgPool,
) {
    let s = setup(pool).await;
    let (ada, _) = s.customer("ada@example.com").await;
    let session = s.buy(&ada, 2500).await;

    // Back on the billing page, paid at Stripe, but not confirmed: nothing yet.
    let credit = s.credit(&ada).await;
    assert_eq!(credit["balance_minor"], 0);
    assert_eq!(credit["purchases"][0]["status"], "pending");
    assert_eq!(
        credit["purchases"][0]["checkout_session_id"],
        session.as_str()
    );
    let mut browser = crate::forms::Browser::logged_in(&s.app, "ada@example.com").await;
    let (status, _, page) = browser
        .get(&format!(
            "/orgs/{}/billing?credit_checkout={session}",
            ada.org_id
        ))
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("received. The credit is added as soon as"),
        "{page}"
    );

    // The webhook, delivered twice: one grant.
    s.confirm(&session).await;
    s.confirm(&session).await;
    let credit = s.credit(&ada).await;
    assert_eq!(credit["balance_minor"], 2500);
    assert_eq!(credit["purchases"][0]["status"], "paid");
    let grants = credit["grants"].as_array().unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["source"], "purchase");
    assert_eq!(grants[0]["remaining_minor"], 2500);
    assert!(grants[0]["expires_at"].is_string(), "the catalog's expiry");
    assert_eq!(credit["ledger"].as_array().unwrap().len(), 1);
    assert_ledger_sums(&credit);
    let (_, _, page) = browser
        .get(&format!(
            "/orgs/{}/billing?credit_checkout={session}",
            ada.org_id
        ))
        .await;
    assert!(
        page.contains("Payment confirmed: $25.00 of credit added."),
        "{page}"
    );

    // What was asked of Stripe: payment mode, one line of the amount.
    let opened = &s.page.sessions()[0];
    assert_eq!(opened.params["mode"], "payment");
    assert_eq!(
        opened.params["line_items[0][price_data][unit_amount]"],
        "2500"
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_purchase_outside_the_catalog_bounds_or_of_another_organization_is_refused(pool: PgPool) {
    let s = setup(pool).await;
    let (ada, _) = s.customer("ada@example.com").await;
    let bob = s.app.signup("bob@example.com").await;
    let purchases = format!("/v1/organizations/{}/billing/credit-purchases", ada.org_id);
    for amount in [0, 499, 500_001, -5] {
        let refused = s
            .app
            .post(&purchases, &ada.session, json!({ "amount_minor": amount }))
            .await;
        let problem = refused.problem(422, "validation-failed");
        assert_eq!(fields(problem), ["amount_minor"], "{problem}");
    }
    assert!(s.page.sessions().is_empty(), "nothing was opened at Stripe");
    // Another organization's credit and purchases are not found.
    s.app
        .get(
            &format!("/v1/organizations/{}/billing/credit", ada.org_id),
            &bob.session,
        )
        .await
        .problem(404, "not-found");
    s.app
        .post(&purchases, &bob.session, json!({ "amount_minor": 2500 }))
        .await
        .problem(404, "not-found");
    // Top-up without a card on file, and settings out of bounds.
    let top_up = format!(
        "/v1/organizations/{}/billing/credit/auto-top-up",
        ada.org_id
    );
    let no_card = s
        .app
        .send(
            reqwest::Method::PUT,
            &top_up,
            &ada.session,
            Some(
                json!({ "threshold_minor": 1000, "amount_minor": 2000, "monthly_cap_minor": 4000 }),
            ),
            &[],
        )
        .await;
    no_card.problem(402, "payment-method-required");
    let bad = s
        .app
        .send(
            reqwest::Method::PUT,
            &top_up,
            &ada.session,
            Some(json!({ "threshold_minor": -1, "amount_minor": 1, "monthly_cap_minor": 0 })),
            &[],
        )
        .await;
    let problem = bad.problem(422, "validation-failed");
    assert_eq!(
        fields(problem),
        ["threshold_minor", "amount_minor", "monthly_cap_minor"]
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM credit_top_up_settings")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_invoice_draws_on_credit_first_and_the_card_pays_the_rest(pool: PgPool) {
    let s = setup(pool).await;
    let (ada, customer) = s.customer("ada@example.com").await;
    s.add_card(&ada).await;
    let session = s.buy(&ada, 1000).await;
    s.confirm(&session).await;

    let period: Period = "2025-01".parse().unwrap();
    let invoice = s.close_on_starter(&ada, period).await;
    assert_eq!(
        (
            &invoice["subtotal_minor"],
            &invoice["credits_minor"],
            &invoice["total_minor"]
        ),
        (&json!(2500), &json!(1000), &json!(1500)),
        "{invoice}"
    );
    let credit = s.credit(&ada).await;
    assert_eq!(credit["balance_minor"], 0);
    assert_ledger_sums(&credit);
    let applied = &credit["ledger"][0];
    assert_eq!(
        (
            &applied["kind"],
            &applied["amount_minor"],
            &applied["invoice_id"]
        ),
        (&json!("applied"), &json!(-1000), &invoice["id"])
    );

    // The card pays what credit did not: Stripe's invoice of the total.
    let stripe_invoice = s.stripe.open_invoice(&customer, 1500).await;
    sqlx::query(
        "UPDATE invoices SET provider_invoice_id = $2, provider_finalized_at = now() WHERE id = $1::uuid",
    )
    .bind(invoice["id"].as_str().unwrap())
    .bind(&stripe_invoice)
    .execute(&s.app.pool)
    .await
    .unwrap();
    let pass = s
        .worker()
        .await
        .run_once_at(close::closes_at(period))
        .await
        .unwrap();
    assert_eq!(pass.invoices_paid, 1);
    let paid = s
        .app
        .get(
            &format!(
                "{}/{}",
                crate::billing::invoices_of(&ada),
                invoice["id"].as_str().unwrap()
            ),
            &ada.session,
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(paid["status"], "paid");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn automatic_top_up_charges_once_per_crossing_and_again_only_after_the_balance_recovers(
    pool: PgPool,
) {
    let s = setup(pool).await;
    let (ada, _) = s.customer("ada@example.com").await;
    s.add_card(&ada).await;
    let set = s
        .app
        .send(
            reqwest::Method::PUT,
            &format!(
                "/v1/organizations/{}/billing/credit/auto-top-up",
                ada.org_id
            ),
            &ada.session,
            Some(
                json!({ "threshold_minor": 3000, "amount_minor": 1000, "monthly_cap_minor": 5000 }),
            ),
            &[],
        )
        .await;
    assert_eq!(set.ok(200)["armed"], true);
    let worker = s.worker().await;
    let period: Period = "2025-01".parse().unwrap();
    let t0 = close::closes_at(period);

    // Below the threshold: one top-up; it does not lift the balance over
    // the threshold, yet the next passes charge nothing more.
    let pass = worker.run_once_at(t0).await.unwrap();
    assert_eq!(
        (pass.prepaid.top_ups_started, pass.prepaid.top_ups_paid),
        (1, 1)
    );
    for later in [1, 2] {
        let pass = worker
            .run_once_at(t0 + Duration::hours(later))
            .await
            .unwrap();
        assert_eq!(pass.prepaid.top_ups_started, 0);
    }
    assert_eq!(s.page.charges(), 1, "one charge at Stripe");
    let credit = s.credit(&ada).await;
    assert_eq!(credit["balance_minor"], 1000);
    assert_eq!(credit["auto_top_up"]["armed"], false);
    assert_eq!(credit["top_ups"][0]["status"], "paid");
    assert_eq!(credit["grants"][0]["source"], "top_up");

    // Bought credit brings it back over the threshold: armed again.
    let session = s.buy(&ada, 2500).await;
    s.confirm(&session).await;
    let pass = worker.run_once_at(t0 + Duration::hours(3)).await.unwrap();
    assert_eq!(pass.prepaid.top_ups_started, 0);
    assert_eq!(s.credit(&ada).await["auto_top_up"]["armed"], true);

    // An invoice draws it below: the next crossing is charged once more.
    let invoice = s.close_on_starter(&ada, period.next()).await;
    assert_eq!(invoice["credits_minor"], 2500);
    let pass = worker.run_once_at(t0 + Duration::hours(4)).await.unwrap();
    assert_eq!(pass.prepaid.top_ups_paid, 1);
    assert_eq!(s.page.charges(), 2);
    let credit = s.credit(&ada).await;
    assert_eq!(credit["balance_minor"], 2000);
    let top_ups: Vec<_> = credit["top_ups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["status"].as_str().unwrap(),
                t["amount_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(top_ups, [("paid", 1000), ("paid", 1000)]);
    assert_ledger_sums(&credit);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_expired_remainder_is_recorded_once_and_no_longer_counts(pool: PgPool) {
    let s = setup(pool).await;
    let (ada, _) = s.customer("ada@example.com").await;
    let session = s.buy(&ada, 2500).await;
    s.confirm(&session).await;
    let credit = s.credit(&ada).await;
    let expires: chrono::DateTime<Utc> = credit["grants"][0]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let worker = s.worker().await;
    let pass = worker
        .run_once_at(expires - Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(pass.prepaid.expired, 0, "not yet");
    let pass = worker.run_once_at(expires).await.unwrap();
    assert_eq!(pass.prepaid.expired, 1);
    let pass = worker
        .run_once_at(expires + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(pass.prepaid.expired, 0, "once");

    let credit = s.credit(&ada).await;
    assert_eq!(credit["balance_minor"], 0);
    assert_eq!(credit["grants"][0]["remaining_minor"], 0);
    let expired = &credit["ledger"][0];
    assert_eq!(
        (&expired["kind"], &expired["amount_minor"]),
        (&json!("expired"), &json!(-2500))
    );
    assert_eq!(
        expired["at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap(),
        expires,
        "dated when it expired"
    );
    assert_ledger_sums(&credit);
}
