//! The books of a property: accounts with balances, entries, trial balance, balance sheet,
//! income statement, and exports. Read-only, for every staff role (an auditor reads
//! everything).

use axum::extract::{Path, State};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use super::page_type;
use crate::auth::Allowed;
use crate::books::capital::CapitalAccounts;
use crate::books::cashflow::CashFlowStatement;
use crate::books::entries::{self, EntryQuery, EntryView, Format};
use crate::books::{self, AccountView, BalanceSheet, IncomeStatement, TrialBalance};
use crate::deals::parse_day;
use crate::http::extract::{Auth, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;

/// A day of the books.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// As of the end of this day (`YYYY-MM-DD`); everything when absent.
    pub as_of: Option<String>,
    /// A deal on the property: its books end the day it exited (a deal's books are its
    /// property's, over the deal's life).
    pub deal: Option<String>,
}

/// A period of the books.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// First day (`YYYY-MM-DD`), open when absent.
    pub from: Option<String>,
    /// Last day (`YYYY-MM-DD`), open when absent.
    pub to: Option<String>,
    /// A deal on the property: the period is kept within the deal's life (a deal's books are
    /// its property's, from its first day to its exit).
    pub deal: Option<String>,
}

/// The life of `deal` (when given), which must be on `property`.
async fn deal_life(
    app: &App,
    property: &str,
    deal: Option<&str>,
) -> crate::error::Result<(Option<NaiveDate>, Option<NaiveDate>)> {
    let Some(deal) = deal else {
        return Ok((None, None));
    };
    let id = crate::deals::DealId::parse(deal)
        .map_err(|_| crate::error::Error::invalid("deal", "not a deal id"))?;
    let d = match crate::deals::get(app.db().reader(), id).await {
        Ok(d) => d,
        Err(crate::error::Error::NotFound(_)) => {
            return Err(crate::error::Error::invalid("deal", "no such deal"));
        }
        Err(e) => return Err(e),
    };
    if books::property_dim(&d.property_id.to_string())? != books::property_dim(property)? {
        return Err(crate::error::Error::invalid(
            "deal",
            "the deal is on another property",
        ));
    }
    Ok(crate::books::entries::deal_life(&d))
}

