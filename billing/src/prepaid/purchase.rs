//! Credit bought on the payment provider's checkout page. The purchase is
//! recorded when the page is opened, so that the provider's confirmation
//! can be checked against what was asked: the session, the organization
//! and the amount. The credit is granted when the webhook confirms the
//! payment, never on the return page, and once however often it comes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;
use crate::catalog::PrepaidTerms;
use crate::credit::{self, Credit, NewCredit, Source};

/// A purchase as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Purchase {
    pub checkout_session_id: String,
    pub organization_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    /// The grant, once the payment is confirmed.
    pub credit_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// Whether `amount_minor` may be bought under `terms`; why not, if not.
pub fn check_amount(terms: &PrepaidTerms, amount_minor: i64) -> std::result::Result<(), String> {
    if (terms.min_purchase_minor..=terms.max_purchase_minor).contains(&amount_minor) {
        Ok(())
    } else {
        Err(format!(
            "must be from {} to {} (minor units)",
            terms.min_purchase_minor, terms.max_purchase_minor
        ))
    }
}

/// Records the checkout opened for a purchase. Opening the same session
/// again (the provider answers a repeated request with it) records nothing.
pub async fn opened(
    conn: &mut PgConnection,
    session_id: &str,
    organization_id: Uuid,
    amount_minor: i64,
    currency: &str,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO credit_purchases
             (checkout_session_id, organization_id, amount_minor, currency, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (checkout_session_id) DO NOTHING",
    )
    .bind(session_id)
    .bind(organization_id)
    .bind(amount_minor)
    .bind(currency)
    .bind(created_by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a confirmation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The credit was granted now.
    Granted(Credit),
    /// Granted by an earlier confirmation.
    AlreadyGranted,
    /// No purchase of this organization was opened with this session.
    Unknown,
    /// The provider reports another amount than was asked: nothing granted.
    AmountDiffers { asked_minor: i64, paid_minor: i64 },
}

/// Grants the credit of the purchase opened as `session_id` by
/// `organization_id`, which the provider says was paid `paid_minor`.
pub async fn confirm(
    conn: &mut PgConnection,
    terms: &PrepaidTerms,
    session_id: &str,
    organization_id: Uuid,
    paid_minor: i64,
    now: DateTime<Utc>,
) -> Result<Confirmed> {
    let found: Option<(i64, Option<Uuid>)> = sqlx::query_as(
        "SELECT amount_minor, credit_id FROM credit_purchases
         WHERE checkout_session_id = $1 AND organization_id = $2 FOR UPDATE",
    )
    .bind(session_id)
    .bind(organization_id)
    .fetch_optional(&mut *conn)
    .await?;
    let asked_minor = match found {
        None => return Ok(Confirmed::Unknown),
        Some((_, Some(_))) => return Ok(Confirmed::AlreadyGranted),
        Some((asked, None)) => asked,
    };
    if asked_minor != paid_minor {
        return Ok(Confirmed::AmountDiffers {
            asked_minor,
            paid_minor,
        });
    }
    let reason = format!("Prepaid credit bought on checkout {session_id}");
    let credit = credit::grant(
        conn,
        &NewCredit {
            organization_id,
            amount_minor: asked_minor,
            source: Source::Purchase,
            reason: &reason,
            created_by: "stripe:checkout",
            expires_at: super::expiry(terms, now),
        },
    )
    .await?;
    sqlx::query(
        "UPDATE credit_purchases SET credit_id = $2, paid_at = $3 WHERE checkout_session_id = $1",
    )
    .bind(session_id)
    .bind(credit.id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Confirmed::Granted(credit))
}

/// The organization's purchases, newest first.
pub async fn list(conn: &mut PgConnection, organization_id: Uuid) -> Result<Vec<Purchase>> {
    Ok(sqlx::query_as(
        "SELECT checkout_session_id, organization_id, amount_minor, currency, credit_id,
                created_at, paid_at
         FROM credit_purchases WHERE organization_id = $1 ORDER BY created_at DESC",
    )
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?)
}
