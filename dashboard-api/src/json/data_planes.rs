//! An organization's own (customer-run) data planes.

use chrono::{DateTime, Utc};
use control_plane::data_planes::standing::{DataPlane, Standing};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDataPlaneRequest {
    /// 1 to 63 characters; unique across the service.
    #[schema(example = "acme-prod")]
    pub name: String,
    /// The region clusters name to be placed there: 1 to 63 characters,
    /// unique across the service. Only this organization can place there.
    #[schema(example = "acme-eu-west")]
    pub region: String,
    /// Its operator chart names a backup bucket (the organization's own):
    /// backups are offered there. Left out: no backups.
    #[serde(default)]
    pub backups: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DataPlaneJson {
    /// Always `data_plane`.
    pub object: &'static str,
    pub id: Uuid,
    pub name: String,
    pub region: String,
    /// `awaiting_enrollment` until its operator enrolls, then `connected`;
    /// `stale` after five minutes of silence (its clusters are left as
    /// they are); `revoked`.
    #[schema(example = "awaiting_enrollment")]
    pub standing: &'static str,
    /// The catalog price list usage there is rated by.
    pub price_list: Option<String>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub clusters: i64,
    pub endpoints: i64,
}

/// A stable name for programs (`Standing::as_str` is worded for people).
fn standing(standing: Standing) -> &'static str {
    match standing {
        Standing::Simulated => "simulated",
        Standing::Pushed => "pushed",
        Standing::AwaitingEnrollment => "awaiting_enrollment",
        Standing::Connected => "connected",
        Standing::Stale => "stale",
        Standing::Revoked => "revoked",
    }
}

impl From<DataPlane> for DataPlaneJson {
    fn from(d: DataPlane) -> Self {
        DataPlaneJson {
            object: "data_plane",
            id: d.id,
            name: d.name,
            region: d.region,
            standing: standing(d.standing),
            price_list: d.price_list,
            last_seen_at: d.last_seen_at,
            clusters: d.clusters,
            endpoints: d.endpoints,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredDataPlane {
    #[serde(flatten)]
    pub data_plane: DataPlaneJson,
    /// Give it to the operator chart in your cluster: it enrolls once with
    /// it, within 24 hours. Shown this once; a replay of the request does
    /// not show it again.
    pub enrollment_token: String,
}
