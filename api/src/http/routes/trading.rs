//! Secondary trading on the platform's share market (`ShareSettlement`): the open orders and
//! the trades of a share token, read from the chain, and the transactions an investor's wallet
//! signs to offer, bid, take and cancel, each checked first (a take by the share token's own
//! compliance verdict for that seller and buyer). The node never holds the investor's key.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolEvent};
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::investors::{wallet_address, wallet_of};
use super::me::{decimals, refused};
use crate::app::ChainContext;
use crate::auth::Allowed;
use crate::compliance::{self, TransferCheck, share_units, token_units};
use crate::error::Error;
use crate::http::extract::{Auth, Json, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::market::unsigned::{self, Estimate};
use crate::market::{self, Amount};
use propledger_contracts::{ShareSettlement, TestStablecoin};

/// Most market events one read looks at.
pub const EVENTS_MAX: usize = 100_000;

fn chain_err(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("chain: {e}"))
}

fn market_of(chain: &ChainContext) -> Result<propledger_contracts::deploy::Deployed, Error> {
    chain.platform.settlement.ok_or_else(|| {
        Error::Unavailable(
            "this platform was deployed before it had a share market (ShareSettlement)".to_owned(),
        )
    })
}

async fn share_token(app: &App, pointer: &str, s: &str) -> Result<Address, Error> {
    let token = s
        .parse::<Address>()
        .map_err(|_| Error::invalid(pointer, "an address (0x and 40 hex digits)"))?;
    if market::contract(app.db(), token, "shares").await?.is_none() {
        return Err(Error::invalid(
            pointer,
            "not a share token of this platform",
        ));
    }
    Ok(token)
}

/// Every log of the market up to the chain's head, oldest first.
pub(crate) async fn market_logs(
    chain: &ChainContext,
) -> Result<Vec<propledger_indexer::source::RawLog>, Error> {
    let market = market_of(chain)?;
    let source = crate::chain_audit::source(chain.source.as_ref()).await?;
    let head = source.head().await.map_err(chain_err)?;
    let logs = source
        .sparse_logs(market.block, head, &[market.address])
        .await
        .map_err(chain_err)?;
    if logs.len() > EVENTS_MAX {
        return Err(Error::conflict(
            "too_many_events",
            format!("the market has more than {EVENTS_MAX} events to read"),
        ));
    }
    Ok(logs)
}

fn decode<E: SolEvent>(log: &propledger_indexer::source::RawLog) -> Option<E> {
    if log.topics.first() != Some(&E::SIGNATURE_HASH) {
        return None;
    }
    let data = alloy::primitives::LogData::new_unchecked(log.topics.clone(), log.data.clone());
    E::decode_log_data(&data).ok()
}

/// Which side an order's maker is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The maker sells (an offer).
    Sell,
    /// The maker buys (a bid).
    Buy,
}

/// An open order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    /// Its number on the market.
    pub id: String,
    /// Who placed it.
    pub maker: String,
    /// Sell (an offer) or buy (a bid).
    pub side: Side,
    /// Shares ordered.
    pub amount: Amount,
    /// Shares still on offer.
    pub remaining: Amount,
    /// Price per whole share in the settlement token.
    pub price: Amount,
    /// When it expires (unix seconds).
    pub expires_at: u64,
}

/// A token to look at.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenParams {
    /// The share token.
    pub token: String,
}

/// The open orders of a share token on the market.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderBook {
    /// The market.
    pub market: String,
    /// Whether the token is listed (its orders can be taken).
    pub listed: bool,
    /// Whether its trades wait for the transfer agent's approval.
    pub approval_required: bool,
    /// The fee, in basis points of each payment, paid from the seller's proceeds.
    pub fee_bps: u16,
    /// Open orders: offers cheapest first, then bids dearest first.
    pub orders: Vec<OrderView>,
}

