//! The idle lifecycle of clusters on a plan that has one (the free tier):
//! warned, suspended (cause `idle`, data kept), warned again and deleted
//! when they serve no request; resumed by the customer with one click.
//!
//! `billing::idle` decides from the facts gathered here: the plan's
//! fields, the cluster's `requests` readings (`metering::rollups`) and the
//! steps already taken (`cluster_idle_steps`). Each step is taken by
//! inserting its row, keyed by cluster, step and idle stretch, in the
//! transaction that emails or acts: taken once, however often the pass
//! runs. Deletion goes through the normal path (`deletion_requested_at`),
//! so the provisioner removes the cluster and raises `cluster.deleted`.

use std::collections::HashMap;

use billing::catalog_store::Published;
use billing::idle::{self, IdlePolicy, Spans, Step};
use chrono::{DateTime, Utc};
use metering::rollups;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::suspension::{self, Cause, Scope};
use crate::access::{OrgAccess, Permission, Role};
use crate::clusters::{self, Cluster};
use crate::mail;
use crate::resource::{self, Editor};
use crate::{Conflict, Error, Result};

/// Who acts, in the audit log.
pub const ACTOR: &str = "system:idle";
/// Clusters a transaction.
const BATCH: i64 = 500;

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub warned: usize,
    pub suspended: usize,
    pub deleted: usize,
}

/// A cluster the lifecycle may concern: on a plan that has one, not being
/// deleted, running or suspended for idleness.
#[derive(Debug, sqlx::FromRow)]
struct Candidate {
    organization_id: Uuid,
    id: Uuid,
    name: String,
    plan: String,
    suspended_by: Option<String>,
    created_at: DateTime<Utc>,
    resumed_at: Option<DateTime<Utc>>,
}

impl Candidate {
    /// Where its idle clock may start: its creation or its latest resume.
    fn active_from(&self) -> DateTime<Utc> {
        self.resumed_at
            .map_or(self.created_at, |r| r.max(self.created_at))
    }
}

/// A plan's lifecycle, with the name customers know the plan by.
#[derive(Debug)]
struct PlanLifecycle<'c> {
    policy: IdlePolicy,
    name: &'c str,
}

/// Steps taken, by cluster, step key and idle stretch: when.
type Taken = HashMap<(Uuid, String, DateTime<Utc>), DateTime<Utc>>;

/// One pass at `now`.
#[tracing::instrument(name = "idle lifecycle", level = "debug", skip_all)]
pub async fn enforce(
    pool: &PgPool,
    published: &Published,
    now: DateTime<Utc>,
) -> Result<Lifecycle> {
    let policies: HashMap<&str, PlanLifecycle<'_>> = published
        .catalog
        .plans
        .iter()
        .filter_map(|p| {
            let policy = IdlePolicy::of(p)?;
            Some((
                p.id.as_str(),
                PlanLifecycle {
                    policy,
                    name: &p.name,
                },
            ))
        })
        .collect();
    let plans: Vec<&str> = policies.keys().copied().collect();
    let mut done = Lifecycle::default();
    let mut after = Uuid::nil();
    // A batch of clusters per transaction, so that no pass holds every
    // free cluster's row at once.
    loop {
        let mut tx = pool.begin().await?;
        let candidates: Vec<Candidate> = sqlx::query_as(
            "SELECT c.organization_id, c.id, c.name, s.plan, c.suspended_by, c.created_at, c.resumed_at
             FROM vector_clusters c JOIN subscriptions s ON s.organization_id = c.organization_id
             WHERE s.plan = ANY($1) AND c.deletion_requested_at IS NULL
               AND (c.suspended_by IS NULL OR c.suspended_by = $2) AND c.id > $3
             ORDER BY c.id
             LIMIT $4
             FOR UPDATE OF c",
        )
        .bind(&plans)
        .bind(Cause::Idle.as_str())
        .bind(after)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = candidates.last() else {
            return Ok(done);
        };
        after = last.id;
        batch(&mut tx, &policies, &candidates, now, &mut done).await?;
        tx.commit().await?;
    }
}

