//! Deals: create, read, list, move along the pipeline, book costs, project (pro-forma) and
//! read the actual returns.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::page_type;
use crate::auth::Allowed;
use crate::deals::costs::{self, Cost, NewCost};
use crate::deals::proforma::{self, ProForma, ProFormaQuery};
use crate::deals::returns::{self, Returns, ReturnsQuery};
use crate::deals::sale::{self, NewSale};
use crate::deals::{
    self, Deal, DealId, DealStatus, NewDeal, NewMilestone, NewOffer, TransitionRequest,
};
use crate::http::extract::{Auth, Ctx, Idem, Json, Query};
use crate::http::problem::{ApiResult, Problem};
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::properties::PropertyId;
use crate::types::PageRequest;

page_type!(
    /// A page of deals.
    DealPage,
    Deal
);

/// Filters of the deal list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DealQuery {
    /// Only deals on this property.
    pub property_id: Option<String>,
    /// Only deals in this status.
    pub status: Option<DealStatus>,
    /// Items per page (1 to 200, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Deals, in creation order.
#[utoipa::path(get, path = "/v1/deals", tag = "deals", params(DealQuery),
    responses((status = 200, body = DealPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<DealQuery>,
) -> ApiResult<axum::Json<DealPage>> {
    auth.require(Allowed::READ)?;
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let property = q
        .property_id
        .as_deref()
        .map(|p| {
            PropertyId::parse(p)
                .map_err(|_| crate::error::Error::invalid("property_id", "not a property id"))
        })
        .transpose()?;
    Ok(axum::Json(
        deals::list(app.db(), property, q.status, &page)
            .await?
            .into(),
    ))
}

/// Records a deal on a property; it starts as a `lead`.
#[utoipa::path(post, path = "/v1/deals", tag = "deals", request_body = NewDeal,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Deal)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn create(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<NewDeal>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/deals",
        idem.0,
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let deal = deals::create(w.tx(), &actor, &body.value).await?;
    let id = deal.id.to_string();
    let mut resp = w
        .finish(StatusCode::CREATED, &deal, Some(id.clone()))
        .await?;
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/deals/{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// One deal, with every move of its pipeline.
#[utoipa::path(get, path = "/v1/deals/{id}", tag = "deals",
    params(("id" = String, Path, description = "The deal's id")),
    responses((status = 200, body = Deal)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Deal>> {
    auth.require(Allowed::READ)?;
    Ok(axum::Json(
        deals::get(app.db().reader(), DealId::parse(&id)?).await?,
    ))
}

/// Moves a deal along its pipeline, dated. A move the pipeline does not allow (from `lead`
/// straight to `acquired`, out of `exited` or `dead`, ...) is a 409 naming the current status
/// and the moves it allows.
#[utoipa::path(post, path = "/v1/deals/{id}/transitions", tag = "deals",
    request_body = TransitionRequest,
    params(("id" = String, Path, description = "The deal's id")),
    responses((status = 200, body = Deal)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn transition(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
    body: Json<TransitionRequest>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let id = DealId::parse(&id)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/deals/{id}/transitions",
        None,
        &[],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let deal = deals::transition(w.tx(), &actor, id, &body.value).await?;
    Ok(w.finish(StatusCode::OK, &deal, Some(id.to_string()))
        .await?)
}

/// Books a cost of the deal (its purchase price or closing costs) in the property's books: one
/// balanced entry, Dr property at cost or capitalized closing costs / Cr operating cash or
/// loans payable, dated the day it was paid. `Idempotency-Key` is required: the entry is booked
/// once per key.
#[utoipa::path(post, path = "/v1/deals/{id}/costs", tag = "deals", request_body = NewCost,
    params(("id" = String, Path, description = "The deal's id"),
           ("Idempotency-Key" = String, Header, description = "Required: books the cost once")),
    responses((status = 201, body = Cost)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn book_cost(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewCost>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let id = DealId::parse(&id)?;
    let key = idem.0.ok_or_else(|| {
        crate::error::Error::invalid("Idempotency-Key", "required: a cost is booked once per key")
    })?;
    let deal = deals::get(app.db().reader(), id).await?;
    // The entry first (the ledger writes in a transaction of its own, and the key makes a
    // retry find it), then the audit row and the stored response.
    let seed = format!("{}\n{}", p.actor().reference(), key.as_str());
    let cost = costs::book(app.ledger()?, &deal, &body.value, &seed).await?;
    let w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/deals/{id}/costs",
        Some(key),
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    Ok(w.finish(StatusCode::CREATED, &cost, Some(id.to_string()))
        .await?)
}

/// The costs booked for a deal, oldest first, read from the books.
#[utoipa::path(get, path = "/v1/deals/{id}/costs", tag = "deals",
    params(("id" = String, Path, description = "The deal's id")),
    responses((status = 200, body = Vec<Cost>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn costs(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<Cost>>> {
    auth.require(Allowed::READ)?;
    let deal = deals::get(app.db().reader(), DealId::parse(&id)?).await?;
    Ok(axum::Json(costs::list(app.ledger()?, &deal).await?))
}

/// Records an offer made or received on the deal; answers with the deal.
#[utoipa::path(post, path = "/v1/deals/{id}/offers", tag = "deals", request_body = NewOffer,
    params(("id" = String, Path, description = "The deal's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Deal)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn add_offer(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewOffer>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let id = DealId::parse(&id)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/deals/{id}/offers",
        idem.0,
        &[id.to_string().as_bytes(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let deal = deals::add_offer(w.tx(), &actor, id, &body.value).await?;
    Ok(w.finish(StatusCode::CREATED, &deal, Some(id.to_string()))
        .await?)
}

/// Records a milestone of the deal's timeline; answers with the deal.
#[utoipa::path(post, path = "/v1/deals/{id}/milestones", tag = "deals", request_body = NewMilestone,
    params(("id" = String, Path, description = "The deal's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Deal)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn add_milestone(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewMilestone>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let id = DealId::parse(&id)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/deals/{id}/milestones",
        idem.0,
        &[id.to_string().as_bytes(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let deal = deals::add_milestone(w.tx(), &actor, id, &body.value).await?;
    Ok(w.finish(StatusCode::CREATED, &deal, Some(id.to_string()))
        .await?)
}

/// The deal's pro-forma: a hold (rent, growth, vacancy, expenses, debt service and a sale at an
/// exit cap rate: the year-by-year table, IRR, equity multiple, cash-on-cash, cap rate on cost)
/// or a flip (purchase, repairs, holding, financing and selling costs: profit, ROI, annualized
/// return), under the assumptions given as parameters. Purchase price, closing costs, repairs
/// and the loan default to the deal's. A missing or unusable assumption is a 422 naming the
/// parameter; nothing is stored.
#[utoipa::path(get, path = "/v1/deals/{id}/pro-forma", tag = "deals",
    params(("id" = String, Path, description = "The deal's id"), ProFormaQuery),
    responses((status = 200, body = ProForma)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn pro_forma(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<ProFormaQuery>,
) -> ApiResult<Response> {
    auth.require(Allowed::READ)?;
    let deal = deals::get(app.db().reader(), DealId::parse(&id)?).await?;
    match proforma::pro_forma(&deal, &q) {
        Ok(p) => Ok(axum::Json(p).into_response()),
        // The assumptions are this request's content: one that is missing or out of range makes
        // it unprocessable (422), though they travel as parameters.
        Err(e @ crate::error::Error::Invalid(_)) => {
            let mut p = Problem::from_error(&e);
            p.status = StatusCode::UNPROCESSABLE_ENTITY.as_u16();
            Ok(p.into_response_with(Some(std::sync::Arc::new(e))))
        }
        Err(e) => Err(e.into()),
    }
}

/// The deal's actual returns from its property's books (income, expenses and net income over
/// its life; cost basis, loans, equity invested; ROI; the last twelve months' NOI, cash flow,
/// cash-on-cash and, for a hold, cap rate), beside the figures the deal expected.
#[utoipa::path(get, path = "/v1/deals/{id}/returns", tag = "deals",
    params(("id" = String, Path, description = "The deal's id"), ReturnsQuery),
    responses((status = 200, body = Returns)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn returns(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<ReturnsQuery>,
) -> ApiResult<axum::Json<Returns>> {
    auth.require(Allowed::READ)?;
    let deal = deals::get(app.db().reader(), DealId::parse(&id)?).await?;
    Ok(axum::Json(
        returns::returns(app.db(), app.ledger()?, &deal, &q).await?,
    ))
}

/// Records the sale that ends the deal: the proceeds booked against the property's cost basis
/// (gain or loss on sale; a loan paid off from them), the deed moved to `deed_to` through the
/// outbox when the property is tokenized (its custodian must be the node's admin key;
/// simulated first), and the deal moved to `exited` on the day of sale. `Idempotency-Key` is
/// required: the proceeds are booked once per key. A deal that may not exit is a 409 naming
/// its status.
#[utoipa::path(post, path = "/v1/deals/{id}/sale", tag = "deals", request_body = NewSale,
    params(("id" = String, Path, description = "The deal's id"),
           ("Idempotency-Key" = String, Header, description = "Required: books the sale once")),
    responses((status = 202, body = Deal)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn sell(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewSale>,
) -> ApiResult<Response> {
    use alloy::sol_types::SolCall;
    let p = auth.require(Allowed::OPERATE)?;
    let id = DealId::parse(&id)?;
    let key = idem.0.ok_or_else(|| {
        crate::error::Error::invalid("Idempotency-Key", "required: a sale is booked once per key")
    })?;
    let deal = deals::get(app.db().reader(), id).await?;
    if deal.sale.is_some() {
        // Sold already: a retry of the sale gets its answer again; anything else is refused.
        if let Begun::Replay(r) = Write::begin(
            &app,
            &ctx.0,
            p.actor(),
            "POST",
            "/v1/deals/{id}/sale",
            Some(key.clone()),
            &[&body.raw],
        )
        .await?
        {
            return Ok(r);
        }
    }
    let checked = sale::check(&deal, &body.value)?;
    // The deed moves when the index knows the property's contracts.
    let token = crate::tokenization::token_id(deal.property_id);
    let tokenized = crate::market::index_exists(app.db()).await?
        && crate::distributions::contracts(app.db(), &token.to_string())
            .await
            .is_ok();
    let deed_call = if tokenized {
        let to = checked.deed_to.ok_or_else(|| {
            crate::error::Error::invalid("/deed_to", "required: the property is tokenized")
        })?;
        let chain = app.writable_chain()?;
        let deed = chain.platform.deed.address;
        let owner = propledger_contracts::PropertyDeed::new(deed, &chain.provider)
            .ownerOf(token)
            .call()
            .await
            .map_err(|e| crate::error::Error::Unavailable(format!("chain: {e}")))?;
        if owner != chain.signer("admin")? {
            return Err(crate::error::Error::conflict(
                "deed_not_in_custody",
                format!("the deed is held by {owner:#x}, not by the node's custodian key"),
            )
            .into());
        }
        let call = crate::outbox::Call::new(
            deed,
            propledger_contracts::PropertyDeed::transferFromCall {
                from: owner,
                to,
                tokenId: token,
            }
            .abi_encode(),
        );
        super::agent::simulate(&app, "admin", &call).await?;
        Some(call)
    } else {
        None
    };
    // The entry first (the ledger writes in a transaction of its own, and the key makes a
    // retry find it), then the deal, the deed's action and the stored response.
    let seed = format!("{}\n{}", p.actor().reference(), key.as_str());
    let (entry, basis, gain) = sale::book(app.ledger()?, &deal, &checked, &seed).await?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/deals/{id}/sale",
        Some(key),
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let action = match deed_call {
        Some(call) => Some(
            w.enqueue(
                "admin",
                "deal.deed_transfer",
                call,
                None,
                Some(("deal", id.to_string())),
            )
            .await?,
        ),
        None => None,
    };
    let sold = sale::record(&checked, entry, basis, gain, action);
    let now = crate::types::now_ms();
    let by = w.actor().reference();
    let on = sold.sold_on.clone();
    let current = deal.status;
    let (text, who) = (on.clone(), by.clone());
    let deal = deals::change(w.tx(), id, now, move |d| {
        d.status = DealStatus::Exited;
        d.transitions.push(deals::Transition {
            from: Some(current),
            to: DealStatus::Exited,
            on: text,
            by: who,
            recorded_at: crate::types::rfc3339(now),
        });
        d.sale = Some(sold);
        Ok(())
    })
    .await?;
    let seq = i64::try_from(deal.transitions.len()).unwrap_or(i64::MAX);
    deals::insert_transition(
        w.tx(),
        id,
        seq,
        Some(current),
        DealStatus::Exited,
        &on,
        &by,
        now,
    )
    .await?;
    Ok(w.finish(StatusCode::ACCEPTED, &deal, Some(id.to_string()))
        .await?)
}

/// Shares burned at a wind-up.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Redemption {
    /// One per holder: the wallet and its shares.
    pub holders: Vec<RedeemedHolder>,
    /// The outbox actions burning them, in order.
    pub actions: Vec<crate::outbox::ActionId>,
}

/// A holder whose shares are burned.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RedeemedHolder {
    /// The wallet.
    pub wallet: String,
    /// Its shares.
    pub shares: crate::market::Amount,
}

/// Redeems a sold property's shares: every holder's balance is burned through the outbox (the
/// agent's key), after the final distribution's record date has fixed what each is paid.
/// Simulated first; a deal not sold, or a property not tokenized, is a 409. When no shares are
/// left, the answer is 200 with no actions.
#[utoipa::path(post, path = "/v1/deals/{id}/redemption", tag = "deals",
    params(("id" = String, Path, description = "The deal's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Redemption), (status = 200, body = Redemption)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn redeem(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    use alloy::sol_types::SolCall;
    let p = auth.require(Allowed::OPERATE)?;
    let id = DealId::parse(&id)?;
    let deal = deals::get(app.db().reader(), id).await?;
    if deal.sale.is_none() {
        return Err(crate::error::Error::conflict(
            "not_sold",
            "only a sold property's shares are redeemed",
        )
        .into());
    }
    let token = crate::tokenization::token_id(deal.property_id).to_string();
    let contracts = crate::distributions::contracts(app.db(), &token).await?;
    let chain = app.writable_chain()?;
    let shares = propledger_contracts::PropertyShares::new(contracts.shares, &chain.provider);
    let mut holders = Vec::new();
    let mut calls = Vec::new();
    for wallet in crate::distributions::receivers(app.db(), contracts.shares, u64::MAX).await? {
        let balance = shares
            .balanceOf(wallet)
            .call()
            .await
            .map_err(|e| crate::error::Error::Unavailable(format!("chain: {e}")))?;
        if balance.is_zero() {
            continue;
        }
        let call = crate::outbox::Call::new(
            contracts.shares,
            propledger_contracts::PropertyShares::burnCall {
                from: wallet,
                amount: balance,
            }
            .abi_encode(),
        );
        super::agent::simulate(&app, "agent", &call).await?;
        holders.push(RedeemedHolder {
            wallet: wallet.to_checksum(None),
            shares: crate::market::Amount::shares(balance),
        });
        calls.push(call);
    }
    if calls.is_empty() {
        // Redeemed already (or never sold to anyone): nothing is left to burn.
        let done = Redemption {
            holders,
            actions: Vec::new(),
        };
        return Ok((StatusCode::OK, axum::Json(done)).into_response());
    }
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/deals/{id}/redemption",
        idem.0,
        &[id.to_string().as_bytes()],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let mut actions = Vec::new();
    for call in calls {
        let after = actions.last().copied();
        actions.push(
            w.enqueue(
                "agent",
                "shares.redeem",
                call,
                after,
                Some(("deal", id.to_string())),
            )
            .await?,
        );
    }
    let out = Redemption { holders, actions };
    Ok(w.finish(StatusCode::ACCEPTED, &out, Some(id.to_string()))
        .await?)
}