/// The open orders of a share token, read from the chain (not expired, not cancelled, with
/// shares left).
#[utoipa::path(get, path = "/v1/market/orders", tag = "market", params(TokenParams),
    responses((status = 200, body = OrderBook)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor", "investor"]))))]
pub async fn orders(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<TokenParams>,
) -> ApiResult<axum::Json<OrderBook>> {
    auth.require(Allowed::ANYONE)?;
    let token = share_token(&app, "token", &q.token).await?;
    let chain = app.chain()?;
    let m = market_of(chain)?;
    let contract = ShareSettlement::new(m.address, &chain.provider);
    let decimals = decimals(&app).await?;
    let now = chain
        .provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(chain_err)?
        .map_or(0, |b| b.header.timestamp);
    let mut orders = Vec::new();
    for log in market_logs(chain).await? {
        let Some(e) = decode::<ShareSettlement::OrderPlaced>(&log) else {
            continue;
        };
        if e.token != token {
            continue;
        }
        let o = contract.order(e.orderId).call().await.map_err(chain_err)?;
        if o.cancelled || o.remaining.is_zero() || o.expiresAt <= now {
            continue;
        }
        orders.push(OrderView {
            id: e.orderId.to_string(),
            maker: o.maker.to_checksum(None),
            side: if o.side == 0 { Side::Sell } else { Side::Buy },
            amount: Amount::shares(o.amount),
            remaining: Amount::shares(o.remaining),
            price: Amount::of(o.price, decimals),
            expires_at: o.expiresAt,
        });
    }
    orders.sort_by(|a, b| {
        let price = |o: &OrderView| o.price.units.parse::<U256>().unwrap_or_default();
        match (a.side, b.side) {
            (Side::Sell, Side::Sell) => price(a).cmp(&price(b)),
            (Side::Buy, Side::Buy) => price(b).cmp(&price(a)),
            (Side::Sell, Side::Buy) => std::cmp::Ordering::Less,
            (Side::Buy, Side::Sell) => std::cmp::Ordering::Greater,
        }
    });
    Ok(axum::Json(OrderBook {
        market: m.address.to_checksum(None),
        listed: contract.listed(token).call().await.map_err(chain_err)?,
        approval_required: contract
            .approvalRequired(token)
            .call()
            .await
            .map_err(chain_err)?,
        fee_bps: contract.feeBps().call().await.map_err(chain_err)?,
        orders,
    }))
}

/// A settled trade.
#[derive(Debug, Serialize, ToSchema)]
pub struct TradeView {
    /// Its number on the market.
    pub trade_id: String,
    /// The order it took.
    pub order_id: String,
    /// Who sold.
    pub seller: String,
    /// Who bought.
    pub buyer: String,
    /// Shares moved.
    pub shares: Amount,
    /// What the buyer paid.
    pub payment: Amount,
    /// The fee, out of the seller's proceeds.
    pub fee: Amount,
    /// Its block.
    pub block_number: u64,
    /// Its transaction.
    pub tx_hash: String,
}

/// The trades of a share token.
#[derive(Debug, Serialize, ToSchema)]
pub struct Trades {
    /// Oldest first.
    pub items: Vec<TradeView>,
}

/// The settled trades of a share token, oldest first, read from the chain.
#[utoipa::path(get, path = "/v1/market/trades", tag = "market", params(TokenParams),
    responses((status = 200, body = Trades)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor", "investor"]))))]
pub async fn trades(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<TokenParams>,
) -> ApiResult<axum::Json<Trades>> {
    auth.require(Allowed::ANYONE)?;
    let token = share_token(&app, "token", &q.token).await?;
    let chain = app.chain()?;
    let decimals = decimals(&app).await?;
    let items = market_logs(chain)
        .await?
        .iter()
        .filter_map(|log| {
            let e = decode::<ShareSettlement::TradeSettled>(log)?;
            (e.token == token).then(|| TradeView {
                trade_id: e.tradeId.to_string(),
                order_id: e.orderId.to_string(),
                seller: e.seller.to_checksum(None),
                buyer: e.buyer.to_checksum(None),
                shares: Amount::shares(e.amount),
                payment: Amount::of(e.payment, decimals),
                fee: Amount::of(e.fee, decimals),
                block_number: log.block_number,
                tx_hash: format!("{:#x}", log.tx_hash),
            })
        })
        .collect();
    Ok(axum::Json(Trades { items }))
}

/// Transactions to sign, in order, for an order or a take.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreparedTrade {
    /// The share token's compliance verdict for the delivery (for an offer, the seller's
    /// side; for a take, this seller to this buyer). Absent for a bid, which is judged when it
    /// is taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<compliance::Verdict>,
    /// What the buyer pays in the settlement token.
    pub payment: Amount,
    /// The fee, out of the seller's proceeds.
    pub fee: Amount,
    /// Shares moved.
    pub shares: Amount,
    /// Sign and send them in this order, each after the one before is mined.
    pub transactions: Vec<unsigned::UnsignedTx>,
}

async fn chain_time<P: Provider>(p: &P) -> Result<u64, Error> {
    Ok(p.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(chain_err)?
        .map_or(0, |b| b.header.timestamp))
}

/// The market's allowance the wallet gives for `needed` of `asset`, prepared when it falls
/// short, after checking the wallet holds that much.
#[allow(clippy::too_many_arguments)]
async fn allowance_tx(
    chain: &ChainContext,
    wallet: Address,
    market: Address,
    asset: Address,
    needed: U256,
    what: &str,
) -> Result<Option<unsigned::UnsignedTx>, Error> {
    let erc20 = TestStablecoin::new(asset, &chain.provider);
    let held = erc20.balanceOf(wallet).call().await.map_err(chain_err)?;
    if held < needed {
        return Err(Error::conflict(
            "insufficient_balance",
            format!("the wallet holds less of {what} than the trade needs"),
        ));
    }
    let allowance = erc20
        .allowance(wallet, market)
        .call()
        .await
        .map_err(chain_err)?;
    if allowance >= needed {
        return Ok(None);
    }
    Ok(Some(
        unsigned::build(
            &chain.provider,
            chain.chain_id,
            wallet,
            asset,
            TestStablecoin::approveCall {
                spender: market,
                value: needed,
            }
            .abi_encode(),
            format!("allow the market to take {what} for the trade"),
            Estimate::Now,
        )
        .await?,
    ))
}

/// An order to place.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// The share token.
    pub token: String,
    /// Sell (offer the wallet's shares) or buy (bid for shares).
    pub side: Side,
    /// Shares (decimal text).
    pub amount: String,
    /// Price per whole share in the settlement token (decimal text).
    pub price: String,
    /// Days until it expires (1 to 365, default 30).
    #[serde(default)]
    pub expires_in_days: Option<u64>,
}

