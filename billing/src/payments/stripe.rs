//! The payment provider, implemented with async-stripe.
//!
//! Requests are built with async-stripe's typed parameters and sent by its
//! client (form encoding, `Idempotency-Key`, timeouts). Responses are read
//! into the few fields Quartermaster uses rather than Stripe's full objects,
//! so that a field added or made optional by a newer API version (or left
//! out by a Stripe-compatible test server) does not break collection.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::invoice::{
    CreateInvoice, CreateInvoicePendingInvoiceItemsBehavior, FinalizeInvoiceInvoice, PayInvoice,
    RetrieveInvoice,
};
use stripe_billing::invoice_item::CreateInvoiceItem;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    ProductData, RetrieveCheckoutSession,
};
use stripe_core::customer::{
    CreateCustomer, RetrieveCustomer, UpdateCustomer, UpdateCustomerInvoiceSettings,
};
use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentOffSession};
use stripe_core::setup_intent::{CreateSetupIntent, CreateSetupIntentUsage, RetrieveSetupIntent};
use stripe_shared::{CheckoutSessionMode, InvoiceCollectionMethod};
use stripe_types::Currency;
use uuid::Uuid;

use super::{
    CardSetup, CheckoutOutcome, CheckoutPage, CheckoutPurpose, CheckoutRequest, InvoiceToCollect,
    NewCustomer, OffSessionCharge, PaymentError, PaymentOutcome, PaymentProvider,
};

/// Each attempt's limit; the caller retries later with the same key.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Stripe, or anything that speaks its API at `api_base`.
#[derive(Debug, Clone)]
pub struct StripeProvider {
    client: Client,
}

#[derive(Debug, miniserde::Deserialize)]
struct Object {
    id: String,
}

#[derive(Debug, miniserde::Deserialize)]
struct InvoiceState {
    status: Option<String>,
}

#[derive(Debug, miniserde::Deserialize)]
struct SetupIntentState {
    id: String,
    status: String,
    client_secret: Option<String>,
    customer: Option<String>,
    payment_method: Option<String>,
}

/// The part of an Invoice, its payments expanded down to their
/// PaymentIntents, that says why the latest payment failed.
#[derive(Debug, miniserde::Deserialize)]
struct InvoicePayments {
    payments: Option<PaymentList>,
}

#[derive(Debug, miniserde::Deserialize)]
struct PaymentList {
    data: Vec<InvoicePayment>,
}

#[derive(Debug, miniserde::Deserialize)]
struct InvoicePayment {
    created: i64,
    payment: PaymentRef,
}

#[derive(Debug, miniserde::Deserialize)]
struct PaymentRef {
    payment_intent: Option<Intent>,
}

#[derive(Debug, miniserde::Deserialize)]
struct Intent {
    last_payment_error: Option<LastError>,
}

#[derive(Debug, miniserde::Deserialize)]
struct LastError {
    message: Option<String>,
}

#[derive(Debug, miniserde::Deserialize)]
struct CustomerCard {
    invoice_settings: Option<InvoiceSettings>,
}

#[derive(Debug, miniserde::Deserialize)]
struct InvoiceSettings {
    default_payment_method: Option<String>,
}

#[derive(Debug, miniserde::Deserialize)]
struct IntentState {
    status: String,
    last_payment_error: Option<LastError>,
}

/// The expansion that brings each payment's PaymentIntent into the invoice.
const PAYMENT_INTENTS: &str = "payments.data.payment.payment_intent";

#[derive(Debug, miniserde::Deserialize)]
struct CheckoutState {
    id: String,
    status: Option<String>,
    url: Option<String>,
    customer: Option<String>,
    setup_intent: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    payment_status: Option<String>,
    amount_total: Option<i64>,
}

impl From<CheckoutState> for CheckoutOutcome {
    fn from(session: CheckoutState) -> Self {
        CheckoutOutcome::new(
            session.id,
            session.status.as_deref(),
            session.customer,
            session.setup_intent,
            session.metadata.and_then(|mut m| m.remove("plan")),
        )
        .with_payment(
            session.status.as_deref(),
            session.payment_status.as_deref(),
            session.amount_total,
        )
    }
}

