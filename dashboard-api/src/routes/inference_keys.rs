//! Inference keys: customers manage them (the secret is shown once, at
//! creation); each data plane's gateway fetches its key set with its own
//! token, as often as it likes, cheaply when nothing changed.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use control_plane::inference_keys;
use control_plane::page::PageRequest;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{DataPlane, Json as Body, Query};
use crate::json::{
    CreateInferenceKeyRequest, CreatedInferenceKey, InferenceKeyJson, List, ListParams, ProblemJson,
};
use crate::state::AppState;
use crate::unit::{OrgMutation, OrgRead};

/// Creates an inference key, for OpenAI-style calls to the organization's
/// endpoints through their data plane's gateway. The response holds the
/// token; it is never shown again.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/inference-keys", tag = "inference keys",
    params(("org_id" = Uuid, Path)),
    request_body = CreateInferenceKeyRequest,
    responses(
        (status = 201, body = CreatedInferenceKey),
        (status = 403, body = ProblemJson, description = "A limit over the plan's cap (plan-limit-exceeded)"),
        (status = 422, body = ProblemJson),
    ))]
pub async fn create(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, _, Body(body)): OrgMutation<
        Uuid,
        Body<CreateInferenceKeyRequest>,
    >,
) -> Result<Response, ApiError> {
    let request = inference_keys::CreateInferenceKey::from(body);
    let catalog = &state.catalog.get().catalog;
    let (key, token) = inference_keys::create(unit.conn(), &access, catalog, &request).await?;
    let body = CreatedInferenceKey {
        key: key.into(),
        token: token.expose().to_owned(),
    };
    unit.answer_secret_once(StatusCode::CREATED, &body, "token")
        .await
}

/// Lists the organization's inference keys, revoked ones included.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/inference-keys", tag = "inference keys",
    params(("org_id" = Uuid, Path), ListParams),
    responses((status = 200, body = List<InferenceKeyJson>), (status = 404, body = ProblemJson)))]
pub async fn list(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
    Query(params): Query<ListParams>,
) -> Result<Json<List<InferenceKeyJson>>, ApiError> {
    let page = PageRequest::parse(params.limit, params.starting_after)?;
    let keys = inference_keys::list(&mut conn, &access, page).await?;
    Ok(Json(List::from_page(keys, InferenceKeyJson::from)))
}

/// One inference key, never its secret.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/inference-keys/{key_id}", tag = "inference keys",
    params(("org_id" = Uuid, Path), ("key_id" = Uuid, Path)),
    responses((status = 200, body = InferenceKeyJson), (status = 404, body = ProblemJson)))]
pub async fn get(
    OrgRead(mut conn, access, (_, key_id)): OrgRead<(Uuid, Uuid)>,
) -> Result<Json<InferenceKeyJson>, ApiError> {
    let key = inference_keys::get(&mut conn, &access, key_id).await?;
    Ok(Json(key.into()))
}

/// Revokes an inference key: gateways refuse it once they have fetched
/// their key set again.
#[utoipa::path(delete, path = "/v1/organizations/{org_id}/inference-keys/{key_id}", tag = "inference keys",
    params(("org_id" = Uuid, Path), ("key_id" = Uuid, Path)),
    responses((status = 200, body = InferenceKeyJson), (status = 404, body = ProblemJson)))]
pub async fn revoke(
    OrgMutation(mut unit, access, (_, key_id), ()): OrgMutation<(Uuid, Uuid), ()>,
) -> Result<Response, ApiError> {
    let key = inference_keys::revoke(unit.conn(), &access, key_id).await?;
    unit.answer(StatusCode::OK, &InferenceKeyJson::from(key))
        .await
}

/// The key set of the calling data plane's inference gateway
/// (`crds::gateway::KeySet`): the keys it may admit, by hash, the
/// organizations it must refuse, and its endpoints. Authenticated with the
/// data plane's token. The `ETag` is the body's SHA-256: send it back as
/// `If-None-Match` to get `304 Not Modified`, with no body, while nothing
/// changed.
#[utoipa::path(get, path = "/v1/data-plane/inference-keys", tag = "inference keys",
    params(("If-None-Match" = Option<String>, Header,
        description = "The ETag of the key set the gateway holds")),
    responses(
        (status = 200, body = Object, description = "crds::gateway::KeySet: keys, refused, endpoints",
            headers(("ETag" = String, description = "A strong tag of this key set"))),
        (status = 304, description = "The key set is the one `If-None-Match` names",
            headers(("ETag" = String))),
        (status = 401, body = ProblemJson, description = "no or an invalid data-plane token"),
    ))]
pub async fn key_set(
    State(state): State<AppState>,
    DataPlane(data_plane): DataPlane,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let published = state.catalog.get();
    let mut conn = state.db.acquire().await?;
    let set = inference_keys::key_set(&mut conn, data_plane, &published.catalog).await?;
    drop(conn);
    let body =
        serde_json::to_vec(&set).map_err(|e| ApiError::from(sqlx::Error::Encode(e.into())))?;
    let tag = entity_tag(&body);
    let etag =
        HeaderValue::from_str(&tag).map_err(|e| ApiError::from(sqlx::Error::Encode(e.into())))?;
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| names(v, &tag));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = (StatusCode::OK, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

/// A strong entity tag: the quoted hex SHA-256 of `body`.
fn entity_tag(body: &[u8]) -> String {
    let hex: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hex}\"")
}

/// Whether an `If-None-Match` value names `tag`: `*`, or a list of tags
/// compared weakly (RFC 9110, 13.1.2), so `W/"…"` matches too.
fn names(if_none_match: &str, tag: &str) -> bool {
    if_none_match.trim() == "*"
        || if_none_match
            .split(',')
            .map(|t| t.trim())
            .any(|t| t.strip_prefix("W/").unwrap_or(t) == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_names_the_tag_in_a_list_weakly_or_by_star() {
        let tag = entity_tag(b"{}");
        assert_eq!(tag.len(), 66);
        assert!(names(&tag, &tag));
        assert!(names(&format!("\"other\", W/{tag}"), &tag));
        assert!(names(" * ", &tag));
        assert!(!names("\"other\"", &tag));
        assert!(!names(&tag[1..65], &tag), "unquoted is another tag");
    }
}
