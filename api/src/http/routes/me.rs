//! A signed-in investor's own view and the transactions their wallet signs: buying in an
//! offering (approve, then buy), moving shares to another wallet, and claiming a refund. Each
//! is judged by the compliance check first; the node never holds the investor's key.

use alloy::eips::BlockId;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::investors::{InvestorDetail, detail, wallet_address, wallet_of};
use crate::compliance::{self, PurchaseCheck, TransferCheck, Verdict, share_units};
use crate::error::Error;
use crate::http::extract::{Auth, Json};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::investors;
use crate::market::unsigned::{self, Estimate, UnsignedTx};
use crate::market::{self, Amount, OfferingStatus};
use crate::types::now_ms;
use propledger_contracts::{IdentityRegistry, PropertyShares, ShareOffering, TestStablecoin};

fn chain_err(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("chain: {e}"))
}

/// Shares one of the investor's wallets holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct Holding {
    /// The share token.
    pub token: String,
    /// The property (deed token id).
    pub property_id: String,
    /// The wallet.
    pub wallet: String,
    /// Shares held.
    pub shares: Amount,
    /// Of which frozen.
    pub frozen: Amount,
    /// The whole wallet is frozen on this token.
    pub wallet_frozen: bool,
}

/// What the investor bought in an offering (and has not been refunded).
#[derive(Debug, Serialize, ToSchema)]
pub struct Purchase {
    /// The offering.
    pub offering: String,
    /// The property.
    pub property_id: String,
    /// Shares bought.
    pub shares: Amount,
    /// Settlement tokens paid.
    pub paid: Amount,
    /// Settled (the soft cap was reached) or pending (refunded if the offering fails).
    pub settled: bool,
    /// The offering's status.
    pub offering_status: OfferingStatus,
}

/// A refund the investor may claim from a failed offering, per wallet holding the shares.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundDue {
    /// The offering.
    pub offering: String,
    /// The wallet holding the shares (the refund is paid to it).
    pub wallet: String,
    /// Shares refunded (burned).
    pub shares: Amount,
    /// What is paid back.
    pub amount: Amount,
}

/// Whether the investor may buy in an open offering, and if not, why.
#[derive(Debug, Serialize, ToSchema)]
pub struct Eligibility {
    /// The offering.
    pub offering: String,
    /// The property.
    pub property_id: String,
    /// The smallest purchase, judged for the signed-in wallet.
    pub min_purchase: Amount,
    /// The verdict on buying the smallest purchase (as if approved).
    pub verdict: Verdict,
}

/// The signed-in wallet, its investor and everything they hold, bought, are owed and may buy.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The wallet, checksummed.
    pub wallet: String,
    /// The investor the wallet belongs to, if it applied; with documents and chain actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investor: Option<InvestorDetail>,
    /// Shares in each of the investor's wallets.
    pub holdings: Vec<Holding>,
    /// Purchases, pending and settled.
    pub purchases: Vec<Purchase>,
    /// Refunds to claim.
    pub refunds_due: Vec<RefundDue>,
    /// Each open offering, with whether this wallet may buy.
    pub offerings: Vec<Eligibility>,
    /// The block the chain was read at.
    pub block_number: u64,
}

fn now_s() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

