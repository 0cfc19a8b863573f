//! The outbox: side effects (Stripe calls, data-plane work) recorded in the
//! transaction of the change that needs them, performed later by a worker.

use serde::Serialize;
use sqlx::PgConnection;

use crate::Result;

/// The kinds of side effect the control plane asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Create the payment provider's customer for a new organization.
    CreatePaymentCustomer,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::CreatePaymentCustomer => "payments.customer.create",
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
