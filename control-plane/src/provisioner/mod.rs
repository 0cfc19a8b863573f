//! The provisioner: carries each cluster's desired spec into the data plane
//! of its region and mirrors the observed status back into PostgreSQL.
//!
//! One provisioner works at a time (a PostgreSQL advisory lock), so the
//! control plane itself can run any number of replicas. Each pass takes the
//! clusters with work to do (an unapplied generation, a phase not yet
//! settled, a deletion, or a resync due) and handles them one by one; a
//! failing data plane delays only its own clusters.

mod backups;
mod clusters;
mod endpoints;
pub mod kubernetes;
mod observed;
mod provisioned;
pub mod reported;
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
pub use observed::Observed;
use provisioned::Provisioned;

use crate::clusters::Cluster;
use crate::endpoints::Endpoint;
pub use crate::resource::Tracked;
use crate::resource::{self, Kind};
use crate::{Error, Result, audit, webhooks};

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
async fn kube_client(kubeconfig: &str) -> Result<kube::Client> {
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
        Ok(self.pass::<Cluster>(now).await?
            + self.pass::<Endpoint>(now).await?
            + self.backups_pass(now).await?)
    }

    /// Handles each resource of kind `M` with work to do; a failure delays
    /// only its own resource.
    async fn pass<M: Provisioned>(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut conn = self.pool.acquire().await?;
        let due = resource::due::<M>(&mut conn, now - RESYNC, M::ALSO_DUE, BATCH).await?;
        drop(conn);
        for tracked in &due {
            if let Err(err) = self.handle(tracked, now).await {
                tracing::warn!(
                    kind = M::KIND.noun(),
                    id = %tracked.resource.id(),
                    error = %err,
                    "provisioning failed; will retry"
                );
            }
        }
        Ok(due.len())
    }

    #[tracing::instrument(name = "provision", skip_all, fields(
        kind = M::KIND.noun(),
        id = %tracked.resource.id(),
        organization = %tracked.organization_id,
        generation = tracked.resource.generation(),
    ))]
    async fn handle<M: Provisioned>(&self, tracked: &Tracked<M>, now: DateTime<Utc>) -> Result<()> {
        let plane = self.plane(tracked.data_plane_id).await?;
        let id = tracked.resource.id();
        if let Some(asked) = tracked.resource.deletion_requested_at() {
            let gone = match &plane {
                Plane::Simulated => simulated::gone(asked, now, self.simulated_delay),
                Plane::Kubernetes(k8s) => {
                    k8s.delete::<M::Resource>(tracked.organization_id, tracked.resource.name())
                        .await?
                }
            };
            return finish_deletion(&self.pool, M::KIND, id, tracked.organization_id, gone, now)
                .await;
        }
        let mut tracked = tracked.clone();
        if tracked.applied_generation < tracked.resource.generation() || M::woken(&tracked) {
            if let Plane::Kubernetes(k8s) = &plane {
                M::apply(k8s, &tracked).await?;
            }
            let generation = tracked.resource.generation();
            mark_applied(&self.pool, M::KIND, id, generation, now).await?;
            tracked.applied_generation = generation;
            tracked.applied_at = Some(now);
        }
        let observed = match &plane {
            Plane::Simulated => Some(M::simulate(&tracked, now, self.simulated_delay)),
            Plane::Kubernetes(k8s) => M::observe(self, k8s, &tracked).await?,
        };
        mirror(
            &self.pool,
            M::KIND,
            id,
            observed.as_ref().map(M::mirrored),
            now,
        )
        .await?;
        match observed {
            Some(observed) => M::record(&self.pool, id, observed).await,
            None => Ok(()),
        }
    }
}

/// Writes what the data plane reports into the resource's row; with
/// nothing reported, only notes the pass.
async fn mirror(
    pool: &PgPool,
    kind: Kind,
    id: Uuid,
    status: Option<Mirrored<'_>>,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(s) = status else {
        return mark_synced(pool, kind, id, now).await;
    };
    let table = kind.table();
    let (revision, ready) = match kind {
        Kind::Cluster => ("current_version", "ready_nodes"),
        Kind::Endpoint => ("served_revision", "ready_replicas"),
    };
    // A deletion asked for meanwhile keeps its phase. The phase it
    // leaves is read under the row's lock, so each move raises its
    // events once, in the transaction that makes it.
    let mut tx = pool.begin().await?;
    let moved: Option<(String, String, Uuid, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} t
             SET phase = CASE WHEN t.deletion_requested_at IS NULL THEN $2 ELSE t.phase END,
                 observed_generation = $3, {revision} = $4, {ready} = $5,
                 endpoint = $6, conditions = $7, synced_at = $8
             FROM (SELECT id, phase FROM {table} WHERE id = $1 FOR UPDATE) AS before
             WHERE t.id = before.id
             RETURNING before.phase, t.phase, t.organization_id, t.name"
        )))
        .bind(id)
        .bind(s.phase)
        .bind(s.observed_generation)
        .bind(s.revision)
        .bind(s.ready)
        .bind(s.endpoint)
        .bind(s.conditions)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some((before, after, organization_id, name)) = moved {
        for event in kind.phase_events(&before, &after) {
            let moved = Moved {
                kind,
                id,
                organization_id,
                name: &name,
                phase: &after,
                previous: Some(&before),
            };
            tell(&mut tx, event, moved, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Records that `generation` (or a wake, at the same generation) was
/// carried into the data plane at `now`; it never moves back.
async fn mark_applied(
    pool: &PgPool,
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
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a pass that found no status to mirror, so that the resource
/// waits for its next resync.
async fn mark_synced(pool: &PgPool, kind: Kind, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {} SET synced_at = $2 WHERE id = $1",
        kind.table()
    )))
    .bind(id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends a deletion: the row goes once the data plane reports the
/// resource gone; until then it stays, marked as synced.
async fn finish_deletion(
    pool: &PgPool,
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
        .execute(pool)
        .await?;
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    let deleted: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {table} WHERE id = $1 AND deletion_requested_at IS NOT NULL
         RETURNING name"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((name,)) = deleted {
        let gone = Moved {
            kind,
            id,
            organization_id,
            name: &name,
            phase: "Deleted",
            previous: None,
        };
        tell(&mut tx, kind.deleted_event(), gone, now).await?;
        audit::record(
            &mut tx,
            Some(organization_id),
            "system:provisioner",
            &kind.action("deleted"),
            kind.target_type(),
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A resource as its phase events show it.
struct Moved<'a> {
    kind: Kind,
    id: Uuid,
    organization_id: Uuid,
    name: &'a str,
    phase: &'a str,
    previous: Option<&'a str>,
}

/// Raises `event` about a resource's move, in the caller's transaction.
async fn tell(
    conn: &mut sqlx::PgConnection,
    event: webhooks::EventType,
    m: Moved<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut object = serde_json::json!({
        "object": m.kind.noun(), "id": m.id, "name": m.name, "phase": m.phase,
    });
    if let Some(previous) = m.previous {
        object["previous_phase"] = previous.into();
    }
    let data = serde_json::json!({ "object": object });
    let id = m.id.to_string();
    let subject = webhooks::Subject {
        kind: m.kind.noun(),
        id: &id,
    };
    webhooks::emit(conn, m.organization_id, event, subject, data, now).await?;
    Ok(())
}
