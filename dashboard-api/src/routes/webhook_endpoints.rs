//! The organization's webhook endpoints and their deliveries. Each
//! endpoint's signing secret is shown once, at creation and at rotation.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use control_plane::page::PageRequest;
use control_plane::webhooks::{EndpointChange, NewEndpoint, delivery, endpoints};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{Json as Body, Query};
use crate::json::{
    CreateWebhookEndpointRequest, CreatedWebhookEndpoint, List, ListParams, ProblemJson,
    RotateWebhookSecretRequest, UpdateWebhookEndpointRequest, WebhookDeliveryJson,
    WebhookEndpointJson,
};
use crate::state::AppState;
use crate::unit::{OrgMutation, OrgRead};

type EndpointMutation<T> = OrgMutation<(Uuid, Uuid), T>;

/// Registers an endpoint. The response holds its signing secret; it is
/// never shown again.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/webhook-endpoints", tag = "webhooks",
    params(("org_id" = Uuid, Path)),
    request_body = CreateWebhookEndpointRequest,
    responses(
        (status = 201, body = CreatedWebhookEndpoint),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
        (status = 422, body = ProblemJson),
    ))]
pub async fn create(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, _, Body(request)): OrgMutation<
        Uuid,
        Body<CreateWebhookEndpointRequest>,
    >,
) -> Result<Response, ApiError> {
    let new = NewEndpoint::parse(
        &request.url,
        request.description.as_deref(),
        &request.event_types,
        state.config.webhook_urls,
    )?;
    let (endpoint, secret) = endpoints::create(unit.conn(), &access, new).await?;
    let body = CreatedWebhookEndpoint {
        endpoint: endpoint.into(),
        secret: secret.expose().to_owned(),
    };
    unit.answer_secret_once(StatusCode::CREATED, &body, "secret")
        .await
}

/// Lists the organization's endpoints.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/webhook-endpoints", tag = "webhooks",
    params(("org_id" = Uuid, Path), ListParams),
    responses(
        (status = 200, body = List<WebhookEndpointJson>),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
    ))]
pub async fn list(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
    Query(params): Query<ListParams>,
) -> Result<Json<List<WebhookEndpointJson>>, ApiError> {
    let page = PageRequest::parse(params.limit, params.starting_after)?;
    let found = endpoints::list(&mut conn, &access, page).await?;
    Ok(Json(List::from_page(found, WebhookEndpointJson::from)))
}

/// One endpoint, never its secret.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/webhook-endpoints/{endpoint_id}", tag = "webhooks",
    params(("org_id" = Uuid, Path), ("endpoint_id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpointJson), (status = 404, body = ProblemJson)))]
pub async fn get(
    OrgRead(mut conn, access, (_, endpoint_id)): OrgRead<(Uuid, Uuid)>,
) -> Result<Json<WebhookEndpointJson>, ApiError> {
    Ok(Json(
        endpoints::get(&mut conn, &access, endpoint_id)
            .await?
            .into(),
    ))
}

/// Changes an endpoint's URL, description or event types, or enables or
/// disables it. Fields left out stay as they are.
#[utoipa::path(patch, path = "/v1/organizations/{org_id}/webhook-endpoints/{endpoint_id}", tag = "webhooks",
    params(("org_id" = Uuid, Path), ("endpoint_id" = Uuid, Path)),
    request_body = UpdateWebhookEndpointRequest,
    responses(
        (status = 200, body = WebhookEndpointJson),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
        (status = 422, body = ProblemJson),
    ))]
pub async fn update(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, (_, endpoint_id), Body(request)): EndpointMutation<
        Body<UpdateWebhookEndpointRequest>,
    >,
) -> Result<Response, ApiError> {
    let change = EndpointChange::parse(
        request.url.as_deref(),
        request.description.as_deref(),
        request.event_types.as_deref(),
        request.enabled,
        state.config.webhook_urls,
    )?;
    let endpoint = endpoints::update(unit.conn(), &access, endpoint_id, change).await?;
    unit.answer(StatusCode::OK, &WebhookEndpointJson::from(endpoint))
        .await
}

