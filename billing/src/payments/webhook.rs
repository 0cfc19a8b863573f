//! Payment provider webhooks: signature verification and the few facts
//! Quartermaster reads from an event.
//!
//! Stripe signs `"{timestamp}.{body}"` with HMAC-SHA256 under the endpoint's
//! secret and sends `Stripe-Signature: t=<timestamp>,v1=<hex>[,v1=…]`. An event
//! is accepted only with a matching `v1` signature made within the tolerance,
//! so a captured event cannot be replayed later. Quartermaster signs its own
//! outgoing webhooks the same way ([`sign_all`]), so that receivers can use
//! what they already wrote for Stripe.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// How old a signed event may be.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the signature header is missing or malformed")]
    MalformedSignature,
    #[error("no signature matches the payload")]
    BadSignature,
    #[error("the signature is more than {TOLERANCE_SECONDS} s old or in the future")]
    Stale,
    #[error("the event is not JSON of the expected shape: {0}")]
    Payload(String),
}

/// Checks `header` against `body` at time `now`.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => {
                signatures.push(decode_hex(sig).ok_or(WebhookError::MalformedSignature)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::MalformedSignature)?;
    if signatures.is_empty() {
        return Err(WebhookError::MalformedSignature);
    }
    let expected = mac(secret, timestamp, body);
    // Constant-time comparison, through `verify_slice`.
    let matched = signatures
        .iter()
        .any(|sig| expected.clone().verify_slice(sig).is_ok());
    if !matched {
        return Err(WebhookError::BadSignature);
    }
    // Checked: a signed `t` near `i64::MIN` or `MAX` must be stale, not an
    // overflow that kills the connection.
    let age = now
        .timestamp()
        .checked_sub(timestamp)
        .and_then(i64::checked_abs);
    if age.is_none_or(|age| age > TOLERANCE_SECONDS) {
        return Err(WebhookError::Stale);
    }
    Ok(())
}

/// The header value Stripe would send for `body` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    sign_all(&[secret], timestamp, body)
}

/// The header value for `body` at `timestamp` with one `v1` per secret, as
/// Stripe sends during a secret's rotation: a receiver holding either one
/// accepts it.
pub fn sign_all(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let tag = mac(secret, timestamp, body).finalize().into_bytes();
        header.push_str(",v1=");
        header.extend(tag.iter().map(|b| format!("{b:02x}")));
    }
    header
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What an event tells Quartermaster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    InvoicePaid {
        provider_invoice_id: String,
    },
    InvoicePaymentFailed {
        provider_invoice_id: String,
        /// Why the invoice could not be finalized, when that is what failed;
        /// a declined payment's reason is on its PaymentIntent instead
        /// ([`super::PaymentProvider::decline_reason`]).
        reason: Option<String>,
    },
    /// A card setup (a SetupIntent) succeeded.
    CardSetupSucceeded {
        customer: String,
        setup_id: String,
    },
    /// The customer finished a checkout page (and may never come back to
    /// the success URL).
    CheckoutCompleted(super::CheckoutOutcome),
    /// Any other type: acknowledged and ignored.
    Other,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: Data,
}

#[derive(Debug, Deserialize)]
struct Data {
    object: serde_json::Value,
}

