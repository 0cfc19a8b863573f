//! Provisioning vector clusters: the spec applied with the region's backup
//! destination, the operator's scheduled backups mirrored, and where the
//! shards are and how the last test restore went written back.

use chrono::{DateTime, Duration, Utc};
use crds::VectorCluster;
use crds::vector_cluster::FINALIZER;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use super::observed::{Mirrored, Observed};
use super::provisioned::Provisioned;
use super::{KubernetesPlane, Provisioner, simulated};
use crate::Result;
use crate::clusters::Cluster;
use crate::resource::Tracked;

impl Provisioned for Cluster {
    type Resource = VectorCluster;
    type Observed = Observed;

    fn name(&self) -> &str {
        &self.name
    }

    fn generation(&self) -> i64 {
        self.generation
    }

    async fn apply(k8s: &KubernetesPlane, tracked: &Tracked<Self>) -> Result<()> {
        let cluster = &tracked.resource;
        let spec = crate::backups::in_region(cluster)?;
        let mut resource = VectorCluster::new(&cluster.name, spec);
        resource.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
        k8s.apply_tenant(tracked.organization_id, cluster.id, resource)
            .await?;
        Ok(())
    }

    fn simulate(tracked: &Tracked<Self>, now: DateTime<Utc>, delay: Duration) -> Observed {
        simulated::observe(tracked, now, delay)
    }

    async fn observe(
        provisioner: &Provisioner,
        k8s: &KubernetesPlane,
        tracked: &Tracked<Self>,
    ) -> Result<Option<Observed>> {
        let cluster = &tracked.resource;
        if cluster.spec.backup.is_some() {
            provisioner.mirror_operator_backups(k8s, tracked).await?;
        }
        Ok(k8s
            .observe(
                tracked.organization_id,
                &cluster.name,
                tracked.applied_generation,
                cluster.observed_generation,
            )
            .await?)
    }

    fn mirrored(o: &Observed) -> Mirrored<'_> {
        Mirrored {
            phase: o.phase.as_str(),
            observed_generation: o.observed_generation,
            revision: o.current_version.as_deref(),
            ready: o.ready_nodes,
            endpoint: o.endpoint.as_deref(),
            conditions: &o.conditions,
        }
    }

    async fn record(pool: &PgPool, id: Uuid, observed: Observed) -> Result<()> {
        sqlx::query(
            "UPDATE vector_clusters SET placement = $2,
                 backup_last_verified = COALESCE($3, backup_last_verified)
             WHERE id = $1",
        )
        .bind(id)
        .bind(observed.placement.map(Json))
        .bind(observed.last_verified.map(Json))
        .execute(pool)
        .await?;
        Ok(())
    }
}
