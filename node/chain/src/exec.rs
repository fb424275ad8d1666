//! Running transactions on revm: the hardfork and environments, the mapping from signed
//! transactions and call requests to revm's `TxEnv`, `eth_call`, gas estimation, and the
//! wording of revert and halt errors.

use std::convert::Infallible;

use alloy::{
    consensus::{Header, Transaction as _},
    primitives::{Address, B256, Bytes, TxKind, U256},
    sol_types::{Panic, Revert, SolError},
};
use revm::{
    Context, ExecuteEvm, MainBuilder, MainContext,
    context::{BlockEnv, CfgEnv, TxEnv},
    context_interface::{
        block::BlobExcessGasAndPrice,
        either::Either,
        result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction, ResultAndState},
    },
    primitives::hardfork::SpecId,
};

use super::{block::StoredTx, state::EvmDb};

/// The hardfork the chain runs: the latest one live on Ethereum mainnet that revm implements.
pub(crate) const SPEC: SpecId = SpecId::OSAKA;
/// EIP-7825: no transaction may ask for more gas than this.
pub(crate) const TX_GAS_LIMIT_CAP: u64 = revm::primitives::eip7825::TX_GAS_LIMIT_CAP;
/// Gas of a plain value transfer: the floor of any estimate.
pub(crate) const MIN_TX_GAS: u64 = 21_000;

/// Failures running a transaction that are not the transaction's own revert or halt.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// revm refused the transaction before executing it.
    #[error("{0}")]
    Invalid(InvalidTransaction),
    /// revm refused the block environment (a bug here, never client input).
    #[error("invalid block environment: {0}")]
    Header(String),
    /// Any other failure inside revm.
    #[error("evm failure: {0}")]
    Evm(String),
}

impl From<EVMError<Infallible>> for Error {
    fn from(e: EVMError<Infallible>) -> Self {
        match e {
            EVMError::Transaction(t) => Self::Invalid(t),
            EVMError::Header(h) => Self::Header(h.to_string()),
            other => Self::Evm(other.to_string()),
        }
    }
}

/// The block a transaction runs in.
#[derive(Debug, Clone)]
pub(crate) struct BlockParams {
    pub(crate) number: u64,
    pub(crate) timestamp: u64,
    pub(crate) gas_limit: u64,
    pub(crate) base_fee: u64,
    pub(crate) prevrandao: B256,
    pub(crate) beneficiary: Address,
}

impl BlockParams {
    /// The environment of an existing block (for calls against it).
    pub(crate) fn of_header(h: &Header) -> Self {
        Self {
            number: h.number,
            timestamp: h.timestamp,
            gas_limit: h.gas_limit,
            base_fee: h.base_fee_per_gas.unwrap_or_default(),
            prevrandao: h.mix_hash,
            beneficiary: h.beneficiary,
        }
    }

    fn env(&self) -> BlockEnv {
        BlockEnv {
            number: U256::from(self.number),
            beneficiary: self.beneficiary,
            timestamp: U256::from(self.timestamp),
            gas_limit: self.gas_limit,
            basefee: self.base_fee,
            difficulty: U256::ZERO,
            prevrandao: Some(self.prevrandao),
            // No blob transactions are accepted, so excess blob gas stays zero.
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, 1)),
            ..Default::default()
        }
    }
}

/// How strictly a transaction is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A transaction going into a block: every consensus rule applies.
    Block,
    /// `eth_call` / `eth_estimateGas`: no nonce or EOA check, and no base-fee floor when
    /// the caller gave no gas price (as geth and anvil do).
    Call { no_base_fee: bool },
}

/// Runs one transaction against a database without committing anything.
pub(crate) fn transact(
    db: EvmDb<'_>,
    chain_id: u64,
    block: &BlockParams,
    tx: TxEnv,
    mode: Mode,
) -> Result<ResultAndState, Error> {
    let mut cfg = CfgEnv::new_with_spec(SPEC).with_chain_id(chain_id);
    if let Mode::Call { no_base_fee } = mode {
        cfg.disable_nonce_check = true;
        cfg.disable_eip3607 = true;
        cfg.disable_base_fee = no_base_fee;
        cfg.disable_block_gas_limit = true;
    }
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_cfg(cfg)
        .with_block(block.env())
        .build_mainnet();
    Ok(evm.transact(tx)?)
}

/// revm's view of a signed transaction.
pub(crate) fn tx_env(tx: &StoredTx) -> TxEnv {
    let e = &tx.envelope;
    TxEnv {
        tx_type: e.tx_type() as u8,
        caller: tx.sender,
        gas_limit: e.gas_limit(),
        gas_price: e.max_fee_per_gas(),
        kind: e.kind(),
        value: e.value(),
        data: e.input().clone(),
        nonce: e.nonce(),
        chain_id: e.chain_id(),
        access_list: e.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: e.max_priority_fee_per_gas(),
        blob_hashes: Vec::new(),
        max_fee_per_blob_gas: 0,
        authorization_list: e
            .authorization_list()
            .map(|l| l.iter().cloned().map(Either::Left).collect())
            .unwrap_or_default(),
    }
}

