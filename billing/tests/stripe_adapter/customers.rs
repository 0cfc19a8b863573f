//! Customers, cards saved through a SetupIntent, and Checkout sessions.

use billing::payments::{
    CardSetup, CheckoutOutcome, CheckoutPage, CheckoutPurpose, CheckoutRequest, NewCustomer,
    OffSessionCharge, PaymentError, PaymentOutcome, PaymentProvider,
};

use crate::loopback::{Loopback, answer};
use serde_json::Value;

use crate::objects::{
    checkout_session, credit_checkout_session, customer, payment_intent, setup_intent, stripe_error,
};
use crate::{ORGANIZATION_ID, get, post, provider};

#[tokio::test]
async fn completing_a_card_setup_checks_its_customer_and_status_then_sets_the_default_card() {
    let retrieve = || get("/v1/setup_intents/seti_1");
    let intent = |body: Value| answer("GET", "/v1/setup_intents/seti_1", 200, body);

    // Succeeded, for this customer: its card becomes the default.
    let (base, recorded) = Loopback::start(vec![
        intent(setup_intent("cus_1", "succeeded", Some("pm_1"))),
        answer("POST", "/v1/customers/cus_1", 200, customer(Some("pm_1"))),
    ])
    .await;
    let card = provider(&base).complete_card_setup("cus_1", "seti_1").await;
    assert_eq!(card.unwrap(), "pm_1");
    assert_eq!(
        recorded.requests(),
        [
            retrieve(),
            post(
                "/v1/customers/cus_1",
                "qm-default-pm-cus_1-pm_1",
                &[("invoice_settings[default_payment_method]", "pm_1")],
            ),
        ]
    );

    // Another customer's setup: refused, and no customer is changed.
    let (base, recorded) = Loopback::start(vec![intent(setup_intent(
        "cus_other",
        "succeeded",
        Some("pm_1"),
    ))])
    .await;
    let result = provider(&base).complete_card_setup("cus_1", "seti_1").await;
    assert!(
        matches!(result, Err(PaymentError::Refused(_))),
        "another customer's card setup should be refused, got {result:?}"
    );
    assert_eq!(recorded.requests(), [retrieve()]);

    // A setup the customer has not confirmed yet: refused too.
    let (base, recorded) = Loopback::start(vec![intent(setup_intent(
        "cus_1",
        "requires_payment_method",
        None,
    ))])
    .await;
    let result = provider(&base).complete_card_setup("cus_1", "seti_1").await;
    assert!(
        matches!(result, Err(PaymentError::Refused(_))),
        "an unfinished card setup should be refused, got {result:?}"
    );
    assert_eq!(recorded.requests(), [retrieve()]);
}

#[tokio::test]
async fn creating_a_customer_names_the_organization_under_a_key_per_organization() {
    let (base, recorded) =
        Loopback::start(vec![answer("POST", "/v1/customers", 200, customer(None))]).await;
    let new = NewCustomer {
        organization_id: ORGANIZATION_ID,
        name: "Acme".to_owned(),
        email: Some("billing@acme.example".to_owned()),
    };

    assert_eq!(
        provider(&base).create_customer(&new).await.unwrap(),
        "cus_1"
    );

    let organization_id = ORGANIZATION_ID.to_string();
    assert_eq!(
        recorded.requests(),
        [post(
            "/v1/customers",
            &format!("qm-customer-{ORGANIZATION_ID}"),
            &[
                ("email", "billing@acme.example"),
                ("metadata[organization_id]", &organization_id),
                ("name", "Acme"),
            ],
        )]
    );
}

