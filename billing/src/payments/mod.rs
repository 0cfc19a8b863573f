//! Collecting payment: one small trait for the payment provider, its Stripe
//! implementation, a wrapper that measures every call, and webhook
//! verification.
//!
//! Every call carries an idempotency key derived from what it is for (the
//! organization, the invoice, the line), so a retry after a timeout or a
//! crash repeats the same request rather than making a second one.

pub mod metered;
pub mod stripe;
pub mod webhook;

use std::fmt;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use uuid::Uuid;

pub use webhook::{PaymentEvent, WebhookError};

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider answered and refused: retrying the same request will
    /// not help (a declined card, an invalid parameter).
    #[error("the payment provider refused: {0}")]
    Refused(String),
    /// The provider could not be reached or failed; retry later.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
}

/// A customer to create for an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub organization_id: Uuid,
    pub name: String,
    pub email: Option<String>,
}

/// What the browser needs to collect a card (Stripe.js `confirmCardSetup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSetup {
    pub id: String,
    pub client_secret: String,
}

/// What a hosted checkout page is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutPurpose {
    /// Saving a card (Stripe Checkout in setup mode), on the way to this
    /// paid plan.
    Plan(String),
    /// Paying for prepaid credit of this amount (payment mode).
    Credit { amount_minor: i64 },
}

/// A hosted page on which the customer saves a card or pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    pub organization_id: Uuid,
    pub customer: String,
    pub purpose: CheckoutPurpose,
    pub currency: String,
    /// Where the provider sends the browser back; `{CHECKOUT_SESSION_ID}`
    /// in it is replaced by the session's id.
    pub success_url: String,
    pub cancel_url: String,
    pub idempotency_key: String,
}

/// The page to send the browser to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutPage {
    pub id: String,
    pub url: String,
}

/// A checkout session as the provider reports it, whether read back after
/// the browser returned or delivered by a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutOutcome {
    pub id: String,
    pub customer: Option<String>,
    /// The card setup it completed; `None` until the customer finished.
    pub setup_id: Option<String>,
    /// The plan it was started for (its metadata).
    pub plan: Option<String>,
    /// In payment mode, once the payment went through: the amount paid.
    pub paid_minor: Option<i64>,
}

impl CheckoutOutcome {
    /// From the session's fields as the provider reports them.
    pub fn new(
        id: String,
        status: Option<&str>,
        customer: Option<String>,
        setup_intent: Option<String>,
        plan: Option<String>,
    ) -> Self {
        CheckoutOutcome {
            id,
            customer,
            // In setup mode the SetupIntent may exist before the customer
            // finished; it counts only once the session is complete.
            setup_id: setup_intent.filter(|_| status == Some("complete")),
            plan,
            paid_minor: None,
        }
    }

    /// With a payment-mode session's payment: it counts only once the
    /// session is complete and its `payment_status` is `paid` (a delayed
    /// method completes the session before the money arrives).
    pub fn with_payment(
        mut self,
        status: Option<&str>,
        payment_status: Option<&str>,
        amount_total: Option<i64>,
    ) -> Self {
        self.paid_minor =
            amount_total.filter(|_| status == Some("complete") && payment_status == Some("paid"));
        self
    }
}

/// An invoice as the provider is asked to collect it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceToCollect {
    pub invoice_id: Uuid,
    pub number: String,
    pub customer: String,
    pub currency: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// Description and amount in minor units (negative for credits).
    pub lines: Vec<(String, i64)>,
}

/// A charge to the customer's default card while the customer is away (an
/// automatic top-up), keyed so that a retry charges once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffSessionCharge {
    pub customer: String,
    pub amount_minor: i64,
    pub currency: String,
    pub description: String,
    /// What it pays for, in the provider's metadata: `(key, value)`.
    pub reference: (String, String),
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    Paid,
    Failed(String),
}

/// The payment provider. Implemented with async-stripe by
/// [`stripe::StripeProvider`].
pub trait PaymentProvider: Send + Sync + fmt::Debug {
    /// Creates the customer of an organization; returns its id.
    fn create_customer<'a>(
        &'a self,
        customer: &'a NewCustomer,
    ) -> BoxFuture<'a, Result<String, PaymentError>>;

    /// Starts collecting a card for later, off-session payments.
    fn start_card_setup<'a>(
        &'a self,
        customer: &'a str,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<CardSetup, PaymentError>>;

    /// Once the customer confirmed the setup (in the browser), makes its
    /// card the customer's default for invoices; returns the card's id.
    /// Refused unless the setup succeeded and belongs to `customer`.
    fn complete_card_setup<'a>(
        &'a self,
        customer: &'a str,
        setup_id: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>>;

    /// Opens a hosted page on which the customer saves a card.
    fn start_checkout<'a>(
        &'a self,
        request: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<CheckoutPage, PaymentError>>;

    /// Reads a checkout session back.
    fn checkout_outcome<'a>(
        &'a self,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<CheckoutOutcome, PaymentError>>;

    /// Creates the provider's invoice, empty, as a draft; returns its id.
    fn create_invoice<'a>(
        &'a self,
        invoice: &'a InvoiceToCollect,
    ) -> BoxFuture<'a, Result<String, PaymentError>>;

    /// Adds the lines to the provider's invoice and finalizes it.
    fn finalize_invoice<'a>(
        &'a self,
        provider_invoice_id: &'a str,
        invoice: &'a InvoiceToCollect,
    ) -> BoxFuture<'a, Result<(), PaymentError>>;

    /// Charges the customer's default payment method for the invoice.
    /// `attempt` counts charges of this invoice: a retry of the same
    /// attempt is deduplicated by the provider, while a new attempt (after
    /// a new card, say) is charged afresh rather than answered with the
    /// saved result of the last.
    fn pay_invoice<'a>(
        &'a self,
        provider_invoice_id: &'a str,
        invoice_id: Uuid,
        attempt: i32,
    ) -> BoxFuture<'a, Result<PaymentOutcome, PaymentError>>;

    /// Charges the customer's default card with no one present (Stripe: a
    /// PaymentIntent confirmed `off_session`). A declined card, or one whose
    /// bank asks for the customer, is `Failed` with the reason.
    fn charge_off_session<'a>(
        &'a self,
        charge: &'a OffSessionCharge,
    ) -> BoxFuture<'a, Result<PaymentOutcome, PaymentError>>;

    /// Why the invoice's latest payment failed, as the bank or card network
    /// said it (Stripe: the PaymentIntent's `last_payment_error`, which an
    /// Invoice does not carry); `None` when there is no such payment.
    fn decline_reason<'a>(
        &'a self,
        provider_invoice_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, PaymentError>>;
}
