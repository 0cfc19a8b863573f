//! Organizations, their members, and the plan each is on.

use billing::PlanId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::access::{OrgAccess, Permission, Role};
use crate::accounts::Email;
use crate::error::on_unique;
use crate::outbox::{self, Topic};
use crate::{Conflict, Error, Result, audit};

/// A display name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationName(String);

impl OrganizationName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err("must be 1 to 100 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(OrganizationName(name.to_owned()))
    }

    /// The default for a person's first organization.
    pub fn for_person(email: &Email) -> Self {
        let who: String = email.local_part().chars().take(80).collect();
        OrganizationName(format!("{who}'s organization"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub plan: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Membership {
    pub organization_id: Uuid,
    pub organization_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A new organization owned by `owner`, on the free plan. The payment
/// provider's customer is created later, through the outbox.
pub async fn create(
    conn: &mut PgConnection,
    owner: Uuid,
    name: OrganizationName,
) -> Result<Organization> {
    let id = Uuid::now_v7();
    let (created_at,): (DateTime<Utc>,) =
        sqlx::query_as("INSERT INTO organizations (id, name) VALUES ($1, $2) RETURNING created_at")
            .bind(id)
            .bind(&name.0)
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query(
        "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'owner')",
    )
    .bind(id)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO subscriptions (organization_id, plan) VALUES ($1, $2)")
        .bind(id)
        .bind(PlanId::free().as_str())
        .execute(&mut *conn)
        .await?;
    billing::plan_history::start(conn, id, PlanId::free().as_str(), created_at).await?;
    outbox::enqueue(
        &mut *conn,
        Topic::CreatePaymentCustomer,
        &serde_json::json!({ "organization_id": id }),
    )
    .await?;
    let actor = format!("user:{owner}");
    audit::record(
        &mut *conn,
        Some(id),
        &actor,
        "organization.create",
        "organization",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    Ok(Organization {
        id,
        name: name.0,
        plan: PlanId::free().to_string(),
        created_at,
    })
}

/// The organizations a user belongs to, with their role in each.
pub async fn memberships(conn: &mut PgConnection, user_id: Uuid) -> Result<Vec<Membership>> {
    Ok(sqlx::query_as(
        "SELECT o.id AS organization_id, o.name AS organization_name, m.role
         FROM memberships m JOIN organizations o ON o.id = m.organization_id
         WHERE m.user_id = $1 ORDER BY o.id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn get(conn: &mut PgConnection, access: &OrgAccess) -> Result<Organization> {
    sqlx::query_as(
        "SELECT o.id, o.name, s.plan, o.created_at
         FROM organizations o JOIN subscriptions s ON s.organization_id = o.id
         WHERE o.id = $1",
    )
    .bind(access.organization_id())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found("organization"))
}

/// The organization's plan, with its subscription row locked until the
/// transaction ends, so that limit checks and the changes they allow are
/// serialized per organization.
pub async fn lock_plan<'c>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &'c billing::Catalog,
) -> Result<&'c billing::Plan> {
    let plan: String =
        sqlx::query_scalar("SELECT plan FROM subscriptions WHERE organization_id = $1 FOR UPDATE")
            .bind(access.organization_id())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| Error::not_found("organization"))?;
    catalog
        .plan(&PlanId::from(plan.clone()))
        .ok_or_else(|| Error::UnknownPlan(access.organization_id(), plan))
}

pub async fn members(conn: &mut PgConnection, access: &OrgAccess) -> Result<Vec<Member>> {
    access.require(Permission::MembersRead)?;
    Ok(sqlx::query_as(
        "SELECT u.id AS user_id, u.email, m.role, m.created_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1 ORDER BY m.created_at, u.id",
    )
    .bind(access.organization_id())
    .fetch_all(&mut *conn)
    .await?)
}

/// Adds an existing user, found by email, with `role`. Only an owner may
/// make another owner.
pub async fn add_member(
    conn: &mut PgConnection,
    access: &OrgAccess,
    email: &Email,
    role: Role,
) -> Result<Member> {
    access.require(Permission::MembersWrite)?;
    if role == Role::Owner && access.role() != Some(Role::Owner) {
        return Err(Error::Forbidden {
            permission: "owner",
        });
    }
    let user_id: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::not_found("user"))?;
    let created_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)
         RETURNING created_at",
    )
    .bind(access.organization_id())
    .bind(user_id)
    .bind(role.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(on_unique("memberships_pkey", Conflict::AlreadyMember))?;
    audit::record_as(
        conn,
        access,
        "member.add",
        "user",
        &user_id.to_string(),
        Some(serde_json::json!({ "role": role })),
    )
    .await?;
    Ok(Member {
        user_id,
        email: email.to_string(),
        role,
        created_at,
    })
}

/// Removes a member. The last owner cannot be removed.
pub async fn remove_member(
    conn: &mut PgConnection,
    access: &OrgAccess,
    user_id: Uuid,
) -> Result<()> {
    access.require(Permission::MembersWrite)?;
    // Lock the organization's memberships so two removals cannot each see
    // another owner left.
    let roles: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT user_id, role FROM memberships WHERE organization_id = $1 FOR UPDATE",
    )
    .bind(access.organization_id())
    .fetch_all(&mut *conn)
    .await?;
    let role = roles
        .iter()
        .find(|(id, _)| *id == user_id)
        .map(|(_, role)| role.as_str())
        .ok_or_else(|| Error::not_found("member"))?;
    let owners = roles.iter().filter(|(_, r)| r == "owner").count();
    if role == "owner" {
        if access.role() != Some(Role::Owner) {
            return Err(Error::Forbidden {
                permission: "owner",
            });
        }
        if owners == 1 {
            return Err(Error::Conflict(Conflict::LastOwner));
        }
    }
    sqlx::query("DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2")
        .bind(access.organization_id())
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    audit::record_as(
        conn,
        access,
        "member.remove",
        "user",
        &user_id.to_string(),
        None,
    )
    .await
}

/// The email addresses of the organization's members in `roles`, for
/// messages about it (a disabled webhook, an alert).
pub async fn emails_of(
    conn: &mut PgConnection,
    organization_id: Uuid,
    roles: &[Role],
) -> Result<Vec<String>> {
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Ok(sqlx::query_scalar(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1 AND m.role = ANY($2) ORDER BY u.email",
    )
    .bind(organization_id)
    .bind(&roles)
    .fetch_all(&mut *conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(OrganizationName::parse("  Acme  ").unwrap().0, "Acme");
        assert!(OrganizationName::parse("   ").is_err());
        assert!(OrganizationName::parse(&"x".repeat(101)).is_err());
        assert!(OrganizationName::parse("a\u{0}b").is_err());
        assert!(OrganizationName::parse("Robert'); DROP TABLE organizations;--").is_ok());
    }

    #[test]
    fn a_persons_organization_is_named_after_them() {
        let email = Email::parse("ada@example.com").unwrap();
        assert_eq!(OrganizationName::for_person(&email).0, "ada's organization");
    }
}
