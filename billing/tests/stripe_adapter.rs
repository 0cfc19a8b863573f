//! The Stripe adapter against a loopback server that stands in for Stripe.
//!
//! localstripe lacks some of the calls the adapter makes (a one-off invoice,
//! finalizing it), so each test starts a small HTTP server on 127.0.0.1 that
//! records every request exactly as it arrived and answers with the object
//! Stripe's API reference documents. Each test then asserts the whole list
//! of requests: the calls, their order, their parameters and their
//! idempotency keys.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on the first unexpected value"
)]
// `json!` of a whole Stripe invoice nests deeper than the default allows.
#![recursion_limit = "256"]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use billing::payments::stripe::StripeProvider;
use billing::payments::{
    CardSetup, CheckoutOutcome, CheckoutPage, CheckoutRequest, InvoiceToCollect, NewCustomer,
    PaymentError, PaymentOutcome, PaymentProvider,
};
use chrono::DateTime;
use serde_json::{Value, json};
use uuid::{Uuid, uuid};

const SECRET: &str = "sk_test_loopback";
const INVOICE_ID: Uuid = uuid!("01980f3c-6d2a-7b41-9c3e-5a7f2b8d1e60");
const ORGANIZATION_ID: Uuid = uuid!("01980f3c-11aa-7c02-8d4e-3b6a9f0c2d17");
/// 2025-12-01T00:00:00Z and 2026-01-01T00:00:00Z: the period invoiced.
const PERIOD_START: i64 = 1_764_547_200;
const PERIOD_END: i64 = 1_767_225_600;
/// When the loopback "Stripe" created its objects.
const CREATED: i64 = 1_767_229_200;

// ---------------------------------------------------------------------------
// The loopback server
// ---------------------------------------------------------------------------

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Received {
    method: String,
    path: String,
    /// Query and form parameters, decoded (`metadata[number]`), sorted.
    params: Vec<(String, String)>,
    idempotency_key: Option<String>,
    authorization: Option<String>,
}

/// The answer to the next request with this method and path.
#[derive(Debug)]
struct Canned {
    method: &'static str,
    path: String,
    status: StatusCode,
    body: Value,
}

fn answer(method: &'static str, path: &str, status: u16, body: Value) -> Canned {
    Canned {
        method,
        path: path.to_owned(),
        status: StatusCode::from_u16(status).unwrap(),
        body,
    }
}

/// Everything the server received, in order.
#[derive(Debug, Clone, Default)]
struct Recorded(Arc<Mutex<Vec<Received>>>);

