//! Staff users: accounts with a role, a password (argon2id) and a TOTP second factor; signing
//! in, sessions and their revocation.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::secret::{self, Secret};
use crate::auth::{Role, SESSION_PREFIX, parse_role, totp};
use crate::db::{Db, Exec, Query, Row, Tx, is_unique_violation};
use crate::error::{Checks, Error, Result};
use crate::types::{Page, PageRequest, now_ms, rfc3339, typed_id};

typed_id!(
    /// A staff user's id.
    UserId,
    "user"
);

/// The issuer name authenticator apps show next to the code.
pub const TOTP_ISSUER: &str = "PropLedger";

/// A staff user, as the API shows it (never the password hash or the TOTP secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The sign-in name: lowercase letters, digits, `.`, `_`, `-` and `@`.
    pub username: String,
    /// The name shown to people.
    pub display_name: String,
    /// The user's role.
    pub role: Role,
    /// A disabled user cannot sign in, and their sessions and keys stop working.
    pub disabled: bool,
    /// Increases with every change; send it back in `If-Match` to update safely.
    pub version: i64,
    /// When the user was created (RFC 3339).
    pub created_at: String,
    /// When the user last changed (RFC 3339).
    pub updated_at: String,
}

/// What creating a user needs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// The sign-in name.
    pub username: String,
    /// The name shown to people (default: the username).
    #[serde(default)]
    pub display_name: Option<String>,
    /// The role.
    pub role: Role,
    /// At least 12 characters.
    #[schema(value_type = String, format = Password)]
    pub password: Secret,
}

/// The second factor of a new user, shown once.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TotpEnrollment {
    /// The secret in base32, for typing into an authenticator app.
    pub secret_base32: String,
    /// The same as an `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}

/// A change to a user; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// A new display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// A new role.
    #[serde(default)]
    pub role: Option<Role>,
    /// Disable (true) or enable (false) the user; disabling revokes their sessions.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// A new password (at least 12 characters).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Secret>,
}

/// A session granted by signing in.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionGrant {
    /// The bearer token (`pls_…`); shown once.
    #[schema(value_type = String)]
    pub token: String,
    /// The session's id.
    pub session_id: String,
    /// When the session ends (RFC 3339).
    pub expires_at: String,
    /// Who signed in.
    pub user: User,
}

fn check_username(checks: &mut Checks, username: &str) {
    let ok = (3..=64).contains(&username.len())
        && username.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'@')
        });
    if !ok {
        checks.push(
            "/username",
            "3 to 64 characters: lowercase letters, digits, '.', '_', '-' and '@'",
        );
    }
}

fn check_display_name(checks: &mut Checks, name: &str) {
    if name.trim().is_empty() || name.chars().count() > 128 {
        checks.push("/display_name", "1 to 128 characters");
    }
}

impl NewUser {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let mut checks = Checks::new();
        check_username(&mut checks, &self.username);
        if !self.role.is_staff() {
            checks.push(
                "/role",
                "a staff role: admin, operator, compliance or auditor",
            );
        }
        if let Some(name) = &self.display_name {
            check_display_name(&mut checks, name);
        }
        checks.take(secret::check_password_policy(
            "/password",
            self.password.expose(),
        ));
        checks.finish()
    }
}

impl UserUpdate {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let mut checks = Checks::new();
        if let Some(name) = &self.display_name {
            check_display_name(&mut checks, name);
        }
        if self.role.is_some_and(|r| !r.is_staff()) {
            checks.push(
                "/role",
                "a staff role: admin, operator, compliance or auditor",
            );
        }
        if let Some(p) = &self.password {
            checks.take(secret::check_password_policy("/password", p.expose()));
        }
        checks.finish()
    }
}

const USER_COLUMNS: &str =
    "id, username, display_name, role, disabled, version, created_at, updated_at";

fn user_from(row: &Row) -> Result<User> {
    Ok(User {
        id: UserId::stored(&row.get::<String>("id")?)?,
        username: row.get("username")?,
        display_name: row.get("display_name")?,
        role: parse_role(&row.get::<String>("role")?)?,
        disabled: row.get("disabled")?,
        version: row.get("version")?,
        created_at: rfc3339(row.get("created_at")?),
        updated_at: rfc3339(row.get("updated_at")?),
    })
}

