//! The platform's own administrators: the people who run the service.
//! Proof of being one is [`PlatformAdmin`], obtained only from a user
//! account flagged in the database (granted with `quartermaster admin grant`).

use billing::Catalog;
use billing::catalog_store::{self, Published};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::access::Principal;
use crate::accounts::Email;
use crate::clusters::Cluster;
use crate::validation::ValidationErrors;
use crate::{Error, Result, audit, resource};

mod audit_log;
pub mod corrections;
mod fleet;
mod organizations;
pub mod query;

pub use crate::audit::{AuditEntry, AuditQuery};
pub use audit_log::audit_log;
pub use fleet::{FleetCluster, FleetQuery, PlaneHealth, data_planes, fleet, phases};
pub use organizations::{
    Held, Member, OrganizationDetail, OrganizationQuery, OrganizationSummary, organization,
    search as organizations,
};

/// A caller checked to be a platform administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformAdmin {
    user_id: Uuid,
}

impl PlatformAdmin {
    pub fn actor(&self) -> String {
        format!("admin:{}", self.user_id)
    }
}

/// Checks that `principal` is a platform administrator. API keys belong to
/// organizations and never are.
pub async fn check(conn: &mut PgConnection, principal: &Principal) -> Result<PlatformAdmin> {
    let forbidden = Error::Forbidden {
        permission: "platform_admin",
    };
    let Principal::User { user_id } = principal else {
        return Err(forbidden);
    };
    let admin: bool = sqlx::query_scalar("SELECT is_platform_admin FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(false);
    if admin {
        Ok(PlatformAdmin { user_id: *user_id })
    } else {
        Err(forbidden)
    }
}

/// Makes the user with `email` a platform administrator (from the CLI).
pub async fn grant(conn: &mut PgConnection, email: &Email) -> Result<()> {
    let user: Option<Uuid> = sqlx::query_scalar(
        "UPDATE users SET is_platform_admin = true WHERE email = $1 RETURNING id",
    )
    .bind(email.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let user = user.ok_or_else(|| Error::not_found("user"))?;
    audit::record(
        &mut *conn,
        None,
        "system:cli",
        "admin.grant",
        "user",
        &user.to_string(),
        serde_json::json!({}),
    )
    .await
}

/// Publishes a new catalog version, in force from now on.
pub async fn publish_catalog(
    conn: &mut PgConnection,
    admin: &PlatformAdmin,
    document: serde_json::Value,
) -> Result<Published> {
    let catalog = Catalog::from_json(document).map_err(|e| {
        let mut errors = ValidationErrors::default();
        errors.add("catalog", e.to_string());
        Error::Validation(errors)
    })?;
    let published = catalog_store::publish(conn, &catalog, &admin.actor())
        .await
        .map_err(|e| match e {
            billing::Error::Catalog(e) => {
                let mut errors = ValidationErrors::default();
                errors.add("catalog", e.to_string());
                Error::Validation(errors)
            }
            other => Error::Billing(other),
        })?;
    audit::record(
        &mut *conn,
        None,
        &admin.actor(),
        "catalog.publish",
        "catalog",
        &published.version.to_string(),
        serde_json::json!({}),
    )
    .await?;
    Ok(published)
}

/// A grant of credit, as billing records it.
pub use billing::credit::Credit;

/// The largest credit one grant may give, in minor units (a billion in the
/// major unit): far above any real grant, far below where sums of them
/// could overflow.
pub const MAX_CREDIT_MINOR: i64 = 100_000_000_000;

/// A reason shown to the customer and kept in the audit log: trimmed, 1
/// to 500 characters, none a control character (PostgreSQL refuses a NUL).
pub fn checked_reason(raw: &str) -> std::result::Result<&str, &'static str> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err("must be 1 to 500 characters, without control characters");
    }
    Ok(reason)
}

/// Grants an organization credit, used by its next invoices.
pub async fn grant_credit(
    conn: &mut PgConnection,
    admin: &PlatformAdmin,
    organization_id: Uuid,
    amount_minor: i64,
    reason: &str,
) -> Result<Credit> {
    let mut errors = ValidationErrors::default();
    if !(1..=MAX_CREDIT_MINOR).contains(&amount_minor) {
        errors.add(
            "amount_minor",
            format!("must be from 1 to {MAX_CREDIT_MINOR}"),
        );
    }
    let reason = errors.check("reason", checked_reason(reason));
    errors.finish(Some(()))?;
    let reason = reason.unwrap_or_default();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)")
            .bind(organization_id)
            .fetch_one(&mut *conn)
            .await?;
    if !exists {
        return Err(Error::not_found("organization"));
    }
    let credit = billing::credit::grant(
        conn,
        &billing::credit::NewCredit {
            organization_id,
            amount_minor,
            source: billing::credit::Source::Grant,
            reason,
            created_by: &admin.actor(),
            expires_at: None,
        },
    )
    .await?;
    audit::record(
        &mut *conn,
        Some(organization_id),
        &admin.actor(),
        "credit.grant",
        "credit",
        &credit.id.to_string(),
        serde_json::json!({ "amount_minor": amount_minor, "reason": reason }),
    )
    .await?;
    Ok(credit)
}

