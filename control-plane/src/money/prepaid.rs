//! Prepaid credit as customers use it: buying it on the provider's
//! checkout page, automatic top-up from the card on file, expiry, and the
//! account that shows the balance, the grants and every movement. The
//! rules and tables are `billing::prepaid`'s; this drives the provider.

use billing::Catalog;
use billing::catalog::PrepaidTerms;
use billing::credit::Credit;
use billing::payments::{
    CheckoutOutcome, CheckoutPage, CheckoutPurpose, CheckoutRequest, OffSessionCharge,
    PaymentError, PaymentOutcome, PaymentProvider,
};
use billing::prepaid::purchase::{self, Confirmed, Purchase};
use billing::prepaid::top_up::{self, Settings, Standing, Step, TopUp};
use billing::prepaid::{self as billing_prepaid, Movement};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::accounts::{customer, customer_of, organization_of};
use super::checkout::ReturnUrls;
use crate::access::{OrgAccess, Permission};
use crate::validation::ValidationErrors;
use crate::{Error, Result, audit};

/// Top-ups charged per pass, at most.
const BATCH: i64 = 50;

/// An organization's credit: what the billing page and the API show.
#[derive(Debug, Clone)]
pub struct CreditAccount {
    pub balance_minor: i64,
    pub currency: String,
    /// Newest first, with what is left of each.
    pub grants: Vec<Credit>,
    /// Every movement, newest first; it sums to `balance_minor`.
    pub ledger: Vec<Movement>,
    pub purchases: Vec<Purchase>,
    pub top_up: Option<Standing>,
    pub top_ups: Vec<TopUp>,
}

