//! API keys for services and scripts: each owned by a staff user or a named service account,
//! with a role; shown once, stored as a hash, listable, revocable, last use recorded.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::secret::{self, Secret};
use crate::auth::{Actor, KEY_PREFIX, Role, parse_role};
use crate::db::{Db, Exec, Query, Row, Tx};
use crate::error::{Checks, Error, Result};
use crate::types::{Page, PageRequest, now_ms, rfc3339, typed_id};
use crate::users::{self, UserId};

typed_id!(
    /// An API key's id.
    KeyId,
    "API key"
);

/// The name of the service account that owns the key made at first start.
pub const BOOTSTRAP_SERVICE: &str = "bootstrap-admin";

/// Who a key belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeyOwner {
    /// A staff user; the key stops working when the user is disabled or changes role.
    User {
        /// The user's id.
        user_id: UserId,
    },
    /// A named service account.
    Service {
        /// The service's name.
        name: String,
    },
}

/// An API key, as the API shows it (never the key itself after creation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiKey {
    /// The key's id.
    pub id: KeyId,
    /// What the key is for.
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// The role the key acts with.
    pub role: Role,
    /// Who owns the key.
    pub owner: KeyOwner,
    /// Who made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// When it was last used, to the minute (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// When it was revoked (RFC 3339); a revoked key is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// A key just made: the only time the key itself is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key's record.
    #[serde(flatten)]
    pub key: ApiKey,
    /// The bearer token (`plk_…`); shown once and never again. A replayed request (same
    /// `Idempotency-Key`) gets the record without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub secret: Option<String>,
}

/// What making a key needs: a name, a role, and an owner (a user id or a service name).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for (1 to 128 characters).
    pub name: String,
    /// The role; for a user's key it must be the user's role.
    pub role: Role,
    /// The owning user's id; give this or `service`.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The owning service account's name; give this or `user_id`.
    #[serde(default)]
    pub service: Option<String>,
}

const KEY_COLUMNS: &str = "id, name, prefix, role, owner_user_id, service, created_by, created_at, last_used_at, revoked_at";

fn key_from(row: &Row) -> Result<ApiKey> {
    let owner = match (
        row.get::<Option<String>>("owner_user_id")?,
        row.get::<Option<String>>("service")?,
    ) {
        (Some(user), None) => KeyOwner::User {
            user_id: UserId::stored(&user)?,
        },
        (None, Some(name)) => KeyOwner::Service { name },
        _ => return Err(Error::Corrupt("an API key with no single owner".to_owned())),
    };
    Ok(ApiKey {
        id: KeyId::stored(&row.get::<String>("id")?)?,
        name: row.get("name")?,
        prefix: row.get("prefix")?,
        role: parse_role(&row.get::<String>("role")?)?,
        owner,
        created_by: row.get("created_by")?,
        created_at: rfc3339(row.get("created_at")?),
        last_used_at: row.get::<Option<i64>>("last_used_at")?.map(rfc3339),
        revoked_at: row.get::<Option<i64>>("revoked_at")?.map(rfc3339),
    })
}

fn check_name(checks: &mut Checks, pointer: &str, name: &str) {
    if name.trim().is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        checks.push(pointer, "1 to 128 printable characters");
    }
}

