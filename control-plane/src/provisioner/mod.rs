//! The provisioner: carries each cluster's desired spec into the data plane
//! of its region and mirrors the observed status back into PostgreSQL.
//!
//! One provisioner works at a time (a PostgreSQL advisory lock), so the
//! control plane itself can run any number of replicas. Each pass takes the
//! clusters with work to do (an unapplied generation, a phase not yet
//! settled, a deletion, or a resync due) and handles them one by one; a
//! failing data plane delays only its own clusters.

mod backups;
mod endpoints;
pub mod kubernetes;
mod observed;
pub mod simulated;

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use kube::config::{KubeConfigOptions, Kubeconfig};
use sqlx::PgPool;
use tokio::sync::Mutex;
use uuid::Uuid;

pub use kubernetes::KubernetesPlane;
use observed::Mirrored;
pub use observed::{Observed, Tracked};

use crate::clusters::stored_spec;
use crate::resource::Kind;
use crate::{Error, Result, audit};

/// How long the simulated data plane takes to act on a change.
pub const SIMULATED_DELAY: Duration = Duration::seconds(3);
/// How often a settled cluster's status is read again.
const RESYNC: Duration = Duration::seconds(60);
const BATCH: i64 = 100;
/// `pg_advisory_lock` key of the provisioner ("qmprov").
const LOCK_KEY: i64 = 0x716d_7072_6f76;

#[derive(Debug, Clone)]
enum Plane {
    Simulated,
    Kubernetes(KubernetesPlane),
}

#[derive(Debug)]
pub struct Provisioner {
    pool: PgPool,
    simulated_delay: Duration,
    planes: Mutex<HashMap<Uuid, Plane>>,
}

/// A client for a data plane registered with a kubeconfig.
pub async fn kube_client(kubeconfig: &str) -> Result<kube::Client> {
    let parsed = Kubeconfig::from_yaml(kubeconfig).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    let mut config = kube::Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Kubeconfig(e.to_string()))?;
    config.connect_timeout = Some(StdDuration::from_secs(5));
    config.read_timeout = Some(StdDuration::from_secs(30));
    config.write_timeout = Some(StdDuration::from_secs(30));
    kube::Client::try_from(config).map_err(|e| Error::Kubeconfig(e.to_string()))
}

impl Provisioner {
    pub fn new(pool: PgPool, simulated_delay: Duration) -> Self {
        Provisioner {
            pool,
            simulated_delay,
            planes: Mutex::new(HashMap::new()),
        }
    }

    /// Uses `client` for data plane `id` instead of one from its kubeconfig.
    pub async fn with_client(self, id: Uuid, client: kube::Client) -> Self {
        self.planes
            .lock()
            .await
            .insert(id, Plane::Kubernetes(KubernetesPlane::new(client)));
        self
    }

    async fn plane(&self, id: Uuid) -> Result<Plane> {
        let mut planes = self.planes.lock().await;
        if let Some(plane) = planes.get(&id) {
            return Ok(plane.clone());
        }
        let (kind, kubeconfig, credentials): (
            String,
            Option<String>,
            Option<sqlx::types::Json<kubernetes::BackupCredentials>>,
        ) = sqlx::query_as(
            "SELECT kind, kubeconfig, backup_credentials FROM data_planes WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let plane = match (kind.as_str(), kubeconfig) {
            ("kubernetes", Some(kubeconfig)) => Plane::Kubernetes(
                KubernetesPlane::new(kube_client(&kubeconfig).await?)
                    .with_backup_credentials(credentials.map(|c| c.0)),
            ),
            _ => Plane::Simulated,
        };
        planes.insert(id, plane.clone());
        Ok(plane)
    }

    /// Runs passes for as long as the process lives, whenever this replica
    /// holds the provisioner lock.
    pub async fn run(self, tick: StdDuration) {
        crate::db::singleton(&self.pool, LOCK_KEY, tick, "provisioner", || {
            self.run_once_at(Utc::now())
        })
        .await;
    }

    /// One pass over every cluster and endpoint with work to do; returns how
    /// many it handled.
    #[tracing::instrument(name = "provisioner pass", level = "debug", skip_all)]
    pub async fn run_once_at(&self, now: DateTime<Utc>) -> Result<usize> {
        let clusters: Vec<Tracked> = sqlx::query_as(
            "SELECT id, organization_id, name, data_plane_id, generation, applied_generation,
                    applied_at, deletion_requested_at, version, nodes, replication_factor,
                    cpu_millicores, memory_mib, storage_gib, observed_generation,
                    current_version, ready_nodes, suspended_by IS NOT NULL AS suspended,
                    backup_schedule, backup_retention_days, backup_retention_count, backup_verify,
                    (SELECT d.backup_destination FROM data_planes d WHERE d.id = data_plane_id)
                        AS backup_destination,
                    maintenance_window
             FROM vector_clusters
             WHERE phase NOT IN ('Ready', 'Suspended') OR applied_generation < generation
                OR deletion_requested_at IS NOT NULL OR synced_at IS NULL OR synced_at < $1
             ORDER BY synced_at NULLS FIRST, id
             LIMIT $2",
        )
        .bind(now - RESYNC)
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let count = clusters.len();
        for cluster in clusters {
            if let Err(err) = self.handle(&cluster, now).await {
                tracing::warn!(cluster = %cluster.id, error = %err, "provisioning failed; will retry");
            }
        }
        Ok(count + self.endpoints_pass(now).await? + self.backups_pass(now).await?)
    }

