//! Invitations: a link for one email address to join an organization with
//! a role. The link's token is shown once to the inviter (to send); only its
//! SHA-256 is kept, and it works once, for that address, for seven days.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::access::{OrgAccess, Permission, Role};
use crate::accounts::Email;
use crate::error::on_unique;
use crate::{Conflict, Error, Result, audit, mail};

/// How long a link works.
pub const LIFETIME: Duration = Duration::days(7);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Invitation {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The email that carries an invitation's link.
pub fn message(invitation: &Invitation, organization: &str, link: &str) -> mail::Message {
    mail::Message {
        to: invitation.email.clone(),
        subject: format!("Join {organization} on Quartermaster"),
        text: format!(
            "You are invited to join {organization} on Quartermaster as {role}.\n\n\
             Open this link to accept; it works once, for {email}, until {expires}:\n\n\
             {link}\n\n\
             If you did not expect this invitation, ignore this message.\n",
            role = invitation.role,
            email = invitation.email,
            expires = invitation.expires_at.format("%Y-%m-%d %H:%M UTC"),
        ),
        expires_at: Some(invitation.expires_at),
    }
}

/// Invites `email` with `role`; the token for the link, shown once. With
/// `mail_link_base` (where the dashboard is reached), the link is also
/// emailed to the address, from the outbox once this transaction commits.
pub async fn create(
    conn: &mut PgConnection,
    access: &OrgAccess,
    email: &Email,
    role: Role,
    now: DateTime<Utc>,
    mail_link_base: Option<&str>,
) -> Result<(Invitation, String)> {
    access.require(Permission::MembersWrite)?;
    if role == Role::Owner && access.role() != Some(Role::Owner) {
        return Err(Error::Forbidden {
            permission: "owner",
        });
    }
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let created_by = match access.principal() {
        crate::access::Principal::User { user_id } => Some(*user_id),
        crate::access::Principal::ApiKey { .. } => None,
    };
    let invitation: Invitation = sqlx::query_as(
        "INSERT INTO invitations (id, organization_id, email, role, token_hash, created_by,
                                  created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING id, organization_id, email, role, created_at, expires_at, accepted_at",
    )
    .bind(Uuid::now_v7())
    .bind(access.organization_id())
    .bind(email.as_str())
    .bind(role.as_str())
    .bind(hash(&token))
    .bind(created_by)
    .bind(now)
    .bind(now + LIFETIME)
    .fetch_one(&mut *conn)
    .await?;
    audit::record_as(
        conn,
        access,
        "member.invite",
        "invitation",
        &invitation.id.to_string(),
        Some(serde_json::json!({ "email": email.as_str(), "role": role })),
    )
    .await?;
    if let Some(base) = mail_link_base {
        let organization: String =
            sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
                .bind(access.organization_id())
                .fetch_one(&mut *conn)
                .await?;
        let link = format!("{}/invitations/{token}", base.trim_end_matches('/'));
        mail::enqueue(conn, &message(&invitation, &organization, &link)).await?;
    }
    Ok((invitation, token))
}

/// The invitation behind a link, whoever looks; `NotFound` for any link
/// that does not work (unknown, used or expired), so links cannot be probed.
pub async fn find(
    conn: &mut PgConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(Invitation, String)> {
    let found: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT i.id, o.name FROM invitations i JOIN organizations o ON o.id = i.organization_id
         WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.expires_at > $2",
    )
    .bind(hash(token))
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let (id, organization) = found.ok_or_else(|| Error::not_found("invitation"))?;
    let invitation = sqlx::query_as(
        "SELECT id, organization_id, email, role, created_at, expires_at, accepted_at
         FROM invitations WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok((invitation, organization))
}

/// Accepts an invitation for the logged-in user `user_id`, whose address
/// must be the one invited; the organization joined.
pub async fn accept(
    conn: &mut PgConnection,
    user_id: Uuid,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let (invitation, _) = find(conn, token, now).await?;
    let email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
    if email != invitation.email {
        return Err(Error::Forbidden {
            permission: "the invited email address",
        });
    }
    let used = sqlx::query(
        "UPDATE invitations SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL",
    )
    .bind(invitation.id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if used == 0 {
        return Err(Error::not_found("invitation"));
    }
    sqlx::query("INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(invitation.organization_id)
        .bind(user_id)
        .bind(invitation.role.as_str())
        .execute(&mut *conn)
        .await
        .map_err(on_unique("memberships_pkey", Conflict::AlreadyMember))?;
    audit::record(
        &mut *conn,
        Some(invitation.organization_id),
        &format!("user:{user_id}"),
        "member.join",
        "invitation",
        &invitation.id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    Ok(invitation.organization_id)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_email_names_the_organization_role_address_and_expiry_and_carries_the_link() {
        let invitation = Invitation {
            id: Uuid::nil(),
            organization_id: Uuid::nil(),
            email: "carol@example.com".to_owned(),
            role: Role::Billing,
            created_at: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
            expires_at: Utc.with_ymd_and_hms(2026, 12, 8, 9, 0, 0).unwrap(),
            accepted_at: None,
        };

        let message = message(&invitation, "Acme", "https://qm.test/invitations/t0k3n");

        assert_eq!(message.to, "carol@example.com");
        assert_eq!(message.subject, "Join Acme on Quartermaster");
        assert_eq!(
            message.text,
            "You are invited to join Acme on Quartermaster as billing.\n\n\
             Open this link to accept; it works once, for carol@example.com, until 2026-12-08 09:00 UTC:\n\n\
             https://qm.test/invitations/t0k3n\n\n\
             If you did not expect this invitation, ignore this message.\n"
        );
        assert_eq!(message.expires_at, Some(invitation.expires_at));
    }
}
