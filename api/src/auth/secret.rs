//! Secrets: random tokens, their stored hashes, passwords (argon2id) and wrappers that never
//! print what they hold.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A value that must not appear in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(buf)
}

/// A new bearer token: a prefix naming its kind and 32 random bytes.
pub fn new_token(prefix: &str) -> Result<Secret> {
    Ok(Secret(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    )))
}

/// What is stored of a bearer token: its SHA-256. Tokens carry 256 random bits, so a fast hash
/// is enough (a slow one only protects guessable secrets such as passwords), and the lookup by
/// hash reveals nothing about the token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Passwords staff accounts may use.
pub fn check_password_policy(pointer: &str, password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < 12 {
        return Err(Error::invalid(pointer, "must be at least 12 characters"));
    }
    if password.len() > 256 {
        return Err(Error::invalid(pointer, "must be at most 256 bytes"));
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    // OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with argon2id on a blocking thread (it takes tens of milliseconds of CPU).
pub async fn hash_password(password: Secret) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes::<16>()?)
            .map_err(|e| Error::Internal(format!("salt: {e}")))?;
        argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("password task: {e}")))?
}

/// A hash of a random password, made once: verifying against it takes as long as against a
/// real one, so a sign-in for an unknown user costs the same as for a known one.
fn decoy_hash() -> Result<String> {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(h) = DECOY.get() {
        return Ok(h.clone());
    }
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| Error::Internal(format!("salt: {e}")))?;
    let h = argon2()
        .hash_password(&random_bytes::<16>()?, &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("hashing a password: {e}")))?;
    Ok(DECOY.get_or_init(|| h).clone())
}

/// Checks a password against a stored hash (or against nothing, taking the same time), on a
/// blocking thread.
pub async fn verify_password(password: Secret, stored: Option<String>) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = match stored {
            Some(s) => s,
            None => decoy_hash()?,
        };
        let hash = PasswordHash::new(&stored)
            .map_err(|e| Error::Corrupt(format!("stored password hash: {e}")))?;
        let ok = argon2()
            .verify_password(password.expose().as_bytes(), &hash)
            .is_ok();
        Ok(ok && known)
    })
    .await
    .map_err(|e| Error::Internal(format!("password task: {e}")))?
}