/// Creates a user from a validated request whose password is already hashed
/// ([`secret::hash_password`]); returns the user and the TOTP enrollment to show once.
pub async fn create(
    tx: &mut Tx,
    new: &NewUser,
    password_hash: String,
) -> Result<(User, TotpEnrollment)> {
    let totp_secret = secret::random_bytes::<20>()?;
    let id = UserId::new();
    let now = now_ms();
    let display = new
        .display_name
        .clone()
        .unwrap_or_else(|| new.username.clone());
    let row = Query::assembled(format!(
        "INSERT INTO api_users (id, username, display_name, role, password_hash, totp_secret, \
         disabled, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, FALSE, 1, $7, $7) RETURNING {USER_COLUMNS}"
    ))
    .bind(id.to_string())
    .bind(new.username.as_str())
    .bind(display)
    .bind(new.role.as_str())
    .bind(password_hash)
    .bind(totp_secret.to_vec())
    .bind(now)
    .fetch_one(tx.exec())
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            Error::conflict(
                "username_taken",
                format!("a user named {:?} exists", new.username),
            )
        } else {
            e
        }
    })?;
    let user = user_from(&row)?;
    let enrollment = TotpEnrollment {
        secret_base32: totp::base32(&totp_secret),
        otpauth_uri: totp::otpauth_uri(TOTP_ISSUER, &user.username, &totp_secret),
    };
    Ok((user, enrollment))
}