/// Prepares an offer or a bid for the signed-in wallet: the market's allowance for the shares
/// (an offer) or the payment (a bid) when the wallet has not given enough, then the order. An
/// offer is refused when the token would not let the wallet's shares go (frozen, lock-up,
/// balance), with its reason code.
#[utoipa::path(post, path = "/v1/me/orders", tag = "market", request_body = NewOrder,
    responses((status = 200, body = PreparedTrade)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn place(
    State(app): State<App>,
    auth: Auth,
    body: Json<NewOrder>,
) -> ApiResult<axum::Json<PreparedTrade>> {
    let wallet = wallet_address(&auth)?;
    let b = body.value;
    let token = share_token(&app, "/token", &b.token).await?;
    let amount = share_units("/amount", &b.amount)?;
    let decimals = decimals(&app).await?;
    let price = token_units("/price", &b.price, decimals)?;
    let days = b.expires_in_days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(Error::invalid("/expires_in_days", "1 to 365").into());
    }
    if amount.is_zero() {
        return Err(Error::invalid("/amount", "more than zero").into());
    }
    if price.is_zero() {
        return Err(Error::invalid("/price", "more than zero").into());
    }
    let chain = app.chain()?;
    let p = &chain.provider;
    let m = market_of(chain)?;
    let contract = ShareSettlement::new(m.address, p);
    if !contract.listed(token).call().await.map_err(chain_err)? {
        return Err(
            Error::conflict("not_listed", "the share token is not listed on the market").into(),
        );
    }
    let Ok(q) = contract.quote(amount, price).call().await else {
        return Err(Error::invalid(
            "/price",
            "the payment for this amount at this price is not a whole number of the settlement token's units",
        )
        .into());
    };
    let verdict = match b.side {
        Side::Sell => {
            let req = TransferCheck {
                token,
                from: wallet,
                to: wallet,
                amount: b.amount.clone(),
            };
            let v = compliance::check_transfer(p, &req, None).await?;
            if !v.allowed {
                return Err(refused(&v).into());
            }
            Some(v)
        }
        Side::Buy => None,
    };
    let mut transactions = Vec::new();
    let approve = match b.side {
        Side::Sell => allowance_tx(chain, wallet, m.address, token, amount, "shares").await?,
        Side::Buy => {
            allowance_tx(
                chain,
                wallet,
                m.address,
                chain.platform.settlement_token,
                q.payment,
                "the settlement token",
            )
            .await?
        }
    };
    transactions.extend(approve);
    let expires_at = chain_time(p).await? + days * 86_400;
    transactions.push(
        unsigned::build(
            p,
            chain.chain_id,
            wallet,
            m.address,
            ShareSettlement::placeCall {
                token,
                side: match b.side {
                    Side::Sell => 0,
                    Side::Buy => 1,
                },
                amount,
                price,
                expiresAt: expires_at,
            }
            .abi_encode(),
            format!(
                "{} {} shares at {} each",
                if b.side == Side::Sell {
                    "offer"
                } else {
                    "bid for"
                },
                compliance::units_text(amount, compliance::SHARE_DECIMALS),
                compliance::units_text(price, decimals)
            ),
            Estimate::Now,
        )
        .await?,
    );
    Ok(axum::Json(PreparedTrade {
        verdict,
        payment: Amount::of(q.payment, decimals),
        fee: Amount::of(q.fee, decimals),
        shares: Amount::shares(amount),
        transactions,
    }))
}

