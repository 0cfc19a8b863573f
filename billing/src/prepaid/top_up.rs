//! Automatic top-up: when the balance falls below the customer's threshold,
//! a set amount is charged to the card on file and granted as credit, once
//! per crossing and at most a monthly cap.
//!
//! The decision is [`decide`], pure. A crossing is remembered by `armed`:
//! a charge disarms, and only a balance back at the threshold arms again,
//! so a top-up that does not lift the balance over the threshold (or a
//! charge that failed) is not repeated pass after pass.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;
use crate::catalog::PrepaidTerms;
use crate::credit::{self, Credit, NewCredit, Source};

/// What the customer set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Settings {
    /// Top up when the balance is below this.
    pub threshold_minor: i64,
    /// Charge this much each time.
    pub amount_minor: i64,
    /// At most this much a calendar month (UTC).
    pub monthly_cap_minor: i64,
}

impl Settings {
    /// Why these settings cannot be kept under `terms`, field by field.
    pub fn faults(&self, terms: &PrepaidTerms) -> Vec<(&'static str, String)> {
        let mut faults = Vec::new();
        if self.threshold_minor < 0 {
            faults.push(("threshold_minor", "must not be negative".to_owned()));
        }
        if let Err(why) = super::purchase::check_amount(terms, self.amount_minor) {
            faults.push(("amount_minor", why));
        }
        if self.monthly_cap_minor < self.amount_minor {
            faults.push((
                "monthly_cap_minor",
                "must be at least amount_minor".to_owned(),
            ));
        }
        faults
    }
}

/// What a pass does for one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Charge the amount now, and disarm.
    Charge,
    /// The balance is back at the threshold: arm for the next crossing.
    Arm,
    /// Below the threshold, but this month's charges would pass the cap.
    CapReached,
    /// Nothing to do.
    Wait,
}

/// The step for a balance of `balance_minor`, with `charged_minor` charged
/// (or being charged) this month.
pub fn decide(settings: &Settings, armed: bool, balance_minor: i64, charged_minor: i64) -> Step {
    if balance_minor >= settings.threshold_minor {
        return if armed { Step::Wait } else { Step::Arm };
    }
    if !armed {
        return Step::Wait;
    }
    match charged_minor.checked_add(settings.amount_minor) {
        Some(total) if total <= settings.monthly_cap_minor => Step::Charge,
        _ => Step::CapReached,
    }
}

/// An organization's settings with where it stands.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Standing {
    pub organization_id: Uuid,
    #[sqlx(flatten)]
    pub settings: Settings,
    pub armed: bool,
    pub balance_minor: i64,
    /// Top-ups charged or being charged in the calendar month of `now`.
    pub charged_minor: i64,
}

/// Sets (or replaces) the organization's settings, armed.
pub async fn set(
    conn: &mut PgConnection,
    organization_id: Uuid,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO credit_top_up_settings
             (organization_id, threshold_minor, amount_minor, monthly_cap_minor, armed, updated_at)
         VALUES ($1, $2, $3, $4, true, $5)
         ON CONFLICT (organization_id) DO UPDATE
         SET threshold_minor = $2, amount_minor = $3, monthly_cap_minor = $4, armed = true,
             updated_at = $5",
    )
    .bind(organization_id)
    .bind(settings.threshold_minor)
    .bind(settings.amount_minor)
    .bind(settings.monthly_cap_minor)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Turns automatic top-up off.
pub async fn clear(conn: &mut PgConnection, organization_id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM credit_top_up_settings WHERE organization_id = $1")
        .bind(organization_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

const STANDING: &str = "SELECT s.organization_id, s.threshold_minor, s.amount_minor,
            s.monthly_cap_minor, s.armed,
            coalesce((SELECT sum(g.amount_minor) FROM credit_ledger g
                      WHERE g.organization_id = s.organization_id), 0)::bigint AS balance_minor,
            coalesce((SELECT sum(t.amount_minor) FROM credit_top_ups t
                      WHERE t.organization_id = s.organization_id AND t.status <> 'failed'
                        AND t.created_at >= date_trunc('month', $1 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
                     0)::bigint AS charged_minor
     FROM credit_top_up_settings s";

/// Where the organization stands, if it has automatic top-up on.
pub async fn standing(
    conn: &mut PgConnection,
    organization_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Standing>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{STANDING} WHERE s.organization_id = $2"
    )))
    .bind(now)
    .bind(organization_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Every organization with automatic top-up on, locked for this pass
/// (another pass skips them): one statement however many there are.
pub async fn lock_all(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Vec<Standing>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{STANDING} ORDER BY s.organization_id FOR UPDATE OF s SKIP LOCKED"
    )))
    .bind(now)
    .fetch_all(&mut *conn)
    .await?)
}

