//! Properties: create, read, change, search.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::page_type;
use crate::auth::Allowed;
use crate::http::extract::{Auth, Ctx, Idem, IfMatch, Json, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::properties::{self, NewProperty, Property, PropertyId, PropertyQuery, PropertyUpdate};

page_type!(
    /// A page of properties.
    PropertyPage,
    Property
);

/// Searches properties. Filters combine (all must match): status, type, city, postal code,
/// list-price and living-area ranges, a radius around a point (`near` + `radius_m`; results
/// carry `distance_m`) and a bounding box (`bbox`). Results are in creation order, a page at a
/// time.
#[utoipa::path(get, path = "/v1/properties", tag = "properties", params(PropertyQuery),
    responses((status = 200, body = PropertyPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn search(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<PropertyQuery>,
) -> ApiResult<Response> {
    auth.require(Allowed::READ)?;
    let req = q.check()?;
    let page = properties::search(app.db(), &req).await?;
    Ok(json_bytes(properties::render_page(&page), None))
}

/// A JSON body already rendered, with an optional `ETag`.
fn json_bytes(body: impl Into<axum::body::Body>, etag: Option<i64>) -> Response {
    let mut resp = Response::new(body.into());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(v) = etag
        && let Ok(v) = HeaderValue::from_str(&format!("\"{v}\""))
    {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// Creates a property.
#[utoipa::path(post, path = "/v1/properties", tag = "properties", request_body = NewProperty,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Property)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn create(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<NewProperty>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/properties",
        idem.0,
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let property = properties::create(w.tx(), &actor, body.value).await?;
    let id = property.id.to_string();
    let mut resp = w
        .finish(StatusCode::CREATED, &property, Some(id.clone()))
        .await?;
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/properties/{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// One property; its `ETag` is its version.
#[utoipa::path(get, path = "/v1/properties/{id}", tag = "properties",
    params(("id" = String, Path, description = "The property's id")),
    responses((status = 200, body = Property, headers(("ETag" = String, description = "The version")))),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    auth.require(Allowed::READ)?;
    let (doc, version) = app
        .inner
        .properties
        .get(app.db().reader(), PropertyId::parse(&id)?)
        .await?;
    Ok(json_bytes(
        axum::body::Bytes::copy_from_slice(doc.as_bytes()),
        Some(version),
    ))
}

/// Changes a property: absent fields stay, `null` clears an optional one, `address` is
/// replaced whole. With `If-Match` (the version from `ETag`), the change applies only to that
/// version (412 otherwise).
#[utoipa::path(patch, path = "/v1/properties/{id}", tag = "properties", request_body = PropertyUpdate,
    params(("id" = String, Path, description = "The property's id"),
           ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    responses((status = 200, body = Property)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn update(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: Json<PropertyUpdate>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let id = PropertyId::parse(&id)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "PATCH",
        "/v1/properties/{id}",
        None,
        &[],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let property = properties::update(w.tx(), id, body.value, if_match.0).await?;
    let etag = format!("\"{}\"", property.version);
    let finished = w
        .finish(StatusCode::OK, &property, Some(id.to_string()))
        .await;
    // After the commit (or its failure): reads that began before it are not served again.
    app.inner.properties.changed();
    let mut resp = finished?;
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}