/// Shares to take.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Take {
    /// Shares (decimal text), at most what is left on the order.
    pub amount: String,
}

/// Prepares the signed-in wallet's take of an order: buying from an offer or selling into a
/// bid. The share token judges the delivery from this seller to this buyer first (its reason
/// code when it refuses); then the market's allowance when it falls short, and the take.
#[utoipa::path(post, path = "/v1/me/orders/{id}/take", tag = "market", request_body = Take,
    params(("id" = String, Path, description = "The order's number on the market")),
    responses((status = 200, body = PreparedTrade)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn take(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    body: Json<Take>,
) -> ApiResult<axum::Json<PreparedTrade>> {
    let wallet = wallet_address(&auth)?;
    let id: U256 = id.parse().map_err(|_| Error::NotFound("order"))?;
    let amount = share_units("/amount", &body.value.amount)?;
    if amount.is_zero() {
        return Err(Error::invalid("/amount", "more than zero").into());
    }
    let chain = app.chain()?;
    let p = &chain.provider;
    let m = market_of(chain)?;
    let contract = ShareSettlement::new(m.address, p);
    let o = contract.order(id).call().await.map_err(chain_err)?;
    if o.maker.is_zero() {
        return Err(Error::NotFound("order").into());
    }
    if o.cancelled || o.expiresAt <= chain_time(p).await? {
        return Err(
            Error::conflict("order_closed", "the order was cancelled or has expired").into(),
        );
    }
    if o.maker == wallet {
        return Err(Error::conflict("self_trade", "the wallet placed this order").into());
    }
    if amount > o.remaining {
        return Err(Error::invalid(
            "/amount",
            format!(
                "at most the {} shares left on the order",
                compliance::units_text(o.remaining, compliance::SHARE_DECIMALS)
            ),
        )
        .into());
    }
    let decimals = decimals(&app).await?;
    let Ok(q) = contract.quote(amount, o.price).call().await else {
        return Err(Error::invalid(
            "/amount",
            "the payment for this amount is not a whole number of the settlement token's units",
        )
        .into());
    };
    let sell_order = o.side == 0;
    let (seller, buyer) = if sell_order {
        (o.maker, wallet)
    } else {
        (wallet, o.maker)
    };
    let req = TransferCheck {
        token: o.token,
        from: seller,
        to: buyer,
        amount: body.value.amount.clone(),
    };
    let verdict = compliance::check_transfer(p, &req, None).await?;
    if !verdict.allowed {
        return Err(refused(&verdict).into());
    }
    let mut transactions = Vec::new();
    let approve = if sell_order {
        allowance_tx(
            chain,
            wallet,
            m.address,
            chain.platform.settlement_token,
            q.payment,
            "the settlement token",
        )
        .await?
    } else {
        allowance_tx(chain, wallet, m.address, o.token, amount, "shares").await?
    };
    transactions.extend(approve);
    transactions.push(
        unsigned::build(
            p,
            chain.chain_id,
            wallet,
            m.address,
            ShareSettlement::takeCall {
                orderId: id,
                amount,
            }
            .abi_encode(),
            format!(
                "{} {} shares for {}",
                if sell_order { "buy" } else { "sell" },
                compliance::units_text(amount, compliance::SHARE_DECIMALS),
                compliance::units_text(q.payment, decimals)
            ),
            Estimate::Skip,
        )
        .await?,
    );
    Ok(axum::Json(PreparedTrade {
        verdict: Some(verdict),
        payment: Amount::of(q.payment, decimals),
        fee: Amount::of(q.fee, decimals),
        shares: Amount::shares(amount),
        transactions,
    }))
}

/// Prepares the cancellation of the signed-in wallet's own order.
#[utoipa::path(post, path = "/v1/me/orders/{id}/cancel", tag = "market",
    params(("id" = String, Path, description = "The order's number on the market")),
    responses((status = 200, body = unsigned::UnsignedTx)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn cancel(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<unsigned::UnsignedTx>> {
    let wallet = wallet_address(&auth)?;
    let id: U256 = id.parse().map_err(|_| Error::NotFound("order"))?;
    let chain = app.chain()?;
    let m = market_of(chain)?;
    let o = ShareSettlement::new(m.address, &chain.provider)
        .order(id)
        .call()
        .await
        .map_err(chain_err)?;
    if o.maker.is_zero() {
        return Err(Error::NotFound("order").into());
    }
    if o.maker != wallet {
        return Err(Error::Forbidden("only the order's maker cancels it here".to_owned()).into());
    }
    if o.cancelled {
        return Err(Error::conflict("order_closed", "the order is cancelled already").into());
    }
    Ok(axum::Json(
        unsigned::build(
            &chain.provider,
            chain.chain_id,
            wallet,
            m.address,
            ShareSettlement::cancelCall { orderId: id }.abi_encode(),
            "cancel the order".to_owned(),
            Estimate::Now,
        )
        .await?,
    ))
}

/// Whether a token's trades wait for the transfer agent's approval.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSetting {
    /// Whether a take only reserves the shares until the agent approves the trade.
    pub required: bool,
}

/// Sets whether a share token's trades wait for the transfer agent's approval (delivery
/// versus approval), through the outbox with the agent's key.
#[utoipa::path(post, path = "/v1/market/tokens/{token}/approval", tag = "market",
    request_body = ApprovalSetting,
    params(("token" = String, Path, description = "The share token"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = crate::outbox::Action)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn set_approval(
    State(app): State<App>,
    ctx: crate::http::extract::Ctx,
    auth: Auth,
    idem: crate::http::extract::Idem,
    Path(token): Path<String>,
    body: Json<ApprovalSetting>,
) -> ApiResult<axum::response::Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let token = share_token(&app, "token", &token).await?;
    let m = market_of(app.chain()?)?;
    let call = crate::outbox::Call::new(
        m.address,
        ShareSettlement::setApprovalRequiredCall {
            token,
            required: body.value.required,
        }
        .abi_encode(),
    );
    super::agent::one_action(
        &app,
        &ctx,
        p.actor(),
        idem.0,
        "/v1/market/tokens/{token}/approval",
        &[token.as_slice(), &body.raw],
        "agent",
        "market.approval_required",
        call,
        ("share_token", token.to_checksum(None)),
    )
    .await
}

/// A trade waiting for the transfer agent's approval.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingTrade {
    /// Its number on the market.
    pub trade_id: String,
    /// The order it takes.
    pub order_id: String,
    /// The share token.
    pub token: String,
    /// Who sells.
    pub seller: String,
    /// Who buys.
    pub buyer: String,
    /// Shares reserved.
    pub shares: Amount,
    /// What the buyer would pay.
    pub payment: Amount,
    /// The share token's verdict on the delivery now.
    pub verdict: compliance::Verdict,
}

/// Trades waiting for approval.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingTrades {
    /// Oldest first.
    pub items: Vec<PendingTrade>,
}

