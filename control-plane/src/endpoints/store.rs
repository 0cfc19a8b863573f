//! Inference endpoint operations over `inference_endpoints`, every
//! statement scoped by the caller's organization.

use billing::Catalog;
use billing::entitlements;
use chrono::{DateTime, Utc};
use crds::inference_endpoint::{
    EndpointPhase, EngineKind, GpuRequest, HubModel, InferenceEndpointSpec, Replicas,
};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

use super::request::resources;
use super::{CreateEndpoint, UpdateEndpoint};
use crate::access::{OrgAccess, Permission};
use crate::db::sql_int;
use crate::error::on_unique;
use crate::page::{Page, PageRequest};
use crate::resource::{self, Kind};
use crate::validation::ValidationErrors;
use crate::{Conflict, Error, Result, data_planes, organizations};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    pub id: Uuid,
    pub name: String,
    pub region: String,
    pub simulated: bool,
    pub spec: InferenceEndpointSpec,
    pub generation: i64,
    pub phase: EndpointPhase,
    pub observed_generation: i64,
    pub served_revision: Option<String>,
    pub ready_replicas: i32,
    pub endpoint: Option<String>,
    pub conditions: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deletion_requested_at: Option<DateTime<Utc>>,
    pub wake_requested_at: Option<DateTime<Utc>>,
    /// Why the endpoint is suspended, for the customer; `None` when it is not.
    pub suspended_reason: Option<String>,
}

/// The row as stored; [`Endpoint`] is its checked form.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Row {
    pub id: Uuid,
    pub name: String,
    pub region: String,
    pub simulated: bool,
    pub model_repository: Option<String>,
    pub model_revision: Option<String>,
    pub image: Option<String>,
    pub engine: String,
    pub gpu_model: String,
    pub gpu_count: i32,
    pub min_replicas: i32,
    pub max_replicas: i32,
    pub scale_to_zero_after_seconds: Option<i32>,
    pub target_concurrency: Option<i32>,
    pub generation: i64,
    pub phase: String,
    pub observed_generation: i64,
    pub served_revision: Option<String>,
    pub ready_replicas: i32,
    pub endpoint: Option<String>,
    pub conditions: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deletion_requested_at: Option<DateTime<Utc>>,
    pub wake_requested_at: Option<DateTime<Utc>>,
    /// Why the endpoint is suspended, for the customer; `None` when it is not.
    pub suspended_reason: Option<String>,
}

impl resource::Row for Row {
    const KIND: Kind = Kind::Endpoint;
    const SELECT: &'static str = "SELECT r.id, r.name, d.region, d.kind = 'simulated' AS simulated,
            r.model_repository, r.model_revision, r.image, r.engine, r.gpu_model, r.gpu_count,
            r.min_replicas, r.max_replicas, r.scale_to_zero_after_seconds, r.target_concurrency,
            r.generation, r.phase, r.observed_generation, r.served_revision, r.ready_replicas,
            r.endpoint, r.conditions, r.created_at, r.updated_at, r.deletion_requested_at,
            r.wake_requested_at, r.suspended_reason
         FROM inference_endpoints r JOIN data_planes d ON d.id = r.data_plane_id";

    fn deletion_requested_at(&self) -> Option<DateTime<Utc>> {
        self.deletion_requested_at
    }
}

/// What the provisioner needs besides the row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Tracking {
    pub organization_id: Uuid,
    pub data_plane_id: Uuid,
    pub applied_generation: i64,
    pub applied_at: Option<DateTime<Utc>>,
}

