//! Who is calling: staff roles, the principal a bearer token stands for, and the actor recorded
//! for every write.
//!
//! Two kinds of bearer token reach the API: session tokens (`pls_…`), issued by signing in with
//! a password and a TOTP code, and API keys (`plk_…`), issued to a user or a named service
//! account. Both are stored only as SHA-256 hashes; both carry a role.

pub mod secret;
pub mod totp;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{Db, Query};
use crate::error::{Error, Result};
use crate::types::now_ms;

/// Prefix of session tokens.
pub const SESSION_PREFIX: &str = "pls_";
/// Prefix of API keys.
pub const KEY_PREFIX: &str = "plk_";
/// Prefix of wallet (investor) session tokens.
pub const WALLET_PREFIX: &str = "plw_";

/// A role: the four staff roles, and investors (wallets that signed in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages staff accounts and keys, and may do everything an operator may.
    Admin,
    /// Manages properties, documents, deals and payouts.
    Operator,
    /// Reviews investors and acts on compliance.
    Compliance,
    /// Reads everything, writes nothing.
    Auditor,
    /// A wallet signed in with EIP-4361: sees and acts on its own investor's data only.
    Investor,
}

impl Role {
    /// Every staff role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Compliance, Role::Auditor];

    /// Whether staff users and keys may have this role.
    pub fn is_staff(self) -> bool {
        self != Role::Investor
    }

    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Compliance => "compliance",
            Role::Auditor => "auditor",
            Role::Investor => "investor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .chain([Role::Investor])
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "role",
                    "expected one of admin, operator, compliance, auditor",
                )
            })
    }
}

/// Who may call a route: the roles allowed, or any signed-in staff member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed(pub &'static [Role]);

impl Allowed {
    /// Any staff role.
    pub const STAFF: Allowed = Allowed(&Role::ALL);
    /// Any signed-in caller: staff, keys and wallets.
    pub const ANYONE: Allowed = Allowed(&[
        Role::Admin,
        Role::Operator,
        Role::Compliance,
        Role::Auditor,
        Role::Investor,
    ]);
    /// Staff who may read everything (every role).
    pub const READ: Allowed = Allowed(&Role::ALL);
    /// Admins only.
    pub const ADMIN: Allowed = Allowed(&[Role::Admin]);
    /// Admins and operators.
    pub const OPERATE: Allowed = Allowed(&[Role::Admin, Role::Operator]);
    /// Admins and auditors.
    pub const AUDIT: Allowed = Allowed(&[Role::Admin, Role::Auditor]);
    /// Those who review investors: admins, compliance staff and auditors (reading).
    pub const REVIEW: Allowed = Allowed(&[Role::Admin, Role::Compliance, Role::Auditor]);
    /// Admins and compliance staff.
    pub const COMPLIANCE: Allowed = Allowed(&[Role::Admin, Role::Compliance]);
    /// Staff who write business documents.
    pub const DOCUMENTS: Allowed = Allowed(&[Role::Admin, Role::Operator, Role::Compliance]);
    /// Investors (signed-in wallets), for their own data.
    pub const INVESTOR: Allowed = Allowed(&[Role::Investor]);

    /// The role names, for the OpenAPI document.
    pub fn names(self) -> Vec<&'static str> {
        self.0.iter().map(|r| r.as_str()).collect()
    }
}

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A staff user signed in with a session token.
    User {
        /// The user's id.
        user_id: String,
        /// The user's name.
        username: String,
        /// The user's role.
        role: Role,
        /// The session the token stands for.
        session_id: String,
    },
    /// An API key.
    Key {
        /// The key's id.
        key_id: String,
        /// The key's name.
        name: String,
        /// The key's role.
        role: Role,
        /// The owning user's id, or `None` for a service account.
        owner_user_id: Option<String>,
    },
    /// A wallet that signed in with EIP-4361.
    Wallet {
        /// The wallet, checksummed.
        wallet: String,
        /// The session the token stands for.
        session_id: String,
    },
}

impl Principal {
    /// The caller's role.
    pub fn role(&self) -> Role {
        match self {
            Principal::User { role, .. } | Principal::Key { role, .. } => *role,
            Principal::Wallet { .. } => Role::Investor,
        }
    }

    /// Refuses the call unless the caller's role is allowed.
    pub fn require(&self, allowed: Allowed) -> Result<()> {
        if allowed.0.contains(&self.role()) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "the {} role may not do this (allowed: {})",
                self.role(),
                allowed.names().join(", ")
            )))
        }
    }

    /// The actor recorded for this caller's writes.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::User {
                user_id, username, ..
            } => Actor {
                kind: ActorKind::User,
                id: Some(user_id.clone()),
                name: Some(username.clone()),
            },
            Principal::Key { key_id, name, .. } => Actor {
                kind: ActorKind::Key,
                id: Some(key_id.clone()),
                name: Some(name.clone()),
            },
            Principal::Wallet { wallet, .. } => Actor {
                kind: ActorKind::Wallet,
                id: Some(wallet.clone()),
                name: None,
            },
        }
    }
}

