//! The endpoints an organization registers: where to send, which events,
//! and the secret deliveries are signed with (shown once, at creation and
//! at each rotation; the previous secret stays valid for a set time).

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use reqwest::Url;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::event::EventType;
use crate::access::{OrgAccess, Permission};
use crate::api_keys::random_part;
use crate::page::{Page, PageRequest};
use crate::validation::ValidationErrors;
use crate::{Error, Result, audit};

/// The longest a previous secret may stay valid after a rotation.
pub const MAX_ROTATION_OVERLAP: Duration = Duration::days(7);
/// How long it stays valid when the caller does not say.
pub const DEFAULT_ROTATION_OVERLAP: Duration = Duration::hours(24);

/// Which receivers may be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    /// HTTPS to public addresses only (a service on the internet).
    Public,
    /// Also plain HTTP to this machine (`dev`, and tests).
    AllowLoopback,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    /// Until when the secret before the last rotation still signs.
    pub previous_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A new secret: returned once, never shown again.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    fn generate() -> Self {
        Secret(format!("whsec_{}", random_part(32)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

const COLUMNS: &str = "id, url, description, event_types, disabled_at, disabled_reason, previous_expires_at, created_at";

/// Whether `host` is this machine.
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Whether `ip` is an address no public receiver has: private, link-local
/// (where cloud metadata services answer), unspecified or multicast.
pub(super) fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT (RFC 6598).
                || (v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// A receiver's URL, checked: HTTPS to a public host, or plain HTTP to
/// this machine where `policy` allows; no credentials or fragment.
pub fn check_url(raw: &str, policy: UrlPolicy) -> Result<Url, String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 2048 || raw.chars().any(char::is_control) {
        return Err("must be a URL of at most 2048 characters".to_owned());
    }
    let url = Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
    let host = url.host().ok_or_else(|| "must name a host".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not hold a user name or password; authenticate by the signature".to_owned(),
        );
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".to_owned());
    }
    let loopback = is_loopback(&host);
    if policy == UrlPolicy::AllowLoopback && loopback {
        return match url.scheme() {
            "http" | "https" => Ok(url),
            _ => Err("must be an http or https URL".to_owned()),
        };
    }
    if url.scheme() != "https" {
        return Err("must be an https URL".to_owned());
    }
    let internal = loopback
        || match host {
            url::Host::Ipv4(ip) => is_internal(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => is_internal(IpAddr::V6(ip)),
            url::Host::Domain(_) => false,
        };
    if internal {
        return Err("must be a public address, not this machine or a private network".to_owned());
    }
    Ok(url)
}

/// The event types asked for, checked and without repeats.
fn event_types(errors: &mut ValidationErrors, raw: &[String]) -> Vec<String> {
    if raw.is_empty() {
        errors.add("event_types", "must name at least one event type");
    }
    let mut types: Vec<EventType> = raw
        .iter()
        .filter_map(|t| errors.check("event_types", t.parse::<EventType>()))
        .collect();
    types.sort();
    types.dedup();
    types.iter().map(|t| t.as_str().to_owned()).collect()
}

fn description(errors: &mut ValidationErrors, raw: &str) -> String {
    let text = raw.trim();
    if text.chars().count() > 200 || text.chars().any(char::is_control) {
        errors.add(
            "description",
            "must be at most 200 characters, without control characters",
        );
    }
    text.to_owned()
}

/// A new endpoint, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    url: String,
    description: String,
    event_types: Vec<String>,
}

impl NewEndpoint {
    pub fn parse(
        url: &str,
        description_text: Option<&str>,
        types: &[String],
        policy: UrlPolicy,
    ) -> Result<Self> {
        let mut errors = ValidationErrors::default();
        let url = errors.check("url", check_url(url, policy));
        let description = description(&mut errors, description_text.unwrap_or_default());
        let event_types = event_types(&mut errors, types);
        errors.finish(url.map(|url| NewEndpoint {
            url: url.to_string(),
            description,
            event_types,
        }))
    }
}

/// What a change to an endpoint sets; `None` keeps the field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointChange {
    url: Option<String>,
    description: Option<String>,
    event_types: Option<Vec<String>>,
    enabled: Option<bool>,
}

impl EndpointChange {
    pub fn parse(
        url: Option<&str>,
        description_text: Option<&str>,
        types: Option<&[String]>,
        enabled: Option<bool>,
        policy: UrlPolicy,
    ) -> Result<Self> {
        let mut errors = ValidationErrors::default();
        let url = url.and_then(|u| errors.check("url", check_url(u, policy)));
        let change = EndpointChange {
            url: url.map(|u| u.to_string()),
            description: description_text.map(|d| description(&mut errors, d)),
            event_types: types.map(|t| event_types(&mut errors, t)),
            enabled,
        };
        errors.into_result(change)
    }
}

/// Registers an endpoint; its secret is returned once.
pub async fn create(
    conn: &mut PgConnection,
    access: &OrgAccess,
    new: NewEndpoint,
) -> Result<(WebhookEndpoint, Secret)> {
    access.require(Permission::WebhooksWrite)?;
    let secret = Secret::generate();
    let endpoint: WebhookEndpoint = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhook_endpoints (id, organization_id, url, description, event_types, secret)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(access.organization_id())
    .bind(&new.url)
    .bind(&new.description)
    .bind(&new.event_types)
    .bind(secret.expose())
    .fetch_one(&mut *conn)
    .await?;
    let details = serde_json::json!({ "url": endpoint.url, "event_types": endpoint.event_types });
    audit::record_as(
        conn,
        access,
        "webhook_endpoint.create",
        "webhook_endpoint",
        &endpoint.id.to_string(),
        Some(details),
    )
    .await?;
    Ok((endpoint, secret))
}

pub async fn list(
    conn: &mut PgConnection,
    access: &OrgAccess,
    page: PageRequest,
) -> Result<Page<WebhookEndpoint>> {
    access.require(Permission::WebhooksRead)?;
    let sql = format!(
        "SELECT {COLUMNS} FROM webhook_endpoints
         WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    );
    page.of_organization(conn, sqlx::AssertSqlSafe(sql), access.organization_id())
        .await
}

pub async fn get(conn: &mut PgConnection, access: &OrgAccess, id: Uuid) -> Result<WebhookEndpoint> {
    access.require(Permission::WebhooksRead)?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE organization_id = $1 AND id = $2"
    )))
    .bind(access.organization_id())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found("webhook endpoint"))
}

