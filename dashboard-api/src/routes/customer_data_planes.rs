//! An organization's own data planes (BYOC): registration, with the
//! enrollment token shown once, and the list with their standing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use control_plane::data_planes::own;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::Json as Body;
use crate::json::{
    DataPlaneJson, List, ProblemJson, RegisterDataPlaneRequest, RegisteredDataPlane,
};
use crate::state::AppState;
use crate::unit::{OrgMutation, OrgRead};

/// Registers a data plane that runs in the organization's own Kubernetes.
/// Only the organization's clusters may be placed in its region; usage
/// there is rated by the catalog's `customer-run` price list. The answer
/// holds the enrollment token for the operator chart; it is never shown
/// again.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/data-planes", tag = "data planes",
    params(("org_id" = Uuid, Path)),
    request_body = RegisterDataPlaneRequest,
    responses(
        (status = 201, body = RegisteredDataPlane),
        (status = 403, body = ProblemJson, description = "plan-limit-exceeded or forbidden"),
        (status = 404, body = ProblemJson),
        (status = 409, body = ProblemJson, description = "data-plane-exists"),
        (status = 422, body = ProblemJson),
    ))]
pub async fn register(
    State(state): State<AppState>,
    OrgMutation(mut unit, access, _, Body(request)): OrgMutation<
        Uuid,
        Body<RegisterDataPlaneRequest>,
    >,
) -> Result<Response, ApiError> {
    let registered = own::register(
        unit.conn(),
        &access,
        &state.catalog.get().catalog,
        own::OwnDataPlane {
            name: &request.name,
            region: &request.region,
            backups: request.backups,
        },
        Utc::now(),
    )
    .await?;
    let body = RegisteredDataPlane {
        data_plane: registered.data_plane.into(),
        enrollment_token: registered.enrollment_token,
    };
    unit.answer_secret_once(StatusCode::CREATED, &body, "enrollment_token")
        .await
}

/// Lists the organization's own data planes with their standing.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/data-planes", tag = "data planes",
    params(("org_id" = Uuid, Path)),
    responses(
        (status = 200, body = List<DataPlaneJson>),
        (status = 403, body = ProblemJson),
        (status = 404, body = ProblemJson),
    ))]
pub async fn list(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
) -> Result<Json<List<DataPlaneJson>>, ApiError> {
    let planes = own::list(&mut conn, &access, Utc::now()).await?;
    Ok(Json(List {
        object: "list",
        data: planes.into_iter().map(DataPlaneJson::from).collect(),
        // A handful at most: one page.
        has_more: false,
    }))
}
