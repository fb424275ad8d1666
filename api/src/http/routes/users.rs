//! Staff users (admins only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Allowed;
use crate::auth::secret::hash_password;
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, IfMatch, Json, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::types::PageRequest;

use super::page_type;
use crate::users::{self, NewUser, TotpEnrollment, User, UserId, UserUpdate};

/// Paging parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Items per page (1 to 200, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Paging {
    /// Checked.
    pub fn page(&self) -> Result<PageRequest, Error> {
        PageRequest::parse(self.limit, self.cursor.as_deref())
    }
}

page_type!(
    /// A page of users.
    UserPage,
    User
);

/// A new user and their second factor, shown once.
#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    /// The user.
    pub user: User,
    /// The TOTP secret to enroll in an authenticator app; shown once (a replay with the same
    /// `Idempotency-Key` gets the user without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpEnrollment>,
}

/// Lists staff users.
#[utoipa::path(get, path = "/v1/users", tag = "users", params(Paging),
    responses((status = 200, body = UserPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<Paging>,
) -> ApiResult<axum::Json<UserPage>> {
    auth.require(Allowed::ADMIN)?;
    Ok(axum::Json(users::list(app.db(), &q.page()?).await?.into()))
}

/// Creates a staff user with a password; the response holds their TOTP enrollment, shown once.
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = NewUser,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = CreatedUser)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn create(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<NewUser>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::ADMIN)?;
    body.value.validate()?;
    let hash = hash_password(body.value.password.clone()).await?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/users",
        idem.0,
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let (user, totp) = users::create(w.tx(), &body.value, hash).await?;
    let id = user.id.to_string();
    let shown = CreatedUser {
        user: user.clone(),
        totp: Some(totp),
    };
    let stored = CreatedUser { user, totp: None };
    let json = |v: &CreatedUser| serde_json::to_vec(v).map_err(|e| Error::Internal(e.to_string()));
    Ok(
        w.finish_with_stored(StatusCode::CREATED, json(&shown)?, json(&stored)?, Some(id))
            .await?,
    )
}

/// One staff user.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = User)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<User>> {
    auth.require(Allowed::ADMIN)?;
    Ok(axum::Json(
        users::get(app.db().reader(), UserId::parse(&id)?).await?,
    ))
}

/// Changes a user's display name, role, password, or disables them. Disabling, a new role or
/// a new password ends their sessions. `If-Match` with the user's version makes it safe
/// against a concurrent change.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", request_body = UserUpdate,
    params(("id" = String, Path, description = "The user's id"),
           ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    responses((status = 200, body = User)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn update(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: Json<UserUpdate>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::ADMIN)?;
    let id = UserId::parse(&id)?;
    body.value.validate()?;
    let hash = match &body.value.password {
        Some(pw) => Some(hash_password(pw.clone()).await?),
        None => None,
    };
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "PATCH",
        "/v1/users/{id}",
        None,
        &[],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let user = users::update(w.tx(), id, &body.value, hash, if_match.0).await?;
    let resp = w
        .finish(StatusCode::OK, &user, Some(id.to_string()))
        .await?;
    app.forget_credentials();
    Ok(resp)
}

/// Ends every session of a user.
#[utoipa::path(delete, path = "/v1/users/{id}/sessions", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 204, description = "Their sessions are revoked")),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn revoke_sessions(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::ADMIN)?;
    let id = UserId::parse(&id)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "DELETE",
        "/v1/users/{id}/sessions",
        None,
        &[],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    users::get(w.tx().exec(), id).await?;
    users::revoke_sessions_of(w.tx(), id).await?;
    let resp = w
        .finish_empty(StatusCode::NO_CONTENT, Some(id.to_string()))
        .await?;
    app.forget_credentials();
    Ok(resp)
}
