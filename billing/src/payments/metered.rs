//! A payment provider that reports each call: a span, a count by operation
//! and outcome (`ok`, `refused`, `unavailable`) and its duration. It wraps
//! any [`PaymentProvider`], so the Stripe adapter knows nothing of it.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument as _;
use uuid::Uuid;

use super::{
    CardSetup, CheckoutOutcome, CheckoutPage, CheckoutRequest, InvoiceToCollect, NewCustomer,
    OffSessionCharge, PaymentError, PaymentOutcome, PaymentProvider,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    /// The trait method: `create_customer`, `pay_invoice`, …
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

type Durations = Family<OperationLabels, Histogram, fn() -> Histogram>;

/// The payment provider's metric families, shared by every [`Metered`].
#[derive(Debug, Clone)]
pub struct PaymentMetrics {
    calls: Family<CallLabels, Counter>,
    duration: Durations,
}

impl Default for PaymentMetrics {
    fn default() -> Self {
        PaymentMetrics {
            calls: Family::default(),
            // 10 ms to about 40 s: the adapter's own timeout is shorter.
            duration: Durations::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.01, 2.0, 13))
            }),
        }
    }
}

impl PaymentMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "payment_provider_calls",
            "Calls to the payment provider (Stripe) by operation and outcome",
            self.calls.clone(),
        );
        registry.register(
            "payment_provider_call_duration_seconds",
            "How long calls to the payment provider took, by operation",
            self.duration.clone(),
        );
    }
}

/// `inner`, with every call counted, timed and traced.
#[derive(Debug)]
pub struct Metered {
    inner: Arc<dyn PaymentProvider>,
    metrics: PaymentMetrics,
}

impl Metered {
    pub fn new(inner: Arc<dyn PaymentProvider>, metrics: PaymentMetrics) -> Self {
        Metered { inner, metrics }
    }

    fn call<'a, T: Send + 'a>(
        &'a self,
        operation: &'static str,
        call: impl Future<Output = Result<T, PaymentError>> + Send + 'a,
    ) -> BoxFuture<'a, Result<T, PaymentError>> {
        let span = tracing::info_span!(
            "payment provider",
            otel.name = format!("payment provider {operation}"),
            otel.kind = "client",
            operation,
            outcome = tracing::field::Empty,
        );
        Box::pin(
            async move {
                let started = Instant::now();
                let result = call.await;
                let outcome = match &result {
                    Ok(_) => "ok",
                    Err(PaymentError::Refused(_)) => "refused",
                    Err(PaymentError::Unavailable(_)) => "unavailable",
                };
                tracing::Span::current().record("outcome", outcome);
                self.metrics
                    .calls
                    .get_or_create(&CallLabels { operation, outcome })
                    .inc();
                self.metrics
                    .duration
                    .get_or_create(&OperationLabels { operation })
                    .observe(started.elapsed().as_secs_f64());
                result
            }
            .instrument(span),
        )
    }
}

