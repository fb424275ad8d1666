//! Compliance's chain actions on investors and share tokens: wallets, freezes, recoveries and
//! forced transfers. Each is one outbox action signed by the key of the contract role it needs
//! (the registrar for the identity registry, the transfer agent for share tokens), simulated
//! first so that a call the contract would refuse is answered at once with its reason and
//! nothing is recorded.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use propledger_contracts::PropertyShares;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Actor, Allowed};
use crate::compliance::share_units;
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, Json};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::investors::{self, ApplicationStatus, InvestorId, chain};
use crate::outbox::sender::as_revert;
use crate::outbox::{self, Action, Call};

/// Calls `call` as the key of `role` would, at the latest block: the contract's refusal, if
/// it would refuse. Refused at once while chain actions are held.
pub(crate) async fn simulate(app: &App, role: &str, call: &Call) -> ApiResult<Bytes> {
    let ctx = app.writable_chain()?;
    let req = TransactionRequest::default()
        .with_from(ctx.signer(role)?)
        .with_to(call.to)
        .with_input(Bytes::from(call.data.clone()));
    match ctx.provider.call(req).await {
        Ok(out) => Ok(out),
        Err(e) => match as_revert(&e) {
            Some(r) => Err(Error::conflict(
                "would_revert",
                format!("the contract refuses it: {}", r.text),
            )
            .into()),
            None => Err(Error::Unavailable(format!("chain: {e}")).into()),
        },
    }
}

/// One chain action: simulated, recorded with the audit row and the idempotent response, and
/// answered `202 Accepted` with the action to follow.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn one_action(
    app: &App,
    ctx: &Ctx,
    actor: Actor,
    idem: Option<crate::idempotency::IdempotencyKey>,
    route: &'static str,
    fingerprint: &[&[u8]],
    role: &str,
    kind: &str,
    call: Call,
    resource: (&'static str, String),
) -> ApiResult<Response> {
    simulate(app, role, &call).await?;
    let mut w = match Write::begin(app, &ctx.0, actor, "POST", route, idem, fingerprint).await? {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let (rtype, rid) = resource;
    let id = w
        .enqueue(role, kind, call, None, Some((rtype, rid.clone())))
        .await?;
    let action = outbox::get(w.tx().exec(), id).await?;
    Ok(w.finish(StatusCode::ACCEPTED, &action, Some(rid)).await?)
}

fn address(pointer: &str, s: &str) -> Result<Address, Error> {
    s.parse::<Address>()
        .map_err(|_| Error::invalid(pointer, "an address (0x and 40 hex digits)"))
}

pub(crate) fn reason_of(pointer: &str, s: &str) -> Result<(), Error> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 500 {
        return Err(Error::invalid(pointer, "1 to 500 characters"));
    }
    Ok(())
}

/// A wallet to add to an investor.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWallet {
    /// The wallet.
    pub wallet: String,
}

async fn approved(app: &App, id: InvestorId) -> ApiResult<investors::Investor> {
    let inv = investors::read(app.db(), id).await?;
    if inv.status != ApplicationStatus::Approved {
        return Err(Error::conflict(
            "not_approved",
            format!("the investor is {}, not approved", inv.status.as_str()),
        )
        .into());
    }
    Ok(inv)
}

