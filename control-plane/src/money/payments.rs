//! Collecting payment: the payment provider driven from PostgreSQL.
//!
//! Nothing here runs inside a customer's request except starting and
//! completing a card setup. Customers are created from the outbox; open
//! invoices are pushed to the provider, finalized there and charged by a
//! resumable sync that records each step as it completes, every call keyed
//! for idempotency; webhooks report payments.

use std::collections::HashMap;
use std::sync::Arc;

use billing::collection;
use billing::invoice::{self, InvoiceEvent};
use billing::payments::{
    CardSetup, InvoiceToCollect, NewCustomer, PaymentError, PaymentEvent, PaymentOutcome,
    PaymentProvider,
};
use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::accounts::{customer_of, mark_card_ready, organization_of};
use crate::access::{OrgAccess, Permission};
use crate::outbox::{self, Topic};
use crate::webhooks::{self, EventType};
use crate::{Error, Result, audit};

/// How long after a failed charge the next one is tried.
pub const RETRY_PAYMENT_AFTER: Duration = Duration::days(3);
/// At most this many invoices per pass.
const BATCH: usize = 50;

pub type Provider = Arc<dyn PaymentProvider>;

/// Creates the provider's customers that signups asked for. Returns how
/// many were created.
pub async fn create_customers(
    pool: &PgPool,
    provider: &dyn PaymentProvider,
    now: DateTime<Utc>,
) -> Result<usize> {
    let (mut tx, rows) = outbox::claim(pool, Topic::CreatePaymentCustomer, now).await?;
    let mut created = 0;
    for row in rows {
        let organization_id = row
            .payload
            .get("organization_id")
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse::<Uuid>().ok());
        let outcome = match organization_id {
            Some(org) => create_customer(&mut tx, provider, org).await,
            None => Err(Error::Payment(PaymentError::Refused(
                "the outbox row names no organization".to_owned(),
            ))),
        };
        if outbox::settle(&mut tx, Topic::CreatePaymentCustomer, &row, outcome, now).await? {
            created += 1;
        }
    }
    tx.commit().await?;
    Ok(created)
}

#[tracing::instrument(name = "create payment customer", skip_all, fields(organization = %organization_id))]
async fn create_customer(
    conn: &mut PgConnection,
    provider: &dyn PaymentProvider,
    organization_id: Uuid,
) -> Result<()> {
    let found: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT o.name, s.payment_customer_id,
                (SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
                 WHERE m.organization_id = o.id AND m.role = 'owner'
                 ORDER BY m.created_at LIMIT 1)
         FROM organizations o JOIN subscriptions s ON s.organization_id = o.id
         WHERE o.id = $1",
    )
    .bind(organization_id)
    .fetch_optional(&mut *conn)
    .await?;
    // Deleted meanwhile, or done by an earlier attempt: nothing to do.
    let Some((name, None, email)) = found else {
        return Ok(());
    };
    let customer = provider
        .create_customer(&NewCustomer {
            organization_id,
            name,
            email,
        })
        .await?;
    sqlx::query("UPDATE subscriptions SET payment_customer_id = $2 WHERE organization_id = $1")
        .bind(organization_id)
        .bind(&customer)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Starts collecting a card: what the browser hands to Stripe.js.
pub async fn start_card_setup(
    conn: &mut PgConnection,
    access: &OrgAccess,
    provider: &dyn PaymentProvider,
    request_key: &str,
) -> Result<CardSetup> {
    access.require(Permission::BillingWrite)?;
    let customer = customer_of(conn, access).await?;
    Ok(provider
        .start_card_setup(
            &customer,
            &format!("{}-{request_key}", access.organization_id()),
        )
        .await?)
}

/// Completes a card setup the customer confirmed: the card becomes the
/// default for invoices, and paid plans open up.
pub async fn complete_card_setup(
    conn: &mut PgConnection,
    access: &OrgAccess,
    provider: &dyn PaymentProvider,
    setup_id: &str,
) -> Result<()> {
    access.require(Permission::BillingWrite)?;
    let customer = customer_of(conn, access).await?;
    provider.complete_card_setup(&customer, setup_id).await?;
    mark_card_ready(conn, &customer).await?;
    audit::record_as(
        conn,
        access,
        "billing.card_added",
        "organization",
        &access.organization_id().to_string(),
        None,
    )
    .await
}

