//! The writes of volume growth, as `volumes` decides it: each claim raised
//! to the new size, then the StatefulSet replaced with its pods kept.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};

use super::events::Event;
use super::{Context, Error};
use crate::crd::vector_cluster::VectorCluster;

/// Raises each claim in `resize` to `gib`; the storage driver grows the
/// volume and, where the filesystem needs it, the kubelet grows that too.
pub(super) async fn grow_volumes(
    ctx: &Context,
    vc: &VectorCluster,
    namespace: &str,
    resize: &[String],
    gib: u32,
) -> Result<(), Error> {
    if resize.is_empty() {
        return Ok(());
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = serde_json::json!({
        "spec": { "resources": { "requests": { "storage": format!("{gib}Gi") } } }
    });
    for name in resize {
        claims
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    let note = format!("growing {} to {gib} GiB", resize.join(", "));
    ctx.events
        .about(vc, Event::normal("ExpandingVolumes", note))
        .await;
    Ok(())
}

/// Deletes the StatefulSet and leaves its pods running (orphaned), so that
/// the next pass creates it with the grown claim template and it adopts
/// them: no pod restarts.
pub(super) async fn replace_statefulset(
    ctx: &Context,
    vc: &VectorCluster,
    statefulsets: &Api<StatefulSet>,
    name: &str,
) -> Result<(), Error> {
    let orphan = DeleteParams {
        propagation_policy: Some(kube::api::PropagationPolicy::Orphan),
        ..DeleteParams::default()
    };
    statefulsets.delete(name, &orphan).await?;
    ctx.events.about(vc, Event::normal("VolumesExpanded", format!("every volume has grown to {} GiB; StatefulSet {name} is replaced with its pods kept", vc.spec.resources.storage_gib))).await;
    Ok(())
}
