//! Browser sessions: an opaque random token in a cookie, its SHA-256 in the
//! database, so a leaked table holds no usable session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Error, Result};

/// How long a session lasts after login.
pub const LIFETIME: Duration = Duration::days(14);

/// A new session's token, to be set in the cookie and never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

impl SessionToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub async fn start(conn: &mut PgConnection, user_id: Uuid) -> Result<SessionToken> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(digest(&token))
        .bind(user_id)
        .bind(Utc::now() + LIFETIME)
        .execute(&mut *conn)
        .await?;
    Ok(SessionToken(token))
}

/// The user a live session belongs to.
pub async fn user_for(conn: &mut PgConnection, token: &str) -> Result<Uuid> {
    sqlx::query_scalar("SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > now()")
        .bind(digest(token))
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::SessionExpired)
}

/// Ends a session; ending one that is already gone is not an error.
pub async fn end(conn: &mut PgConnection, token: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(digest(token))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
