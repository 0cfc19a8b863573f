//! What vector clusters and inference endpoints share as resources of an
//! organization with a desired spec: a table each, rows read and changed
//! only within their organization, a deletion that is asked for first and
//! completed once the data plane confirms it.
//!
//! Only the statements that are the same but for the table live here; each
//! kind's columns, spec, entitlements and phases stay in its own store.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, FromRow, PgConnection};
use uuid::Uuid;

use crate::access::OrgAccess;
use crate::page::{Page, PageRequest};
use crate::{Conflict, Error, Result, audit};

/// A kind of resource; each has its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Cluster,
    Endpoint,
}

impl Kind {
    /// A table name from this closed set, never from input.
    pub(crate) fn table(self) -> &'static str {
        match self {
            Kind::Cluster => "vector_clusters",
            Kind::Endpoint => "inference_endpoints",
        }
    }

    /// What a "not found" names.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster",
            Kind::Endpoint => "endpoint",
        }
    }

    /// The target type of its audit rows.
    pub(crate) fn target_type(self) -> &'static str {
        match self {
            Kind::Cluster => "vector_cluster",
            Kind::Endpoint => "inference_endpoint",
        }
    }

    /// An audit action on this kind: `cluster.create`, `endpoint.deleted`.
    pub(crate) fn action(self, verb: &str) -> String {
        format!("{}.{verb}", self.noun())
    }

    fn deleting(self) -> Conflict {
        match self {
            Kind::Cluster => Conflict::ClusterDeleting,
            Kind::Endpoint => Conflict::EndpointDeleting,
        }
    }
}

/// A resource's row as its store reads it.
pub(crate) trait Row: for<'r> FromRow<'r, PgRow> + Send + Unpin {
    const KIND: Kind;
    /// `SELECT … FROM <table> r JOIN data_planes d ON d.id = r.data_plane_id`:
    /// the statements here add their `WHERE` on `r`.
    const SELECT: &'static str;

    fn deletion_requested_at(&self) -> Option<DateTime<Utc>>;
}

/// One resource of the caller's organization.
pub(crate) async fn get<R: Row>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
) -> Result<R> {
    scoped(conn, access, id, "").await
}

/// A page of the caller's organization's resources, oldest first.
pub(crate) async fn list<R: Row>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    page: PageRequest,
) -> Result<Page<R>> {
    let rows = sqlx::query_as(AssertSqlSafe(format!(
        "{} WHERE r.organization_id = $1 AND r.id > $2 ORDER BY r.id LIMIT $3",
        R::SELECT
    )))
    .bind(access.organization_id())
    .bind(page.after())
    .bind(page.fetch())
    .fetch_all(&mut *conn)
    .await?;
    Ok(page.finish(rows))
}

/// A resource locked for a change to its spec; refused while its deletion
/// is under way.
pub(crate) async fn lock_for_change<R: Row>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
) -> Result<R> {
    let row: R = scoped(conn, access, id, " FOR UPDATE OF r").await?;
    refuse_deleting(&row)?;
    Ok(row)
}

/// Refuses a change to a resource whose deletion is under way.
pub(crate) fn refuse_deleting<R: Row>(row: &R) -> Result<()> {
    match row.deletion_requested_at() {
        Some(_) => Err(Error::Conflict(R::KIND.deleting())),
        None => Ok(()),
    }
}

async fn scoped<R: Row>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
    lock: &'static str,
) -> Result<R> {
    sqlx::query_as(AssertSqlSafe(format!(
        "{} WHERE r.organization_id = $1 AND r.id = $2{lock}",
        R::SELECT
    )))
    .bind(access.organization_id())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found(R::KIND.noun()))
}

/// Asks for a resource to be deleted. The row stays, in phase `Deleting`,
/// until the data plane confirms the resource is gone. Asking twice is
/// harmless and audited once.
pub(crate) async fn request_deletion(
    conn: &mut PgConnection,
    access: &OrgAccess,
    kind: Kind,
    id: Uuid,
) -> Result<()> {
    let table = kind.table();
    let first_request: Option<bool> = sqlx::query_scalar(AssertSqlSafe(format!(
        "UPDATE {table} AS r
         SET deletion_requested_at = coalesce(r.deletion_requested_at, now()),
             phase = 'Deleting', updated_at = now()
         FROM {table} AS before
         WHERE r.organization_id = $1 AND r.id = $2 AND before.id = r.id
         RETURNING before.deletion_requested_at IS NULL"
    )))
    .bind(access.organization_id())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if first_request.ok_or_else(|| Error::not_found(kind.noun()))? {
        audit(conn, access, kind, "delete", id, None).await?;
    }
    Ok(())
}

/// Records `verb` done to a resource through `access`, with `details`
/// where there is more to say.
pub(crate) async fn audit(
    conn: &mut PgConnection,
    access: &OrgAccess,
    kind: Kind,
    verb: &str,
    id: Uuid,
    details: Option<serde_json::Value>,
) -> Result<()> {
    audit::record_as(
        conn,
        access,
        &kind.action(verb),
        kind.target_type(),
        &id.to_string(),
        details,
    )
    .await
}