/// Changes an endpoint. Enabling one that was disabled starts its failure
/// clock again; its waiting deliveries then go out.
pub async fn update(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
    change: EndpointChange,
) -> Result<WebhookEndpoint> {
    access.require(Permission::WebhooksWrite)?;
    let endpoint: WebhookEndpoint = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_endpoints SET
             url = coalesce($3, url),
             description = coalesce($4, description),
             event_types = coalesce($5, event_types),
             disabled_at = CASE WHEN $6 IS NULL THEN disabled_at
                                WHEN $6 THEN NULL
                                ELSE coalesce(disabled_at, now()) END,
             disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason
                                    WHEN $6 THEN NULL
                                    ELSE coalesce(disabled_reason, 'disabled by the organization') END,
             failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END,
             updated_at = now()
         WHERE organization_id = $1 AND id = $2
         RETURNING {COLUMNS}"
    )))
    .bind(access.organization_id())
    .bind(id)
    .bind(&change.url)
    .bind(&change.description)
    .bind(&change.event_types)
    .bind(change.enabled)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found("webhook endpoint"))?;
    let details = serde_json::json!({
        "url": change.url, "event_types": change.event_types, "enabled": change.enabled,
    });
    audit::record_as(
        conn,
        access,
        "webhook_endpoint.update",
        "webhook_endpoint",
        &id.to_string(),
        Some(details),
    )
    .await?;
    Ok(endpoint)
}

/// Deletes an endpoint with its deliveries.
pub async fn delete(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
) -> Result<WebhookEndpoint> {
    access.require(Permission::WebhooksWrite)?;
    let endpoint: WebhookEndpoint = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "DELETE FROM webhook_endpoints WHERE organization_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(access.organization_id())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found("webhook endpoint"))?;
    audit::record_as(
        conn,
        access,
        "webhook_endpoint.delete",
        "webhook_endpoint",
        &id.to_string(),
        None,
    )
    .await?;
    Ok(endpoint)
}