/// What kind of actor made a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A signed-in staff user.
    User,
    /// An API key.
    Key,
    /// A signed-in wallet.
    Wallet,
    /// No valid credential.
    Anonymous,
    /// The node itself or its command line.
    System,
}

impl ActorKind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Key => "key",
            ActorKind::Wallet => "wallet",
            ActorKind::Anonymous => "anonymous",
            ActorKind::System => "system",
        }
    }

    /// From storage.
    pub fn parse(s: &str) -> Result<ActorKind> {
        Ok(match s {
            "user" => ActorKind::User,
            "key" => ActorKind::Key,
            "wallet" => ActorKind::Wallet,
            "anonymous" => ActorKind::Anonymous,
            "system" => ActorKind::System,
            other => return Err(Error::Corrupt(format!("actor kind {other:?}"))),
        })
    }
}

/// Who made a write, as the audit log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The kind of actor.
    pub kind: ActorKind,
    /// The user's or key's id.
    pub id: Option<String>,
    /// The user's or key's name (for an anonymous caller, the username it tried, if any).
    pub name: Option<String>,
}

impl Actor {
    /// A caller without a valid credential.
    pub fn anonymous(name: Option<String>) -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            id: None,
            name,
        }
    }

    /// The node or its command line.
    pub fn system(name: &str) -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
            name: Some(name.to_owned()),
        }
    }

    /// A stable text for the actor, used to scope idempotency keys and record authors.
    pub fn reference(&self) -> String {
        match (&self.id, &self.name) {
            (Some(id), _) => format!("{}:{id}", self.kind.as_str()),
            (None, Some(name)) => format!("{}:{name}", self.kind.as_str()),
            (None, None) => self.kind.as_str().to_owned(),
        }
    }
}

/// How often an API key's last use is written at most: a write per request would make every
/// read a write.
const LAST_USE_RESOLUTION_MS: i64 = 60_000;

/// A credential resolved from the database.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub(crate) principal: Principal,
    /// When the credential ends on its own (a session's expiry), Unix ms.
    pub(crate) valid_until_ms: i64,
    /// For a key, when its use was last recorded.
    pub(crate) key_last_used_ms: Option<i64>,
}

/// How long a resolved credential is reused without reading the database again. A revocation
/// takes effect at once on the process that makes it (it forgets every cached credential) and
/// within this long on the other replicas.
pub const CACHE_TTL: Duration = Duration::from_secs(2);

/// Most credentials kept; past that the cache starts over.
const CACHE_MAX: usize = 10_000;

/// Credentials resolved in the last [`CACHE_TTL`], by token hash.
#[derive(Debug, Default)]
pub(crate) struct CredentialCache {
    entries: Mutex<HashMap<Vec<u8>, (Instant, Resolved)>>,
}

impl CredentialCache {
    /// Forgets every credential (after a revocation, a role change or a disabled user).
    pub(crate) fn clear(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
    }

    /// Resolves a bearer token: from the cache when it was resolved within [`CACHE_TTL`] and
    /// has not expired since, else from the database.
    pub(crate) async fn authenticate(&self, db: &Db, token: &str) -> Result<Principal> {
        let hash = secret::token_hash(token);
        let now = now_ms();
        let cached = self.entries.lock().ok().and_then(|e| {
            e.get(&hash)
                .filter(|(at, r)| at.elapsed() < CACHE_TTL && r.valid_until_ms > now)
                .map(|(_, r)| r.clone())
        });
        let resolved = match cached {
            Some(r) => r,
            None => {
                let r = resolve(db, &hash, token, now).await?;
                if let Ok(mut e) = self.entries.lock() {
                    if e.len() >= CACHE_MAX {
                        e.clear();
                    }
                    e.insert(hash.clone(), (Instant::now(), r.clone()));
                }
                r
            }
        };
        if let (Principal::Key { key_id, .. }, Some(last)) =
            (&resolved.principal, resolved.key_last_used_ms.or(Some(0)))
            && now - last >= LAST_USE_RESOLUTION_MS
        {
            record_key_use(db, key_id, now).await;
            if let Ok(mut e) = self.entries.lock()
                && let Some((_, r)) = e.get_mut(&hash)
            {
                r.key_last_used_ms = Some(now);
            }
        }
        Ok(resolved.principal)
    }
}