/// An endpoint by id, across organizations: for the provisioner only.
pub(crate) async fn tracked(conn: &mut PgConnection, id: Uuid) -> Result<Option<(Row, Tracking)>> {
    let row: Option<Row> = sqlx::query_as(AssertSqlSafe(format!(
        "{} WHERE r.id = $1",
        <Row as resource::Row>::SELECT
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let tracking: Tracking = sqlx::query_as(
        "SELECT organization_id, data_plane_id, applied_generation, applied_at FROM inference_endpoints WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some((row, tracking)))
}

/// The spec stored in an endpoint's row.
pub(crate) fn stored_spec(row: &Row) -> Result<InferenceEndpointSpec> {
    let corrupt = || {
        Error::Database(sqlx::Error::Decode(
            format!("endpoint {} has an invalid stored spec", row.id).into(),
        ))
    };
    let count = |n: i32| u32::try_from(n).map_err(|_| corrupt());
    let gpus = count(row.gpu_count)?;
    Ok(InferenceEndpointSpec {
        model: row.model_repository.clone().map(|repository| HubModel {
            repository,
            revision: row.model_revision.clone().unwrap_or_default(),
        }),
        image: row.image.clone(),
        engine: if row.engine == "tgi" {
            EngineKind::Tgi
        } else {
            EngineKind::Vllm
        },
        gpu: GpuRequest {
            model: row.gpu_model.clone(),
            count: gpus,
        },
        replicas: Replicas {
            min: count(row.min_replicas)?,
            max: count(row.max_replicas)?,
            scale_to_zero_after_seconds: row.scale_to_zero_after_seconds.map(count).transpose()?,
        },
        target_concurrency: row.target_concurrency.map(count).transpose()?.unwrap_or(16),
        resources: resources(gpus),
        env: Vec::new(),
        suspend: row.suspended_reason.is_some(),
    })
}

impl TryFrom<Row> for Endpoint {
    type Error = Error;

    fn try_from(row: Row) -> Result<Endpoint> {
        Ok(Endpoint {
            spec: stored_spec(&row)?,
            phase: EndpointPhase::try_from(row.phase)
                .map_err(|e| Error::Database(sqlx::Error::Decode(e.into())))?,
            id: row.id,
            name: row.name,
            region: row.region,
            simulated: row.simulated,
            generation: row.generation,
            observed_generation: row.observed_generation,
            served_revision: row.served_revision,
            ready_replicas: row.ready_replicas,
            endpoint: row.endpoint,
            conditions: row.conditions.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deletion_requested_at: row.deletion_requested_at,
            wake_requested_at: row.wake_requested_at,
            suspended_reason: row.suspended_reason,
        })
    }
}

fn engine_name(engine: EngineKind) -> &'static str {
    match engine {
        EngineKind::Vllm => "vllm",
        EngineKind::Tgi => "tgi",
    }
}

pub async fn create(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    request: &CreateEndpoint,
) -> Result<Endpoint> {
    access.require(Permission::EndpointsWrite)?;
    let mut errors = ValidationErrors::default();
    let parsed = request.parse(&mut errors);
    // Looked up only when it can be: `parse` has said why otherwise.
    let region = crate::validation::region(&request.region).ok();
    let data_plane = match region {
        Some(region) => data_planes::by_region(conn, region).await?,
        None => None,
    };
    if data_plane.is_none() && region.is_some() {
        errors.add("region", format!("unknown region `{}`", request.region));
    }
    let ((name, spec), data_plane) = errors.finish(parsed.zip(data_plane))?;
    entitlements::may_use_gpus(
        organizations::lock_plan(conn, access, catalog).await?,
        spec.gpu.count,
    )?;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO inference_endpoints (id, organization_id, data_plane_id, name, model_repository,
             model_revision, image, engine, gpu_model, gpu_count, min_replicas, max_replicas,
             scale_to_zero_after_seconds, target_concurrency, cpu_millicores, memory_mib)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(id)
    .bind(access.organization_id())
    .bind(data_plane)
    .bind(name.as_str())
    .bind(spec.model.as_ref().map(|m| m.repository.clone()))
    .bind(spec.model.as_ref().map(|m| m.revision.clone()))
    .bind(&spec.image)
    .bind(engine_name(spec.engine))
    .bind(&spec.gpu.model)
    .bind(sql_int(spec.gpu.count))
    .bind(sql_int(spec.replicas.min))
    .bind(sql_int(spec.replicas.max))
    .bind(spec.replicas.scale_to_zero_after_seconds.map(sql_int))
    .bind(sql_int(spec.target_concurrency))
    .bind(sql_int(spec.resources.cpu_millicores))
    .bind(sql_int(spec.resources.memory_mib))
    .execute(&mut *conn)
    .await
    .map_err(on_unique(
        "inference_endpoints_organization_name_key",
        Conflict::EndpointNameTaken(name.as_str().to_owned()),
    ))?;
    resource::audit(
        conn,
        access,
        Kind::Endpoint,
        "create",
        id,
        Some(serde_json::to_value(&spec).unwrap_or_default()),
    )
    .await?;
    get(conn, access, id).await
}

pub async fn get(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<Endpoint> {
    access.require(Permission::EndpointsRead)?;
    resource::get::<Row>(conn, access, id).await?.try_into()
}

pub async fn list(
    conn: &mut PgConnection,
    access: &OrgAccess,
    page: PageRequest,
) -> Result<Page<Endpoint>> {
    access.require(Permission::EndpointsRead)?;
    let rows: Page<Row> = resource::list(conn, access, page).await?;
    rows.try_map(Endpoint::try_from)
}

pub async fn update(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    id: Uuid,
    request: &UpdateEndpoint,
) -> Result<Endpoint> {
    access.require(Permission::EndpointsWrite)?;
    let plan = organizations::lock_plan(conn, access, catalog).await?;
    let row: Row = resource::lock_for_change(conn, access, id).await?;
    let current = stored_spec(&row)?;
    let mut errors = ValidationErrors::default();
    let next = request.apply(&current, &mut errors);
    let next = errors.finish(next)?;
    if next == current {
        return row.try_into();
    }
    entitlements::may_use_gpus(plan, next.gpu.count)?;
    sqlx::query(
        "UPDATE inference_endpoints SET model_revision = $3, image = $4, min_replicas = $5,
             max_replicas = $6, scale_to_zero_after_seconds = $7, target_concurrency = $8,
             generation = generation + 1, updated_at = now(),
             phase = CASE WHEN phase IN ('Ready', 'ScaledToZero') THEN 'Updating' ELSE phase END
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(access.organization_id())
    .bind(id)
    .bind(next.model.as_ref().map(|m| m.revision.clone()))
    .bind(&next.image)
    .bind(sql_int(next.replicas.min))
    .bind(sql_int(next.replicas.max))
    .bind(next.replicas.scale_to_zero_after_seconds.map(sql_int))
    .bind(sql_int(next.target_concurrency))
    .execute(&mut *conn)
    .await?;
    resource::audit(
        conn,
        access,
        Kind::Endpoint,
        "update",
        id,
        Some(serde_json::json!({ "from": current, "to": next })),
    )
    .await?;
    get(conn, access, id).await
}

/// Wakes an endpoint scaled to zero (or keeps an awake one awake).
pub async fn wake(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<Endpoint> {
    access.require(Permission::EndpointsWrite)?;
    let updated = sqlx::query(
        "UPDATE inference_endpoints SET wake_requested_at = now(), updated_at = now()
         WHERE organization_id = $1 AND id = $2 AND deletion_requested_at IS NULL",
    )
    .bind(access.organization_id())
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        // Absent, or being deleted: tell which by what get finds.
        let endpoint = get(conn, access, id).await?;
        if endpoint.deletion_requested_at.is_some() {
            return Err(Error::Conflict(Conflict::EndpointDeleting));
        }
    }
    get(conn, access, id).await
}

/// Asks for the endpoint to be deleted: it shows `Deleting` until the data
/// plane confirms it is gone. Asking twice is harmless.
pub async fn delete(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<Endpoint> {
    access.require(Permission::EndpointsWrite)?;
    resource::request_deletion(conn, access, Kind::Endpoint, id).await?;
    get(conn, access, id).await
}
