//! How a data plane stands, as the admin console shows it: a connected one
//! silent for longer than the set time is stale. Stale is a mark, nothing
//! more: its clusters keep their phase, and none is deleted for silence.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// A connected data plane unheard for this long is shown stale.
pub const STALE_AFTER: Duration = Duration::minutes(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// `quartermaster dev`'s in-process data plane.
    Simulated,
    /// Reached through a kubeconfig until it is switched.
    Pushed,
    /// Registered; its operator has not enrolled yet.
    AwaitingEnrollment,
    Connected,
    /// Connected, and silent for longer than [`STALE_AFTER`].
    Stale,
    Revoked,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Simulated => "simulated",
            Standing::Pushed => "pushed",
            Standing::AwaitingEnrollment => "awaiting enrollment",
            Standing::Connected => "connected",
            Standing::Stale => "stale",
            Standing::Revoked => "revoked",
        }
    }
}

/// How a data plane of `kind` stands at `now`.
pub fn standing(
    kind: &str,
    last_seen_at: Option<DateTime<Utc>>,
    revoked: bool,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> Standing {
    match (kind, last_seen_at) {
        ("simulated", _) => Standing::Simulated,
        ("kubernetes", _) => Standing::Pushed,
        _ if revoked => Standing::Revoked,
        (_, None) => Standing::AwaitingEnrollment,
        (_, Some(seen)) if now - seen > stale_after => Standing::Stale,
        _ => Standing::Connected,
    }
}

/// A data plane as the people who run the service see it.
#[derive(Debug, Clone, Serialize)]
pub struct DataPlane {
    pub id: Uuid,
    pub name: String,
    pub region: String,
    pub standing: Standing,
    /// The organization of a customer-run data plane.
    pub organization_id: Option<Uuid>,
    pub organization_name: Option<String>,
    pub price_list: Option<String>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub clusters: i64,
    pub endpoints: i64,
}

/// Every data plane, by region.
pub async fn list(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Vec<DataPlane>> {
    listed(conn, None, now).await
}

/// An organization's own (customer-run) data planes, by region.
pub async fn of_organization(
    conn: &mut PgConnection,
    organization_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<DataPlane>> {
    listed(conn, Some(organization_id), now).await
}

/// The data planes of `organization_id`, or every one.
async fn listed(
    conn: &mut PgConnection,
    organization_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Vec<DataPlane>> {
    type Row = (
        Uuid,
        String,
        String,
        String,
        Option<Uuid>,
        Option<String>,
        Option<String>,
        Option<DateTime<Utc>>,
        bool,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT d.id, d.name, d.region, d.kind, d.organization_id, o.name, d.price_list,
                d.last_seen_at, d.revoked_at IS NOT NULL,
                (SELECT count(*) FROM vector_clusters c WHERE c.data_plane_id = d.id),
                (SELECT count(*) FROM inference_endpoints e WHERE e.data_plane_id = d.id)
         FROM data_planes d LEFT JOIN organizations o ON o.id = d.organization_id
         WHERE $1::uuid IS NULL OR d.organization_id = $1
         ORDER BY d.region",
    )
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DataPlane {
            id: r.0,
            name: r.1,
            region: r.2,
            standing: standing(&r.3, r.7, r.8, now, STALE_AFTER),
            organization_id: r.4,
            organization_name: r.5,
            price_list: r.6,
            last_seen_at: r.7,
            clusters: r.9,
            endpoints: r.10,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_connected_data_plane_is_stale_only_after_the_set_silence() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let at = |seen: Option<i64>, revoked| {
            standing(
                "connected",
                seen.map(|s| now - Duration::seconds(s)),
                revoked,
                now,
                STALE_AFTER,
            )
        };
        assert_eq!(at(None, false), Standing::AwaitingEnrollment);
        assert_eq!(at(Some(10), false), Standing::Connected);
        assert_eq!(at(Some(300), false), Standing::Connected);
        assert_eq!(at(Some(301), false), Standing::Stale);
        assert_eq!(at(Some(10), true), Standing::Revoked);
        assert_eq!(
            standing("kubernetes", None, false, now, STALE_AFTER),
            Standing::Pushed
        );
        assert_eq!(
            standing("simulated", None, false, now, STALE_AFTER),
            Standing::Simulated
        );
    }
}
