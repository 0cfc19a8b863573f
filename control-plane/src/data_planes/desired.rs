//! A connected data plane's desired state: its clusters, endpoints and the
//! backups taken by hand, whole or as changed since a version, and the
//! resources whose rows went (tombstones). Only this data plane's rows are
//! read: every query is bound to its id.

use std::collections::HashMap;

use crds::backup::VectorClusterBackupSpec;
use crds::sync::{Desired, DesiredState, Kind, Object};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, FromRow, PgConnection, Row};
use uuid::Uuid;

use crate::Result;
use crate::clusters::Cluster;
use crate::endpoints::Endpoint;
use crate::resource::{self, Managed, Tracked};

/// A resource row with the version of its last desired-state change.
struct Changed<M> {
    tracked: Tracked<M>,
    version: i64,
}

impl<'r, M: FromRow<'r, PgRow>> FromRow<'r, PgRow> for Changed<M> {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Changed {
            tracked: Tracked::from_row(row)?,
            version: row.try_get("sync_version")?,
        })
    }
}

async fn changed<M: Managed>(
    conn: &mut PgConnection,
    data_plane: Uuid,
    since: Option<i64>,
) -> Result<Vec<Changed<M>>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "{} WHERE r.data_plane_id = $1 AND r.sync_version > $2 ORDER BY r.sync_version",
        resource::select::<M>(
            ", r.organization_id, r.data_plane_id, r.applied_generation, r.applied_at,
               r.sync_version"
        )
    )))
    .bind(data_plane)
    .bind(since.unwrap_or(-1))
    .fetch_all(&mut *conn)
    .await?)
}

#[derive(sqlx::FromRow)]
struct Backup {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    cluster_id: Uuid,
    cluster_name: String,
    deleting: bool,
    sync_version: i64,
    backup_destination: Option<sqlx::types::Json<serde_json::Value>>,
}

#[derive(sqlx::FromRow)]
struct Tombstone {
    kind: String,
    id: Uuid,
    organization_id: Uuid,
    name: String,
    sync_version: i64,
}

/// The desired state of `data_plane` changed after `since`, or whole when
/// `since` is `None`. One snapshot reads every table, and versions commit
/// in order (see the migration), so the answer's version is a complete
/// cursor.
pub async fn read(
    conn: &mut PgConnection,
    data_plane: Uuid,
    since: Option<i64>,
) -> Result<DesiredState> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let clusters = changed::<Cluster>(&mut tx, data_plane, since).await?;
    let endpoints = changed::<Endpoint>(&mut tx, data_plane, since).await?;
    let cluster_ids: Vec<Uuid> = clusters.iter().map(|c| c.tracked.resource.id).collect();
    let restores: HashMap<Uuid, String> = sqlx::query_as(
        "SELECT c.id, b.name FROM vector_clusters c JOIN cluster_backups b ON b.id = c.restore_from
         WHERE c.id = ANY($1) AND c.restore_phase IN ('Pending', 'Running')",
    )
    .bind(&cluster_ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let backups: Vec<Backup> = sqlx::query_as(
        "SELECT b.id, b.organization_id, b.name, b.cluster_id, c.name AS cluster_name,
                b.deletion_requested_at IS NOT NULL AS deleting, b.sync_version,
                d.backup_destination
         FROM cluster_backups b
         JOIN vector_clusters c ON c.id = b.cluster_id
         JOIN data_planes d ON d.id = c.data_plane_id
         WHERE c.data_plane_id = $1 AND b.origin = 'manual' AND b.sync_version > $2",
    )
    .bind(data_plane)
    .bind(since.unwrap_or(-1))
    .fetch_all(&mut *tx)
    .await?;
    let tombstones: Vec<Tombstone> = sqlx::query_as(
        "SELECT kind, id, organization_id, name, sync_version FROM desired_state_tombstones
         WHERE data_plane_id = $1 AND sync_version > $2",
    )
    .bind(data_plane)
    .bind(since.unwrap_or(-1))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut resources = Vec::with_capacity(clusters.len() + endpoints.len() + backups.len());
    for Changed { tracked, version } in clusters {
        let cluster = &tracked.resource;
        resources.push(Desired {
            id: cluster.id,
            organization_id: tracked.organization_id,
            name: cluster.name.clone(),
            generation: cluster.generation,
            version,
            delete: cluster.deletion_requested_at.is_some(),
            object: Object::VectorCluster {
                spec: Box::new(crate::backups::in_region(cluster)?),
                restore_from: restores.get(&cluster.id).cloned(),
            },
        });
    }
    for Changed { tracked, version } in endpoints {
        let endpoint = tracked.resource;
        resources.push(Desired {
            id: endpoint.id,
            organization_id: tracked.organization_id,
            name: endpoint.name,
            generation: endpoint.generation,
            version,
            delete: endpoint.deletion_requested_at.is_some(),
            object: Object::InferenceEndpoint {
                spec: Box::new(endpoint.spec),
                wake_requested_at: endpoint.wake_requested_at,
            },
        });
    }
    for backup in backups {
        let Some(destination) = &backup.backup_destination else {
            continue;
        };
        resources.push(Desired {
            id: backup.id,
            organization_id: backup.organization_id,
            name: backup.name,
            generation: 1,
            version: backup.sync_version,
            delete: backup.deleting,
            object: Object::VectorClusterBackup {
                spec: VectorClusterBackupSpec {
                    cluster: backup.cluster_name,
                    destination: crate::backups::destination_for(backup.cluster_id, destination)?,
                },
            },
        });
    }
    resources.extend(tombstones.into_iter().filter_map(tombstone));
    resources.sort_by_key(|r| r.version);
    let version = resources
        .last()
        .map_or(since.unwrap_or(0), |r| r.version.max(since.unwrap_or(0)));
    Ok(DesiredState {
        version,
        complete: since.is_none(),
        resources,
    })
}

/// A resource whose row went, sent as a deletion.
fn tombstone(t: Tombstone) -> Option<Desired> {
    let of = match t.kind.as_str() {
        "VectorCluster" => Kind::VectorCluster,
        "InferenceEndpoint" => Kind::InferenceEndpoint,
        _ => return None,
    };
    Some(Desired {
        id: t.id,
        organization_id: t.organization_id,
        name: t.name,
        generation: 0,
        version: t.sync_version,
        delete: true,
        object: Object::Removed { of },
    })
}