/// The trades of a share token waiting for the transfer agent's approval, each with the
/// token's verdict on its delivery now.
#[utoipa::path(get, path = "/v1/market/approvals", tag = "market", params(TokenParams),
    responses((status = 200, body = PendingTrades)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn approvals(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<TokenParams>,
) -> ApiResult<axum::Json<PendingTrades>> {
    auth.require(Allowed::READ)?;
    let token = share_token(&app, "token", &q.token).await?;
    let chain = app.chain()?;
    let m = market_of(chain)?;
    let contract = ShareSettlement::new(m.address, &chain.provider);
    let decimals = decimals(&app).await?;
    let mut items = Vec::new();
    for log in market_logs(chain).await? {
        let Some(e) = decode::<ShareSettlement::TradeRequested>(&log) else {
            continue;
        };
        let t = contract
            .pending(e.tradeId)
            .call()
            .await
            .map_err(chain_err)?;
        if !t.open {
            continue;
        }
        let o = contract.order(t.orderId).call().await.map_err(chain_err)?;
        if o.token != token {
            continue;
        }
        let (seller, buyer) = if o.side == 0 {
            (o.maker, t.taker)
        } else {
            (t.taker, o.maker)
        };
        let q = contract
            .quote(t.amount, o.price)
            .call()
            .await
            .map_err(chain_err)?;
        let verdict = compliance::check_transfer(
            &chain.provider,
            &TransferCheck {
                token,
                from: seller,
                to: buyer,
                amount: compliance::units_text(t.amount, compliance::SHARE_DECIMALS),
            },
            None,
        )
        .await?;
        items.push(PendingTrade {
            trade_id: e.tradeId.to_string(),
            order_id: t.orderId.to_string(),
            token: token.to_checksum(None),
            seller: seller.to_checksum(None),
            buyer: buyer.to_checksum(None),
            shares: Amount::shares(t.amount),
            payment: Amount::of(q.payment, decimals),
            verdict,
        });
    }
    Ok(axum::Json(PendingTrades { items }))
}

/// The transfer agent's decision on a trade waiting for approval.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TradeDecision {
    /// `approve` (the trade settles now, both parties checked again) or `reject` (its shares
    /// go back on the order).
    pub decision: String,
}