impl PaymentProvider for Metered {
    fn create_customer<'a>(
        &'a self,
        customer: &'a NewCustomer,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        self.call("create_customer", self.inner.create_customer(customer))
    }

    fn start_card_setup<'a>(
        &'a self,
        customer: &'a str,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<CardSetup, PaymentError>> {
        self.call(
            "start_card_setup",
            self.inner.start_card_setup(customer, idempotency_key),
        )
    }

    fn complete_card_setup<'a>(
        &'a self,
        customer: &'a str,
        setup_id: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        self.call(
            "complete_card_setup",
            self.inner.complete_card_setup(customer, setup_id),
        )
    }

    fn start_checkout<'a>(
        &'a self,
        request: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<CheckoutPage, PaymentError>> {
        self.call("start_checkout", self.inner.start_checkout(request))
    }

    fn checkout_outcome<'a>(
        &'a self,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<CheckoutOutcome, PaymentError>> {
        self.call("checkout_outcome", self.inner.checkout_outcome(session_id))
    }

    fn create_invoice<'a>(
        &'a self,
        invoice: &'a InvoiceToCollect,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        self.call("create_invoice", self.inner.create_invoice(invoice))
    }

    fn finalize_invoice<'a>(
        &'a self,
        provider_invoice_id: &'a str,
        invoice: &'a InvoiceToCollect,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        self.call(
            "finalize_invoice",
            self.inner.finalize_invoice(provider_invoice_id, invoice),
        )
    }

    fn pay_invoice<'a>(
        &'a self,
        provider_invoice_id: &'a str,
        invoice_id: Uuid,
        attempt: i32,
    ) -> BoxFuture<'a, Result<PaymentOutcome, PaymentError>> {
        self.call(
            "pay_invoice",
            self.inner
                .pay_invoice(provider_invoice_id, invoice_id, attempt),
        )
    }

    fn charge_off_session<'a>(
        &'a self,
        charge: &'a OffSessionCharge,
    ) -> BoxFuture<'a, Result<PaymentOutcome, PaymentError>> {
        self.call("charge_off_session", self.inner.charge_off_session(charge))
    }

    fn decline_reason<'a>(
        &'a self,
        provider_invoice_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, PaymentError>> {
        self.call(
            "decline_reason",
            self.inner.decline_reason(provider_invoice_id),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers the calls these tests make, checking that each arrives as
    /// the caller made it.
    #[derive(Debug)]
    struct Fake;

    fn customer() -> NewCustomer {
        NewCustomer {
            organization_id: Uuid::from_u128(7),
            name: "Acme".to_owned(),
            email: Some("billing@acme.test".to_owned()),
        }
    }

    impl PaymentProvider for Fake {
        fn create_customer<'a>(
            &'a self,
            customer: &'a NewCustomer,
        ) -> BoxFuture<'a, Result<String, PaymentError>> {
            assert_eq!(customer, &self::customer());
            Box::pin(async { Ok("cus_1".to_owned()) })
        }

        fn start_card_setup<'a>(
            &'a self,
            customer: &'a str,
            idempotency_key: &'a str,
        ) -> BoxFuture<'a, Result<CardSetup, PaymentError>> {
            assert_eq!((customer, idempotency_key), ("cus_1", "qm-setup-1"));
            Box::pin(async { Err(PaymentError::Unavailable("timed out".to_owned())) })
        }

        fn complete_card_setup<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<String, PaymentError>> {
            panic!("not called in these tests")
        }

        fn start_checkout<'a>(
            &'a self,
            _: &'a CheckoutRequest,
        ) -> BoxFuture<'a, Result<CheckoutPage, PaymentError>> {
            panic!("not called in these tests")
        }

        fn checkout_outcome<'a>(
            &'a self,
            _: &'a str,
        ) -> BoxFuture<'a, Result<CheckoutOutcome, PaymentError>> {
            panic!("not called in these tests")
        }

        fn create_invoice<'a>(
            &'a self,
            _: &'a InvoiceToCollect,
        ) -> BoxFuture<'a, Result<String, PaymentError>> {
            panic!("not called in these tests")
        }

        fn finalize_invoice<'a>(
            &'a self,
            _: &'a str,
            _: &'a InvoiceToCollect,
        ) -> BoxFuture<'a, Result<(), PaymentError>> {
            panic!("not called in these tests")
        }

        fn charge_off_session<'a>(
            &'a self,
            _: &'a OffSessionCharge,
        ) -> BoxFuture<'a, Result<PaymentOutcome, PaymentError>> {
            panic!("not called in these tests")
        }

        fn pay_invoice<'a>(
            &'a self,
            provider_invoice_id: &'a str,
            invoice_id: Uuid,
            attempt: i32,
        ) -> BoxFuture<'a, Result<PaymentOutcome, PaymentError>> {
            assert_eq!(
                (provider_invoice_id, invoice_id, attempt),
                ("in_1", Uuid::from_u128(9), 2)
            );
            Box::pin(async { Err(PaymentError::Refused("card declined".to_owned())) })
        }

        fn decline_reason<'a>(
            &'a self,
            _: &'a str,
        ) -> BoxFuture<'a, Result<Option<String>, PaymentError>> {
            panic!("not called in these tests")
        }
    }

    fn exposition(metrics: &PaymentMetrics) -> String {
        let mut registry = Registry::with_prefix("quartermaster");
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[tokio::test]
    async fn calls_pass_through_unchanged_and_are_counted_by_operation_and_outcome() {
        let metrics = PaymentMetrics::default();
        let provider = Metered::new(Arc::new(Fake), metrics.clone());

        assert_eq!(
            provider.create_customer(&customer()).await.unwrap(),
            "cus_1"
        );
        assert_eq!(
            provider.create_customer(&customer()).await.unwrap(),
            "cus_1"
        );
        let declined = provider.pay_invoice("in_1", Uuid::from_u128(9), 2).await;
        assert!(matches!(declined, Err(PaymentError::Refused(r)) if r == "card declined"));
        let down = provider.start_card_setup("cus_1", "qm-setup-1").await;
        assert!(matches!(down, Err(PaymentError::Unavailable(_))));

        let text = exposition(&metrics);
        for line in [
            "quartermaster_payment_provider_calls_total{operation=\"create_customer\",outcome=\"ok\"} 2\n",
            "quartermaster_payment_provider_calls_total{operation=\"pay_invoice\",outcome=\"refused\"} 1\n",
            "quartermaster_payment_provider_calls_total{operation=\"start_card_setup\",outcome=\"unavailable\"} 1\n",
            "quartermaster_payment_provider_call_duration_seconds_count{operation=\"create_customer\"} 2\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert_eq!(
            text.matches("quartermaster_payment_provider_calls_total{")
                .count(),
            3,
            "{text}"
        );
    }
}