/// The signed-in wallet's own data: identity and application, wallets, holdings, purchases,
/// refunds due, and for each open offering whether it may buy (and if not, why).
#[utoipa::path(get, path = "/v1/me", tag = "investors",
    responses((status = 200, body = Me)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn me(State(app): State<App>, auth: Auth) -> ApiResult<axum::Json<Me>> {
    let wallet = wallet_of(&auth)?;
    let investor = match investors::of_wallet(app.db(), &wallet).await? {
        Some(inv) => Some(detail(&app, inv.id).await?),
        None => None,
    };
    let ctx = app.chain()?;
    let p = &ctx.provider;
    let me_addr: Address = wallet
        .parse()
        .map_err(|_| Error::Corrupt("a session's wallet".to_owned()))?;
    let wallets: Vec<Address> = match &investor {
        Some(d) if !d.investor.wallets.is_empty() => d
            .investor
            .wallets
            .iter()
            .filter_map(|w| w.parse().ok())
            .collect(),
        _ => vec![me_addr],
    };
    let Some(head) = market::index_head(app.db()).await? else {
        return Ok(axum::Json(Me {
            wallet,
            investor,
            holdings: Vec::new(),
            purchases: Vec::new(),
            refunds_due: Vec::new(),
            offerings: Vec::new(),
            block_number: 0,
        }));
    };
    let number = p.get_block_number().await.map_err(chain_err)?;
    let at = BlockId::number(number);
    let states = market::offerings(app.db(), app.terms(), p, now_s()).await?;
    let investor_no = IdentityRegistry::new(ctx.platform.identity_registry.address, p)
        .walletStatus(me_addr)
        .block(at)
        .call()
        .await
        .map_err(chain_err)?
        .investorNo;

    let mut holdings = Vec::new();
    let mut held: Vec<(Address, Address, U256, u64)> = Vec::new(); // token, wallet, balance, investor
    for token in market::registered(app.db(), &["shares"]).await? {
        let shares = PropertyShares::new(token.address, p);
        for w in &wallets {
            let h = shares
                .holder(*w)
                .block(at)
                .call()
                .await
                .map_err(chain_err)?;
            let balance = U256::from(h.balance);
            if balance.is_zero() {
                continue;
            }
            let frozen = shares
                .getFrozenTokens(*w)
                .block(at)
                .call()
                .await
                .map_err(chain_err)?;
            held.push((token.address, *w, balance, h.investorNo));
            holdings.push(Holding {
                token: token.address.to_checksum(None),
                property_id: token.property_id.clone(),
                wallet: w.to_checksum(None),
                shares: Amount::shares(balance),
                frozen: Amount::shares(frozen),
                wallet_frozen: h.frozen,
            });
        }
    }

    let (mut purchases, mut refunds_due, mut offerings) = (Vec::new(), Vec::new(), Vec::new());
    for s in &states {
        let offering: Address = s
            .address
            .parse()
            .map_err(|_| Error::Corrupt("an offering address".to_owned()))?;
        if investor_no != 0 {
            let bought = ShareOffering::new(offering, p)
                .purchaseOf(investor_no)
                .block(at)
                .call()
                .await
                .map_err(chain_err)?;
            let (bs, paid) = (U256::from(bought.shares), U256::from(bought.paid));
            if !bs.is_zero() {
                purchases.push(Purchase {
                    offering: s.address.clone(),
                    property_id: s.property_id.clone(),
                    shares: Amount::shares(bs),
                    paid: Amount::of(paid, head.decimals),
                    settled: s.soft_cap_reached,
                    offering_status: s.status,
                });
                if s.status == OfferingStatus::Failed {
                    let token = s.terms.shares_token;
                    for (t, w, balance, no) in &held {
                        if *t == token && *no == investor_no {
                            let n = bs.min(*balance);
                            let amount = if n == bs { paid } else { paid * n / bs };
                            refunds_due.push(RefundDue {
                                offering: s.address.clone(),
                                wallet: w.to_checksum(None),
                                shares: Amount::shares(n),
                                amount: Amount::of(amount, head.decimals),
                            });
                        }
                    }
                }
            }
        }
        if s.status == OfferingStatus::Open {
            let min = s.terms.min_units.max(U256::from(1u8));
            let req = PurchaseCheck {
                offering,
                wallet: me_addr,
                amount: compliance::units_text(min, compliance::SHARE_DECIMALS),
            };
            offerings.push(Eligibility {
                offering: s.address.clone(),
                property_id: s.property_id.clone(),
                min_purchase: Amount::shares(min),
                verdict: compliance::check_purchase(p, &req, Some(number), true).await?,
            });
        }
    }
    Ok(axum::Json(Me {
        wallet,
        investor,
        holdings,
        purchases,
        refunds_due,
        offerings,
        block_number: number,
    }))
}

/// A purchase to prepare.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    /// The offering.
    pub offering: String,
    /// Shares (decimal text).
    pub amount: String,
}

/// Transactions to sign, in order, after the compliance check allowed them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Prepared {
    /// The check they passed.
    pub verdict: Verdict,
    /// What the wallet pays or receives in the settlement token, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// Shares moved.
    pub shares: Amount,
    /// Sign and send them in this order, each after the one before is mined.
    pub transactions: Vec<UnsignedTx>,
}

