//! Transactions for an investor's own wallet to sign: the node prepares them (call data, gas
//! estimates) and never holds the investor's key.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::rpc::types::state::{AccountOverride, StateOverridesBuilder};
use alloy::sol_types::SolCall;
use propledger_contracts::TestStablecoin;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::outbox::sender::as_revert;

/// A transaction to sign with the investor's wallet (`eth_sendTransaction` fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct UnsignedTx {
    /// What it does, for the person signing.
    pub description: String,
    /// The chain it is for.
    pub chain_id: u64,
    /// The wallet that signs it.
    pub from: String,
    /// The contract called.
    pub to: String,
    /// The call data (hex).
    pub data: String,
    /// Wei sent (always 0).
    pub value: String,
    /// Estimated gas, with a fifth more for safety; `None` when it cannot be estimated before
    /// an earlier transaction of the same request is mined.
    pub gas: Option<u64>,
}

fn gas_with_margin(g: u64) -> u64 {
    g.saturating_add(g / 5)
}

/// How to estimate a transaction's gas.
#[derive(Clone, Debug)]
pub enum Estimate {
    /// On the latest state.
    Now,
    /// On the latest state changed by an earlier transaction's effect.
    With(alloy::rpc::types::state::StateOverride),
    /// Not before an earlier transaction is mined.
    Skip,
}

/// Builds one transaction and estimates its gas as `estimate` says. A revert in the estimate is refused with its
/// reason: the transaction would fail.
pub async fn build(
    provider: &DynProvider,
    chain_id: u64,
    from: Address,
    to: Address,
    data: Vec<u8>,
    description: String,
    estimate: Estimate,
) -> Result<UnsignedTx> {
    let req = TransactionRequest::default()
        .with_from(from)
        .with_to(to)
        .with_input(Bytes::from(data.clone()));
    let estimate = match estimate {
        Estimate::Skip => None,
        Estimate::Now => Some(provider.estimate_gas(req).await),
        Estimate::With(o) => Some(provider.estimate_gas(req).overrides(o).await),
    };
    let gas = match estimate {
        None => None,
        Some(Ok(g)) => Some(gas_with_margin(g)),
        Some(Err(e)) => match as_revert(&e) {
            Some(r) => {
                return Err(Error::conflict(
                    "would_revert",
                    format!("the transaction would revert: {}", r.text),
                ));
            }
            None => return Err(Error::Unavailable(format!("chain: {e}"))),
        },
    };
    Ok(UnsignedTx {
        description,
        chain_id,
        from: from.to_checksum(None),
        to: to.to_checksum(None),
        data: format!("0x{}", alloy::hex::encode(&data)),
        value: "0".to_owned(),
        gas,
    })
}

/// The storage slot of `allowance(owner, spender)` in a token laid out as Solidity compiles
/// `mapping(address => mapping(address => uint256))` at one of the first slots (OpenZeppelin's
/// ERC-20 and most others), found by overriding each candidate and reading the allowance back;
/// `None` for a token laid out otherwise.
pub async fn allowance_slot(
    provider: &DynProvider,
    token: Address,
    owner: Address,
    spender: Address,
) -> Option<B256> {
    let probe = U256::from(0x5eed_u64) << 128;
    for base in 0u64..12 {
        let inner = keccak256(
            [
                owner.into_word().as_slice(),
                &U256::from(base).to_be_bytes::<32>(),
            ]
            .concat(),
        );
        let slot = keccak256([spender.into_word().as_slice(), inner.as_slice()].concat());
        let o = StateOverridesBuilder::default()
            .append(
                token,
                AccountOverride::default().with_state_diff([(slot, B256::from(probe))]),
            )
            .build();
        let call = TestStablecoin::allowanceCall { owner, spender }.abi_encode();
        let req = TransactionRequest::default()
            .with_to(token)
            .with_input(Bytes::from(call));
        if let Ok(out) = provider.call(req).overrides(o).await
            && out.len() == 32
            && U256::from_be_slice(&out) == probe
        {
            return Some(slot);
        }
    }
    None
}

/// State as if `owner` had approved `spender` for `amount` of `token` (to estimate what follows
/// an approval), when the token's layout is found.
pub async fn as_if_approved(
    provider: &DynProvider,
    token: Address,
    owner: Address,
    spender: Address,
    amount: U256,
) -> Option<alloy::rpc::types::state::StateOverride> {
    let slot = allowance_slot(provider, token, owner, spender).await?;
    Some(
        StateOverridesBuilder::default()
            .append(
                token,
                AccountOverride::default().with_state_diff([(slot, B256::from(amount))]),
            )
            .build(),
    )
}