/// One user.
pub async fn get(exec: Exec<'_>, id: UserId) -> Result<User> {
    let row = Query::assembled(format!(
        "SELECT {USER_COLUMNS} FROM api_users WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(exec)
    .await?
    .ok_or(Error::NotFound("user"))?;
    user_from(&row)
}

/// One user by name.
pub async fn by_username(exec: Exec<'_>, username: &str) -> Result<User> {
    let row = Query::assembled(format!(
        "SELECT {USER_COLUMNS} FROM api_users WHERE username = $1"
    ))
    .bind(username)
    .fetch_optional(exec)
    .await?
    .ok_or(Error::NotFound("user"))?;
    user_from(&row)
}

/// Users in creation order.
pub async fn list(db: &Db, page: &PageRequest) -> Result<Page<User>> {
    let rows = Query::assembled(format!(
        "SELECT {USER_COLUMNS} FROM api_users WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(page.after.clone().unwrap_or_default())
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let users = rows.iter().map(user_from).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_probe(users, page, |u| u.id.to_string()))
}

/// Applies a validated update (its password, if any, already hashed). With `if_match`, the
/// update happens only at that version.
pub async fn update(
    tx: &mut Tx,
    id: UserId,
    update: &UserUpdate,
    password_hash: Option<String>,
    if_match: Option<i64>,
) -> Result<User> {
    let current = get(tx.exec(), id).await?;
    if let Some(v) = if_match
        && v != current.version
    {
        return Err(Error::PreconditionFailed {
            current: current.version,
        });
    }
    let now = now_ms();
    let mut q = Query::new(
        "UPDATE api_users SET display_name = $1, role = $2, disabled = $3, \
         password_hash = COALESCE($4, password_hash), version = version + 1, updated_at = $5 \
         WHERE id = $6 AND version = $7",
    );
    q = q
        .bind(
            update
                .display_name
                .clone()
                .unwrap_or(current.display_name.clone()),
        )
        .bind(update.role.unwrap_or(current.role).as_str())
        .bind(update.disabled.unwrap_or(current.disabled))
        .bind(password_hash)
        .bind(now)
        .bind(id.to_string())
        .bind(current.version);
    if q.execute(tx.exec()).await? != 1 {
        return Err(Error::conflict(
            "concurrent_update",
            "the user changed while this update ran; read it again and retry",
        ));
    }
    let disabled_now = update.disabled == Some(true);
    let role_changed = update.role.is_some_and(|r| r != current.role);
    if disabled_now || role_changed || update.password.is_some() {
        revoke_sessions_of(tx, id).await?;
    }
    get(tx.exec(), id).await
}

/// Revokes every open session of a user.
pub async fn revoke_sessions_of(tx: &mut Tx, id: UserId) -> Result<u64> {
    Query::new("UPDATE api_sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id.to_string())
        .execute(tx.exec())
        .await
}

/// Revokes one session.
pub async fn revoke_session(tx: &mut Tx, session_id: &str) -> Result<()> {
    Query::new("UPDATE api_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(session_id)
        .execute(tx.exec())
        .await?;
    Ok(())
}

/// What signing in needs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The sign-in name.
    pub username: String,
    /// The password.
    #[schema(value_type = String, format = Password)]
    pub password: Secret,
    /// The current six-digit code from the authenticator app.
    pub totp_code: String,
}

/// The single answer for every failed sign-in, so a caller cannot tell which part was wrong.
const SIGN_IN_REFUSED: Error = Error::Unauthenticated("wrong username, password or one-time code");

/// A sign-in whose password and code were right, ready to open a session.
#[derive(Debug)]
pub struct Verified {
    user_id: UserId,
    step: i64,
}

/// Checks a sign-in's password and one-time code (argon2id on a blocking thread). Every
/// failure is the same error, so a caller cannot tell which part was wrong, and an unknown
/// user takes as long as a known one.
pub async fn verify_sign_in(db: &Db, req: &SignIn) -> Result<Verified> {
    if req.username.len() > 64 || req.password.expose().len() > 256 || req.totp_code.len() > 16 {
        return Err(SIGN_IN_REFUSED);
    }
    let row = Query::new(
        "SELECT id, password_hash, totp_secret, disabled FROM api_users WHERE username = $1",
    )
    .bind(req.username.as_str())
    .fetch_optional(db.reader())
    .await?;
    let stored = match &row {
        Some(r) => Some(r.get::<String>("password_hash")?),
        None => None,
    };
    let password_ok = secret::verify_password(req.password.clone(), stored).await?;
    let Some(row) = row.filter(|_| password_ok) else {
        return Err(SIGN_IN_REFUSED);
    };
    if row.get::<bool>("disabled")? {
        return Err(SIGN_IN_REFUSED);
    }
    let totp_secret: Vec<u8> = row.get("totp_secret")?;
    let step = totp::matching_step(
        &totp_secret,
        req.totp_code.trim(),
        now_ms().div_euclid(1000),
    )
    .ok_or(SIGN_IN_REFUSED)?;
    Ok(Verified {
        user_id: UserId::stored(&row.get::<String>("id")?)?,
        step,
    })
}

impl Verified {
    /// The user who signed in.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }
}

/// Opens a session of `ttl_ms` for a verified sign-in. The TOTP step is recorded, so the same
/// code never opens a second session.
pub async fn open_session(tx: &mut Tx, verified: &Verified, ttl_ms: i64) -> Result<SessionGrant> {
    let id = verified.user_id;
    let fresh = Query::new(
        "UPDATE api_users SET totp_last_step = $1 \
         WHERE id = $2 AND disabled = FALSE AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(verified.step)
    .bind(id.to_string())
    .execute(tx.exec())
    .await?;
    if fresh != 1 {
        // The code (or a later one) was used already.
        return Err(SIGN_IN_REFUSED);
    }
    let token = secret::new_token(SESSION_PREFIX)?;
    let session_id = uuid::Uuid::now_v7().to_string();
    let now = now_ms();
    let expires_at = now + ttl_ms;
    Query::new(
        "INSERT INTO api_sessions (id, token_hash, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(session_id.as_str())
    .bind(secret::token_hash(token.expose()))
    .bind(id.to_string())
    .bind(now)
    .bind(expires_at)
    .execute(tx.exec())
    .await?;
    let user = get(tx.exec(), id).await?;
    Ok(SessionGrant {
        token: token.expose().to_owned(),
        session_id,
        expires_at: rfc3339(expires_at),
        user,
    })
}
