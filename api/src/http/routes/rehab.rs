//! Rehab projects: contractors, projects per deal, budget lines mirrored on chain, bids, and
//! draws requested, approved and released through the outbox.

use alloy::primitives::{Address, B256};
use alloy::sol_types::SolCall;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use propledger_contracts::PropertyTreasury;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::agent::simulate;
use crate::auth::Allowed;
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, Json};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::outbox::Call;
use crate::rehab::{
    self, Bid, BidId, ChangeOrder, Contractor, ContractorId, Draw, DrawId, DrawStatus, Line,
    LineId, NewBankPayment, NewBid, NewChangeOrder, NewContractor, NewDraw, NewLine, NewProgress,
    NewProject, Project, ProjectId, ProjectView,
};
use crate::types::{now_ms, rfc3339};

/// Every contractor.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContractorList {
    /// By company.
    pub items: Vec<Contractor>,
}

macro_rules! begin {
    ($app:expr, $ctx:expr, $p:expr, $route:expr, $idem:expr, $fp:expr) => {
        match Write::begin(&$app, &$ctx.0, $p.actor(), "POST", $route, $idem, $fp).await? {
            Begun::Fresh(w) => w,
            Begun::Replay(r) => return Ok(r),
        }
    };
}

/// Registers a contractor: company, trade, contact, license and insurance with their expiry,
/// a rating, and the wallet its draws are paid to.
#[utoipa::path(post, path = "/v1/contractors", tag = "rehab", request_body = NewContractor,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Contractor)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn create_contractor(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<NewContractor>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let mut w = begin!(app, ctx, p, "/v1/contractors", idem.0, &[&body.raw]);
    let actor = w.actor().clone();
    let c = rehab::create_contractor(w.tx(), &actor, &body.value).await?;
    Ok(w.finish(StatusCode::CREATED, &c, Some(c.id.to_string()))
        .await?)
}

