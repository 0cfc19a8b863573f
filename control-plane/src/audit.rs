//! The audit log: one row per change, written in the change's transaction;
//! read newest first by an organization (its own entries only) and by the
//! platform's administrators (any).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, QueryBuilder};
use uuid::Uuid;

use crate::access::{OrgAccess, Permission};
use crate::admin::query::cut;
use crate::validation::ValidationErrors;
use crate::{Error, Result};

/// Records `action` by `actor` on a target, with `details` (an empty
/// object where there is nothing more to say).
pub async fn record(
    conn: &mut PgConnection,
    organization_id: Option<Uuid>,
    actor: &str,
    action: &str,
    target_type: &str,
    target_id: &str,
    details: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (organization_id, actor, action, target_type, target_id, details)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(organization_id)
    .bind(actor)
    .bind(action)
    .bind(target_type)
    .bind(target_id)
    .bind(details)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a change made through `access`: in its organization, by its
/// principal; `details` where there is more to say than the target.
pub async fn record_as(
    conn: &mut PgConnection,
    access: &OrgAccess,
    action: &str,
    target_type: &str,
    target_id: &str,
    details: Option<serde_json::Value>,
) -> Result<()> {
    record(
        conn,
        Some(access.organization_id()),
        &access.principal().actor(),
        action,
        target_type,
        target_id,
        details.unwrap_or_else(|| serde_json::json!({})),
    )
    .await
}

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

impl AuditQuery {
    /// Checks a filter's text: at most 200 characters, none a control
    /// character (PostgreSQL refuses a NUL).
    pub fn filter(field: &str, raw: Option<&str>) -> Result<Option<String>> {
        let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if text.chars().count() > 200 || text.chars().any(char::is_control) {
            return Err(Error::Validation(ValidationErrors::single(
                field,
                "must be at most 200 characters, without control characters",
            )));
        }
        Ok(Some(text.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub organization_id: Option<Uuid>,
    /// `user:<id>`, `api_key:<id>`, `admin:<id>` or `system…`.
    pub actor: String,
    /// The user's email or the API key's name, where the actor is one.
    pub actor_name: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
}

/// A page of entries, newest first, and the id to continue before.
pub(crate) async fn entries(
    conn: &mut PgConnection,
    query: &AuditQuery,
) -> Result<(Vec<AuditEntry>, Option<i64>)> {
    // The actor's name by primary key, its id being the actor's tail (the
    // CASE casts only what has a uuid's shape).
    let mut sql = QueryBuilder::new(
        "SELECT a.id, a.at, a.organization_id, a.actor, coalesce(u.email, k.name) AS actor_name,
                a.action, a.target_type, a.target_id, a.details
         FROM audit_log a
         LEFT JOIN users u ON u.id = CASE WHEN a.actor ~ '^user:[0-9a-f-]{36}$'
                                          THEN substr(a.actor, 6)::uuid END
         LEFT JOIN api_keys k ON k.id = CASE WHEN a.actor ~ '^api_key:[0-9a-f-]{36}$'
                                             THEN substr(a.actor, 9)::uuid END
         WHERE true",
    );
    if let Some(org) = query.organization {
        sql.push(" AND a.organization_id = ").push_bind(org);
    }
    if let Some(actor) = &query.actor {
        sql.push(" AND a.actor = ").push_bind(actor.clone());
    }
    if let Some(action) = &query.action {
        sql.push(" AND a.action = ").push_bind(action.clone());
    }
    if let Some(before) = query.before {
        sql.push(" AND a.id < ").push_bind(before);
    }
    sql.push(" ORDER BY a.id DESC LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    let rows: Vec<AuditEntry> = sql.build_query_as().fetch_all(&mut *conn).await?;
    Ok(cut(rows, query.limit, |e| e.id))
}

/// A page of the organization's own audit log (its `organization` filter
/// is always the organization's).
pub async fn list(
    conn: &mut PgConnection,
    access: &OrgAccess,
    query: AuditQuery,
) -> Result<(Vec<AuditEntry>, Option<i64>)> {
    access.require(Permission::AuditRead)?;
    let query = AuditQuery {
        organization: Some(access.organization_id()),
        ..query
    };
    entries(conn, &query).await
}
