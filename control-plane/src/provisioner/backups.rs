//! Backups taken by hand and restores into new clusters, carried into the
//! data plane and mirrored back. In the simulated data plane, each finishes
//! `delay` after it was applied and stores nothing.

use chrono::{DateTime, Utc};
use crds::backup::{
    BackupDestination, BackupPhase, BackupStatus, VectorClusterBackup, VectorClusterBackupSpec,
    VectorClusterRestore, VectorClusterRestoreSpec,
};
use crds::names::LABEL_ORIGIN;
use kube::Resource;
use sqlx::types::Json;
use uuid::Uuid;

use super::{BATCH, Plane, Provisioner};
use crate::webhooks::{self, EventType};
use crate::{Error, Result};

#[derive(Debug, sqlx::FromRow)]
struct BackupWork {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    applied_at: Option<DateTime<Utc>>,
    deletion_requested_at: Option<DateTime<Utc>>,
    cluster_id: Uuid,
    cluster_name: String,
    data_plane_id: Uuid,
    backup_destination: Option<Json<serde_json::Value>>,
}

#[derive(Debug, sqlx::FromRow)]
struct RestoreWork {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    data_plane_id: Uuid,
    restore_started_at: Option<DateTime<Utc>>,
    backup_name: String,
}

fn phase_name(phase: BackupPhase) -> &'static str {
    match phase {
        BackupPhase::Pending => "Pending",
        BackupPhase::Running => "Running",
        BackupPhase::Succeeded => "Succeeded",
        BackupPhase::Failed => "Failed",
    }
}

/// The event a backup or restore raises on moving from `before` to
/// `after`: once, as it finishes.
fn finished_event(
    before: &str,
    after: &str,
    succeeded: EventType,
    failed: EventType,
) -> Option<EventType> {
    if before == after {
        return None;
    }
    match after {
        "Succeeded" => Some(succeeded),
        "Failed" => Some(failed),
        _ => None,
    }
}

/// A backup, or a restore into a cluster, as its events show it.
struct Finished<'a> {
    organization_id: Uuid,
    /// The backup's id, or the restored cluster's.
    id: Uuid,
    cluster_id: Uuid,
    /// The backup's name.
    backup: &'a str,
    phase: &'a str,
    message: Option<&'a str>,
}

/// Raises `event` about a backup (or a restore) that finished.
async fn tell(
    conn: &mut sqlx::PgConnection,
    event: EventType,
    f: Finished<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    let (kind, id) = match event {
        EventType::RestoreSucceeded | EventType::RestoreFailed => ("restore", f.cluster_id),
        _ => ("backup", f.id),
    };
    let data = serde_json::json!({ "object": {
        "object": kind, "id": id, "cluster_id": f.cluster_id, "backup": f.backup,
        "phase": f.phase, "message": f.message,
    }});
    let id = id.to_string();
    let subject = webhooks::Subject { kind, id: &id };
    webhooks::emit(conn, f.organization_id, event, subject, data, now).await?;
    Ok(())
}

/// The simulated data plane: running once applied, done `delay` later.
fn simulated(
    applied_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    delay: chrono::Duration,
) -> BackupStatus {
    match applied_at {
        Some(at) if at + delay <= now => BackupStatus {
            phase: BackupPhase::Succeeded,
            finished_at: Some(now.to_rfc3339()),
            message: Some("simulated: nothing was stored".to_owned()),
            ..BackupStatus::default()
        },
        _ => BackupStatus {
            phase: BackupPhase::Running,
            ..BackupStatus::default()
        },
    }
}

