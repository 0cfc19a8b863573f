//! Passwords: length rules, argon2id hashing off the async runtime.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::{Error, Result};

const MIN_CHARS: usize = 12;
/// Bounds the hashing work an attacker can ask for.
const MAX_BYTES: usize = 1024;

/// A password that meets the length rules. Its `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    pub fn parse(raw: String) -> Result<Password, String> {
        if raw.chars().count() < MIN_CHARS {
            return Err(format!("must be at least {MIN_CHARS} characters"));
        }
        if raw.len() > MAX_BYTES {
            return Err(format!("must be at most {MAX_BYTES} bytes"));
        }
        // No keyboard types them; a NUL is cut short by C-string tools.
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters (such as NUL or a tab)".to_owned());
        }
        Ok(Password(raw))
    }

    /// An argon2id PHC string (default parameters: m=19 MiB, t=2, p=1).
    pub(crate) async fn hash(self) -> Result<String> {
        tokio::task::spawn_blocking(move || hash_blocking(&self.0)).await?
    }
}

fn hash_blocking(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::PasswordHashing(e.to_string()))
}

/// Whether `password` matches `stored`. With no stored hash (unknown email)
/// a dummy hash is checked, so that the answer takes as long either way.
pub(crate) async fn verify(password: String, stored: Option<String>) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = match stored {
            Some(hash) => hash,
            None => dummy_hash()?.to_owned(),
        };
        let parsed =
            PasswordHash::new(&stored).map_err(|e| Error::PasswordHashing(e.to_string()))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(matches && known)
    })
    .await?
}

fn dummy_hash() -> Result<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_blocking("quartermaster timing equalizer")?;
    Ok(DUMMY.get_or_init(|| hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules_count_characters_and_bound_bytes() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("twelve chars".into()).is_ok());
        assert!(Password::parse("ééééééééééé".into()).is_err());
        assert!(Password::parse("x".repeat(MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn control_characters_are_refused_and_other_unicode_is_not() {
        for bad in [
            "correct\u{0}horse battery",
            "correct\thorse battery",
            "correct horse\u{7f}battery",
        ] {
            assert!(
                Password::parse(bad.into())
                    .unwrap_err()
                    .contains("control characters"),
                "{bad:?}"
            );
        }
        assert!(Password::parse("correct hörse bättery ✓".into()).is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let p = Password::parse("correct horse battery".into()).unwrap();
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hash = Password::parse("correct horse battery".into())
            .unwrap()
            .hash()
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("correct horse batterY".into(), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(
            !verify("quartermaster timing equalizer".into(), None)
                .await
                .unwrap()
        );
    }
}
