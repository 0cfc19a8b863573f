//! Backups of a cluster: its schedule and retention, backups taken by hand,
//! and restores into a new cluster. Limited by the plan: none on free,
//! daily and 7 days on starter, hourly or any cron and 30 days on business,
//! which alone restores into a new cluster.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use control_plane::backups::{self, Backup, PolicyRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::Json as Body;
use crate::json::{BackupPolicyJson, ClusterJson, List, ProblemJson};
use crate::state::AppState;
use crate::unit::{ClusterMutation, OrgMutation, OrgRead};

#[derive(Debug, Serialize, ToSchema)]
pub struct BackupJson {
    /// Always `backup`.
    pub object: &'static str,
    pub id: Uuid,
    pub cluster_id: Uuid,
    pub name: String,
    /// manual, scheduled or pre-upgrade.
    pub origin: String,
    /// Pending, Running, Succeeded or Failed.
    pub phase: String,
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub deletion_requested_at: Option<DateTime<Utc>>,
}

impl From<Backup> for BackupJson {
    fn from(b: Backup) -> Self {
        BackupJson {
            object: "backup",
            id: b.id,
            cluster_id: b.cluster_id,
            name: b.name,
            origin: b.origin,
            phase: b.phase,
            message: b.message,
            created_at: b.created_at,
            finished_at: b.finished_at,
            deletion_requested_at: b.deletion_requested_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The new cluster's name.
    pub name: String,
}

/// Sets the cluster's backup schedule and retention.
#[utoipa::path(put, path = "/v1/organizations/{org_id}/clusters/{cluster_id}/backup-policy",
    tag = "backups",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path)),
    request_body = BackupPolicyJson,
    responses(
        (status = 202, body = ClusterJson),
        (status = 403, body = ProblemJson, description = "plan-limit-exceeded"),
        (status = 422, body = ProblemJson),
    ))]
pub async fn set_policy(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, (_, cluster_id), Body(body)): ClusterMutation<
        Body<BackupPolicyJson>,
    >,
) -> Result<Response, ApiError> {
    let catalog = state.catalog.get();
    let request = PolicyRequest::from(body);
    let cluster =
        backups::set_policy(unit.conn(), &access, &catalog.catalog, cluster_id, &request).await?;
    unit.accepted(&ClusterJson::from(cluster)).await
}

/// Stops scheduled backups; backups already taken stay until deleted.
#[utoipa::path(delete, path = "/v1/organizations/{org_id}/clusters/{cluster_id}/backup-policy",
    tag = "backups",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path)),
    responses((status = 202, body = ClusterJson), (status = 404, body = ProblemJson)))]
pub async fn clear_policy(
    OrgMutation(mut unit, access, (_, cluster_id), ()): ClusterMutation<()>,
) -> Result<Response, ApiError> {
    let cluster = backups::clear_policy(unit.conn(), &access, cluster_id).await?;
    unit.accepted(&ClusterJson::from(cluster)).await
}

/// Takes a backup now.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/clusters/{cluster_id}/backups",
    tag = "backups",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path)),
    responses(
        (status = 202, body = BackupJson),
        (status = 403, body = ProblemJson, description = "plan-limit-exceeded"),
        (status = 404, body = ProblemJson),
    ))]
pub async fn create(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, (_, cluster_id), ()): ClusterMutation<()>,
) -> Result<Response, ApiError> {
    let backup = backups::create(
        unit.conn(),
        &access,
        &state.catalog.get().catalog,
        cluster_id,
        Utc::now(),
    )
    .await?;
    unit.accepted(&BackupJson::from(backup)).await
}

/// The cluster's backups, newest first.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/clusters/{cluster_id}/backups",
    tag = "backups",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path)),
    responses((status = 200, body = List<BackupJson>), (status = 404, body = ProblemJson)))]
pub async fn list(
    OrgRead(mut conn, access, (_, cluster_id)): OrgRead<(Uuid, Uuid)>,
) -> Result<Json<List<BackupJson>>, ApiError> {
    let found = backups::list(&mut conn, &access, cluster_id).await?;
    Ok(Json(List {
        object: "list",
        data: found.into_iter().map(BackupJson::from).collect(),
        has_more: false,
    }))
}

#[utoipa::path(get, path = "/v1/organizations/{org_id}/clusters/{cluster_id}/backups/{backup_id}",
    tag = "backups",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path), ("backup_id" = Uuid, Path)),
    responses((status = 200, body = BackupJson), (status = 404, body = ProblemJson)))]
pub async fn get(
    OrgRead(mut conn, access, (_, cluster_id, backup_id)): OrgRead<(Uuid, Uuid, Uuid)>,
) -> Result<Json<BackupJson>, ApiError> {
    let backup = backups::get(&mut conn, &access, cluster_id, backup_id).await?;
    Ok(Json(backup.into()))
}

/// Deletes a backup and what it stored.
#[utoipa::path(delete, path = "/v1/organizations/{org_id}/clusters/{cluster_id}/backups/{backup_id}",
    tag = "backups",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path), ("backup_id" = Uuid, Path)),
    responses((status = 202, body = BackupJson), (status = 404, body = ProblemJson)))]
pub async fn delete(
    OrgMutation(mut unit, access, (_, cluster_id, backup_id), ()): OrgMutation<
        (Uuid, Uuid, Uuid),
        (),
    >,
) -> Result<Response, ApiError> {
    let backup = backups::delete(unit.conn(), &access, cluster_id, backup_id).await?;
    unit.accepted(&BackupJson::from(backup)).await
}

/// Restores a succeeded backup into a new cluster of the same shape; it is
/// loaded once the new cluster is Ready (`restore` in its answer).
#[utoipa::path(post,
    path = "/v1/organizations/{org_id}/clusters/{cluster_id}/backups/{backup_id}/restore",
    tag = "backups",
    params(("org_id" = Uuid, Path), ("cluster_id" = Uuid, Path), ("backup_id" = Uuid, Path)),
    request_body = RestoreRequest,
    responses(
        (status = 202, body = ClusterJson, description = "The new cluster"),
        (status = 403, body = ProblemJson, description = "plan-limit-exceeded"),
        (status = 409, body = ProblemJson, description = "backup-not-restorable, cluster-name-taken"),
    ))]
pub async fn restore(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, (_, cluster_id, backup_id), Body(body)): OrgMutation<
        (Uuid, Uuid, Uuid),
        Body<RestoreRequest>,
    >,
) -> Result<Response, ApiError> {
    let cluster = backups::restore(
        unit.conn(),
        &access,
        &state.catalog.get().catalog,
        cluster_id,
        backup_id,
        &body.name,
    )
    .await?;
    unit.accepted(&ClusterJson::from(cluster)).await
}