impl StripeProvider {
    /// `api_base` overrides `https://api.stripe.com/` (for localstripe or a
    /// test server); it ends with a slash.
    pub fn new(secret_key: &str, api_base: Option<&str>) -> Result<Self, PaymentError> {
        let mut builder = ClientBuilder::new(secret_key).timeout(TIMEOUT).app_info(
            "quartermaster",
            Some(env!("CARGO_PKG_VERSION").to_owned()),
            None,
        );
        if let Some(base) = api_base {
            builder = builder.url(base);
        }
        let client = builder
            .build()
            .map_err(|e| PaymentError::Refused(format!("Stripe client configuration: {e}")))?;
        Ok(StripeProvider { client })
    }

    /// Sends `request` once under `key` (`None`: a read, safe to repeat).
    async fn send<T: miniserde::Deserialize>(
        &self,
        request: &impl StripeRequest,
        key: Option<String>,
    ) -> Result<T, StripeError> {
        let strategy = match key {
            Some(key) => RequestStrategy::Idempotent(
                IdempotencyKey::new(key).map_err(|e| StripeError::ConfigError(e.to_string()))?,
            ),
            None => RequestStrategy::Once,
        };
        request
            .build()
            .customize::<T>()
            .request_strategy(strategy)
            .send(&self.client)
            .await
    }
}

fn currency(code: &str) -> Result<Currency, PaymentError> {
    code.parse()
        .map_err(|_| PaymentError::Refused(format!("unknown currency `{code}`")))
}

/// A declined card (HTTP 402) is an answer, not a failure of the call.
fn declined(err: &StripeError) -> Option<String> {
    match err {
        StripeError::Stripe(e, 402) => Some(
            e.message
                .clone()
                .unwrap_or_else(|| "the card was declined".to_owned()),
        ),
        _ => None,
    }
}

fn classify(err: StripeError) -> PaymentError {
    match err {
        StripeError::Stripe(e, status) => {
            let message = format!(
                "{} (HTTP {status})",
                e.message.as_deref().unwrap_or("no message")
            );
            if status == 409 || status == 429 || status >= 500 {
                PaymentError::Unavailable(message)
            } else {
                PaymentError::Refused(message)
            }
        }
        // Also what an error page without Stripe's error body gives (a 502
        // from a proxy, say): worth retrying under the same key.
        StripeError::JSONDeserialize(e) => {
            PaymentError::Unavailable(format!("unexpected response from Stripe: {e}"))
        }
        StripeError::ConfigError(e) => PaymentError::Refused(e),
        StripeError::ClientError(e) => PaymentError::Unavailable(e),
        StripeError::Timeout => PaymentError::Unavailable("timed out".to_owned()),
    }
}