/// Approves or rejects a trade waiting for approval, through the outbox with the agent's key.
/// An approval the chain would refuse (a party no longer eligible, an allowance withdrawn) is a
/// 409 naming the reason, and nothing is queued.
#[utoipa::path(post, path = "/v1/market/approvals/{trade_id}", tag = "market",
    request_body = TradeDecision,
    params(("trade_id" = String, Path, description = "The trade's number on the market"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = crate::outbox::Action)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn decide(
    State(app): State<App>,
    ctx: crate::http::extract::Ctx,
    auth: Auth,
    idem: crate::http::extract::Idem,
    Path(trade_id): Path<String>,
    body: Json<TradeDecision>,
) -> ApiResult<axum::response::Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let id: U256 = trade_id.parse().map_err(|_| Error::NotFound("trade"))?;
    let chain = app.chain()?;
    let m = market_of(chain)?;
    let t = ShareSettlement::new(m.address, &chain.provider)
        .pending(id)
        .call()
        .await
        .map_err(chain_err)?;
    if !t.open {
        return Err(Error::NotFound("trade waiting for approval").into());
    }
    let (data, kind) = match body.value.decision.as_str() {
        "approve" => (
            ShareSettlement::approveCall { tradeId: id }.abi_encode(),
            "market.approve",
        ),
        "reject" => (
            ShareSettlement::rejectCall { tradeId: id }.abi_encode(),
            "market.reject",
        ),
        _ => return Err(Error::invalid("/decision", "approve or reject").into()),
    };
    super::agent::one_action(
        &app,
        &ctx,
        p.actor(),
        idem.0,
        "/v1/market/approvals/{trade_id}",
        &[trade_id.as_bytes(), &body.raw],
        "agent",
        kind,
        crate::outbox::Call::new(m.address, data),
        ("market_trade", trade_id.clone()),
    )
    .await
}

