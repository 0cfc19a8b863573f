//! Extractors whose every rejection is one of our problem documents.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use control_plane::access::Principal;
use control_plane::{accounts, api_keys, data_planes, idempotency};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, RequestError};
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "qm_session";

/// A JSON body, parsed strictly: unknown fields are refused by the DTOs'
/// `deny_unknown_fields`, and the error names the field by its path.
#[derive(Debug)]
pub struct Json<T>(pub T);

/// A body is an object: serde would also take an array for a struct,
/// field by field in order (`["search", "local"]`), and `[]` for one whose
/// fields may all be left out.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RequestError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(RequestError::InvalidBody {
            field: None,
            detail: "the body must be a JSON object, not an array".to_owned(),
        });
    }
    parse_any_json(bytes)
}

fn parse_any_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RequestError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            RequestError::MalformedJson(format!("the body is not valid JSON: {message}"))
        } else if message.starts_with("unknown field `") {
            // The path already ends with the unknown field's name.
            RequestError::UnknownField(path)
        } else {
            let field = (path != ".").then_some(path);
            let detail = match &field {
                Some(field) => format!("{field}: {message}"),
                None => message,
            };
            RequestError::InvalidBody { field, detail }
        }
    })
}

fn is_json(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

async fn body_bytes(req: Request, state: &AppState) -> Result<(Parts, Bytes), RequestError> {
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts.clone(), body);
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(ref err)
                if err.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                RequestError::PayloadTooLarge(state.config.max_body_bytes)
            }
            other => RequestError::Unreadable(other.body_text()),
        })?;
    Ok((parts, bytes))
}

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Json(json_body(req, state, parse_json).await?))
    }
}

/// A JSON body that is an array (a batch of usage events).
#[derive(Debug)]
pub struct JsonList<T>(pub Vec<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonList<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(JsonList(json_body(req, state, parse_any_json).await?))
    }
}

async fn json_body<T>(
    req: Request,
    state: &AppState,
    parse: fn(&[u8]) -> Result<T, RequestError>,
) -> Result<T, RequestError> {
    let (parts, bytes) = body_bytes(req, state).await?;
    if !is_json(&parts) {
        return Err(RequestError::UnsupportedMediaType);
    }
    parse(&bytes)
}

/// A state-changing request: its optional Idempotency-Key and what
/// identifies it for replays, with its JSON body (or none, for `()`).
#[derive(Debug)]
pub struct Mutation<T> {
    pub key: Option<idempotency::Key>,
    pub fingerprint: Vec<u8>,
    pub body: T,
}

/// Bodies a [`Mutation`] can carry.
pub trait MutationBody: Sized {
    fn parse(parts: &Parts, bytes: &[u8]) -> Result<Self, RequestError>;
}

impl MutationBody for () {
    fn parse(_: &Parts, _: &[u8]) -> Result<Self, RequestError> {
        Ok(())
    }
}

impl<T: DeserializeOwned> MutationBody for Json<T> {
    fn parse(parts: &Parts, bytes: &[u8]) -> Result<Self, RequestError> {
        if !is_json(parts) {
            return Err(RequestError::UnsupportedMediaType);
        }
        parse_json(bytes).map(Json)
    }
}

impl<T: MutationBody> FromRequest<AppState> for Mutation<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, bytes) = body_bytes(req, state).await?;
        let key = match parts.headers.get("idempotency-key") {
            None => None,
            Some(raw) => {
                let raw = raw.to_str().unwrap_or_default();
                Some(idempotency::Key::parse(raw).map_err(RequestError::InvalidIdempotencyKey)?)
            }
        };
        let fingerprint = idempotency::fingerprint(parts.method.as_str(), parts.uri.path(), &bytes);
        let body = T::parse(&parts, &bytes)?;
        Ok(Mutation {
            key,
            fingerprint,
            body,
        })
    }
}

/// Path parameters; a malformed id is simply not found.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_| RequestError::NotFound("resource with that id").into())
    }
}

/// A query string.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| RequestError::InvalidQuery(e.body_text()).into())
    }
}

/// The session token from the `Cookie` header, if any.
pub fn session_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The authenticated caller: an API key (`Authorization: Bearer`) or a
/// session cookie. A bad credential is refused even when the other is present.
#[derive(Debug)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = authorization(parts).map(|v| v.strip_prefix("Bearer ").unwrap_or("").trim());
        let mut conn = state.db.acquire().await?;
        if let Some(token) = bearer {
            let principal = api_keys::authenticate(&mut conn, token).await?;
            return Ok(Caller(principal));
        }
        let token = session_token(&parts.headers).ok_or(RequestError::Unauthenticated)?;
        let user_id = accounts::sessions::user_for(&mut conn, &token).await?;
        Ok(Caller(Principal::User { user_id }))
    }
}

/// The `Authorization` header, when it is text.
fn authorization(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// The data plane a usage report comes from, by its ingest token. As an
/// extractor of the request's head it runs before the body is read, so a
/// bad token answers 401 whatever the body holds.
#[derive(Debug, Clone, Copy)]
pub struct DataPlane(pub uuid::Uuid);

impl FromRequestParts<AppState> for DataPlane {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        let mut conn = state.db.acquire().await?;
        Ok(DataPlane(
            data_planes::authenticate_ingest(&mut conn, token).await?,
        ))
    }
}

/// A connected data plane, by its own credential (`Bearer qmdc_…`), which
/// it keeps for a rotation; a revoked one is refused as such.
#[derive(Debug, Clone)]
pub struct ConnectedDataPlane {
    pub identity: crds::sync::Identity,
    pub credential: String,
}

impl FromRequestParts<AppState> for ConnectedDataPlane {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credential = bearer(parts)?.to_owned();
        let mut conn = state.db.acquire().await?;
        let identity =
            data_planes::enrollment::authenticate(&mut conn, &credential, chrono::Utc::now())
                .await?;
        Ok(ConnectedDataPlane {
            identity,
            credential,
        })
    }
}

/// The token of an `Authorization: Bearer` header.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    Ok(authorization(parts)
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(RequestError::Unauthenticated)?
        .trim())
}

impl Caller {
    /// The user behind a session; API keys are refused.
    pub fn user_id(&self) -> Result<uuid::Uuid, ApiError> {
        match self.0 {
            Principal::User { user_id } => Ok(user_id),
            Principal::ApiKey { .. } => Err(RequestError::UserRequired.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be deserialized")]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be deserialized")]
    struct Inner {
        size: i64,
    }

    #[test]
    fn json_errors_are_told_apart_and_name_the_field() {
        assert!(matches!(
            parse_json::<Body>(b"{\"name\":"),
            Err(RequestError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b"{nope}"),
            Err(RequestError::MalformedJson(_))
        ));
        match parse_json::<Body>(br#"{"name":"a","admin":true}"#) {
            Err(RequestError::UnknownField(field)) => assert_eq!(field, "admin"),
            other => panic!("{other:?}"),
        }
        match parse_json::<Body>(br#"{"name":"a","inner":{"size":1,"x":2}}"#) {
            Err(RequestError::UnknownField(field)) => assert_eq!(field, "inner.x"),
            other => panic!("{other:?}"),
        }
        match parse_json::<Body>(br#"{"name":"a","inner":{"size":"big"}}"#) {
            Err(RequestError::InvalidBody { field, .. }) => {
                assert_eq!(field.as_deref(), Some("inner.size"))
            }
            other => panic!("{other:?}"),
        }
        match parse_json::<Body>(b"{}") {
            Err(RequestError::InvalidBody { detail, .. }) => assert!(detail.contains("`name`")),
            other => panic!("{other:?}"),
        }
    }
}