impl Provisioner {
    /// One pass over backups and restores with work to do.
    pub(super) async fn backups_pass(&self, now: DateTime<Utc>) -> Result<usize> {
        let backups: Vec<BackupWork> = sqlx::query_as(
            "SELECT b.id, b.organization_id, b.name, b.applied_at, b.deletion_requested_at,
                    b.cluster_id, c.name AS cluster_name, c.data_plane_id, d.backup_destination
             FROM cluster_backups b
             JOIN vector_clusters c ON c.id = b.cluster_id
             JOIN data_planes d ON d.id = c.data_plane_id
             WHERE d.kind <> 'connected'
               AND ((b.origin = 'manual' AND b.phase IN ('Pending', 'Running'))
                    OR b.deletion_requested_at IS NOT NULL)
             ORDER BY b.created_at LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut handled = 0;
        for backup in &backups {
            match self.backup(backup, now).await {
                Ok(()) => handled += 1,
                Err(err) => {
                    tracing::warn!(backup = %backup.id, error = %err, "backup work failed; will retry")
                }
            }
        }
        let restores: Vec<RestoreWork> = sqlx::query_as(
            "SELECT c.id, c.organization_id, c.name, c.data_plane_id, c.restore_started_at,
                    b.name AS backup_name
             FROM vector_clusters c JOIN cluster_backups b ON b.id = c.restore_from
             JOIN data_planes d ON d.id = c.data_plane_id
             WHERE c.restore_phase IN ('Pending', 'Running') AND c.phase = 'Ready'
               AND c.deletion_requested_at IS NULL AND d.kind <> 'connected'
             LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        for restore in &restores {
            match self.restore(restore, now).await {
                Ok(()) => handled += 1,
                Err(err) => {
                    tracing::warn!(cluster = %restore.id, error = %err, "restore failed; will retry")
                }
            }
        }
        Ok(handled)
    }

    #[tracing::instrument(name = "provision backup", skip_all, fields(
        backup = %backup.id,
        organization = %backup.organization_id,
    ))]
    async fn backup(&self, backup: &BackupWork, now: DateTime<Utc>) -> Result<()> {
        let plane = self.plane(backup.data_plane_id).await?;
        if backup.deletion_requested_at.is_some() {
            let gone = match &plane {
                Plane::Simulated => true,
                Plane::Kubernetes(k8s) => {
                    k8s.delete::<VectorClusterBackup>(backup.organization_id, &backup.name)
                        .await?
                }
            };
            if gone {
                sqlx::query("DELETE FROM cluster_backups WHERE id = $1 AND deletion_requested_at IS NOT NULL")
                    .bind(backup.id)
                    .execute(&self.pool)
                    .await?;
            }
            return Ok(());
        }
        let status = match &plane {
            Plane::Simulated => simulated(backup.applied_at, now, self.simulated_delay),
            Plane::Kubernetes(k8s) => {
                if backup.applied_at.is_none() {
                    let destination = destination(backup)?;
                    k8s.apply_tenant(
                        backup.organization_id,
                        backup.id,
                        VectorClusterBackup::new(
                            &backup.name,
                            VectorClusterBackupSpec {
                                cluster: backup.cluster_name.clone(),
                                destination,
                            },
                        ),
                    )
                    .await?;
                }
                k8s.get::<VectorClusterBackup>(backup.organization_id, &backup.name)
                    .await?
                    .and_then(|b| b.status)
                    .unwrap_or_default()
            }
        };
        mirror(&self.pool, backup, &status, now).await
    }

    #[tracing::instrument(name = "provision restore", skip_all, fields(
        cluster = %restore.id,
        organization = %restore.organization_id,
    ))]
    async fn restore(&self, restore: &RestoreWork, now: DateTime<Utc>) -> Result<()> {
        let plane = self.plane(restore.data_plane_id).await?;
        let name = format!("{}-restore", restore.name);
        let started = restore.restore_started_at.unwrap_or(now);
        let status = match &plane {
            Plane::Simulated => simulated(restore.restore_started_at, now, self.simulated_delay),
            Plane::Kubernetes(k8s) => {
                if restore.restore_started_at.is_none() {
                    k8s.apply_tenant(
                        restore.organization_id,
                        restore.id,
                        VectorClusterRestore::new(
                            &name,
                            VectorClusterRestoreSpec {
                                backup: restore.backup_name.clone(),
                                target: restore.name.clone(),
                            },
                        ),
                    )
                    .await?;
                }
                k8s.get::<VectorClusterRestore>(restore.organization_id, &name)
                    .await?
                    .and_then(|r| r.status)
                    .unwrap_or_default()
            }
        };
        mirror_restore(&self.pool, restore, &status, started, now).await
    }
}

