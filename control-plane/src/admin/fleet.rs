//! Clusters across data planes, searched, filtered and paged by keyset,
//! and the data planes' health.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::PlatformAdmin;
use super::query::{Cursor, Listing, Search, cut};
use crate::Result;

/// What the cluster list is asked; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetQuery {
    /// A cluster's or its organization's id, or part of a cluster's name.
    pub search: Option<Search>,
    pub data_plane: Option<Uuid>,
    pub phase: Option<String>,
    pub after: Option<Uuid>,
    pub limit: u32,
}

/// A cluster anywhere, for the fleet view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct FleetCluster {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub organization: String,
    pub name: String,
    pub region: String,
    pub phase: String,
    #[sqlx(json)]
    pub spec: crds::VectorClusterSpec,
    pub current_version: Option<String>,
    pub ready_nodes: i32,
}

/// The phases a cluster can be in, to filter by.
pub fn phases() -> impl Iterator<Item = &'static str> {
    crds::vector_cluster::Phase::ALL
        .into_iter()
        .map(|p| p.as_str())
}

fn push_filters(sql: &mut QueryBuilder<Postgres>, query: &FleetQuery) {
    match &query.search {
        None => {}
        Some(Search::Id(id)) => {
            sql.push(" AND (c.id = ")
                .push_bind(*id)
                .push(" OR c.organization_id = ")
                .push_bind(*id)
                .push(")");
        }
        Some(Search::Name(part) | Search::Email(part) | Search::Customer(part)) => {
            sql.push(" AND c.name ILIKE ")
                .push_bind(Search::contains_pattern(part));
        }
    }
    if let Some(plane) = query.data_plane {
        sql.push(" AND c.data_plane_id = ").push_bind(plane);
    }
    if let Some(phase) = &query.phase {
        sql.push(" AND c.phase = ").push_bind(phase.clone());
    }
}

/// A page of live clusters, newest first (ids are UUIDv7).
pub async fn fleet(
    conn: &mut PgConnection,
    _admin: &PlatformAdmin,
    query: &FleetQuery,
) -> Result<Listing<FleetCluster>> {
    let mut count = QueryBuilder::new(
        "SELECT count(*) FROM vector_clusters c WHERE c.deletion_requested_at IS NULL",
    );
    push_filters(&mut count, query);
    let total: i64 = count.build_query_scalar().fetch_one(&mut *conn).await?;
    let mut sql = QueryBuilder::new(
        "SELECT c.id, c.organization_id, o.name AS organization, c.name, d.region, c.phase,
                c.spec, c.current_version, c.ready_nodes
         FROM vector_clusters c
         JOIN organizations o ON o.id = c.organization_id
         JOIN data_planes d ON d.id = c.data_plane_id
         WHERE c.deletion_requested_at IS NULL",
    );
    push_filters(&mut sql, query);
    if let Some(after) = query.after {
        sql.push(" AND c.id < ").push_bind(after);
    }
    sql.push(" ORDER BY c.id DESC LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    let rows: Vec<FleetCluster> = sql.build_query_as().fetch_all(&mut *conn).await?;
    let (rows, next) = cut(rows, query.limit, |r| Cursor::Id(r.id));
    Ok(Listing { rows, total, next })
}

/// A data plane and how recently the provisioner heard from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PlaneHealth {
    pub id: Uuid,
    pub name: String,
    pub region: String,
    pub kind: String,
    pub clusters: i64,
    /// The latest time any of its clusters' status was read.
    pub last_synced_at: Option<DateTime<Utc>>,
    pub backups: bool,
}

/// Every data plane, one aggregate over the clusters for all of them.
pub async fn data_planes(
    conn: &mut PgConnection,
    _admin: &PlatformAdmin,
) -> Result<Vec<PlaneHealth>> {
    Ok(sqlx::query_as(
        "SELECT d.id, d.name, d.region, d.kind, coalesce(c.clusters, 0) AS clusters,
                c.last_synced_at, d.backup_destination IS NOT NULL AS backups
         FROM data_planes d
         LEFT JOIN (SELECT data_plane_id, count(*) AS clusters, max(synced_at) AS last_synced_at
                    FROM vector_clusters GROUP BY data_plane_id) c ON c.data_plane_id = d.id
         ORDER BY d.region",
    )
    .fetch_all(&mut *conn)
    .await?)
}
