//! Regions customers can place clusters in.

use axum::Json;
use axum::extract::State;
use control_plane::data_planes;

use crate::error::ApiError;
use crate::extract::Caller;
use crate::json::{List, ProblemJson, RegionJson};
use crate::state::AppState;

/// Lists the regions, each backed by a data plane.
#[utoipa::path(get, path = "/v1/regions", tag = "regions",
    responses((status = 200, body = List<RegionJson>), (status = 401, body = ProblemJson)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<List<RegionJson>>, ApiError> {
    let mut conn = state.db.acquire().await?;
    let regions = data_planes::regions(&mut conn, None).await?;
    Ok(Json(List {
        object: "list",
        data: regions.into_iter().map(RegionJson::from).collect(),
        has_more: false,
    }))
}
