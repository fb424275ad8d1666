//! Who is calling: staff roles, the principal a bearer token stands for, and the actor recorded
//! for every write.
//!
//! Two kinds of bearer token reach the API: session tokens (`pls_…`), issued by signing in with
//! a password and a TOTP code, and API keys (`plk_…`), issued to a user or a named service
//! account. Both are stored only as SHA-256 hashes; both carry a role.

pub mod secret;
pub mod totp;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{Db, Query};
use crate::error::{Error, Result};
use crate::types::now_ms;

/// Prefix of session tokens.
pub const SESSION_PREFIX: &str = "pls_";
/// Prefix of API keys.
pub const KEY_PREFIX: &str = "plk_";

/// A staff role.
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
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Compliance, Role::Auditor];

    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Compliance => "compliance",
            Role::Auditor => "auditor",
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
    /// Staff who may read everything (every role).
    pub const READ: Allowed = Allowed(&Role::ALL);
    /// Admins only.
    pub const ADMIN: Allowed = Allowed(&[Role::Admin]);
    /// Admins and operators.
    pub const OPERATE: Allowed = Allowed(&[Role::Admin, Role::Operator]);
    /// Admins and auditors.
    pub const AUDIT: Allowed = Allowed(&[Role::Admin, Role::Auditor]);

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
}

impl Principal {
    /// The caller's role.
    pub fn role(&self) -> Role {
        match self {
            Principal::User { role, .. } | Principal::Key { role, .. } => *role,
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
            ActorKind::Anonymous => "anonymous",
            ActorKind::System => "system",
        }
    }

    /// From storage.
    pub fn parse(s: &str) -> Result<ActorKind> {
        Ok(match s {
            "user" => ActorKind::User,
            "key" => ActorKind::Key,
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

/// Resolves a bearer token to its principal, or refuses it.
pub async fn authenticate(db: &Db, token: &str) -> Result<Principal> {
    let hash = secret::token_hash(token);
    let now = now_ms();
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
        return Ok(Principal::User {
            user_id: row.get("user_id")?,
            username: row.get("username")?,
            role: parse_role(&row.get::<String>("role")?)?,
            session_id: row.get("id")?,
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
        let key_id: String = row.get("id")?;
        let last_used: Option<i64> = row.get("last_used_at")?;
        if last_used.is_none_or(|t| now - t >= LAST_USE_RESOLUTION_MS) {
            record_key_use(db, &key_id, now).await;
        }
        return Ok(Principal::Key {
            key_id,
            name: row.get("name")?,
            role,
            owner_user_id: row.get("owner_user_id")?,
        });
    }
    Err(Error::Unauthenticated(
        "not a PropLedger credential (expected a pls_ session token or a plk_ API key)",
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
