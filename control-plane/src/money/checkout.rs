//! Upgrading through a hosted checkout page (Stripe Checkout in setup
//! mode): the customer saves a card on the provider's page, and the
//! organization moves to the plan it chose.
//!
//! A checkout finishes twice, harmlessly: when the browser comes back to
//! the success URL, and when the provider's `checkout.session.completed`
//! webhook arrives (for a customer who closed the tab). Both save the card
//! as the default and change the plan; the second finds both done.

use billing::Catalog;
use billing::payments::{
    CheckoutOutcome, CheckoutPage, CheckoutPurpose, CheckoutRequest, PaymentProvider,
};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::accounts::{customer_of, mark_card_ready, organization_of};
use super::subscriptions::{self, PlanChange, Subscription};
use crate::access::{OrgAccess, Permission};
use crate::validation::ValidationErrors;
use crate::{Conflict, Error, Result, audit};

/// Where the provider sends the browser back. `success` may contain
/// `{CHECKOUT_SESSION_ID}`, which the provider fills in.
#[derive(Debug, Clone)]
pub struct ReturnUrls {
    pub success: String,
    pub cancel: String,
}

/// Opens a checkout page for moving to the paid `plan`. Refused before the
/// customer types a card if the plan is unknown, free, or too small for
/// what the organization holds. The provider answers a repeated
/// `request_key` with the same page.
pub async fn start(
    conn: &mut PgConnection,
    access: &OrgAccess,
    provider: &dyn PaymentProvider,
    catalog: &Catalog,
    plan: &str,
    urls: &ReturnUrls,
    request_key: &str,
) -> Result<CheckoutPage> {
    access.require(Permission::BillingWrite)?;
    let target = subscriptions::plan_named(catalog, plan)?;
    if !target.is_paid() {
        let mut errors = ValidationErrors::default();
        errors.add(
            "plan",
            format!("plan `{}` costs nothing: change to it directly", target.id),
        );
        return Err(Error::Validation(errors));
    }
    let holdings = subscriptions::holdings_of(conn, access.organization_id()).await?;
    billing::entitlements::may_change_plan(target, &holdings)?;
    let customer = customer_of(conn, access).await?;
    Ok(provider
        .start_checkout(&CheckoutRequest {
            organization_id: access.organization_id(),
            customer,
            purpose: CheckoutPurpose::Plan(target.id.to_string()),
            currency: catalog.currency.clone(),
            success_url: urls.success.clone(),
            cancel_url: urls.cancel.clone(),
            idempotency_key: format!("{}-{request_key}", access.organization_id()),
        })
        .await?)
}

/// Finishes the checkout `session_id` the browser came back from. Another
/// organization's session is not found, exactly as a session that does not
/// exist.
pub async fn complete(
    conn: &mut PgConnection,
    access: &OrgAccess,
    provider: &dyn PaymentProvider,
    catalog: &Catalog,
    session_id: &str,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    access.require(Permission::BillingWrite)?;
    let customer = customer_of(conn, access).await?;
    let outcome = provider.checkout_outcome(session_id).await?;
    if outcome.customer.as_deref() != Some(customer.as_str()) {
        return Err(Error::not_found("checkout session"));
    }
    let actor = access.principal().actor();
    let plan = save_card(
        conn,
        provider,
        access.organization_id(),
        &customer,
        &outcome,
        &actor,
    )
    .await?;
    if let Some(plan) = plan {
        let change = PlanChange {
            actor,
            card_required: true,
        };
        subscriptions::move_to_plan(conn, access.organization_id(), catalog, &plan, &change, now)
            .await?;
    }
    subscriptions::get(conn, access, now).await
}

/// Applies a `checkout.session.completed` event: the card is saved and the
/// plan changed as if the browser had come back. A plan the organization no
/// longer fits is left unchanged (and logged): the card stays saved, and
/// the customer can choose again.
pub(crate) async fn completed_by_webhook(
    conn: &mut PgConnection,
    provider: &dyn PaymentProvider,
    catalog: &Catalog,
    outcome: &CheckoutOutcome,
    now: DateTime<Utc>,
) -> Result<()> {
    // Not one of ours to act on: another kind of checkout (a payment, no
    // card saved) or no customer. Acknowledged, so Stripe stops resending.
    let (Some(customer), Some(_)) = (&outcome.customer, &outcome.setup_id) else {
        return Ok(());
    };
    let Some(organization_id) = organization_of(conn, customer).await? else {
        return Ok(());
    };
    let actor = "stripe:checkout".to_owned();
    let Some(plan) = save_card(conn, provider, organization_id, customer, outcome, &actor).await?
    else {
        return Ok(());
    };
    let change = PlanChange {
        actor,
        card_required: true,
    };
    match subscriptions::move_to_plan(conn, organization_id, catalog, &plan, &change, now).await {
        Err(err @ (Error::Denied(_) | Error::Validation(_))) => {
            tracing::warn!(organization = %organization_id, %plan, error = %err,
                "a completed checkout's plan no longer fits; the card is saved, the plan unchanged");
            Ok(())
        }
        other => other,
    }
}

/// Makes the checkout's card the customer's default and opens paid plans;
/// returns the plan the checkout was for.
async fn save_card(
    conn: &mut PgConnection,
    provider: &dyn PaymentProvider,
    organization_id: Uuid,
    customer: &str,
    outcome: &CheckoutOutcome,
    actor: &str,
) -> Result<Option<String>> {
    let setup_id = outcome
        .setup_id
        .as_deref()
        .ok_or(Error::Conflict(Conflict::CheckoutIncomplete))?;
    provider.complete_card_setup(customer, setup_id).await?;
    mark_card_ready(conn, customer).await?;
    audit::record(
        &mut *conn,
        Some(organization_id),
        actor,
        "billing.card_added",
        "organization",
        &organization_id.to_string(),
        serde_json::json!({ "checkout_session": outcome.id }),
    )
    .await?;
    Ok(outcome.plan.clone())
}