/// How long the secret being replaced keeps signing: given in seconds, at
/// most [`MAX_ROTATION_OVERLAP`]; 0 ends it at once.
pub fn rotation_overlap(seconds: Option<i64>) -> Result<Duration> {
    match seconds {
        None => Ok(DEFAULT_ROTATION_OVERLAP),
        Some(s) if (0..=MAX_ROTATION_OVERLAP.num_seconds()).contains(&s) => {
            Ok(Duration::seconds(s))
        }
        Some(s) => Err(Error::Validation(ValidationErrors::single(
            "expires_in_seconds",
            format!(
                "must be a whole number from 0 to {}; got {s}",
                MAX_ROTATION_OVERLAP.num_seconds()
            ),
        ))),
    }
}

/// Replaces the secret; the one replaced still signs for `overlap`.
pub async fn rotate(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
    overlap: Duration,
    now: DateTime<Utc>,
) -> Result<(WebhookEndpoint, Secret)> {
    access.require(Permission::WebhooksWrite)?;
    let secret = Secret::generate();
    let endpoint: WebhookEndpoint = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_endpoints
         SET previous_secret = secret, previous_expires_at = $4, secret = $3, updated_at = now()
         WHERE organization_id = $1 AND id = $2
         RETURNING {COLUMNS}"
    )))
    .bind(access.organization_id())
    .bind(id)
    .bind(secret.expose())
    .bind(now + overlap)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found("webhook endpoint"))?;
    let details = serde_json::json!({ "previous_expires_at": endpoint.previous_expires_at });
    audit::record_as(
        conn,
        access,
        "webhook_endpoint.rotate_secret",
        "webhook_endpoint",
        &id.to_string(),
        Some(details),
    )
    .await?;
    Ok((endpoint, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_must_be_public_https_unless_loopback_is_allowed() {
        use UrlPolicy::*;
        assert!(check_url("https://hooks.example.com/qm", Public).is_ok());
        for (url, policy) in [
            ("http://hooks.example.com/qm", Public),
            ("http://hooks.example.com/qm", AllowLoopback),
            ("http://127.0.0.1:9000/hook", Public),
            ("https://127.0.0.1:9000/hook", Public),
            ("https://localhost/hook", Public),
            ("https://10.1.2.3/hook", Public),
            ("https://169.254.169.254/latest/meta-data", Public),
            ("https://100.64.0.1/", Public),
            ("https://[::1]/", Public),
            ("https://[fd00::1]/", Public),
            ("https://[::ffff:192.168.0.1]/", Public),
            ("https://user:pw@hooks.example.com/", Public),
            ("https://hooks.example.com/#x", Public),
            ("ftp://127.0.0.1/", AllowLoopback),
            ("not a url", Public),
            ("", Public),
            ("https://hooks.example.com/\0", Public),
        ] {
            assert!(check_url(url, policy).is_err(), "{url} {policy:?}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", AllowLoopback).is_ok());
        assert!(check_url("http://localhost:9000/hook", AllowLoopback).is_ok());
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(2100)), Public).is_err());
    }

    #[test]
    fn event_types_are_named_checked_and_deduplicated() {
        let parsed = NewEndpoint::parse(
            "https://e.com/",
            None,
            &[
                "invoice.paid".to_owned(),
                "cluster.ready".to_owned(),
                "invoice.paid".to_owned(),
            ],
            UrlPolicy::Public,
        )
        .unwrap();
        assert_eq!(parsed.event_types, ["cluster.ready", "invoice.paid"]);
        let Err(Error::Validation(errors)) = NewEndpoint::parse(
            "http://e.com/",
            Some("x\u{7}"),
            &["cluster.exploded".to_owned()],
            UrlPolicy::Public,
        ) else {
            panic!("refused")
        };
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "description", "event_types"]);
        assert!(NewEndpoint::parse("https://e.com/", None, &[], UrlPolicy::Public).is_err());
    }

    #[test]
    fn a_rotation_overlap_is_bounded() {
        assert_eq!(rotation_overlap(None).unwrap(), DEFAULT_ROTATION_OVERLAP);
        assert_eq!(rotation_overlap(Some(0)).unwrap(), Duration::zero());
        assert!(rotation_overlap(Some(-1)).is_err());
        assert!(rotation_overlap(Some(MAX_ROTATION_OVERLAP.num_seconds() + 1)).is_err());
    }

    #[test]
    fn a_secret_is_never_printed() {
        let secret = Secret::generate();
        assert!(secret.expose().starts_with("whsec_"));
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }
}
