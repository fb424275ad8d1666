//! The JSON-RPC methods: `web3_*`, `net_*`, `eth_*` (state, blocks, transactions, logs,
//! filters, fees, calls) and the dev methods (`evm_*`, `anvil_mine`, reorgs).

use std::{sync::Arc, time::Instant};

use alloy::signers::SignerSync;
use alloy::{
    consensus::{Transaction as _, TxEnvelope, transaction::SignerRecoverable},
    eips::{BlockId, BlockNumberOrTag, eip2718::Decodable2718},
    primitives::{Address, B256, Bytes, U64, U256, keccak256},
    rpc::types::{FeeHistory, Filter, FilterBlockOption, TransactionRequest, state::StateOverride},
};
use revm::context_interface::result::InvalidTransaction;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    Rpc,
    jsonrpc::{Error, Params, Result, to_raw},
    ws,
};
use crate::{
    block::StoredTx,
    chaindata::{self, ChainData},
    exec::{self, BlockParams, CallOutcome, CallRequest, EstimateError},
    filters::{self, Changes, FilterKind, LogFilter},
    pool::{self, Admission, TxError},
    service::{self, Command, FillParams, ReorgTx},
    state::{Account, EvmDb, Overrides, StateRead},
};

/// Most blocks one `eth_feeHistory` may cover.
const MAX_FEE_HISTORY_BLOCKS: u64 = 1_024;
/// Most reward percentiles one `eth_feeHistory` may ask for.
const MAX_REWARD_PERCENTILES: usize = 100;
/// Most blocks one `evm_mine` / `anvil_mine` may mine.
const MAX_MINE_BLOCKS: u64 = 10_000;

/// Methods that take no parameters.
const NO_PARAMS: &[&str] = &[
    "web3_clientVersion",
    "net_version",
    "net_listening",
    "net_peerCount",
    "eth_chainId",
    "eth_syncing",
    "eth_mining",
    "eth_hashrate",
    "eth_coinbase",
    "eth_accounts",
    "eth_blockNumber",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_blobBaseFee",
    "eth_newBlockFilter",
    "eth_newPendingTransactionFilter",
    "evm_snapshot",
];

/// Methods that reshape the chain or its clock (and the namespaces of other dev nodes'
/// methods): a production chain answers none of them.
fn is_dev_method(method: &str) -> bool {
    ["evm_", "anvil_", "hardhat_", "propledger_"]
        .iter()
        .any(|prefix| method.starts_with(prefix))
}

/// A quantity given as a JSON number or a hex string.
#[derive(Debug, Clone, Copy)]
struct Quantity(u64);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Q {
            N(u64),
            S(String),
        }
        match Q::deserialize(d)? {
            Q::N(n) => Ok(Self(n)),
            Q::S(s) => {
                let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => s.parse(),
                };
                parsed
                    .map(Self)
                    .map_err(|_| serde::de::Error::custom(format!("invalid quantity {s:?}")))
            }
        }
    }
}

/// A signed quantity (evm_increaseTime may go back).
#[derive(Debug, Clone, Copy)]
struct SignedQuantity(i64);

impl<'de> Deserialize<'de> for SignedQuantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Q {
            N(i64),
            S(String),
        }
        match Q::deserialize(d)? {
            Q::N(n) => Ok(Self(n)),
            Q::S(s) => {
                let parsed = match s.strip_prefix("0x") {
                    Some(hex) => i64::from_str_radix(hex, 16),
                    None => s.parse(),
                };
                parsed
                    .map(Self)
                    .map_err(|_| serde::de::Error::custom(format!("invalid quantity {s:?}")))
            }
        }
    }
}

/// A storage slot: a quantity or a 32-byte word.
fn parse_slot(s: &str) -> Result<U256> {
    let hex = s.strip_prefix("0x").unwrap_or(s);
    if hex.is_empty() || hex.len() > 64 {
        return Err(Error::InvalidParams(format!("invalid storage slot {s:?}")));
    }
    U256::from_str_radix(hex, 16)
        .map_err(|_| Error::InvalidParams(format!("invalid storage slot {s:?}")))
}

/// `eth_sendRawTransactionSync`'s wait when the call names none, and the longest it may name.
const SYNC_DEFAULT_MS: u64 = 2_000;
const SYNC_MAX_MS: u64 = 60_000;

fn chain_err(e: chaindata::Error) -> Error {
    match e {
        chaindata::Error::TooManyResults { .. } | chaindata::Error::RangeTooLarge(_) => {
            Error::Server {
                code: -32005,
                message: e.to_string(),
            }
        }
        chaindata::Error::UnknownBlock(_) => Error::server("header not found"),
        chaindata::Error::UnknownHash(_) => Error::server("header for hash not found"),
        other => Error::server(other.to_string()),
    }
}

fn service_err(e: service::Error) -> Error {
    match e {
        service::Error::Tx(t) => tx_err(t),
        service::Error::Chain(c) => chain_err(c),
        service::Error::InvalidArgument(m) => Error::InvalidParams(m),
        other => Error::Server {
            code: -32000,
            message: other.to_string(),
        },
    }
}

