//! Vector clusters. Changes are accepted (`202`) and carried out by the
//! provisioner; `status` shows how far the data plane has come.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use control_plane::clusters;
use control_plane::money::idle;
use control_plane::page::PageRequest;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{Json as Body, Query};
use crate::json::{
    ClusterJson, CreateClusterRequest, DownscaleRiskJson, DownscaleRiskParams, List, ListParams,
    ProblemJson, UpdateClusterRequest,
};
use crate::state::AppState;
use crate::unit::{ClusterMutation, OrgMutation, OrgRead};

/// Creates a vector cluster, within the organization's plan.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/clusters", tag = "clusters",
    params(("org_id" = Uuid, Path)),
    request_body = CreateClusterRequest,
    responses(
        (status = 202, body = ClusterJson, description = "Accepted; the cluster is Provisioning"),
        (status = 403, body = ProblemJson, description = "plan-limit-exceeded or forbidden"),
        (status = 404, body = ProblemJson),
        (status = 409, body = ProblemJson, description = "cluster-name-taken"),
        (status = 422, body = ProblemJson, description = "validation-failed, unknown-field, invalid-body"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, _, Body(body)): OrgMutation<Uuid, Body<CreateClusterRequest>>,
) -> Result<Response, ApiError> {
    let request = clusters::CreateCluster::from(body);
    let cluster =
        clusters::create(unit.conn(), &access, &state.catalog.get().catalog, &request).await?;
    unit.accepted(&ClusterJson::from(cluster)).await
}

/// Lists the organization's clusters, oldest first.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/clusters", tag = "clusters",
    params(("org_id" = Uuid, Path), ListParams),
    responses((status = 200, body = List<ClusterJson>), (status = 404, body = ProblemJson)))]
pub async fn list(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
    Query(params): Query<ListParams>,
) -> Result<Json<List<ClusterJson>>, ApiError> {
    let page = PageRequest::parse(params.limit, params.starting_after)?;
    let found = clusters::list(&mut conn, &access, page).await?;
    Ok(Json(List::from_page(found, ClusterJson::from)))
}

/// One cluster with its spec and observed status.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/clusters/{cluster_id}", tag = "clusters",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path)),
    responses((status = 200, body = ClusterJson), (status = 404, body = ProblemJson)))]
pub async fn get(
    OrgRead(mut conn, access, (_, cluster_id)): OrgRead<(Uuid, Uuid)>,
) -> Result<Json<ClusterJson>, ApiError> {
    Ok(Json(
        clusters::get(&mut conn, &access, cluster_id).await?.into(),
    ))
}

/// What resizing the cluster to `nodes` would do to its data, before it is
/// asked for: which shards would move where, how much data, which shards'
/// only copy is on a leaving node, and what would refuse the resize. Read
/// from where the data plane last reported the shards.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/clusters/{cluster_id}/downscale-risk",
    tag = "clusters",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path), DownscaleRiskParams),
    responses(
        (status = 200, body = DownscaleRiskJson),
        (status = 404, body = ProblemJson),
        (status = 409, body = ProblemJson, description = "placement-unknown"),
        (status = 422, body = ProblemJson, description = "validation-failed"),
    ))]
pub async fn downscale_risk(
    OrgRead(mut conn, access, (_, cluster_id)): OrgRead<(Uuid, Uuid)>,
    Query(params): Query<DownscaleRiskParams>,
) -> Result<Json<DownscaleRiskJson>, ApiError> {
    let risk = clusters::resize_risk(&mut conn, &access, cluster_id, params.nodes).await?;
    Ok(Json(risk.into()))
}

/// Resizes or upgrades a cluster, or replaces its labels. Fields left out
/// stay as they are; a request that changes nothing keeps the generation,
/// and so does a change of labels alone.
#[utoipa::path(patch, path = "/v1/organizations/{org_id}/clusters/{cluster_id}", tag = "clusters",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path)),
    request_body = UpdateClusterRequest,
    responses(
        (status = 202, body = ClusterJson),
        (status = 403, body = ProblemJson, description = "plan-limit-exceeded"),
        (status = 404, body = ProblemJson),
        (status = 409, body = ProblemJson, description = "cluster-deleting"),
        (status = 422, body = ProblemJson),
    ))]
pub async fn update(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, (_, cluster_id), Body(body)): ClusterMutation<
        Body<UpdateClusterRequest>,
    >,
) -> Result<Response, ApiError> {
    let catalog = state.catalog.get();
    let mut body = body;
    let labels = body.labels.take();
    let request = clusters::UpdateCluster::from(body);
    let cluster = clusters::update(
        unit.conn(),
        &access,
        &catalog.catalog,
        cluster_id,
        (&request, labels.as_ref()),
        Utc::now(),
    )
    .await?;
    unit.accepted(&ClusterJson::from(cluster)).await
}

/// Deletes a cluster: it shows `Deleting` until the data plane has removed it.
#[utoipa::path(delete, path = "/v1/organizations/{org_id}/clusters/{cluster_id}", tag = "clusters",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path)),
    responses((status = 202, body = ClusterJson), (status = 404, body = ProblemJson)))]
pub async fn delete(
    OrgMutation(mut unit, access, (_, cluster_id), ()): ClusterMutation<()>,
) -> Result<Response, ApiError> {
    let cluster = clusters::delete(unit.conn(), &access, cluster_id).await?;
    unit.accepted(&ClusterJson::from(cluster)).await
}

/// Resumes a cluster suspended for idleness (the free tier's, after days
/// without a request): it starts again with its data, and its idle clock
/// starts again now. A running cluster is left as it is; a cluster
/// suspended for another cause is refused.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/clusters/{cluster_id}/resume",
    tag = "clusters",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path)),
    responses(
        (status = 202, body = ClusterJson, description = "Accepted; the cluster starts again"),
        (status = 404, body = ProblemJson),
        (status = 409, body = ProblemJson, description = "cluster-not-resumable, cluster-deleting"),
    ))]
pub async fn resume(
    OrgMutation(mut unit, access, (_, cluster_id), ()): ClusterMutation<()>,
) -> Result<Response, ApiError> {
    let cluster = idle::resume(unit.conn(), &access, cluster_id).await?;
    unit.accepted(&ClusterJson::from(cluster)).await
}
