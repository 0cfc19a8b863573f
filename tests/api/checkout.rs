//! Upgrading from free through Stripe Checkout: localstripe for customers,
//! SetupIntents and default cards, the stand-in of `checkout_page.rs` for
//! the Checkout Session and its hosted page.

use std::sync::Arc;

use billing::payments::stripe::StripeProvider;
use chrono::Utc;
use control_plane::money::payments;
use serde_json::json;
use sqlx::PgPool;

use crate::checkout_page::CheckoutPage;
use crate::helpers::{Customer, TestApp};
use crate::localstripe::{GOOD_CARD, LocalStripe, SECRET_KEY};

pub(crate) const WEBHOOK_SECRET: &str = "whsec_checkout_test";

/// The app with localstripe behind the Checkout stand-in; also used by the
/// prepaid-credit tests.
pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) stripe: LocalStripe,
    pub(crate) page: CheckoutPage,
    pub(crate) provider: Arc<StripeProvider>,
    /// Follows no redirects, as a browser's first hop would be seen.
    pub(crate) browser: reqwest::Client,
}

pub(crate) async fn setup(pool: PgPool) -> Setup {
    let stripe = LocalStripe::start().await;
    let page = CheckoutPage::start(&stripe).await;
    let provider = Arc::new(StripeProvider::new(SECRET_KEY, Some(&page.api_base())).unwrap());
    let app = TestApp::spawn_with(
        pool,
        Some(dashboard_api::Payments {
            provider: provider.clone(),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            publishable_key: None,
        }),
    )
    .await;
    Setup {
        app,
        stripe,
        page,
        provider,
        browser: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

impl Setup {
    /// Signs `email` up and runs the outbox: the Stripe customer's id.
    pub(crate) async fn customer(&self, email: &str) -> (Customer, String) {
        let customer = self.app.signup(email).await;
        payments::create_customers(&self.app.pool, self.provider.as_ref(), Utc::now())
            .await
            .unwrap();
        let id = sqlx::query_scalar(
            "SELECT payment_customer_id FROM subscriptions WHERE organization_id = $1",
        )
        .bind(customer.org_id)
        .fetch_one(&self.app.pool)
        .await
        .unwrap();
        (customer, id)
    }

    fn billing(customer: &Customer) -> String {
        format!("/v1/organizations/{}/billing", customer.org_id)
    }

    /// Opens a checkout for `plan`: the session's id and page.
    async fn open(&self, customer: &Customer, plan: &str) -> (String, String) {
        let opened = self
            .app
            .post(
                &format!("{}/checkout-sessions", Self::billing(customer)),
                &customer.session,
                json!({ "plan": plan }),
            )
            .await;
        let body = opened.ok(201);
        assert_eq!(body["object"], "checkout_session");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["url"].as_str().unwrap().to_owned(),
        )
    }

    /// The customer types `card` on the page; where the browser goes next.
    async fn pay(&self, page: &str, card: &str) -> String {
        let reply = self
            .browser
            .post(page)
            .form(&[("card", card)])
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 303);
        reply.headers()["location"].to_str().unwrap().to_owned()
    }

    async fn complete(&self, customer: &Customer, session: &str) -> crate::helpers::Reply {
        self.app
            .post(
                &format!(
                    "{}/checkout-sessions/{session}/complete",
                    Self::billing(customer)
                ),
                &customer.session,
                json!(null),
            )
            .await
    }

    async fn plan_periods(&self, customer: &Customer) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT plan FROM plan_periods WHERE organization_id = $1 ORDER BY valid_from",
        )
        .bind(customer.org_id)
        .fetch_all(&self.app.pool)
        .await
        .unwrap()
    }
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_free_organization_moves_to_starter_once_a_card_is_saved_on_the_checkout_page(
    pool: PgPool,
) {
    let s = setup(pool).await;
    let (ada, stripe_customer) = s.customer("ada@example.com").await;
    let billing = Setup::billing(&ada);

    let (session, page) = s.open(&ada, "starter").await;

    let opened = s.page.sessions();
    assert_eq!(opened.len(), 1);
    let params = &opened[0].params;
    assert_eq!(params["customer"], stripe_customer);
    assert_eq!(params["metadata[plan]"], "starter");
    assert_eq!(params["metadata[organization_id]"], ada.org_id.to_string());
    let back = format!("{}/orgs/{}/billing", s.app.base, ada.org_id);
    assert_eq!(
        params["success_url"],
        format!("{back}/checkout?session_id={{CHECKOUT_SESSION_ID}}")
    );
    assert_eq!(params["cancel_url"], back);
    assert!(
        opened[0]
            .idempotency_key
            .starts_with(&format!("qm-checkout-{}-", ada.org_id)),
        "{}",
        opened[0].idempotency_key
    );
    assert!(page.starts_with(s.page.api_base().trim_end_matches('/')));

    // Nothing changes until the customer has saved the card.
    s.complete(&ada, &session)
        .await
        .problem(409, "checkout-incomplete");
    s.app
        .send(
            reqwest::Method::PUT,
            &format!("{billing}/plan"),
            &ada.session,
            Some(json!({ "plan": "starter" })),
            &[],
        )
        .await
        .problem(402, "payment-method-required");
    assert_eq!(s.plan_periods(&ada).await, ["free"]);

    let next = s.pay(&page, GOOD_CARD).await;
    assert_eq!(
        next,
        format!("{back}/checkout?session_id={session}"),
        "the page sends the browser back with the session's id"
    );
    let subscription = s.complete(&ada, &session).await;
    let body = subscription.ok(200);
    assert_eq!(body["plan"], "starter");
    assert_eq!(body["payment_method_ready"], true);
    // The card saved on the page is the customer's default in Stripe.
    let setup_id = s.page.sessions()[0].setup_intent.clone().unwrap();
    let card = s.stripe.get(&format!("setup_intents/{setup_id}")).await["payment_method"].clone();
    let customer = s.stripe.get(&format!("customers/{stripe_customer}")).await;
    assert_eq!(customer["invoice_settings"]["default_payment_method"], card);

    // Coming back again (a reload) changes nothing more.
    assert_eq!(s.complete(&ada, &session).await.ok(200)["plan"], "starter");
    assert_eq!(s.plan_periods(&ada).await, ["free", "starter"]);

    // Another organization cannot complete it, even knowing its id.
    let (bob, _) = s.customer("bob@example.com").await;
    s.complete(&bob, &session).await.problem(404, "not-found");
    assert_eq!(s.plan_periods(&bob).await, ["free"]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_customer_who_closes_the_tab_after_saving_the_card_is_moved_by_the_webhook(pool: PgPool) {
    let s = setup(pool).await;
    let (ada, _) = s.customer("ada@example.com").await;
    let (session, page) = s.open(&ada, "business").await;
    s.pay(&page, GOOD_CARD).await;

    let webhook = format!("{}/v1/webhooks/stripe", s.app.base);
    let first = s
        .page
        .deliver_completed(&session, &webhook, WEBHOOK_SECRET)
        .await;
    let again = s
        .page
        .deliver_completed(&session, &webhook, WEBHOOK_SECRET)
        .await;

    assert_eq!(first["applied"], true);
    assert_eq!(again["applied"], false, "a redelivery is recognised");
    let subscription = s.app.get(&Setup::billing(&ada), &ada.session).await;
    assert_eq!(subscription.ok(200)["plan"], "business");
    assert_eq!(subscription.body["payment_method_ready"], true);
    assert_eq!(s.plan_periods(&ada).await, ["free", "business"]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn no_checkout_opens_for_a_free_or_unknown_plan_or_a_return_address_that_is_not_a_web_page(
    pool: PgPool,
) {
    let s = setup(pool).await;
    let (ada, _) = s.customer("ada@example.com").await;
    let path = format!("{}/checkout-sessions", Setup::billing(&ada));
    let before = s.app.stored_rows().await;

    for body in [
        json!({ "plan": "free" }),
        json!({ "plan": "gold" }),
        json!({ "plan": "starter", "success_url": "javascript:alert(1)" }),
    ] {
        s.app
            .post(&path, &ada.session, body)
            .await
            .problem(422, "validation-failed");
    }

    assert!(s.page.sessions().is_empty(), "Stripe was never asked");
    assert_eq!(s.app.stored_rows().await, before);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_completed_checkout_that_saved_no_card_is_acknowledged_and_changes_nothing(pool: PgPool) {
    let s = setup(pool).await;
    let (ada, stripe_customer) = s.customer("ada@example.com").await;
    let before = s.app.stored_rows().await;
    // A payment-mode session of the same Stripe account: no SetupIntent.
    let event = json!({
        "id": "evt_payment_checkout",
        "object": "event",
        "type": "checkout.session.completed",
        "data": { "object": {
            "id": "cs_payment_1", "object": "checkout.session", "mode": "payment",
            "status": "complete", "customer": stripe_customer, "setup_intent": null,
            "payment_intent": "pi_1", "metadata": {}
        } },
    })
    .to_string();
    let signature =
        billing::payments::webhook::sign(WEBHOOK_SECRET, Utc::now().timestamp(), event.as_bytes());

    let reply = s
        .browser
        .post(format!("{}/v1/webhooks/stripe", s.app.base))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(event)
        .send()
        .await
        .unwrap();

    assert_eq!(
        reply.status(),
        200,
        "acknowledged, so Stripe does not resend it"
    );
    let after = s.app.stored_rows().await;
    assert_eq!(after["subscriptions"], before["subscriptions"]);
    assert_eq!(s.plan_periods(&ada).await, ["free"]);
}
