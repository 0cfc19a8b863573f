//! A cluster's maintenance window: when its nodes may begin restarting onto
//! a new version or new resources (Business plans).

use axum::extract::State;
use axum::response::Response;
use control_plane::clusters::maintenance::{self, WindowRequest};

use crate::error::ApiError;
use crate::extract::Json as Body;
use crate::json::{ClusterJson, MaintenanceWindowJson, ProblemJson};
use crate::state::AppState;
use crate::unit::{ClusterMutation, OrgMutation};

/// Holds the cluster's upgrades and resizes to a window: a change waits
/// for it to open; a roll that began goes on past its end.
#[utoipa::path(put,
    path = "/v1/organizations/{org_id}/clusters/{cluster_id}/maintenance-window",
    tag = "clusters",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path)),
    request_body = MaintenanceWindowJson,
    responses(
        (status = 202, body = ClusterJson),
        (status = 403, body = ProblemJson, description = "plan-limit-exceeded: Business only"),
        (status = 404, body = ProblemJson),
        (status = 422, body = ProblemJson),
    ))]
pub async fn set(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, (_, cluster_id), Body(body)): ClusterMutation<
        Body<MaintenanceWindowJson>,
    >,
) -> Result<Response, ApiError> {
    let catalog = state.catalog.get();
    let request = WindowRequest::from(body);
    let cluster =
        maintenance::set(unit.conn(), &access, &catalog.catalog, cluster_id, &request).await?;
    unit.accepted(&ClusterJson::from(cluster)).await
}

/// Lets the cluster's changes roll at once again.
#[utoipa::path(delete,
    path = "/v1/organizations/{org_id}/clusters/{cluster_id}/maintenance-window",
    tag = "clusters",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path)),
    responses((status = 202, body = ClusterJson), (status = 404, body = ProblemJson)))]
pub async fn clear(
    OrgMutation(mut unit, access, (_, cluster_id), ()): ClusterMutation<()>,
) -> Result<Response, ApiError> {
    let cluster = maintenance::clear(unit.conn(), &access, cluster_id).await?;
    unit.accepted(&ClusterJson::from(cluster)).await
}
