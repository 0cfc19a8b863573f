//! The API's request and response bodies, by what they are about. Requests
//! refuse unknown fields; numbers arrive as `i64` so the domain can name a
//! negative size's field.

mod accounts;
mod clusters;
mod data_planes;
mod endpoints;
mod inference_keys;
mod webhooks;

pub use accounts::*;
pub use clusters::*;
pub use data_planes::*;
pub use endpoints::*;
pub use inference_keys::*;
pub use webhooks::*;

use control_plane::data_planes::Region;
use control_plane::page::Page;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A page of results, in Stripe's list shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<T>,
    /// Whether more items follow the last one; pass its id as `starting_after`.
    pub has_more: bool,
}

impl<T> List<T> {
    pub fn from_page<D>(page: Page<D>, convert: impl Fn(D) -> T) -> Self {
        List {
            object: "list",
            data: page.data.into_iter().map(convert).collect(),
            has_more: page.has_more,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 100; 20 when left out.
    pub limit: Option<i64>,
    /// The id of the last item of the previous page.
    pub starting_after: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionJson {
    pub region: String,
    pub simulated: bool,
}

impl From<Region> for RegionJson {
    fn from(r: Region) -> Self {
        RegionJson {
            region: r.region,
            simulated: r.simulated,
        }
    }
}

/// An RFC 9457 problem document, sent as `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemJson {
    /// A URI under https://quartermaster.dev/problems/ that names the kind of error.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// For validation errors: each field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorJson>>,
    /// For plan limits: which limit was hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorJson {
    pub field: String,
    pub message: String,
}
