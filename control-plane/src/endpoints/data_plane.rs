//! What a data plane's own programs ask of its endpoints, with the data
//! plane's credential rather than a customer's: the gateway wakes an
//! endpoint it holds a request for, and learns which endpoints serve.

use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

use crate::{Error, Result};

/// The model an endpoint `e` serves, in SQL: its hub repository, or for an
/// image endpoint (which names no model) its own name, as far as the
/// gateway knows.
pub(crate) const SERVED_MODEL: &str = "coalesce(e.spec -> 'model' ->> 'repository', e.name)";

/// An endpoint of a data plane as its gateway routes to it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Serving {
    pub id: Uuid,
    /// The model its engine serves (`--model`).
    pub served_model: String,
    /// Ready: its engine answers.
    pub ready: bool,
}

/// Wakes endpoint `id` of `data_plane`, as the customer's `…/wake` does;
/// not found when the data plane has no such endpoint (or it is being
/// deleted). Waking twice is harmless.
pub async fn wake(conn: &mut PgConnection, data_plane: Uuid, id: Uuid) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE inference_endpoints SET wake_requested_at = now(), updated_at = now()
         WHERE data_plane_id = $1 AND id = $2 AND deletion_requested_at IS NULL",
    )
    .bind(data_plane)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(Error::NotFound {
            resource: "endpoint",
        });
    }
    Ok(())
}

/// The endpoints of `data_plane` not being deleted, and whether each is
/// ready: what the simulated data plane's gateway routes by.
pub async fn serving(conn: &mut PgConnection, data_plane: Uuid) -> Result<Vec<Serving>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT e.id, {SERVED_MODEL} AS served_model, e.phase = 'Ready' AS ready
         FROM inference_endpoints e
         WHERE e.data_plane_id = $1 AND e.deletion_requested_at IS NULL
         ORDER BY e.id"
    )))
    .bind(data_plane)
    .fetch_all(&mut *conn)
    .await?)
}
