//! `Idempotency-Key`: a creating POST sent again with the same key gets the first response,
//! and the same key with another request is refused. The first response is stored in the same
//! transaction as the change it reports, so a retry after a crash either finds both or neither.
//!
//! Keys are scoped to the caller (two callers may use the same key) and remembered for
//! [`RETENTION_MS`]. Responses that show a secret once (a new API key, a new user's second
//! factor) are stored without it.

use sha2::{Digest, Sha256};

use crate::db::{Exec, Query};
use crate::error::{Error, Result};
use crate::types::now_ms;

/// How long a key is remembered: 24 hours.
pub const RETENTION_MS: i64 = 24 * 3600 * 1000;

/// A client's idempotency key: 1 to 255 visible ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header's value.
    pub fn parse(s: &str) -> Result<IdempotencyKey> {
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "Idempotency-Key",
                "1 to 255 visible ASCII characters",
            ));
        }
        Ok(IdempotencyKey(s.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What identifies a request for replay: the route and a digest of what it asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// The route's template.
    pub route: String,
    /// SHA-256 of the request's meaning (its body, or for uploads the fields and the file's
    /// hash).
    pub digest: Vec<u8>,
}

impl Fingerprint {
    /// A fingerprint over a route and the parts of a request.
    pub fn of(route: &str, parts: &[&[u8]]) -> Fingerprint {
        let mut h = Sha256::new();
        for part in parts {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        Fingerprint {
            route: route.to_owned(),
            digest: h.finalize().to_vec(),
        }
    }
}

/// A response stored for replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The status.
    pub status: u16,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// The stored response for a key, if the caller used it before for the same request; a
/// conflict if they used it for another.
pub async fn lookup(
    exec: Exec<'_>,
    actor: &str,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
) -> Result<Option<Stored>> {
    let row = Query::new(
        "SELECT route, request_hash, status, body FROM api_idempotency \
         WHERE actor = $1 AND key = $2 AND created_at > $3",
    )
    .bind(actor)
    .bind(key.as_str())
    .bind(now_ms() - RETENTION_MS)
    .fetch_optional(exec)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let route: String = row.get("route")?;
    let digest: Vec<u8> = row.get("request_hash")?;
    if route != fingerprint.route || digest != fingerprint.digest {
        return Err(Error::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used for another request; use a new key for a new request",
        ));
    }
    let status = u16::try_from(row.get::<i64>("status")?)
        .map_err(|_| Error::Corrupt("stored idempotent status".to_owned()))?;
    Ok(Some(Stored {
        status,
        body: row.get("body")?,
    }))
}

/// Whether storing lost a race with the same key (the caller rolls back and replays).
#[derive(Debug, PartialEq, Eq)]
pub enum Saved {
    /// Stored.
    Saved,
    /// Another request with the key committed first.
    Raced,
}

/// Stores the response to a request made with a key.
pub async fn save(
    exec: Exec<'_>,
    actor: &str,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
    stored: &Stored,
) -> Result<Saved> {
    // A row past retention that was not yet expired is replaced; a live one is a race lost.
    let now = now_ms();
    let written = Query::new(
        "INSERT INTO api_idempotency (actor, key, route, request_hash, status, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (actor, key) DO UPDATE SET route = excluded.route, \
         request_hash = excluded.request_hash, status = excluded.status, body = excluded.body, \
         created_at = excluded.created_at WHERE api_idempotency.created_at <= $8",
    )
    .bind(actor)
    .bind(key.as_str())
    .bind(fingerprint.route.as_str())
    .bind(fingerprint.digest.clone())
    .bind(i64::from(stored.status))
    .bind(stored.body.clone())
    .bind(now)
    .bind(now - RETENTION_MS)
    .execute(exec)
    .await?;
    Ok(if written == 1 {
        Saved::Saved
    } else {
        Saved::Raced
    })
}

/// Forgets keys older than [`RETENTION_MS`]; returns how many.
pub async fn expire(exec: Exec<'_>) -> Result<u64> {
    Query::new("DELETE FROM api_idempotency WHERE created_at <= $1")
        .bind(now_ms() - RETENTION_MS)
        .execute(exec)
        .await
}
