//! What the provisioner's one pass does differently for each kind of
//! resource: the custom resource it applies, how the simulated data plane
//! answers, what a Kubernetes data plane reports, and what besides the
//! common status is written back.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::kubernetes::TenantResource;
use super::observed::Mirrored;
use super::{KubernetesPlane, Provisioner};
use crate::Result;
use crate::resource::{Managed, Tracked};

pub(super) trait Provisioned: Managed + Clone + Sync {
    /// The custom resource the data plane runs it as.
    type Resource: TenantResource;
    /// What the data plane reports of it.
    type Observed: Send;
    /// SQL over `r` that makes a resource due besides the common reasons.
    const ALSO_DUE: &'static str = "";

    fn name(&self) -> &str;
    fn generation(&self) -> i64;

    /// Whether there is something to apply at the same generation.
    fn woken(_tracked: &Tracked<Self>) -> bool {
        false
    }

    fn apply(
        k8s: &KubernetesPlane,
        tracked: &Tracked<Self>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The simulated data plane's answer: pure, from the row and the time.
    fn simulate(tracked: &Tracked<Self>, now: DateTime<Utc>, delay: Duration) -> Self::Observed;

    fn observe(
        provisioner: &Provisioner,
        k8s: &KubernetesPlane,
        tracked: &Tracked<Self>,
    ) -> impl Future<Output = Result<Option<Self::Observed>>> + Send;

    /// The status both kinds share.
    fn mirrored(observed: &Self::Observed) -> Mirrored<'_>;

    /// Writes what only this kind reports, after the shared status.
    fn record(
        _pool: &PgPool,
        _id: Uuid,
        _observed: Self::Observed,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }
}