/// Resolves a bearer token to its principal, or refuses it, reading the database.
pub async fn authenticate(db: &Db, token: &str) -> Result<Principal> {
    let hash = secret::token_hash(token);
    Ok(resolve(db, &hash, token, now_ms()).await?.principal)
}

async fn resolve(db: &Db, hash: &[u8], token: &str, now: i64) -> Result<Resolved> {
    let hash = hash.to_vec();
    if token.starts_with(SESSION_PREFIX) {
        let row = Query::new(
            "SELECT s.id, s.expires_at, s.revoked_at, u.id AS user_id, u.username, u.role, u.disabled \
             FROM api_sessions s JOIN api_users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(db.reader())
        .await?
        .ok_or(Error::Unauthenticated("unknown session token"))?;
        if row.get::<Option<i64>>("revoked_at")?.is_some() {
            return Err(Error::Unauthenticated("the session was revoked"));
        }
        if row.get::<i64>("expires_at")? <= now {
            return Err(Error::Unauthenticated("the session expired"));
        }
        if row.get::<bool>("disabled")? {
            return Err(Error::Unauthenticated("the user is disabled"));
        }
        return Ok(Resolved {
            principal: Principal::User {
                user_id: row.get("user_id")?,
                username: row.get("username")?,
                role: parse_role(&row.get::<String>("role")?)?,
                session_id: row.get("id")?,
            },
            valid_until_ms: row.get("expires_at")?,
            key_last_used_ms: None,
        });
    }
    if token.starts_with(KEY_PREFIX) {
        let row = Query::new(
            "SELECT k.id, k.name, k.role, k.owner_user_id, k.revoked_at, k.last_used_at, \
                    COALESCE(u.disabled, FALSE) AS owner_disabled, u.role AS owner_role \
             FROM api_keys k LEFT JOIN api_users u ON u.id = k.owner_user_id WHERE k.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(db.reader())
        .await?
        .ok_or(Error::Unauthenticated("unknown API key"))?;
        if row.get::<Option<i64>>("revoked_at")?.is_some() {
            return Err(Error::Unauthenticated("the API key was revoked"));
        }
        if row.get::<bool>("owner_disabled")? {
            return Err(Error::Unauthenticated("the key's owner is disabled"));
        }
        let role = parse_role(&row.get::<String>("role")?)?;
        if let Some(owner_role) = row.get::<Option<String>>("owner_role")?
            && owner_role != role.as_str()
        {
            return Err(Error::Unauthenticated(
                "the key's owner has another role now; make a new key",
            ));
        }
        return Ok(Resolved {
            principal: Principal::Key {
                key_id: row.get("id")?,
                name: row.get("name")?,
                role,
                owner_user_id: row.get("owner_user_id")?,
            },
            valid_until_ms: i64::MAX,
            key_last_used_ms: Some(row.get::<Option<i64>>("last_used_at")?.unwrap_or(0)),
        });
    }
    if token.starts_with(WALLET_PREFIX) {
        let row = Query::new(
            "SELECT id, wallet, expires_at, revoked_at FROM api_wallet_sessions WHERE token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(db.reader())
        .await?
        .ok_or(Error::Unauthenticated("unknown wallet session"))?;
        if row.get::<Option<i64>>("revoked_at")?.is_some() {
            return Err(Error::Unauthenticated("the session was revoked"));
        }
        if row.get::<i64>("expires_at")? <= now {
            return Err(Error::Unauthenticated("the session expired"));
        }
        return Ok(Resolved {
            principal: Principal::Wallet {
                wallet: row.get("wallet")?,
                session_id: row.get("id")?,
            },
            valid_until_ms: row.get("expires_at")?,
            key_last_used_ms: None,
        });
    }
    Err(Error::Unauthenticated(
        "not a PropLedger credential (expected a pls_ or plw_ session token or a plk_ API key)",
    ))
}

/// Records a key's use in the background; the request does not wait for it, and a failure only
/// delays the record.
async fn record_key_use(db: &Db, key_id: &str, now: i64) {
    let db = db.clone();
    let key_id = key_id.to_owned();
    tokio::spawn(async move {
        let write = async {
            let mut tx = db.begin().await?;
            Query::new(
                "UPDATE api_keys SET last_used_at = $1 \
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(now)
            .bind(key_id.as_str())
            .bind(now - LAST_USE_RESOLUTION_MS)
            .execute(tx.exec())
            .await?;
            tx.commit().await
        };
        if let Err(e) = write.await {
            tracing::warn!(error = %e, key = %key_id, "recording an API key's last use failed");
        }
    });
}

/// A role read from the database.
pub(crate) fn parse_role(s: &str) -> Result<Role> {
    Role::from_str(s).map_err(|_| Error::Corrupt(format!("stored role {s:?}")))
}
