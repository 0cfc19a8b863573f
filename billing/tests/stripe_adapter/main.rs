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

mod customers;
mod invoices;
mod loopback;
mod objects;

use billing::payments::InvoiceToCollect;
use billing::payments::stripe::StripeProvider;
use chrono::DateTime;
use uuid::{Uuid, uuid};

use loopback::Received;

const SECRET: &str = "sk_test_loopback";
const INVOICE_ID: Uuid = uuid!("01980f3c-6d2a-7b41-9c3e-5a7f2b8d1e60");
const ORGANIZATION_ID: Uuid = uuid!("01980f3c-11aa-7c02-8d4e-3b6a9f0c2d17");
/// 2025-12-01T00:00:00Z and 2026-01-01T00:00:00Z: the period invoiced.
const PERIOD_START: i64 = 1_764_547_200;
const PERIOD_END: i64 = 1_767_225_600;
/// When the loopback "Stripe" created its objects.
const CREATED: i64 = 1_767_229_200;

// What the adapter is expected to send.

pub(crate) fn post(path: &str, idempotency_key: &str, params: &[(&str, &str)]) -> Received {
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
pub(crate) fn get(path: &str) -> Received {
    Received {
        method: "GET".to_owned(),
        path: path.to_owned(),
        params: Vec::new(),
        idempotency_key: None,
        authorization: Some(format!("Bearer {SECRET}")),
    }
}

pub(crate) fn invoice_key(step: &str) -> String {
    format!("qm-invoice-{INVOICE_ID}-{step}")
}

/// `create_invoice(&invoice_to_collect())`, as Stripe should receive it.
pub(crate) fn create_invoice_request() -> Received {
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

pub(crate) fn provider(base: &str) -> StripeProvider {
    StripeProvider::new(SECRET, Some(base)).unwrap()
}

pub(crate) fn invoice_to_collect() -> InvoiceToCollect {
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