impl Recorded {
    fn requests(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
}

/// A stand-in for Stripe: answers each request with the first canned answer
/// for its method and path (a 404 Stripe error when there is none left).
#[derive(Debug)]
struct Loopback {
    answers: Mutex<VecDeque<Canned>>,
    recorded: Recorded,
}

impl Loopback {
    /// Serves `answers` on 127.0.0.1; returns the API base and the record.
    async fn start(answers: Vec<Canned>) -> (String, Recorded) {
        let recorded = Recorded::default();
        let server = Arc::new(Loopback {
            answers: Mutex::new(answers.into()),
            recorded: recorded.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let app = Router::new().fallback(Loopback::handle).with_state(server);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, recorded)
    }

    async fn handle(
        State(server): State<Arc<Loopback>>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let header = |name: &str| {
            headers
                .get(name)
                .map(|value| value.to_str().unwrap().to_owned())
        };
        let mut params = decode(uri.query().unwrap_or_default().as_bytes());
        params.extend(decode(&body));
        params.sort();
        server.recorded.0.lock().unwrap().push(Received {
            method: method.to_string(),
            path: uri.path().to_owned(),
            params,
            idempotency_key: header("idempotency-key"),
            authorization: header("authorization"),
        });
        let mut answers = server.answers.lock().unwrap();
        let next = answers
            .iter()
            .position(|a| a.method == method.as_str() && a.path == uri.path());
        match next.and_then(|i| answers.remove(i)) {
            Some(canned) => (canned.status, Json(canned.body)).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                Json(stripe_error(
                    "invalid_request_error",
                    "resource_missing",
                    &format!("Unrecognized request URL ({method}: {})", uri.path()),
                )),
            )
                .into_response(),
        }
    }
}

/// `application/x-www-form-urlencoded` into (key, value) pairs:
/// `metadata%5Bnumber%5D=QM-000001` is `("metadata[number]", "QM-000001")`.
fn decode(form: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(form).into_owned().collect()
}

// ---------------------------------------------------------------------------
// What the adapter is expected to send
// ---------------------------------------------------------------------------

fn post(path: &str, idempotency_key: &str, params: &[(&str, &str)]) -> Received {
    let mut params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    params.sort();
    Received {
        method: "POST".to_owned(),
        path: path.to_owned(),
        params,
        idempotency_key: Some(idempotency_key.to_owned()),
        authorization: Some(format!("Bearer {SECRET}")),
    }
}

/// A read: no parameters and no idempotency key.
fn get(path: &str) -> Received {
    Received {
        method: "GET".to_owned(),
        path: path.to_owned(),
        params: Vec::new(),
        idempotency_key: None,
        authorization: Some(format!("Bearer {SECRET}")),
    }
}

fn invoice_key(step: &str) -> String {
    format!("qm-invoice-{INVOICE_ID}-{step}")
}

/// `create_invoice(&invoice_to_collect())`, as Stripe should receive it.
fn create_invoice_request() -> Received {
    let invoice_id = INVOICE_ID.to_string();
    post(
        "/v1/invoices",
        &invoice_key("create"),
        &[
            ("auto_advance", "false"),
            ("collection_method", "charge_automatically"),
            ("currency", "usd"),
            ("customer", "cus_1"),
            ("metadata[invoice_id]", &invoice_id),
            ("metadata[number]", "QM-000001"),
            ("pending_invoice_items_behavior", "exclude"),
        ],
    )
}

fn provider(base: &str) -> StripeProvider {
    StripeProvider::new(SECRET, Some(base)).unwrap()
}

fn invoice_to_collect() -> InvoiceToCollect {
    InvoiceToCollect {
        invoice_id: INVOICE_ID,
        number: "QM-000001".to_owned(),
        customer: "cus_1".to_owned(),
        currency: "usd".to_owned(),
        period_start: DateTime::from_timestamp(PERIOD_START, 0).unwrap(),
        period_end: DateTime::from_timestamp(PERIOD_END, 0).unwrap(),
        lines: vec![
            ("Starter plan".to_owned(), 2500),
            ("GiB-month, Starter plan".to_owned(), 150),
            ("Credit applied".to_owned(), -1000),
        ],
    }
}

// ---------------------------------------------------------------------------
// Stripe's objects, as its API reference documents them
// ---------------------------------------------------------------------------

/// An invoice `in_123` of `cus_1` in `status`, with these invoice items.
fn invoice(status: &str, items: &[(&str, i64)]) -> Value {
    let total: i64 = items.iter().map(|(_, amount)| amount).sum();
    let finalized = (status != "draft").then_some(CREATED);
    let paid = status == "paid";
    let lines: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(n, (description, amount))| line_item(n + 1, description, *amount))
        .collect();
    json!({
        "id": "in_123",
        "object": "invoice",
        "account_country": "US",
        "account_name": "Quartermaster",
        "account_tax_ids": null,
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": if paid { total } else { 0 },
        "amount_remaining": if paid { 0 } else { total },
        "amount_shipping": 0,
        "application": null,
        "attempt_count": i32::from(paid),
        "attempted": paid,
        "auto_advance": false,
        "automatic_tax": {
            "disabled_reason": null,
            "enabled": false,
            "liability": null,
            "provider": null,
            "status": null
        },
        "automatically_finalizes_at": null,
        "billing_reason": "manual",
        "collection_method": "charge_automatically",
        "created": CREATED,
        "currency": "usd",
        "custom_fields": null,
        "customer": "cus_1",
        "customer_address": null,
        "customer_email": "billing@acme.example",
        "customer_name": "Acme",
        "customer_phone": null,
        "customer_shipping": null,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "due_date": null,
        "effective_at": finalized,
        "ending_balance": finalized.map(|_| 0),
        "footer": null,
        "from_invoice": null,
        "hosted_invoice_url": finalized.map(|_| "https://invoice.stripe.com/i/acct_1/test_in_123"),
        "invoice_pdf": finalized.map(|_| "https://pay.stripe.com/invoice/acct_1/test_in_123/pdf"),
        "issuer": { "type": "self" },
        "last_finalization_error": null,
        "latest_revision": null,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": false,
            "total_count": items.len(),
            "url": "/v1/invoices/in_123/lines"
        },
        "livemode": false,
        "metadata": {
            "invoice_id": INVOICE_ID.to_string(),
            "number": "QM-000001"
        },
        "next_payment_attempt": null,
        "number": finalized.map(|_| "A1B2C3D4-0001"),
        "on_behalf_of": null,
        "parent": null,
        "payment_settings": {
            "default_mandate": null,
            "payment_method_options": null,
            "payment_method_types": null
        },
        "period_end": CREATED,
        "period_start": CREATED,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": null,
        "rendering": null,
        "shipping_cost": null,
        "shipping_details": null,
        "starting_balance": 0,
        "statement_descriptor": null,
        "status": status,
        "status_transitions": {
            "finalized_at": finalized,
            "marked_uncollectible_at": null,
            "paid_at": paid.then_some(CREATED),
            "voided_at": null
        },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": null,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_taxes": [],
        "webhooks_delivered_at": CREATED
    })
}