/// An open invoice waiting on the provider, with the organization's
/// customer there and whether it has a card on file.
#[derive(Debug)]
struct Uncollected {
    invoice: collection::Uncollected,
    customer: String,
    card: bool,
}

/// One pass of collection over open invoices: push to the provider,
/// finalize there, and charge where a card is on file and a charge is due.
/// Returns how many invoices were paid.
pub async fn collect(
    pool: &PgPool,
    provider: &dyn PaymentProvider,
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut paid = 0;
    for invoice in uncollected(pool, now).await? {
        match collect_one(pool, provider, &invoice, now).await {
            Ok(true) => paid += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(invoice = %invoice.invoice.number, error = %err, "collecting an invoice failed; will retry")
            }
        }
    }
    Ok(paid)
}

/// The first [`BATCH`] invoices the provider can act on now: billing's
/// candidates, kept where the organization has a customer, and a card
/// unless the invoice still has to be finalized.
async fn uncollected(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<Uncollected>> {
    let mut conn = pool.acquire().await?;
    let candidates = collection::uncollected(&mut conn, now).await?;
    let orgs: Vec<Uuid> = candidates.iter().map(|i| i.organization_id).collect();
    let accounts: HashMap<Uuid, (String, bool)> = sqlx::query_as(
        "SELECT organization_id, payment_customer_id, payment_method_ready FROM subscriptions
         WHERE organization_id = ANY($1) AND payment_customer_id IS NOT NULL",
    )
    .bind(&orgs)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(org, customer, card)| (org, (customer, card)))
    .collect();
    Ok(candidates
        .into_iter()
        .filter_map(|invoice| {
            let (customer, card) = accounts.get(&invoice.organization_id)?.clone();
            (invoice.provider_finalized_at.is_none() || card).then_some(Uncollected {
                invoice,
                customer,
                card,
            })
        })
        .take(BATCH)
        .collect())
}

async fn collect_one(
    pool: &PgPool,
    provider: &dyn PaymentProvider,
    Uncollected {
        invoice,
        customer,
        card,
    }: &Uncollected,
    now: DateTime<Utc>,
) -> Result<bool> {
    let request = InvoiceToCollect {
        invoice_id: invoice.id,
        number: invoice.number.clone(),
        customer: customer.clone(),
        currency: invoice.currency.clone(),
        period_start: invoice.period_start,
        period_end: invoice.period_end,
        lines: collection::lines(&mut *pool.acquire().await?, invoice.id).await?,
    };
    // Each step is recorded before the next, so a crash resumes where it was.
    let provider_id = match &invoice.provider_invoice_id {
        Some(id) => id.clone(),
        None => {
            let id = provider.create_invoice(&request).await?;
            collection::created_at_provider(&mut *pool.acquire().await?, invoice.id, &id).await?;
            id
        }
    };
    if invoice.provider_finalized_at.is_none() {
        provider.finalize_invoice(&provider_id, &request).await?;
        collection::finalized_at_provider(&mut *pool.acquire().await?, invoice.id, now).await?;
    }
    if !card {
        return Ok(false);
    }
    let outcome = provider
        .pay_invoice(&provider_id, invoice.id, invoice.payment_attempts + 1)
        .await?;
    let mut tx = pool.begin().await?;
    collection::attempted(&mut tx, invoice.id, now + RETRY_PAYMENT_AFTER).await?;
    let paid = match outcome {
        PaymentOutcome::Paid => {
            mark_paid(&mut tx, invoice.id, now).await?;
            true
        }
        PaymentOutcome::Failed(reason) => {
            mark_failed(&mut tx, invoice.id, invoice.organization_id, &reason, now).await?;
            false
        }
    };
    tx.commit().await?;
    Ok(paid)
}

