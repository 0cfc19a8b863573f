//! Who is calling, and what they may do in an organization.
//!
//! [`OrgAccess`] is the only way into an organization's data. It is built by
//! [`resolve`], which answers "not found" both for an organization that does
//! not exist and for one the caller has no part in, so ids cannot be probed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Error, Result};

/// A member's role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Billing,
}

/// Something that can be done in an organization. An API key's scopes are a
/// set of these; a role grants a fixed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "clusters:read")]
    ClustersRead,
    #[serde(rename = "clusters:write")]
    ClustersWrite,
    #[serde(rename = "endpoints:read")]
    EndpointsRead,
    #[serde(rename = "endpoints:write")]
    EndpointsWrite,
    #[serde(rename = "usage:read")]
    UsageRead,
    #[serde(rename = "api_keys:read")]
    ApiKeysRead,
    #[serde(rename = "api_keys:write")]
    ApiKeysWrite,
    /// The credentials of calls to inference endpoints: not implied by
    /// `endpoints:*`, since a key outlives the caller that made it.
    #[serde(rename = "inference_keys:read")]
    InferenceKeysRead,
    #[serde(rename = "inference_keys:write")]
    InferenceKeysWrite,
    #[serde(rename = "members:read")]
    MembersRead,
    #[serde(rename = "members:write")]
    MembersWrite,
    #[serde(rename = "billing:read")]
    BillingRead,
    #[serde(rename = "billing:write")]
    BillingWrite,
    /// The organization's audit log: who did what, when, from where.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Webhook endpoints and their deliveries. Writing one decides where
    /// the organization's events go, so it is for owners and admins.
    #[serde(rename = "webhooks:read")]
    WebhooksRead,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    /// Registering a data plane of the organization's own: it runs the
    /// organization's clusters and holds their data, so it is for owners
    /// and admins, and never among an API key's default scopes.
    #[serde(rename = "data_planes:write")]
    DataPlanesWrite,
}

impl Permission {
    pub const ALL: [Permission; 17] = [
        Permission::ClustersRead,
        Permission::ClustersWrite,
        Permission::EndpointsRead,
        Permission::EndpointsWrite,
        Permission::UsageRead,
        Permission::ApiKeysRead,
        Permission::ApiKeysWrite,
        Permission::InferenceKeysRead,
        Permission::InferenceKeysWrite,
        Permission::MembersRead,
        Permission::MembersWrite,
        Permission::BillingRead,
        Permission::BillingWrite,
        Permission::AuditRead,
        Permission::WebhooksRead,
        Permission::WebhooksWrite,
        Permission::DataPlanesWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ClustersRead => "clusters:read",
            Permission::ClustersWrite => "clusters:write",
            Permission::EndpointsRead => "endpoints:read",
            Permission::EndpointsWrite => "endpoints:write",
            Permission::UsageRead => "usage:read",
            Permission::ApiKeysRead => "api_keys:read",
            Permission::ApiKeysWrite => "api_keys:write",
            Permission::InferenceKeysRead => "inference_keys:read",
            Permission::InferenceKeysWrite => "inference_keys:write",
            Permission::MembersRead => "members:read",
            Permission::MembersWrite => "members:write",
            Permission::BillingRead => "billing:read",
            Permission::BillingWrite => "billing:write",
            Permission::AuditRead => "audit:read",
            Permission::WebhooksRead => "webhooks:read",
            Permission::WebhooksWrite => "webhooks:write",
            Permission::DataPlanesWrite => "data_planes:write",
        }
    }
}

