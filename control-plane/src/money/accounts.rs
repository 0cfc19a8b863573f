//! An organization's payment account as the subscription row holds it:
//! its customer at the provider, and whether a card is on file. Checkout
//! and payment collection both read it; neither reads the other for it.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::access::OrgAccess;
use crate::{Error, Result};

/// The organization's customer at the payment provider, once made.
pub(crate) async fn customer_of(conn: &mut PgConnection, access: &OrgAccess) -> Result<String> {
    customer(conn, access.organization_id())
        .await?
        .ok_or(Error::PaymentAccountPending)
}

/// The organization's customer at the payment provider, if made: for
/// workers, which act for no caller.
pub(crate) async fn customer(
    conn: &mut PgConnection,
    organization_id: Uuid,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT payment_customer_id FROM subscriptions WHERE organization_id = $1",
    )
    .bind(organization_id)
    .fetch_optional(&mut *conn)
    .await?
    .flatten())
}

/// The organization whose payment customer `customer` is, if it is ours.
pub(crate) async fn organization_of(
    conn: &mut PgConnection,
    customer: &str,
) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT organization_id FROM subscriptions WHERE payment_customer_id = $1",
    )
    .bind(customer)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Marks the customer's card as on file.
pub(crate) async fn mark_card_ready(conn: &mut PgConnection, customer: &str) -> Result<()> {
    let organizations: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE subscriptions SET payment_method_ready = true
         WHERE payment_customer_id = $1 RETURNING organization_id",
    )
    .bind(customer)
    .fetch_all(&mut *conn)
    .await?;
    // A card makes failed invoices worth charging again now.
    Ok(billing::collection::retry_now(conn, &organizations).await?)
}