/// Takes the steps due for one batch of candidates.
async fn batch(
    conn: &mut PgConnection,
    policies: &HashMap<&str, PlanLifecycle<'_>>,
    candidates: &[Candidate],
    now: DateTime<Utc>,
    done: &mut Lifecycle,
) -> Result<()> {
    let taken = taken(&mut *conn, candidates).await?;
    let (running, suspended): (Vec<&Candidate>, Vec<&Candidate>) =
        candidates.iter().partition(|c| c.suspended_by.is_none());

    // Two spans a cluster, read in one statement: the warning's, the suspension's.
    let asked: Vec<(Uuid, Uuid, DateTime<Utc>)> = running
        .iter()
        .filter_map(|c| Some((c, &policies.get(c.plan.as_str())?.policy)))
        .flat_map(|(c, policy)| {
            let spans = Spans::at(policy, now);
            [spans.warning, spans.suspension].map(|since| (c.organization_id, c.id, since))
        })
        .collect();
    let readings = rollups::request_readings(&mut *conn, &asked, now).await?;
    let readings: HashMap<(Uuid, DateTime<Utc>), rollups::RequestReadings> = asked
        .iter()
        .zip(readings)
        .map(|(&(_, id, since), r)| ((id, since), r))
        .collect();

    for c in running {
        let Some(plan) = policies.get(c.plan.as_str()) else {
            continue;
        };
        let policy = &plan.policy;
        let spans = Spans::at(policy, now);
        let (Some(warning), Some(suspension)) = (
            readings.get(&(c.id, spans.warning)),
            readings.get(&(c.id, spans.suspension)),
        ) else {
            continue;
        };
        let since = idle::idle_since(c.active_from(), warning.last_active_hour);
        let warned_at = taken
            .get(&(c.id, Step::SuspendWarning.key(), since))
            .copied();
        if let Some(step) = idle::running_step(policy, since, warned_at, warning, suspension, now) {
            take(&mut *conn, c, plan, step, since, now, done).await?;
        }
    }
    for c in suspended {
        let Some(plan) = policies.get(c.plan.as_str()) else {
            continue;
        };
        // The latest suspension for idleness: its stretch and its time.
        let Some((since, suspended_at)) = taken
            .iter()
            .filter(|((id, key, _), _)| *id == c.id && *key == Step::Suspend.key())
            .map(|((_, _, since), at)| (*since, *at))
            .max_by_key(|&(_, at)| at)
        else {
            continue;
        };
        let sent = |days_before| {
            let key = Step::DeleteWarning { days_before }.key();
            taken.get(&(c.id, key, since)).copied()
        };
        if let Some(step) = idle::suspended_step(&plan.policy, suspended_at, sent, now) {
            take(&mut *conn, c, plan, step, since, now, done).await?;
        }
    }
    Ok(())
}

/// The steps already taken for `candidates`.
async fn taken(conn: &mut PgConnection, candidates: &[Candidate]) -> Result<Taken> {
    let ids: Vec<Uuid> = candidates.iter().map(|c| c.id).collect();
    let rows: Vec<(Uuid, String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT cluster_id, step, idle_since, done_at FROM cluster_idle_steps
         WHERE cluster_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, step, since, at)| ((id, step, since), at))
        .collect())
}