    #[tracing::instrument(name = "provision cluster", skip_all, fields(
        cluster = %cluster.id,
        organization = %cluster.organization_id,
        generation = cluster.generation,
    ))]
    async fn handle(&self, cluster: &Tracked, now: DateTime<Utc>) -> Result<()> {
        let plane = self.plane(cluster.data_plane_id).await?;
        if cluster.deletion_requested_at.is_some() {
            let gone = match &plane {
                Plane::Simulated => simulated::gone(cluster, now, self.simulated_delay),
                Plane::Kubernetes(k8s) => {
                    k8s.delete::<crds::VectorCluster>(cluster.organization_id, &cluster.name)
                        .await?
                }
            };
            return self
                .finish_deletion(
                    Kind::Cluster,
                    cluster.id,
                    cluster.organization_id,
                    gone,
                    now,
                )
                .await;
        }
        let mut cluster = cluster.clone();
        if cluster.applied_generation < cluster.generation {
            if let Plane::Kubernetes(k8s) = &plane {
                let spec = stored_spec(
                    cluster.id,
                    &cluster.version,
                    [
                        cluster.nodes,
                        cluster.replication_factor,
                        cluster.cpu_millicores,
                        cluster.memory_mib,
                        cluster.storage_gib,
                    ],
                    cluster.suspended,
                    crate::backups::stored_policy(
                        cluster.id,
                        cluster.backup_schedule.as_deref(),
                        cluster.backup_retention_days,
                        cluster.backup_retention_count,
                        cluster.backup_verify,
                        cluster.backup_destination.as_ref(),
                    )?,
                    cluster.maintenance_window.as_ref().map(|w| w.0),
                )?;
                k8s.apply_cluster(&cluster, spec).await?;
            }
            self.mark_applied(Kind::Cluster, cluster.id, cluster.generation, now)
                .await?;
            cluster.applied_generation = cluster.generation;
            cluster.applied_at = Some(now);
        }
        let observed = match &plane {
            Plane::Simulated => Some(simulated::observe(&cluster, now, self.simulated_delay)),
            Plane::Kubernetes(k8s) => {
                if cluster.backup_schedule.is_some() {
                    self.mirror_operator_backups(k8s, &cluster).await?;
                }
                k8s.observe(&cluster).await?
            }
        };
        let status = observed.as_ref().map(|o| Mirrored {
            phase: o.phase.as_str(),
            observed_generation: o.observed_generation,
            revision: o.current_version.as_deref(),
            ready: o.ready_nodes,
            endpoint: o.endpoint.as_deref(),
            conditions: &o.conditions,
        });
        self.mirror(Kind::Cluster, cluster.id, status, now).await?;
        if let Some(o) = observed {
            sqlx::query(
                "UPDATE vector_clusters SET placement = $2,
                     backup_last_verified = COALESCE($3, backup_last_verified)
                 WHERE id = $1",
            )
            .bind(cluster.id)
            .bind(o.placement.map(sqlx::types::Json))
            .bind(o.last_verified.map(sqlx::types::Json))
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Writes what the data plane reports into the resource's row; with
    /// nothing reported, only notes the pass.
    async fn mirror(
        &self,
        kind: Kind,
        id: Uuid,
        status: Option<Mirrored<'_>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(s) = status else {
            return self.mark_synced(kind, id, now).await;
        };
        let table = kind.table();
        let (revision, ready) = match kind {
            Kind::Cluster => ("current_version", "ready_nodes"),
            Kind::Endpoint => ("served_revision", "ready_replicas"),
        };
        // A deletion asked for meanwhile keeps its phase.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table}
             SET phase = CASE WHEN deletion_requested_at IS NULL THEN $2 ELSE phase END,
                 observed_generation = $3, {revision} = $4, {ready} = $5,
                 endpoint = $6, conditions = $7, synced_at = $8
             WHERE id = $1"
        )))
        .bind(id)
        .bind(s.phase)
        .bind(s.observed_generation)
        .bind(s.revision)
        .bind(s.ready)
        .bind(s.endpoint)
        .bind(s.conditions)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that `generation` (or a wake, at the same generation) was
    /// carried into the data plane at `now`; it never moves back.
    async fn mark_applied(
        &self,
        kind: Kind,
        id: Uuid,
        generation: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET applied_generation = $2, applied_at = $3
             WHERE id = $1 AND applied_generation <= $2",
            kind.table()
        )))
        .bind(id)
        .bind(generation)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a pass that found no status to mirror, so that the resource
    /// waits for its next resync.
    async fn mark_synced(&self, kind: Kind, id: Uuid, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET synced_at = $2 WHERE id = $1",
            kind.table()
        )))
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends a deletion: the row goes once the data plane reports the
    /// resource gone; until then it stays, marked as synced.
    async fn finish_deletion(
        &self,
        kind: Kind,
        id: Uuid,
        organization_id: Uuid,
        gone: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let table = kind.table();
        if !gone {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET phase = 'Deleting', synced_at = $2 WHERE id = $1"
            )))
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE id = $1 AND deletion_requested_at IS NOT NULL"
        )))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 1 {
            audit::record(
                &mut tx,
                Some(organization_id),
                "system:provisioner",
                &kind.action("deleted"),
                kind.target_type(),
                &id.to_string(),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
