//! The key set of one data plane's inference gateway, in two queries: its
//! endpoints with their organizations' standing, then those
//! organizations' keys that may call one of them.

use std::collections::BTreeMap;

use billing::{Catalog, PlanId};
use crds::gateway::{
    DEFAULT_COLD_START_TIMEOUT_SECONDS, GatewayEndpoint, InferenceKey, KeySet, Refusal,
    RefusedOrganization,
};
use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

use super::stored_limits;
use crate::Result;
use crate::endpoints::data_plane::SERVED_MODEL;
use crate::money::suspension::Cause;

/// An endpoint of the data plane, with its organization's subscription.
#[derive(Debug, Clone, sqlx::FromRow)]
struct EndpointRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    served_model: String,
    plan: String,
    status: String,
    suspended_by: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    organization_id: Uuid,
    hash: String,
    endpoint_id: Option<Uuid>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    requests_per_minute: Option<i32>,
    tokens_per_minute: Option<i32>,
}

/// What the gateway of `data_plane_id` needs: the keys not revoked nor
/// expired of organizations with an endpoint there (organization-wide, or
/// scoped to one of those endpoints), their limits capped by each
/// organization's plan in `catalog`; the organizations it must refuse; the
/// endpoints not being deleted. Ordered by id, so that equal sets
/// serialize equally.
pub async fn key_set(
    conn: &mut PgConnection,
    data_plane_id: Uuid,
    catalog: &Catalog,
) -> Result<KeySet> {
    let endpoints: Vec<EndpointRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT e.id, e.organization_id, e.name, {SERVED_MODEL} AS served_model,
                s.plan, s.status, s.suspended_by
         FROM inference_endpoints e JOIN subscriptions s ON s.organization_id = e.organization_id
         WHERE e.data_plane_id = $1 AND e.deletion_requested_at IS NULL
         ORDER BY e.id"
    )))
    .bind(data_plane_id)
    .fetch_all(&mut *conn)
    .await?;
    let organizations: Vec<Uuid> = endpoints.iter().map(|e| e.organization_id).collect();
    let endpoint_ids: Vec<Uuid> = endpoints.iter().map(|e| e.id).collect();
    let keys: Vec<KeyRow> = sqlx::query_as(
        "SELECT id, organization_id, hash, endpoint_id, expires_at, requests_per_minute,
                tokens_per_minute
         FROM inference_keys
         WHERE organization_id = ANY($1) AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > now())
           AND (endpoint_id IS NULL OR endpoint_id = ANY($2))
         ORDER BY id",
    )
    .bind(&organizations)
    .bind(&endpoint_ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(assemble(endpoints, keys, catalog))
}

/// Why an organization with this subscription is refused, if it is: a
/// spend limit reached, or any other suspension.
fn refusal(status: &str, suspended_by: Option<&str>) -> Option<Refusal> {
    match suspended_by {
        Some(cause) if cause == Cause::SpendLimit.as_str() => Some(Refusal::SpendLimit),
        Some(_) => Some(Refusal::Suspended),
        None => (status == "suspended").then_some(Refusal::Suspended),
    }
}

fn assemble(endpoints: Vec<EndpointRow>, keys: Vec<KeyRow>, catalog: &Catalog) -> KeySet {
    // One entry per organization: its plan and refusal.
    let organizations: BTreeMap<Uuid, (String, Option<Refusal>)> = endpoints
        .iter()
        .map(|e| {
            let refused = refusal(&e.status, e.suspended_by.as_deref());
            (e.organization_id, (e.plan.clone(), refused))
        })
        .collect();
    let refused = organizations
        .iter()
        .filter_map(|(id, (_, refusal))| {
            refusal.map(|refusal| RefusedOrganization {
                organization_id: *id,
                refusal,
            })
        })
        .collect();
    let keys = keys
        .into_iter()
        .map(|k| {
            let own = stored_limits(k.requests_per_minute, k.tokens_per_minute);
            let plan = organizations
                .get(&k.organization_id)
                .and_then(|(plan, _)| catalog.plan(&PlanId::from(plan.clone())));
            let limits = plan.map_or(own, |plan| own.capped_by(plan));
            InferenceKey {
                id: k.id,
                organization_id: k.organization_id,
                hash: k.hash,
                endpoint_id: k.endpoint_id,
                expires_at: k.expires_at,
                requests_per_minute: limits.requests_per_minute,
                tokens_per_minute: limits.tokens_per_minute,
            }
        })
        .collect();
    let endpoints = endpoints
        .into_iter()
        .map(|e| GatewayEndpoint {
            id: e.id,
            organization_id: e.organization_id,
            name: e.name,
            served_model: e.served_model,
            cold_start_timeout_seconds: DEFAULT_COLD_START_TIMEOUT_SECONDS,
        })
        .collect();
    KeySet {
        keys,
        refused,
        endpoints,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spend_limit_is_told_apart_from_other_suspensions() {
        assert_eq!(refusal("active", None), None);
        assert_eq!(refusal("past_due", None), None);
        assert_eq!(refusal("suspended", None), Some(Refusal::Suspended));
        assert_eq!(
            refusal("active", Some("spend_limit")),
            Some(Refusal::SpendLimit)
        );
        for cause in ["billing", "admin"] {
            assert_eq!(refusal("active", Some(cause)), Some(Refusal::Suspended));
        }
    }
}
