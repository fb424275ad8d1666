//! Distributions: declared by operators and funded through the outbox; their status and
//! register for staff; each investor's own, and claims to sign with their wallet.

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use propledger_contracts::{Distributor, PropertyTreasury};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::agent::simulate;
use super::investors::wallet_of;
use super::page_type;
use crate::auth::Allowed;
use crate::distributions::{
    self, Declared, Distribution, DistributionId, NewDistribution, Register, RegisterLine,
};
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, Json, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::market::unsigned::{self, Estimate, UnsignedTx};
use crate::market::{self, Amount};
use crate::outbox::Call;
use crate::types::{PageRequest, now_ms, rfc3339};

page_type!(
    /// A page of distributions.
    DistributionPage,
    Distribution
);

fn now_s() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

async fn decimals(app: &App) -> ApiResult<u32> {
    Ok(market::index_head(app.db())
        .await?
        .ok_or_else(|| Error::Unavailable("the index has not read the chain yet".to_owned()))?
        .decimals)
}

async fn with_status(app: &App, d: Declared) -> ApiResult<Distribution> {
    let ctx = app.chain()?;
    let decimals = decimals(app).await?;
    Ok(distributions::status(app.db(), &ctx.provider, decimals, d, now_s()).await?)
}

/// Declares a distribution of a tokenized property and funds it from the property's treasury
/// through the outbox (the treasurer's key): the distributor takes a record date of the block
/// it is funded in and pays holders in proportion to their shares then. Simulated first: one
/// the treasury cannot fund (not enough free funds, an unsettled offering) is a 409 and nothing
/// is recorded.
#[utoipa::path(post, path = "/v1/distributions", tag = "distributions",
    request_body = NewDistribution,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Distribution)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn declare(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<NewDistribution>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let (token_id, cents, days, memo) = distributions::check(&body.value)?;
    let contracts = distributions::contracts(app.db(), &token_id).await?;
    let decimals = decimals(&app).await?;
    let units = distributions::units_of_cents(cents, decimals)?;
    let id = DistributionId::new();
    let deadline = distributions::deadline(now_s(), days);
    let call = Call::new(
        contracts.treasury,
        PropertyTreasury::fundDistributionCall {
            amount: units,
            claimDeadline: deadline,
            r#ref: distributions::reference_of(id),
        }
        .abi_encode(),
    );
    simulate(&app, "treasurer", &call).await?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/distributions",
        idem.0,
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let action_id = w
        .enqueue(
            "treasurer",
            "distribution.fund",
            call,
            None,
            Some(("distribution", id.to_string())),
        )
        .await?;
    let declared = Declared {
        id,
        property: token_id,
        amount: crate::deals::money(cents),
        units: units.to_string(),
        reference: distributions::reference_text(id),
        claim_deadline: distributions::deadline_text(deadline),
        memo,
        action_id,
        created_by: w.actor().reference(),
        created_at: rfc3339(now_ms()),
    };
    distributions::store(w.tx(), &declared, deadline).await?;
    let action = crate::outbox::get(w.tx().exec(), action_id).await?;
    let shown = Distribution {
        declared,
        status: "declared".to_owned(),
        action_status: serde_json::to_value(action.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        failure: None,
        funded: None,
    };
    Ok(w.finish(StatusCode::ACCEPTED, &shown, Some(id.to_string()))
        .await?)
}

/// Filters of the distribution list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DistributionQuery {
    /// Only this property's (API id or deed token id).
    pub property: Option<String>,
    /// Items per page (1 to 200, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Distributions in the order they were declared, with where each stands.
#[utoipa::path(get, path = "/v1/distributions", tag = "distributions", params(DistributionQuery),
    responses((status = 200, body = DistributionPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<DistributionQuery>,
) -> ApiResult<axum::Json<DistributionPage>> {
    auth.require(Allowed::READ)?;
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let token = q
        .property
        .as_deref()
        .map(distributions::deed_token_id)
        .transpose()
        .map_err(|_| Error::invalid("property", "not a property id or deed token id"))?;
    let found = distributions::list(app.db(), token.as_deref(), &page).await?;
    let mut items = Vec::with_capacity(found.items.len());
    for d in found.items {
        items.push(with_status(&app, d).await?);
    }
    Ok(axum::Json(DistributionPage {
        items,
        next_cursor: found.next_cursor,
    }))
}

/// One distribution with where it stands: funded (its record date and the chain's figures),
/// claims so far, what is unclaimed, swept.
#[utoipa::path(get, path = "/v1/distributions/{id}", tag = "distributions",
    params(("id" = String, Path, description = "The distribution's id")),
    responses((status = 200, body = Distribution)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Distribution>> {
    auth.require(Allowed::READ)?;
    let d = distributions::declared(app.db().reader(), DistributionId::parse(&id)?).await?;
    Ok(axum::Json(with_status(&app, d).await?))
}

/// The distribution's register: every holder at the record date with their shares then, what
/// they are entitled to and whether they claimed.
#[utoipa::path(get, path = "/v1/distributions/{id}/register", tag = "distributions",
    params(("id" = String, Path, description = "The distribution's id")),
    responses((status = 200, body = Register)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn register(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Register>> {
    auth.require(Allowed::READ)?;
    let d = distributions::declared(app.db().reader(), DistributionId::parse(&id)?).await?;
    let dist = with_status(&app, d).await?;
    let ctx = app.chain()?;
    let decimals = decimals(&app).await?;
    Ok(axum::Json(
        distributions::register(app.db(), &ctx.provider, decimals, dist, None).await?,
    ))
}

/// A push: the holders still unpaid when it was planned, and one outbox action per chunk.
#[derive(Debug, Serialize, ToSchema)]
pub struct Push {
    /// Holders with a payout due and not yet paid (nor withheld).
    pub holders: usize,
    /// One `pushPayouts` action per chunk of at most 200 holders, sent in order.
    pub actions: Vec<crate::outbox::Action>,
}

/// Most holders one push transaction pays (`Distributor.MAX_PUSH`).
pub const PUSH_CHUNK: usize = 200;

/// Pays every holder still unpaid instead of waiting for their claims: the distributor's
/// `pushPayouts` through the outbox (the treasurer's key), in chunks of 200 holders. The
/// distributor skips anyone already paid, so a push planned twice, or resent after a crash,
/// pays nobody twice. A distribution with nobody left to pay answers no actions.
#[utoipa::path(post, path = "/v1/distributions/{id}/push", tag = "distributions",
    params(("id" = String, Path, description = "The distribution's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Push)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn push(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let did = DistributionId::parse(&id)?;
    let d = distributions::declared(app.db().reader(), did).await?;
    let (distributor, number) = distributions::claim_target(app.db(), &d).await?;
    let dist = with_status(&app, d).await?;
    let chain = app.chain()?;
    let decimals = decimals(&app).await?;
    let register = distributions::register(app.db(), &chain.provider, decimals, dist, None).await?;
    let mut holders = Vec::new();
    for line in &register.holders {
        if line.claim == "unclaimed" && line.entitlement.amount != "0" {
            holders.push(
                line.holder
                    .parse::<Address>()
                    .map_err(|_| Error::Corrupt("a register's holder".to_owned()))?,
            );
        }
    }
    let calls: Vec<Call> = holders
        .chunks(PUSH_CHUNK)
        .map(|chunk| {
            Call::new(
                distributor,
                Distributor::pushPayoutsCall {
                    id: U256::from(number),
                    holders: chunk.to_vec(),
                }
                .abi_encode(),
            )
        })
        .collect();
    if let Some(first) = calls.first() {
        simulate(&app, "treasurer", first).await?;
    }
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/distributions/{id}/push",
        idem.0,
        &[id.as_bytes()],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let mut actions = Vec::new();
    let mut after = None;
    for call in calls {
        let action = w
            .enqueue(
                "treasurer",
                "distribution.push",
                call,
                after,
                Some(("distribution", did.to_string())),
            )
            .await?;
        after = Some(action);
        actions.push(crate::outbox::get(w.tx().exec(), action).await?);
    }
    let shown = Push {
        holders: holders.len(),
        actions,
    };
    Ok(
        w.finish(StatusCode::ACCEPTED, &shown, Some(did.to_string()))
            .await?,
    )
}

/// One of the signed-in investor's distributions.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyDistribution {
    /// The distribution.
    pub distribution: Distribution,
    /// The investor's wallets that held shares at its record date.
    pub lines: Vec<RegisterLine>,
    /// Paid to them so far.
    pub received: Amount,
    /// Still theirs to claim (while claims are open).
    pub claimable: Amount,
}

/// The signed-in wallet's investor's wallets (the wallet alone when it is no investor's).
pub(crate) async fn my_wallets(app: &App, auth: &Auth) -> ApiResult<Vec<Address>> {
    let wallet: Address = wallet_of(auth)?
        .parse()
        .map_err(|_| Error::Corrupt("a session's wallet".to_owned()))?;
    let rows = crate::db::Query::new(
        "SELECT w.wallet FROM api_investor_wallets w JOIN api_investor_wallets me \
         ON me.investor_id = w.investor_id WHERE me.wallet = $1 ORDER BY w.wallet",
    )
    .bind(wallet.to_checksum(None))
    .fetch_all(app.db().reader())
    .await?;
    let mut out: Vec<Address> = rows
        .iter()
        .filter_map(|r| r.get::<String>("wallet").ok()?.parse().ok())
        .collect();
    if !out.contains(&wallet) {
        out.push(wallet);
    }
    Ok(out)
}

/// The distributions the signed-in investor's wallets hold a part of, with what they received
/// and may still claim.
#[utoipa::path(get, path = "/v1/me/distributions", tag = "investors",
    responses((status = 200, body = Vec<MyDistribution>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn mine(
    State(app): State<App>,
    auth: Auth,
) -> ApiResult<axum::Json<Vec<MyDistribution>>> {
    let wallets = my_wallets(&app, &auth).await?;
    Ok(axum::Json(of_wallets(&app, &wallets).await?))
}

/// The funded distributions `wallets` hold a part of, with what they received and may claim.
pub(crate) async fn of_wallets(app: &App, wallets: &[Address]) -> ApiResult<Vec<MyDistribution>> {
    let ctx = app.chain()?;
    let decimals = decimals(app).await?;
    let mut out = Vec::new();
    let mut page = PageRequest::parse(Some(crate::types::MAX_PAGE), None)?;
    loop {
        let found = distributions::list(app.db(), None, &page).await?;
        for d in found.items {
            let dist = with_status(app, d).await?;
            if dist.funded.is_none() {
                continue;
            }
            let open = dist.status == "funded";
            let reg =
                distributions::register(app.db(), &ctx.provider, decimals, dist, Some(wallets))
                    .await?;
            if reg.holders.is_empty() {
                continue;
            }
            let (mut received, mut claimable) = (U256::ZERO, U256::ZERO);
            for l in &reg.holders {
                let e = U256::from_str_radix(&l.entitlement.units, 10)
                    .map_err(|_| Error::Internal("an entitlement".into()))?;
                match l.claim.as_str() {
                    "paid" => received += e,
                    "unclaimed" if open => claimable += e,
                    _ => {}
                }
            }
            out.push(MyDistribution {
                distribution: reg.distribution,
                lines: reg.holders,
                received: Amount::of(received, decimals),
                claimable: Amount::of(claimable, decimals),
            });
        }
        match found.next_cursor {
            Some(c) => page = PageRequest::parse(Some(crate::types::MAX_PAGE), Some(&c))?,
            None => break,
        }
    }
    Ok(out)
}

/// A claim to sign.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreparedClaim {
    /// What the claim pays.
    pub amount: Amount,
    /// The transaction to sign with the wallet.
    pub transactions: Vec<UnsignedTx>,
}

/// Prepares the signed-in wallet's claim of a distribution: a transaction for the wallet to
/// sign, with a gas estimate. A claim the distributor would refuse (already claimed, nothing
/// to claim, claims closed) is a 409 naming why.
#[utoipa::path(post, path = "/v1/me/distributions/{id}/claim", tag = "investors",
    params(("id" = String, Path, description = "The distribution's id")),
    responses((status = 200, body = PreparedClaim)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn claim(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<PreparedClaim>> {
    let wallet: Address = wallet_of(&auth)?
        .parse()
        .map_err(|_| Error::Corrupt("a session's wallet".to_owned()))?;
    let d = distributions::declared(app.db().reader(), DistributionId::parse(&id)?).await?;
    let (distributor, number) = distributions::claim_target(app.db(), &d).await?;
    let ctx = app.chain()?;
    let decimals = decimals(&app).await?;
    let entitled = Distributor::new(distributor, &ctx.provider)
        .entitlement(U256::from(number), wallet)
        .call()
        .await
        .map_err(|e| Error::Unavailable(format!("chain: {e}")))?;
    let tx = unsigned::build(
        &ctx.provider,
        ctx.chain_id,
        wallet,
        distributor,
        Distributor::claimCall {
            id: U256::from(number),
        }
        .abi_encode(),
        format!(
            "claim {} of distribution {}",
            crate::compliance::units_text(entitled, decimals),
            d.id
        ),
        Estimate::Now,
    )
    .await?;
    Ok(axum::Json(PreparedClaim {
        amount: Amount::of(entitled, decimals),
        transactions: vec![tx],
    }))
}