#[tokio::test]
async fn starting_a_card_setup_asks_for_an_off_session_intent_under_the_callers_key() {
    let (base, recorded) = Loopback::start(vec![answer(
        "POST",
        "/v1/setup_intents",
        200,
        setup_intent("cus_1", "requires_payment_method", None),
    )])
    .await;

    let setup = provider(&base).start_card_setup("cus_1", "req-42").await;

    assert_eq!(
        setup.unwrap(),
        CardSetup {
            id: "seti_1".to_owned(),
            client_secret: "seti_1_secret_Qm7x2Yc9LrVt".to_owned(),
        }
    );
    assert_eq!(
        recorded.requests(),
        [post(
            "/v1/setup_intents",
            "qm-setup-req-42",
            &[("customer", "cus_1"), ("usage", "off_session")],
        )]
    );
}

#[tokio::test]
async fn a_checkout_opens_in_setup_mode_for_the_plan_and_names_its_card_setup_only_once_complete() {
    let session = "/v1/checkout/sessions/cs_test_1";
    let (base, recorded) = Loopback::start(vec![
        answer(
            "POST",
            "/v1/checkout/sessions",
            200,
            checkout_session("open"),
        ),
        answer("GET", session, 200, checkout_session("open")),
        answer("GET", session, 200, checkout_session("complete")),
    ])
    .await;
    let stripe = provider(&base);
    let request = CheckoutRequest {
        organization_id: ORGANIZATION_ID,
        customer: "cus_1".to_owned(),
        purpose: CheckoutPurpose::Plan("starter".to_owned()),
        currency: "usd".to_owned(),
        success_url: "https://qm.test/orgs/o/billing/checkout?session_id={CHECKOUT_SESSION_ID}"
            .to_owned(),
        cancel_url: "https://qm.test/orgs/o/billing".to_owned(),
        idempotency_key: "click-7".to_owned(),
    };

    let page = stripe.start_checkout(&request).await.unwrap();
    let unfinished = stripe.checkout_outcome("cs_test_1").await.unwrap();
    let finished = stripe.checkout_outcome("cs_test_1").await.unwrap();

    assert_eq!(
        page,
        CheckoutPage {
            id: "cs_test_1".to_owned(),
            url: "https://checkout.stripe.com/c/pay/cs_test_1".to_owned(),
        }
    );
    assert_eq!(
        unfinished.setup_id, None,
        "the customer has not saved a card yet"
    );
    assert_eq!(
        finished,
        CheckoutOutcome {
            id: "cs_test_1".to_owned(),
            customer: Some("cus_1".to_owned()),
            setup_id: Some("seti_1".to_owned()),
            plan: Some("starter".to_owned()),
            paid_minor: None,
        }
    );
    let organization = ORGANIZATION_ID.to_string();
    assert_eq!(
        recorded.requests(),
        [
            post(
                "/v1/checkout/sessions",
                "qm-checkout-click-7",
                &[
                    ("cancel_url", "https://qm.test/orgs/o/billing"),
                    ("client_reference_id", &organization),
                    ("currency", "usd"),
                    ("customer", "cus_1"),
                    ("metadata[organization_id]", &organization),
                    ("metadata[plan]", "starter"),
                    ("mode", "setup"),
                    (
                        "success_url",
                        "https://qm.test/orgs/o/billing/checkout?session_id={CHECKOUT_SESSION_ID}",
                    ),
                ],
            ),
            get(session),
            get(session),
        ]
    );
}