/// Every contractor, by company.
#[utoipa::path(get, path = "/v1/contractors", tag = "rehab",
    responses((status = 200, body = ContractorList)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn contractors(
    State(app): State<App>,
    auth: Auth,
) -> ApiResult<axum::Json<ContractorList>> {
    auth.require(Allowed::READ)?;
    Ok(axum::Json(ContractorList {
        items: rehab::contractors(app.db().reader()).await?,
    }))
}

/// One contractor.
#[utoipa::path(get, path = "/v1/contractors/{id}", tag = "rehab",
    params(("id" = String, Path, description = "The contractor's id")),
    responses((status = 200, body = Contractor)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn contractor(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Contractor>> {
    auth.require(Allowed::READ)?;
    Ok(axum::Json(
        rehab::contractor(app.db().reader(), ContractorId::parse(&id)?).await?,
    ))
}

/// Starts the rehab project of a deal (one per deal).
#[utoipa::path(post, path = "/v1/rehab-projects", tag = "rehab", request_body = NewProject,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Project)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn create_project(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<NewProject>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let mut w = begin!(app, ctx, p, "/v1/rehab-projects", idem.0, &[&body.raw]);
    let actor = w.actor().clone();
    let project = rehab::create_project(w.tx(), &actor, &body.value).await?;
    Ok(
        w.finish(StatusCode::CREATED, &project, Some(project.id.to_string()))
            .await?,
    )
}

/// Which projects to list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectQuery {
    /// The property's projects (its id).
    pub property_id: String,
}

/// A property's rehab projects, oldest first (at most 100).
#[utoipa::path(get, path = "/v1/rehab-projects", tag = "rehab", params(ProjectQuery),
    responses((status = 200, body = Vec<Project>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn projects(
    State(app): State<App>,
    auth: Auth,
    crate::http::extract::Query(q): crate::http::extract::Query<ProjectQuery>,
) -> ApiResult<axum::Json<Vec<Project>>> {
    auth.require(Allowed::READ)?;
    let property = crate::properties::PropertyId::parse(&q.property_id)
        .map_err(|_| Error::invalid("property_id", "a property's id"))?;
    Ok(axum::Json(
        rehab::projects_of(app.db().reader(), property).await?,
    ))
}

/// A project with its lines (budget, committed, drawn, pending draws, remaining), bids and
/// draws, and the project's totals.
#[utoipa::path(get, path = "/v1/rehab-projects/{id}", tag = "rehab",
    params(("id" = String, Path, description = "The project's id")),
    responses((status = 200, body = ProjectView)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn project(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ProjectView>> {
    auth.require(Allowed::READ)?;
    Ok(axum::Json(
        rehab::view(app.db(), ProjectId::parse(&id)?).await?,
    ))
}

/// A project's budget against what was committed and drawn, line by line, as a chart (SVG).
#[utoipa::path(get, path = "/v1/rehab-projects/{id}/chart", tag = "rehab",
    params(("id" = String, Path, description = "The project's id")),
    responses((status = 200, content_type = "image/svg+xml", body = String)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn project_chart(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::response::Response> {
    auth.require(Allowed::READ)?;
    let v = rehab::view(app.db(), ProjectId::parse(&id)?).await?;
    let w = crate::charts::whole;
    let lines: Vec<(String, i64, i64, i64)> = v
        .lines
        .iter()
        .map(|l| {
            let committed = l
                .bids
                .iter()
                .filter(|b| b.status == rehab::BidStatus::Accepted)
                .map(|b| w(&b.amount.amount))
                .sum();
            (
                l.line.category.clone(),
                w(&l.line.budget.amount),
                committed,
                w(&l.drawn.amount),
            )
        })
        .collect();
    Ok(super::offerings::svg(crate::charts::budget(
        "Budget, committed and drawn",
        &lines,
    )?))
}

/// The settlement token's units of cents.
async fn units(app: &App, cents: i64) -> ApiResult<alloy::primitives::U256> {
    let decimals = crate::market::index_head(app.db())
        .await?
        .ok_or_else(|| Error::Unavailable("the index has not read the chain yet".to_owned()))?
        .decimals;
    Ok(crate::distributions::units_of_cents(cents, decimals)?)
}

async fn treasury_of(app: &App, property: crate::properties::PropertyId) -> ApiResult<Address> {
    let token = crate::tokenization::token_id(property).to_string();
    Ok(crate::distributions::contracts(app.db(), &token)
        .await?
        .treasury)
}

/// Sets a budget line's budget (USD cents) in the property's books; `pointer` names the field
/// a budget the books cannot keep came from.
async fn set_books_budget(
    app: &App,
    property: crate::properties::PropertyId,
    line: B256,
    cents: i64,
    pointer: &str,
) -> ApiResult<()> {
    let ledger = app.ledger()?;
    let dim = crate::books::property_dim(&property.to_string())?;
    let currency = crate::deals::costs::books_currency(ledger).await?;
    let amount =
        propledger_ledger::core::Amount::new(rust_decimal::Decimal::new(cents, 2), currency)
            .map_err(|_| Error::invalid(pointer, "more decimals than the books keep"))?;
    let line_dim = propledger_ledger::core::DimValue::parse(&alloy::hex::encode(line))
        .map_err(|_| Error::Internal("a budget line's dimension".into()))?;
    ledger
        .budgets()
        .set(&dim, &line_dim, amount)
        .await
        .map_err(crate::deals::costs::ledger_error)?;
    Ok(())
}

/// The property's treasury, or `None` when the property is not tokenized (its rehab budget then
/// lives in the books alone, and its draws are paid through the bank).
async fn tokenized_treasury(
    app: &App,
    property: crate::properties::PropertyId,
) -> ApiResult<Option<Address>> {
    let token = crate::tokenization::token_id(property).to_string();
    match crate::distributions::contracts(app.db(), &token).await {
        Ok(c) => Ok(Some(c.treasury)),
        Err(Error::Conflict {
            code: "not_tokenized",
            ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Adds a budget line to a project and sets its budget in the books' budgets and, when the
/// property is tokenized, in its treasury through the outbox (simulated first).
#[utoipa::path(post, path = "/v1/rehab-projects/{id}/lines", tag = "rehab", request_body = NewLine,
    params(("id" = String, Path, description = "The project's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Line)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn add_line(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewLine>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let project = rehab::project(app.db().reader(), ProjectId::parse(&id)?).await?;
    let (category, budget) = rehab::check_line(&body.value)?;
    // The same request names the same line, so a retry books the same budget line.
    let line_id = match &idem.0 {
        Some(k) => {
            let h = Sha256::digest(format!("{}\n{}", p.actor().reference(), k.as_str()));
            let mut b = [0u8; 16];
            b.copy_from_slice(&h[..16]);
            LineId(uuid::Builder::from_random_bytes(b).into_uuid())
        }
        None => LineId::new(),
    };
    let chain_line: B256 = rehab::chain_line(line_id);
    let call = match tokenized_treasury(&app, project.property_id).await? {
        Some(treasury) => {
            let call = Call::new(
                treasury,
                PropertyTreasury::setBudgetLineCall {
                    line: chain_line,
                    budget: units(&app, budget).await?,
                }
                .abi_encode(),
            );
            simulate(&app, "treasurer", &call).await?;
            Some(call)
        }
        None => None,
    };
    set_books_budget(
        &app,
        project.property_id,
        chain_line,
        budget,
        "/budget/amount",
    )
    .await?;
    let mut w = begin!(
        app,
        ctx,
        p,
        "/v1/rehab-projects/{id}/lines",
        idem.0,
        &[id.as_bytes(), &body.raw]
    );
    let mut budget_actions = Vec::new();
    if let Some(call) = call {
        budget_actions.push(
            w.enqueue(
                "treasurer",
                "rehab.budget_line",
                call,
                None,
                Some(("budget_line", line_id.to_string())),
            )
            .await?,
        );
    }
    let line = Line {
        id: line_id,
        project_id: project.id,
        category,
        budget: crate::deals::money(budget),
        committed: None,
        chain_line: format!("{chain_line:#x}"),
        budget_actions,
        percent_complete: 0,
        progress: Vec::new(),
        created_by: w.actor().reference(),
        created_at: rfc3339(now_ms()),
    };
    rehab::insert_line(w.tx(), &line).await?;
    Ok(
        w.finish(StatusCode::CREATED, &line, Some(line.id.to_string()))
            .await?,
    )
}

/// Records a contractor's bid on a line.
#[utoipa::path(post, path = "/v1/rehab-lines/{id}/bids", tag = "rehab", request_body = NewBid,
    params(("id" = String, Path, description = "The line's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Bid)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn add_bid(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewBid>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let line = LineId::parse(&id)?;
    let mut w = begin!(
        app,
        ctx,
        p,
        "/v1/rehab-lines/{id}/bids",
        idem.0,
        &[id.as_bytes(), &body.raw]
    );
    let actor = w.actor().clone();
    let bid = rehab::add_bid(w.tx(), &actor, line, &body.value).await?;
    Ok(
        w.finish(StatusCode::CREATED, &bid, Some(bid.id.to_string()))
            .await?,
    )
}

/// Accepts a bid: the line is committed at its amount and the line's other open bids are
/// rejected.
#[utoipa::path(post, path = "/v1/rehab-bids/{id}/accept", tag = "rehab",
    params(("id" = String, Path, description = "The bid's id")),
    responses((status = 200, body = Bid)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn accept_bid(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let bid = BidId::parse(&id)?;
    let mut w = begin!(app, ctx, p, "/v1/rehab-bids/{id}/accept", None, &[]);
    let bid = rehab::accept_bid(w.tx(), bid).await?;
    Ok(w.finish(StatusCode::OK, &bid, Some(bid.id.to_string()))
        .await?)
}

/// Requests a draw against a line for a contractor, with the invoice. Refused (409) when the
/// line's budget cannot cover it with its earlier draws (`over_budget`) or the contractor's
/// insurance or license has expired.
#[utoipa::path(post, path = "/v1/rehab-lines/{id}/draws", tag = "rehab", request_body = NewDraw,
    params(("id" = String, Path, description = "The line's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Draw)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn request_draw(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewDraw>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let line = LineId::parse(&id)?;
    let mut w = begin!(
        app,
        ctx,
        p,
        "/v1/rehab-lines/{id}/draws",
        idem.0,
        &[id.as_bytes(), &body.raw]
    );
    let actor = w.actor().clone();
    let d = rehab::request_draw(w.tx(), &actor, line, &body.value).await?;
    Ok(w.finish(StatusCode::CREATED, &d, Some(d.id.to_string()))
        .await?)
}

/// Approves a requested draw (by someone other than who requested it).
#[utoipa::path(post, path = "/v1/rehab-draws/{id}/approve", tag = "rehab",
    params(("id" = String, Path, description = "The draw's id")),
    responses((status = 200, body = Draw)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn approve_draw(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let draw = DrawId::parse(&id)?;
    let mut w = begin!(app, ctx, p, "/v1/rehab-draws/{id}/approve", None, &[]);
    let actor = w.actor().clone();
    let d = rehab::approve_draw(w.tx(), &actor, draw).await?;
    Ok(w.finish(StatusCode::OK, &d, Some(d.id.to_string())).await?)
}

/// Releases an approved draw: the treasury pays the contractor's wallet through the outbox
/// (simulated first; the treasury refuses a draw over the line's budget on chain too).
#[utoipa::path(post, path = "/v1/rehab-draws/{id}/release", tag = "rehab",
    params(("id" = String, Path, description = "The draw's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Draw)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn release_draw(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let draw_id = DrawId::parse(&id)?;
    let (d, _) = rehab::draw(app.db().reader(), draw_id).await?;
    if d.status != DrawStatus::Approved {
        return Err(Error::conflict(
            "draw_status",
            "only an approved draw is released".to_owned(),
        )
        .into());
    }
    let (line, _) = rehab::line(app.db().reader(), d.line_id).await?;
    let project = rehab::project(app.db().reader(), line.project_id).await?;
    let contractor: Address = d
        .payout_wallet
        .parse()
        .map_err(|_| Error::Corrupt("a payout wallet".into()))?;
    let invoice: B256 = d
        .invoice_hash
        .parse()
        .map_err(|_| Error::Corrupt("an invoice hash".into()))?;
    let chain_line: B256 = line
        .chain_line
        .parse()
        .map_err(|_| Error::Corrupt("a chain line".into()))?;
    let cents = crate::types::Currency::USD.minor_units("/amount/amount", &d.amount.amount)?;
    let call = Call::new(
        treasury_of(&app, project.property_id).await?,
        PropertyTreasury::releaseDrawCall {
            contractor,
            amount: units(&app, cents).await?,
            line: chain_line,
            invoiceHash: invoice,
        }
        .abi_encode(),
    );
    simulate(&app, "treasurer", &call).await?;
    let mut w = begin!(
        app,
        ctx,
        p,
        "/v1/rehab-draws/{id}/release",
        idem.0,
        &[id.as_bytes()]
    );
    let (mut d, version) = rehab::draw(w.tx().exec(), draw_id).await?;
    if d.status != DrawStatus::Approved {
        return Err(Error::conflict(
            "draw_status",
            "only an approved draw is released".to_owned(),
        )
        .into());
    }
    let action = w
        .enqueue(
            "treasurer",
            "rehab.draw",
            call,
            None,
            Some(("draw", draw_id.to_string())),
        )
        .await?;
    d.status = DrawStatus::Released;
    d.action_id = Some(action);
    rehab::save_draw(w.tx(), &d, version).await?;
    Ok(w.finish(StatusCode::ACCEPTED, &d, Some(d.id.to_string()))
        .await?)
}

/// Records an approved draw as paid to the contractor through the property's bank account
/// instead of the treasury: books Dr the line's capitalized improvements / Cr operating cash on
/// the day paid, under the invoice's hash, and marks the draw `paid_off_chain`. An
/// `Idempotency-Key` is required (the entry is booked once per key); a draw not approved is a
/// 409 (`draw_status`), and so is a payment the bank's cash cannot cover
/// (`insufficient_funds`); neither books anything.
#[utoipa::path(post, path = "/v1/rehab-draws/{id}/bank-payment", tag = "rehab",
    request_body = NewBankPayment,
    params(("id" = String, Path, description = "The draw's id"),
        ("Idempotency-Key" = String, Header, description = "Required: books the payment once")),
    responses((status = 200, body = Draw)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn pay_draw_by_bank(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewBankPayment>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let draw_id = DrawId::parse(&id)?;
    let key = idem.0.ok_or_else(|| {
        Error::invalid(
            "Idempotency-Key",
            "required: a payment is booked once per key",
        )
    })?;
    let paid_on = crate::deals::parse_day("/paid_on", &body.value.paid_on)?;
    if paid_on > chrono::Utc::now().date_naive() {
        return Err(Error::invalid("/paid_on", "in the future").into());
    }
    let (d, _) = rehab::draw(app.db().reader(), draw_id).await?;
    let seed = format!("{}\n{}", p.actor().reference(), key.as_str());
    let ledger = app.ledger()?;
    // A retry of this payment (same caller and key) goes on to find its entry and response.
    let retry = match &d.bank_payment {
        Some(b) => ledger
            .entries()
            .by_key(&rehab::bank_payment_key(d.id, &seed)?)
            .await
            .map_err(crate::deals::costs::ledger_error)?
            .is_some_and(|e| e.id.get() == b.entry_id),
        None => false,
    };
    if d.status != DrawStatus::Approved && !retry {
        return Err(Error::conflict(
            "draw_status",
            format!(
                "the draw is {}; only an approved draw is paid",
                d.status.as_str()
            ),
        )
        .into());
    }
    let (line, _) = rehab::line(app.db().reader(), d.line_id).await?;
    let project = rehab::project(app.db().reader(), line.project_id).await?;
    // The entry first (the ledger writes in a transaction of its own, and the key makes a
    // retry find it), then the draw, the audit row and the stored response.
    let entry_id =
        rehab::book_bank_payment(ledger, project.property_id, &line, &d, paid_on, &seed).await?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/rehab-draws/{id}/bank-payment",
        Some(key),
        &[id.as_bytes(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    match rehab::mark_paid_off_chain(w.tx(), &actor, draw_id, paid_on, entry_id).await {
        Ok(d) => Ok(w.finish(StatusCode::OK, &d, Some(d.id.to_string())).await?),
        Err(e) => {
            // The draw moved on meanwhile (released by someone else): take the payment back
            // out of the books.
            drop(w);
            rehab::unbook_bank_payment(ledger, entry_id, draw_id, paid_on).await?;
            Err(e.into())
        }
    }
}

/// Reports progress on a line: percent complete, notes, photos among the property's documents.
#[utoipa::path(post, path = "/v1/rehab-lines/{id}/progress", tag = "rehab", request_body = NewProgress,
    params(("id" = String, Path, description = "The line's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 200, body = Line)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn add_progress(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewProgress>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let line = LineId::parse(&id)?;
    let mut w = begin!(
        app,
        ctx,
        p,
        "/v1/rehab-lines/{id}/progress",
        idem.0,
        &[id.as_bytes(), &body.raw]
    );
    let actor = w.actor().clone();
    let l = rehab::add_progress(w.tx(), &actor, line, &body.value).await?;
    Ok(w.finish(StatusCode::OK, &l, Some(l.id.to_string())).await?)
}

/// Moves budget from one line of the project to another: both budgets set in the books'
/// budgets and, when the property is tokenized, in the treasury through the outbox (simulated
/// first). Refused (409
/// `below_drawn`) when the giving line would keep less than it has drawn or been asked to draw.
#[utoipa::path(post, path = "/v1/rehab-projects/{id}/change-orders", tag = "rehab",
    request_body = NewChangeOrder,
    params(("id" = String, Path, description = "The project's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = ChangeOrder)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn change_order(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewChangeOrder>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let project = rehab::project(app.db().reader(), ProjectId::parse(&id)?).await?;
    let order = rehab::check_change_order(app.db(), project.id, &body.value).await?;
    let treasury = tokenized_treasury(&app, project.property_id).await?;
    let mut calls = Vec::new();
    for (l, cents) in [
        (&order.from.0, order.budgets.0),
        (&order.to.0, order.budgets.1),
    ] {
        let line: B256 = l
            .chain_line
            .parse()
            .map_err(|_| Error::Corrupt("a chain line".into()))?;
        let call = match treasury {
            Some(treasury) => {
                let call = Call::new(
                    treasury,
                    PropertyTreasury::setBudgetLineCall {
                        line,
                        budget: units(&app, cents).await?,
                    }
                    .abi_encode(),
                );
                simulate(&app, "treasurer", &call).await?;
                Some(call)
            }
            None => None,
        };
        calls.push((line, cents, call));
    }
    // The books' budgets first (the ledger writes in a transaction of its own; setting the
    // same budget again on a retry only adds an equal revision).
    for (line, cents, _) in &calls {
        set_books_budget(&app, project.property_id, *line, *cents, "/amount/amount").await?;
    }
    let mut w = begin!(
        app,
        ctx,
        p,
        "/v1/rehab-projects/{id}/change-orders",
        idem.0,
        &[id.as_bytes(), &body.raw]
    );
    let mut actions = Vec::new();
    for call in calls.into_iter().filter_map(|c| c.2) {
        let after = actions.last().copied();
        actions.push(
            w.enqueue(
                "treasurer",
                "rehab.budget_line",
                call,
                after,
                Some(("rehab_project", project.id.to_string())),
            )
            .await?,
        );
    }
    let actor = w.actor().clone();
    let made = rehab::apply_change_order(w.tx(), &actor, project.id, order, actions).await?;
    Ok(
        w.finish(StatusCode::CREATED, &made, Some(project.id.to_string()))
            .await?,
    )
}