impl FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Permission::ALL.iter().map(|p| p.as_str()).collect();
                format!("unknown scope `{s}`; known scopes: {}", known.join(", "))
            })
    }
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Billing];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Billing => "billing",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner | Role::Admin => true,
            Role::Member => matches!(
                permission,
                ClustersRead
                    | ClustersWrite
                    | EndpointsRead
                    | EndpointsWrite
                    | UsageRead
                    | ApiKeysRead
                    | ApiKeysWrite
                    | InferenceKeysRead
                    | InferenceKeysWrite
                    | MembersRead
                    | BillingRead
            ),
            Role::Billing => matches!(
                permission,
                MembersRead | UsageRead | BillingRead | BillingWrite
            ),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`; roles are owner, admin, member, billing"))
    }
}

impl TryFrom<String> for Role {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User {
        user_id: Uuid,
    },
    ApiKey {
        key_id: Uuid,
        organization_id: Uuid,
        scopes: Vec<Permission>,
    },
}

impl Principal {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        match self {
            Principal::User { user_id } => format!("user:{user_id}"),
            Principal::ApiKey { key_id, .. } => format!("api_key:{key_id}"),
        }
    }
}

/// Proof that a principal may see an organization, with what it may do there.
#[derive(Debug, Clone)]
pub struct OrgAccess {
    organization_id: Uuid,
    principal: Principal,
    grant: Grant,
}

#[derive(Debug, Clone)]
enum Grant {
    Role(Role),
    Scopes(Vec<Permission>),
}

impl OrgAccess {
    pub fn organization_id(&self) -> Uuid {
        self.organization_id
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn allows(&self, permission: Permission) -> bool {
        match &self.grant {
            Grant::Role(role) => role.allows(permission),
            Grant::Scopes(scopes) => scopes.contains(&permission),
        }
    }

    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.allows(permission) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                permission: permission.as_str(),
            })
        }
    }

    /// The member's role, when the caller is a member rather than a key.
    pub fn role(&self) -> Option<Role> {
        match self.grant {
            Grant::Role(role) => Some(role),
            Grant::Scopes(_) => None,
        }
    }
}

/// What `principal` may do in `organization_id`, or not found.
pub async fn resolve(
    conn: &mut PgConnection,
    principal: &Principal,
    organization_id: Uuid,
) -> Result<OrgAccess> {
    let grant = match principal {
        Principal::ApiKey {
            organization_id: own,
            scopes,
            ..
        } => (*own == organization_id).then(|| Grant::Scopes(scopes.clone())),
        Principal::User { user_id } => {
            let role: Option<String> = sqlx::query_scalar(
                "SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2",
            )
            .bind(organization_id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
            role.map(|r| r.parse().map(Grant::Role))
                .transpose()
                .map_err(|e| Error::Database(sqlx::Error::Decode(e.into())))?
        }
    };
    let grant = grant.ok_or_else(|| Error::not_found("organization"))?;
    Ok(OrgAccess {
        organization_id,
        principal: principal.clone(),
        grant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_table_says() {
        use Permission::*;
        for p in Permission::ALL {
            assert!(Role::Owner.allows(p));
            assert!(Role::Admin.allows(p));
        }
        assert!(Role::Member.allows(ClustersWrite));
        assert!(!Role::Member.allows(MembersWrite));
        assert!(Role::Billing.allows(MembersRead));
        assert!(!Role::Billing.allows(ClustersRead));
        assert!(Role::Billing.allows(BillingWrite));
        assert!(Role::Member.allows(BillingRead));
        assert!(!Role::Member.allows(BillingWrite));
        assert!(!Role::Member.allows(DataPlanesWrite));
        assert!(!Role::Billing.allows(DataPlanesWrite));
    }

    #[test]
    fn scopes_and_roles_parse_from_their_names_only() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse(), Ok(p));
        }
        let err = "clusters:delete".parse::<Permission>().unwrap_err();
        assert!(err.contains("unknown scope `clusters:delete`"));
        assert_eq!("billing".parse(), Ok(Role::Billing));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn a_key_may_do_exactly_what_its_scopes_say() {
        let access = OrgAccess {
            organization_id: Uuid::nil(),
            principal: Principal::ApiKey {
                key_id: Uuid::nil(),
                organization_id: Uuid::nil(),
                scopes: vec![Permission::ClustersRead],
            },
            grant: Grant::Scopes(vec![Permission::ClustersRead]),
        };
        assert!(access.require(Permission::ClustersRead).is_ok());
        assert!(matches!(
            access.require(Permission::ClustersWrite),
            Err(Error::Forbidden {
                permission: "clusters:write"
            })
        ));
    }
}
