//! Organizations as the platform's administrators find them: searched,
//! filtered, sorted and paged by keyset, each page's figures read for its
//! rows at once (never a query per row), and one organization whole.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use metering::Meter;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::PlatformAdmin;
use super::query::{Cursor, Listing, Search, Sort, Standing, cut};
use crate::{Error, Result};

/// What the organization list is asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationQuery {
    pub search: Option<Search>,
    pub plan: Option<String>,
    pub standing: Option<Standing>,
    /// Organizations with a cluster or endpoint in this data plane.
    pub data_plane: Option<Uuid>,
    pub sort: Sort,
    pub after: Option<Cursor>,
    pub limit: u32,
}

/// An organization as the platform's administrators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OrganizationSummary {
    pub id: Uuid,
    pub name: String,
    pub plan: String,
    pub status: String,
    /// Who suspended it (`billing`, `storage_cap`, `spend_limit`, `admin`).
    pub suspended_by: Option<String>,
    pub suspended_reason: Option<String>,
    pub payment_customer_id: Option<String>,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub clusters: i64,
    /// The sum of its open invoices.
    #[sqlx(skip)]
    pub open_invoices_minor: i64,
    /// Credit granted and not yet used by an invoice.
    #[sqlx(skip)]
    pub credit_balance_minor: i64,
    /// Node-hours and GPU-hours metered this month, whole hours.
    #[sqlx(skip)]
    pub node_hours: i64,
    #[sqlx(skip)]
    pub gpu_hours: i64,
}

impl OrganizationSummary {
    pub fn standing(&self) -> Standing {
        Standing::of(&self.status, self.suspended_reason.is_some())
    }
}

const COLUMNS: &str = "SELECT o.id, o.name, s.plan, s.status, s.suspended_by, s.suspended_reason,
        s.payment_customer_id, o.created_at
    FROM organizations o JOIN subscriptions s ON s.organization_id = o.id WHERE true";

/// The predicate of `subscriptions_standing_idx`, spelled out so that
/// PostgreSQL sees the rarer standings may use it.
const UNUSUAL: &str = " AND (s.status <> 'active' OR s.suspended_by IS NOT NULL)";

