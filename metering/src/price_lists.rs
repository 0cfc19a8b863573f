//! Which catalog price list rates a resource's usage
//! (`resource_price_lists`, owned here). Metering only records the name:
//! what a list charges is billing's. A resource without one is rated by
//! the catalog's own prices.

use sqlx::PgConnection;
use uuid::Uuid;

/// Rates `resource_id`'s usage by `price_list` from now on (and for any
/// usage it already has). A resource's list never changes: assigning it
/// again is a no-op.
pub async fn assign(
    conn: &mut PgConnection,
    organization_id: Uuid,
    resource_id: Uuid,
    price_list: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO resource_price_lists (resource_id, organization_id, price_list)
         VALUES ($1, $2, $3) ON CONFLICT (resource_id) DO NOTHING",
    )
    .bind(resource_id)
    .bind(organization_id)
    .bind(price_list)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every price list that rates some resource: a catalog must keep them.
pub async fn in_use(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT price_list FROM resource_price_lists ORDER BY 1")
        .fetch_all(&mut *conn)
        .await
}

/// The price list that rates one resource of the organization, if any.
pub async fn of_resource(
    conn: &mut PgConnection,
    organization_id: Uuid,
    resource_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT price_list FROM resource_price_lists
         WHERE organization_id = $1 AND resource_id = $2",
    )
    .bind(organization_id)
    .bind(resource_id)
    .fetch_optional(&mut *conn)
    .await
}
