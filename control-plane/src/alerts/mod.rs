//! Usage and spend alerts: thresholds on the period's spend (an amount) or
//! on a meter (a quantity), as percentages of a budget, each firing once a
//! period as an email and a `usage.threshold_crossed` webhook.
//!
//! Evaluated as usage changes, not at the period's close: the ingester
//! marks each organization whose usage it stored ([`metering::changes`]),
//! and the billing worker's pass ([`crate::money::usage_changed`]) takes
//! the marked ones in a transaction. A threshold
//! fires by inserting its row for the period; the row's primary key makes
//! that happen once, whichever replica evaluates and however often, and
//! the email and the event are written in the same transaction.

pub mod threshold;

use std::collections::{HashMap, HashSet};

use billing::catalog_store::Published;
use billing::{Period, PlanId};
use chrono::{DateTime, Utc};
use metering::{Meter, changes, rollups};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

pub use threshold::{Metric, Threshold};

use crate::access::{OrgAccess, Permission, Role};
use crate::mail;
use crate::money::suspension::usage_spend;
use crate::validation::ValidationErrors;
use crate::webhooks::{self, EventType, Subject};
use crate::{Error, Result, audit};

/// An alert an organization set.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct UsageAlert {
    pub id: Uuid,
    pub metric: String,
    pub budget: Decimal,
    pub percents: Vec<i16>,
    pub created_at: DateTime<Utc>,
}

/// A new alert, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    metric: Metric,
    budget: Decimal,
    percents: Vec<i16>,
}

impl NewAlert {
    /// `percents` default to 80 and 100; each is 1 to 1000, at most 10.
    pub fn parse(metric: &str, budget: i64, percents: Option<&[i64]>) -> Result<Self> {
        let mut errors = ValidationErrors::default();
        let metric = errors.check("metric", metric.parse::<Metric>());
        if budget <= 0 {
            errors.add(
                "budget",
                format!("must be a positive whole number; got {budget}"),
            );
        }
        let raw = percents.map_or_else(
            || threshold::DEFAULT_PERCENTS.map(i64::from).to_vec(),
            <[i64]>::to_vec,
        );
        if raw.is_empty() || raw.len() > 10 {
            errors.add("percents", "must hold 1 to 10 percentages");
        }
        let mut percents: Vec<i16> = raw
            .iter()
            .filter_map(|p| errors.in_range("percents", *p, 1..=1000))
            .filter_map(|p| i16::try_from(p).ok())
            .collect();
        percents.sort_unstable();
        percents.dedup();
        errors.finish(metric.map(|metric| NewAlert {
            metric,
            budget: Decimal::from(budget),
            percents,
        }))
    }
}

const COLUMNS: &str = "id, metric, budget, percents, created_at";

pub async fn create(
    conn: &mut PgConnection,
    access: &OrgAccess,
    new: NewAlert,
) -> Result<UsageAlert> {
    access.require(Permission::BillingWrite)?;
    let alert: UsageAlert = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO usage_alerts (id, organization_id, metric, budget, percents)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(access.organization_id())
    .bind(new.metric.as_str())
    .bind(new.budget)
    .bind(&new.percents)
    .fetch_one(&mut *conn)
    .await?;
    // Evaluated at the next pass, not only when usage next changes.
    changes::mark(conn, &[access.organization_id()]).await?;
    let details = serde_json::json!({ "metric": alert.metric, "budget": alert.budget, "percents": alert.percents });
    audit::record_as(
        conn,
        access,
        "usage_alert.create",
        "usage_alert",
        &alert.id.to_string(),
        Some(details),
    )
    .await?;
    Ok(alert)
}

