//! Data planes: where clusters run, one per region. A data plane is a
//! Kubernetes cluster whose operator connects to the control plane and pulls
//! its desired state ([`enrollment`], [`desired`]); one registered before
//! that, still reached through a kubeconfig until it is switched; or the
//! simulated one that `quartermaster dev` uses on a laptop.

pub mod changes;
pub mod desired;
pub mod enrollment;
pub mod own;
mod secret;
pub mod standing;

use serde::Serialize;
use sqlx::PgConnection;
use std::collections::HashSet;

use uuid::Uuid;

use crate::error::on_unique;
use crate::validation::ValidationErrors;
use crate::{Conflict, Error, Result};

/// A region customers can place clusters in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Region {
    pub region: String,
    /// The data plane is simulated: clusters there serve nothing.
    pub simulated: bool,
    /// The data plane runs in the organization's own Kubernetes.
    pub customer_run: bool,
}

/// Registers (or finds) the simulated data plane for `region`.
pub async fn ensure_simulated(conn: &mut PgConnection, name: &str, region: &str) -> Result<Uuid> {
    let id = sqlx::query_scalar(
        "INSERT INTO data_planes (id, name, region, kind, backup_destination)
         VALUES ($1, $2, $3, 'simulated', $4)
         ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(region)
    .bind(serde_json::json!({
        "bucket": "simulated", "endpoint": "http://backups.simulated.invalid",
        "region": "local", "credentialsSecret": "simulated"
    }))
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// A registration refused because the name or the region is taken.
fn taken(err: sqlx::Error, name: &str, region: &str) -> Error {
    let name_taken = on_unique(
        "data_planes_name_key",
        Conflict::DataPlaneExists(format!("a data plane named `{name}`")),
    );
    match name_taken(err) {
        crate::Error::Database(err) => on_unique(
            "data_planes_region_key",
            Conflict::DataPlaneExists(format!("a data plane for region `{region}`")),
        )(err),
        other => other,
    }
}

/// The id of the data plane named `name`.
pub async fn id_of(conn: &mut PgConnection, name: &str) -> Result<Uuid> {
    sqlx::query_scalar("SELECT id FROM data_planes WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound {
            resource: "data plane",
        })
}

/// Where a data plane's inference gateway answers customers: an
/// `http(s)://` URL without trailing `/`, to which clients add `/v1`.
pub fn gateway_url(raw: &str) -> Result<String> {
    let url = raw.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match host {
        Some(host)
            if !host.is_empty() && !url.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(url.to_owned())
        }
        _ => Err(Error::Validation(ValidationErrors::single(
            "gateway_url",
            format!("`{raw}` is not an http:// or https:// URL"),
        ))),
    }
}

/// Sets (or, with `None`, clears) where the gateway of the data plane
/// named `name` answers; see [`gateway_url`].
pub async fn set_gateway_url(conn: &mut PgConnection, name: &str, url: Option<&str>) -> Result<()> {
    let url = url.map(gateway_url).transpose()?;
    let updated = sqlx::query("UPDATE data_planes SET gateway_url = $2 WHERE name = $1")
        .bind(name)
        .bind(url)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if updated == 0 {
        return Err(Error::not_found("data plane"));
    }
    Ok(())
}

/// The regions open to everyone, and with `organization_id` that
/// organization's own (customer-run) ones too.
pub async fn regions(
    conn: &mut PgConnection,
    organization_id: Option<Uuid>,
) -> Result<Vec<Region>> {
    Ok(sqlx::query_as(
        "SELECT region, kind = 'simulated' AS simulated,
                organization_id IS NOT NULL AS customer_run
         FROM data_planes
         WHERE organization_id IS NULL OR organization_id = $1
         ORDER BY region",
    )
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// The data plane that serves `region`, for a resource of organization
/// `organization_id` being made there; an unknown region is a field error
/// in `errors` naming those there are. Another organization's customer-run
/// region is unknown, as if it did not exist. An invalid name is left to
/// the request's own parse, which says why.
pub(crate) async fn placing(
    conn: &mut PgConnection,
    region: &str,
    organization_id: Uuid,
    errors: &mut ValidationErrors,
) -> Result<Option<Uuid>> {
    let Ok(valid) = crate::validation::region(region) else {
        return Ok(None);
    };
    let found = sqlx::query_scalar(
        "SELECT id FROM data_planes
         WHERE region = $1 AND (organization_id IS NULL OR organization_id = $2)",
    )
    .bind(valid)
    .bind(organization_id)
    .fetch_optional(&mut *conn)
    .await?;
    if found.is_none() {
        let known: Vec<String> = regions(conn, Some(organization_id))
            .await?
            .into_iter()
            .map(|r| r.region)
            .collect();
        errors.add(
            "region",
            format!("unknown region `{region}`; available: {}", known.join(", ")),
        );
    }
    Ok(found)
}

/// A new ingest token for a data plane's usage collector, replacing any
/// previous one. Shown once; only its SHA-256 is kept.
pub async fn issue_ingest_token(conn: &mut PgConnection, data_plane_id: Uuid) -> Result<String> {
    let (token, token_hash) = secret::new_token("qmdp_");
    let updated = sqlx::query("UPDATE data_planes SET ingest_token_hash = $2 WHERE id = $1")
        .bind(data_plane_id)
        .bind(token_hash)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if updated == 0 {
        return Err(Error::NotFound {
            resource: "data plane",
        });
    }
    Ok(token)
}

/// The data plane a usage report comes from: by its ingest token, or by a
/// connected data plane's own credential.
pub async fn authenticate_ingest(conn: &mut PgConnection, token: &str) -> Result<Uuid> {
    if token.starts_with(crds::sync::CREDENTIAL_PREFIX) {
        return Ok(enrollment::authenticate(conn, token, chrono::Utc::now())
            .await?
            .id);
    }
    if !token.starts_with("qmdp_") {
        return Err(Error::InvalidApiKey);
    }
    sqlx::query_scalar(
        "SELECT id FROM data_planes WHERE ingest_token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(secret::hash(token))
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::InvalidApiKey)
}

/// Of `pairs` (organization, cluster or endpoint), those that run in this
/// data plane: a data plane reports usage for its own tenants only.
pub async fn tenants(
    conn: &mut PgConnection,
    data_plane_id: Uuid,
    pairs: &[(Uuid, Uuid)],
) -> Result<HashSet<(Uuid, Uuid)>> {
    let (orgs, resources): (Vec<Uuid>, Vec<Uuid>) = pairs.iter().copied().unzip();
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT p.o, p.r FROM UNNEST($2::uuid[], $3::uuid[]) AS p(o, r)
         WHERE EXISTS (SELECT 1 FROM vector_clusters c
                       WHERE c.organization_id = p.o AND c.id = p.r AND c.data_plane_id = $1)
            OR EXISTS (SELECT 1 FROM inference_endpoints e
                       WHERE e.organization_id = p.o AND e.id = p.r AND e.data_plane_id = $1)",
    )
    .bind(data_plane_id)
    .bind(&orgs)
    .bind(&resources)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_url_is_http_without_a_trailing_slash() {
        assert_eq!(
            gateway_url(" https://inference.eu.example.com/ ").unwrap(),
            "https://inference.eu.example.com"
        );
        assert_eq!(
            gateway_url("http://10.0.0.7:8080").unwrap(),
            "http://10.0.0.7:8080"
        );
        for bad in [
            "",
            "inference.example.com",
            "https://",
            "https://a b",
            "ftp://x",
        ] {
            assert!(gateway_url(bad).is_err(), "{bad:?}");
        }
    }
}