/// Adds a wallet to an approved investor: recorded here and linked in the identity registry.
#[utoipa::path(post, path = "/v1/investors/{id}/wallets", tag = "investors", request_body = NewWallet,
    params(("id" = String, Path, description = "The investor's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Action)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn add_wallet(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewWallet>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let id = InvestorId::parse(&id)?;
    let wallet = address("/wallet", &body.value.wallet)?;
    let inv = approved(&app, id).await?;
    let registry = app.chain()?.platform.identity_registry.address;
    let call = chain::add_wallet(registry, investors::registry_id(&inv)?, wallet);
    simulate(&app, "registrar", &call).await?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/investors/{id}/wallets",
        idem.0,
        &[id.to_string().as_bytes(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    investors::link_wallet(w.tx(), id, &wallet.to_checksum(None)).await?;
    let action = w
        .enqueue(
            "registrar",
            "identity.add_wallet",
            call,
            None,
            Some(("investor", id.to_string())),
        )
        .await?;
    let action = outbox::get(w.tx().exec(), action).await?;
    Ok(
        w.finish(StatusCode::ACCEPTED, &action, Some(id.to_string()))
            .await?,
    )
}

/// Removes a wallet from an investor, here and in the identity registry (its shares stay where
/// they are; recover them first if the wallet is lost).
#[utoipa::path(delete, path = "/v1/investors/{id}/wallets/{wallet}", tag = "investors",
    params(("id" = String, Path, description = "The investor's id"),
        ("wallet" = String, Path, description = "The wallet"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Action)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn remove_wallet(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path((id, wallet)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let id = InvestorId::parse(&id)?;
    let wallet = address("wallet", &wallet)?;
    let inv = approved(&app, id).await?;
    let checksum = wallet.to_checksum(None);
    if !inv.wallets.contains(&checksum) {
        return Err(Error::NotFound("wallet").into());
    }
    let registry = app.chain()?.platform.identity_registry.address;
    let call = chain::remove_wallet(registry, wallet);
    simulate(&app, "registrar", &call).await?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "DELETE",
        "/v1/investors/{id}/wallets/{wallet}",
        idem.0,
        &[id.to_string().as_bytes(), checksum.as_bytes()],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    investors::unlink_wallet(w.tx(), id, &checksum).await?;
    let action = w
        .enqueue(
            "registrar",
            "identity.remove_wallet",
            call,
            None,
            Some(("investor", id.to_string())),
        )
        .await?;
    let action = outbox::get(w.tx().exec(), action).await?;
    Ok(
        w.finish(StatusCode::ACCEPTED, &action, Some(id.to_string()))
            .await?,
    )
}

/// Freezing or unfreezing with a reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvestorFreeze {
    /// Freeze (`true`) or unfreeze (`false`).
    pub frozen: bool,
    /// Why (kept in the audit log).
    pub reason: String,
}

/// Freezes or unfreezes an investor on every share token (the identity registry's freeze).
#[utoipa::path(post, path = "/v1/investors/{id}/freeze", tag = "investors", request_body = InvestorFreeze,
    params(("id" = String, Path, description = "The investor's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Action)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn freeze_investor(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<InvestorFreeze>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let id = InvestorId::parse(&id)?;
    reason_of("/reason", &body.value.reason)?;
    let inv = approved(&app, id).await?;
    let registry = app.chain()?.platform.identity_registry.address;
    let call = chain::set_frozen(registry, investors::registry_id(&inv)?, body.value.frozen);
    let kind = if body.value.frozen {
        "identity.freeze"
    } else {
        "identity.unfreeze"
    };
    one_action(
        &app,
        &ctx,
        p.actor(),
        idem.0,
        "/v1/investors/{id}/freeze",
        &[id.to_string().as_bytes(), &body.raw],
        "registrar",
        kind,
        call,
        ("investor", id.to_string()),
    )
    .await
}

/// A freeze on a share token: the whole wallet (`frozen`) or some of its shares (`freeze` or
/// `unfreeze`, decimal share amounts); exactly one of the three.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenFreeze {
    /// The wallet.
    pub wallet: String,
    /// Freeze or unfreeze the whole wallet.
    pub frozen: Option<bool>,
    /// Shares to freeze.
    pub freeze: Option<String>,
    /// Shares to unfreeze.
    pub unfreeze: Option<String>,
    /// Why (kept in the audit log).
    pub reason: String,
}

/// Freezes or unfreezes a wallet, wholly or partly, on one share token (transfer agent).
#[utoipa::path(post, path = "/v1/tokens/{token}/freezes", tag = "compliance", request_body = TokenFreeze,
    params(("token" = String, Path, description = "The share token"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Action)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn token_freeze(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(token): Path<String>,
    body: Json<TokenFreeze>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let token = share_token(&app, &token).await?;
    let b = &body.value;
    let wallet = address("/wallet", &b.wallet)?;
    reason_of("/reason", &b.reason)?;
    let (kind, data) = match (b.frozen, &b.freeze, &b.unfreeze) {
        (Some(frozen), None, None) => (
            if frozen {
                "shares.freeze_wallet"
            } else {
                "shares.unfreeze_wallet"
            },
            PropertyShares::setAddressFrozenCall {
                wallet,
                frozen_: frozen,
            }
            .abi_encode(),
        ),
        (None, Some(a), None) => (
            "shares.freeze_partial",
            PropertyShares::freezePartialTokensCall {
                wallet,
                amount: positive("/freeze", a)?,
            }
            .abi_encode(),
        ),
        (None, None, Some(a)) => (
            "shares.unfreeze_partial",
            PropertyShares::unfreezePartialTokensCall {
                wallet,
                amount: positive("/unfreeze", a)?,
            }
            .abi_encode(),
        ),
        _ => {
            return Err(Error::invalid(
                "/frozen",
                "give exactly one of frozen, freeze and unfreeze",
            )
            .into());
        }
    };
    one_action(
        &app,
        &ctx,
        p.actor(),
        idem.0,
        "/v1/tokens/{token}/freezes",
        &[token.as_slice(), &body.raw],
        "agent",
        kind,
        Call::new(token, data),
        ("token", token.to_checksum(None)),
    )
    .await
}

fn positive(pointer: &str, s: &str) -> Result<U256, Error> {
    let v = share_units(pointer, s)?;
    if v.is_zero() {
        return Err(Error::invalid(pointer, "must be more than zero"));
    }
    Ok(v)
}

/// A registered share token, by its address in a path.
pub(crate) async fn share_token(app: &App, s: &str) -> ApiResult<Address> {
    let token = address("token", s)?;
    match crate::market::contract(app.db(), token, "shares").await? {
        Some(_) => Ok(token),
        None => Err(Error::NotFound("share token").into()),
    }
}

/// Moving a lost wallet's shares to the investor's new wallet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recovery {
    /// The lost wallet.
    pub lost_wallet: String,
    /// The investor's new wallet (already added to the investor).
    pub new_wallet: String,
    /// Why (kept in the audit log).
    pub reason: String,
}

/// Recovers a lost wallet's shares into the same investor's new wallet (transfer agent).
#[utoipa::path(post, path = "/v1/tokens/{token}/recoveries", tag = "compliance", request_body = Recovery,
    params(("token" = String, Path, description = "The share token"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Action)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn recover(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(token): Path<String>,
    body: Json<Recovery>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let token = share_token(&app, &token).await?;
    let b = &body.value;
    let lost = address("/lost_wallet", &b.lost_wallet)?;
    let new = address("/new_wallet", &b.new_wallet)?;
    reason_of("/reason", &b.reason)?;
    let data = PropertyShares::recoverWalletCall {
        lostWallet: lost,
        newWallet: new,
    }
    .abi_encode();
    one_action(
        &app,
        &ctx,
        p.actor(),
        idem.0,
        "/v1/tokens/{token}/recoveries",
        &[token.as_slice(), &body.raw],
        "agent",
        "shares.recover_wallet",
        Call::new(token, data),
        ("token", token.to_checksum(None)),
    )
    .await
}

/// A transfer on the agent's authority.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForcedTransfer {
    /// The wallet shares leave.
    pub from: String,
    /// The wallet they go to (an eligible investor's).
    pub to: String,
    /// Shares (decimal text).
    pub amount: String,
    /// Why: the court order, estate or correction (kept in the audit log).
    pub reason: String,
}

/// Moves shares on the transfer agent's authority; the recipient must be eligible, lock-up and
/// the sender's freezes are overridden.
#[utoipa::path(post, path = "/v1/tokens/{token}/forced-transfers", tag = "compliance", request_body = ForcedTransfer,
    params(("token" = String, Path, description = "The share token"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Action)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn forced_transfer(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(token): Path<String>,
    body: Json<ForcedTransfer>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let token = share_token(&app, &token).await?;
    let b = &body.value;
    let from = address("/from", &b.from)?;
    let to = address("/to", &b.to)?;
    let amount = positive("/amount", &b.amount)?;
    reason_of("/reason", &b.reason)?;
    let data = PropertyShares::forcedTransferCall { from, to, amount }.abi_encode();
    one_action(
        &app,
        &ctx,
        p.actor(),
        idem.0,
        "/v1/tokens/{token}/forced-transfers",
        &[token.as_slice(), &body.raw],
        "agent",
        "shares.forced_transfer",
        Call::new(token, data),
        ("token", token.to_checksum(None)),
    )
    .await
}
