//! The chain a client's wallet talks to, and test funds on development platforms.
//!
//! `GET /v1/network` tells a wallet (or `propledger demo`) which chain the platform lives on,
//! where to send its own transactions when the operator publishes an endpoint, and the
//! platform's contracts. On a platform that settles in the test stablecoin it deployed itself
//! (a development chain), an admin may give a wallet gas money and test dollars through the
//! outbox (`POST /v1/test-funds`); a platform settling in a real token refuses.

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use propledger_contracts::TestStablecoin;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Allowed;
use crate::error::{Checks, Error};
use crate::http::extract::{Auth, Ctx, Idem, Json};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::outbox::{ActionId, Call};

/// Gas money one grant sends: 0.1 of the chain's native coin.
pub const GAS_GRANT_WEI: u64 = 100_000_000_000_000_000;
/// Most test dollars one grant mints.
pub const MAX_TEST_USD: u64 = 1_000_000;
/// The test stablecoin's decimals.
const TEST_USD_DECIMALS: u32 = 6;

/// The platform's contracts a wallet needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkContracts {
    /// The settlement token (USD stablecoin) purchases are paid in.
    pub settlement_token: String,
    /// The property directory.
    pub directory: String,
    /// The identity registry.
    pub identity_registry: String,
    /// The deed collection.
    pub deed: String,
    /// The ledger anchor, when the platform has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_anchor: Option<String>,
}

/// The chain the platform lives on.
#[derive(Debug, Serialize, ToSchema)]
pub struct Network {
    /// The chain id wallets sign for.
    pub chain_id: u64,
    /// The JSON-RPC endpoint the operator publishes for wallets (absent: use your own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    /// Whether an admin may grant test funds (`POST /v1/test-funds`): the platform settles in
    /// the test stablecoin it deployed.
    pub test_funds: bool,
    /// The platform's contracts.
    pub contracts: NetworkContracts,
}

/// The chain, its public endpoint and the platform's contracts; no credential needed.
#[utoipa::path(get, path = "/v1/network", tag = "system",
    responses((status = 200, body = Network)),
    extensions(("x-roles" = json!([]))))]
pub async fn network(State(app): State<App>) -> ApiResult<axum::Json<Network>> {
    let chain = app.chain()?;
    let p = &chain.platform;
    let hex = |a: Address| a.to_checksum(None);
    Ok(axum::Json(Network {
        chain_id: chain.chain_id,
        rpc_url: app.config().public_rpc_url.clone(),
        test_funds: p.test_stablecoin.is_some(),
        contracts: NetworkContracts {
            settlement_token: hex(p.settlement_token),
            directory: hex(p.directory.address),
            identity_registry: hex(p.identity_registry.address),
            deed: hex(p.deed.address),
            ledger_anchor: p.anchor.map(|a| hex(a.address)),
        },
    }))
}

/// A grant of test funds.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTestFunds {
    /// The wallet funded.
    #[schema(value_type = String)]
    pub wallet: String,
    /// Test dollars to mint to it (at most 1,000,000; up to 6 decimals; 0 for gas money only).
    #[schema(value_type = String)]
    pub usd: String,
}

/// What a grant queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestFunds {
    /// The wallet funded.
    pub wallet: String,
    /// Gas money sent (wei).
    pub gas_wei: String,
    /// Test dollars minted.
    pub usd: String,
    /// The outbox actions: the gas money, then the mint (when any).
    pub actions: Vec<ActionId>,
}

fn check(body: &NewTestFunds) -> Result<(Address, U256, Decimal), Error> {
    let mut checks = Checks::new();
    let wallet = match body.wallet.parse::<Address>() {
        Ok(a) if !a.is_zero() => Some(a),
        _ => {
            checks.push("/wallet", "must be a nonzero 0x-prefixed 20-byte address");
            None
        }
    };
    let usd = match body.usd.parse::<Decimal>() {
        Ok(d)
            if !d.is_sign_negative()
                && d.scale() <= TEST_USD_DECIMALS
                && d <= Decimal::from(MAX_TEST_USD) =>
        {
            Some(d)
        }
        _ => {
            checks.push(
                "/usd",
                format!("must be a decimal from 0 to {MAX_TEST_USD} with at most 6 decimals"),
            );
            None
        }
    };
    checks.finish()?;
    let (Some(wallet), Some(usd)) = (wallet, usd) else {
        return Err(Error::Internal("checked fields missing".to_owned()));
    };
    let mut units = usd;
    units.rescale(TEST_USD_DECIMALS);
    let units = U256::from(
        u128::try_from(units.mantissa()).map_err(|_| Error::invalid("/usd", "out of range"))?,
    );
    Ok((wallet, units, usd))
}

