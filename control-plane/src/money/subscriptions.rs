//! An organization's subscription: its plan over time, cancellation at the
//! end of a period, a spend limit, and whether a card is on file.

use billing::entitlements::{self, Holdings};
use billing::{Catalog, Period, PlanId, plan_history};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::access::{OrgAccess, Permission};
use crate::clusters::{self, Cluster};
use crate::endpoints::Endpoint;
use crate::validation::ValidationErrors;
use crate::{Error, Result, audit, resource};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Subscription {
    pub plan: String,
    pub status: String,
    /// The plan falls back to free when the current period ends.
    pub cancel_at_period_end: bool,
    pub payment_method_ready: bool,
    pub spend_limit_minor: Option<i64>,
    /// Why the organization's resources are suspended, if they are.
    pub suspended_reason: Option<String>,
    #[sqlx(skip)]
    pub current_period: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

const SELECT: &str = "SELECT plan, status, cancel_at_period_end, payment_method_ready,
        spend_limit_minor, suspended_reason
     FROM subscriptions WHERE organization_id = $1";

pub async fn get(
    conn: &mut PgConnection,
    access: &OrgAccess,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    access.require(Permission::BillingRead)?;
    read(conn, access, now, "").await
}

async fn read(
    conn: &mut PgConnection,
    access: &OrgAccess,
    now: DateTime<Utc>,
    lock: &str,
) -> Result<Subscription> {
    let mut subscription: Subscription =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT}{lock}")))
            .bind(access.organization_id())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| Error::not_found("organization"))?;
    let period = Period::containing(now);
    subscription.current_period = Some((period.start(), period.end()));
    Ok(subscription)
}

/// What the organization holds now, to check against another plan.
pub(crate) async fn holdings_of(
    conn: &mut PgConnection,
    organization_id: uuid::Uuid,
) -> Result<Holdings> {
    let clusters = resource::held::<Cluster>(conn, organization_id).await?;
    let endpoints = resource::held::<Endpoint>(conn, organization_id).await?;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let now = Utc::now();
    Ok(Holdings {
        clusters: clusters.iter().map(clusters::shape).collect(),
        endpoint_gpus: endpoints.iter().map(|e| e.gpu.count).collect(),
        maintenance_windows: count(
            clusters
                .iter()
                .filter(|c| c.maintenance_window.is_some())
                .count(),
        ),
        verified_backups: count(
            clusters
                .iter()
                .filter(|c| c.backup.as_ref().is_some_and(|b| b.verify))
                .count(),
        ),
        // A stored schedule was valid when set; one that no longer parses
        // limits nothing.
        backup_policies: clusters
            .iter()
            .filter_map(|c| {
                let backup = c.backup.as_ref()?;
                let schedule = crds::schedule::Schedule::parse(&backup.schedule).ok()?;
                Some(crate::backups::backup_request(
                    &schedule,
                    backup.retention.max_age_days,
                    now,
                ))
            })
            .collect(),
    })
}

/// Moves the organization to `plan` from `now` on. The period is split
/// there: the old plan's fee and allowance cover the time before, the new
/// plan's the time after. A paid plan needs a card on file when a payment
/// provider is configured (`card_required`).
pub async fn change_plan(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    plan: &str,
    card_required: bool,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    access.require(Permission::BillingWrite)?;
    let change = PlanChange {
        actor: access.principal().actor(),
        card_required,
    };
    move_to_plan(conn, access.organization_id(), catalog, plan, &change, now).await?;
    read(conn, access, now, "").await
}

/// The catalog's plan called `plan`, or a validation error naming the others.
pub(crate) fn plan_named<'c>(catalog: &'c Catalog, plan: &str) -> Result<&'c billing::Plan> {
    catalog
        .plan(&PlanId::from(plan.trim().to_owned()))
        .ok_or_else(|| {
            let mut errors = ValidationErrors::default();
            let known: Vec<&str> = catalog.plans.iter().map(|p| p.id.as_str()).collect();
            errors.add(
                "plan",
                format!("unknown plan `{plan}`; plans are {}", known.join(", ")),
            );
            Error::Validation(errors)
        })
}

/// Who asks for a plan change, and whether a paid plan needs a card first.
#[derive(Debug)]
pub(crate) struct PlanChange {
    pub actor: String,
    pub card_required: bool,
}

