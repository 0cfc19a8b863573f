//! Invoices: created, given their items, finalized and paid, each step
//! under its own idempotency key; declines and errors classified.

use billing::payments::{PaymentError, PaymentOutcome, PaymentProvider};
use serde_json::json;

use crate::loopback::{Canned, Loopback, answer};
use crate::objects::{failed_invoice_payment, invoice, invoice_item, stripe_error};
use crate::{
    CREATED, INVOICE_ID, create_invoice_request, get, invoice_key, invoice_to_collect, post,
    provider,
};

#[tokio::test]
async fn creating_an_invoice_sends_the_customer_currency_collection_settings_and_metadata_under_a_stable_key()
 {
    let (base, recorded) = Loopback::start(vec![
        answer("POST", "/v1/invoices", 200, invoice("draft", &[])),
        answer("POST", "/v1/invoices", 200, invoice("draft", &[])),
    ])
    .await;
    let stripe = provider(&base);
    let invoice = invoice_to_collect();

    assert_eq!(stripe.create_invoice(&invoice).await.unwrap(), "in_123");
    // A retry (after a timeout, say) is the same request under the same key.
    assert_eq!(stripe.create_invoice(&invoice).await.unwrap(), "in_123");

    let create = create_invoice_request();
    assert_eq!(recorded.requests(), [create.clone(), create]);
}

#[tokio::test]
async fn finalizing_adds_one_item_per_line_then_finalizes_each_under_its_own_key() {
    let lines = [
        ("Starter plan", 2500),
        ("GiB-month, Starter plan", 150),
        ("Credit applied", -1000),
    ];
    let mut answers: Vec<Canned> = lines
        .iter()
        .enumerate()
        .map(|(n, (description, amount))| {
            answer(
                "POST",
                "/v1/invoiceitems",
                200,
                invoice_item(n + 1, description, *amount),
            )
        })
        .collect();
    answers.push(answer(
        "POST",
        "/v1/invoices/in_123/finalize",
        200,
        invoice("open", &lines),
    ));
    let (base, recorded) = Loopback::start(answers).await;

    provider(&base)
        .finalize_invoice("in_123", &invoice_to_collect())
        .await
        .unwrap();

    let item = |n: usize, description: &str, amount: &str| {
        post(
            "/v1/invoiceitems",
            &invoice_key(&format!("line-{n}")),
            &[
                ("amount", amount),
                ("currency", "usd"),
                ("customer", "cus_1"),
                ("description", description),
                ("invoice", "in_123"),
            ],
        )
    };
    assert_eq!(
        recorded.requests(),
        [
            item(1, "Starter plan", "2500"),
            item(2, "GiB-month, Starter plan", "150"),
            item(3, "Credit applied", "-1000"),
            post(
                "/v1/invoices/in_123/finalize",
                &invoice_key("finalize"),
                &[("auto_advance", "false")],
            ),
        ]
    );
}

#[tokio::test]
async fn a_declined_card_is_a_failed_payment_not_an_error() {
    let pay = |attempt: i32| {
        post(
            "/v1/invoices/in_123/pay",
            &invoice_key(&format!("pay-{attempt}")),
            &[],
        )
    };
    let declined = json!({
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds."
        }
    });
    let (base, recorded) = Loopback::start(vec![answer(
        "POST",
        "/v1/invoices/in_123/pay",
        402,
        declined,
    )])
    .await;

    let outcome = provider(&base).pay_invoice("in_123", INVOICE_ID, 1).await;

    assert_eq!(
        outcome.unwrap(),
        PaymentOutcome::Failed("Your card has insufficient funds.".to_owned())
    );
    assert_eq!(recorded.requests(), [pay(1)]);

    // The next attempt (after a new card, say) is a new request, not a
    // replay of the decline saved under the first key; it goes through.
    let paid = invoice("paid", &[("Starter plan", 2500)]);
    let (base, recorded) =
        Loopback::start(vec![answer("POST", "/v1/invoices/in_123/pay", 200, paid)]).await;

    let outcome = provider(&base).pay_invoice("in_123", INVOICE_ID, 2).await;

    assert_eq!(outcome.unwrap(), PaymentOutcome::Paid);
    assert_eq!(recorded.requests(), [pay(2)]);
}

#[tokio::test]
async fn a_server_error_is_retryable_and_a_bad_request_is_not() {
    let invoice = invoice_to_collect();

    // A 500: sent once (the caller retries later, under the same key).
    let failed = json!({
        "error": {
            "type": "api_error",
            "message": "An unknown error occurred"
        }
    });
    let (base, recorded) = Loopback::start(vec![answer("POST", "/v1/invoices", 500, failed)]).await;
    let result = provider(&base).create_invoice(&invoice).await;
    let Err(PaymentError::Unavailable(message)) = result else {
        panic!("a 500 should be retryable, got {result:?}");
    };
    assert_eq!(message, "An unknown error occurred (HTTP 500)");
    assert_eq!(recorded.requests(), [create_invoice_request()]);

    // A 400: refused, for good.
    let invalid = stripe_error(
        "invalid_request_error",
        "resource_missing",
        "No such customer: 'cus_1'",
    );
    let (base, recorded) =
        Loopback::start(vec![answer("POST", "/v1/invoices", 400, invalid)]).await;
    let result = provider(&base).create_invoice(&invoice).await;
    let Err(PaymentError::Refused(message)) = result else {
        panic!("a 400 should be refused, got {result:?}");
    };
    assert_eq!(message, "No such customer: 'cus_1' (HTTP 400)");
    assert_eq!(recorded.requests(), [create_invoice_request()]);

    // A 503 without Stripe's error body (a proxy's answer): retryable too.
    let (base, recorded) =
        Loopback::start(vec![answer("POST", "/v1/invoices", 503, json!({}))]).await;
    let result = provider(&base).create_invoice(&invoice).await;
    assert!(
        matches!(result, Err(PaymentError::Unavailable(_))),
        "an unreadable 503 should be retryable, got {result:?}"
    );
    assert_eq!(recorded.requests(), [create_invoice_request()]);

    // Nobody listening: retryable.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let result = provider(&base).create_invoice(&invoice).await;
    assert!(
        matches!(result, Err(PaymentError::Unavailable(_))),
        "an unreachable server should be retryable, got {result:?}"
    );
}

#[tokio::test]
async fn the_decline_reason_is_read_from_the_latest_payments_payment_intent() {
    let mut failed = invoice("open", &[("Starter plan", 2500)]);
    failed["payments"] = json!({
        "object": "list",
        "data": [
            failed_invoice_payment(2, CREATED + 60, "Your card has insufficient funds."),
            failed_invoice_payment(1, CREATED, "Your card was declined."),
        ],
        "has_more": false,
        "url": "/v1/invoice_payments"
    });
    let (base, recorded) =
        Loopback::start(vec![answer("GET", "/v1/invoices/in_123", 200, failed)]).await;

    let reason = provider(&base).decline_reason("in_123").await.unwrap();

    assert_eq!(reason.as_deref(), Some("Your card has insufficient funds."));
    let mut expected = get("/v1/invoices/in_123");
    expected.params = vec![(
        "expand[0]".to_owned(),
        "payments.data.payment.payment_intent".to_owned(),
    )];
    assert_eq!(recorded.requests(), [expected]);

    // An invoice with no payment says nothing.
    let (base, _) = Loopback::start(vec![answer(
        "GET",
        "/v1/invoices/in_123",
        200,
        invoice("open", &[("Starter plan", 2500)]),
    )])
    .await;
    assert_eq!(
        provider(&base).decline_reason("in_123").await.unwrap(),
        None
    );
}