pub async fn list(conn: &mut PgConnection, access: &OrgAccess) -> Result<Vec<UsageAlert>> {
    access.require(Permission::UsageRead)?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM usage_alerts WHERE organization_id = $1 ORDER BY id"
    )))
    .bind(access.organization_id())
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn delete(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<UsageAlert> {
    access.require(Permission::BillingWrite)?;
    let alert: UsageAlert = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "DELETE FROM usage_alerts WHERE organization_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(access.organization_id())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found("usage alert"))?;
    audit::record_as(
        conn,
        access,
        "usage_alert.delete",
        "usage_alert",
        &id.to_string(),
        None,
    )
    .await?;
    Ok(alert)
}

/// The organization's thresholds: the defaults of its plan and spend
/// limit, then its own alerts.
async fn thresholds(
    conn: &mut PgConnection,
    published: &Published,
    organization_id: Uuid,
) -> Result<Vec<Threshold>> {
    let plan: Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT plan, spend_limit_minor FROM subscriptions WHERE organization_id = $1",
    )
    .bind(organization_id)
    .fetch_optional(&mut *conn)
    .await?;
    let mut found = match &plan {
        Some((plan, limit)) => published
            .catalog
            .plan(&PlanId::from(plan.clone()))
            .map(|p| threshold::defaults(p, *limit))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let own: Vec<(Uuid, String, Decimal, Vec<i16>)> = sqlx::query_as(
        "SELECT id, metric, budget, percents FROM usage_alerts WHERE organization_id = $1",
    )
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?;
    for (id, metric, budget, percents) in own {
        let Ok(metric) = metric.parse::<Metric>() else {
            continue;
        };
        found.extend(percents.into_iter().map(|percent| Threshold {
            alert: id.to_string(),
            metric,
            budget,
            percent,
        }));
    }
    Ok(found)
}

/// The figures `metrics` stand at for the organization now.
async fn measure(
    conn: &mut PgConnection,
    published: &Published,
    organization_id: Uuid,
    metrics: &HashSet<Metric>,
    now: DateTime<Utc>,
) -> Result<HashMap<Metric, Decimal>> {
    let mut values = HashMap::new();
    if metrics.contains(&Metric::Spend) {
        let spend = usage_spend(conn, published, organization_id, now).await?;
        values.insert(Metric::Spend, Decimal::from(spend));
    }
    let (levels, sums): (Vec<Meter>, Vec<Meter>) = metrics
        .iter()
        .filter_map(|m| match m {
            Metric::Meter(meter) => Some(*meter),
            Metric::Spend => None,
        })
        .partition(|m| Metric::Meter(*m).is_level());
    if !sums.is_empty() {
        let totals =
            rollups::month_totals(conn, &[organization_id], &sums, rollups::month_of(now)).await?;
        for meter in sums {
            let total = totals
                .get(&(organization_id, meter))
                .copied()
                .unwrap_or_default();
            values.insert(Metric::Meter(meter), total);
        }
    }
    if !levels.is_empty() {
        let resources: Vec<(Uuid, Uuid)> = sqlx::query_scalar(
            "SELECT id FROM vector_clusters WHERE organization_id = $1 AND deletion_requested_at IS NULL",
        )
        .bind(organization_id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|id| (organization_id, id))
        .collect();
        for meter in levels {
            let latest = rollups::latest_averages(conn, meter, &resources).await?;
            if !latest.is_empty() {
                values.insert(Metric::Meter(meter), latest.values().copied().sum());
            }
        }
    }
    Ok(values)
}

/// Fires what the organization's figures reach and has not fired this
/// period; returns how many fired.
pub(crate) async fn evaluate_one(
    conn: &mut PgConnection,
    published: &Published,
    organization_id: Uuid,
    now: DateTime<Utc>,
) -> Result<usize> {
    let thresholds = thresholds(conn, published, organization_id).await?;
    if thresholds.is_empty() {
        return Ok(0);
    }
    let metrics: HashSet<Metric> = thresholds.iter().map(|t| t.metric).collect();
    let values = measure(conn, published, organization_id, &metrics, now).await?;
    let period = Period::containing(now);
    let mut fired = 0;
    for (t, value) in threshold::reached(&thresholds, &values) {
        let first: Option<bool> = sqlx::query_scalar(
            "INSERT INTO usage_alert_firings
                 (organization_id, alert, percent, period_start, metric, budget, value, fired_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT DO NOTHING
             RETURNING true",
        )
        .bind(organization_id)
        .bind(&t.alert)
        .bind(t.percent)
        .bind(period.start())
        .bind(t.metric.as_str())
        .bind(t.budget)
        .bind(value)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if first.is_some() {
            tell(conn, published, organization_id, t, value, period, now).await?;
            fired += 1;
        }
    }
    Ok(fired)
}

/// A figure as a person reads it: money in its currency, else in the
/// metric's shown unit.
pub fn shown(metric: Metric, amount: Decimal, currency: &str) -> String {
    match metric {
        Metric::Spend => billing::money::format(amount.to_i64().unwrap_or(i64::MAX), currency),
        Metric::Meter(_) => {
            let (per, unit) = metric.shown_unit(currency);
            format!("{} {unit}", (amount / per).round_dp(2).normalize())
        }
    }
}

/// Emails the organization's owners and billing members, and raises the
/// webhook event, in the transaction that fired the threshold.
async fn tell(
    conn: &mut PgConnection,
    published: &Published,
    organization_id: Uuid,
    t: &Threshold,
    value: Decimal,
    period: Period,
    now: DateTime<Utc>,
) -> Result<()> {
    let currency = &published.catalog.currency;
    let data = serde_json::json!({ "object": {
        "object": "usage_threshold",
        "id": t.alert,
        "alert": t.alert,
        "metric": t.metric.as_str(),
        "budget": t.budget,
        "percent": t.percent,
        "value": value,
        "period_start": period.start(),
        "period_end": period.end(),
    }});
    let subject = Subject {
        kind: "usage_alert",
        id: &t.alert,
    };
    webhooks::emit(
        conn,
        organization_id,
        EventType::UsageThresholdCrossed,
        subject,
        data,
        now,
    )
    .await?;
    let what = match t.metric {
        Metric::Spend => "usage charges",
        Metric::Meter(Meter::StorageBytes) => "storage",
        Metric::Meter(Meter::ObjectCount) => "stored objects",
        Metric::Meter(Meter::GpuSeconds) => "GPU time",
        Metric::Meter(Meter::NodeSeconds) => "node time",
        Metric::Meter(Meter::InputTokens) => "input tokens",
        Metric::Meter(Meter::OutputTokens) => "output tokens",
        Metric::Meter(Meter::Requests) => "requests served",
    };
    let subject = format!(
        "Your {what} reached {} % of {}",
        t.percent,
        shown(t.metric, t.budget, currency)
    );
    let text = format!(
        "Your organization's {what} for {period}: {}, which is {} % or more of the \
         budget of {}. This alert fires once a period; you can change it on the \
         dashboard's Usage page or through the API.\n",
        shown(t.metric, value, currency),
        t.percent,
        shown(t.metric, t.budget, currency),
    );
    let roles = [Role::Owner, Role::Billing];
    mail::enqueue_to_members(conn, organization_id, &roles, &subject, &text).await?;
    Ok(())
}
