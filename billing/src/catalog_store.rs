//! The catalog as data in PostgreSQL: each edit a new version, the newest in
//! force, and a cache of it in each replica. Owns `catalog_versions`.

use std::sync::{Arc, RwLock};

use sqlx::{PgConnection, PgPool};

use crate::catalog::{Catalog, CatalogError};
use crate::plan_history;
use crate::{Error, Result};

/// A catalog version as published.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub version: i64,
    pub catalog: Catalog,
}

/// The catalog in force.
pub async fn current(conn: &mut PgConnection) -> Result<Option<Published>> {
    let row: Option<(i64, serde_json::Value)> = sqlx::query_as(
        "SELECT version, document FROM catalog_versions ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|(version, document)| {
        Ok(Published {
            version,
            catalog: Catalog::from_json(document)?,
        })
    })
    .transpose()
}

/// The catalog as it was in `version`: what an invoice rated with it is
/// re-rated with.
pub async fn version(conn: &mut PgConnection, version: i64) -> Result<Option<Catalog>> {
    let document: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT document FROM catalog_versions WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(document.map(Catalog::from_json).transpose()?)
}

/// Publishes `catalog` as the new version in force. Refused when it drops a
/// plan that an organization is on, or a price list that rates a resource.
pub async fn publish(conn: &mut PgConnection, catalog: &Catalog, by: &str) -> Result<Published> {
    // Serialize publishers, so the in-use check holds when we insert.
    sqlx::query("LOCK TABLE catalog_versions IN EXCLUSIVE MODE")
        .execute(&mut *conn)
        .await?;
    let in_use = plan_history::plans_in_force(conn).await?;
    if let Some(missing) = in_use
        .into_iter()
        .find(|p| catalog.plan(&p.clone().into()).is_none())
    {
        return Err(CatalogError::PlanInUse(missing).into());
    }
    // Usage of a resource in such a list could not be rated any more.
    if let Some(missing) = metering::price_lists::in_use(conn)
        .await?
        .into_iter()
        .find(|id| catalog.price_list(id).is_none())
    {
        return Err(CatalogError::PriceListInUse(missing).into());
    }
    let document =
        serde_json::to_value(catalog).map_err(|e| Error::Catalog(CatalogError::Shape(e)))?;
    let version = sqlx::query_scalar(
        "INSERT INTO catalog_versions (document, created_by) VALUES ($1, $2) RETURNING version",
    )
    .bind(document)
    .bind(by)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Published {
        version,
        catalog: catalog.clone(),
    })
}

/// The catalog in force, publishing `initial` first if none ever was.
pub async fn ensure(pool: &PgPool, initial: &Catalog) -> Result<Published> {
    let mut tx = pool.begin().await?;
    let published = match current(&mut tx).await? {
        Some(published) => published,
        None => publish(&mut tx, initial, "system:initial").await?,
    };
    tx.commit().await?;
    Ok(published)
}

/// One replica's view of the catalog in force: read on every request, and
/// refreshed from PostgreSQL by [`LiveCatalog::refresh`].
#[derive(Debug)]
pub struct LiveCatalog(RwLock<Arc<Published>>);

impl LiveCatalog {
    pub fn new(published: Published) -> Self {
        LiveCatalog(RwLock::new(Arc::new(published)))
    }

    pub fn get(&self) -> Arc<Published> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set(&self, published: Published) {
        let mut guard = match self.0.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if published.version >= guard.version {
            *guard = Arc::new(published);
        }
    }

    /// Picks up a version published by another replica.
    pub async fn refresh(&self, pool: &PgPool) -> Result<()> {
        let mut conn = pool.acquire().await?;
        if let Some(published) = current(&mut conn).await? {
            self.set(published);
        }
        Ok(())
    }
}