fn parse_address(pointer: &str, s: &str) -> Result<Address, Error> {
    s.parse::<Address>()
        .map_err(|_| Error::invalid(pointer, "an address (0x and 40 hex digits)"))
}

/// A compliance refusal as a 409 naming the reason.
pub(crate) fn refused(v: &Verdict) -> Error {
    Error::conflict(
        "not_allowed",
        format!("{} ({}): {}", v.name, v.code, v.sentence),
    )
}

/// The settlement token's decimals, as the index read them.
pub(crate) async fn decimals(app: &App) -> ApiResult<u32> {
    Ok(market::index_head(app.db())
        .await?
        .ok_or_else(|| Error::Unavailable("the index has not read the chain yet".to_owned()))?
        .decimals)
}

/// Prepares a purchase for the signed-in wallet: an approval of the price when the wallet has
/// not approved enough, then the purchase, with gas estimates.
#[utoipa::path(post, path = "/v1/me/purchases", tag = "investors", request_body = PurchaseRequest,
    responses((status = 200, body = Prepared)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn purchase(
    State(app): State<App>,
    auth: Auth,
    body: Json<PurchaseRequest>,
) -> ApiResult<axum::Json<Prepared>> {
    let wallet = wallet_address(&auth)?;
    let offering = parse_address("/offering", &body.value.offering)?;
    if market::contract(app.db(), offering, "offering")
        .await?
        .is_none()
    {
        return Err(Error::invalid("/offering", "not an offering of this platform").into());
    }
    let amount = share_units("/amount", &body.value.amount)?;
    let ctx = app.chain()?;
    let p = &ctx.provider;
    let req = PurchaseCheck {
        offering,
        wallet,
        amount: body.value.amount.clone(),
    };
    let verdict = compliance::check_purchase(p, &req, None, true).await?;
    if !verdict.allowed {
        return Err(refused(&verdict).into());
    }
    let o = ShareOffering::new(offering, p);
    let cost = o.quote(amount).call().await.map_err(chain_err)?;
    let token = o.settlementToken().call().await.map_err(chain_err)?;
    let allowance = TestStablecoin::new(token, p)
        .allowance(wallet, offering)
        .call()
        .await
        .map_err(chain_err)?;
    let decimals = decimals(&app).await?;
    let mut transactions = Vec::new();
    let buy_estimate = if allowance < cost {
        transactions.push(
            unsigned::build(
                p,
                ctx.chain_id,
                wallet,
                token,
                TestStablecoin::approveCall {
                    spender: offering,
                    value: cost,
                }
                .abi_encode(),
                format!(
                    "allow the offering to take {} of the settlement token",
                    compliance::units_text(cost, decimals)
                ),
                Estimate::Now,
            )
            .await?,
        );
        match unsigned::as_if_approved(p, token, wallet, offering, cost).await {
            Some(o) => Estimate::With(o),
            None => Estimate::Skip,
        }
    } else {
        Estimate::Now
    };
    transactions.push(
        unsigned::build(
            p,
            ctx.chain_id,
            wallet,
            offering,
            ShareOffering::buyCall {
                shareAmount: amount,
            }
            .abi_encode(),
            format!(
                "buy {} shares for {}",
                compliance::units_text(amount, compliance::SHARE_DECIMALS),
                compliance::units_text(cost, decimals)
            ),
            buy_estimate,
        )
        .await?,
    );
    Ok(axum::Json(Prepared {
        verdict,
        amount: Some(Amount::of(cost, decimals)),
        shares: Amount::shares(amount),
        transactions,
    }))
}

/// A transfer to prepare.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The share token.
    pub token: String,
    /// The receiving wallet.
    pub to: String,
    /// Shares (decimal text).
    pub amount: String,
}