/// Appends the query's search and filters as `AND …` clauses. Each shape
/// of query is its own statement, so PostgreSQL plans it for the indexes
/// it can use (a generic plan for `$1 IS NULL OR …` would scan).
fn push_filters(sql: &mut QueryBuilder<Postgres>, query: &OrganizationQuery) {
    match &query.search {
        None => {}
        Some(Search::Id(id)) => {
            sql.push(" AND o.id = ").push_bind(*id);
        }
        Some(Search::Email(part)) => {
            sql.push(
                " AND o.id IN (SELECT m.organization_id FROM users u
                  JOIN memberships m ON m.user_id = u.id WHERE u.email LIKE ",
            )
            .push_bind(Search::contains_pattern(part))
            .push(")");
        }
        Some(Search::Customer(id)) => {
            sql.push(" AND s.payment_customer_id = ")
                .push_bind(id.clone());
        }
        Some(Search::Name(part)) => {
            sql.push(" AND o.name ILIKE ")
                .push_bind(Search::contains_pattern(part));
        }
    }
    if let Some(plan) = &query.plan {
        sql.push(" AND s.plan = ").push_bind(plan.clone());
    }
    match query.standing {
        None => {}
        Some(Standing::Suspended) => {
            sql.push(UNUSUAL)
                .push(" AND (s.status = 'suspended' OR s.suspended_by IS NOT NULL)");
        }
        Some(Standing::PastDue) => {
            sql.push(UNUSUAL)
                .push(" AND s.status = 'past_due' AND s.suspended_by IS NULL");
        }
        Some(Standing::Active) => {
            sql.push(" AND s.status NOT IN ('past_due', 'suspended') AND s.suspended_by IS NULL");
        }
    }
    if let Some(plane) = query.data_plane {
        sql.push(" AND (EXISTS (SELECT 1 FROM vector_clusters c WHERE c.data_plane_id = ")
            .push_bind(plane)
            .push(
                " AND c.organization_id = o.id AND c.deletion_requested_at IS NULL)
                  OR EXISTS (SELECT 1 FROM inference_endpoints e WHERE e.data_plane_id = ",
            )
            .push_bind(plane)
            .push(" AND e.organization_id = o.id AND e.deletion_requested_at IS NULL))");
    }
}

/// A page of organizations.
pub async fn search(
    conn: &mut PgConnection,
    _admin: &PlatformAdmin,
    query: &OrganizationQuery,
    now: DateTime<Utc>,
) -> Result<Listing<OrganizationSummary>> {
    let mut count = QueryBuilder::new(
        "SELECT count(*) FROM organizations o JOIN subscriptions s ON s.organization_id = o.id WHERE true",
    );
    push_filters(&mut count, query);
    let total: i64 = count.build_query_scalar().fetch_one(&mut *conn).await?;
    let (mut rows, next) = match ranking(query.sort) {
        None => by_id(conn, query).await?,
        Some(ranking) => ranked(conn, query, ranking, now).await?,
    };
    fill_figures(conn, &mut rows, now).await?;
    Ok(Listing { rows, total, next })
}

/// Newest or oldest first: a keyset scan of the primary key (ids are
/// UUIDv7, so in order of creation).
async fn by_id(
    conn: &mut PgConnection,
    query: &OrganizationQuery,
) -> Result<(Vec<OrganizationSummary>, Option<Cursor>)> {
    let newest = query.sort != Sort::Oldest;
    let after = match query.after {
        None => None,
        Some(Cursor::Id(id)) => Some(id),
        Some(_) => return Err(bad_cursor()),
    };
    let mut sql = QueryBuilder::new(COLUMNS);
    push_filters(&mut sql, query);
    if let Some(after) = after {
        sql.push(if newest {
            " AND o.id < "
        } else {
            " AND o.id > "
        })
        .push_bind(after);
    }
    sql.push(if newest {
        " ORDER BY o.id DESC LIMIT "
    } else {
        " ORDER BY o.id LIMIT "
    })
    .push_bind(i64::from(query.limit) + 1);
    let rows: Vec<OrganizationSummary> = sql.build_query_as().fetch_all(&mut *conn).await?;
    let (rows, next) = cut(rows, query.limit, |r| Cursor::Id(r.id));
    Ok((rows, next))
}

/// What a ranked sort ranks by, and who keeps the figure.
#[derive(Debug, Clone, Copy)]
enum Ranking {
    /// Billing: the sum of open invoices.
    Unpaid,
    /// Metering: a summed meter this month.
    Usage(Meter),
}

fn ranking(sort: Sort) -> Option<Ranking> {
    match sort {
        Sort::Newest | Sort::Oldest => None,
        Sort::Unpaid => Some(Ranking::Unpaid),
        Sort::GpuHours => Some(Ranking::Usage(Meter::GpuSeconds)),
        Sort::NodeHours => Some(Ranking::Usage(Meter::NodeSeconds)),
    }
}

impl Ranking {
    /// The next `limit` organizations with a figure above zero, most first.
    async fn top(
        self,
        conn: &mut PgConnection,
        after: Option<(Decimal, Uuid)>,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, Decimal)>> {
        Ok(match self {
            Ranking::Unpaid => {
                let after = after
                    .map(|(amount, id)| amount.to_i64().map(|a| (a, id)).ok_or_else(bad_cursor))
                    .transpose()?;
                billing::invoice::unpaid_ranking(conn, after, limit)
                    .await?
                    .into_iter()
                    .map(|(id, owed)| (id, Decimal::from(owed)))
                    .collect()
            }
            Ranking::Usage(meter) => {
                let month = metering::rollups::month_of(now);
                metering::rollups::month_ranking(conn, meter, month, after, limit).await?
            }
        })
    }

    /// Which of `ids` have a figure above zero (and so were ranked).
    async fn ranked_among(
        self,
        conn: &mut PgConnection,
        ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<HashSet<Uuid>> {
        Ok(match self {
            Ranking::Unpaid => billing::invoice::balances(conn, ids)
                .await?
                .into_iter()
                .filter(|(_, b)| b.open_minor > 0)
                .map(|(id, _)| id)
                .collect(),
            Ranking::Usage(meter) => {
                let month = metering::rollups::month_of(now);
                metering::rollups::month_totals(conn, ids, &[meter], month)
                    .await?
                    .into_iter()
                    .filter(|(_, quantity)| *quantity > Decimal::ZERO)
                    .map(|((id, _), _)| id)
                    .collect()
            }
        })
    }
}

/// Organizations the ranking's owner reads per step: a few pages' worth,
/// so that filters that drop most of them still fill a page in few steps.
const STEP: i64 = 200;

/// A ranked sort: first the organizations the ranking names, most first,
/// those passing the filters kept; then, the ranking exhausted, those it
/// does not name (a figure of zero), newest first. Each step reads a
/// batch by index from the ranking's owner and checks the filters for the
/// batch in one statement.
async fn ranked(
    conn: &mut PgConnection,
    query: &OrganizationQuery,
    ranking: Ranking,
    now: DateTime<Utc>,
) -> Result<(Vec<OrganizationSummary>, Option<Cursor>)> {
    let limit = query.limit as usize;
    let mut rows = Vec::with_capacity(limit + 1);
    let mut cursor = query.after;
    let mut ranked_done = matches!(cursor, Some(Cursor::Unranked(_)));
    if matches!(cursor, Some(Cursor::Id(_))) {
        return Err(bad_cursor());
    }
    let mut last = None;
    while !ranked_done && rows.len() <= limit {
        let after = match cursor {
            Some(Cursor::Ranked(amount, id)) => Some((amount, id)),
            _ => None,
        };
        let batch = ranking.top(conn, after, STEP, now).await?;
        ranked_done = (batch.len() as i64) < STEP;
        let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
        let mut passing = matching(conn, query, &ids).await?;
        for (id, amount) in batch {
            cursor = Some(Cursor::Ranked(amount, id));
            if let Some(row) = passing.remove(&id) {
                if rows.len() == limit {
                    return Ok((rows, last));
                }
                rows.push(row);
                last = cursor;
            }
        }
    }
    // The unranked, newest first, skipping those the ranking named.
    let mut after = match cursor {
        Some(Cursor::Unranked(id)) => Some(id),
        _ => None,
    };
    loop {
        let mut sql = QueryBuilder::new(COLUMNS);
        push_filters(&mut sql, query);
        if let Some(after) = after {
            sql.push(" AND o.id < ").push_bind(after);
        }
        sql.push(" ORDER BY o.id DESC LIMIT ").push_bind(STEP);
        let batch: Vec<OrganizationSummary> = sql.build_query_as().fetch_all(&mut *conn).await?;
        let exhausted = (batch.len() as i64) < STEP;
        let ids: Vec<Uuid> = batch.iter().map(|r| r.id).collect();
        let named = ranking.ranked_among(conn, &ids, now).await?;
        for row in batch {
            after = Some(row.id);
            if named.contains(&row.id) {
                continue;
            }
            if rows.len() == limit {
                return Ok((rows, last));
            }
            last = Some(Cursor::Unranked(row.id));
            rows.push(row);
        }
        if exhausted {
            return Ok((rows, None));
        }
    }
}

/// Those of `ids` that pass the query's filters, by id.
async fn matching(
    conn: &mut PgConnection,
    query: &OrganizationQuery,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, OrganizationSummary>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = QueryBuilder::new(COLUMNS);
    push_filters(&mut sql, query);
    sql.push(" AND o.id = ANY(")
        .push_bind(ids.to_vec())
        .push(")");
    let rows: Vec<OrganizationSummary> = sql.build_query_as().fetch_all(&mut *conn).await?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

/// Each row's clusters, balance and usage this month: one statement per
/// figure for the whole page.
async fn fill_figures(
    conn: &mut PgConnection,
    rows: &mut [OrganizationSummary],
    now: DateTime<Utc>,
) -> Result<()> {
    let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
    let clusters: HashMap<Uuid, i64> = sqlx::query_as(
        "SELECT organization_id, count(*) FROM vector_clusters
         WHERE organization_id = ANY($1) AND deletion_requested_at IS NULL
         GROUP BY organization_id",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let balances = billing::invoice::balances(conn, &ids).await?;
    let (node, gpu) = (Meter::NodeSeconds, Meter::GpuSeconds);
    let month = metering::rollups::month_of(now);
    let usage = metering::rollups::month_totals(conn, &ids, &[node, gpu], month).await?;
    let whole_hours = |org: Uuid, meter: Meter| {
        usage
            .get(&(org, meter))
            .and_then(|seconds| (seconds / Decimal::from(3600)).floor().to_i64())
            .unwrap_or(0)
    };
    for org in rows {
        let balance = balances.get(&org.id).copied().unwrap_or_default();
        org.clusters = clusters.get(&org.id).copied().unwrap_or(0);
        org.open_invoices_minor = balance.open_minor;
        org.credit_balance_minor = balance.credit_minor;
        org.node_hours = whole_hours(org.id, node);
        org.gpu_hours = whole_hours(org.id, gpu);
    }
    Ok(())
}

fn bad_cursor() -> Error {
    Error::Validation(crate::validation::ValidationErrors::single(
        "after",
        "is not a cursor for this sort",
    ))
}

/// A member, as the console lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Member {
    pub email: String,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

/// A cluster or endpoint of one organization, with its phase and any
/// suspension's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Held {
    pub kind: String,
    pub id: Uuid,
    pub name: String,
    pub region: String,
    pub phase: String,
    pub suspended_by: Option<String>,
    pub suspended_reason: Option<String>,
}

/// One organization whole, for its page in the console.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationDetail {
    pub summary: OrganizationSummary,
    pub members: Vec<Member>,
    pub resources: Vec<Held>,
    pub invoices: Vec<billing::invoice::Invoice>,
    pub credits: Vec<billing::credit::Credit>,
}

pub async fn organization(
    conn: &mut PgConnection,
    _admin: &PlatformAdmin,
    organization_id: Uuid,
    now: DateTime<Utc>,
) -> Result<OrganizationDetail> {
    let mut sql = QueryBuilder::new(COLUMNS);
    sql.push(" AND o.id = ").push_bind(organization_id);
    let summary: Option<OrganizationSummary> =
        sql.build_query_as().fetch_optional(&mut *conn).await?;
    let mut summary = [summary.ok_or_else(|| Error::not_found("organization"))?];
    fill_figures(conn, &mut summary, now).await?;
    let [summary] = summary;
    let members = sqlx::query_as(
        "SELECT u.email, m.role, m.created_at AS joined_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1 ORDER BY m.created_at, u.email",
    )
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?;
    let resources = sqlx::query_as(
        "SELECT 'cluster' AS kind, c.id, c.name, d.region, c.phase, c.suspended_by, c.suspended_reason
         FROM vector_clusters c JOIN data_planes d ON d.id = c.data_plane_id
         WHERE c.organization_id = $1 AND c.deletion_requested_at IS NULL
         UNION ALL
         SELECT 'endpoint', e.id, e.name, d.region, e.phase, e.suspended_by, e.suspended_reason
         FROM inference_endpoints e JOIN data_planes d ON d.id = e.data_plane_id
         WHERE e.organization_id = $1 AND e.deletion_requested_at IS NULL
         ORDER BY 1, 3",
    )
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?;
    let invoices = billing::invoice::list(conn, organization_id).await?;
    let credits = billing::credit::list(conn, organization_id).await?;
    Ok(OrganizationDetail {
        summary,
        members,
        resources,
        invoices,
        credits,
    })
}