/// Suspends everything an organization runs, with `reason` shown to it.
pub async fn suspend(
    conn: &mut PgConnection,
    admin: &PlatformAdmin,
    organization_id: Uuid,
    reason: &str,
) -> Result<u64> {
    let reason = checked_reason(reason)
        .map_err(|message| Error::Validation(ValidationErrors::single("reason", message)))?;
    exists(conn, organization_id).await?;
    crate::money::suspension::suspend(
        conn,
        organization_id,
        crate::money::suspension::Scope::Organization,
        crate::money::suspension::Cause::Admin,
        reason,
        &admin.actor(),
        chrono::Utc::now(),
    )
    .await
}

/// Lifts an administrator's suspension.
pub async fn resume(
    conn: &mut PgConnection,
    admin: &PlatformAdmin,
    organization_id: Uuid,
) -> Result<u64> {
    exists(conn, organization_id).await?;
    crate::money::suspension::resume(
        conn,
        organization_id,
        crate::money::suspension::Scope::Organization,
        crate::money::suspension::Cause::Admin,
        &admin.actor(),
        chrono::Utc::now(),
    )
    .await
}

async fn exists(conn: &mut PgConnection, organization_id: Uuid) -> Result<()> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)")
            .bind(organization_id)
            .fetch_one(&mut *conn)
            .await?;
    if exists {
        Ok(())
    } else {
        Err(Error::not_found("organization"))
    }
}

/// Moves an organization to `plan` at once, without asking for a card (the
/// operator of the service decides); still refused while what it holds
/// exceeds the plan.
pub async fn change_plan(
    conn: &mut PgConnection,
    admin: &PlatformAdmin,
    catalog: &billing::Catalog,
    organization_id: Uuid,
    plan: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    exists(conn, organization_id).await?;
    let change = crate::money::subscriptions::PlanChange {
        actor: admin.actor(),
        card_required: false,
    };
    crate::money::subscriptions::move_to_plan(conn, organization_id, catalog, plan, &change, now)
        .await
}

/// What one wave of a fleet upgrade did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Wave {
    /// Clusters moved to the new version by this wave.
    pub started: Vec<String>,
    /// Clusters of earlier waves not Ready yet: a wave waits for them.
    pub in_flight: i64,
    /// Clusters still on the old version after this wave.
    pub remaining: i64,
}

/// Moves the next `size` Ready clusters from version `from` to `to`, once
/// every cluster of the previous wave is Ready again.
pub async fn upgrade_wave(
    conn: &mut PgConnection,
    admin: &PlatformAdmin,
    from: &str,
    to: &str,
    size: i64,
) -> Result<Wave> {
    let mut errors = ValidationErrors::default();
    let parse = |v: &str| v.trim().parse::<crds::EngineVersion>().ok();
    let (old, new) = (parse(from), parse(to));
    if old.is_none() {
        errors.add("from", format!("`{from}` is not a version such as 1.13.6"));
    }
    if new.is_none() {
        errors.add("to", format!("`{to}` is not a version such as 1.13.6"));
    }
    if let (Some(old), Some(new)) = (&old, &new)
        && new <= old
    {
        errors.add("to", "must be newer than the version upgraded from");
    }
    if !(1..=100).contains(&size) {
        errors.add("size", "must be 1 to 100 clusters");
    }
    let (old, new) = errors.finish(old.zip(new))?;
    let (old_name, new_name) = (old.to_string(), new.to_string());
    // One fleet upgrade at a time changes these rows.
    let in_flight: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM vector_clusters
         WHERE version = $1 AND phase <> 'Ready' AND deletion_requested_at IS NULL",
    )
    .bind(&new_name)
    .fetch_one(&mut *conn)
    .await?;
    let mut wave = Wave {
        in_flight,
        ..Wave::default()
    };
    if in_flight == 0 {
        let next: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT id, organization_id FROM vector_clusters
             WHERE version = $1 AND phase = 'Ready' AND deletion_requested_at IS NULL
             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(&old_name)
        .bind(size)
        .fetch_all(&mut *conn)
        .await?;
        let actor = admin.actor();
        for (id, organization_id) in next {
            let editor = resource::Editor {
                organization_id,
                actor: &actor,
            };
            let cluster =
                resource::change_spec_by(conn, editor, id, "fleet_upgrade", |c: &Cluster| {
                    Ok(crds::VectorClusterSpec {
                        version: new,
                        ..c.spec.clone()
                    })
                })
                .await?;
            wave.started.push(cluster.name);
        }
    }
    wave.remaining = sqlx::query_scalar(
        "SELECT count(*) FROM vector_clusters WHERE version = $1 AND deletion_requested_at IS NULL",
    )
    .bind(&old_name)
    .fetch_one(&mut *conn)
    .await?;
    Ok(wave)
}
