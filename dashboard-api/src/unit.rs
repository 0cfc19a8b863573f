//! A unit of work: one transaction that holds a change, its audit rows and,
//! for the API, its idempotency record, so they commit together or not at
//! all. The JSON API and the dashboard's pages both change things through it.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use control_plane::access::{self, OrgAccess, Principal};
use control_plane::idempotency::{self, Key, Saved, Scope};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{Caller, Mutation, MutationBody, Path};
use crate::state::AppState;

#[derive(Debug)]
pub struct Unit {
    tx: Transaction<'static, Postgres>,
    record: Option<(Scope, Key)>,
}

/// How a mutation begins: with the work still to do, or, for a replayed
/// Idempotency-Key, with the answer saved the first time, which the handler
/// returns as it is.
#[derive(Debug)]
pub enum Begun<T> {
    Fresh(T),
    Replay(Response),
}

impl<T> Begun<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Begun<U> {
        match self {
            Begun::Fresh(fresh) => Begun::Fresh(f(fresh)),
            Begun::Replay(saved) => Begun::Replay(saved),
        }
    }
}

/// An API mutation in the organization its path names, begun: the unit
/// of work (holding the Idempotency-Key), the caller's access there, the
/// path's parameters and the body. Checked in the order a handler would:
/// the credential, the path, the body, then access and the key. A replayed
/// key is answered with the answer saved the first time, before the
/// handler runs.
#[derive(Debug)]
pub struct OrgMutation<P, T>(pub Unit, pub OrgAccess, pub P, pub T);

/// A mutation of one cluster (`…/clusters/{cluster_id}…`) with the body `T`.
pub type ClusterMutation<T> = OrgMutation<(Uuid, Uuid), T>;

/// The organization among a path's parameters.
#[derive(Debug, serde::Deserialize)]
struct OrgId {
    org_id: Uuid,
}

/// An API read in the organization its path names: a connection, the
/// caller's access there (another organization's path is not found), and
/// the path's parameters. Checked in the order a handler would: the
/// credential, the path, then access.
#[derive(Debug)]
pub struct OrgRead<P>(pub PoolConnection<Postgres>, pub OrgAccess, pub P);

impl<P> FromRequestParts<AppState> for OrgRead<P>
where
    P: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Caller(principal) = Caller::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(path) = Path::<P>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(OrgId { org_id }) = Path::<OrgId>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let mut conn = state
            .db
            .acquire()
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        let access = access::resolve(&mut conn, &principal, org_id)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        Ok(OrgRead(conn, access, path))
    }
}

impl<P, T> FromRequest<AppState> for OrgMutation<P, T>
where
    P: DeserializeOwned + Send,
    T: MutationBody + Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Caller(principal) = Caller::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(path) = Path::<P>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(OrgId { org_id }) = Path::<OrgId>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let mutation = Mutation::<T>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        match Unit::for_organization(state, &principal, org_id, &mutation)
            .await
            .map_err(IntoResponse::into_response)?
        {
            Begun::Fresh((unit, access)) => Ok(OrgMutation(unit, access, path, mutation.body)),
            Begun::Replay(saved) => Err(saved),
        }
    }
}

impl Unit {
    /// A unit without an idempotency record, as pages use it.
    pub async fn begin(state: &AppState) -> Result<Unit, sqlx::Error> {
        Ok(Unit {
            tx: state.db.begin().await?,
            record: None,
        })
    }

    /// A unit for a mutation in organization `org_id`: access first, then
    /// the Idempotency-Key.
    pub async fn for_organization<T>(
        state: &AppState,
        principal: &Principal,
        org_id: uuid::Uuid,
        mutation: &Mutation<T>,
    ) -> Result<Begun<(Unit, OrgAccess)>, ApiError> {
        let mut unit = Unit::begin(state).await?;
        let access = access::resolve(unit.conn(), principal, org_id).await?;
        let begun = unit.claim(Scope::organization(org_id), mutation).await?;
        Ok(begun.map(|unit| (unit, access)))
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Claims the mutation's Idempotency-Key within `scope`. Call it once
    /// the caller's access is established, so keys cannot be probed.
    pub async fn claim<T>(
        mut self,
        scope: Scope,
        mutation: &Mutation<T>,
    ) -> Result<Begun<Unit>, ApiError> {
        let Some(key) = &mutation.key else {
            return Ok(Begun::Fresh(self));
        };
        match idempotency::begin(&mut self.tx, &scope, key, &mutation.fingerprint).await? {
            idempotency::Begun::Fresh => {
                self.record = Some((scope, key.clone()));
                Ok(Begun::Fresh(self))
            }
            idempotency::Begun::Replay(saved) => Ok(Begun::Replay(replay(saved))),
        }
    }

    /// Commits a unit whose answer is not kept (a page's).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Saves the answer `status` with `body` as JSON for replays, commits,
    /// and answers it.
    pub async fn answer<T: Serialize>(
        self,
        status: StatusCode,
        body: &T,
    ) -> Result<Response, ApiError> {
        self.answer_redacted(status, body, |_| ()).await
    }

    /// Answers 202 with `body`: the change is stored, and the data plane
    /// carries it out after.
    pub async fn accepted<T: Serialize>(self, body: &T) -> Result<Response, ApiError> {
        self.answer(StatusCode::ACCEPTED, body).await
    }

    /// As [`Unit::answer`], for an answer holding a secret shown this once
    /// as its `field`: the copy kept for replays leaves it out, and no
    /// cache may keep the answer.
    pub async fn answer_secret_once<T: Serialize>(
        self,
        status: StatusCode,
        body: &T,
        field: &str,
    ) -> Result<Response, ApiError> {
        let mut response = self
            .answer_redacted(status, body, |saved| {
                if let Some(object) = saved.as_object_mut() {
                    object.remove(field);
                }
            })
            .await?;
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        Ok(response)
    }

    /// As [`Unit::answer`], but the copy kept for replays is first passed
    /// through `redact`: secrets shown once are never stored.
    pub async fn answer_redacted<T: Serialize>(
        mut self,
        status: StatusCode,
        body: &T,
        redact: impl FnOnce(&mut serde_json::Value),
    ) -> Result<Response, ApiError> {
        let json = (status != StatusCode::NO_CONTENT)
            .then(|| serde_json::to_value(body))
            .transpose()
            .map_err(|e| ApiError::from(sqlx::Error::Encode(e.into())))?;
        if let Some((scope, key)) = &self.record {
            let mut saved = json.clone();
            if let Some(saved) = saved.as_mut() {
                redact(saved);
            }
            let saved = Saved {
                status: status.as_u16(),
                body: saved,
            };
            idempotency::finish(&mut self.tx, scope, key, &saved).await?;
        }
        self.commit().await?;
        Ok(respond(status, json))
    }
}

fn respond(status: StatusCode, body: Option<serde_json::Value>) -> Response {
    match body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => status.into_response(),
    }
}

fn replay(saved: Saved) -> Response {
    let status = StatusCode::from_u16(saved.status).unwrap_or(StatusCode::OK);
    let mut response = respond(status, saved.body);
    response.headers_mut().insert(
        header::HeaderName::from_static("idempotent-replayed"),
        HeaderValue::from_static("true"),
    );
    response
}
