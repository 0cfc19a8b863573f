//! People, organizations, memberships and API keys.

use chrono::{DateTime, Utc};
use control_plane::accounts::User;
use control_plane::api_keys::ApiKey;
use control_plane::organizations::{Member, Membership, Organization};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At least 12 characters.
    pub password: String,
    /// Defaults to "<name>'s organization".
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub organization_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserJson {
    pub id: Uuid,
    pub email: String,
    pub is_platform_admin: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserJson {
    fn from(u: User) -> Self {
        UserJson {
            id: u.id,
            email: u.email,
            is_platform_admin: u.is_platform_admin,
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignupResponse {
    pub user: UserJson,
    pub organization: OrganizationJson,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserJson,
    pub memberships: Vec<MembershipJson>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationJson {
    pub id: Uuid,
    pub name: String,
    /// The plan's catalog id: `free`, `starter`, `business`.
    pub plan: String,
    pub created_at: DateTime<Utc>,
}

impl From<Organization> for OrganizationJson {
    fn from(o: Organization) -> Self {
        OrganizationJson {
            id: o.id,
            name: o.name,
            plan: o.plan,
            created_at: o.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipJson {
    pub organization_id: Uuid,
    pub organization_name: String,
    /// `owner`, `admin`, `member` or `billing`.
    pub role: String,
}

impl From<Membership> for MembershipJson {
    fn from(m: Membership) -> Self {
        MembershipJson {
            organization_id: m.organization_id,
            organization_name: m.organization_name,
            role: m.role.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberJson {
    pub user_id: Uuid,
    pub email: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

impl From<Member> for MemberJson {
    fn from(m: Member) -> Self {
        MemberJson {
            user_id: m.user_id,
            email: m.email,
            role: m.role.to_string(),
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The email of an existing user.
    pub email: String,
    /// `owner`, `admin`, `member` or `billing`.
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    pub name: String,
    /// Defaults to running workloads: `clusters:read`, `clusters:write`,
    /// `endpoints:read`, `endpoints:write` and `usage:read`.
    #[schema(example = json!(["clusters:read", "clusters:write"]))]
    #[serde(default, deserialize_with = "crate::body::optional")]
    #[schema(nullable = false)]
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyJson {
    /// Always `api_key`.
    pub object: &'static str,
    pub id: Uuid,
    pub name: String,
    /// The public part of the token, to recognize a key by.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyJson {
    fn from(k: ApiKey) -> Self {
        ApiKeyJson {
            object: "api_key",
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.0.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyJson,
    /// The secret, shown this once. Send it as `Authorization: Bearer <token>`.
    /// A replay of the creating request does not show it again.
    pub token: String,
}
