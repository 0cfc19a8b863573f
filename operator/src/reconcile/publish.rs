//! Writing a `VectorCluster`'s status: patched only when it changed, with an
//! event when the phase moves. The status itself is computed in `status`.

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};

use super::events::Event;
use super::{Context, Error, status, volumes};
use crate::crd::vector_cluster::{Phase, VectorCluster, VectorClusterStatus};

pub(super) async fn publish_status(
    ctx: &Context,
    cluster: &VectorCluster,
    status: VectorClusterStatus,
) -> Result<(), Error> {
    let previous = cluster.status.as_ref();
    if previous == Some(&status) {
        return Ok(());
    }
    if previous.map(|p| p.phase) != Some(status.phase)
        && let Some(event) = phase_event(&status)
    {
        ctx.events.about(cluster, event).await;
    }
    let namespace = cluster.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<VectorCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = serde_json::json!({ "status": status });
    let answer = api
        .patch_status(
            &cluster.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    ctx.own_writes.wrote(&answer.metadata);
    Ok(())
}

fn phase_event(status: &VectorClusterStatus) -> Option<Event> {
    let message = status
        .conditions
        .iter()
        .find(|c| c.status == "True")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    let (warning, reason) = match status.phase {
        Phase::Pending => return None,
        Phase::Provisioning => (false, "Provisioning"),
        Phase::Ready => (false, "Ready"),
        Phase::Updating => (false, "Updating"),
        Phase::Suspended => (false, "Suspended"),
        Phase::Deleting => (false, "Deleting"),
        Phase::Degraded => (
            true,
            status
                .conditions
                .iter()
                .find(|c| c.type_ == "Degraded")
                .map(|c| match c.reason.as_str() {
                    "InvalidSpec" => "InvalidSpec",
                    status::APPLY_FAILED => status::APPLY_FAILED,
                    volumes::REFUSED => volumes::REFUSED,
                    _ => "RolloutHalted",
                })
                .unwrap_or("Degraded"),
        ),
    };
    Some(Event {
        warning,
        reason,
        note: message,
    })
}