/// Prepares a transfer of shares from the signed-in wallet.
#[utoipa::path(post, path = "/v1/me/transfers", tag = "investors", request_body = TransferRequest,
    responses((status = 200, body = Prepared)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn transfer(
    State(app): State<App>,
    auth: Auth,
    body: Json<TransferRequest>,
) -> ApiResult<axum::Json<Prepared>> {
    let wallet = wallet_address(&auth)?;
    let token = parse_address("/token", &body.value.token)?;
    if market::contract(app.db(), token, "shares").await?.is_none() {
        return Err(Error::invalid("/token", "not a share token of this platform").into());
    }
    let to = parse_address("/to", &body.value.to)?;
    let amount = share_units("/amount", &body.value.amount)?;
    let ctx = app.chain()?;
    let req = TransferCheck {
        token,
        from: wallet,
        to,
        amount: body.value.amount.clone(),
    };
    let mut verdict = compliance::check_transfer(&ctx.provider, &req, None).await?;
    if !verdict.allowed {
        if compliance::about_recipient(verdict.code) {
            verdict.sentence = compliance::standard_sentence(verdict.code);
        }
        return Err(refused(&verdict).into());
    }
    let tx = unsigned::build(
        &ctx.provider,
        ctx.chain_id,
        wallet,
        token,
        PropertyShares::transferCall { to, value: amount }.abi_encode(),
        format!(
            "send {} shares to {}",
            compliance::units_text(amount, compliance::SHARE_DECIMALS),
            to.to_checksum(None)
        ),
        Estimate::Now,
    )
    .await?;
    Ok(axum::Json(Prepared {
        verdict,
        amount: None,
        shares: Amount::shares(amount),
        transactions: vec![tx],
    }))
}

/// A refund to prepare.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// The failed offering.
    pub offering: String,
}

/// Prepares the refund of the signed-in wallet's shares of a failed offering (anyone may send
/// it; the money goes to the wallet holding the shares).
#[utoipa::path(post, path = "/v1/me/refunds", tag = "investors", request_body = RefundRequest,
    responses((status = 200, body = Prepared)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn refund(
    State(app): State<App>,
    auth: Auth,
    body: Json<RefundRequest>,
) -> ApiResult<axum::Json<Prepared>> {
    let wallet = wallet_address(&auth)?;
    let offering = parse_address("/offering", &body.value.offering)?;
    if market::contract(app.db(), offering, "offering")
        .await?
        .is_none()
    {
        return Err(Error::invalid("/offering", "not an offering of this platform").into());
    }
    let ctx = app.chain()?;
    let p = &ctx.provider;
    let number = p.get_block_number().await.map_err(chain_err)?;
    let at = BlockId::number(number);
    let o = ShareOffering::new(offering, p);
    if o.status().block(at).call().await.map_err(chain_err)? != 2 {
        return Err(Error::conflict(
            "not_refundable",
            "only a failed or cancelled offering refunds its buyers",
        )
        .into());
    }
    let token = o.shares().block(at).call().await.map_err(chain_err)?;
    let h = PropertyShares::new(token, p)
        .holder(wallet)
        .block(at)
        .call()
        .await
        .map_err(chain_err)?;
    let bought = o
        .purchaseOf(h.investorNo)
        .block(at)
        .call()
        .await
        .map_err(chain_err)?;
    let (bs, paid) = (U256::from(bought.shares), U256::from(bought.paid));
    let n = bs.min(U256::from(h.balance));
    if h.investorNo == 0 || n.is_zero() {
        return Err(Error::conflict(
            "nothing_to_refund",
            "this wallet holds no shares of this offering to refund",
        )
        .into());
    }
    let amount = if n == bs { paid } else { paid * n / bs };
    let decimals = decimals(&app).await?;
    let tx = unsigned::build(
        p,
        ctx.chain_id,
        wallet,
        offering,
        ShareOffering::refundCall { wallet }.abi_encode(),
        format!(
            "return {} shares and receive {}",
            compliance::units_text(n, compliance::SHARE_DECIMALS),
            compliance::units_text(amount, decimals)
        ),
        Estimate::Now,
    )
    .await?;
    let verdict = Verdict {
        allowed: true,
        code: 0,
        name: "allowed".to_owned(),
        sentence: format!(
            "{} may be refunded {}",
            wallet.to_checksum(None),
            compliance::units_text(amount, decimals)
        ),
        block_number: number,
        block_time: String::new(),
    };
    Ok(axum::Json(Prepared {
        verdict,
        amount: Some(Amount::of(amount, decimals)),
        shares: Amount::shares(n),
        transactions: vec![tx],
    }))
}
