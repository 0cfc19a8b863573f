//! What a connected data plane reports, written back as the push path
//! writes what it reads: the same phase moves, events and deletions. A
//! report counts only for a resource of that data plane and of the
//! organization it names; any other is answered as unknown and changes
//! nothing.

use chrono::{DateTime, Utc};
use crds::sync::{Applied, Kind as SyncKind, Observed as Reported, Report};
use serde::Serialize;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use super::endpoints::EndpointObserved;
use super::observed::Observed;
use super::provisioned::Provisioned;
use super::{finish_deletion, mark_applied, mark_synced, mirror};
use crate::Result;
use crate::clusters::Cluster;
use crate::endpoints::Endpoint;
use crate::resource::{self, Kind, Managed, Tracked};

/// What came of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Reports written.
    pub applied: usize,
    /// Ids that are not this data plane's (or not the organization's).
    pub unknown: Vec<Uuid>,
}

/// Writes `reports` from `data_plane`, in order.
pub async fn record(
    pool: &PgPool,
    data_plane: Uuid,
    reports: Vec<Report>,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    for report in reports {
        let known = match &report.observed {
            Reported::VectorCluster { applied, status } => {
                let (applied, status) = (*applied, status.clone());
                let observed = |t: &Tracked<Cluster>| {
                    status.map(|s| {
                        Observed::of(
                            *s,
                            applied.acted,
                            applied.applied_generation,
                            t.resource.observed_generation,
                        )
                    })
                };
                resource::<Cluster>(pool, data_plane, &report, applied, observed, now).await?
            }
            Reported::InferenceEndpoint { applied, status } => {
                let (applied, status) = (*applied, status.clone());
                let observed = |t: &Tracked<Endpoint>| {
                    status.map(|s| {
                        EndpointObserved::of(
                            *s,
                            applied.acted,
                            applied.applied_generation,
                            t.resource.observed_generation,
                        )
                    })
                };
                resource::<Endpoint>(pool, data_plane, &report, applied, observed, now).await?
            }
            Reported::Gone { of } => gone(pool, data_plane, &report, *of, now).await?,
            Reported::VectorClusterBackup { .. } | Reported::VectorClusterRestore { .. } => {
                super::backups::reported(pool, data_plane, &report, now).await?
            }
        };
        if known {
            outcome.applied += 1;
        } else {
            outcome.unknown.push(report.id);
        }
    }
    Ok(outcome)
}

/// The resource a report names, if it is `data_plane`'s and its
/// organization's.
async fn tracked<M: Managed>(
    pool: &PgPool,
    data_plane: Uuid,
    report: &Report,
) -> Result<Option<Tracked<M>>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "{} WHERE r.id = $1 AND r.data_plane_id = $2 AND r.organization_id = $3",
        resource::select::<M>(
            ", r.organization_id, r.data_plane_id, r.applied_generation, r.applied_at"
        )
    )))
    .bind(report.id)
    .bind(data_plane)
    .bind(report.organization_id)
    .fetch_optional(pool)
    .await?)
}

/// A cluster or endpoint as the data plane has it: the generation it
/// applied, and its status once the operator wrote one.
async fn resource<M: Provisioned>(
    pool: &PgPool,
    data_plane: Uuid,
    report: &Report,
    applied: Applied,
    observed: impl FnOnce(&Tracked<M>) -> Option<M::Observed>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(tracked) = tracked::<M>(pool, data_plane, report).await? else {
        return Ok(false);
    };
    let woken = applied
        .woken_at
        .is_some_and(|w| tracked.applied_at.is_none_or(|a| w > a));
    if applied.applied_generation > tracked.applied_generation || woken {
        mark_applied(pool, M::KIND, report.id, applied.applied_generation, now).await?;
    }
    match observed(&tracked) {
        Some(observed) => {
            mirror(pool, M::KIND, report.id, Some(M::mirrored(&observed)), now).await?;
            M::record(pool, report.id, observed).await?;
        }
        None => mark_synced(pool, M::KIND, report.id, now).await?,
    }
    Ok(true)
}

/// A resource gone from the data plane: its row goes if a deletion was
/// asked for, else nothing changes (a resource is never deleted for being
/// missing).
async fn gone(
    pool: &PgPool,
    data_plane: Uuid,
    report: &Report,
    of: SyncKind,
    now: DateTime<Utc>,
) -> Result<bool> {
    let kind = match of {
        SyncKind::VectorCluster => Kind::Cluster,
        SyncKind::InferenceEndpoint => Kind::Endpoint,
        SyncKind::VectorClusterBackup | SyncKind::VectorClusterRestore => {
            return super::backups::reported(pool, data_plane, report, now).await;
        }
    };
    let mine: Option<bool> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT deletion_requested_at IS NOT NULL FROM {}
         WHERE id = $1 AND data_plane_id = $2 AND organization_id = $3",
        kind.table()
    )))
    .bind(report.id)
    .bind(data_plane)
    .bind(report.organization_id)
    .fetch_optional(pool)
    .await?;
    if mine == Some(true) {
        finish_deletion(pool, kind, report.id, report.organization_id, true, now).await?;
    }
    Ok(mine.is_some())
}
