//! Signing up and logging in.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Email, Password, password};
use crate::error::on_unique;
use crate::organizations::{self, Organization, OrganizationName};
use crate::{Conflict, Error, Result, audit};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub is_platform_admin: bool,
    pub created_at: DateTime<Utc>,
}

/// Creates a user with an organization of their own (named after them unless
/// a name is given), on the free plan.
pub async fn signup(
    conn: &mut PgConnection,
    email: Email,
    password: Password,
    organization_name: Option<OrganizationName>,
) -> Result<(User, Organization)> {
    let password_hash = password.hash().await?;
    let user: User = sqlx::query_as(
        "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)
         RETURNING id, email, is_platform_admin, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(email.as_str())
    .bind(password_hash)
    .fetch_one(&mut *conn)
    .await
    .map_err(on_unique("users_email_key", Conflict::EmailTaken))?;

    let actor = format!("user:{}", user.id);
    audit::record(
        &mut *conn,
        None,
        &actor,
        "user.signup",
        "user",
        &user.id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    let name = match organization_name {
        Some(name) => name,
        None => OrganizationName::for_person(&email),
    };
    let organization = organizations::create(&mut *conn, user.id, name).await?;
    Ok((user, organization))
}

/// The user whose email and password these are.
pub async fn login(conn: &mut PgConnection, email: &str, password: String) -> Result<User> {
    let email = Email::parse(email).map_err(|_| Error::InvalidCredentials)?;
    let row: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    let (id, stored) = row.unzip();
    if !password::verify(password, stored).await? {
        return Err(Error::InvalidCredentials);
    }
    let id = id.ok_or(Error::InvalidCredentials)?;
    user(conn, id).await
}

pub async fn user(conn: &mut PgConnection, id: Uuid) -> Result<User> {
    sqlx::query_as("SELECT id, email, is_platform_admin, created_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::not_found("user"))
}