fn tx_err(e: TxError) -> Error {
    Error::Server {
        code: e.code(),
        message: e.to_string(),
    }
}

fn filter_err(e: filters::Error) -> Error {
    match e {
        filters::Error::NotFound | filters::Error::TooManyFilters(_) => {
            Error::server(e.to_string())
        }
        other => Error::InvalidParams(other.to_string()),
    }
}

/// revm's refusals of a call, in geth's words.
fn invalid_tx_err(e: &InvalidTransaction, from: Address) -> Error {
    match e {
        InvalidTransaction::LackOfFundForMaxFee { fee, balance } => Error::Server {
            code: -32003,
            message: format!(
                "insufficient funds for gas * price + value: address {from} have {balance} want {fee}"
            ),
        },
        InvalidTransaction::CallGasCostMoreThanGasLimit {
            initial_gas,
            gas_limit,
        } => Error::server(format!(
            "intrinsic gas too low: gas {gas_limit}, minimum needed {initial_gas}"
        )),
        InvalidTransaction::GasPriceLessThanBasefee => {
            Error::server("max fee per gas less than block base fee")
        }
        InvalidTransaction::PriorityFeeGreaterThanMaxFee => {
            Error::server("max priority fee per gas higher than max fee per gas")
        }
        other => Error::server(other.to_string()),
    }
}

fn exec_err(e: exec::Error, from: Address) -> Error {
    match e {
        exec::Error::Invalid(t) => invalid_tx_err(&t, from),
        other => {
            tracing::error!(error = %other, "evm failure");
            Error::Internal
        }
    }
}

fn reverted(output: &[u8]) -> Error {
    Error::Reverted {
        message: exec::revert_message(output),
        data: format!("0x{}", alloy::hex::encode(output)),
    }
}

/// The block number a block id stands for.
fn block_number(data: &ChainData, id: Option<BlockId>) -> Result<u64> {
    match id.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest)) {
        BlockId::Number(tag) => data.resolve(tag).map_err(chain_err),
        BlockId::Hash(h) => data
            .block_by_hash(&h.block_hash)
            .map(|b| b.number())
            .ok_or_else(|| chain_err(chaindata::Error::UnknownHash(h.block_hash))),
    }
}

/// A tag or number for log ranges: numbers past the head are allowed (clamped later).
fn range_end(data: &ChainData, tag: Option<BlockNumberOrTag>) -> u64 {
    match tag.unwrap_or(BlockNumberOrTag::Latest) {
        BlockNumberOrTag::Number(n) => n,
        BlockNumberOrTag::Earliest => 0,
        _ => data.head_number(),
    }
}

