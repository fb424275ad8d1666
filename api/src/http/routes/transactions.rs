//! Rent and expenses of a property, and its recurring rents.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::page_type;
use crate::auth::Allowed;
use crate::deals::parse_day;
use crate::http::extract::{Auth, Ctx, Idem, Json, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::properties::PropertyId;
use crate::transactions::{
    self, Category, NewRentSchedule, NewTransaction, RentSchedule, Transaction, TransactionFilter,
};
use crate::types::PageRequest;

page_type!(
    /// A page of transactions.
    TransactionPage,
    Transaction
);

page_type!(
    /// A page of rent schedules.
    RentSchedulePage,
    RentSchedule
);

/// Filters of the transaction list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransactionQuery {
    /// Only this category.
    pub category: Option<Category>,
    /// From this day (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// To this day (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// Items per page (1 to 200, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Paging of the schedule list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SchedulePaging {
    /// Items per page (1 to 200, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

fn day(name: &str, text: Option<&str>) -> crate::error::Result<Option<chrono::NaiveDate>> {
    text.map(|t| {
        parse_day(name, t)
            .map_err(|_| crate::error::Error::invalid(name, "expected a date such as 2026-12-01"))
    })
    .transpose()
}

/// The property's rents and expenses in the order they were recorded, each with the chain
/// event its reference matches once the indexer has booked one.
#[utoipa::path(get, path = "/v1/properties/{id}/transactions", tag = "properties",
    params(("id" = String, Path, description = "The property's id"), TransactionQuery),
    responses((status = 200, body = TransactionPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<TransactionQuery>,
) -> ApiResult<axum::Json<TransactionPage>> {
    auth.require(Allowed::READ)?;
    let id = PropertyId::parse(&id)?;
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = TransactionFilter {
        category: q.category,
        from: day("from", q.from.as_deref())?,
        to: day("to", q.to.as_deref())?,
    };
    Ok(axum::Json(
        transactions::list(app.db(), id, &filter, &page)
            .await?
            .into(),
    ))
}

/// Records a rent received or an expense paid and books it: one balanced entry in the
/// property's books, dated the day it happened (see the README for the accounts). An
/// `Idempotency-Key` is required: the entry is booked once per key. An expense the operating
/// cash cannot cover is a 409 (`insufficient_funds`) and books nothing.
#[utoipa::path(post, path = "/v1/properties/{id}/transactions", tag = "properties",
    request_body = NewTransaction,
    params(("id" = String, Path, description = "The property's id"),
        ("Idempotency-Key" = String, Header, description = "Required: books the transaction once")),
    responses((status = 201, body = Transaction)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn record(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewTransaction>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let id = PropertyId::parse(&id)?;
    let key = idem.0.ok_or_else(|| {
        crate::error::Error::invalid(
            "Idempotency-Key",
            "required: a transaction is booked once per key",
        )
    })?;
    // The entry first (the ledger writes in a transaction of its own, and the key makes a
    // retry find it), then the row, the audit row and the stored response.
    let seed = format!("{}\n{}", p.actor().reference(), key.as_str());
    let booked =
        transactions::book_new(app.ledger()?, app.db(), &p.actor(), id, &body.value, &seed).await?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/properties/{id}/transactions",
        Some(key),
        &[id.to_string().as_bytes(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let t = transactions::store(w.tx(), &booked, None).await?;
    Ok(w.finish(StatusCode::CREATED, &t, Some(t.id.to_string()))
        .await?)
}

/// The property's recurring rents.
#[utoipa::path(get, path = "/v1/properties/{id}/rent-schedules", tag = "properties",
    params(("id" = String, Path, description = "The property's id"), SchedulePaging),
    responses((status = 200, body = RentSchedulePage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn schedules(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<SchedulePaging>,
) -> ApiResult<axum::Json<RentSchedulePage>> {
    auth.require(Allowed::READ)?;
    let id = PropertyId::parse(&id)?;
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(axum::Json(
        transactions::schedules(app.db(), id, &page).await?.into(),
    ))
}

/// Sets up a recurring rent: on its day of each month from its first to its last, the node
/// posts the rent as a transaction paid through the bank (each month once, whatever number of
/// replicas run).
#[utoipa::path(post, path = "/v1/properties/{id}/rent-schedules", tag = "properties",
    request_body = NewRentSchedule,
    params(("id" = String, Path, description = "The property's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = RentSchedule)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn create_schedule(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewRentSchedule>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let id = PropertyId::parse(&id)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/properties/{id}/rent-schedules",
        idem.0,
        &[id.to_string().as_bytes(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let s = transactions::create_schedule(w.tx(), &actor, id, &body.value).await?;
    Ok(w.finish(StatusCode::CREATED, &s, Some(s.id.to_string()))
        .await?)
}
