//! Data planes: where clusters run, one per region. A data plane is a
//! Kubernetes cluster reached through a kubeconfig, or the simulated one that
//! `quartermaster dev` uses on a laptop.

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

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
