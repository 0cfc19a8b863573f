//! Organization API keys: created once and shown once, stored hashed,
//! revocable, each limited to a set of scopes.
//!
//! A token reads `qm_<prefix>_<secret>`: the prefix (public, shown in lists)
//! finds the row; a SHA-256 of the whole token must then match in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::access::{OrgAccess, Permission, Principal};
use crate::page::{Page, PageRequest};
use crate::validation::ValidationErrors;
use crate::{Error, Result, audit};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    #[sqlx(try_from = "Vec<String>")]
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Scopes(pub Vec<Permission>);

impl TryFrom<Vec<String>> for Scopes {
    type Error = String;

    fn try_from(value: Vec<String>) -> Result<Self, Self::Error> {
        value
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()
            .map(Scopes)
    }
}

/// The secret token of a new key: returned once, never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(pub(crate) String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A new key's name and scopes, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    name: String,
    scopes: Vec<Permission>,
}

/// Scopes a key gets when none are asked for: everything it takes to run
/// workloads, nothing that manages people or keys.
pub const DEFAULT_SCOPES: [Permission; 5] = [
    Permission::ClustersRead,
    Permission::ClustersWrite,
    Permission::EndpointsRead,
    Permission::EndpointsWrite,
    Permission::UsageRead,
];

impl NewApiKey {
    pub fn parse(name: &str, scopes: Option<Vec<String>>) -> Result<NewApiKey> {
        let mut errors = ValidationErrors::default();
        let name = errors.check("name", key_name(name)).unwrap_or_default();
        let scopes = match scopes {
            None => DEFAULT_SCOPES.to_vec(),
            Some(raw) if raw.is_empty() => {
                errors.add("scopes", "must name at least one scope");
                vec![]
            }
            Some(raw) => {
                let mut parsed: Vec<Permission> = raw
                    .iter()
                    .filter_map(|s| errors.check("scopes", s.parse::<Permission>()))
                    .collect();
                parsed.sort_by_key(|p| p.as_str());
                parsed.dedup();
                parsed
            }
        };
        errors.into_result(NewApiKey {
            name: name.to_owned(),
            scopes,
        })
    }
}

/// A key's name (API or inference key), trimmed: 1 to 100 characters,
/// without control characters.
pub(crate) fn key_name(raw: &str) -> Result<&str, &'static str> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err("must be 1 to 100 characters, without control characters");
    }
    Ok(name)
}

/// `bytes` random bytes as URL-safe text without `-` or `_`, so that `_`
/// can separate a token's parts.
pub(crate) fn random_part(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf).replace(['-', '_'], "x")
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Splits `qm_<prefix>_<secret>`; `None` when the shape is wrong.
fn prefix_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("qm_")?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == 8 && !secret.is_empty()).then_some(prefix)
}

/// Creates a key. A caller cannot hand out a scope it does not hold itself.
pub async fn create(
    conn: &mut PgConnection,
    access: &OrgAccess,
    new: NewApiKey,
) -> Result<(ApiKey, Token)> {
    access.require(Permission::ApiKeysWrite)?;
    for scope in &new.scopes {
        access.require(*scope)?;
    }
    let prefix = random_part(6);
    let token = format!("qm_{prefix}_{}", random_part(24));
    let scopes: Vec<&str> = new.scopes.iter().map(|s| s.as_str()).collect();
    let created_by = match access.principal() {
        Principal::User { user_id } => Some(*user_id),
        Principal::ApiKey { .. } => None,
    };
    let key: ApiKey = sqlx::query_as(
        "INSERT INTO api_keys (id, organization_id, name, prefix, token_hash, scopes, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, name, prefix, scopes, created_at, last_used_at, revoked_at",
    )
    .bind(Uuid::now_v7())
    .bind(access.organization_id())
    .bind(&new.name)
    .bind(&prefix)
    .bind(digest(&token))
    .bind(&scopes)
    .bind(created_by)
    .fetch_one(&mut *conn)
    .await?;
    audit::record_as(
        conn,
        access,
        "api_key.create",
        "api_key",
        &key.id.to_string(),
        None,
    )
    .await?;
    Ok((key, Token(token)))
}