/// Intrinsic gas and the EIP-7623 calldata floor of a transaction.
pub(crate) fn intrinsic_gas(tx: &TxEnv) -> (u64, u64) {
    let g = revm::context_interface::cfg::gas::calculate_initial_tx_gas_for_tx(tx, SPEC, None);
    (g.initial_regular_gas + g.initial_state_gas, g.floor_gas)
}

/// A call request (`eth_call`, `eth_estimateGas`) after defaults are filled in.
#[derive(Debug, Clone)]
pub(crate) struct CallRequest {
    pub(crate) from: Address,
    pub(crate) kind: TxKind,
    pub(crate) value: U256,
    pub(crate) data: Bytes,
    pub(crate) gas: Option<u64>,
    /// Legacy gas price, or max fee per gas.
    pub(crate) gas_price: Option<u128>,
    pub(crate) priority_fee: Option<u128>,
    /// The request named a legacy `gasPrice`.
    pub(crate) legacy: bool,
    pub(crate) access_list: alloy::eips::eip2930::AccessList,
    pub(crate) nonce: Option<u64>,
}

impl CallRequest {
    pub(crate) fn from_rpc(req: &alloy::rpc::types::TransactionRequest) -> Self {
        let (gas_price, priority_fee) = match (req.gas_price, req.max_fee_per_gas) {
            (Some(p), _) => (Some(p), None),
            (None, Some(max)) => (Some(max), req.max_priority_fee_per_gas),
            (None, None) => (None, req.max_priority_fee_per_gas),
        };
        Self {
            from: req.from.unwrap_or_default(),
            kind: req.to.unwrap_or(TxKind::Create),
            value: req.value.unwrap_or_default(),
            data: req.input.input().cloned().unwrap_or_default(),
            gas: req.gas,
            gas_price,
            priority_fee,
            legacy: req.gas_price.is_some(),
            access_list: req.access_list.clone().unwrap_or_default(),
            nonce: req.nonce,
        }
    }

    fn env(&self, gas_limit: u64, base_fee: u64, chain_id: u64) -> (TxEnv, Mode) {
        let no_base_fee = self.gas_price.is_none() && self.priority_fee.is_none();
        // Without a price the call pays nothing; with only a tip it pays base fee + tip.
        let gas_price = match (self.gas_price, self.priority_fee) {
            (Some(p), _) => p,
            (None, Some(tip)) => u128::from(base_fee) + tip,
            (None, None) => 0,
        };
        let (tx_type, priority) = if self.legacy {
            (u8::from(!self.access_list.is_empty()), None)
        } else {
            (
                2,
                Some(self.priority_fee.map_or(gas_price, |t| t.min(gas_price))),
            )
        };
        let tx = TxEnv {
            tx_type,
            caller: self.from,
            gas_limit,
            gas_price,
            kind: self.kind,
            value: self.value,
            data: self.data.clone(),
            nonce: self.nonce.unwrap_or_default(),
            chain_id: Some(chain_id),
            access_list: self.access_list.clone(),
            gas_priority_fee: priority,
            blob_hashes: Vec::new(),
            max_fee_per_blob_gas: 0,
            authorization_list: Vec::new(),
        };
        (tx, Mode::Call { no_base_fee })
    }
}

/// What a call did.
#[derive(Debug, Clone)]
pub(crate) enum CallOutcome {
    Success { output: Bytes },
    Revert { output: Bytes },
    Halt { reason: HaltReason },
}

impl CallOutcome {
    fn from_result(r: ExecutionResult) -> Self {
        match r {
            ExecutionResult::Success { output, .. } => Self::Success {
                output: output.into_data(),
            },
            ExecutionResult::Revert { output, .. } => Self::Revert { output },
            ExecutionResult::Halt { reason, .. } => Self::Halt { reason },
        }
    }
}

/// The gas a call gets when the request names none: the block's limit, within the cap.
fn default_call_gas(block: &BlockParams) -> u64 {
    block.gas_limit.min(TX_GAS_LIMIT_CAP)
}

/// `eth_call`.
pub(crate) fn call(
    db: EvmDb<'_>,
    chain_id: u64,
    block: &BlockParams,
    req: &CallRequest,
) -> Result<CallOutcome, Error> {
    let gas = req
        .gas
        .unwrap_or_else(|| default_call_gas(block))
        .min(TX_GAS_LIMIT_CAP);
    let (tx, mode) = req.env(gas, block.base_fee, chain_id);
    let r = transact(db, chain_id, block, tx, mode)?;
    Ok(CallOutcome::from_result(r.result))
}

