//! Inference endpoint operations over `inference_endpoints`, every
//! statement scoped by the caller's organization.

use billing::Catalog;
use billing::entitlements;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crds::inference_endpoint::{EndpointPhase, InferenceEndpointSpec};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{CreateEndpoint, UpdateEndpoint};
use crate::access::{OrgAccess, Permission};
use crate::labels::Labels;
use crate::page::{Page, PageRequest};
use crate::resource::{self, Kind};
use crate::validation::ValidationErrors;
use crate::{Conflict, Error, Result, data_planes, organizations};

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub name: String,
    pub region: String,
    pub simulated: bool,
    /// What the customer asked for, with `suspend` as the money flow has
    /// it.
    #[sqlx(json)]
    pub spec: InferenceEndpointSpec,
    pub generation: i64,
    #[sqlx(try_from = "String")]
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
    /// Its labels, checked as Kubernetes labels; not part of the spec.
    #[sqlx(json)]
    pub labels: BTreeMap<String, String>,
    /// Where its data plane's inference gateway answers, if it has one.
    pub gateway_url: Option<String>,
}

impl Endpoint {
    /// The OpenAI-compatible base URL clients call it at, through its data
    /// plane's gateway; `None` while the data plane has none.
    pub fn base_url(&self) -> Option<String> {
        self.gateway_url.as_ref().map(|url| format!("{url}/v1"))
    }
}

impl resource::Managed for Endpoint {
    const KIND: Kind = Kind::Endpoint;
    const COLUMNS: &'static str =
        "r.served_revision, r.ready_replicas, r.wake_requested_at, d.gateway_url";
    type Spec = InferenceEndpointSpec;

    fn id(&self) -> Uuid {
        self.id
    }

    fn spec(&self) -> &InferenceEndpointSpec {
        &self.spec
    }

    fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    fn deletion_requested_at(&self) -> Option<DateTime<Utc>> {
        self.deletion_requested_at
    }

    /// Every change of an endpoint's spec restarts its replicas.
    fn rolls(_: &InferenceEndpointSpec, _: &InferenceEndpointSpec) -> bool {
        true
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
    let labels = Labels::parse(&request.labels, &mut errors);
    let data_plane =
        data_planes::placing(conn, &request.region, access.organization_id(), &mut errors).await?;
    let (((name, spec), labels), data_plane) = errors.finish(parsed.zip(labels).zip(data_plane))?;
    entitlements::may_use_gpus(
        organizations::lock_plan(conn, access, catalog).await?,
        spec.gpu.count,
    )?;
    let id = resource::create::<Endpoint>(conn, access, data_plane, name.as_str(), &spec, &labels)
        .await?;
    get(conn, access, id).await
}

pub async fn get(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<Endpoint> {
    resource::get(conn, access, id).await
}

pub async fn list(
    conn: &mut PgConnection,
    access: &OrgAccess,
    page: PageRequest,
) -> Result<Page<Endpoint>> {
    resource::list(conn, access, page).await
}

/// Changes the scaling or revision, and with `labels` replaces the labels
/// from `now` on (no new generation for them).
pub async fn update(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    id: Uuid,
    (request, labels): (&UpdateEndpoint, Option<&BTreeMap<String, String>>),
    now: DateTime<Utc>,
) -> Result<Endpoint> {
    access.require(Permission::EndpointsWrite)?;
    let plan = organizations::lock_plan(conn, access, catalog).await?;
    resource::change_requested(
        conn,
        access,
        id,
        labels,
        now,
        |current, errors| request.apply(current, errors),
        |next: &InferenceEndpointSpec| Ok(entitlements::may_use_gpus(plan, next.gpu.count)?),
    )
    .await
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
    resource::delete(conn, access, id).await
}