/// The `n`th line of `in_123`, from the invoice item `ii_n`.
fn line_item(n: usize, description: &str, amount: i64) -> Value {
    json!({
        "id": format!("il_{n}"),
        "object": "line_item",
        "amount": amount,
        "currency": "usd",
        "description": description,
        "discount_amounts": [],
        "discountable": amount > 0,
        "discounts": [],
        "invoice": "in_123",
        "livemode": false,
        "metadata": {},
        "parent": {
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": format!("ii_{n}"),
                "proration": false,
                "proration_details": { "credited_items": null },
                "subscription": null
            },
            "subscription_item_details": null
        },
        "period": { "end": CREATED, "start": CREATED },
        "pretax_credit_amounts": [],
        "pricing": null,
        "quantity": 1,
        "taxes": []
    })
}

/// The invoice item `ii_n` added to `in_123`.
fn invoice_item(n: usize, description: &str, amount: i64) -> Value {
    json!({
        "id": format!("ii_{n}"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": "usd",
        "customer": "cus_1",
        "date": CREATED,
        "description": description,
        "discountable": amount > 0,
        "discounts": [],
        "invoice": "in_123",
        "livemode": false,
        "metadata": {},
        "net_amount": amount,
        "parent": null,
        "period": { "end": CREATED, "start": CREATED },
        "pricing": null,
        "proration": false,
        "quantity": 1,
        "tax_rates": [],
        "test_clock": null
    })
}

/// The customer `cus_1` of the organization, paying with `default_card`.
fn customer(default_card: Option<&str>) -> Value {
    json!({
        "id": "cus_1",
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": CREATED,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": null,
        "discount": null,
        "email": "billing@acme.example",
        "invoice_prefix": "A1B2C3D4",
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": default_card,
            "footer": null,
            "rendering_options": null
        },
        "livemode": false,
        "metadata": { "organization_id": ORGANIZATION_ID.to_string() },
        "name": "Acme",
        "next_invoice_sequence": 1,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null
    })
}

/// The SetupIntent `seti_1` of `customer`, in `status`.
fn setup_intent(customer: &str, status: &str, payment_method: Option<&str>) -> Value {
    json!({
        "id": "seti_1",
        "object": "setup_intent",
        "application": null,
        "automatic_payment_methods": null,
        "cancellation_reason": null,
        "client_secret": "seti_1_secret_Qm7x2Yc9LrVt",
        "created": CREATED,
        "customer": customer,
        "description": null,
        "flow_directions": null,
        "last_setup_error": null,
        "latest_attempt": payment_method.map(|_| "setatt_1"),
        "livemode": false,
        "mandate": null,
        "metadata": {},
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": payment_method,
        "payment_method_configuration_details": null,
        "payment_method_options": {
            "card": {
                "mandate_options": null,
                "network": null,
                "request_three_d_secure": "automatic"
            }
        },
        "payment_method_types": ["card"],
        "single_use_mandate": null,
        "status": status,
        "usage": "off_session"
    })
}

/// The Checkout Session `cs_test_1` of `cus_1` in setup mode, in `status`.
fn checkout_session(status: &str) -> Value {
    json!({
        "id": "cs_test_1",
        "object": "checkout.session",
        "cancel_url": "https://qm.test/orgs/o/billing",
        "client_reference_id": ORGANIZATION_ID.to_string(),
        "created": CREATED,
        "currency": "usd",
        "customer": "cus_1",
        "customer_email": null,
        "expires_at": CREATED + 86_400,
        "livemode": false,
        "metadata": { "organization_id": ORGANIZATION_ID.to_string(), "plan": "starter" },
        "mode": "setup",
        "payment_intent": null,
        "payment_method_types": ["card"],
        "payment_status": "no_payment_required",
        "setup_intent": "seti_1",
        "status": status,
        "success_url": "https://qm.test/orgs/o/billing/checkout?session_id={CHECKOUT_SESSION_ID}",
        "ui_mode": "hosted",
        "url": (status == "open").then_some("https://checkout.stripe.com/c/pay/cs_test_1")
    })
}

fn stripe_error(kind: &str, code: &str, message: &str) -> Value {
    json!({
        "error": {
            "type": kind,
            "code": code,
            "doc_url": format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")),
            "message": message,
            "request_log_url": "https://dashboard.stripe.com/test/logs/req_1"
        }
    })
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

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
        plan: "starter".to_owned(),
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