/// The one way an organization changes plan, whoever asks (its members, a
/// platform administrator, a completed checkout): refused while what it
/// holds exceeds the plan; the current plan again undoes a pending
/// cancellation.
pub(crate) async fn move_to_plan(
    conn: &mut PgConnection,
    organization_id: uuid::Uuid,
    catalog: &Catalog,
    plan: &str,
    change: &PlanChange,
    now: DateTime<Utc>,
) -> Result<()> {
    let current: Option<(String, bool)> = sqlx::query_as(
        "SELECT plan, payment_method_ready FROM subscriptions
         WHERE organization_id = $1 FOR UPDATE",
    )
    .bind(organization_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (current, card_ready) = current.ok_or_else(|| Error::not_found("organization"))?;
    let target = plan_named(catalog, plan)?;
    if target.id.as_str() == current {
        sqlx::query(
            "UPDATE subscriptions SET cancel_at_period_end = false WHERE organization_id = $1",
        )
        .bind(organization_id)
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    entitlements::may_change_plan(target, &holdings_of(conn, organization_id).await?)?;
    if target.is_paid() && change.card_required && !card_ready {
        return Err(Error::PaymentMethodRequired);
    }
    switch_plan(conn, organization_id, target.id.as_str(), now).await?;
    audit::record(
        &mut *conn,
        Some(organization_id),
        &change.actor,
        "subscription.change_plan",
        "organization",
        &organization_id.to_string(),
        serde_json::json!({ "from": current, "to": target.id }),
    )
    .await
}

/// Puts the organization on `plan` from `at`: its subscription, and the
/// plan history billing rates by.
pub(crate) async fn switch_plan(
    conn: &mut PgConnection,
    organization_id: uuid::Uuid,
    plan: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    plan_history::switch(conn, organization_id, plan, at).await?;
    sqlx::query(
        "UPDATE subscriptions SET plan = $2, cancel_at_period_end = false
         WHERE organization_id = $1",
    )
    .bind(organization_id)
    .bind(plan)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Asks for the paid plan to end with the current period.
pub async fn cancel(
    conn: &mut PgConnection,
    access: &OrgAccess,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    access.require(Permission::BillingWrite)?;
    let current = read(conn, access, now, " FOR UPDATE").await?;
    if current.plan == PlanId::free().as_str() {
        let mut errors = ValidationErrors::default();
        errors.add("plan", "the free plan has nothing to cancel");
        return Err(Error::Validation(errors));
    }
    sqlx::query("UPDATE subscriptions SET cancel_at_period_end = true WHERE organization_id = $1")
        .bind(access.organization_id())
        .execute(&mut *conn)
        .await?;
    audit::record_as(
        conn,
        access,
        "subscription.cancel",
        "organization",
        &access.organization_id().to_string(),
        None,
    )
    .await?;
    read(conn, access, now, "").await
}

/// Sets (or with `None` removes) the ceiling on a period's usage charges.
pub async fn set_spend_limit(
    conn: &mut PgConnection,
    access: &OrgAccess,
    limit_minor: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    access.require(Permission::BillingWrite)?;
    if limit_minor.is_some_and(|l| l < 0) {
        let mut errors = ValidationErrors::default();
        errors.add("spend_limit_minor", "must be zero or more");
        return Err(Error::Validation(errors));
    }
    sqlx::query("UPDATE subscriptions SET spend_limit_minor = $2 WHERE organization_id = $1")
        .bind(access.organization_id())
        .bind(limit_minor)
        .execute(&mut *conn)
        .await?;
    audit::record_as(
        conn,
        access,
        "subscription.spend_limit",
        "organization",
        &access.organization_id().to_string(),
        Some(serde_json::json!({ "spend_limit_minor": limit_minor })),
    )
    .await?;
    read(conn, access, now, "").await
}

/// Ends cancelled paid plans whose period is over: from the first instant
/// of the new period, they are on free. Returns how many.
pub async fn end_cancelled(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<usize> {
    let start = Period::containing(now).start();
    let cancelled: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT organization_id FROM subscriptions WHERE cancel_at_period_end
         ORDER BY organization_id FOR UPDATE",
    )
    .fetch_all(&mut *conn)
    .await?;
    // A plan taken up since this period began runs until it ends.
    let due = plan_history::started_before(conn, &cancelled, start).await?;
    for organization_id in &due {
        switch_plan(conn, *organization_id, PlanId::free().as_str(), start).await?;
        audit::record(
            &mut *conn,
            Some(*organization_id),
            "system:billing",
            "subscription.ended",
            "organization",
            &organization_id.to_string(),
            serde_json::json!({}),
        )
        .await?;
    }
    Ok(due.len())
}