/// Applies `stateOverride` to a view.
fn overrides(view: &dyn StateRead, o: &StateOverride) -> Result<Overrides> {
    let mut out = Overrides::default();
    for (address, acct) in o {
        if acct.state.is_some() && acct.state_diff.is_some() {
            return Err(Error::InvalidParams(format!(
                "account {address} has both 'state' and 'stateDiff'"
            )));
        }
        let mut a = view
            .account(address)
            .unwrap_or_else(|| Account::with_balance(U256::ZERO));
        if let Some(b) = acct.balance {
            a.balance = b;
        }
        if let Some(n) = acct.nonce {
            a.nonce = n;
        }
        if let Some(code) = &acct.code {
            let hash = keccak256(code);
            out.codes
                .insert(hash, revm::bytecode::Bytecode::new_raw(code.clone()));
            a.code_hash = hash;
        }
        out.accounts.insert(*address, a);
        if let Some(state) = &acct.state {
            out.replaced_storage.insert(
                *address,
                state
                    .iter()
                    .map(|(k, v)| (U256::from_be_bytes(k.0), U256::from_be_bytes(v.0)))
                    .collect(),
            );
        }
        if let Some(diff) = &acct.state_diff {
            for (k, v) in diff {
                out.slots.insert(
                    (*address, U256::from_be_bytes(k.0)),
                    U256::from_be_bytes(v.0),
                );
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ReorgTxParam {
    Raw(Bytes),
    Request(Box<TransactionRequest>),
}

#[derive(Debug, Deserialize)]
struct AnvilReorg {
    depth: u64,
    #[serde(default, alias = "txBlockPairs")]
    tx_block_pairs: Vec<(ReorgTxParam, u64)>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum MineParam {
    Options {
        #[serde(default)]
        timestamp: Option<Quantity>,
        #[serde(default)]
        blocks: Option<Quantity>,
    },
    Timestamp(Quantity),
}

impl Rpc {
    /// Dispatches one call.
    pub(crate) async fn call(
        &self,
        method: &str,
        p: Params<'_>,
        conn: Option<&ws::Conn>,
    ) -> Result<Box<RawValue>> {
        let chain_id = self.shared.params.chain_id;
        if self.shared.params.production && is_dev_method(method) {
            return Err(Error::MethodNotFound(method.to_owned()));
        }
        if NO_PARAMS.contains(&method) {
            p.at_most(0)?;
        }
        match method {
            "web3_clientVersion" => {
                p.at_most(0)?;
                to_raw(&self.client_version)
            }
            "web3_sha3" => {
                p.at_most(1)?;
                let data: Bytes = p.required(0)?;
                to_raw(&keccak256(&data))
            }
            "net_version" => to_raw(&chain_id.to_string()),
            "net_listening" => to_raw(&true),
            "net_peerCount" => to_raw(&U64::ZERO),
            "eth_chainId" => to_raw(&U64::from(chain_id)),
            "eth_syncing" => to_raw(&false),
            "eth_mining" => to_raw(&true),
            "eth_hashrate" => to_raw(&U64::ZERO),
            "eth_coinbase" => to_raw(&Address::ZERO),
            "eth_accounts" => {
                let accounts: Vec<Address> =
                    self.shared.dev_accounts.iter().map(|a| a.address).collect();
                to_raw(&accounts)
            }
            "eth_blockNumber" => to_raw(&U64::from(self.shared.data.read().head_number())),
            "eth_gasPrice" => {
                let data = self.shared.data.read();
                let base = data.next_base_fee(data.head_number());
                to_raw(&U256::from(u128::from(base) + service::DEFAULT_TIP_WEI))
            }
            "eth_maxPriorityFeePerGas" => to_raw(&U256::from(service::DEFAULT_TIP_WEI)),
            "eth_blobBaseFee" => to_raw(&U64::from(1)),
            "eth_feeHistory" => self.fee_history(&p),
            "eth_getBalance" | "eth_getTransactionCount" | "eth_getCode" => {
                p.at_most(2)?;
                let address: Address = p.required(0)?;
                let id: Option<BlockId> = p.optional(1)?;
                let pending = matches!(id, Some(BlockId::Number(BlockNumberOrTag::Pending)));
                let data = self.shared.data.read();
                let n = block_number(&data, id)?;
                let at = data.state_at(n).map_err(chain_err)?;
                let account = at.as_read().account(&address);
                match method {
                    "eth_getBalance" => to_raw(&account.map(|a| a.balance).unwrap_or_default()),
                    "eth_getTransactionCount" => {
                        let nonce = account.map_or(0, |a| a.nonce);
                        let nonce = if pending {
                            self.shared.pool.lock().next_nonce(&address, nonce)
                        } else {
                            nonce
                        };
                        to_raw(&U64::from(nonce))
                    }
                    _ => {
                        let code = account
                            .and_then(|a| at.as_read().code(&a.code_hash))
                            .map(|c| c.original_bytes())
                            .unwrap_or_default();
                        to_raw(&code)
                    }
                }
            }
            "eth_getStorageAt" => {
                p.at_most(3)?;
                let address: Address = p.required(0)?;
                let slot = parse_slot(&p.required::<String>(1)?)?;
                let id: Option<BlockId> = p.optional(2)?;
                let data = self.shared.data.read();
                let n = block_number(&data, id)?;
                let at = data.state_at(n).map_err(chain_err)?;
                to_raw(&B256::from(at.as_read().storage(&address, &slot)))
            }
            "eth_getBlockByNumber" | "eth_getBlockByHash" => {
                p.at_most(2)?;
                let full: Option<bool> = p.optional(1)?;
                let data = self.shared.data.read();
                let block = if method == "eth_getBlockByHash" {
                    let hash: B256 = p.required(0)?;
                    data.block_by_hash(&hash).cloned()
                } else {
                    let tag: BlockNumberOrTag = p.required(0)?;
                    data.resolve(tag).ok().and_then(|n| data.block(n).cloned())
                };
                drop(data);
                match block {
                    Some(b) => to_raw(&b.to_rpc(full.unwrap_or(false))),
                    None => to_raw(&()),
                }
            }
            "eth_getBlockTransactionCountByNumber" | "eth_getBlockTransactionCountByHash" => {
                p.at_most(1)?;
                let data = self.shared.data.read();
                let block = if method.ends_with("ByHash") {
                    data.block_by_hash(&p.required::<B256>(0)?).cloned()
                } else {
                    let tag: BlockNumberOrTag = p.required(0)?;
                    data.resolve(tag).ok().and_then(|n| data.block(n).cloned())
                };
                match block {
                    Some(b) => to_raw(&U64::from(b.txs.len())),
                    None => to_raw(&()),
                }
            }
            "eth_getUncleCountByBlockNumber" | "eth_getUncleCountByBlockHash" => to_raw(&U64::ZERO),
            "eth_getBlockReceipts" => {
                p.at_most(1)?;
                let id: BlockId = p.required(0)?;
                let data = self.shared.data.read();
                let block = match id {
                    BlockId::Hash(h) => data.block_by_hash(&h.block_hash).cloned(),
                    BlockId::Number(tag) => {
                        data.resolve(tag).ok().and_then(|n| data.block(n).cloned())
                    }
                };
                drop(data);
                match block {
                    Some(b) => {
                        let receipts: Vec<_> = (0..b.txs.len()).map(|i| b.rpc_receipt(i)).collect();
                        to_raw(&receipts)
                    }
                    None => to_raw(&()),
                }
            }
            "eth_getTransactionByHash" => {
                p.at_most(1)?;
                let hash: B256 = p.required(0)?;
                let data = self.shared.data.read();
                if let Some((block, i)) = data.tx(&hash) {
                    return to_raw(&block.txs[i].to_rpc(Some((block, i))));
                }
                let base_fee = data.next_base_fee(data.head_number());
                drop(data);
                match self.shared.pool.lock().get(&hash) {
                    Some(tx) => {
                        let mut rpc_tx = tx.to_rpc(None);
                        // What it would pay in the next block, as anvil reports it.
                        rpc_tx.effective_gas_price =
                            Some(tx.envelope.effective_gas_price(Some(base_fee)));
                        to_raw(&rpc_tx)
                    }
                    None => to_raw(&()),
                }
            }
            "eth_getTransactionByBlockNumberAndIndex" | "eth_getTransactionByBlockHashAndIndex" => {
                p.at_most(2)?;
                let index: Quantity = p.required(1)?;
                let data = self.shared.data.read();
                let block = if method.contains("Hash") {
                    data.block_by_hash(&p.required::<B256>(0)?).cloned()
                } else {
                    let tag: BlockNumberOrTag = p.required(0)?;
                    data.resolve(tag).ok().and_then(|n| data.block(n).cloned())
                };
                let i = usize::try_from(index.0).unwrap_or(usize::MAX);
                match block {
                    Some(b) if i < b.txs.len() => to_raw(&b.txs[i].to_rpc(Some((&b, i)))),
                    _ => to_raw(&()),
                }
            }
            "eth_getTransactionReceipt" => {
                p.at_most(1)?;
                let hash: B256 = p.required(0)?;
                let data = self.shared.data.read();
                match data.tx(&hash) {
                    Some((block, i)) => to_raw(&block.rpc_receipt(i)),
                    None => to_raw(&()),
                }
            }
            "eth_call" => self.eth_call(&p).await,
            "eth_estimateGas" => {
                p.at_most(3)?;
                let req: TransactionRequest = p.required(0)?;
                let id: Option<BlockId> = p.optional(1)?;
                let state_override: Option<StateOverride> = p.optional(2)?;
                let gas = self.estimate(req, id, state_override).await?;
                to_raw(&U64::from(gas))
            }
            "eth_sendRawTransaction" => {
                p.at_most(1)?;
                let raw: Bytes = p.required(0)?;
                let tx = self.decode_raw(&raw)?;
                self.check_static(&tx, raw.len())?;
                let hash = self.shared.submit(tx).await.map_err(service_err)?;
                to_raw(&hash)
            }
            // EIP-7966: the receipt in the answer, once the transaction is mined (under automine
            // at once, since the submission returns with its block durable), or error 4 with the
            // hash after the timeout (milliseconds, default 2 s, at most 60 s).
            "eth_sendRawTransactionSync" => {
                p.at_most(2)?;
                let raw: Bytes = p.required(0)?;
                let timeout_ms = p.optional::<U64>(1)?.map_or(SYNC_DEFAULT_MS, |t| {
                    t.saturating_to::<u64>().min(SYNC_MAX_MS)
                });
                let tx = self.decode_raw(&raw)?;
                self.check_static(&tx, raw.len())?;
                let hash = self.shared.submit(tx).await.map_err(service_err)?;
                let deadline = Instant::now() + std::time::Duration::from_millis(timeout_ms);
                loop {
                    if let Some(receipt) = {
                        let data = self.shared.data.read();
                        data.tx(&hash).map(|(block, i)| block.rpc_receipt(i))
                    } {
                        return to_raw(&receipt);
                    }
                    if Instant::now() >= deadline {
                        return Err(Error::Server {
                            code: 4,
                            message: format!(
                                "the transaction {hash} was not mined within {timeout_ms} ms"
                            ),
                        });
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
            "eth_sendTransaction" => {
                p.at_most(1)?;
                let req: TransactionRequest = p.required(0)?;
                let hash = self.send_transaction(req).await?;
                to_raw(&hash)
            }
            "eth_getLogs" => {
                p.at_most(1)?;
                let filter: Filter = p.required(0)?;
                self.logs(filter).await
            }
            "eth_newFilter" => {
                p.at_most(1)?;
                let filter: Filter = p.required(0)?;
                let lf = LogFilter::from_rpc(&filter).map_err(filter_err)?;
                let id = self
                    .shared
                    .filters
                    .lock()
                    .install(
                        FilterKind::Logs(Box::new(lf), Box::new(filter)),
                        Instant::now(),
                    )
                    .map_err(filter_err)?;
                to_raw(&id)
            }
            "eth_newBlockFilter" | "eth_newPendingTransactionFilter" => {
                let kind = if method == "eth_newBlockFilter" {
                    FilterKind::Blocks
                } else {
                    FilterKind::PendingTransactions
                };
                let id = self
                    .shared
                    .filters
                    .lock()
                    .install(kind, Instant::now())
                    .map_err(filter_err)?;
                to_raw(&id)
            }
            "eth_getFilterChanges" => {
                p.at_most(1)?;
                let id: U256 = p.required(0)?;
                let changes = self
                    .shared
                    .filters
                    .lock()
                    .changes(&id, Instant::now())
                    .map_err(filter_err)?;
                match changes {
                    Changes::Hashes(h) => to_raw(&h),
                    Changes::Logs(l) => to_raw(&l),
                }
            }
            "eth_getFilterLogs" => {
                p.at_most(1)?;
                let id: U256 = p.required(0)?;
                let kind = self
                    .shared
                    .filters
                    .lock()
                    .kind(&id, Instant::now())
                    .map_err(filter_err)?;
                match kind {
                    FilterKind::Logs(_, filter) => self.logs(*filter).await,
                    _ => Err(Error::server("filter not found")),
                }
            }
            "eth_uninstallFilter" => {
                p.at_most(1)?;
                let id: U256 = p.required(0)?;
                to_raw(&self.shared.filters.lock().uninstall(&id))
            }
            "eth_subscribe" | "eth_unsubscribe" => match conn {
                Some(conn) => conn.subscription_call(self, method, &p),
                None => Err(Error::Server {
                    code: -32601,
                    message: "notifications not supported".to_owned(),
                }),
            },
            "personal_sign" | "eth_sign" => {
                p.at_most(2)?;
                let (raw, address): (String, Address) = if method == "personal_sign" {
                    (p.required(0)?, p.required(1)?)
                } else {
                    (p.required(1)?, p.required(0)?)
                };
                // Hex data, or (as some wallets send it) the text itself.
                let message = match alloy::hex::decode(&raw) {
                    Ok(bytes) if raw.starts_with("0x") => bytes,
                    _ => raw.into_bytes(),
                };
                let signer = self.dev_signer(&address)?;
                let sig = signer
                    .sign_message_sync(&message)
                    .map_err(|e| Error::server(format!("signing failed: {e}")))?;
                to_raw(&Bytes::from(sig.as_bytes()))
            }
            "eth_signTypedData_v4" | "eth_signTypedData" => {
                p.at_most(2)?;
                let address: Address = p.required(0)?;
                // The typed data comes as an object, or as a JSON string of one.
                let typed: alloy::dyn_abi::TypedData = match p.required::<String>(1) {
                    Ok(text) => serde_json::from_str(&text)
                        .map_err(|e| Error::InvalidParams(format!("invalid typed data: {e}")))?,
                    Err(_) => p.required(1)?,
                };
                let signer = self.dev_signer(&address)?;
                let sig = signer
                    .sign_dynamic_typed_data_sync(&typed)
                    .map_err(|e| Error::server(format!("signing failed: {e}")))?;
                to_raw(&Bytes::from(sig.as_bytes()))
            }
            // Dev methods.
            "evm_mine" => {
                p.at_most(1)?;
                let (timestamp, blocks) = match p.optional::<MineParam>(0)? {
                    None => (None, 1),
                    Some(MineParam::Timestamp(t)) => (Some(t.0), 1),
                    Some(MineParam::Options { timestamp, blocks }) => {
                        (timestamp.map(|t| t.0), blocks.map_or(1, |b| b.0))
                    }
                };
                self.mine(blocks, timestamp, None).await?;
                to_raw("0x0")
            }
            "anvil_mine" | "hardhat_mine" => {
                p.at_most(2)?;
                let blocks = p.optional::<Quantity>(0)?.map_or(1, |q| q.0);
                let interval = p.optional::<Quantity>(1)?.map(|q| q.0);
                let timestamp = match interval {
                    Some(i) => {
                        let data = self.shared.data.read();
                        Some(data.head().header.timestamp + i)
                    }
                    None => None,
                };
                self.mine(blocks, timestamp, interval).await?;
                to_raw(&())
            }
            "evm_snapshot" => {
                let id = self
                    .shared
                    .request(|reply| Command::Snapshot { reply })
                    .await
                    .map_err(service_err)?;
                to_raw(&U64::from(id))
            }
            "evm_revert" => {
                p.at_most(1)?;
                let id: Quantity = p.required(0)?;
                let ok = self
                    .shared
                    .request(|reply| Command::Revert { id: id.0, reply })
                    .await
                    .map_err(service_err)?;
                to_raw(&ok)
            }
            "evm_increaseTime" => {
                p.at_most(1)?;
                let secs: SignedQuantity = p.required(0)?;
                let total = self
                    .shared
                    .request(|reply| Command::IncreaseTime {
                        secs: secs.0,
                        reply,
                    })
                    .await
                    .map_err(service_err)?;
                to_raw(&total)
            }
            "evm_setNextBlockTimestamp" | "anvil_setNextBlockTimestamp" => {
                p.at_most(1)?;
                let ts: Quantity = p.required(0)?;
                self.shared
                    .request(|reply| Command::SetNextTimestamp {
                        timestamp: ts.0,
                        reply,
                    })
                    .await
                    .map_err(service_err)?;
                to_raw(&())
            }
            "propledger_reorg" => {
                p.at_most(2)?;
                let depth: Quantity = p.required(0)?;
                let sets: Vec<Vec<ReorgTxParam>> = p.optional(1)?.unwrap_or_default();
                let mut blocks = Vec::with_capacity(sets.len());
                for set in sets {
                    blocks.push(
                        set.into_iter()
                            .map(|t| self.reorg_tx(t))
                            .collect::<Result<Vec<_>>>()?,
                    );
                }
                let hashes = self.reorg(depth.0, blocks).await?;
                to_raw(&serde_json::json!({ "depth": depth.0, "blocks": hashes }))
            }
            "anvil_reorg" => {
                // anvil takes `[depth, [[tx, offset], ...]]`; an options object is accepted too.
                p.at_most(2)?;
                let opts: AnvilReorg = match p.required::<u64>(0) {
                    Ok(depth) => AnvilReorg {
                        depth,
                        tx_block_pairs: p.optional(1)?.unwrap_or_default(),
                    },
                    Err(_) => p.required(0)?,
                };
                let depth = opts.depth;
                let mut blocks: Vec<Vec<ReorgTx>> = Vec::new();
                for (tx, offset) in opts.tx_block_pairs {
                    if offset >= depth {
                        return Err(Error::InvalidParams(format!(
                            "block offset {offset} is not below the reorg depth {depth}"
                        )));
                    }
                    let i = offset as usize;
                    if blocks.len() <= i {
                        blocks.resize_with(i + 1, Vec::new);
                    }
                    blocks[i].push(self.reorg_tx(tx)?);
                }
                self.reorg(depth, blocks).await?;
                to_raw(&())
            }
            _ => Err(Error::MethodNotFound(method.to_owned())),
        }
    }

    fn dev_signer(&self, address: &Address) -> Result<&alloy::signers::local::PrivateKeySigner> {
        self.shared
            .dev_account(address)
            .map(|a| &a.signer)
            .ok_or_else(|| tx_err(TxError::UnknownAccount(*address)))
    }

    fn decode_raw(&self, raw: &[u8]) -> Result<StoredTx> {
        let mut slice = raw;
        let envelope = TxEnvelope::decode_2718(&mut slice)
            .map_err(|e| tx_err(TxError::Decode(e.to_string())))?;
        if !slice.is_empty() {
            return Err(tx_err(TxError::Decode(
                "trailing bytes after the transaction".to_owned(),
            )));
        }
        if envelope.is_eip4844() {
            return Err(tx_err(TxError::TypeNotSupported));
        }
        let sender = envelope
            .recover_signer()
            .map_err(|_| tx_err(TxError::InvalidSignature))?;
        Ok(StoredTx::new(envelope, sender))
    }

    fn check_static(&self, tx: &StoredTx, len: usize) -> Result<()> {
        let base_fee = {
            let data = self.shared.data.read();
            data.next_base_fee(data.head_number())
        };
        let admission = Admission {
            chain_id: self.shared.params.chain_id,
            base_fee,
            block_gas_limit: self.shared.params.gas_limit,
        };
        pool::check_static(tx, len, &admission).map_err(tx_err)
    }

    fn reorg_tx(&self, t: ReorgTxParam) -> Result<ReorgTx> {
        match t {
            ReorgTxParam::Raw(raw) => Ok(ReorgTx::Signed(Arc::new(self.decode_raw(&raw)?))),
            ReorgTxParam::Request(req) => {
                let from = req.from.unwrap_or_default();
                if self.shared.dev_account(&from).is_none() {
                    return Err(tx_err(TxError::UnknownAccount(from)));
                }
                Ok(ReorgTx::Request(req))
            }
        }
    }

    async fn reorg(&self, depth: u64, blocks: Vec<Vec<ReorgTx>>) -> Result<Vec<B256>> {
        self.shared
            .request(|reply| Command::Reorg {
                depth,
                blocks,
                reply,
            })
            .await
            .map_err(service_err)
    }

    async fn mine(&self, blocks: u64, timestamp: Option<u64>, interval: Option<u64>) -> Result<()> {
        if blocks > MAX_MINE_BLOCKS {
            return Err(Error::InvalidParams(format!(
                "cannot mine more than {MAX_MINE_BLOCKS} blocks at once"
            )));
        }
        self.shared
            .request(|reply| Command::Mine {
                blocks,
                timestamp,
                interval_secs: interval,
                reply,
            })
            .await
            .map_err(service_err)?;
        Ok(())
    }

    fn fee_history(&self, p: &Params<'_>) -> Result<Box<RawValue>> {
        p.at_most(3)?;
        let count: Quantity = p.required(0)?;
        let newest: BlockNumberOrTag = p.required(1)?;
        let percentiles: Option<Vec<f64>> = p.optional(2)?;
        if let Some(ps) = &percentiles {
            if ps.len() > MAX_REWARD_PERCENTILES {
                return Err(Error::InvalidParams(format!(
                    "too many reward percentiles: {}, limit {MAX_REWARD_PERCENTILES}",
                    ps.len()
                )));
            }
            let increasing = ps.windows(2).all(|w| w[0] <= w[1]);
            if !increasing || ps.iter().any(|p| !(0.0..=100.0).contains(p)) {
                return Err(Error::InvalidParams(
                    "invalid reward percentiles".to_owned(),
                ));
            }
        }
        let count = count.0.min(MAX_FEE_HISTORY_BLOCKS);
        let data = self.shared.data.read();
        let newest = data.resolve(newest).map_err(chain_err)?;
        if count == 0 {
            return to_raw(&FeeHistory::default());
        }
        let oldest = (newest + 1).saturating_sub(count);
        let mut history = FeeHistory {
            oldest_block: oldest,
            ..Default::default()
        };
        let mut rewards = Vec::new();
        for block in data.blocks_range(oldest, newest) {
            let h = &block.header;
            let base_fee = h.base_fee_per_gas.unwrap_or_default();
            history.base_fee_per_gas.push(u128::from(base_fee));
            history
                .gas_used_ratio
                .push(h.gas_used as f64 / h.gas_limit.max(1) as f64);
            history.base_fee_per_blob_gas.push(1);
            history.blob_gas_used_ratio.push(0.0);
            if let Some(ps) = &percentiles {
                rewards.push(block_rewards(block, base_fee, ps));
            }
        }
        history
            .base_fee_per_gas
            .push(u128::from(data.next_base_fee(newest)));
        history.base_fee_per_blob_gas.push(1);
        match percentiles {
            Some(ps) if ps.is_empty() => history.reward = Some(Vec::new()),
            Some(_) => history.reward = Some(rewards),
            None => {}
        }
        to_raw(&history)
    }

    async fn eth_call(&self, p: &Params<'_>) -> Result<Box<RawValue>> {
        p.at_most(4)?;
        let req: TransactionRequest = p.required(0)?;
        let id: Option<BlockId> = p.optional(1)?;
        let state_override: Option<StateOverride> = p.optional(2)?;
        let shared = self.shared.clone();
        let call = CallRequest::from_rpc(&req);
        let outcome = tokio::task::spawn_blocking(move || -> Result<CallOutcome> {
            let data = shared.data.read();
            let n = block_number(&data, id)?;
            let at = data.state_at(n).map_err(chain_err)?;
            let view = at.as_read();
            let o = match &state_override {
                Some(o) => Some(Arc::new(overrides(view, o)?)),
                None => None,
            };
            let block = BlockParams::of_header(&data.block(n).ok_or(Error::Internal)?.header);
            let hashes = |k: u64| if k < n { data.hash_of(k) } else { B256::ZERO };
            let db = EvmDb {
                state: view,
                block_hashes: &hashes,
                overrides: o,
            };
            exec::call(db, shared.params.chain_id, &block, &call)
                .map_err(|e| exec_err(e, call.from))
        })
        .await
        .map_err(|_| Error::Internal)??;
        match outcome {
            CallOutcome::Success { output, .. } => to_raw(&output),
            CallOutcome::Revert { output, .. } => Err(reverted(&output)),
            CallOutcome::Halt { reason, .. } => Err(Error::server(exec::halt_message(&reason))),
        }
    }

    async fn estimate(
        &self,
        req: TransactionRequest,
        id: Option<BlockId>,
        state_override: Option<StateOverride>,
    ) -> Result<u64> {
        let shared = self.shared.clone();
        let call = CallRequest::from_rpc(&req);
        tokio::task::spawn_blocking(move || -> Result<u64> {
            let data = shared.data.read();
            let n = block_number(&data, id)?;
            let at = data.state_at(n).map_err(chain_err)?;
            let view = at.as_read();
            let o = match &state_override {
                Some(o) => Some(Arc::new(overrides(view, o)?)),
                None => None,
            };
            let mut block = BlockParams::of_header(&data.block(n).ok_or(Error::Internal)?.header);
            if n == data.head_number() {
                // Estimate for the block the transaction will go into.
                block.base_fee = data.next_base_fee(n);
            }
            let hashes = |k: u64| if k < n { data.hash_of(k) } else { B256::ZERO };
            let make_db = || EvmDb {
                state: view,
                block_hashes: &hashes,
                overrides: o.clone(),
            };
            exec::estimate_gas(&make_db, shared.params.chain_id, &block, &call).map_err(|e| match e
            {
                EstimateError::Revert(output) => reverted(&output),
                EstimateError::Halt(
                    revm::context_interface::result::HaltReason::OutOfGas(_),
                    cap,
                ) => Error::server(format!("gas required exceeds allowance ({cap})")),
                EstimateError::Halt(reason, _) => Error::server(exec::halt_message(&reason)),
                EstimateError::Exec(e) => exec_err(e, call.from),
            })
        })
        .await
        .map_err(|_| Error::Internal)?
    }

    async fn send_transaction(&self, mut req: TransactionRequest) -> Result<B256> {
        let from = req
            .from
            .ok_or_else(|| Error::InvalidParams("missing 'from'".to_owned()))?;
        if self.shared.dev_account(&from).is_none() {
            return Err(tx_err(TxError::UnknownAccount(from)));
        }
        let _guard = self.shared.send_lock.lock().await;
        let (nonce, base_fee) = {
            let data = self.shared.data.read();
            let state_nonce = data.account(&from).map_or(0, |a| a.nonce);
            let nonce = match req.nonce {
                Some(n) => n,
                None => self.shared.pool.lock().next_nonce(&from, state_nonce),
            };
            (nonce, data.next_base_fee(data.head_number()))
        };
        let gas = match req.gas {
            Some(g) => g,
            None => {
                let mut probe = req.clone();
                probe.nonce = Some(nonce);
                self.estimate(probe, None, None).await?
            }
        };
        req.nonce = Some(nonce);
        let params = FillParams {
            chain_id: self.shared.params.chain_id,
            nonce,
            gas,
            base_fee,
        };
        let tx = service::sign_with_dev_key(&self.shared, &req, &params).map_err(service_err)?;
        let len = alloy::eips::eip2718::Encodable2718::encode_2718_len(&tx.envelope);
        self.check_static(&tx, len)?;
        self.shared.submit(tx).await.map_err(service_err)
    }

    async fn logs(&self, filter: Filter) -> Result<Box<RawValue>> {
        let lf = LogFilter::from_rpc(&filter).map_err(filter_err)?;
        let shared = self.shared.clone();
        let max_range = self.limits.max_logs_block_range;
        let max_results = self.limits.max_logs_results;
        tokio::task::spawn_blocking(move || {
            let data = shared.data.read();
            let (from, to) = match filter.block_option {
                FilterBlockOption::AtBlockHash(h) => {
                    let n = data
                        .block_by_hash(&h)
                        .map(|b| b.number())
                        .ok_or_else(|| Error::server("unknown block"))?;
                    (n, n)
                }
                FilterBlockOption::Range {
                    from_block,
                    to_block,
                } => (range_end(&data, from_block), range_end(&data, to_block)),
            };
            let json = data
                .logs_json(&lf, from, to, max_range, max_results)
                .map_err(chain_err)?;
            drop(data);
            let text = String::from_utf8(json).map_err(|_| Error::Internal)?;
            RawValue::from_string(text).map_err(|_| Error::Internal)
        })
        .await
        .map_err(|_| Error::Internal)?
    }
}

/// Effective tips at the given percentiles of a block's gas, as geth computes them.
fn block_rewards(
    block: &crate::block::StoredBlock,
    base_fee: u64,
    percentiles: &[f64],
) -> Vec<u128> {
    if block.txs.is_empty() {
        return vec![0; percentiles.len()];
    }
    let mut tips: Vec<(u128, u64)> = block
        .txs
        .iter()
        .zip(&block.receipts)
        .map(|(t, r)| {
            (
                t.envelope.effective_tip_per_gas(base_fee).unwrap_or(0),
                r.gas_used,
            )
        })
        .collect();
    tips.sort_unstable_by_key(|(tip, _)| *tip);
    let total: u64 = tips.iter().map(|(_, g)| *g).sum();
    let mut out = Vec::with_capacity(percentiles.len());
    let mut i = 0;
    let mut cumulative = tips[0].1;
    for p in percentiles {
        let threshold = (total as f64 * p / 100.0) as u64;
        while cumulative < threshold && i < tips.len() - 1 {
            i += 1;
            cumulative += tips[i].1;
        }
        out.push(tips[i].0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_slots_parse_in_every_accepted_form() {
        let q: Quantity = serde_json::from_str("\"0x10\"").expect("hex");
        assert_eq!(q.0, 16);
        let q: Quantity = serde_json::from_str("16").expect("number");
        assert_eq!(q.0, 16);
        assert!(serde_json::from_str::<Quantity>("\"0xzz\"").is_err());
        let s: SignedQuantity = serde_json::from_str("-5").expect("negative");
        assert_eq!(s.0, -5);
        assert_eq!(parse_slot("0x1").expect("short"), U256::from(1));
        assert_eq!(
            parse_slot("0x0000000000000000000000000000000000000000000000000000000000000002")
                .expect("word"),
            U256::from(2)
        );
        assert!(parse_slot("0x").is_err());
    }
}