/// One of the investor's trades, with what a sale realized.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyTrade {
    /// Its number on the market.
    pub trade_id: String,
    /// The share token.
    pub token: String,
    /// Whether the investor bought or sold.
    pub side: Side,
    /// Shares moved.
    pub shares: Amount,
    /// What the buyer paid.
    pub payment: Amount,
    /// The fee, out of the seller's proceeds.
    pub fee: Amount,
    /// For a sale: the cost of the shares sold, first in first out (offering purchases at
    /// their price, then shares bought on the market at theirs); absent when some of the
    /// shares came another way (a transfer), so their cost is not known here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_basis: Option<String>,
    /// For a sale: the payment less the fee less the cost basis (decimal text, negative for a
    /// loss).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realized_gain: Option<String>,
    /// Its block.
    pub block_number: u64,
    /// Its transaction.
    pub tx_hash: String,
}

/// The investor's trades and what their sales realized.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyTrades {
    /// Oldest first.
    pub items: Vec<MyTrade>,
    /// The sum of the realized gains (decimal text, in the settlement token).
    pub realized_total: String,
    /// The settlement token's currency.
    pub currency: String,
}

/// A lot of shares: how many are left and what they cost.
struct Lot {
    shares: U256,
    cost: U256,
}

/// Takes `amount` shares from the oldest lots; their cost, or `None` when the lots hold fewer.
fn consume(lots: &mut std::collections::VecDeque<Lot>, mut amount: U256) -> Option<U256> {
    let mut cost = U256::ZERO;
    while !amount.is_zero() {
        let lot = lots.front_mut()?;
        let take = amount.min(lot.shares);
        // The whole lot carries its cost exactly; a part carries its share, rounded down, and
        // the rest stays with what is left.
        let part = if take == lot.shares {
            lot.cost
        } else {
            lot.cost * take / lot.shares
        };
        lot.shares -= take;
        lot.cost -= part;
        cost += part;
        amount -= take;
        if lot.shares.is_zero() {
            lots.pop_front();
        }
    }
    Some(cost)
}

fn dec(units: U256, decimals: u32) -> rust_decimal::Decimal {
    compliance::units_text(units, decimals)
        .parse()
        .unwrap_or_default()
}

