//! Idempotency keys, as Stripe has them: a retried request with the same key
//! gets the first response back instead of acting twice.
//!
//! [`begin`] inserts the key inside the caller's transaction before the work
//! is done, and [`finish`] saves the response in that same transaction. A
//! concurrent retry blocks on the row until the first commits (and then
//! replays) or rolls back (and then runs itself).

use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::{Error, Result};

/// Whose keys these are: keys of different organizations never collide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(String);

impl Scope {
    pub fn organization(id: uuid::Uuid) -> Self {
        Scope(format!("organization:{id}"))
    }

    pub fn user(id: uuid::Uuid) -> Self {
        Scope(format!("user:{id}"))
    }
}

/// A client-chosen key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    pub fn parse(raw: &str) -> Result<Key, &'static str> {
        if (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Key(raw.to_owned()))
        } else {
            Err("the Idempotency-Key header must be 1 to 255 visible ASCII characters")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What identifies a request besides its key: a key reused with another
/// method, path or body is an error, not a replay.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), body] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

/// The response saved for a key.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub status: u16,
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Begun {
    /// First use of the key: do the work, then [`finish`].
    Fresh,
    /// The key was used before for this same request.
    Replay(Saved),
}

pub async fn begin(
    conn: &mut PgConnection,
    scope: &Scope,
    key: &Key,
    fingerprint: &[u8],
) -> Result<Begun> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(&scope.0)
    .bind(&key.0)
    .bind(fingerprint)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Begun::Fresh);
    }
    let (stored_hash, status, body): (Vec<u8>, Option<i16>, Option<serde_json::Value>) =
        sqlx::query_as(
            "SELECT request_hash, response_status, response_body
             FROM idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind(&scope.0)
        .bind(&key.0)
        .fetch_one(&mut *conn)
        .await?;
    if stored_hash != fingerprint {
        return Err(Error::IdempotencyKeyReused);
    }
    let status = status.and_then(|s| u16::try_from(s).ok()).ok_or_else(|| {
        Error::Database(sqlx::Error::Decode(
            "idempotency record without a response".into(),
        ))
    })?;
    Ok(Begun::Replay(Saved { status, body }))
}

pub async fn finish(
    conn: &mut PgConnection,
    scope: &Scope,
    key: &Key,
    saved: &Saved,
) -> Result<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET response_status = $3, response_body = $4
         WHERE scope = $1 AND key = $2",
    )
    .bind(&scope.0)
    .bind(&key.0)
    .bind(i16::try_from(saved.status).unwrap_or(i16::MAX))
    .bind(&saved.body)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(Key::parse("7f0c9a2e-retry-1").is_ok());
        assert!(Key::parse("").is_err());
        assert!(Key::parse("has space").is_err());
        assert!(Key::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn fingerprints_tell_requests_apart_even_when_parts_shift() {
        let a = fingerprint("POST", "/v1/x", b"{}");
        assert_eq!(a, fingerprint("POST", "/v1/x", b"{}"));
        assert_ne!(a, fingerprint("POST", "/v1/x", b"{ }"));
        assert_ne!(
            fingerprint("POST", "/v1/x", b"y"),
            fingerprint("POST", "/v1/xy", b"")
        );
    }
}