#[tokio::test]
async fn a_credit_checkout_opens_in_payment_mode_with_one_line_of_the_amount_and_counts_once_paid()
{
    let session = "/v1/checkout/sessions/cs_test_2";
    let (base, recorded) = Loopback::start(vec![
        answer(
            "POST",
            "/v1/checkout/sessions",
            200,
            credit_checkout_session("open", "unpaid"),
        ),
        answer(
            "GET",
            session,
            200,
            credit_checkout_session("complete", "paid"),
        ),
    ])
    .await;
    let stripe = provider(&base);
    let request = CheckoutRequest {
        organization_id: ORGANIZATION_ID,
        customer: "cus_1".to_owned(),
        purpose: CheckoutPurpose::Credit { amount_minor: 2500 },
        currency: "usd".to_owned(),
        success_url: "https://qm.test/orgs/o/billing?credit_checkout={CHECKOUT_SESSION_ID}"
            .to_owned(),
        cancel_url: "https://qm.test/orgs/o/billing".to_owned(),
        idempotency_key: "click-8".to_owned(),
    };

    let page = stripe.start_checkout(&request).await.unwrap();
    let paid = stripe.checkout_outcome("cs_test_2").await.unwrap();

    assert_eq!(page.id, "cs_test_2");
    assert_eq!((paid.paid_minor, paid.setup_id), (Some(2500), None));
    let organization = ORGANIZATION_ID.to_string();
    assert_eq!(
        recorded.requests(),
        [
            post(
                "/v1/checkout/sessions",
                "qm-checkout-click-8",
                &[
                    ("cancel_url", "https://qm.test/orgs/o/billing"),
                    ("client_reference_id", &organization),
                    ("customer", "cus_1"),
                    ("line_items[0][price_data][currency]", "usd"),
                    (
                        "line_items[0][price_data][product_data][name]",
                        "Prepaid credit"
                    ),
                    ("line_items[0][price_data][unit_amount]", "2500"),
                    ("line_items[0][quantity]", "1"),
                    ("metadata[organization_id]", &organization),
                    ("metadata[purpose]", "credit"),
                    ("mode", "payment"),
                    (
                        "success_url",
                        "https://qm.test/orgs/o/billing?credit_checkout={CHECKOUT_SESSION_ID}",
                    ),
                ],
            ),
            get(session),
        ]
    );
}

#[tokio::test]
async fn an_off_session_charge_uses_the_default_card_once_per_key_and_reads_a_decline() {
    let charge = OffSessionCharge {
        customer: "cus_1".to_owned(),
        amount_minor: 5000,
        currency: "usd".to_owned(),
        description: "Prepaid credit top-up".to_owned(),
        reference: ("top_up_id".to_owned(), "t-1".to_owned()),
        idempotency_key: "top-up-t-1".to_owned(),
    };
    let expected = || {
        [
            get("/v1/customers/cus_1"),
            post(
                "/v1/payment_intents",
                "qm-charge-top-up-t-1",
                &[
                    ("amount", "5000"),
                    ("confirm", "true"),
                    ("currency", "usd"),
                    ("customer", "cus_1"),
                    ("description", "Prepaid credit top-up"),
                    ("metadata[top_up_id]", "t-1"),
                    ("off_session", "true"),
                    ("payment_method", "pm_1"),
                ],
            ),
        ]
    };

    let (base, recorded) = Loopback::start(vec![
        answer("GET", "/v1/customers/cus_1", 200, customer(Some("pm_1"))),
        answer(
            "POST",
            "/v1/payment_intents",
            200,
            payment_intent("succeeded"),
        ),
    ])
    .await;
    let paid = provider(&base).charge_off_session(&charge).await.unwrap();
    assert_eq!(paid, PaymentOutcome::Paid);
    assert_eq!(recorded.requests(), expected());

    // A decline is Stripe's card error (HTTP 402): an answer, not a failure.
    let (base, recorded) = Loopback::start(vec![
        answer("GET", "/v1/customers/cus_1", 200, customer(Some("pm_1"))),
        answer(
            "POST",
            "/v1/payment_intents",
            402,
            stripe_error("card_error", "card_declined", "Your card was declined."),
        ),
    ])
    .await;
    let declined = provider(&base).charge_off_session(&charge).await.unwrap();
    assert_eq!(
        declined,
        PaymentOutcome::Failed("Your card was declined.".to_owned())
    );
    assert_eq!(recorded.requests(), expected());

    // No default card: nothing is charged.
    let (base, recorded) = Loopback::start(vec![answer(
        "GET",
        "/v1/customers/cus_1",
        200,
        customer(None),
    )])
    .await;
    let none = provider(&base).charge_off_session(&charge).await.unwrap();
    assert_eq!(none, PaymentOutcome::Failed("no card on file".to_owned()));
    assert_eq!(recorded.requests(), [get("/v1/customers/cus_1")]);
}