fn metadata(pairs: &[(&str, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

impl PaymentProvider for StripeProvider {
    fn create_customer<'a>(
        &'a self,
        customer: &'a NewCustomer,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        async move {
            let mut request = CreateCustomer::new()
                .name(customer.name.clone())
                .metadata(metadata(&[(
                    "organization_id",
                    customer.organization_id.to_string(),
                )]));
            if let Some(email) = &customer.email {
                request = request.email(email.clone());
            }
            let key = format!("qm-customer-{}", customer.organization_id);
            let created: Object = self.send(&request, Some(key)).await.map_err(classify)?;
            Ok(created.id)
        }
        .boxed()
    }

    fn start_card_setup<'a>(
        &'a self,
        customer: &'a str,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<CardSetup, PaymentError>> {
        async move {
            let request = CreateSetupIntent::new()
                .customer(customer)
                .usage(CreateSetupIntentUsage::OffSession);
            let key = format!("qm-setup-{idempotency_key}");
            let intent: SetupIntentState =
                self.send(&request, Some(key)).await.map_err(classify)?;
            let client_secret = intent.client_secret.ok_or_else(|| {
                PaymentError::Refused("the SetupIntent has no client secret".to_owned())
            })?;
            Ok(CardSetup {
                id: intent.id,
                client_secret,
            })
        }
        .boxed()
    }

    fn complete_card_setup<'a>(
        &'a self,
        customer: &'a str,
        setup_id: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        async move {
            let intent: SetupIntentState = self
                .send(&RetrieveSetupIntent::new(setup_id), None)
                .await
                .map_err(classify)?;
            if intent.customer.as_deref() != Some(customer) {
                return Err(PaymentError::Refused(
                    "the card setup belongs to another customer".to_owned(),
                ));
            }
            let (Some(payment_method), "succeeded") =
                (intent.payment_method, intent.status.as_str())
            else {
                return Err(PaymentError::Refused(format!(
                    "the card setup has not succeeded (it is `{}`)",
                    intent.status
                )));
            };
            let mut settings = UpdateCustomerInvoiceSettings::new();
            settings.default_payment_method = Some(payment_method.clone());
            let request = UpdateCustomer::new(customer).invoice_settings(settings);
            let key = format!("qm-default-pm-{customer}-{payment_method}");
            let _: Object = self.send(&request, Some(key)).await.map_err(classify)?;
            Ok(payment_method)
        }
        .boxed()
    }

    fn start_checkout<'a>(
        &'a self,
        request: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<CheckoutPage, PaymentError>> {
        async move {
            let organization = ("organization_id", request.organization_id.to_string());
            let session = CreateCheckoutSession::new()
                .customer(request.customer.clone())
                .client_reference_id(request.organization_id.to_string())
                .success_url(request.success_url.clone())
                .cancel_url(request.cancel_url.clone());
            let session = match &request.purpose {
                CheckoutPurpose::Plan(plan) => session
                    .mode(CheckoutSessionMode::Setup)
                    .currency(currency(&request.currency)?)
                    .metadata(metadata(&[organization, ("plan", plan.clone())])),
                // One line of the amount chosen: the currency is the line's.
                CheckoutPurpose::Credit { amount_minor } => {
                    let mut price =
                        CreateCheckoutSessionLineItemsPriceData::new(currency(&request.currency)?);
                    price.unit_amount = Some(*amount_minor);
                    price.product_data = Some(ProductData::new("Prepaid credit"));
                    let mut line = CreateCheckoutSessionLineItems::new();
                    line.price_data = Some(price);
                    line.quantity = Some(1);
                    session
                        .mode(CheckoutSessionMode::Payment)
                        .line_items(vec![line])
                        .metadata(metadata(&[organization, ("purpose", "credit".to_owned())]))
                }
            };
            let key = format!("qm-checkout-{}", request.idempotency_key);
            let created: CheckoutState = self.send(&session, Some(key)).await.map_err(classify)?;
            let url = created.url.ok_or_else(|| {
                PaymentError::Refused("the checkout session has no URL".to_owned())
            })?;
            Ok(CheckoutPage {
                id: created.id,
                url,
            })
        }
        .boxed()
    }

    fn checkout_outcome<'a>(
        &'a self,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<CheckoutOutcome, PaymentError>> {
        async move {
            let session: CheckoutState = self
                .send(&RetrieveCheckoutSession::new(session_id), None)
                .await
                .map_err(classify)?;
            Ok(session.into())
        }
        .boxed()
    }

    fn create_invoice<'a>(
        &'a self,
        invoice: &'a InvoiceToCollect,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        async move {
            let request = CreateInvoice::new()
                .customer(invoice.customer.clone())
                .currency(currency(&invoice.currency)?)
                .collection_method(InvoiceCollectionMethod::ChargeAutomatically)
                .auto_advance(false)
                .pending_invoice_items_behavior(CreateInvoicePendingInvoiceItemsBehavior::Exclude)
                .metadata(metadata(&[
                    ("invoice_id", invoice.invoice_id.to_string()),
                    ("number", invoice.number.clone()),
                ]));
            let key = format!("qm-invoice-{}-create", invoice.invoice_id);
            let created: Object = self.send(&request, Some(key)).await.map_err(classify)?;
            Ok(created.id)
        }
        .boxed()
    }

    fn finalize_invoice<'a>(
        &'a self,
        provider_invoice_id: &'a str,
        invoice: &'a InvoiceToCollect,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        async move {
            let currency = currency(&invoice.currency)?;
            for (n, (description, amount)) in invoice.lines.iter().enumerate() {
                let request = CreateInvoiceItem::new()
                    .customer(invoice.customer.clone())
                    .invoice(provider_invoice_id)
                    .currency(currency.clone())
                    .amount(*amount)
                    .description(description.clone());
                let key = format!("qm-invoice-{}-line-{}", invoice.invoice_id, n + 1);
                let _: Object = self.send(&request, Some(key)).await.map_err(classify)?;
            }
            let request = FinalizeInvoiceInvoice::new(provider_invoice_id).auto_advance(false);
            let key = format!("qm-invoice-{}-finalize", invoice.invoice_id);
            let _: Object = self.send(&request, Some(key)).await.map_err(classify)?;
            Ok(())
        }
        .boxed()
    }

    fn pay_invoice<'a>(
        &'a self,
        provider_invoice_id: &'a str,
        invoice_id: Uuid,
        attempt: i32,
    ) -> BoxFuture<'a, Result<PaymentOutcome, PaymentError>> {
        async move {
            let key = format!("qm-invoice-{invoice_id}-pay-{attempt}");
            let paid: Result<InvoiceState, _> = self
                .send(&PayInvoice::new(provider_invoice_id), Some(key))
                .await;
            match paid {
                Ok(InvoiceState { status }) if status.as_deref() == Some("paid") => {
                    Ok(PaymentOutcome::Paid)
                }
                Ok(InvoiceState { status }) => Ok(PaymentOutcome::Failed(format!(
                    "the payment did not go through; the invoice is {}",
                    status.as_deref().unwrap_or("unpaid")
                ))),
                Err(err) => match declined(&err) {
                    Some(reason) => Ok(PaymentOutcome::Failed(reason)),
                    None => Err(classify(err)),
                },
            }
        }
        .boxed()
    }

    fn charge_off_session<'a>(
        &'a self,
        charge: &'a OffSessionCharge,
    ) -> BoxFuture<'a, Result<PaymentOutcome, PaymentError>> {
        async move {
            let customer: CustomerCard = self
                .send(&RetrieveCustomer::new(charge.customer.as_str()), None)
                .await
                .map_err(classify)?;
            let Some(card) = customer
                .invoice_settings
                .and_then(|s| s.default_payment_method)
            else {
                return Ok(PaymentOutcome::Failed("no card on file".to_owned()));
            };
            let (key, value) = &charge.reference;
            let request =
                CreatePaymentIntent::new(charge.amount_minor, currency(&charge.currency)?)
                    .customer(charge.customer.clone())
                    .payment_method(card)
                    .confirm(true)
                    .off_session(CreatePaymentIntentOffSession::Bool(true))
                    .description(charge.description.clone())
                    .metadata(metadata(&[(key.as_str(), value.clone())]));
            let key = format!("qm-charge-{}", charge.idempotency_key);
            let intent: Result<IntentState, _> = self.send(&request, Some(key)).await;
            match intent {
                Ok(intent) if intent.status == "succeeded" => Ok(PaymentOutcome::Paid),
                Ok(intent) => Ok(PaymentOutcome::Failed(
                    intent
                        .last_payment_error
                        .and_then(|e| e.message)
                        .unwrap_or_else(|| format!("the payment is {}", intent.status)),
                )),
                Err(err) => match declined(&err) {
                    Some(reason) => Ok(PaymentOutcome::Failed(reason)),
                    None => Err(classify(err)),
                },
            }
        }
        .boxed()
    }

    fn decline_reason<'a>(
        &'a self,
        provider_invoice_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, PaymentError>> {
        async move {
            let request =
                RetrieveInvoice::new(provider_invoice_id).expand([PAYMENT_INTENTS.to_owned()]);
            let invoice: InvoicePayments = self.send(&request, None).await.map_err(classify)?;
            let latest = invoice
                .payments
                .map(|list| list.data)
                .unwrap_or_default()
                .into_iter()
                .max_by_key(|p| p.created);
            Ok(latest
                .and_then(|p| p.payment.payment_intent)
                .and_then(|intent| intent.last_payment_error)
                .and_then(|error| error.message))
        }
        .boxed()
    }
}
