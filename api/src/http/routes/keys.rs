//! API keys (admins only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::page_type;
use super::users::Paging;
use crate::auth::Allowed;
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, Json, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::keys::{self, ApiKey, CreatedKey, KeyId, NewKey};

page_type!(
    /// A page of API keys.
    KeyPage,
    ApiKey
);

/// Lists API keys, revoked ones included.
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", params(Paging),
    responses((status = 200, body = KeyPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<Paging>,
) -> ApiResult<axum::Json<KeyPage>> {
    auth.require(Allowed::ADMIN)?;
    Ok(axum::Json(keys::list(app.db(), &q.page()?).await?.into()))
}

/// Makes an API key for a user (with the user's role) or a named service account. The key is
/// in the response, once; it is stored only as a hash.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = NewKey,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = CreatedKey)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn create(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<NewKey>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::ADMIN)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/api-keys",
        idem.0,
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let (key, secret) = keys::create(w.tx(), &actor, &body.value).await?;
    let id = key.id.to_string();
    let json = |v: &CreatedKey| serde_json::to_vec(v).map_err(|e| Error::Internal(e.to_string()));
    let shown = json(&CreatedKey {
        key: key.clone(),
        secret: Some(secret.expose().to_owned()),
    })?;
    let stored = json(&CreatedKey { key, secret: None })?;
    Ok(
        w.finish_with_stored(StatusCode::CREATED, shown, stored, Some(id))
            .await?,
    )
}

/// One API key.
#[utoipa::path(get, path = "/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, body = ApiKey)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ApiKey>> {
    auth.require(Allowed::ADMIN)?;
    Ok(axum::Json(
        keys::get(app.db().reader(), KeyId::parse(&id)?).await?,
    ))
}

/// Revokes an API key: it is refused from then on (at once on this node; other replicas read
/// the database on every request too).
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, body = ApiKey)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn revoke(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::ADMIN)?;
    let id = KeyId::parse(&id)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "DELETE",
        "/v1/api-keys/{id}",
        None,
        &[],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let key = keys::revoke(w.tx(), id).await?;
    let resp = w.finish(StatusCode::OK, &key, Some(id.to_string())).await?;
    app.forget_credentials();
    Ok(resp)
}
