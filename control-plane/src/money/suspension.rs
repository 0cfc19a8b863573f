//! Suspending and resuming resources, and the continuous enforcement that
//! decides when: unpaid invoices past their grace period, free-tier storage
//! over its cap, usage over a spend limit.
//!
//! Billing decides (pure functions); this module gathers the facts and acts.
//! A suspension records who suspended (`billing`, `storage_cap`,
//! `spend_limit`, `admin`, `idle`) and why; only the same cause lifts it,
//! so a cluster over its storage cap stays suspended when an invoice is
//! paid. Lifting one stamps `resumed_at`, where an idle clock restarts.

use billing::catalog_store::Published;
use billing::dunning::{self, Standing};
use billing::{Period, PlanId, close, entitlements, rating};
use chrono::{DateTime, Duration, Utc};
use metering::{Meter, rollups};
use rust_decimal::prelude::ToPrimitive;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::resource::Kind;
use crate::webhooks::{self, EventType, Subject};
use crate::{Result, audit};

/// Who suspended a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Billing,
    StorageCap,
    SpendLimit,
    Admin,
    /// A free cluster that served no request ([`super::idle`]).
    Idle,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Billing => "billing",
            Cause::StorageCap => "storage_cap",
            Cause::SpendLimit => "spend_limit",
            Cause::Admin => "admin",
            Cause::Idle => "idle",
        }
    }
}

/// Which of an organization's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every cluster and endpoint.
    Organization,
    /// One vector cluster.
    Cluster(Uuid),
}

impl Scope {
    /// The one cluster it covers; `None` for the whole organization.
    fn only_cluster(self) -> Option<Uuid> {
        match self {
            Scope::Organization => None,
            Scope::Cluster(id) => Some(id),
        }
    }
}

/// Suspends what `scope` covers that is not suspended already; returns how
/// many resources it suspended.
pub async fn suspend(
    conn: &mut PgConnection,
    organization_id: Uuid,
    scope: Scope,
    cause: Cause,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    let only = scope.only_cluster();
    let mut changed = 0;
    for kind in [Kind::Cluster, Kind::Endpoint] {
        if only.is_some() && kind == Kind::Endpoint {
            continue;
        }
        let table = kind.table();
        changed += sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table}
             SET suspended_by = $3, suspended_reason = $4, generation = generation + 1,
                 updated_at = now()
             WHERE organization_id = $1 AND ($2::uuid IS NULL OR id = $2)
               AND suspended_by IS NULL AND deletion_requested_at IS NULL"
        )))
        .bind(organization_id)
        .bind(only)
        .bind(cause.as_str())
        .bind(reason)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    if scope == Scope::Organization {
        let newly: Option<bool> = sqlx::query_scalar(
            "UPDATE subscriptions s SET suspended_by = $3, suspended_reason = $2,
                 status = CASE WHEN $3 = 'billing' THEN 'suspended' ELSE s.status END
             FROM (SELECT organization_id, suspended_by FROM subscriptions
                   WHERE organization_id = $1 FOR UPDATE) AS before
             WHERE s.organization_id = before.organization_id
               AND (s.suspended_by IS NULL OR s.suspended_by = $3)
             RETURNING before.suspended_by IS NULL",
        )
        .bind(organization_id)
        .bind(reason)
        .bind(cause.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        if newly == Some(true) {
            let object = serde_json::json!({ "cause": cause.as_str(), "reason": reason });
            tell(
                conn,
                organization_id,
                EventType::OrganizationSuspended,
                object,
                now,
            )
            .await?;
        }
    }
    let details = serde_json::json!({ "cause": cause.as_str(), "reason": reason, "resources": changed, "cluster": only });
    record(
        conn,
        organization_id,
        actor,
        "resources.suspend",
        changed,
        details,
    )
    .await?;
    Ok(changed)
}