/// Takes `step` for the idle stretch that began at `since`, unless it was
/// taken already: its row first, then the email or the action, in one
/// transaction.
async fn take(
    conn: &mut PgConnection,
    c: &Candidate,
    plan: &PlanLifecycle<'_>,
    step: Step,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    done: &mut Lifecycle,
) -> Result<()> {
    let first: Option<bool> = sqlx::query_scalar(
        "INSERT INTO cluster_idle_steps (cluster_id, step, idle_since, done_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING
         RETURNING true",
    )
    .bind(c.id)
    .bind(step.key())
    .bind(since)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if first.is_none() {
        return Ok(());
    }
    match step {
        Step::SuspendWarning => {
            let (subject, text) = suspend_warning(c, plan, now);
            mail::enqueue_to_members(conn, c.organization_id, &[Role::Owner], &subject, &text)
                .await?;
            done.warned += 1;
        }
        Step::DeleteWarning { days_before } => {
            let (subject, text) = delete_warning(c, &plan.policy, days_before, now);
            mail::enqueue_to_members(conn, c.organization_id, &[Role::Owner], &subject, &text)
                .await?;
            done.warned += 1;
        }
        Step::Suspend => {
            let reason = idle::suspension_reason(&plan.policy, plan.name);
            let scope = Scope::Cluster(c.id);
            suspension::suspend(
                conn,
                c.organization_id,
                scope,
                Cause::Idle,
                &reason,
                ACTOR,
                now,
            )
            .await?;
            done.suspended += 1;
        }
        Step::Delete => {
            let editor = Editor {
                organization_id: c.organization_id,
                actor: ACTOR,
            };
            let details = serde_json::json!({ "cause": Cause::Idle.as_str(), "idle_since": since });
            resource::delete_by::<Cluster>(conn, editor, c.id, Some(details)).await?;
            done.deleted += 1;
        }
    }
    Ok(())
}

fn days(n: u32) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

/// An instant `n` days after `now`, as an email states it.
fn days_after(now: DateTime<Utc>, n: u32) -> String {
    (now + chrono::Duration::days(i64::from(n)))
        .format("%Y-%m-%d %H:%M UTC")
        .to_string()
}

/// How an email tells the customer to resume the cluster.
fn how_to_resume(c: &Candidate) -> String {
    format!(
        "resume it with one click on its page on the dashboard, or with \
         POST /v1/organizations/{}/clusters/{}/resume",
        c.organization_id, c.id
    )
}

/// The warning before a suspension: subject and text.
fn suspend_warning(
    c: &Candidate,
    plan: &PlanLifecycle<'_>,
    now: DateTime<Utc>,
) -> (String, String) {
    let policy = &plan.policy;
    let idle_for = policy
        .suspend_after_days
        .saturating_sub(policy.warning_days_before);
    (
        format!(
            "Your cluster {} will be suspended in {}",
            c.name,
            days(policy.warning_days_before)
        ),
        format!(
            "Your cluster {} has served no request for {}. The {} plan suspends a cluster that \
             serves no request for {} (its data is kept): this one on or after {}, unless it \
             serves a request before then. Once suspended, {}.\n",
            c.name,
            days(idle_for),
            plan.name,
            days(policy.suspend_after_days),
            days_after(now, policy.warning_days_before),
            how_to_resume(c)
        ),
    )
}

/// A warning `days_before` a deletion: subject and text.
fn delete_warning(
    c: &Candidate,
    policy: &IdlePolicy,
    days_before: u32,
    now: DateTime<Utc>,
) -> (String, String) {
    (
        format!(
            "Your suspended cluster {} will be deleted in {}",
            c.name,
            days(days_before)
        ),
        format!(
            "Your cluster {} was suspended because it served no request for {}. Unless it is \
             resumed, it will be deleted with its data on or after {}. To keep it, {}.\n",
            c.name,
            days(policy.suspend_after_days),
            days_after(now, days_before),
            how_to_resume(c)
        ),
    )
}

/// Lifts the cluster's idle suspension, if it has one, on the caller's
/// behalf; its idle clock starts again now. A cluster that is running
/// stays as it is; one suspended for another cause is refused.
pub async fn resume(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<Cluster> {
    access.require(Permission::ClustersWrite)?;
    let row: Option<(Option<String>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT suspended_by, deletion_requested_at FROM vector_clusters
         WHERE organization_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(access.organization_id())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row.ok_or_else(|| Error::not_found("cluster"))? {
        (_, Some(_)) => return Err(Error::Conflict(Conflict::ClusterDeleting)),
        (None, None) => {}
        (Some(cause), None) if cause == Cause::Idle.as_str() => {
            let actor = access.principal().actor();
            let scope = Scope::Cluster(id);
            let (org, now) = (access.organization_id(), Utc::now());
            suspension::resume(conn, org, scope, Cause::Idle, &actor, now).await?;
        }
        (Some(cause), None) => {
            return Err(Error::Conflict(Conflict::SuspendedForAnotherCause(cause)));
        }
    }
    clusters::get(conn, access, id).await
}