/// Deletes an endpoint and its deliveries; nothing more is sent to it.
#[utoipa::path(delete, path = "/v1/organizations/{org_id}/webhook-endpoints/{endpoint_id}", tag = "webhooks",
    params(("org_id" = Uuid, Path), ("endpoint_id" = Uuid, Path)),
    responses(
        (status = 200, body = WebhookEndpointJson),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
    ))]
pub async fn delete(
    OrgMutation(mut unit, access, (_, endpoint_id), ()): EndpointMutation<()>,
) -> Result<Response, ApiError> {
    let endpoint = endpoints::delete(unit.conn(), &access, endpoint_id).await?;
    unit.answer(StatusCode::OK, &WebhookEndpointJson::from(endpoint))
        .await
}

/// Replaces the signing secret. The replaced one keeps signing (a second
/// `v1` in the signature header) until `expires_in_seconds` have passed, so
/// the receiver can switch without losing an event.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/webhook-endpoints/{endpoint_id}/rotate-secret", tag = "webhooks",
    params(("org_id" = Uuid, Path), ("endpoint_id" = Uuid, Path)),
    request_body = RotateWebhookSecretRequest,
    responses(
        (status = 200, body = CreatedWebhookEndpoint),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
        (status = 422, body = ProblemJson),
    ))]
pub async fn rotate_secret(
    OrgMutation(mut unit, access, (_, endpoint_id), Body(request)): EndpointMutation<
        Body<RotateWebhookSecretRequest>,
    >,
) -> Result<Response, ApiError> {
    let overlap = endpoints::rotation_overlap(request.expires_in_seconds)?;
    let (endpoint, secret) =
        endpoints::rotate(unit.conn(), &access, endpoint_id, overlap, Utc::now()).await?;
    let body = CreatedWebhookEndpoint {
        endpoint: endpoint.into(),
        secret: secret.expose().to_owned(),
    };
    unit.answer_secret_once(StatusCode::OK, &body, "secret")
        .await
}

/// The endpoint's deliveries, newest first, with each one's status and the
/// receiver's last answer.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/webhook-endpoints/{endpoint_id}/deliveries", tag = "webhooks",
    params(("org_id" = Uuid, Path), ("endpoint_id" = Uuid, Path), ListParams),
    responses(
        (status = 200, body = List<WebhookDeliveryJson>),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
    ))]
pub async fn deliveries(
    OrgRead(mut conn, access, (_, endpoint_id)): OrgRead<(Uuid, Uuid)>,
    Query(params): Query<ListParams>,
) -> Result<Json<List<WebhookDeliveryJson>>, ApiError> {
    let page = PageRequest::parse(params.limit, params.starting_after)?;
    let (rows, has_more) = delivery::list(
        &mut conn,
        &access,
        endpoint_id,
        page.starting_after,
        page.limit,
    )
    .await?;
    Ok(Json(List {
        object: "list",
        data: rows.into_iter().map(WebhookDeliveryJson::from).collect(),
        has_more,
    }))
}

/// Sends a delivery again (with the same event id), after any earlier
/// delivery about the same resource that is still waiting.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/resend", tag = "webhooks",
    params(("org_id" = Uuid, Path), ("endpoint_id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses(
        (status = 202, body = WebhookDeliveryJson),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
    ))]
pub async fn resend(
    OrgMutation(mut unit, access, (_, endpoint_id, delivery_id), ()): OrgMutation<
        (Uuid, Uuid, Uuid),
        (),
    >,
) -> Result<Response, ApiError> {
    let resent =
        delivery::resend(unit.conn(), &access, endpoint_id, delivery_id, Utc::now()).await?;
    unit.accepted(&WebhookDeliveryJson::from(resent)).await
}