/// Lifts the suspensions `cause` made within `scope`; returns how many.
pub async fn resume(
    conn: &mut PgConnection,
    organization_id: Uuid,
    scope: Scope,
    cause: Cause,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    let only = scope.only_cluster();
    let mut changed = 0;
    for kind in [Kind::Cluster, Kind::Endpoint] {
        let table = kind.table();
        changed += sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table}
             SET suspended_by = NULL, suspended_reason = NULL, generation = generation + 1,
                 updated_at = now(), resumed_at = now()
             WHERE organization_id = $1 AND ($2::uuid IS NULL OR id = $2) AND suspended_by = $3"
        )))
        .bind(organization_id)
        .bind(only)
        .bind(cause.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    if scope == Scope::Organization {
        // The organization-wide reason goes with the cause that set it.
        let lifted = sqlx::query(
            "UPDATE subscriptions SET suspended_by = NULL, suspended_reason = NULL
             WHERE organization_id = $1 AND suspended_by = $2",
        )
        .bind(organization_id)
        .bind(cause.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if lifted > 0 {
            let object = serde_json::json!({ "cause": cause.as_str() });
            tell(
                conn,
                organization_id,
                EventType::OrganizationResumed,
                object,
                now,
            )
            .await?;
        }
    }
    let details =
        serde_json::json!({ "cause": cause.as_str(), "resources": changed, "cluster": only });
    record(
        conn,
        organization_id,
        actor,
        "resources.resume",
        changed,
        details,
    )
    .await?;
    Ok(changed)
}

/// Raises an organization's suspension or resumption for its webhooks.
async fn tell(
    conn: &mut PgConnection,
    organization_id: Uuid,
    event: EventType,
    mut object: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    object["object"] = "organization".into();
    object["id"] = organization_id.to_string().into();
    let id = organization_id.to_string();
    let subject = Subject {
        kind: "organization",
        id: &id,
    };
    let data = serde_json::json!({ "object": object });
    webhooks::emit(conn, organization_id, event, subject, data, now).await?;
    Ok(())
}

/// Audits a suspension or resumption that changed `changed` resources.
async fn record(
    conn: &mut PgConnection,
    organization_id: Uuid,
    actor: &str,
    action: &str,
    changed: u64,
    details: serde_json::Value,
) -> Result<()> {
    if changed == 0 {
        return Ok(());
    }
    let target = organization_id.to_string();
    audit::record(
        conn,
        Some(organization_id),
        actor,
        action,
        "organization",
        &target,
        details,
    )
    .await
}

/// What a pass of enforcement did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enforced {
    pub suspended: u64,
    pub resumed: u64,
}

impl Enforced {
    fn add(&mut self, suspended: u64, resumed: u64) {
        self.suspended += suspended;
        self.resumed += resumed;
    }
}

const ACTOR: &str = "system:billing";

/// Clusters a transaction of the storage cap's enforcement.
const STORAGE_BATCH: i64 = 500;

#[derive(Debug, sqlx::FromRow)]
struct StorageRow {
    organization_id: Uuid,
    cluster_id: Uuid,
    plan: String,
    suspended_by: Option<String>,
}

