//! How a connected data plane gets and keeps its credential: a one-time
//! enrollment token (printed when the data plane is registered, given to the
//! operator chart) is exchanged once for a long-lived credential. Only the
//! SHA-256 of either is kept. Credentials rotate, with a short grace for
//! the one rotated out; a revoked data plane gets nothing.

use chrono::{DateTime, Duration, Utc};
use crds::sync::{
    CREDENTIAL_PREFIX, ENROLLMENT_PREFIX, Enrolled, Identity, ROTATION_GRACE_SECONDS,
};
use sqlx::PgConnection;
use uuid::Uuid;

use super::secret::{hash, new_token};
use crate::validation::ValidationErrors;
use crate::{Error, Result, audit};

/// How long an enrollment token can be used, unless told otherwise.
pub const ENROLLMENT_TTL: Duration = Duration::hours(24);
/// How often a data plane's last contact is written: at most once in this
/// time, so that a busy data plane does not write on every request.
const SEEN_EVERY: Duration = Duration::seconds(15);

/// Why an enrollment token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the enrollment token is not known")]
    Unknown,
    #[error("the enrollment token was already used; ask for a new one")]
    Used,
    #[error("the enrollment token has expired; ask for a new one")]
    Expired,
    #[error("the data plane has been revoked")]
    Revoked,
}

/// A new data plane to register.
#[derive(Debug, Clone)]
pub struct NewDataPlane<'a> {
    pub name: &'a str,
    pub region: &'a str,
    /// A customer-run data plane serves this organization only.
    pub organization_id: Option<Uuid>,
    /// The catalog price list its usage is rated by.
    pub price_list: Option<&'a str>,
    /// The operator chart names a bucket: backups are offered there.
    pub backups: bool,
    pub gateway_url: Option<&'a str>,
}

/// The destination a connected data plane's clusters are given: an empty
/// bucket, which the data plane fills with its own (see `crds::sync`).
fn in_data_plane() -> serde_json::Value {
    serde_json::json!({
        "bucket": "", "endpoint": "", "region": "",
        "credentialsSecret": crds::tenant::BACKUP_CREDENTIALS_SECRET,
    })
}

