//! Stripe's objects as its API reference documents them: what the
//! loopback server answers with.

use serde_json::{Value, json};

use crate::{CREATED, INVOICE_ID, ORGANIZATION_ID};

/// An invoice `in_123` of `cus_1` in `status`, with these invoice items.
pub(crate) fn invoice(status: &str, items: &[(&str, i64)]) -> Value {
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
pub(crate) fn line_item(n: usize, description: &str, amount: i64) -> Value {
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
pub(crate) fn invoice_item(n: usize, description: &str, amount: i64) -> Value {
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
pub(crate) fn customer(default_card: Option<&str>) -> Value {
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
pub(crate) fn setup_intent(customer: &str, status: &str, payment_method: Option<&str>) -> Value {
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
pub(crate) fn checkout_session(status: &str) -> Value {
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

/// A payment-mode session `cs_test_2` buying $25.00 of credit: the
/// setup-mode session with the fields payment mode changes.
pub(crate) fn credit_checkout_session(status: &str, payment_status: &str) -> Value {
    let paid = payment_status == "paid";
    let mut session = checkout_session(status);
    let payment = json!({
        "id": "cs_test_2",
        "amount_subtotal": 2500,
        "amount_total": 2500,
        "metadata": { "organization_id": ORGANIZATION_ID.to_string(), "purpose": "credit" },
        "mode": "payment",
        "payment_intent": paid.then_some("pi_1"),
        "payment_status": payment_status,
        "setup_intent": null,
        "success_url": "https://qm.test/orgs/o/billing?credit_checkout={CHECKOUT_SESSION_ID}",
        "url": (status == "open").then_some("https://checkout.stripe.com/c/pay/cs_test_2")
    });
    if let (Some(session), Value::Object(payment)) = (session.as_object_mut(), payment) {
        session.extend(payment);
    }
    session
}

/// A PaymentIntent `pi_1` of $50.00 for `cus_1`'s card `pm_1`, in `status`.
pub(crate) fn payment_intent(status: &str) -> Value {
    json!({
        "id": "pi_1",
        "object": "payment_intent",
        "amount": 5000,
        "amount_capturable": 0,
        "amount_received": if status == "succeeded" { 5000 } else { 0 },
        "capture_method": "automatic",
        "client_secret": "pi_1_secret_Zx81",
        "confirmation_method": "automatic",
        "created": CREATED,
        "currency": "usd",
        "customer": "cus_1",
        "description": "Prepaid credit top-up",
        "last_payment_error": null,
        "latest_charge": (status == "succeeded").then_some("ch_1"),
        "livemode": false,
        "metadata": { "top_up_id": "t-1" },
        "next_action": null,
        "payment_method": "pm_1",
        "payment_method_types": ["card"],
        "setup_future_usage": null,
        "status": status
    })
}

pub(crate) fn stripe_error(kind: &str, code: &str, message: &str) -> Value {
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

/// A payment of `in_123` made `created`, its PaymentIntent expanded, which
/// failed with `message` (Stripe's `invoice_payment` and `payment_intent`).
pub(crate) fn failed_invoice_payment(n: usize, created: i64, message: &str) -> Value {
    json!({
        "id": format!("inpay_{n}"),
        "object": "invoice_payment",
        "amount_paid": null,
        "amount_requested": 2500,
        "created": created,
        "currency": "usd",
        "invoice": "in_123",
        "is_default": true,
        "livemode": false,
        "payment": {
            "type": "payment_intent",
            "payment_intent": {
                "id": format!("pi_{n}"),
                "object": "payment_intent",
                "amount": 2500,
                "currency": "usd",
                "customer": "cus_1",
                "created": created,
                "livemode": false,
                "status": "requires_payment_method",
                "last_payment_error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": message
                }
            }
        },
        "status": "open",
        "status_transitions": { "canceled_at": null, "paid_at": null }
    })
}