/// The earlier of two ends, either open.
fn earlier(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn day(name: &str, text: Option<&str>) -> crate::error::Result<Option<NaiveDate>> {
    text.map(|t| {
        parse_day(name, t)
            .map_err(|_| crate::error::Error::invalid(name, "expected a date such as 2026-12-01"))
    })
    .transpose()
}

/// The property's accounts (its chart, investor capital and budget-line accounts) with posted
/// and pending balances, by code. `{property}` is the API's property id or a tokenized
/// property's deed token id.
#[utoipa::path(get, path = "/v1/books/{property}/accounts", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)")),
    responses((status = 200, body = Vec<AccountView>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn accounts(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
) -> ApiResult<axum::Json<Vec<AccountView>>> {
    auth.require(Allowed::READ)?;
    Ok(axum::Json(books::accounts(app.ledger()?, &property).await?))
}

/// The property's trial balance as of the end of a day.
#[utoipa::path(get, path = "/v1/books/{property}/trial-balance", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)"), AsOf),
    responses((status = 200, body = TrialBalance)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn trial_balance(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
    Query(q): Query<AsOf>,
) -> ApiResult<axum::Json<TrialBalance>> {
    auth.require(Allowed::READ)?;
    let (_, over) = deal_life(&app, &property, q.deal.as_deref()).await?;
    let as_of = earlier(day("as_of", q.as_of.as_deref())?, over);
    Ok(axum::Json(
        books::trial_balance(app.ledger()?, &property, as_of).await?,
    ))
}

/// The property's balance sheet as of the end of a day.
#[utoipa::path(get, path = "/v1/books/{property}/balance-sheet", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)"), AsOf),
    responses((status = 200, body = BalanceSheet)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn balance_sheet(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
    Query(q): Query<AsOf>,
) -> ApiResult<axum::Json<BalanceSheet>> {
    auth.require(Allowed::READ)?;
    let (_, over) = deal_life(&app, &property, q.deal.as_deref()).await?;
    let as_of = earlier(day("as_of", q.as_of.as_deref())?, over);
    Ok(axum::Json(
        books::balance_sheet(app.ledger()?, &property, as_of).await?,
    ))
}

/// The property's income statement for a period.
#[utoipa::path(get, path = "/v1/books/{property}/income-statement", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)"), Period),
    responses((status = 200, body = IncomeStatement)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn income_statement(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
    Query(q): Query<Period>,
) -> ApiResult<axum::Json<IncomeStatement>> {
    auth.require(Allowed::READ)?;
    let (first, over) = deal_life(&app, &property, q.deal.as_deref()).await?;
    let from = day("from", q.from.as_deref())?.max(first);
    let to = earlier(day("to", q.to.as_deref())?, over);
    Ok(axum::Json(
        books::income_statement(app.ledger()?, &property, from, to).await?,
    ))
}

page_type!(
    /// A page of entries.
    EntryPage,
    EntryView
);

/// Filters of the entry list; every filter given must hold.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntryParams {
    /// Only entries in this property's books (API id or deed token id).
    pub property: Option<String>,
    /// Only entries of this deal: its property's entries from the deal's first day to its exit.
    pub deal: Option<String>,
    /// Only entries posting to this account (its ledger id).
    pub account: Option<i64>,
    /// `chain` (booked from chain events) or `operator` (entered through the API).
    pub source: Option<String>,
    /// First effective day (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Last effective day (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// `pending`, `posted` or `voided`.
    pub status: Option<String>,
    /// Items per page (1 to 200, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The books' entries with their postings, in id order (the order they were recorded).
#[utoipa::path(get, path = "/v1/books/entries", tag = "books", params(EntryParams),
    responses((status = 200, body = EntryPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn list_entries(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<EntryParams>,
) -> ApiResult<axum::Json<EntryPage>> {
    auth.require(Allowed::READ)?;
    let page = crate::types::PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let deal = match q.deal.as_deref() {
        None => None,
        Some(d) => Some(
            crate::deals::get(
                app.db().reader(),
                crate::deals::DealId::parse(d)
                    .map_err(|_| crate::error::Error::invalid("deal", "not a deal id"))?,
            )
            .await?,
        ),
    };
    let query = EntryQuery {
        property: q.property,
        deal,
        account: q.account,
        source: q.source,
        from: day("from", q.from.as_deref())?,
        to: day("to", q.to.as_deref())?,
        status: q.status,
    };
    Ok(axum::Json(
        entries::list(app.ledger()?, &query, &page).await?.into(),
    ))
}

/// What to export.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `csv` (one row per posting) or `beancount` (a file `bean-check` accepts, with a balance
    /// assertion per account equal to the trial balance).
    pub format: String,
    /// One property's books (API id or deed token id); the whole books when absent.
    pub property: Option<String>,
    /// Include pending entries (Beancount flags them `!`, and its assertions then include them).
    #[serde(default)]
    pub include_pending: bool,
    /// Include voided entries (CSV only).
    #[serde(default)]
    pub include_voided: bool,
}

/// The books as a file, streamed as it is read from one snapshot. A failure part way ends the
/// transfer early (never a short file that looks complete: CSV and Beancount end where the
/// snapshot ends). At most two exports run at once; more are refused with 429.
#[utoipa::path(get, path = "/v1/books/export", tag = "books", params(ExportParams),
    responses((status = 200, content_type = "text/csv", body = String, description = "The books as CSV or Beancount")),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn export(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<ExportParams>,
) -> ApiResult<axum::response::Response> {
    auth.require(Allowed::READ)?;
    let format = match q.format.as_str() {
        "csv" => Format::Csv,
        "beancount" => Format::Beancount,
        _ => {
            return Err(crate::error::Error::invalid("format", "expected csv or beancount").into());
        }
    };
    if q.include_voided && format == Format::Beancount {
        return Err(crate::error::Error::invalid(
            "include_voided",
            "a Beancount file holds no voided entries",
        )
        .into());
    }
    let ledger = app.ledger()?.clone();
    let permit = app
        .inner
        .exports
        .clone()
        .try_acquire_owned()
        .map_err(|_| crate::error::Error::RateLimited { retry_after_s: 5 })?;
    let rx = entries::export(
        ledger,
        q.property.as_deref(),
        format,
        q.include_pending,
        q.include_voided,
        permit,
    )
    .await?;
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let scope = q
        .property
        .as_deref()
        .map_or_else(|| "books".to_owned(), |p| format!("books-{p}"));
    let disposition = format!("attachment; filename=\"{}\"", format.file_name(&scope));
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, format.media_type())
        .header(axum::http::header::CONTENT_DISPOSITION, disposition)
        .body(axum::body::Body::from_stream(stream))
        .map_err(|e| crate::error::Error::Internal(format!("a response: {e}")).into())
}

/// The property's investor capital accounts (contributed, returned, distributed, balance) and
/// what each is worth: its part of the net asset value with the real estate at its latest
/// valuation on or before the day.
#[utoipa::path(get, path = "/v1/books/{property}/capital-accounts", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)"), AsOf),
    responses((status = 200, body = CapitalAccounts)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn capital_accounts(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
    Query(q): Query<AsOf>,
) -> ApiResult<axum::Json<CapitalAccounts>> {
    auth.require(Allowed::READ)?;
    let (_, over) = deal_life(&app, &property, q.deal.as_deref()).await?;
    let as_of = earlier(day("as_of", q.as_of.as_deref())?, over);
    Ok(axum::Json(
        books::capital::capital_accounts(app.ledger()?, app.db().reader(), &property, as_of)
            .await?,
    ))
}

/// The property's cash over time as a chart (SVG): its treasury, operating and distributor
/// accounts together at the end of each day an entry moved them.
#[utoipa::path(get, path = "/v1/books/{property}/cash-chart", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)")),
    responses((status = 200, content_type = "image/svg+xml", body = String)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn cash_chart(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
) -> ApiResult<axum::response::Response> {
    auth.require(Allowed::READ)?;
    let days = books::cashflow::cash_by_day(app.ledger()?, &property).await?;
    let points: Vec<(chrono::NaiveDate, i64)> = days
        .iter()
        .map(|(d, v)| (*d, crate::charts::whole(&v.to_string())))
        .collect();
    Ok(super::offerings::svg(crate::charts::balance(
        "Cash over time",
        &points,
    )?))
}

/// The property's cash flow statement for a period (direct method): operating, investing and
/// financing flows of its cash accounts, from the opening to the closing cash.
#[utoipa::path(get, path = "/v1/books/{property}/cash-flow", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)"), Period),
    responses((status = 200, body = CashFlowStatement)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn cash_flow(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
    Query(q): Query<Period>,
) -> ApiResult<axum::Json<CashFlowStatement>> {
    auth.require(Allowed::READ)?;
    let (first, over) = deal_life(&app, &property, q.deal.as_deref()).await?;
    let from = day("from", q.from.as_deref())?.max(first);
    let to = earlier(day("to", q.to.as_deref())?, over);
    Ok(axum::Json(
        books::cashflow::cash_flow(app.ledger()?, &property, from, to).await?,
    ))
}

/// Blocks between setting a fee schedule and the first block it applies to, so that the
/// indexer, which reads schedules afresh for every commit, has read it before that block.
pub const FEE_DELAY_BLOCKS: u64 = 12;

/// A platform fee schedule of a property.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FeeScheduleView {
    /// The first block it applies to (events before it keep the schedule before).
    #[serde(default)]
    pub since_block: u64,
    /// Basis points of offering proceeds (0 to 10,000).
    pub proceeds_bps: u32,
    /// Basis points of distributions (0 to 10,000).
    pub distribution_bps: u32,
}

/// A property's platform fee schedules, oldest first: the one in force at an event's block is
/// the last whose `since_block` is not after it.
#[utoipa::path(get, path = "/v1/books/{property}/fees", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)")),
    responses((status = 200, body = Vec<FeeScheduleView>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn fees(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
) -> ApiResult<axum::Json<Vec<FeeScheduleView>>> {
    auth.require(Allowed::READ)?;
    let dim = books::property_dim(&property)?;
    let all = app
        .ledger()?
        .fees()
        .all()
        .await
        .map_err(crate::deals::costs::ledger_error)?;
    Ok(axum::Json(
        all.into_iter()
            .filter(|s| s.property == dim)
            .map(|s| FeeScheduleView {
                since_block: s.since_block,
                proceeds_bps: s.proceeds_bps,
                distribution_bps: s.distribution_bps,
            })
            .collect(),
    ))
}

/// Sets a property's platform fees: basis points of offering proceeds and of distributions,
/// booked to the property (Dr platform fees / Cr due to platform) with each such event from 12
/// blocks after the chain's head on. Earlier events keep the fees they were booked with.
#[utoipa::path(post, path = "/v1/books/{property}/fees", tag = "books",
    request_body = FeeScheduleView,
    params(("property" = String, Path, description = "The property (API id or deed token id)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = FeeScheduleView)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn set_fees(
    State(app): State<App>,
    ctx: crate::http::extract::Ctx,
    auth: Auth,
    idem: crate::http::extract::Idem,
    Path(property): Path<String>,
    body: crate::http::extract::Json<FeeScheduleView>,
) -> ApiResult<axum::response::Response> {
    use alloy::providers::Provider;
    let p = auth.require(Allowed::ADMIN)?;
    let mut errors = Vec::new();
    for (name, v) in [
        ("/proceeds_bps", body.value.proceeds_bps),
        ("/distribution_bps", body.value.distribution_bps),
    ] {
        if v > propledger_ledger::fees::MAX_BPS {
            errors.push(crate::error::FieldError::new(
                name,
                "0 to 10,000 basis points",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(crate::error::Error::Invalid(errors).into());
    }
    let dim = books::property_dim(&property)?;
    let ledger = app.ledger()?;
    let chart = ledger
        .accounts()
        .list(&propledger_ledger::account::AccountFilter {
            property: Some(dim.clone()),
            ..Default::default()
        })
        .await
        .map_err(crate::deals::costs::ledger_error)?;
    if chart.is_empty() {
        return Err(crate::error::Error::NotFound("property's books").into());
    }
    // The schedule first (the ledger writes in a transaction of its own); a retry finds the
    // same rates last and sets nothing more.
    let last = ledger
        .fees()
        .all()
        .await
        .map_err(crate::deals::costs::ledger_error)?
        .into_iter()
        .rfind(|s| s.property == dim);
    let index = crate::market::index_head(app.db())
        .await?
        .map_or(0, |h| h.block);
    let chain = match app.chain() {
        Ok(c) => c
            .provider
            .get_block_number()
            .await
            .map_err(|e| crate::error::Error::Unavailable(format!("chain: {e}")))?,
        Err(_) => 0,
    };
    let since = match last {
        Some(s)
            if s.proceeds_bps == body.value.proceeds_bps
                && s.distribution_bps == body.value.distribution_bps =>
        {
            s.since_block
        }
        _ => {
            let since = index.max(chain) + FEE_DELAY_BLOCKS;
            ledger
                .fees()
                .set(&propledger_ledger::fees::FeeSchedule {
                    property: dim,
                    since_block: since,
                    proceeds_bps: body.value.proceeds_bps,
                    distribution_bps: body.value.distribution_bps,
                })
                .await
                .map_err(|e| match e {
                    propledger_ledger::Error::InvalidInput { .. } => crate::error::Error::conflict(
                        "schedule_pending",
                        "a schedule set moments ago has not taken effect yet; set this \
                             one after it",
                    ),
                    other => crate::deals::costs::ledger_error(other),
                })?;
            since
        }
    };
    let w = match crate::http::write::Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/books/{property}/fees",
        idem.0,
        &[property.as_bytes(), &body.raw],
    )
    .await?
    {
        crate::http::write::Begun::Fresh(w) => w,
        crate::http::write::Begun::Replay(r) => return Ok(r),
    };
    let shown = FeeScheduleView {
        since_block: since,
        proceeds_bps: body.value.proceeds_bps,
        distribution_bps: body.value.distribution_bps,
    };
    Ok(
        w.finish(axum::http::StatusCode::CREATED, &shown, Some(property))
            .await?,
    )
}

/// The day to close the books.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The closing day (`YYYY-MM-DD`).
    pub as_of: String,
}

/// Closes the property's books at its wind-up: one entry that brings every income and expense
/// account to zero and allocates the net income, and the distributions booked to the
/// property, to the investors' capital accounts in proportion to their capital that day. The
/// balance sheet and capital accounts after it are the final statement. Closing the same day
/// again answers with the same entry.
#[utoipa::path(post, path = "/v1/books/{property}/close", tag = "books",
    request_body = CloseRequest,
    params(("property" = String, Path, description = "The property (API id or deed token id)")),
    responses((status = 201, body = books::close::Closing)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn close(
    State(app): State<App>,
    ctx: crate::http::extract::Ctx,
    auth: Auth,
    Path(property): Path<String>,
    body: crate::http::extract::Json<CloseRequest>,
) -> ApiResult<axum::response::Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let as_of = crate::deals::parse_day("/as_of", &body.value.as_of)?;
    // The entry first (the ledger writes in a transaction of its own; its key is the day).
    let closing = books::close::close(app.ledger()?, &property, as_of).await?;
    let w = match crate::http::write::Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/books/{property}/close",
        None,
        &[],
    )
    .await?
    {
        crate::http::write::Begun::Fresh(w) => w,
        crate::http::write::Begun::Replay(r) => return Ok(r),
    };
    Ok(
        w.finish(axum::http::StatusCode::CREATED, &closing, Some(property))
            .await?,
    )
}
