//! An organization's own data planes (BYOC): registered by its owners and
//! admins on a plan that allows them, serving that organization only
//! (`placing`), and rating its usage there by the catalog's
//! [`PRICE_LIST`]. Registration hands out the enrollment token once; the
//! operator chart in the customer's cluster exchanges it for a credential
//! ([`super::enrollment`]).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;

use super::enrollment::{self, ENROLLMENT_TTL, NewDataPlane};
use super::standing::{self, DataPlane};
use crate::access::{OrgAccess, Permission};
use crate::validation::ValidationErrors;
use crate::{Error, Result, audit, organizations};

/// The catalog price list that rates usage in a customer-run data plane.
pub const PRICE_LIST: &str = "customer-run";

/// Longest name or region: they are shown in lists and used as labels.
const MAX_LEN: usize = 63;

/// A data plane just registered, with the token its operator enrolls
/// with: shown this once.
#[derive(Debug, Clone)]
pub struct Registered {
    pub data_plane: DataPlane,
    pub enrollment_token: String,
}

/// A name or region: as `validation::region` says, and not too long.
fn label(raw: &str) -> std::result::Result<&str, &'static str> {
    let valid = crate::validation::region(raw)?;
    if valid.chars().count() > MAX_LEN {
        return Err("must be at most 63 characters");
    }
    Ok(valid)
}

/// A data plane an organization asks to run.
#[derive(Debug, Clone, Copy)]
pub struct OwnDataPlane<'a> {
    pub name: &'a str,
    pub region: &'a str,
    /// Its operator chart names a bucket: backups are offered there.
    pub backups: bool,
}

/// Registers a data plane of the caller's organization for `region`. The
/// plan must allow it, and the catalog must have the price list its usage
/// is rated by; a name or region taken is a conflict.
pub async fn register(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &billing::Catalog,
    asked: OwnDataPlane<'_>,
    now: DateTime<Utc>,
) -> Result<Registered> {
    let OwnDataPlane {
        name,
        region,
        backups,
    } = asked;
    access.require(Permission::DataPlanesWrite)?;
    let mut errors = ValidationErrors::default();
    let name = errors.check("name", label(name));
    let region = errors.check("region", label(region));
    let (name, region) = errors.finish(name.zip(region))?;
    let plan = organizations::lock_plan(conn, access, catalog).await?;
    billing::entitlements::may_run_data_planes(plan)?;
    if catalog.price_list(PRICE_LIST).is_none() {
        // Usage there could not be rated: refuse rather than bill wrong.
        return Err(Error::Denied(billing::Denial {
            limit: "customer_data_planes",
            field: None,
            message: "Data planes of your own are not offered at the moment.".to_owned(),
        }));
    }
    let organization_id = access.organization_id();
    let plane = NewDataPlane {
        name,
        region,
        organization_id: Some(organization_id),
        price_list: Some(PRICE_LIST),
        backups,
        gateway_url: None,
    };
    let (id, enrollment_token) = enrollment::register(conn, &plane, ENROLLMENT_TTL, now).await?;
    audit::record_as(
        conn,
        access,
        "data_plane.register",
        "data_plane",
        &id.to_string(),
        Some(json!({ "name": name, "region": region, "price_list": PRICE_LIST })),
    )
    .await?;
    let data_plane = list(conn, access, now)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| Error::not_found("data plane"))?;
    Ok(Registered {
        data_plane,
        enrollment_token,
    })
}

/// The caller's organization's own data planes, with their standing. Who
/// may place clusters may see where.
pub async fn list(
    conn: &mut PgConnection,
    access: &OrgAccess,
    now: DateTime<Utc>,
) -> Result<Vec<DataPlane>> {
    access.require(Permission::ClustersRead)?;
    standing::of_organization(conn, access.organization_id(), now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_or_region_is_trimmed_printable_and_short() {
        assert_eq!(label("  acme-eu-1 "), Ok("acme-eu-1"));
        assert!(label("").is_err());
        assert!(label("a\u{7}b").is_err());
        assert!(label(&"x".repeat(64)).is_err());
        assert_eq!(label(&"x".repeat(63)).map(str::len), Ok(63));
    }
}
