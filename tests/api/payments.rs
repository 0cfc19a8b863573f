//! Collecting payment against localstripe: customers from the outbox, cards
//! through a SetupIntent, invoices charged, Stripe's signed webhooks, and
//! dunning from a declined card to suspension and back, with time injected.
//!
//! localstripe cannot create a one-off invoice or finalize one; those calls
//! are verified against a loopback server in `billing/tests/stripe_adapter/`.
//! Here an invoice made by localstripe's subscription machinery stands in
//! for the one the adapter would have created.

use std::sync::Arc;

use billing::catalog_store::{self, LiveCatalog};
use billing::payments::stripe::StripeProvider;
use billing::payments::webhook;
use billing::payments::{
    CardSetup, CheckoutOutcome, CheckoutPage, CheckoutRequest, InvoiceToCollect, NewCustomer,
    OffSessionCharge, PaymentError, PaymentOutcome, PaymentProvider,
};
use billing::{Period, close, dunning};
use chrono::{DateTime, Duration, TimeZone, Utc};
use control_plane::money::payments;
use control_plane::money::worker::BillingWorker;
use control_plane::provisioner::Provisioner;
use control_plane::webhooks::InvoiceEvents;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{Auth, Customer, TestApp};
use crate::localstripe::{DECLINING_CARD, GOOD_CARD, LocalStripe, SECRET_KEY};
use crate::receiver::Receiver;

const WEBHOOK_SECRET: &str = "whsec_quartermaster_test";

struct Setup {
    app: TestApp,
    stripe: LocalStripe,
    provider: Arc<StripeProvider>,
}

async fn setup(pool: PgPool) -> Setup {
    setup_with(pool, |provider| provider).await
}

/// The app's provider is `wrap` of the localstripe one.
async fn setup_with(
    pool: PgPool,
    wrap: impl FnOnce(Arc<StripeProvider>) -> payments::Provider,
) -> Setup {
    let stripe = LocalStripe::start().await;
    let provider = Arc::new(StripeProvider::new(SECRET_KEY, Some(stripe.api_base())).unwrap());
    let app = TestApp::spawn_with(
        pool,
        Some(dashboard_api::Payments {
            provider: wrap(provider.clone()),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            publishable_key: Some("pk_test_quartermaster".to_owned()),
        }),
    )
    .await;
    Setup {
        app,
        stripe,
        provider,
    }
}

impl Setup {
    /// Runs the outbox: the organization's Stripe customer, by its id.
    async fn customer_of(&self, customer: &Customer) -> String {
        payments::create_customers(&self.app.pool, self.provider.as_ref(), Utc::now())
            .await
            .unwrap();
        sqlx::query_scalar(
            "SELECT payment_customer_id FROM subscriptions WHERE organization_id = $1",
        )
        .bind(customer.org_id)
        .fetch_one(&self.app.pool)
        .await
        .unwrap()
    }

    /// The customer adds `card` the way the dashboard does it.
    async fn add_card(&self, customer: &Customer, card: &str) -> Value {
        add_card(
            &self.app,
            &self.stripe,
            customer,
            card,
            Some("pk_test_quartermaster"),
        )
        .await
    }

    /// Ada, on starter since before `period`, closed: her open invoice for
    /// it, linked to an open invoice in localstripe.
    /// Ada with a card and January's invoice open at Stripe: its id here
    /// and at Stripe.
    async fn open_invoice(&self) -> (Customer, Uuid, String) {
        let ada = self.app.signup("ada@example.com").await;
        let customer = self.customer_of(&ada).await;
        self.add_card(&ada, GOOD_CARD).await;
        let period: Period = "2025-01".parse().unwrap();
        let id = self
            .invoice_for(&ada, &customer, period, close::closes_at(period))
            .await;
        let stripe_invoice: String =
            sqlx::query_scalar("SELECT provider_invoice_id FROM invoices WHERE id = $1")
                .bind(id)
                .fetch_one(&self.app.pool)
                .await
                .unwrap();
        (ada, id, stripe_invoice)
    }