/// Registers a connected data plane and returns its id and a one-time
/// enrollment token, valid for `ttl`. No kubeconfig is asked for or kept.
pub async fn register(
    conn: &mut PgConnection,
    plane: &NewDataPlane<'_>,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<(Uuid, String)> {
    let region = crate::validation::region(plane.region)
        .map_err(|why| Error::Validation(ValidationErrors::single("region", why)))?;
    let gateway_url = plane.gateway_url.map(super::gateway_url).transpose()?;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO data_planes (id, name, region, kind, organization_id, price_list,
                                  backup_destination, gateway_url)
         VALUES ($1, $2, $3, 'connected', $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(plane.name)
    .bind(region)
    .bind(plane.organization_id)
    .bind(plane.price_list)
    .bind(plane.backups.then(in_data_plane))
    .bind(gateway_url)
    .execute(&mut *conn)
    .await
    .map_err(|err| super::taken(err, plane.name, region))?;
    let token = issue(conn, id, ttl, now).await?;
    Ok((id, token))
}

/// A new enrollment token for data plane `id` (one registered, or one
/// pushed to today that is to be switched), valid for `ttl`; earlier
/// unused ones stop working.
pub async fn issue(
    conn: &mut PgConnection,
    id: Uuid,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<String> {
    let kind: Option<String> = sqlx::query_scalar(
        "SELECT kind FROM data_planes WHERE id = $1 AND revoked_at IS NULL FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if kind.is_none_or(|k| k == "simulated") {
        return Err(Error::not_found("data plane"));
    }
    sqlx::query("DELETE FROM data_plane_enrollments WHERE data_plane_id = $1 AND used_at IS NULL")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let (token, token_hash) = new_token(ENROLLMENT_PREFIX);
    sqlx::query(
        "INSERT INTO data_plane_enrollments (token_hash, data_plane_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(id)
    .bind(now)
    .bind(now + ttl)
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// Exchanges an enrollment token for the data plane's credential, once.
/// A data plane pushed to until now is switched by it: from here on it
/// pulls, and its kubeconfig and bucket key are deleted.
pub async fn enroll(conn: &mut PgConnection, token: &str, now: DateTime<Utc>) -> Result<Enrolled> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    /// The token's data plane, its expiry, its use, and the plane's revocation.
    type Found = (Uuid, DateTime<Utc>, Option<DateTime<Utc>>, bool);
    let found: Option<Found> = sqlx::query_as(
        "SELECT e.data_plane_id, e.expires_at, e.used_at, d.revoked_at IS NOT NULL
         FROM data_plane_enrollments e JOIN data_planes d ON d.id = e.data_plane_id
         WHERE e.token_hash = $1 FOR UPDATE OF e",
    )
    .bind(hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let id = match found {
        _ if !token.starts_with(ENROLLMENT_PREFIX) => Err(Refusal::Unknown),
        None => Err(Refusal::Unknown),
        Some((_, _, _, true)) => Err(Refusal::Revoked),
        Some((_, _, Some(_), _)) => Err(Refusal::Used),
        Some((_, expires, None, _)) if expires <= now => Err(Refusal::Expired),
        Some((id, ..)) => Ok(id),
    }
    .map_err(Error::EnrollmentRefused)?;
    sqlx::query("UPDATE data_plane_enrollments SET used_at = $2 WHERE token_hash = $1")
        .bind(hash(token))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let switched: Option<bool> = sqlx::query_scalar(
        "UPDATE data_planes d
         SET kind = 'connected', kubeconfig = NULL, backup_credentials = NULL,
             backup_destination = CASE WHEN d.backup_destination IS NULL THEN NULL ELSE $3 END,
             last_seen_at = $2
         FROM (SELECT id, kind FROM data_planes WHERE id = $1 FOR UPDATE) AS before
         WHERE d.id = before.id
         RETURNING before.kind = 'kubernetes'",
    )
    .bind(id)
    .bind(now)
    .bind(in_data_plane())
    .fetch_optional(&mut *tx)
    .await?;
    let credential = add_credential(&mut tx, id, now).await?;
    audit::record(
        &mut tx,
        None,
        "system:enrollment",
        if switched == Some(true) {
            "data_plane.switched"
        } else {
            "data_plane.enrolled"
        },
        "data_plane",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    let data_plane = identity(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Enrolled {
        data_plane,
        credential,
    })
}

async fn add_credential(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<String> {
    let (credential, credential_hash) = new_token(CREDENTIAL_PREFIX);
    sqlx::query(
        "INSERT INTO data_plane_credentials (token_hash, data_plane_id, created_at)
         VALUES ($1, $2, $3)",
    )
    .bind(credential_hash)
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(credential)
}

async fn identity(conn: &mut PgConnection, id: Uuid) -> Result<Identity> {
    let (name, region, organization_id): (String, String, Option<Uuid>) =
        sqlx::query_as("SELECT name, region, organization_id FROM data_planes WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(Identity {
        id,
        name,
        region,
        organization_id,
    })
}

/// The connected data plane a credential belongs to, noting that it was
/// heard from. A revoked data plane's credential is refused as such.
pub async fn authenticate(
    conn: &mut PgConnection,
    credential: &str,
    now: DateTime<Utc>,
) -> Result<Identity> {
    if !credential.starts_with(CREDENTIAL_PREFIX) {
        return Err(Error::InvalidApiKey);
    }
    // The data plane and its revocation in the one query every sync
    // request makes.
    type Found = (Uuid, String, String, Option<Uuid>, bool);
    let found: Option<Found> = sqlx::query_as(
        "SELECT d.id, d.name, d.region, d.organization_id, d.revoked_at IS NOT NULL
         FROM data_plane_credentials c JOIN data_planes d ON d.id = c.data_plane_id
         WHERE c.token_hash = $1 AND (c.expires_at IS NULL OR c.expires_at > $2)",
    )
    .bind(hash(credential))
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let identity = match found {
        None => return Err(Error::InvalidApiKey),
        Some((.., true)) => return Err(Error::DataPlaneRevoked),
        Some((id, name, region, organization_id, false)) => Identity {
            id,
            name,
            region,
            organization_id,
        },
    };
    sqlx::query(
        "UPDATE data_planes SET last_seen_at = $2
         WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $3)",
    )
    .bind(identity.id)
    .bind(now)
    .bind(now - SEEN_EVERY)
    .execute(&mut *conn)
    .await?;
    Ok(identity)
}

/// A new credential for the data plane that presents `credential`; the
/// presented one keeps working for the grace period, then stops.
pub async fn rotate(
    conn: &mut PgConnection,
    credential: &str,
    now: DateTime<Utc>,
) -> Result<Enrolled> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let data_plane = authenticate(&mut tx, credential, now).await?;
    let grace = now + Duration::seconds(ROTATION_GRACE_SECONDS);
    sqlx::query(
        "UPDATE data_plane_credentials SET expires_at = LEAST(coalesce(expires_at, $3), $3)
         WHERE data_plane_id = $1 AND token_hash = $2",
    )
    .bind(data_plane.id)
    .bind(hash(credential))
    .bind(grace)
    .execute(&mut *tx)
    .await?;
    let credential = add_credential(&mut tx, data_plane.id, now).await?;
    tx.commit().await?;
    Ok(Enrolled {
        data_plane,
        credential,
    })
}

/// Revokes data plane `id`: its enrollment tokens are deleted, and its
/// credentials refused from now on. Its clusters stay as they are
/// (the data plane keeps running them as last known).
pub async fn revoke(
    conn: &mut PgConnection,
    id: Uuid,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let revoked = sqlx::query(
        "UPDATE data_planes SET revoked_at = coalesce(revoked_at, $2)
         WHERE id = $1 AND kind = 'connected'",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if revoked == 0 {
        return Err(Error::not_found("data plane"));
    }
    // Its credentials stay, refused, so that it is told why.
    sqlx::query("DELETE FROM data_plane_enrollments WHERE data_plane_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        None,
        actor,
        "data_plane.revoked",
        "data_plane",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
