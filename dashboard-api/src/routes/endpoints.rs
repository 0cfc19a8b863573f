//! GPU inference endpoints. Changes are accepted (`202`) and carried out by
//! the provisioner; `status` shows what the data plane serves.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use control_plane::endpoints;
use control_plane::page::PageRequest;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{DataPlane, Json as Body, Path, Query};
use crate::json::{
    CreateEndpointRequest, EndpointJson, List, ListParams, ProblemJson, UpdateEndpointRequest,
};
use crate::state::AppState;
use crate::unit::{OrgMutation, OrgRead};

/// Creates an inference endpoint, within the plan's GPU allowance.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/endpoints", tag = "endpoints",
    params(("org_id" = Uuid, Path)),
    request_body = CreateEndpointRequest,
    responses(
        (status = 202, body = EndpointJson, description = "Accepted; the endpoint is Provisioning"),
        (status = 403, body = ProblemJson, description = "plan-limit-exceeded (GPUs) or forbidden"),
        (status = 409, body = ProblemJson, description = "endpoint-name-taken"),
        (status = 422, body = ProblemJson),
    ))]
pub async fn create(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, _, Body(body)): OrgMutation<Uuid, Body<CreateEndpointRequest>>,
) -> Result<Response, ApiError> {
    let request = endpoints::CreateEndpoint::from(body);
    let endpoint =
        endpoints::create(unit.conn(), &access, &state.catalog.get().catalog, &request).await?;
    unit.accepted(&EndpointJson::from(endpoint)).await
}

/// Lists the organization's endpoints, oldest first.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/endpoints", tag = "endpoints",
    params(("org_id" = Uuid, Path), ListParams),
    responses((status = 200, body = List<EndpointJson>), (status = 404, body = ProblemJson)))]
pub async fn list(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
    Query(params): Query<ListParams>,
) -> Result<Json<List<EndpointJson>>, ApiError> {
    let page = PageRequest::parse(params.limit, params.starting_after)?;
    let found = endpoints::list(&mut conn, &access, page).await?;
    Ok(Json(List::from_page(found, EndpointJson::from)))
}

/// One endpoint with its spec and what it serves.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/endpoints/{endpoint_id}", tag = "endpoints",
    params(("org_id" = Uuid, Path), ("endpoint_id" = Uuid, Path)),
    responses((status = 200, body = EndpointJson), (status = 404, body = ProblemJson)))]
pub async fn get(
    OrgRead(mut conn, access, (_, endpoint_id)): OrgRead<(Uuid, Uuid)>,
) -> Result<Json<EndpointJson>, ApiError> {
    Ok(Json(
        endpoints::get(&mut conn, &access, endpoint_id)
            .await?
            .into(),
    ))
}

/// Changes the model revision or the scaling, or replaces the labels (a
/// change of labels alone moves no generation).
#[utoipa::path(patch, path = "/v1/organizations/{org_id}/endpoints/{endpoint_id}", tag = "endpoints",
    params(("org_id" = Uuid, Path), ("endpoint_id" = Uuid, Path)),
    request_body = UpdateEndpointRequest,
    responses(
        (status = 202, body = EndpointJson),
        (status = 404, body = ProblemJson),
        (status = 409, body = ProblemJson, description = "endpoint-deleting"),
        (status = 422, body = ProblemJson),
    ))]
pub async fn update(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, (_, endpoint_id), Body(body)): OrgMutation<
        (Uuid, Uuid),
        Body<UpdateEndpointRequest>,
    >,
) -> Result<Response, ApiError> {
    let mut body = body;
    let labels = body.labels.take();
    let request = endpoints::UpdateEndpoint::from(body);
    let endpoint = endpoints::update(
        unit.conn(),
        &access,
        &state.catalog.get().catalog,
        endpoint_id,
        (&request, labels.as_ref()),
        Utc::now(),
    )
    .await?;
    unit.accepted(&EndpointJson::from(endpoint)).await
}

/// Wakes an endpoint of the calling data plane, as its inference gateway
/// does for a request held on a cold start. Authenticated with the data
/// plane's token; an endpoint of another data plane is not found.
#[utoipa::path(post, path = "/v1/data-plane/endpoints/{endpoint_id}/wake", tag = "endpoints",
    params(("endpoint_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Asked to wake; the provisioner carries it into the data plane"),
        (status = 401, body = ProblemJson, description = "no or an invalid data-plane token"),
        (status = 404, body = ProblemJson),
    ))]
pub async fn wake_for_gateway(
    State(state): State<AppState>,
    DataPlane(data_plane): DataPlane,
    Path(endpoint_id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let mut conn = state.db.acquire().await?;
    endpoints::data_plane::wake(&mut conn, data_plane, endpoint_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Wakes an endpoint scaled to zero; it serves again once a replica is Ready.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/endpoints/{endpoint_id}/wake", tag = "endpoints",
    params(("org_id" = Uuid, Path), ("endpoint_id" = Uuid, Path)),
    responses((status = 202, body = EndpointJson), (status = 404, body = ProblemJson), (status = 409, body = ProblemJson)))]
pub async fn wake(
    OrgMutation(mut unit, access, (_, endpoint_id), ()): OrgMutation<(Uuid, Uuid), ()>,
) -> Result<Response, ApiError> {
    let endpoint = endpoints::wake(unit.conn(), &access, endpoint_id).await?;
    unit.accepted(&EndpointJson::from(endpoint)).await
}

/// Deletes an endpoint: `Deleting` until the data plane has removed it.
#[utoipa::path(delete, path = "/v1/organizations/{org_id}/endpoints/{endpoint_id}", tag = "endpoints",
    params(("org_id" = Uuid, Path), ("endpoint_id" = Uuid, Path)),
    responses((status = 202, body = EndpointJson), (status = 404, body = ProblemJson)))]
pub async fn delete(
    OrgMutation(mut unit, access, (_, endpoint_id), ()): OrgMutation<(Uuid, Uuid), ()>,
) -> Result<Response, ApiError> {
    let endpoint = endpoints::delete(unit.conn(), &access, endpoint_id).await?;
    unit.accepted(&EndpointJson::from(endpoint)).await
}
