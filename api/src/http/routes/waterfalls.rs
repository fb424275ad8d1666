//! A property's distribution waterfall: set a new version, read the current one and the
//! history.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Allowed;
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, Json};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::properties::PropertyId;
use crate::waterfall::{self, NewWaterfall, WaterfallVersion};

/// A property's waterfall: the current version and the earlier ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaterfallHistory {
    /// The version in force.
    pub current: WaterfallVersion,
    /// Every version, the latest first (at most 100).
    pub versions: Vec<WaterfallVersion>,
}

/// The property's waterfall and its history; 404 when none was set.
#[utoipa::path(get, path = "/v1/properties/{id}/waterfall", tag = "distributions",
    params(("id" = String, Path, description = "The property's id")),
    responses((status = 200, body = WaterfallHistory)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<WaterfallHistory>> {
    auth.require(Allowed::READ)?;
    let id = PropertyId::parse(&id)?;
    let versions = waterfall::versions(app.db().reader(), id).await?;
    let current = versions
        .first()
        .cloned()
        .ok_or(Error::NotFound("waterfall"))?;
    Ok(axum::Json(WaterfallHistory { current, versions }))
}

/// Sets the property's waterfall: its tiers in the order they take cash (each kind at most
/// once; a catch-up needs a later split with the same promote). Each change is a new version;
/// the earlier ones stay.
#[utoipa::path(put, path = "/v1/properties/{id}/waterfall", tag = "distributions",
    request_body = NewWaterfall,
    params(("id" = String, Path, description = "The property's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = WaterfallVersion)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn set(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewWaterfall>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let id = PropertyId::parse(&id)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "PUT",
        "/v1/properties/{id}/waterfall",
        idem.0,
        &[id.to_string().as_bytes(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let v = waterfall::set(w.tx(), &actor, id, &body.value).await?;
    let resource = format!("{id}@{}", v.version);
    Ok(w.finish(StatusCode::CREATED, &v, Some(resource)).await?)
}

/// What a distribution of `amount` on `on` would pay through the property's current
/// waterfall, tier by tier and investor by investor, from the books' flows (capital paid in
/// accrues the preferred return from its day; distributions paid before pay the accrued
/// preferred return first, then return capital). Nothing is recorded.
#[utoipa::path(post, path = "/v1/properties/{id}/waterfall/preview", tag = "distributions",
    request_body = waterfall::PreviewRequest,
    params(("id" = String, Path, description = "The property's id")),
    responses((status = 200, body = waterfall::Preview)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn preview(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    body: Json<waterfall::PreviewRequest>,
) -> ApiResult<axum::Json<waterfall::Preview>> {
    auth.require(Allowed::READ)?;
    let id = PropertyId::parse(&id)?;
    Ok(axum::Json(
        waterfall::preview(app.db(), app.ledger()?, id, &body.value).await?,
    ))
}