/// Reads the event's id, type and the facts of [`PaymentEvent`]. Only the
/// fields used are read, so an event with more (or a newer API version's)
/// fields is accepted.
pub fn parse(body: &[u8]) -> Result<(String, String, PaymentEvent), WebhookError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| WebhookError::Payload(e.to_string()))?;
    let object = &envelope.data.object;
    let field = |name: &str| -> Result<String, WebhookError> {
        object
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| WebhookError::Payload(format!("data.object.{name} is missing")))
    };
    let event = match envelope.kind.as_str() {
        "invoice.paid" | "invoice.payment_succeeded" => PaymentEvent::InvoicePaid {
            provider_invoice_id: field("id")?,
        },
        "invoice.payment_failed" => PaymentEvent::InvoicePaymentFailed {
            provider_invoice_id: field("id")?,
            reason: object
                .pointer("/last_finalization_error/message")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
        },
        "setup_intent.succeeded" => PaymentEvent::CardSetupSucceeded {
            customer: field("customer")?,
            setup_id: field("id")?,
        },
        // A delayed payment method completes the session unpaid and pays
        // later: the second event carries the session again, now paid.
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let status = object.get("status").and_then(|v| v.as_str());
            PaymentEvent::CheckoutCompleted(
                super::CheckoutOutcome::new(
                    field("id")?,
                    status,
                    field("customer").ok(),
                    field("setup_intent").ok(),
                    object
                        .pointer("/metadata/plan")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned),
                )
                .with_payment(
                    status,
                    object.get("payment_status").and_then(|v| v.as_str()),
                    object.get("amount_total").and_then(|v| v.as_i64()),
                ),
            )
        }
        _ => PaymentEvent::Other,
    };
    Ok((envelope.id, envelope.kind, event))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const SECRET: &str = "whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1"}}}"#;

    fn at(t: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(t, 0).unwrap()
    }

    #[test]
    fn a_signed_event_verifies_and_parses() {
        let header = sign(SECRET, 1_700_000_000, BODY);
        assert_eq!(verify(SECRET, &header, BODY, at(1_700_000_100)), Ok(()));
        let (id, kind, event) = parse(BODY).unwrap();
        assert_eq!((id.as_str(), kind.as_str()), ("evt_1", "invoice.paid"));
        assert_eq!(
            event,
            PaymentEvent::InvoicePaid {
                provider_invoice_id: "in_1".to_owned()
            }
        );
    }

    #[test]
    fn a_signed_timestamp_at_the_ends_of_i64_is_stale_not_a_panic() {
        for t in [i64::MIN, i64::MIN + 1, i64::MAX] {
            let header = sign(SECRET, t, BODY);
            assert_eq!(
                verify(SECRET, &header, BODY, at(1_700_000_000)),
                Err(WebhookError::Stale),
                "t={t}"
            );
        }
    }

    proptest::proptest! {
        /// Any header at all, against any body: an answer, never a panic.
        #[test]
        fn the_signature_parser_answers_whatever_the_header(
            header in ".{0,200}",
            t in proptest::num::i64::ANY,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            let _ = verify(SECRET, &header, &body, at(1_700_000_000));
            let signed = sign(SECRET, t, &body);
            let _ = verify(SECRET, &format!("{signed},{header}"), &body, at(1_700_000_000));
            let _ = verify(SECRET, &format!("{header},{signed}"), &body, at(1_700_000_000));
        }
    }

    #[test]
    fn the_signature_matches_stripes_documented_scheme() {
        // HMAC-SHA256("key", "1.x"), computed independently with openssl:
        // printf '1.x' | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign("key", 1, b"x"),
            "t=1,v1=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
        );
    }

    #[test]
    fn a_header_signed_with_two_secrets_verifies_with_either_and_no_other() {
        let header = sign_all(&["whsec_new", "whsec_old"], 1_700_000_000, BODY);
        assert_eq!(header.matches(",v1=").count(), 2, "{header}");
        assert!(header.starts_with(&sign("whsec_new", 1_700_000_000, BODY)));
        for secret in ["whsec_new", "whsec_old"] {
            assert_eq!(verify(secret, &header, BODY, at(1_700_000_001)), Ok(()));
        }
        assert_eq!(
            verify("whsec_other", &header, BODY, at(1_700_000_001)),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn forged_tampered_stale_and_malformed_signatures_are_refused() {
        let header = sign(SECRET, 1_700_000_000, BODY);
        let now = at(1_700_000_000);
        assert_eq!(
            verify("whsec_other", &header, BODY, now),
            Err(WebhookError::BadSignature)
        );
        let tampered = br#"{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_2"}}}"#;
        assert_eq!(
            verify(SECRET, &header, tampered, now),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(SECRET, &header, BODY, at(1_700_000_000 + 301)),
            Err(WebhookError::Stale)
        );
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz"] {
            assert!(verify(SECRET, bad, BODY, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_completed_checkout_names_its_card_setup_and_plan_and_an_open_one_does_not() {
        let event = |status: &str| {
            format!(
                r#"{{"id":"evt_2","type":"checkout.session.completed","data":{{"object":{{
                    "id":"cs_1","object":"checkout.session","mode":"setup","status":"{status}",
                    "customer":"cus_1","setup_intent":"seti_1","metadata":{{"plan":"starter"}}}}}}}}"#
            )
        };
        let (_, kind, completed) = parse(event("complete").as_bytes()).unwrap();
        assert_eq!(kind, "checkout.session.completed");
        assert_eq!(
            completed,
            PaymentEvent::CheckoutCompleted(crate::payments::CheckoutOutcome {
                id: "cs_1".to_owned(),
                customer: Some("cus_1".to_owned()),
                setup_id: Some("seti_1".to_owned()),
                plan: Some("starter".to_owned()),
                paid_minor: None,
            })
        );
        let (_, _, open) = parse(event("open").as_bytes()).unwrap();
        let PaymentEvent::CheckoutCompleted(open) = open else {
            panic!("{open:?}")
        };
        assert_eq!(open.setup_id, None);
    }

    #[test]
    fn a_payment_checkout_counts_as_paid_only_once_complete_and_paid() {
        let outcome = |kind: &str, status: &str, payment_status: &str| {
            let event = format!(
                r#"{{"id":"evt_3","type":"{kind}","data":{{"object":{{
                    "id":"cs_2","object":"checkout.session","mode":"payment","status":"{status}",
                    "payment_status":"{payment_status}","amount_total":2500,"customer":"cus_1",
                    "metadata":{{"purpose":"credit"}}}}}}}}"#
            );
            match parse(event.as_bytes()).unwrap().2 {
                PaymentEvent::CheckoutCompleted(outcome) => outcome,
                other => panic!("{other:?}"),
            }
        };
        let paid = outcome("checkout.session.completed", "complete", "paid");
        assert_eq!((paid.paid_minor, paid.setup_id), (Some(2500), None));
        // A delayed method: complete but unpaid, then paid by a second event.
        let waiting = outcome("checkout.session.completed", "complete", "unpaid");
        assert_eq!(waiting.paid_minor, None);
        let later = outcome(
            "checkout.session.async_payment_succeeded",
            "complete",
            "paid",
        );
        assert_eq!(later.paid_minor, Some(2500));
        assert_eq!(
            outcome("checkout.session.completed", "open", "paid").paid_minor,
            None
        );
    }
}