async fn mark_paid(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    if let Some(paid) = invoice::apply(conn, id, InvoiceEvent::Pay, now).await? {
        webhooks::invoices::tell(conn, &paid, EventType::InvoicePaid, now).await?;
        audit::record(
            &mut *conn,
            Some(paid.organization_id),
            "system:payments",
            "invoice.paid",
            "invoice",
            &paid.number,
            serde_json::json!({}),
        )
        .await?;
    }
    Ok(())
}

async fn mark_failed(
    conn: &mut PgConnection,
    id: Uuid,
    organization_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(failed) = invoice::payment_failed(conn, id, reason, now).await? {
        webhooks::invoices::tell(conn, &failed, EventType::InvoicePaymentFailed, now).await?;
    }
    sqlx::query("UPDATE subscriptions SET status = 'past_due' WHERE organization_id = $1 AND status = 'active'")
        .bind(organization_id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        &mut *conn,
        Some(organization_id),
        "system:payments",
        "invoice.payment_failed",
        "invoice",
        &id.to_string(),
        serde_json::json!({ "reason": reason }),
    )
    .await
}

/// What dunning says when the provider gives no reason.
const DECLINED: &str = "the payment was declined";

/// Why the invoice's latest payment failed, from the provider; a provider
/// that cannot say now does not hold up dunning, which then says only that
/// the payment was declined.
async fn decline_reason(provider: &dyn PaymentProvider, provider_invoice_id: &str) -> String {
    match provider.decline_reason(provider_invoice_id).await {
        Ok(Some(reason)) => reason,
        Ok(None) => DECLINED.to_owned(),
        Err(err) => {
            tracing::warn!(invoice = %provider_invoice_id, error = %err, "could not read why the payment failed");
            DECLINED.to_owned()
        }
    }
}

/// Applies a verified webhook event once; a redelivered event changes
/// nothing. Returns whether it was new.
pub async fn apply_event(
    pool: &PgPool,
    provider: Option<&dyn PaymentProvider>,
    catalog: &billing::Catalog,
    event_id: &str,
    kind: &str,
    event: PaymentEvent,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    if !collection::first_delivery(&mut tx, event_id, kind, now).await? {
        return Ok(false);
    }
    match event {
        PaymentEvent::InvoicePaid {
            provider_invoice_id,
        } => {
            if let Some((id, _)) = collection::by_provider_id(&mut tx, &provider_invoice_id).await?
            {
                mark_paid(&mut tx, id, now).await?;
            }
        }
        PaymentEvent::InvoicePaymentFailed {
            provider_invoice_id,
            reason,
        } => {
            if let Some((id, organization_id)) =
                collection::by_provider_id(&mut tx, &provider_invoice_id).await?
            {
                let reason = match (reason, provider) {
                    (Some(reason), _) => reason,
                    (None, Some(provider)) => decline_reason(provider, &provider_invoice_id).await,
                    (None, None) => DECLINED.to_owned(),
                };
                mark_failed(&mut tx, id, organization_id, &reason, now).await?;
            }
        }
        PaymentEvent::CardSetupSucceeded { customer, setup_id } => {
            // The browser may have closed before completing the setup itself.
            // Only for our own customers: the Stripe account may serve more
            // than Quartermaster, and another's default card is not ours to set.
            let ours = organization_of(&mut tx, &customer).await?.is_some();
            if let (true, Some(provider)) = (ours, provider) {
                provider.complete_card_setup(&customer, &setup_id).await?;
                mark_card_ready(&mut tx, &customer).await?;
            }
        }
        PaymentEvent::CheckoutCompleted(outcome) => {
            // A payment for credit, or a card saved for a plan: each acts
            // only on its own kind of session.
            super::prepaid::confirm_purchase(&mut tx, &catalog.prepaid, &outcome, now).await?;
            if let Some(provider) = provider {
                super::checkout::completed_by_webhook(&mut tx, provider, catalog, &outcome, now)
                    .await?;
            }
        }
        PaymentEvent::Other => {}
    }
    tx.commit().await?;
    Ok(true)
}
