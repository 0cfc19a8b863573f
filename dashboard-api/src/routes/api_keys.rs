//! Organization API keys: the secret is shown once, at creation.

use axum::Json;
use axum::http::StatusCode;
use axum::response::Response;
use control_plane::api_keys::{self, NewApiKey};
use control_plane::page::PageRequest;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{Json as Body, Query};
use crate::json::{ApiKeyJson, CreateApiKeyRequest, CreatedApiKey, List, ListParams, ProblemJson};
use crate::unit::{OrgMutation, OrgRead};

/// Creates an API key. The response holds the token; it is never shown again.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/api-keys", tag = "api keys",
    params(("org_id" = Uuid, Path)),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, body = CreatedApiKey),
        (status = 403, body = ProblemJson, description = "A scope the caller does not hold itself"),
        (status = 422, body = ProblemJson),
    ))]
pub async fn create(
    OrgMutation(mut unit, access, _, Body(request)): OrgMutation<Uuid, Body<CreateApiKeyRequest>>,
) -> Result<Response, ApiError> {
    let new = NewApiKey::parse(&request.name, request.scopes)?;
    let (key, token) = api_keys::create(unit.conn(), &access, new).await?;
    let body = CreatedApiKey {
        key: key.into(),
        token: token.expose().to_owned(),
    };
    unit.answer_secret_once(StatusCode::CREATED, &body, "token")
        .await
}

/// Lists the organization's API keys, revoked ones included.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/api-keys", tag = "api keys",
    params(("org_id" = Uuid, Path), ListParams),
    responses((status = 200, body = List<ApiKeyJson>), (status = 404, body = ProblemJson)))]
pub async fn list(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
    Query(params): Query<ListParams>,
) -> Result<Json<List<ApiKeyJson>>, ApiError> {
    let page = PageRequest::parse(params.limit, params.starting_after)?;
    let keys = api_keys::list(&mut conn, &access, page).await?;
    Ok(Json(List::from_page(keys, ApiKeyJson::from)))
}

/// One key: its name, prefix, scopes and use, never its secret.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/api-keys/{key_id}", tag = "api keys",
    params(("org_id" = Uuid, Path), ("key_id" = Uuid, Path)),
    responses((status = 200, body = ApiKeyJson), (status = 404, body = ProblemJson)))]
pub async fn get(
    OrgRead(mut conn, access, (_, key_id)): OrgRead<(Uuid, Uuid)>,
) -> Result<Json<ApiKeyJson>, ApiError> {
    let key = api_keys::get(&mut conn, &access, key_id).await?;
    Ok(Json(key.into()))
}

/// Revokes a key at once; requests with it are refused from then on.
#[utoipa::path(delete, path = "/v1/organizations/{org_id}/api-keys/{key_id}", tag = "api keys",
    params(("org_id" = Uuid, Path), ("key_id" = Uuid, Path)),
    responses((status = 200, body = ApiKeyJson), (status = 404, body = ProblemJson)))]
pub async fn revoke(
    OrgMutation(mut unit, access, (_, key_id), ()): OrgMutation<(Uuid, Uuid), ()>,
) -> Result<Response, ApiError> {
    let key = api_keys::revoke(unit.conn(), &access, key_id).await?;
    unit.answer(StatusCode::OK, &ApiKeyJson::from(key)).await
}
