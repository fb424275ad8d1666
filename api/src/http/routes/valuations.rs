//! Valuations of a property: record one, list them with the current value.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Allowed;
use crate::http::extract::{Auth, Ctx, Idem, Json, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::properties::PropertyId;
use crate::types::PageRequest;
use crate::valuations::{self, NewValuation, Valuation};

/// A page of a property's valuations, with its current value.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValuationPage {
    /// The latest valuation (the latest day, then the latest recorded): the property's current
    /// value. Absent when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Valuation>,
    /// Valuations in the order they were recorded.
    pub items: Vec<Valuation>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Paging of the valuation list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValuationQuery {
    /// Items per page (1 to 200, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The property's valuations and its current value.
#[utoipa::path(get, path = "/v1/properties/{id}/valuations", tag = "properties",
    params(("id" = String, Path, description = "The property's id"), ValuationQuery),
    responses((status = 200, body = ValuationPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<ValuationQuery>,
) -> ApiResult<axum::Json<ValuationPage>> {
    auth.require(Allowed::READ)?;
    let id = PropertyId::parse(&id)?;
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let found = valuations::list(app.db(), id, &page).await?;
    let current = valuations::current(app.db().reader(), id, None).await?;
    Ok(axum::Json(ValuationPage {
        current,
        items: found.items,
        next_cursor: found.next_cursor,
    }))
}

/// Records what the property is worth on a day, and on whose word. Valuations are never
/// changed: a new one supersedes the last.
#[utoipa::path(post, path = "/v1/properties/{id}/valuations", tag = "properties",
    request_body = NewValuation,
    params(("id" = String, Path, description = "The property's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Valuation)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn record(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewValuation>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let id = PropertyId::parse(&id)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/properties/{id}/valuations",
        idem.0,
        &[id.to_string().as_bytes(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let v = valuations::record(w.tx(), &actor, id, &body.value).await?;
    Ok(w.finish(StatusCode::CREATED, &v, Some(v.id.to_string()))
        .await?)
}