pub async fn account(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<CreditAccount> {
    access.require(Permission::BillingRead)?;
    let org = access.organization_id();
    let ledger = billing_prepaid::ledger(conn, org).await?;
    Ok(CreditAccount {
        balance_minor: ledger.iter().map(|m| m.amount_minor).sum(),
        currency: catalog.currency.clone(),
        grants: billing::credit::list(conn, org).await?,
        ledger,
        purchases: purchase::list(conn, org).await?,
        top_up: top_up::standing(conn, org, now).await?,
        top_ups: top_up::list(conn, org).await?,
    })
}

/// Opens a checkout page on which the customer pays `amount_minor` for
/// credit. The credit is granted when the provider's webhook confirms the
/// payment ([`confirm_purchase`]). A repeated `request_key` gets the same
/// page.
#[allow(clippy::too_many_arguments)]
pub async fn buy(
    conn: &mut PgConnection,
    access: &OrgAccess,
    provider: &dyn PaymentProvider,
    catalog: &Catalog,
    amount_minor: i64,
    urls: &ReturnUrls,
    request_key: &str,
    now: DateTime<Utc>,
) -> Result<CheckoutPage> {
    access.require(Permission::BillingWrite)?;
    if let Err(why) = purchase::check_amount(&catalog.prepaid, amount_minor) {
        return Err(Error::Validation(ValidationErrors::single(
            "amount_minor",
            why,
        )));
    }
    let customer = customer_of(conn, access).await?;
    let org = access.organization_id();
    let page = provider
        .start_checkout(&CheckoutRequest {
            organization_id: org,
            customer,
            purpose: CheckoutPurpose::Credit { amount_minor },
            currency: catalog.currency.clone(),
            success_url: urls.success.clone(),
            cancel_url: urls.cancel.clone(),
            idempotency_key: format!("{org}-credit-{request_key}"),
        })
        .await?;
    let actor = access.principal().actor();
    purchase::opened(
        conn,
        &page.id,
        org,
        amount_minor,
        &catalog.currency,
        &actor,
        now,
    )
    .await?;
    Ok(page)
}

/// Applies a completed payment-mode checkout: the credit of a purchase
/// opened here is granted once. Anything else (a session not opened here,
/// another customer's, an amount that differs) is logged and left.
pub(crate) async fn confirm_purchase(
    conn: &mut PgConnection,
    terms: &PrepaidTerms,
    outcome: &CheckoutOutcome,
    now: DateTime<Utc>,
) -> Result<()> {
    let (Some(customer), Some(paid_minor)) = (&outcome.customer, outcome.paid_minor) else {
        return Ok(());
    };
    let Some(org) = organization_of(conn, customer).await? else {
        return Ok(());
    };
    match purchase::confirm(conn, terms, &outcome.id, org, paid_minor, now).await? {
        Confirmed::Granted(credit) => {
            audit::record(
                &mut *conn,
                Some(org),
                "stripe:checkout",
                "credit.purchase",
                "credit",
                &credit.id.to_string(),
                serde_json::json!({ "amount_minor": credit.amount_minor, "checkout_session": outcome.id }),
            )
            .await?;
        }
        Confirmed::AlreadyGranted | Confirmed::Unknown => {}
        Confirmed::AmountDiffers {
            asked_minor,
            paid_minor,
        } => {
            tracing::error!(organization = %org, session = %outcome.id, asked_minor, paid_minor,
                "a credit checkout was paid another amount than asked; no credit granted");
        }
    }
    Ok(())
}

/// Turns automatic top-up on (or changes it). It needs a card on file.
pub async fn set_top_up(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Standing> {
    access.require(Permission::BillingWrite)?;
    let mut errors = ValidationErrors::default();
    for (field, why) in settings.faults(&catalog.prepaid) {
        errors.add(field, why);
    }
    errors.finish(Some(()))?;
    let card: bool = sqlx::query_scalar(
        "SELECT payment_method_ready FROM subscriptions WHERE organization_id = $1",
    )
    .bind(access.organization_id())
    .fetch_optional(&mut *conn)
    .await?
    .unwrap_or(false);
    if !card {
        return Err(Error::PaymentMethodRequired);
    }
    top_up::set(conn, access.organization_id(), settings, now).await?;
    audit::record_as(
        conn,
        access,
        "credit.top_up_set",
        "organization",
        &access.organization_id().to_string(),
        Some(serde_json::to_value(settings).unwrap_or_default()),
    )
    .await?;
    top_up::standing(conn, access.organization_id(), now)
        .await?
        .ok_or_else(|| Error::not_found("automatic top-up"))
}

/// Turns automatic top-up off; what it was.
pub async fn clear_top_up(
    conn: &mut PgConnection,
    access: &OrgAccess,
    now: DateTime<Utc>,
) -> Result<Standing> {
    access.require(Permission::BillingWrite)?;
    let org = access.organization_id();
    let was = top_up::standing(conn, org, now)
        .await?
        .ok_or_else(|| Error::not_found("automatic top-up"))?;
    top_up::clear(conn, org).await?;
    audit::record_as(
        conn,
        access,
        "credit.top_up_cleared",
        "organization",
        &org.to_string(),
        None,
    )
    .await?;
    Ok(was)
}

/// What a pass of prepaid credit did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Grants whose unused remainder was recorded as expired.
    pub expired: u64,
    /// Top-ups started: below the threshold, armed, within the cap.
    pub top_ups_started: usize,
    /// Top-ups charged and granted.
    pub top_ups_paid: usize,
}

/// One pass: records expired remainders, starts the top-ups due, then
/// charges every pending top-up (the new ones and any a crash or an
/// unreachable provider left).
pub async fn run(
    pool: &PgPool,
    provider: Option<&dyn PaymentProvider>,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<Pass> {
    let mut pass = Pass::default();
    let mut tx = pool.begin().await?;
    pass.expired = billing_prepaid::expire(&mut tx, now).await?.unwrap_or(0);
    tx.commit().await?;
    let Some(provider) = provider else {
        return Ok(pass);
    };
    let mut tx = pool.begin().await?;
    for standing in top_up::lock_all(&mut tx, now).await? {
        let step = top_up::decide(
            &standing.settings,
            standing.armed,
            standing.balance_minor,
            standing.charged_minor,
        );
        match step {
            Step::Charge => {
                top_up::start(&mut tx, &standing, &catalog.currency, now).await?;
                pass.top_ups_started += 1;
            }
            Step::Arm => top_up::arm(&mut tx, standing.organization_id, true).await?,
            Step::CapReached | Step::Wait => {}
        }
    }
    tx.commit().await?;
    let mut tx = pool.begin().await?;
    for pending in top_up::pending(&mut tx, BATCH).await? {
        match charge(&mut tx, provider, &catalog.prepaid, &pending, now).await {
            Ok(paid) => pass.top_ups_paid += usize::from(paid),
            // Left pending: the next pass repeats the same keyed calls.
            Err(err) => {
                tracing::warn!(top_up = %pending.id, error = %err, "charging a top-up failed; will retry")
            }
        }
    }
    tx.commit().await?;
    Ok(pass)
}

/// Charges one top-up to the card on file, keyed by the top-up's id so a
/// retry charges once. Returns whether it was paid; a decline settles it
/// as failed.
async fn charge(
    conn: &mut PgConnection,
    provider: &dyn PaymentProvider,
    terms: &PrepaidTerms,
    pending: &TopUp,
    now: DateTime<Utc>,
) -> Result<bool> {
    let outcome = match customer(conn, pending.organization_id).await? {
        None => PaymentOutcome::Failed("no payment account".to_owned()),
        Some(customer) => {
            let charge = OffSessionCharge {
                customer,
                amount_minor: pending.amount_minor,
                currency: pending.currency.clone(),
                description: "Prepaid credit top-up".to_owned(),
                reference: ("top_up_id".to_owned(), pending.id.to_string()),
                idempotency_key: format!("top-up-{}", pending.id),
            };
            match provider.charge_off_session(&charge).await {
                Ok(outcome) => outcome,
                Err(PaymentError::Refused(reason)) => PaymentOutcome::Failed(reason),
                Err(err @ PaymentError::Unavailable(_)) => return Err(err.into()),
            }
        }
    };
    match outcome {
        PaymentOutcome::Paid => {
            let credit = top_up::paid(conn, terms, pending, now).await?;
            audit::record(
                &mut *conn,
                Some(pending.organization_id),
                "system:top_up",
                "credit.top_up",
                "credit",
                &credit.id.to_string(),
                serde_json::json!({ "amount_minor": credit.amount_minor, "top_up": pending.id }),
            )
            .await?;
            Ok(true)
        }
        PaymentOutcome::Failed(reason) => {
            top_up::failed(conn, pending.id, &reason, now).await?;
            Ok(false)
        }
    }
}