/// The signed-in investor's trades on the market (any of their wallets), each sale with its
/// cost basis and realized gain, first in first out: settled offering purchases are the first
/// lots, at what was paid, then shares bought on the market in chain order.
#[utoipa::path(get, path = "/v1/me/trades", tag = "market",
    responses((status = 200, body = MyTrades)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn my_trades(State(app): State<App>, auth: Auth) -> ApiResult<axum::Json<MyTrades>> {
    use std::collections::{BTreeMap, VecDeque};
    let wallet = wallet_of(&auth)?;
    let me: Address = wallet
        .parse()
        .map_err(|_| Error::Corrupt("a session's wallet".to_owned()))?;
    let wallets: Vec<Address> = match crate::investors::of_wallet(app.db(), &wallet).await? {
        Some(inv) if !inv.wallets.is_empty() => {
            inv.wallets.iter().filter_map(|w| w.parse().ok()).collect()
        }
        _ => vec![me],
    };
    let chain = app.chain()?;
    let p = &chain.provider;
    let head = market::index_head(app.db())
        .await?
        .ok_or_else(|| Error::Unavailable("the index has not read the chain yet".to_owned()))?;
    let decimals = head.decimals;
    let investor_no =
        propledger_contracts::IdentityRegistry::new(chain.platform.identity_registry.address, p)
            .walletStatus(me)
            .call()
            .await
            .map_err(chain_err)?
            .investorNo;
    let now = u64::try_from(crate::types::now_ms() / 1000).unwrap_or(0);
    let mut lots: BTreeMap<Address, VecDeque<Lot>> = BTreeMap::new();
    if investor_no != 0 {
        for s in market::offerings(app.db(), app.terms(), p, now).await? {
            if !s.soft_cap_reached {
                continue;
            }
            let offering: Address = s
                .address
                .parse()
                .map_err(|_| Error::Corrupt("an offering address".to_owned()))?;
            let bought = propledger_contracts::ShareOffering::new(offering, p)
                .purchaseOf(investor_no)
                .call()
                .await
                .map_err(chain_err)?;
            if bought.shares != 0 {
                lots.entry(s.terms.shares_token)
                    .or_default()
                    .push_back(Lot {
                        shares: U256::from(bought.shares),
                        cost: U256::from(bought.paid),
                    });
            }
        }
    }
    let mut items = Vec::new();
    let mut total = rust_decimal::Decimal::ZERO;
    for log in market_logs(chain).await? {
        let Some(e) = decode::<ShareSettlement::TradeSettled>(&log) else {
            continue;
        };
        let (bought, sold) = (wallets.contains(&e.buyer), wallets.contains(&e.seller));
        if !bought && !sold {
            continue;
        }
        let token_lots = lots.entry(e.token).or_default();
        let mut trade = MyTrade {
            trade_id: e.tradeId.to_string(),
            token: e.token.to_checksum(None),
            side: if sold { Side::Sell } else { Side::Buy },
            shares: Amount::shares(e.amount),
            payment: Amount::of(e.payment, decimals),
            fee: Amount::of(e.fee, decimals),
            cost_basis: None,
            realized_gain: None,
            block_number: log.block_number,
            tx_hash: format!("{:#x}", log.tx_hash),
        };
        if sold && let Some(cost) = consume(token_lots, e.amount) {
            let gain = dec(e.payment - e.fee, decimals) - dec(cost, decimals);
            total += gain;
            trade.cost_basis = Some(dec(cost, decimals).normalize().to_string());
            trade.realized_gain = Some(gain.normalize().to_string());
        }
        if bought {
            token_lots.push_back(Lot {
                shares: e.amount,
                cost: e.payment,
            });
        }
        items.push(trade);
    }
    Ok(axum::Json(MyTrades {
        items,
        realized_total: total.normalize().to_string(),
        currency: head.currency.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lots_are_used_oldest_first_and_keep_their_whole_cost() {
        let mut lots = std::collections::VecDeque::from([
            Lot {
                shares: U256::from(3u8),
                cost: U256::from(100u8),
            },
            Lot {
                shares: U256::from(2u8),
                cost: U256::from(90u8),
            },
        ]);
        // A third of the first lot: 33, rounded down; the rest keeps 67.
        assert_eq!(consume(&mut lots, U256::from(1u8)), Some(U256::from(33u8)));
        // The first lot's last two shares carry exactly what is left of it, then one of the
        // second lot's.
        assert_eq!(
            consume(&mut lots, U256::from(3u8)),
            Some(U256::from(67u8 + 45))
        );
        assert_eq!(lots.len(), 1);
        // More than the lots hold: unknown.
        assert_eq!(consume(&mut lots, U256::from(2u8)), None);
    }
}
