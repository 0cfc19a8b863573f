//! Data planes: where clusters run, one per region. A data plane is a
//! Kubernetes cluster reached through a kubeconfig, or the simulated one that
//! `quartermaster dev` uses on a laptop.

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::on_unique;
use crate::{Conflict, Result};

/// A region customers can place clusters in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Region {
    pub region: String,
    /// The data plane is simulated: clusters there serve nothing.
    pub simulated: bool,
}

/// Registers (or finds) the simulated data plane for `region`.
pub async fn ensure_simulated(conn: &mut PgConnection, name: &str, region: &str) -> Result<Uuid> {
    let id = sqlx::query_scalar(
        "INSERT INTO data_planes (id, name, region, kind) VALUES ($1, $2, $3, 'simulated')
         ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(region)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Registers a Kubernetes data plane serving `region`, reached with
/// `kubeconfig` (kept in the database: treat its backups as secret).
pub async fn register_kubernetes(
    conn: &mut PgConnection,
    name: &str,
    region: &str,
    kubeconfig: &str,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO data_planes (id, name, region, kind, kubeconfig)
         VALUES ($1, $2, $3, 'kubernetes', $4)",
    )
    .bind(id)
    .bind(name)
    .bind(region)
    .bind(kubeconfig)
    .execute(&mut *conn)
    .await
    .map_err(|err| {
        let name_taken = on_unique(
            "data_planes_name_key",
            Conflict::DataPlaneExists(format!("a data plane named `{name}`")),
        );
        match name_taken(err) {
            crate::Error::Database(err) => on_unique(
                "data_planes_region_key",
                Conflict::DataPlaneExists(format!("a data plane for region `{region}`")),
            )(err),
            other => other,
        }
    })?;
    Ok(id)
}

pub async fn regions(conn: &mut PgConnection) -> Result<Vec<Region>> {
    Ok(sqlx::query_as(
        "SELECT region, kind = 'simulated' AS simulated FROM data_planes ORDER BY region",
    )
    .fetch_all(&mut *conn)
    .await?)
}

pub(crate) async fn by_region(conn: &mut PgConnection, region: &str) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM data_planes WHERE region = $1")
            .bind(region)
            .fetch_optional(&mut *conn)
            .await?,
    )
}