impl Provisioner {
    /// Mirrors the backups the operator took of `cluster` (by schedule or
    /// before an upgrade) into `cluster_backups`, and drops the rows of
    /// those it has since deleted (retention).
    pub(super) async fn mirror_operator_backups(
        &self,
        k8s: &super::KubernetesPlane,
        tracked: &super::Tracked<crate::clusters::Cluster>,
    ) -> Result<()> {
        let (organization_id, cluster) = (tracked.organization_id, &tracked.resource);
        let found = k8s.backups_of(organization_id, &cluster.name).await?;
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let known: std::collections::HashMap<String, String> = sqlx::query_as(
            "SELECT name, phase FROM cluster_backups WHERE cluster_id = $1 FOR UPDATE",
        )
        .bind(cluster.id)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let mut names = Vec::with_capacity(found.len());
        for backup in &found {
            use kube::ResourceExt;
            let origin = match backup.labels().get(LABEL_ORIGIN).map(String::as_str) {
                Some("pre-upgrade") => "pre-upgrade",
                _ => "scheduled",
            };
            let status = backup.status.clone().unwrap_or_default();
            let created = backup
                .meta()
                .creation_timestamp
                .as_ref()
                .and_then(|t| DateTime::from_timestamp_micros(t.0.as_microsecond()));
            let name = backup.name_any();
            let before = known.get(&name).map_or("", String::as_str);
            let taken = Taken {
                organization_id,
                cluster_id: cluster.id,
                name: &name,
                origin,
                created,
            };
            store_operator_backup(&mut tx, taken, &status, before, now).await?;
            names.push(name);
        }
        sqlx::query(
            "DELETE FROM cluster_backups
             WHERE cluster_id = $1 AND origin <> 'manual' AND NOT (name = ANY($2))",
        )
        .bind(cluster.id)
        .bind(&names)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Writes a restore's status into its cluster's row, telling once as it
/// finishes.
async fn mirror_restore(
    pool: &sqlx::PgPool,
    restore: &RestoreWork,
    status: &BackupStatus,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    // Applied: at least running, whatever the data plane says yet.
    let phase = match status.phase {
        BackupPhase::Pending => BackupPhase::Running,
        other => other,
    };
    let mut tx = pool.begin().await?;
    let before: Option<String> = sqlx::query_scalar(
        "UPDATE vector_clusters c SET restore_phase = $2, restore_message = $3,
             restore_started_at = $4
         FROM (SELECT id, restore_phase FROM vector_clusters WHERE id = $1 FOR UPDATE) AS before
         WHERE c.id = before.id
         RETURNING before.restore_phase",
    )
    .bind(restore.id)
    .bind(phase_name(phase))
    .bind(&status.message)
    .bind(started)
    .fetch_optional(&mut *tx)
    .await?
    .flatten();
    let after = phase_name(phase);
    let (succeeded, failed) = (EventType::RestoreSucceeded, EventType::RestoreFailed);
    if let Some(event) = finished_event(before.as_deref().unwrap_or(""), after, succeeded, failed) {
        let finished = Finished {
            organization_id: restore.organization_id,
            id: restore.id,
            cluster_id: restore.id,
            backup: &restore.backup_name,
            phase: after,
            message: status.message.as_deref(),
        };
        tell(&mut tx, event, finished, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A backup the operator took (by schedule or before an upgrade).
struct Taken<'a> {
    organization_id: Uuid,
    cluster_id: Uuid,
    name: &'a str,
    origin: &'a str,
    created: Option<DateTime<Utc>>,
}

/// Stores a backup the operator took, telling once as it finishes;
/// `before` is the phase it had (empty if new). A backup taken by hand of
/// the same name is left alone.
async fn store_operator_backup(
    tx: &mut sqlx::PgConnection,
    taken: Taken<'_>,
    status: &BackupStatus,
    before: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let Taken {
        organization_id,
        cluster_id,
        name,
        origin,
        created,
    } = taken;
    let finished = status
        .finished_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let stored: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO cluster_backups (id, organization_id, cluster_id, name, origin, phase,
                                     message, created_at, applied_at, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), coalesce($8, now()), $9)
         ON CONFLICT ON CONSTRAINT cluster_backups_name_key DO UPDATE
         SET phase = EXCLUDED.phase, message = EXCLUDED.message,
             finished_at = EXCLUDED.finished_at
         WHERE cluster_backups.origin <> 'manual'
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(organization_id)
    .bind(cluster_id)
    .bind(name)
    .bind(origin)
    .bind(phase_name(status.phase))
    .bind(&status.message)
    .bind(created)
    .bind(finished)
    .fetch_optional(&mut *tx)
    .await?;
    let after = phase_name(status.phase);
    let (succeeded, failed) = (EventType::BackupSucceeded, EventType::BackupFailed);
    if let (Some(id), Some(event)) = (stored, finished_event(before, after, succeeded, failed)) {
        let finished = Finished {
            organization_id,
            id,
            cluster_id,
            backup: name,
            phase: after,
            message: status.message.as_deref(),
        };
        tell(tx, event, finished, now).await?;
    }
    Ok(())
}

/// A backup or restore a connected data plane reports, for a cluster of
/// that data plane and of the organization the report names; `false` when
/// it is not (nothing is written).
pub(super) async fn reported(
    pool: &sqlx::PgPool,
    data_plane: Uuid,
    report: &crds::sync::Report,
    now: DateTime<Utc>,
) -> Result<bool> {
    use crds::sync::{Kind, Observed};
    let cluster_id = match &report.observed {
        Observed::VectorClusterBackup { cluster_id, .. } => *cluster_id,
        // A restore is known by its cluster; a backup gone, by its own id.
        Observed::VectorClusterRestore { .. } => report.id,
        Observed::Gone {
            of: Kind::VectorClusterBackup,
        } => {
            let deleted = sqlx::query(
                "DELETE FROM cluster_backups b USING vector_clusters c
                 WHERE b.id = $1 AND b.organization_id = $3 AND c.id = b.cluster_id
                   AND c.data_plane_id = $2 AND b.deletion_requested_at IS NOT NULL",
            )
            .bind(report.id)
            .bind(data_plane)
            .bind(report.organization_id)
            .execute(pool)
            .await?
            .rows_affected();
            return Ok(deleted > 0);
        }
        _ => return Ok(false),
    };
    let cluster: Option<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT name, restore_from FROM vector_clusters
         WHERE id = $1 AND data_plane_id = $2 AND organization_id = $3",
    )
    .bind(cluster_id)
    .bind(data_plane)
    .bind(report.organization_id)
    .fetch_optional(pool)
    .await?;
    let Some((cluster_name, restore_from)) = cluster else {
        return Ok(false);
    };
    match &report.observed {
        Observed::VectorClusterBackup {
            name,
            status,
            origin,
            ..
        } => {
            let manual: Option<BackupWork> = sqlx::query_as(
                "SELECT b.id, b.organization_id, b.name, b.applied_at, b.deletion_requested_at,
                        b.cluster_id, c.name AS cluster_name, c.data_plane_id, d.backup_destination
                 FROM cluster_backups b
                 JOIN vector_clusters c ON c.id = b.cluster_id
                 JOIN data_planes d ON d.id = c.data_plane_id
                 WHERE b.cluster_id = $1 AND b.name = $2 AND b.origin = 'manual'",
            )
            .bind(cluster_id)
            .bind(name)
            .fetch_optional(pool)
            .await?;
            if let Some(backup) = manual {
                return mirror(pool, &backup, status, now).await.map(|()| true);
            }
            let mut tx = pool.begin().await?;
            let before: Option<String> = sqlx::query_scalar(
                "SELECT phase FROM cluster_backups WHERE cluster_id = $1 AND name = $2 FOR UPDATE",
            )
            .bind(cluster_id)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            let origin = match origin.as_deref() {
                Some("pre-upgrade") => "pre-upgrade",
                _ => "scheduled",
            };
            let taken = Taken {
                organization_id: report.organization_id,
                cluster_id,
                name,
                origin,
                created: None,
            };
            let before = before.unwrap_or_default();
            store_operator_backup(&mut tx, taken, status, &before, now).await?;
            tx.commit().await?;
            Ok(true)
        }
        Observed::VectorClusterRestore { status } => {
            let backup_name: Option<String> =
                sqlx::query_scalar("SELECT name FROM cluster_backups WHERE id = $1")
                    .bind(restore_from)
                    .fetch_optional(pool)
                    .await?;
            let Some(backup_name) = backup_name else {
                return Ok(false);
            };
            let restore = RestoreWork {
                id: cluster_id,
                organization_id: report.organization_id,
                name: cluster_name,
                data_plane_id: data_plane,
                restore_started_at: None,
                backup_name,
            };
            mirror_restore(pool, &restore, status, now, now).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Where a backup goes: its data plane's destination, under the cluster.
fn destination(backup: &BackupWork) -> Result<BackupDestination> {
    let destination = backup.backup_destination.as_ref().ok_or_else(|| {
        Error::Database(sqlx::Error::Decode(
            format!("backup {} has no destination in its region", backup.id).into(),
        ))
    })?;
    crate::backups::destination_for(backup.cluster_id, destination)
}

async fn mirror(
    pool: &sqlx::PgPool,
    backup: &BackupWork,
    status: &BackupStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    let finished = matches!(status.phase, BackupPhase::Succeeded | BackupPhase::Failed);
    let mut tx = pool.begin().await?;
    let before: Option<String> = sqlx::query_scalar(
        "UPDATE cluster_backups b SET phase = $2, message = $3,
             applied_at = coalesce(b.applied_at, $4),
             finished_at = CASE WHEN $5 THEN coalesce(b.finished_at, $4) ELSE b.finished_at END
         FROM (SELECT id, phase FROM cluster_backups WHERE id = $1 FOR UPDATE) AS before
         WHERE b.id = before.id
         RETURNING before.phase",
    )
    .bind(backup.id)
    .bind(phase_name(status.phase))
    .bind(&status.message)
    .bind(backup.applied_at.unwrap_or(now))
    .bind(finished)
    .fetch_optional(&mut *tx)
    .await?;
    let after = phase_name(status.phase);
    let (succeeded, failed) = (EventType::BackupSucceeded, EventType::BackupFailed);
    if let Some(event) = before.and_then(|b| finished_event(&b, after, succeeded, failed)) {
        let finished = Finished {
            organization_id: backup.organization_id,
            id: backup.id,
            cluster_id: backup.cluster_id,
            backup: &backup.name,
            phase: after,
            message: status.message.as_deref(),
        };
        tell(&mut tx, event, finished, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_or_restore_tells_once_as_it_finishes() {
        let (ok, failed) = (EventType::BackupSucceeded, EventType::BackupFailed);
        assert_eq!(finished_event("Running", "Succeeded", ok, failed), Some(ok));
        assert_eq!(
            finished_event("Pending", "Failed", ok, failed),
            Some(failed)
        );
        assert_eq!(finished_event("Succeeded", "Succeeded", ok, failed), None);
        assert_eq!(finished_event("Pending", "Running", ok, failed), None);
    }
}