/// Sets whether the organization is armed.
pub async fn arm(conn: &mut PgConnection, organization_id: Uuid, armed: bool) -> Result<()> {
    sqlx::query("UPDATE credit_top_up_settings SET armed = $2 WHERE organization_id = $1")
        .bind(organization_id)
        .bind(armed)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A top-up as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TopUp {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    /// `pending`, `paid` or `failed`.
    pub status: String,
    pub credit_id: Option<Uuid>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, organization_id, amount_minor, currency, status, credit_id, error, created_at, settled_at";

/// Records a top-up to charge and disarms the organization, in the
/// caller's transaction (the one holding its settings from [`lock_all`]).
pub async fn start(
    conn: &mut PgConnection,
    standing: &Standing,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<TopUp> {
    arm(conn, standing.organization_id, false).await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO credit_top_ups (id, organization_id, amount_minor, currency, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(standing.organization_id)
    .bind(standing.settings.amount_minor)
    .bind(currency)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

/// Top-ups not yet settled, oldest first, locked for this pass.
pub async fn pending(conn: &mut PgConnection, limit: i64) -> Result<Vec<TopUp>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credit_top_ups WHERE status = 'pending'
         ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED"
    )))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// The charge went through: the credit is granted.
pub async fn paid(
    conn: &mut PgConnection,
    terms: &PrepaidTerms,
    top_up: &TopUp,
    now: DateTime<Utc>,
) -> Result<Credit> {
    let credit = credit::grant(
        conn,
        &NewCredit {
            organization_id: top_up.organization_id,
            amount_minor: top_up.amount_minor,
            source: Source::TopUp,
            reason: "Automatic top-up",
            created_by: "system:top_up",
            expires_at: super::expiry(terms, now),
        },
    )
    .await?;
    sqlx::query(
        "UPDATE credit_top_ups SET status = 'paid', credit_id = $2, settled_at = $3 WHERE id = $1",
    )
    .bind(top_up.id)
    .bind(credit.id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(credit)
}

/// The charge was refused; the organization stays disarmed until its
/// balance recovers or it sets top-up again.
pub async fn failed(
    conn: &mut PgConnection,
    id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE credit_top_ups SET status = 'failed', error = $2, settled_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The organization's top-ups, newest first.
pub async fn list(conn: &mut PgConnection, organization_id: Uuid) -> Result<Vec<TopUp>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credit_top_ups WHERE organization_id = $1
         ORDER BY created_at DESC LIMIT 50"
    )))
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: Settings = Settings {
        threshold_minor: 2_000,
        amount_minor: 5_000,
        monthly_cap_minor: 10_000,
    };

    #[test]
    fn a_crossing_charges_once_and_only_a_recovered_balance_arms_again() {
        // Armed, and below: charge.
        assert_eq!(decide(&SETTINGS, true, 1_999, 0), Step::Charge);
        // Charged (disarmed), still below: wait, however often asked.
        assert_eq!(decide(&SETTINGS, false, 1_999, 5_000), Step::Wait);
        // Back at the threshold: arm; armed and above: nothing.
        assert_eq!(decide(&SETTINGS, false, 2_000, 5_000), Step::Arm);
        assert_eq!(decide(&SETTINGS, true, 7_000, 5_000), Step::Wait);
    }

    #[test]
    fn the_monthly_cap_holds_a_charge_that_would_pass_it() {
        assert_eq!(decide(&SETTINGS, true, 0, 5_000), Step::Charge);
        assert_eq!(decide(&SETTINGS, true, 0, 5_001), Step::CapReached);
        assert_eq!(decide(&SETTINGS, true, 0, i64::MAX), Step::CapReached);
    }

    #[test]
    fn settings_outside_the_catalog_bounds_are_refused_by_field() {
        let terms = PrepaidTerms::default();
        assert!(SETTINGS.faults(&terms).is_empty());
        let bad = Settings {
            threshold_minor: -1,
            amount_minor: terms.max_purchase_minor + 1,
            monthly_cap_minor: 0,
        };
        let fields: Vec<_> = bad.faults(&terms).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["threshold_minor", "amount_minor", "monthly_cap_minor"]
        );
    }
}
