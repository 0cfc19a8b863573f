//! Inference key operations over `inference_keys`, every statement scoped
//! by the caller's organization.

use billing::{Catalog, entitlements};
use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{CreateInferenceKey, InferenceKey, Token, column, new_token};
use crate::access::{OrgAccess, Permission};
use crate::page::{Page, PageRequest};
use crate::validation::ValidationErrors;
use crate::{Error, Result, audit, organizations};

const COLUMNS: &str = "id, name, prefix, endpoint_id, expires_at, requests_per_minute, \
     tokens_per_minute, created_at, revoked_at";

/// Creates a key; the token is returned this once and only its hash kept.
pub async fn create(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    request: &CreateInferenceKey,
) -> Result<(InferenceKey, Token)> {
    access.require(Permission::InferenceKeysWrite)?;
    let mut errors = ValidationErrors::default();
    let parsed = request.parse(Utc::now(), &mut errors);
    if let Some(endpoint_id) = request.endpoint_id
        && !endpoint_is_live(conn, access, endpoint_id).await?
    {
        errors.add(
            "endpoint_id",
            "no endpoint with this id in this organization",
        );
    }
    let new = errors.finish(parsed)?;
    let plan = organizations::lock_plan(conn, access, catalog).await?;
    entitlements::may_limit_inference_key(plan, new.limits)?;
    let (prefix, token) = new_token();
    let sql = format!(
        "INSERT INTO inference_keys (id, organization_id, endpoint_id, name, prefix, hash,
             expires_at, requests_per_minute, tokens_per_minute)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING {COLUMNS}"
    );
    let key: InferenceKey = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::now_v7())
        .bind(access.organization_id())
        .bind(new.endpoint_id)
        .bind(&new.name)
        .bind(&prefix)
        .bind(crds::gateway::key_hash(token.expose()))
        .bind(new.expires_at)
        .bind(column(new.limits.requests_per_minute))
        .bind(column(new.limits.tokens_per_minute))
        .fetch_one(&mut *conn)
        .await?;
    let details = serde_json::json!({
        "endpoint_id": key.endpoint_id,
        "expires_at": key.expires_at,
        "requests_per_minute": key.requests_per_minute,
        "tokens_per_minute": key.tokens_per_minute,
    });
    let id = key.id.to_string();
    audit::record_as(
        conn,
        access,
        "inference_key.create",
        "inference_key",
        &id,
        Some(details),
    )
    .await?;
    Ok((key, token))
}

/// Whether the organization has this endpoint, not being deleted.
async fn endpoint_is_live(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM inference_endpoints
                        WHERE organization_id = $1 AND id = $2 AND deletion_requested_at IS NULL)",
    )
    .bind(access.organization_id())
    .bind(id)
    .fetch_one(&mut *conn)
    .await?)
}

/// The organization's keys, revoked ones included, oldest first.
pub async fn list(
    conn: &mut PgConnection,
    access: &OrgAccess,
    page: PageRequest,
) -> Result<Page<InferenceKey>> {
    access.require(Permission::InferenceKeysRead)?;
    let sql = format!(
        "SELECT {COLUMNS} FROM inference_keys
         WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    );
    page.of_organization(conn, sqlx::AssertSqlSafe(sql), access.organization_id())
        .await
}

/// The keys not revoked that may call `endpoint_id`: its own and the
/// organization-wide ones (at most 100, the newest), as its page lists them.
pub async fn for_endpoint(
    conn: &mut PgConnection,
    access: &OrgAccess,
    endpoint_id: Uuid,
) -> Result<Vec<InferenceKey>> {
    access.require(Permission::InferenceKeysRead)?;
    let sql = format!(
        "SELECT {COLUMNS} FROM inference_keys
         WHERE organization_id = $1 AND revoked_at IS NULL
           AND (endpoint_id IS NULL OR endpoint_id = $2)
         ORDER BY id DESC LIMIT 100"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(access.organization_id())
        .bind(endpoint_id)
        .fetch_all(&mut *conn)
        .await?)
}

/// One of the organization's keys (revoked or not).
pub async fn get(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<InferenceKey> {
    access.require(Permission::InferenceKeysRead)?;
    let sql =
        format!("SELECT {COLUMNS} FROM inference_keys WHERE organization_id = $1 AND id = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(access.organization_id())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::not_found("inference key"))
}

/// Revokes a key: it leaves the key set gateways fetch next. Revoking a
/// revoked key changes nothing.
pub async fn revoke(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<InferenceKey> {
    access.require(Permission::InferenceKeysWrite)?;
    let sql = format!(
        "UPDATE inference_keys SET revoked_at = coalesce(revoked_at, now())
         WHERE organization_id = $1 AND id = $2
         RETURNING {COLUMNS}"
    );
    let key: InferenceKey = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(access.organization_id())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::not_found("inference key"))?;
    audit::record_as(
        conn,
        access,
        "inference_key.revoke",
        "inference_key",
        &id.to_string(),
        None,
    )
    .await?;
    Ok(key)
}