pub async fn list(
    conn: &mut PgConnection,
    access: &OrgAccess,
    page: PageRequest,
) -> Result<Page<ApiKey>> {
    access.require(Permission::ApiKeysRead)?;
    let sql = "SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at
         FROM api_keys WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3";
    page.of_organization(conn, sql, access.organization_id())
        .await
}

/// One of the organization's keys (revoked or not); never its secret.
pub async fn get(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<ApiKey> {
    access.require(Permission::ApiKeysRead)?;
    sqlx::query_as(
        "SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at
         FROM api_keys WHERE organization_id = $1 AND id = $2",
    )
    .bind(access.organization_id())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found("API key"))
}

/// Revokes a key at once. Revoking a revoked key changes nothing.
pub async fn revoke(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<ApiKey> {
    access.require(Permission::ApiKeysWrite)?;
    let key: ApiKey = sqlx::query_as(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
         WHERE organization_id = $1 AND id = $2
         RETURNING id, name, prefix, scopes, created_at, last_used_at, revoked_at",
    )
    .bind(access.organization_id())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found("API key"))?;
    audit::record_as(
        conn,
        access,
        "api_key.revoke",
        "api_key",
        &id.to_string(),
        None,
    )
    .await?;
    Ok(key)
}

#[derive(sqlx::FromRow)]
struct StoredKey {
    id: Uuid,
    organization_id: Uuid,
    token_hash: Vec<u8>,
    #[sqlx(try_from = "Vec<String>")]
    scopes: Scopes,
    revoked_at: Option<DateTime<Utc>>,
}

/// The principal a bearer token stands for.
pub async fn authenticate(conn: &mut PgConnection, token: &str) -> Result<Principal> {
    let prefix = prefix_of(token).ok_or(Error::InvalidApiKey)?;
    let row: StoredKey = sqlx::query_as(
        "SELECT id, organization_id, token_hash, scopes, revoked_at FROM api_keys WHERE prefix = $1",
    )
    .bind(prefix)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::InvalidApiKey)?;
    if !constant_time_eq(&row.token_hash, &digest(token)) {
        return Err(Error::InvalidApiKey);
    }
    if row.revoked_at.is_some() {
        return Err(Error::ApiKeyRevoked);
    }
    let StoredKey {
        id: key_id,
        organization_id,
        scopes,
        ..
    } = row;
    // Coarse on purpose: one write a minute per key, not one per request.
    sqlx::query(
        "UPDATE api_keys SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind(key_id)
    .execute(&mut *conn)
    .await?;
    Ok(Principal::ApiKey {
        key_id,
        organization_id,
        scopes: scopes.0,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_documented_shape() {
        let prefix = random_part(6);
        assert_eq!(prefix.len(), 8);
        let token = format!("qm_{prefix}_{}", random_part(24));
        assert_eq!(prefix_of(&token), Some(prefix.as_str()));
        for bad in [
            "",
            "qm_",
            "qm_abc_def",
            "sk_abcdefgh_secret",
            "qm_abcdefgh_",
        ] {
            assert_eq!(prefix_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn scopes_default_dedupe_and_name_unknown_ones() {
        let key = NewApiKey::parse("ci", None).unwrap();
        assert_eq!(key.scopes, DEFAULT_SCOPES.to_vec());
        let key = NewApiKey::parse(
            "ci",
            Some(vec!["clusters:read".into(), "clusters:read".into()]),
        )
        .unwrap();
        assert_eq!(key.scopes, vec![Permission::ClustersRead]);
        let Err(Error::Validation(errors)) =
            NewApiKey::parse("", Some(vec!["clusters:nuke".into()]))
        else {
            panic!("expected validation errors");
        };
        let fields: Vec<_> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "scopes"]);
    }

    #[test]
    fn equal_digests_compare_equal_and_others_do_not() {
        assert!(constant_time_eq(&digest("a"), &digest("a")));
        assert!(!constant_time_eq(&digest("a"), &digest("b")));
        assert!(!constant_time_eq(b"a", b"ab"));
    }
}