    async fn invoice_for(
        &self,
        customer: &Customer,
        stripe_customer: &str,
        period: Period,
        at: DateTime<Utc>,
    ) -> Uuid {
        let pool = &self.app.pool;
        crate::billing::on_starter_since(pool, customer.org_id, period.previous().start()).await;
        let published = catalog_store::current(&mut pool.acquire().await.unwrap())
            .await
            .unwrap()
            .unwrap();
        let report = close::close(
            pool,
            &published,
            period,
            at,
            Some(&InvoiceEvents),
            &mut |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!((report.created, report.finalized), (1, 1), "{report:?}");
        let (id, total): (Uuid, i64) =
            sqlx::query_as("SELECT id, total_minor FROM invoices WHERE organization_id = $1")
                .bind(customer.org_id)
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(total, 2500, "a whole month of Starter");
        let stripe_invoice = self.stripe.open_invoice(stripe_customer, total).await;
        sqlx::query("UPDATE invoices SET provider_invoice_id = $2, provider_finalized_at = $3 WHERE id = $1")
            .bind(id)
            .bind(stripe_invoice)
            .bind(at)
            .execute(pool)
            .await
            .unwrap();
        id
    }

    async fn invoice(&self, customer: &Customer, id: Uuid) -> Value {
        self.app
            .get(
                &format!("/v1/organizations/{}/invoices/{id}", customer.org_id),
                &customer.session,
            )
            .await
            .ok(200)
            .clone()
    }

    async fn post_event(&self, body: &str, signature: Option<String>) -> crate::helpers::Reply {
        let mut request = self
            .app
            .request(Method::POST, "/v1/webhooks/stripe")
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        self.app.raw(request).await
    }
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn signup_creates_a_stripe_customer_and_a_confirmed_card_opens_paid_plans(pool: PgPool) {
    let s = setup(pool).await;
    let ada = s.app.signup("ada@example.com").await;
    let billing = format!("/v1/organizations/{}/billing", ada.org_id);

    // Before the outbox has run, there is no Stripe customer to add a card to.
    s.app
        .post(&format!("{billing}/card-setups"), &ada.session, json!(null))
        .await
        .problem(409, "payment-account-pending");

    let customer = s.customer_of(&ada).await;
    let stored = s.stripe.get(&format!("customers/{customer}")).await;
    assert_eq!(
        stored["metadata"]["organization_id"],
        ada.org_id.to_string()
    );
    assert_eq!(stored["email"], "ada@example.com");
    assert_eq!(stored["name"], "ada's organization");
    // The outbox row is done: a second pass creates no second customer.
    let again = payments::create_customers(&s.app.pool, s.provider.as_ref(), Utc::now())
        .await
        .unwrap();
    assert_eq!(again, 0);
    assert_eq!(
        s.stripe.get("customers").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A paid plan needs a card first.
    let upgrade = |session: Auth| {
        let path = format!("{billing}/plan");
        let app = &s.app;
        async move {
            app.send(
                Method::PUT,
                &path,
                &session,
                Some(json!({ "plan": "starter" })),
                &[],
            )
            .await
        }
    };
    upgrade(ada.session.clone())
        .await
        .problem(402, "payment-method-required");

    let subscription = s.add_card(&ada, GOOD_CARD).await;
    assert_eq!(subscription["payment_method_ready"], true);
    let stored = s.stripe.get(&format!("customers/{customer}")).await;
    let default_card = stored["invoice_settings"]["default_payment_method"]
        .as_str()
        .unwrap();
    assert!(default_card.starts_with("pm_"), "{stored}");

    // Someone else's card setup cannot be completed into this organization.
    let other = s
        .stripe
        .post("customers", &[("name", "someone else")])
        .await;
    let foreign = s
        .stripe
        .post(
            "setup_intents",
            &[("customer", other["id"].as_str().unwrap())],
        )
        .await;
    let foreign_id = foreign["id"].as_str().unwrap();
    s.stripe.confirm_card_setup(foreign_id, GOOD_CARD).await;
    s.app
        .post(
            &format!("{billing}/card-setups/{foreign_id}/complete"),
            &ada.session,
            json!(null),
        )
        .await
        .problem(422, "payment-refused");

    assert_eq!(
        upgrade(ada.session.clone()).await.ok(200)["plan"],
        "starter"
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_signed_webhook_marks_the_invoice_paid_and_forged_ones_change_nothing(pool: PgPool) {
    let s = setup(pool).await;
    s.stripe
        .register_webhook(
            &format!("{}/v1/webhooks/stripe", s.app.base),
            WEBHOOK_SECRET,
        )
        .await;
    let (ada, id, stripe_invoice) = s.open_invoice().await;

    // Forged: signed with another secret, unsigned, or stale.
    let forged = json!({
        "id": "evt_forged", "object": "event", "type": "invoice.payment_succeeded",
        "data": { "object": { "id": stripe_invoice, "object": "invoice", "status": "paid" } }
    })
    .to_string();
    let now = Utc::now().timestamp();
    for signature in [
        Some(webhook::sign("whsec_not_ours", now, forged.as_bytes())),
        None,
        Some(webhook::sign(WEBHOOK_SECRET, now - 3600, forged.as_bytes())),
    ] {
        s.post_event(&forged, signature)
            .await
            .problem(400, "webhook-signature-invalid");
    }
    assert_eq!(s.invoice(&ada, id).await["status"], "open");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM payment_events")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(events, 0);

    // Stripe collects the invoice and says so, signed: the invoice is paid.
    s.stripe
        .post(&format!("invoices/{stripe_invoice}/pay"), &[])
        .await;
    let mut status = Value::Null;
    for _ in 0..100 {
        status = s.invoice(&ada, id).await["status"].clone();
        if status == "paid" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        status, "paid",
        "the invoice.payment_succeeded event arrived"
    );

    // The same event again, correctly signed, changes nothing.
    let (seen,): (String,) =
        sqlx::query_as("SELECT id FROM payment_events WHERE type = 'invoice.payment_succeeded'")
            .fetch_one(&s.app.pool)
            .await
            .unwrap();
    let redelivered = json!({
        "id": seen, "object": "event", "type": "invoice.payment_succeeded",
        "data": { "object": { "id": stripe_invoice, "object": "invoice", "status": "paid" } }
    })
    .to_string();
    let signature = webhook::sign(
        WEBHOOK_SECRET,
        Utc::now().timestamp(),
        redelivered.as_bytes(),
    );
    let reply = s.post_event(&redelivered, Some(signature)).await;
    assert_eq!(reply.ok(200)["applied"], false);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_declined_card_suspends_after_the_grace_period_and_payment_resumes(pool: PgPool) {
    let s = setup(pool.clone()).await;
    let ada = s.app.signup("ada@example.com").await;
    let customer = s.customer_of(&ada).await;
    let key = s.app.api_key(&ada).await;
    s.add_card(&ada, DECLINING_CARD).await;
    // Her systems listen for what happens to her invoices and account.
    let receiver = Receiver::start().await;
    let endpoint = s
        .app
        .post(
            &format!("/v1/organizations/{}/webhook-endpoints", ada.org_id),
            &ada.session,
            json!({ "url": receiver.url, "event_types": [
                "invoice.finalized", "invoice.paid", "invoice.payment_failed",
                "organization.suspended", "organization.resumed",
            ]}),
        )
        .await;
    receiver.trust(&[endpoint.ok(201)["secret"].as_str().unwrap()]);

    // Time is injected from here on: January closed on February 3rd.
    let period: Period = "2025-01".parse().unwrap();
    let t0 = Utc.with_ymd_and_hms(2025, 2, 3, 0, 0, 0).unwrap();
    let provisioner = Provisioner::new(pool.clone(), Duration::seconds(3));
    let cluster = s.app.create_cluster(ada.org_id, &key, "search").await;
    let cluster = format!(
        "/v1/organizations/{}/clusters/{}",
        ada.org_id,
        cluster["id"].as_str().unwrap()
    );
    let phase_at = |at: DateTime<Utc>| {
        let (provisioner, app, cluster, key) = (&provisioner, &s.app, &cluster, &key);
        async move {
            provisioner.run_once_at(at).await.unwrap();
            provisioner
                .run_once_at(at + Duration::seconds(5))
                .await
                .unwrap();
            app.get(cluster, key).await.ok(200)["status"].clone()
        }
    };
    assert_eq!(phase_at(t0).await["phase"], "Ready");

    let id = s.invoice_for(&ada, &customer, period, t0).await;
    let catalog = Arc::new(LiveCatalog::new(
        catalog_store::current(&mut pool.acquire().await.unwrap())
            .await
            .unwrap()
            .unwrap(),
    ));
    let worker = BillingWorker::new(
        pool.clone(),
        catalog,
        Some(s.provider.clone()),
        dunning::DEFAULT_GRACE,
    );
    let subscription = || async {
        s.app
            .get(
                &format!("/v1/organizations/{}/billing", ada.org_id),
                &ada.session,
            )
            .await
            .ok(200)
            .clone()
    };

    // The charge is declined: past due, still running.
    let pass = worker.run_once_at(t0).await.unwrap();
    assert_eq!((pass.invoices_paid, pass.enforced.suspended), (0, 0));
    let invoice = s.invoice(&ada, id).await;
    assert_eq!(invoice["status"], "open");
    assert!(
        invoice["payment_error"]
            .as_str()
            .unwrap()
            .contains("invoice is open")
    );
    assert_eq!(subscription().await["status"], "past_due");
    let pass = worker.run_once_at(t0 + Duration::days(13)).await.unwrap();
    assert_eq!(pass.enforced.suspended, 0, "within the grace period");
    assert_eq!(phase_at(t0 + Duration::days(13)).await["phase"], "Ready");

    // Fourteen days on: suspended, and the customer is told why.
    let pass = worker.run_once_at(t0 + Duration::days(14)).await.unwrap();
    assert_eq!(pass.enforced.suspended, 1);
    let status = phase_at(t0 + Duration::days(14)).await;
    assert_eq!(status["phase"], "Suspended");
    assert_eq!(status["ready_nodes"], 0);
    let reason = status["suspended_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Invoice QM-")
            && reason.contains("$25.00 has been unpaid since 2025-02-03"),
        "{reason}"
    );
    let suspended = subscription().await;
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["suspended_reason"], reason);

    // A working card, and the next pass collects and resumes.
    s.add_card(&ada, GOOD_CARD).await;
    let pass = worker.run_once_at(t0 + Duration::days(15)).await.unwrap();
    assert_eq!((pass.invoices_paid, pass.enforced.resumed), (1, 1));
    assert_eq!(s.invoice(&ada, id).await["status"], "paid");
    let status = phase_at(t0 + Duration::days(15)).await;
    assert_eq!(status["phase"], "Ready");
    assert_eq!(status["suspended_reason"], Value::Null);
    let resumed = subscription().await;
    assert_eq!(resumed["status"], "active");
    assert_eq!(resumed["suspended_reason"], Value::Null);

    // Told in the order it happened about each: the invoice, the account.
    let client = control_plane::webhooks::delivery::client(
        control_plane::webhooks::UrlPolicy::AllowLoopback,
    )
    .unwrap();
    let at = t0 + Duration::days(16);
    while control_plane::webhooks::deliver(&pool, &client, at)
        .await
        .unwrap()
        .delivered
        > 0
    {}
    let events = receiver.events();
    let about = |kind: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["data"]["object"]["object"] == kind)
            .collect()
    };
    let mut invoice: Vec<&str> = about("invoice")
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    // Each declined attempt is told, as Stripe tells each.
    invoice.dedup();
    assert_eq!(
        invoice,
        [
            "invoice.finalized",
            "invoice.payment_failed",
            "invoice.paid"
        ]
    );
    let paid = about("invoice").last().unwrap()["data"]["object"].clone();
    assert_eq!(
        (paid["id"].as_str(), paid["status"].as_str()),
        (Some(id.to_string().as_str()), Some("paid"))
    );
    let failed = &about("invoice")[1]["data"]["object"];
    assert!(
        failed["payment_error"]
            .as_str()
            .unwrap()
            .contains("invoice is open")
    );
    let account: Vec<&Value> = about("organization");
    let account: Vec<&str> = account
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(account, ["organization.suspended", "organization.resumed"]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_card_saved_for_a_customer_that_is_not_ours_is_left_alone(pool: PgPool) {
    let s = setup(pool).await;
    // A customer of the same Stripe account, made by something else.
    let stranger = s
        .stripe
        .post("customers", &[("email", "someone@elsewhere.example")])
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let intent = s
        .stripe
        .post(
            "setup_intents",
            &[("customer", stranger.as_str()), ("usage", "off_session")],
        )
        .await;
    let intent_id = intent["id"].as_str().unwrap();
    s.stripe.confirm_card_setup(intent_id, GOOD_CARD).await;
    let event = json!({
        "id": "evt_stranger", "object": "event", "type": "setup_intent.succeeded",
        "data": { "object": { "id": intent_id, "object": "setup_intent",
                              "customer": stranger, "status": "succeeded" } }
    })
    .to_string();
    let signature = webhook::sign(WEBHOOK_SECRET, Utc::now().timestamp(), event.as_bytes());

    s.post_event(&event, Some(signature)).await.ok(200);

    let customer = s.stripe.get(&format!("customers/{stranger}")).await;
    assert_eq!(
        customer["invoice_settings"]["default_payment_method"],
        Value::Null,
        "{customer}"
    );
}

/// localstripe's Invoice predates `payments`, so it cannot say why a
/// payment failed. This provider is localstripe for everything else, and
/// answers the decline reason as Stripe's PaymentIntent gives it (how the
/// adapter reads that from Stripe is checked against a loopback Stripe in
/// `billing/tests/stripe_adapter/`), recording each invoice it was asked of.
/// What the provider's methods return (`futures::future::BoxFuture`).
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

#[derive(Debug)]
struct ReadsDeclines {
    inner: Arc<StripeProvider>,
    asked: std::sync::Mutex<Vec<String>>,
}

impl PaymentProvider for ReadsDeclines {
    fn create_customer<'a>(
        &'a self,
        c: &'a NewCustomer,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        self.inner.create_customer(c)
    }
    fn start_card_setup<'a>(
        &'a self,
        c: &'a str,
        k: &'a str,
    ) -> BoxFuture<'a, Result<CardSetup, PaymentError>> {
        self.inner.start_card_setup(c, k)
    }
    fn complete_card_setup<'a>(
        &'a self,
        c: &'a str,
        s: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        self.inner.complete_card_setup(c, s)
    }
    fn start_checkout<'a>(
        &'a self,
        r: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<CheckoutPage, PaymentError>> {
        self.inner.start_checkout(r)
    }
    fn checkout_outcome<'a>(
        &'a self,
        s: &'a str,
    ) -> BoxFuture<'a, Result<CheckoutOutcome, PaymentError>> {
        self.inner.checkout_outcome(s)
    }
    fn create_invoice<'a>(
        &'a self,
        i: &'a InvoiceToCollect,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        self.inner.create_invoice(i)
    }
    fn finalize_invoice<'a>(
        &'a self,
        p: &'a str,
        i: &'a InvoiceToCollect,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        self.inner.finalize_invoice(p, i)
    }
    fn pay_invoice<'a>(
        &'a self,
        p: &'a str,
        i: Uuid,
        a: i32,
    ) -> BoxFuture<'a, Result<PaymentOutcome, PaymentError>> {
        self.inner.pay_invoice(p, i, a)
    }
    fn charge_off_session<'a>(
        &'a self,
        c: &'a OffSessionCharge,
    ) -> BoxFuture<'a, Result<PaymentOutcome, PaymentError>> {
        self.inner.charge_off_session(c)
    }
    fn decline_reason<'a>(
        &'a self,
        p: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, PaymentError>> {
        self.asked.lock().unwrap().push(p.to_owned());
        Box::pin(async { Ok(Some("Your card has insufficient funds.".to_owned())) })
    }
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_failed_payment_shows_the_decline_reason_of_its_payment_intent(pool: PgPool) {
    let reads = Arc::new(std::sync::OnceLock::<Arc<ReadsDeclines>>::new());
    let kept = reads.clone();
    let s = setup_with(pool, move |inner| {
        let provider = Arc::new(ReadsDeclines {
            inner,
            asked: std::sync::Mutex::default(),
        });
        kept.set(provider.clone()).unwrap();
        provider
    })
    .await;
    let (ada, id, stripe_invoice) = s.open_invoice().await;

    // As Stripe sends it: the Invoice has no `last_payment_error`.
    let failed = |event: &str, object: Value| {
        json!({ "id": event, "object": "event", "type": "invoice.payment_failed",
                "data": { "object": object } })
        .to_string()
    };
    let body = failed(
        "evt_declined",
        json!({ "id": stripe_invoice, "object": "invoice", "status": "open" }),
    );
    let signature = webhook::sign(WEBHOOK_SECRET, Utc::now().timestamp(), body.as_bytes());
    s.post_event(&body, Some(signature)).await.ok(200);
    assert_eq!(
        s.invoice(&ada, id).await["payment_error"],
        "Your card has insufficient funds."
    );
    let asked = reads.get().unwrap();
    assert_eq!(*asked.asked.lock().unwrap(), [stripe_invoice.as_str()]);

    // A finalization error is on the Invoice itself: no need to ask.
    let body = failed(
        "evt_unfinalized",
        json!({ "id": stripe_invoice, "object": "invoice", "status": "open",
                "last_finalization_error": { "message": "The customer has no tax location." } }),
    );
    let signature = webhook::sign(WEBHOOK_SECRET, Utc::now().timestamp(), body.as_bytes());
    s.post_event(&body, Some(signature)).await.ok(200);
    assert_eq!(
        s.invoice(&ada, id).await["payment_error"],
        "The customer has no tax location."
    );
    assert_eq!(asked.asked.lock().unwrap().len(), 1);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_signature_timed_at_the_ends_of_i64_is_stale_and_answered(pool: PgPool) {
    let s = setup(pool).await;
    let body = json!({ "id": "evt_edge", "object": "event", "type": "invoice.paid",
                       "data": { "object": { "id": "in_edge", "object": "invoice" } } })
    .to_string();
    for t in [i64::MIN, i64::MIN + 1, i64::MAX] {
        let signature = webhook::sign(WEBHOOK_SECRET, t, body.as_bytes());
        s.post_event(&body, Some(signature))
            .await
            .problem(400, "webhook-signature-invalid");
    }
}

/// The customer adds `card` the way the dashboard does it: a setup
/// started here, confirmed by Stripe.js, completed here.
/// The publishable key the app gives Stripe.js is `publishable_key`.
pub(crate) async fn add_card(
    app: &TestApp,
    stripe: &LocalStripe,
    customer: &Customer,
    card: &str,
    publishable_key: Option<&str>,
) -> Value {
    let billing = format!("/v1/organizations/{}/billing", customer.org_id);
    let setup = app
        .post(
            &format!("{billing}/card-setups"),
            &customer.session,
            json!(null),
        )
        .await;
    let setup_id = setup.ok(201)["id"].as_str().unwrap().to_owned();
    assert!(
        setup.body["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("seti_")
    );
    assert_eq!(setup.body["publishable_key"], json!(publishable_key));
    stripe.confirm_card_setup(&setup_id, card).await;
    let completed = app
        .post(
            &format!("{billing}/card-setups/{setup_id}/complete"),
            &customer.session,
            json!(null),
        )
        .await;
    completed.ok(200).clone()
}
