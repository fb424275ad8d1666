//! Signing in and out, and who the caller is.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Actor, Allowed, Principal, Role};
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Json};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::users::{self, SessionGrant, SignIn};

const SESSIONS: &str = "/v1/auth/sessions";
const SESSION: &str = "/v1/auth/session";

/// Signs in with a username, password and the current TOTP code; returns a session token.
///
/// Every failure is the same 401, whichever part was wrong. Attempts are rate-limited per
/// client address. A code opens at most one session. Takes no `Idempotency-Key`: the token is
/// shown once and never stored.
#[utoipa::path(post, path = "/v1/auth/sessions", tag = "auth", request_body = SignIn,
    responses((status = 201, description = "Signed in", body = SessionGrant)),
    extensions(("x-roles" = json!([]))))]
pub async fn sign_in(State(app): State<App>, ctx: Ctx, body: Json<SignIn>) -> ApiResult<Response> {
    app.inner.limiter.unauthenticated(ctx.0.client_ip)?;
    let req = body.value;
    ctx.0.set_actor(Actor::anonymous(Some(
        req.username.chars().take(64).collect(),
    )));
    let verified = users::verify_sign_in(app.db(), &req).await?;
    let user = users::get(app.db().reader(), verified.user_id()).await?;
    let actor = Principal::User {
        user_id: user.id.to_string(),
        username: user.username.clone(),
        role: user.role,
        session_id: String::new(),
    }
    .actor();
    ctx.0.set_actor(actor.clone());
    let mut w = match Write::begin(&app, &ctx.0, actor, "POST", SESSIONS, None, &[]).await? {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let ttl_ms = i64::try_from(app.config().session_ttl.as_millis()).unwrap_or(i64::MAX);
    let grant = users::open_session(w.tx(), &verified, ttl_ms).await?;
    let shown = serde_json::to_vec(&grant).map_err(|e| Error::Internal(e.to_string()))?;
    let id = grant.session_id.clone();
    Ok(
        w.finish_with_stored(StatusCode::CREATED, shown, Vec::new(), Some(id))
            .await?,
    )
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Whoami {
    /// `user` (a session) or `key` (an API key).
    pub kind: &'static str,
    /// The user's or key's id.
    pub id: String,
    /// The user's or key's name.
    pub name: String,
    /// The role the caller acts with.
    pub role: Role,
    /// The session's id, for a session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The owning user's id, for a user's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_user_id: Option<String>,
}

/// The caller: the signed-in user or the API key, with its role.
#[utoipa::path(get, path = "/v1/auth/session", tag = "auth",
    responses((status = 200, description = "The caller", body = Whoami)),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor", "investor"]))))]
pub async fn whoami(auth: Auth) -> ApiResult<axum::Json<Whoami>> {
    let p = auth.require(Allowed::ANYONE)?;
    Ok(axum::Json(match p {
        Principal::User {
            user_id,
            username,
            role,
            session_id,
        } => Whoami {
            kind: "user",
            id: user_id.clone(),
            name: username.clone(),
            role: *role,
            session_id: Some(session_id.clone()),
            owner_user_id: None,
        },
        Principal::Key {
            key_id,
            name,
            role,
            owner_user_id,
        } => Whoami {
            kind: "key",
            id: key_id.clone(),
            name: name.clone(),
            role: *role,
            session_id: None,
            owner_user_id: owner_user_id.clone(),
        },
        Principal::Wallet { wallet, session_id } => Whoami {
            kind: "wallet",
            id: wallet.clone(),
            name: wallet.clone(),
            role: Role::Investor,
            session_id: Some(session_id.clone()),
            owner_user_id: None,
        },
    }))
}

/// Signs out: revokes the caller's session. An API key is revoked through `/v1/api-keys`
/// instead.
#[utoipa::path(delete, path = "/v1/auth/session", tag = "auth",
    responses((status = 204, description = "Signed out")),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor", "investor"]))))]
pub async fn sign_out(State(app): State<App>, ctx: Ctx, auth: Auth) -> ApiResult<Response> {
    let p = auth.require(Allowed::ANYONE)?;
    let (session_id, wallet) = match p {
        Principal::User { session_id, .. } => (session_id.clone(), false),
        Principal::Wallet { session_id, .. } => (session_id.clone(), true),
        Principal::Key { .. } => {
            return Err(Error::conflict(
                "not_a_session",
                "the caller is an API key, not a session; revoke keys through /v1/api-keys",
            )
            .into());
        }
    };
    let mut w = match Write::begin(&app, &ctx.0, p.actor(), "DELETE", SESSION, None, &[]).await? {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    if wallet {
        crate::investors::revoke_wallet_session(w.tx(), &session_id).await?;
    } else {
        users::revoke_session(w.tx(), &session_id).await?;
    }
    let resp = w
        .finish_empty(StatusCode::NO_CONTENT, Some(session_id))
        .await?;
    app.forget_credentials();
    Ok(resp)
}