/// Dunning: suspends organizations with an invoice unpaid past `grace`,
/// resumes those that have paid.
pub async fn enforce_payment(
    pool: &PgPool,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<Enforced> {
    let mut tx = pool.begin().await?;
    let mut unpaid = billing::invoice::unpaid(&mut tx).await?;
    let owing: Vec<Uuid> = unpaid.keys().copied().collect();
    // Those with an open invoice, and those it may be time to resume.
    let orgs: Vec<Uuid> = sqlx::query_scalar(
        "SELECT organization_id FROM subscriptions
         WHERE organization_id = ANY($1) OR status IN ('suspended', 'past_due')
         ORDER BY organization_id
         FOR UPDATE",
    )
    .bind(&owing)
    .fetch_all(&mut *tx)
    .await?;
    let by_org = orgs
        .into_iter()
        .map(|org| (org, unpaid.remove(&org).unwrap_or_default()));
    let mut done = Enforced::default();
    for (org, unpaid) in by_org {
        match dunning::standing(&unpaid, now, grace) {
            Standing::Suspend { reason } => {
                let n = suspend(
                    &mut tx,
                    org,
                    Scope::Organization,
                    Cause::Billing,
                    &reason,
                    ACTOR,
                    now,
                )
                .await?;
                done.add(n, 0);
            }
            // Within the grace period nothing is suspended for it; an older
            // invoice that was paid no longer holds the suspension.
            standing @ (Standing::PastDue { .. } | Standing::Good) => {
                let n = resume(
                    &mut tx,
                    org,
                    Scope::Organization,
                    Cause::Billing,
                    ACTOR,
                    now,
                )
                .await?;
                done.add(0, n);
                let status = if standing == Standing::Good {
                    "active"
                } else {
                    "past_due"
                };
                sqlx::query(
                    "UPDATE subscriptions SET status = $2
                     WHERE organization_id = $1 AND status IN ('active', 'past_due', 'suspended')",
                )
                .bind(org)
                .bind(status)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// Free-tier storage: a cluster on a hard-capped plan whose average stored
/// bytes over its latest reported hour exceed the cap is suspended; one
/// back under the cap, or whose organization upgraded, is resumed.
pub async fn enforce_storage(
    pool: &PgPool,
    published: &Published,
    now: DateTime<Utc>,
) -> Result<Enforced> {
    let mut done = Enforced::default();
    let mut after = Uuid::nil();
    // A batch of clusters per transaction, so that no pass holds every
    // cluster's row at once.
    loop {
        let mut tx = pool.begin().await?;
        let rows: Vec<StorageRow> = sqlx::query_as(
            "SELECT c.organization_id, c.id AS cluster_id, s.plan, c.suspended_by
             FROM vector_clusters c JOIN subscriptions s ON s.organization_id = c.organization_id
             WHERE c.deletion_requested_at IS NULL
               AND (c.suspended_by IS NULL OR c.suspended_by = 'storage_cap') AND c.id > $1
             ORDER BY c.id
             LIMIT $2
             FOR UPDATE OF c",
        )
        .bind(after)
        .bind(STORAGE_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(done);
        };
        after = last.cluster_id;
        let clusters: Vec<(Uuid, Uuid)> = rows
            .iter()
            .map(|r| (r.organization_id, r.cluster_id))
            .collect();
        let stored = rollups::latest_averages(&mut tx, Meter::StorageBytes, &clusters).await?;
        for row in rows {
            let Some(plan) = published.catalog.plan(&PlanId::from(row.plan)) else {
                continue;
            };
            let org = row.organization_id;
            let bytes = stored
                .get(&row.cluster_id)
                .and_then(|b| b.to_u64())
                .unwrap_or(0);
            let scope = Scope::Cluster(row.cluster_id);
            match (
                entitlements::over_storage_cap(plan, bytes),
                row.suspended_by,
            ) {
                (Some(reason), None) => done.add(
                    suspend(&mut tx, org, scope, Cause::StorageCap, &reason, ACTOR, now).await?,
                    0,
                ),
                (None, Some(_)) => done.add(
                    0,
                    resume(&mut tx, org, scope, Cause::StorageCap, ACTOR, now).await?,
                ),
                _ => {}
            }
        }
        tx.commit().await?;
    }
}

/// The organization's usage charges in the period containing `now`, in
/// the currency's minor unit: what a spend limit caps.
pub async fn usage_spend(
    conn: &mut PgConnection,
    published: &Published,
    organization_id: Uuid,
    now: DateTime<Utc>,
) -> Result<i64> {
    let estimate = close::estimate(
        conn,
        published,
        organization_id,
        Period::containing(now),
        now,
    )
    .await?;
    Ok(estimate
        .lines
        .iter()
        .filter(|l| l.kind == rating::LineKind::Usage)
        .map(|l| l.amount_minor)
        .sum())
}

/// Spend limits: an organization whose usage charges this period exceed
/// its limit is suspended until the limit is raised or the period ends.
pub async fn enforce_spend(
    pool: &PgPool,
    published: &Published,
    now: DateTime<Utc>,
) -> Result<Enforced> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(Uuid, Option<i64>)> = sqlx::query_as(
        "SELECT organization_id, spend_limit_minor FROM subscriptions s
         WHERE spend_limit_minor IS NOT NULL
            OR EXISTS (SELECT 1 FROM vector_clusters c WHERE c.organization_id = s.organization_id
                       AND c.suspended_by = 'spend_limit')
            OR EXISTS (SELECT 1 FROM inference_endpoints e WHERE e.organization_id = s.organization_id
                       AND e.suspended_by = 'spend_limit')
         ORDER BY organization_id
         FOR UPDATE",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut done = Enforced::default();
    for (org, limit) in rows {
        let usage = usage_spend(&mut tx, published, org, now).await?;
        let over = limit.and_then(|limit| {
            entitlements::over_spend_limit(limit, usage, &published.catalog.currency)
        });
        match over {
            Some(reason) => {
                done.add(
                    suspend(
                        &mut tx,
                        org,
                        Scope::Organization,
                        Cause::SpendLimit,
                        &reason,
                        ACTOR,
                        now,
                    )
                    .await?,
                    0,
                );
            }
            None => done.add(
                0,
                resume(
                    &mut tx,
                    org,
                    Scope::Organization,
                    Cause::SpendLimit,
                    ACTOR,
                    now,
                )
                .await?,
            ),
        }
    }
    tx.commit().await?;
    Ok(done)
}
