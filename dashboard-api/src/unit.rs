//! A unit of work: one transaction that holds a mutation, its audit rows and
//! its idempotency record, so they commit together or not at all.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use control_plane::access::{self, OrgAccess, Principal};
use control_plane::idempotency::{self, Begun, Key, Saved, Scope};
use serde::Serialize;
use sqlx::{PgConnection, Postgres, Transaction};

use crate::error::ApiError;
use crate::extract::Mutation;
use crate::state::AppState;

#[derive(Debug)]
pub struct Unit {
    tx: Transaction<'static, Postgres>,
    record: Option<(Scope, Key)>,
}

impl Unit {
    pub async fn begin(state: &AppState) -> Result<Unit, ApiError> {
        Ok(Unit {
            tx: state.db.begin().await?,
            record: None,
        })
    }

    /// A unit for a mutation in organization `org_id`: access first, then
    /// the Idempotency-Key. `Err(response)` is a replay to send as it is.
    pub async fn for_organization<T>(
        state: &AppState,
        principal: &Principal,
        org_id: uuid::Uuid,
        mutation: &Mutation<T>,
    ) -> Result<Result<(Unit, OrgAccess), Response>, ApiError> {
        let mut unit = Unit::begin(state).await?;
        let access = access::resolve(unit.conn(), principal, org_id).await?;
        match unit.claim(Scope::organization(org_id), mutation).await? {
            Some(replay) => Ok(Err(replay)),
            None => Ok(Ok((unit, access))),
        }
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Claims the mutation's Idempotency-Key within `scope`. `Some` is the
    /// response to send instead of doing the work again. Call it once the
    /// caller's access is established, so keys cannot be probed.
    pub async fn claim<T>(
        &mut self,
        scope: Scope,
        mutation: &Mutation<T>,
    ) -> Result<Option<Response>, ApiError> {
        let Some(key) = &mutation.key else {
            return Ok(None);
        };
        match idempotency::begin(&mut self.tx, &scope, key, &mutation.fingerprint).await? {
            Begun::Fresh => {
                self.record = Some((scope, key.clone()));
                Ok(None)
            }
            Begun::Replay(saved) => Ok(Some(replay(saved))),
        }
    }

    /// Commits and answers `status` with `body` as JSON.
    pub async fn commit<T: Serialize>(
        self,
        status: StatusCode,
        body: &T,
    ) -> Result<Response, ApiError> {
        self.commit_saving(status, body, |_| ()).await
    }

    /// As [`Unit::commit`], but the copy kept for replays is first passed
    /// through `redact`: secrets shown once are never stored.
    pub async fn commit_saving<T: Serialize>(
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
        self.tx.commit().await?;
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