/// Why an estimate failed.
#[derive(Debug)]
pub(crate) enum EstimateError {
    /// The call cannot succeed at any gas limit: it reverts.
    Revert(Bytes),
    /// The call cannot succeed at any gas limit: it halts.
    Halt(HaltReason, u64),
    /// revm refused the call.
    Exec(Error),
}

/// `eth_estimateGas`: the smallest gas limit at which the call succeeds (exact binary search,
/// as anvil does).
pub(crate) fn estimate_gas<'a>(
    db: &dyn Fn() -> EvmDb<'a>,
    chain_id: u64,
    block: &BlockParams,
    req: &CallRequest,
) -> Result<u64, EstimateError> {
    let cap = req
        .gas
        .unwrap_or_else(|| default_call_gas(block))
        .min(TX_GAS_LIMIT_CAP);
    let attempt = |gas: u64| -> Result<CallOutcome, EstimateError> {
        let (tx, mode) = req.env(gas, block.base_fee, chain_id);
        let r = transact(db(), chain_id, block, tx, mode).map_err(EstimateError::Exec)?;
        Ok(CallOutcome::from_result(r.result))
    };
    let used = {
        let (tx, mode) = req.env(cap, block.base_fee, chain_id);
        let r = transact(db(), chain_id, block, tx, mode).map_err(EstimateError::Exec)?;
        match r.result {
            ExecutionResult::Success { gas, .. } => gas.tx_gas_used(),
            ExecutionResult::Revert { output, .. } => return Err(EstimateError::Revert(output)),
            ExecutionResult::Halt { reason, .. } => return Err(EstimateError::Halt(reason, cap)),
        }
    };
    let succeeds = |gas: u64| -> bool { matches!(attempt(gas), Ok(CallOutcome::Success { .. })) };
    // Refunds make the needed limit larger than the gas finally used, never smaller.
    let mut lo = used.saturating_sub(1).max(MIN_TX_GAS - 1);
    let mut hi = cap;
    // Most calls succeed close to what they used; try that before bisecting the whole range.
    let optimistic = (used + 2_300).saturating_mul(64) / 63;
    if optimistic < hi && succeeds(optimistic) {
        hi = optimistic;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if succeeds(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// The message geth and anvil give a revert: the decoded `Error(string)` reason, a panic
/// description, or just "execution reverted".
pub(crate) fn revert_message(output: &[u8]) -> String {
    if let Ok(r) = Revert::abi_decode(output) {
        return format!("execution reverted: {}", r.reason);
    }
    if let Ok(p) = Panic::abi_decode(output) {
        let what = p
            .kind()
            .map(|k| k.to_string())
            .unwrap_or_else(|| "unknown panic".to_owned());
        return format!("execution reverted: panic: {what} (0x{:02x})", p.code);
    }
    if output.len() >= 4 && !is_standard_selector(output) {
        let (selector, args) = output.split_at(4);
        return if args.is_empty() {
            format!(
                "execution reverted: custom error 0x{}",
                alloy::hex::encode(selector)
            )
        } else {
            format!(
                "execution reverted: custom error 0x{}: {}",
                alloy::hex::encode(selector),
                alloy::hex::encode(args)
            )
        };
    }
    "execution reverted".to_owned()
}

fn is_standard_selector(output: &[u8]) -> bool {
    output.starts_with(&alloy::sol_types::Revert::SELECTOR)
        || output.starts_with(&alloy::sol_types::Panic::SELECTOR)
}

/// The message for a halt, in geth's words where geth has one.
pub(crate) fn halt_message(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(_) => "out of gas".to_owned(),
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode => "invalid opcode".to_owned(),
        HaltReason::InvalidJump => "invalid jump destination".to_owned(),
        HaltReason::StackUnderflow => "stack underflow".to_owned(),
        HaltReason::StackOverflow => "stack limit reached 1024".to_owned(),
        HaltReason::CreateCollision => "contract address collision".to_owned(),
        HaltReason::CreateContractSizeLimit => "max code size exceeded".to_owned(),
        HaltReason::CreateInitCodeSizeLimit => "max initcode size exceeded".to_owned(),
        HaltReason::OutOfFunds => "insufficient balance for transfer".to_owned(),
        HaltReason::CallTooDeep => "max call depth exceeded".to_owned(),
        HaltReason::StateChangeDuringStaticCall | HaltReason::CallNotAllowedInsideStatic => {
            "write protection".to_owned()
        }
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::sol_types::{Panic, Revert};

    #[test]
    fn revert_messages_match_geth_and_anvil() {
        assert_eq!(revert_message(&[]), "execution reverted");
        let data = Revert::from("not allowed").abi_encode();
        assert_eq!(revert_message(&data), "execution reverted: not allowed");
        let data = Panic::from(0x11u64).abi_encode();
        assert!(revert_message(&data).starts_with("execution reverted: "));
        assert_eq!(
            revert_message(&[0xde, 0xad, 0xbe, 0xef, 1, 2]),
            "execution reverted: custom error 0xdeadbeef: 0102"
        );
    }
}
