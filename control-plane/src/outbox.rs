//! The outbox: side effects (Stripe calls, email) recorded in the
//! transaction of the change that needs them, performed later by a worker.
//!
//! A worker claims due rows of one topic with `FOR UPDATE SKIP LOCKED`, so
//! replicas share the work, performs each inside that transaction, and
//! settles it: done, or tried again later with backoff. The effect happens
//! at least once; each topic's work is written to make a repeat harmless
//! (an idempotency key at Stripe) or acceptable (a second email).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::Result;

/// At most this many rows a pass.
const BATCH: i64 = 50;

/// The kinds of side effect the control plane asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Create the payment provider's customer for a new organization.
    CreatePaymentCustomer,
    /// Send an email (its payload is the message).
    SendEmail,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::CreatePaymentCustomer => "payments.customer.create",
            Topic::SendEmail => "email.send",
        }
    }

    /// Whether the payload holds a secret (an invitation's link), wiped
    /// once the effect is done.
    fn secret_payload(self) -> bool {
        match self {
            Topic::CreatePaymentCustomer => false,
            Topic::SendEmail => true,
        }
    }
}

/// A claimed row: its work to do.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// Backoff of a row after `attempts` failures: 30 s doubling, at most 6 hours.
pub(crate) fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 10)).unwrap_or(10);
    Duration::seconds((30i64 << exp).min(6 * 3600))
}

/// Claims the due rows of `topic`, oldest first, in a transaction held
/// until the caller commits it.
pub async fn claim(
    pool: &PgPool,
    topic: Topic,
    now: DateTime<Utc>,
) -> Result<(Transaction<'static, Postgres>, Vec<Claimed>)> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query_as(
        "SELECT id, payload, attempts FROM outbox
         WHERE topic = $1 AND processed_at IS NULL AND available_at <= $2
         ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED",
    )
    .bind(topic.as_str())
    .bind(now)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    Ok((tx, rows))
}

/// Records how `row`'s work went; whether it is done.
pub async fn settle<E: std::fmt::Display>(
    conn: &mut PgConnection,
    topic: Topic,
    row: &Claimed,
    outcome: std::result::Result<(), E>,
    now: DateTime<Utc>,
) -> Result<bool> {
    match outcome {
        Ok(()) => {
            sqlx::query(
                "UPDATE outbox SET processed_at = $2, attempts = attempts + 1,
                        payload = CASE WHEN $3 THEN '{}'::jsonb ELSE payload END
                 WHERE id = $1",
            )
            .bind(row.id)
            .bind(now)
            .bind(topic.secret_payload())
            .execute(&mut *conn)
            .await?;
            Ok(true)
        }
        Err(err) => {
            tracing::warn!(outbox = row.id, topic = topic.as_str(), error = %err,
                "an outbox effect failed; will retry");
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2, available_at = $3
                 WHERE id = $1",
            )
            .bind(row.id)
            .bind(err.to_string())
            .bind(now + backoff(row.attempts))
            .execute(&mut *conn)
            .await?;
            Ok(false)
        }
    }
}

pub async fn enqueue(
    conn: &mut PgConnection,
    topic: Topic,
    payload: &impl Serialize,
) -> Result<()> {
    let payload = serde_json::to_value(payload)
        .map_err(|e| crate::Error::Database(sqlx::Error::Encode(e.into())))?;
    sqlx::query("INSERT INTO outbox (topic, payload) VALUES ($1, $2)")
        .bind(topic.as_str())
        .bind(payload)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_up_to_six_hours() {
        assert_eq!(backoff(0), Duration::seconds(30));
        assert_eq!(backoff(3), Duration::seconds(240));
        assert_eq!(backoff(20), Duration::hours(6));
        assert_eq!(backoff(-1), Duration::seconds(30));
    }
}
