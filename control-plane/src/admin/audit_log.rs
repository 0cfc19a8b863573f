//! The audit log across organizations, filtered and paged newest first.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, QueryBuilder};
use uuid::Uuid;

use super::PlatformAdmin;
use super::query::cut;
use crate::Result;

/// What the audit log is asked. Each filter has an index with the id, so
/// a page is a keyset scan however long the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub organization: Option<Uuid>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Entries before this id (the log's own order).
    pub before: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub organization_id: Option<Uuid>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
}

/// A page of entries, newest first; `next` is the id to continue before.
pub async fn audit_log(
    conn: &mut PgConnection,
    _admin: &PlatformAdmin,
    query: &AuditQuery,
) -> Result<(Vec<AuditEntry>, Option<i64>)> {
    let mut sql = QueryBuilder::new(
        "SELECT id, at, organization_id, actor, action, target_type, target_id, details
         FROM audit_log WHERE true",
    );
    if let Some(org) = query.organization {
        sql.push(" AND organization_id = ").push_bind(org);
    }
    if let Some(actor) = &query.actor {
        sql.push(" AND actor = ").push_bind(actor.clone());
    }
    if let Some(action) = &query.action {
        sql.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(before) = query.before {
        sql.push(" AND id < ").push_bind(before);
    }
    sql.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    let rows: Vec<AuditEntry> = sql.build_query_as().fetch_all(&mut *conn).await?;
    let (rows, next) = cut(rows, query.limit, |e| e.id);
    Ok((rows, next))
}
