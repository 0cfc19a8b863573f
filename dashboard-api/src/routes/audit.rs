//! An organization's own audit log: who did what to which resource, when,
//! and as whom (a member or an API key), newest first.

use axum::Json;
use chrono::{DateTime, Utc};
use control_plane::admin::query;
use control_plane::audit::{self, AuditEntry, AuditQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::Query;
use crate::json::{List, ProblemJson};
use crate::unit::OrgRead;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// 1 to 100; 25 when left out.
    pub limit: Option<i64>,
    /// The id of the last entry of the previous page: older entries follow.
    pub starting_after: Option<i64>,
    /// Only this actor: `user:<id>`, `api_key:<id>`, `admin:<id>`.
    pub actor: Option<String>,
    /// Only this action, such as `cluster.create`.
    pub action: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryJson {
    /// Always `audit_entry`.
    pub object: &'static str,
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `user:<id>`, `api_key:<id>`, `admin:<id>` (the service's staff) or
    /// `system…` (the service itself).
    pub actor: String,
    /// The member's email or the API key's name, where the actor is one.
    pub actor_name: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryJson {
    fn from(e: AuditEntry) -> Self {
        AuditEntryJson {
            object: "audit_entry",
            id: e.id,
            at: e.at,
            actor: e.actor,
            actor_name: e.actor_name,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            details: e.details,
        }
    }
}

/// The organization's audit log, newest first (owners and admins, or an
/// API key with `audit:read`).
#[utoipa::path(get, path = "/v1/organizations/{org_id}/audit-log", tag = "organizations",
    params(("org_id" = Uuid, Path), AuditParams),
    responses(
        (status = 200, body = List<AuditEntryJson>),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
        (status = 422, body = ProblemJson),
    ))]
pub async fn audit_log(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
    Query(params): Query<AuditParams>,
) -> Result<Json<List<AuditEntryJson>>, ApiError> {
    let query = AuditQuery {
        organization: None,
        actor: AuditQuery::filter("actor", params.actor.as_deref())?,
        action: AuditQuery::filter("action", params.action.as_deref())?,
        before: params.starting_after,
        limit: query::limit(params.limit)?,
    };
    let (entries, next) = audit::list(&mut conn, &access, query).await?;
    Ok(Json(List {
        object: "list",
        data: entries.into_iter().map(AuditEntryJson::from).collect(),
        has_more: next.is_some(),
    }))
}