/// Makes a key. Returns its record and the key itself, which is stored only as a hash.
pub async fn create(tx: &mut Tx, actor: &Actor, new: &NewKey) -> Result<(ApiKey, Secret)> {
    let mut checks = Checks::new();
    check_name(&mut checks, "/name", &new.name);
    if !new.role.is_staff() {
        checks.push(
            "/role",
            "a staff role: admin, operator, compliance or auditor",
        );
    }
    let owner_user = match (&new.user_id, &new.service) {
        (Some(user), None) => {
            let user = users::get(
                tx.exec(),
                UserId::parse(user).map_err(|_| Error::invalid("/user_id", "no such user"))?,
            )
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => Error::invalid("/user_id", "no such user"),
                other => other,
            })?;
            if user.role != new.role {
                checks.push(
                    "/role",
                    format!(
                        "a key owned by {} must have their role, {}",
                        user.username, user.role
                    ),
                );
            }
            if user.disabled {
                checks.push("/user_id", "the user is disabled");
            }
            Some(user.id)
        }
        (None, Some(service)) => {
            check_name(&mut checks, "/service", service);
            None
        }
        _ => {
            checks.push("/user_id", "give exactly one of user_id and service");
            None
        }
    };
    checks.finish()?;
    let token = secret::new_token(KEY_PREFIX)?;
    let prefix: String = token.expose().chars().take(KEY_PREFIX.len() + 6).collect();
    let id = KeyId::new();
    let row = Query::assembled(format!(
        "INSERT INTO api_keys (id, token_hash, prefix, name, role, owner_user_id, service, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {KEY_COLUMNS}"
    ))
    .bind(id.to_string())
    .bind(secret::token_hash(token.expose()))
    .bind(prefix)
    .bind(new.name.trim())
    .bind(new.role.as_str())
    .bind(owner_user.map(|u| u.to_string()))
    .bind(if owner_user.is_some() { None } else { new.service.clone() })
    .bind(actor.reference())
    .bind(now_ms())
    .fetch_one(tx.exec())
    .await?;
    Ok((key_from(&row)?, token))
}

/// One key.
pub async fn get(exec: Exec<'_>, id: KeyId) -> Result<ApiKey> {
    let row = Query::assembled(format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(exec)
        .await?
        .ok_or(Error::NotFound("API key"))?;
    key_from(&row)
}

/// Keys in creation order, revoked ones included.
pub async fn list(db: &Db, page: &PageRequest) -> Result<Page<ApiKey>> {
    let rows = Query::assembled(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(page.after.clone().unwrap_or_default())
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let keys = rows.iter().map(key_from).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_probe(keys, page, |k| k.id.to_string()))
}

/// Revokes a key (revoking a revoked key changes nothing).
pub async fn revoke(tx: &mut Tx, id: KeyId) -> Result<ApiKey> {
    Query::new("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id.to_string())
        .execute(tx.exec())
        .await?;
    get(tx.exec(), id).await
}

/// On a database with no users and no keys, makes an admin key for the service account
/// [`BOOTSTRAP_SERVICE`] and returns it; otherwise `None`. Happens once per database, even when
/// several replicas start together.
pub async fn bootstrap(db: &Db) -> Result<Option<(ApiKey, Secret)>> {
    let mut tx = db.begin().await?;
    let users = Query::new("SELECT COUNT(*) AS n FROM api_users")
        .fetch_one(tx.exec())
        .await?
        .get::<i64>("n")?;
    let keys = Query::new("SELECT COUNT(*) AS n FROM api_keys")
        .fetch_one(tx.exec())
        .await?
        .get::<i64>("n")?;
    if users > 0 || keys > 0 {
        return Ok(None);
    }
    let first =
        Query::new("INSERT INTO api_bootstrap (id, at) VALUES (1, $1) ON CONFLICT DO NOTHING")
            .bind(now_ms())
            .execute(tx.exec())
            .await?;
    if first != 1 {
        return Ok(None);
    }
    let new = NewKey {
        name: "admin key made at first start".to_owned(),
        role: Role::Admin,
        user_id: None,
        service: Some(BOOTSTRAP_SERVICE.to_owned()),
    };
    let actor = Actor::system("first start");
    let made = create(&mut tx, &actor, &new).await?;
    let id = made.0.id.to_string();
    crate::audit::append(
        tx.exec(),
        &crate::audit::Record {
            request_id: &format!("start-{}", uuid::Uuid::now_v7()),
            actor: &actor,
            method: "START",
            route: "first start",
            resource_id: Some(&id),
            status: 201,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(made))
}