/// Gives a wallet gas money and test dollars, through the outbox (the admin's key). Only on a
/// platform that settles in the test stablecoin it deployed (a development chain); elsewhere a
/// 409 `no_test_token`.
#[utoipa::path(post, path = "/v1/test-funds", tag = "system",
    request_body = NewTestFunds,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = TestFunds)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn grant(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<NewTestFunds>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::ADMIN)?;
    let (wallet, units, usd) = check(&body.value)?;
    let chain = app.writable_chain()?;
    let Some(token) = chain.platform.test_stablecoin else {
        return Err(Error::conflict(
            "no_test_token",
            "this platform settles in a real token; test funds exist only where it deployed \
             its own test stablecoin",
        )
        .into());
    };
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/test-funds",
        idem.0,
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let body = enqueue_grant(&mut w, token.address, wallet, units, usd, "wallet").await?;
    Ok(
        w.finish(StatusCode::ACCEPTED, &body, Some(body.wallet.clone()))
            .await?,
    )
}

/// Queues gas money and `units` test dollars for `wallet` (the actions' resource is `kind`).
async fn enqueue_grant(
    w: &mut crate::http::write::Write<'_>,
    token: Address,
    wallet: Address,
    units: U256,
    usd: Decimal,
    kind: &str,
) -> Result<TestFunds, Error> {
    let resource = Some((kind, wallet.to_checksum(None)));
    let gas = Call {
        to: wallet,
        data: Vec::new(),
        value: U256::from(GAS_GRANT_WEI),
    };
    let mut actions = vec![
        w.enqueue("admin", "test_funds.gas", gas, None, resource.clone())
            .await?,
    ];
    if !units.is_zero() {
        let mint = Call::new(
            token,
            TestStablecoin::mintCall {
                to: wallet,
                amount: units,
            }
            .abi_encode(),
        );
        actions.push(
            w.enqueue("admin", "test_funds.mint", mint, None, resource)
                .await?,
        );
    }
    Ok(TestFunds {
        wallet: wallet.to_checksum(None),
        gas_wei: GAS_GRANT_WEI.to_string(),
        usd: usd.normalize().to_string(),
        actions,
    })
}

/// Test dollars the faucet gives a wallet.
pub const FAUCET_USD: u64 = 10_000;

/// The development chain's faucet: gas money and 10,000 test dollars for the signed-in wallet,
/// once per wallet. Only on a platform that settles in its own test stablecoin (409
/// `no_test_token` elsewhere); a wallet funded before is a 409 `already_funded`.
#[utoipa::path(post, path = "/v1/me/test-funds", tag = "investors",
    responses((status = 202, body = TestFunds)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn faucet(State(app): State<App>, ctx: Ctx, auth: Auth) -> ApiResult<Response> {
    let wallet: Address = super::investors::wallet_of(&auth)?
        .parse()
        .map_err(|_| Error::Corrupt("a session's wallet".to_owned()))?;
    let chain = app.writable_chain()?;
    let Some(token) = chain.platform.test_stablecoin else {
        return Err(Error::conflict(
            "no_test_token",
            "this platform settles in a real token: there is no faucet",
        )
        .into());
    };
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        auth.0.actor(),
        "POST",
        "/v1/me/test-funds",
        None,
        &[wallet.as_slice()],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let before =
        crate::outbox::of_resource(w.tx().exec(), "faucet", &wallet.to_checksum(None)).await?;
    if !before.is_empty() {
        return Err(Error::conflict(
            "already_funded",
            "the faucet funded this wallet before; it gives each wallet once",
        )
        .into());
    }
    let usd = Decimal::from(FAUCET_USD);
    let units = U256::from(FAUCET_USD) * U256::from(10u64).pow(U256::from(TEST_USD_DECIMALS));
    let body = enqueue_grant(&mut w, token.address, wallet, units, usd, "faucet").await?;
    Ok(
        w.finish(StatusCode::ACCEPTED, &body, Some(body.wallet.clone()))
            .await?,
    )
}
