//! Conformance: the same scenarios run against the embedded chain and against anvil from npm,
//! and their results are compared field by field where the two should agree.
//!
//! Both chains start from the same genesis (same dev accounts, balances, base fee, gas limit,
//! chain id, hardfork), so identical signed transactions give identical transaction hashes,
//! receipts, logs, gas, balances, nonces, block numbers and transaction/receipt roots. What
//! legitimately differs is ignored: block hashes and everything derived from them (timestamps,
//! state roots, prevrandao, sizes). Error codes must agree; messages must agree up to the detail
//! geth adds after a colon, except for the divergences listed in [`DIVERGENCES`].

use std::future::Future;

use alloy::{
    eips::{
        eip1559::Eip1559Estimation,
        eip2930::{AccessList, AccessListItem},
    },
    primitives::{Address, B256, Bytes, U256},
    providers::{ProviderBuilder, fillers::GasFiller, utils::Eip1559Estimator},
    sol_types::{SolCall, SolEvent},
};
use propledger_contracts::{
    TestStablecoin,
    deploy::{Roles, SettlementToken, deploy_platform},
    launch::{OfferingTerms, PropertyParams, launch_property},
};
use serde_json::{Value, json};

use super::{
    Probe,
    support::{self, GWEI, Rpc, RpcError, TxSpec, Ws, address, quantity, signer},
};

/// Keys whose values depend on block hashes or wall-clock time.
const IGNORED_KEYS: &[&str] = &[
    "hash",
    "blockHash",
    "parentHash",
    "timestamp",
    "blockTimestamp",
    "stateRoot",
    "mixHash",
    "size",
    "totalDifficulty",
];

/// Keys anvil adds where geth (and we) leave them out: `blobGasPrice` on receipts of non-blob
/// transactions, and the body fields anvil puts into `newHeads` notifications.
const ANVIL_ONLY_KEYS: &[&str] = &["blobGasPrice", "transactions", "uncles", "withdrawals"];

/// Where our messages knowingly differ from anvil's: (anvil's message, our message prefix).
/// Ours follow geth, which clients also match on.
const DIVERGENCES: &[(&str, &str)] = &[
    ("transaction already imported", "already known"),
    ("method not found", "the method "),
];

/// One recorded result.
#[derive(Debug, Clone)]
enum Outcome {
    Ok(Value),
    Err(RpcError),
}

/// A scenario's log of results against one target.
struct Trace {
    name: &'static str,
    rpc: Rpc,
    ws_url: String,
    entries: Vec<(String, Outcome)>,
}

impl Trace {
    fn new(name: &'static str, url: &str, ws_url: String) -> Self {
        Self {
            name,
            rpc: Rpc::new(url),
            ws_url,
            entries: Vec::new(),
        }
    }

    /// Calls and records; returns the result for the scenario to use.
    async fn call(&mut self, label: &str, method: &str, params: Value) -> Result<Value, RpcError> {
        let r = self.rpc.call(method, params).await;
        self.entries.push((
            label.to_owned(),
            match &r {
                Ok(v) => Outcome::Ok(v.clone()),
                Err(e) => Outcome::Err(e.clone()),
            },
        ));
        r
    }

    /// Calls, records, and insists on success.
    async fn ok(&mut self, label: &str, method: &str, params: Value) -> Value {
        match self.call(label, method, params).await {
            Ok(v) => v,
            Err(e) => panic!("{}: {label}: {e:?}", self.name),
        }
    }

    async fn receipt(&self, hash: &Value) -> Value {
        for _ in 0..200 {
            let r = self
                .rpc
                .ok("eth_getTransactionReceipt", json!([hash]))
                .await;
            if !r.is_null() {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{}: no receipt for {hash}", self.name);
    }

    fn record(&mut self, label: &str, v: Value) {
        self.entries.push((label.to_owned(), Outcome::Ok(v)));
    }

    /// Sends a raw transaction and records hash and receipt. anvil answers before it mines,
    /// so the receipt is polled for; ours exists as soon as the hash is returned.
    async fn send(&mut self, label: &str, raw: &Bytes) -> Value {
        let hash = self
            .ok(
                &format!("{label}: hash"),
                "eth_sendRawTransaction",
                json!([raw]),
            )
            .await;
        let receipt = self.receipt(&hash).await;
        self.record(&format!("{label}: receipt"), receipt.clone());
        // anvil can briefly serve a mined transaction as pending.
        for _ in 0..200 {
            let tx = self.rpc.ok("eth_getTransactionByHash", json!([hash])).await;
            if !tx["blockNumber"].is_null() {
                self.record(&format!("{label}: tx"), tx);
                return receipt;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{}: {label}: transaction never shown as mined", self.name);
    }
}

fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !IGNORED_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::String(s) => Value::String(s.to_lowercase()),
        other => other.clone(),
    }
}

/// Field-by-field differences between two values, with JSON paths.
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => diff(&format!("{path}.{k}"), p, q, out),
                    (None, Some(_)) if ANVIL_ONLY_KEYS.contains(&k.as_str()) => {}
                    (p, q) => out.push(format!("{path}.{k}: ours {p:?} vs anvil {q:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), p, q, out);
            }
        }
        (p, q) if p != q => out.push(format!("{path}: ours {p} vs anvil {q}")),
        _ => {}
    }
}

fn messages_agree(ours: &str, anvil: &str) -> bool {
    let ours = ours.to_lowercase();
    let anvil = anvil.to_lowercase();
    if ours == anvil || ours.split(": ").next() == Some(anvil.as_str()) {
        return true;
    }
    DIVERGENCES
        .iter()
        .any(|(a, o)| anvil == *a && ours.starts_with(o))
}

fn compare(ours: &Trace, anvil: &Trace) {
    let mut problems = Vec::new();
    assert_eq!(
        ours.entries.iter().map(|(l, _)| l).collect::<Vec<_>>(),
        anvil.entries.iter().map(|(l, _)| l).collect::<Vec<_>>(),
        "both runs took the same steps"
    );
    for ((label, a), (_, b)) in ours.entries.iter().zip(&anvil.entries) {
        match (a, b) {
            (Outcome::Ok(x), Outcome::Ok(y)) => {
                diff(label, &normalize(x), &normalize(y), &mut problems)
            }
            (Outcome::Err(x), Outcome::Err(y)) => {
                if x.code != y.code {
                    problems.push(format!("{label}: code ours {} vs anvil {}", x.code, y.code));
                }
                // Parameter errors are worded by each node's own decoder; only codes compare.
                if x.code != -32602 && !messages_agree(&x.message, &y.message) {
                    problems.push(format!(
                        "{label}: message ours {:?} vs anvil {:?}",
                        x.message, y.message
                    ));
                }
                if x.code == 3 && x.data.as_ref().map(normalize) != y.data.as_ref().map(normalize) {
                    problems.push(format!(
                        "{label}: revert data ours {:?} vs anvil {:?}",
                        x.data, y.data
                    ));
                }
            }
            (x, y) => problems.push(format!("{label}: ours {x:?} vs anvil {y:?}")),
        }
    }
    assert!(
        problems.is_empty(),
        "{} disagreements:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Runs a scenario on a fresh embedded chain and a fresh anvil and compares the traces.
async fn conform<F, Fut>(scenario: F)
where
    F: Fn(Trace) -> Fut,
    Fut: Future<Output = Trace>,
{
    let (chain, anvil) = tokio::join!(support::chain(), support::anvil());
    let ours = scenario(Trace::new("propledger", &chain.url(), chain.ws_url())).await;
    let theirs = scenario(Trace::new("anvil", &anvil.url, anvil.ws_url())).await;
    compare(&ours, &theirs);
}

fn hex(n: u64) -> String {
    format!("{n:#x}")
}

async fn deploy_probe(t: &mut Trace, from: usize, nonce: u64) -> Address {
    let receipt = t
        .send(
            "deploy Probe",
            &TxSpec::create(Probe::BYTECODE.clone(), nonce).sign_1559(&signer(from)),
        )
        .await;
    serde_json::from_value(receipt["contractAddress"].clone()).expect("address")
}

#[tokio::test]
async fn genesis_accounts_and_chain_facts() {
    conform(|mut t| async move {
        for m in [
            "eth_chainId",
            "net_version",
            "eth_accounts",
            "eth_blockNumber",
            "eth_syncing",
            "eth_gasPrice",
            "eth_maxPriorityFeePerGas",
        ] {
            t.ok(m, m, json!([])).await;
        }
        for i in [0, 1, 9] {
            t.ok("balance", "eth_getBalance", json!([address(i), "latest"]))
                .await;
            t.ok(
                "nonce",
                "eth_getTransactionCount",
                json!([address(i), "latest"]),
            )
            .await;
            t.ok("code", "eth_getCode", json!([address(i), "latest"]))
                .await;
        }
        t.ok(
            "storage",
            "eth_getStorageAt",
            json!([address(0), "0x0", "latest"]),
        )
        .await;
        let mut genesis = t
            .ok("genesis", "eth_getBlockByNumber", json!(["0x0", true]))
            .await;
        // anvil leaves the genesis state root empty; ours commits to the dev accounts.
        genesis["stateRoot"] = Value::Null;
        t.record("genesis fields", genesis);
        t.ok(
            "unknown block",
            "eth_getBlockByNumber",
            json!(["0x10", false]),
        )
        .await;
        t.ok(
            "fee history at genesis",
            "eth_feeHistory",
            json!(["0x1", "latest", []]),
        )
        .await;
        t.call("unknown method", "eth_notAMethod", json!([]))
            .await
            .expect_err("unknown");
        t
    })
    .await;
}

#[tokio::test]
async fn propledger_contracts_deploy_and_erc20_flows() {
    conform(|mut t| async move {
        // The platform's own deployer, through eth_sendTransaction and alloy's fillers. Fees
        // are fixed: estimated from the fee history, they would depend on whether a chain's
        // history already holds the block whose receipt was just read (anvil's lags under load).
        let mut gas = GasFiller::default();
        gas.estimator = Eip1559Estimator::new(|_, _| Eip1559Estimation {
            max_fee_per_gas: 100 * GWEI,
            max_priority_fee_per_gas: GWEI,
        });
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .filler(gas)
            .with_simple_nonce_management()
            .fetch_chain_id()
            .connect_http(t.rpc.url.parse().expect("url"));
        let platform = deploy_platform(
            &provider,
            Roles::single(address(0)),
            SettlementToken::DeployTestStablecoin,
        )
        .await
        .expect("deploy platform");
        // A property launched in one transaction, with terms that do not depend on the clock
        // (so both chains see the same transaction).
        let one = U256::from(10u64).pow(U256::from(18u64));
        let property = launch_property(
            &provider,
            &platform,
            &PropertyParams {
                property_id: U256::from(1u64),
                name: "Elm St Shares".into(),
                symbol: "ELM".into(),
                parcel_id: B256::repeat_byte(1),
                metadata_hash: B256::repeat_byte(2),
                metadata_uri: "ipfs://deed/1".into(),
                custodian: None,
                terms: OfferingTerms {
                    price_per_share: U256::from(50_000_000u64),
                    min_purchase: one,
                    max_per_investor: U256::ZERO,
                    shares_for_sale: U256::from(1_000u64) * one,
                    soft_cap: U256::from(1_000_000u64),
                    start: 1,
                    end: 4_000_000_000,
                },
            },
        )
        .await
        .expect("launch a property");
        t.record(
            "platform addresses",
            json!({
                "usd": platform.settlement_token,
                "registry": platform.identity_registry,
                "deed": platform.deed,
                "directory": platform.directory,
                "launcher": platform.launcher,
                "factories": platform.factories,
                "property": property,
            }),
        );
        let head = quantity(
            &t.ok("head after deployment", "eth_blockNumber", json!([]))
                .await,
        );
        for n in 1..=head {
            t.ok(
                "deployment block",
                "eth_getBlockByNumber",
                json!([hex(n), true]),
            )
            .await;
            t.ok(
                "deployment receipts",
                "eth_getBlockReceipts",
                json!([hex(n)]),
            )
            .await;
        }
        let usd = platform.settlement_token;
        t.ok("token code", "eth_getCode", json!([usd, "latest"]))
            .await;
        let admin = signer(0);
        // The admin's next nonces: one per deployment transaction above (a block each).
        for (nonce, to, amount) in [(head, 1usize, 1_000_000u64), (head + 1, 2, 500)] {
            let data = TestStablecoin::mintCall {
                to: address(to),
                amount: U256::from(amount),
            }
            .abi_encode();
            t.send("mint", &TxSpec::call(usd, data, nonce).sign_1559(&admin))
                .await;
        }
        let transfer = TestStablecoin::transferCall {
            to: address(3),
            value: U256::from(250),
        }
        .abi_encode();
        t.send(
            "transfer",
            &TxSpec::call(usd, transfer, 0).sign_1559(&signer(1)),
        )
        .await;
        let approve = TestStablecoin::approveCall {
            spender: address(4),
            value: U256::from(100),
        }
        .abi_encode();
        t.send(
            "approve",
            &TxSpec::call(usd, approve, 1).sign_legacy(&signer(1)),
        )
        .await;
        let pull = TestStablecoin::transferFromCall {
            from: address(1),
            to: address(4),
            value: U256::from(60),
        }
        .abi_encode();
        t.send(
            "transferFrom",
            &TxSpec::call(usd, pull, 0).sign_1559(&signer(4)),
        )
        .await;
        for who in 0..5 {
            let data = Bytes::from(
                TestStablecoin::balanceOfCall {
                    account: address(who),
                }
                .abi_encode(),
            );
            t.ok(
                "balanceOf",
                "eth_call",
                json!([{"to": usd, "data": data}, "latest"]),
            )
            .await;
        }
        // Custom-error reverts: in a call, an estimate, and a mined transaction.
        let too_much = Bytes::from(
            TestStablecoin::transferCall {
                to: address(3),
                value: U256::from(10_000_000),
            }
            .abi_encode(),
        );
        let req = json!({"from": address(2), "to": usd, "data": too_much});
        t.call("revert in call", "eth_call", json!([req, "latest"]))
            .await
            .expect_err("reverts");
        t.call("revert in estimate", "eth_estimateGas", json!([req]))
            .await
            .expect_err("reverts");
        let mut spec = TxSpec::call(usd, too_much, 0);
        spec.gas = 100_000;
        t.send("mined revert", &spec.sign_1559(&signer(2))).await;
        let transfer = Bytes::from(
            TestStablecoin::transferCall {
                to: address(5),
                value: U256::from(1),
            }
            .abi_encode(),
        );
        t.ok(
            "estimate transfer",
            "eth_estimateGas",
            json!([{"from": address(1), "to": usd, "data": transfer}]),
        )
        .await;
        t.ok(
            "logs",
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "address": usd}]),
        )
        .await;
        let topic = TestStablecoin::Transfer::SIGNATURE_HASH;
        t.ok(
            "transfers to 4",
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "topics": [topic, null, address(4).into_word()]}]),
        )
        .await;
        for a in [0, 1, 2, 4] {
            t.ok(
                "eth balance",
                "eth_getBalance",
                json!([address(a), "latest"]),
            )
            .await;
            t.ok(
                "nonce",
                "eth_getTransactionCount",
                json!([address(a), "latest"]),
            )
            .await;
        }
        t
    })
    .await;
}

#[tokio::test]
async fn reverts_calls_and_historical_state() {
    conform(|mut t| async move {
        let probe = deploy_probe(&mut t, 0, 0).await;
        let s = signer(0);
        for (i, v) in [7u64, 8, 9].iter().enumerate() {
            let data = Probe::storeCall { key: U256::from(1), value: U256::from(*v) }.abi_encode();
            t.send("store", &TxSpec::call(probe, data, i as u64 + 1).sign_1559(&s)).await;
        }
        let slot = Bytes::from(Probe::slotsCall(U256::from(1)).abi_encode());
        for block in 1..=4u64 {
            t.ok("slot at block", "eth_call", json!([{"to": probe, "data": slot}, hex(block)])).await;
            t.ok("balance at block", "eth_getBalance", json!([address(0), hex(block)])).await;
            t.ok("nonce at block", "eth_getTransactionCount", json!([address(0), hex(block)])).await;
        }
        // slots[1]: keccak256(key . slot) with `slots` at storage slot 1.
        let mut preimage = [0u8; 64];
        preimage[31] = 1;
        preimage[63] = 1;
        let key = alloy::primitives::keccak256(preimage);
        t.ok("storage slot", "eth_getStorageAt", json!([probe, key, "latest"])).await;
        t.ok("storage slot old", "eth_getStorageAt", json!([probe, key, "0x2"])).await;
        let calls = [
            ("string revert", Probe::failWithCall { reason: "no way".into() }.abi_encode()),
            ("panic", Probe::failPanicCall { d: U256::ZERO }.abi_encode()),
            ("custom error", Probe::failCustomCall { code: U256::from(5) }.abi_encode()),
            ("empty revert", Probe::failEmptyCall {}.abi_encode()),
        ];
        for (what, data) in &calls {
            let req = json!({"from": address(3), "to": probe, "data": Bytes::from(data.clone())});
            t.call(&format!("{what} in call"), "eth_call", json!([req, "latest"])).await.expect_err("reverts");
            t.call(&format!("{what} in estimate"), "eth_estimateGas", json!([req])).await.expect_err("reverts");
        }
        let mut spec = TxSpec::call(probe, calls[0].1.clone(), 4);
        spec.gas = 60_000;
        t.send("mined string revert", &spec.sign_1559(&s)).await;
        // Calls with a gas price, a value, an access list, and a state override.
        let counter = Bytes::from(Probe::counterCall {}.abi_encode());
        t.ok("priced call", "eth_call", json!([{"from": address(1), "to": probe, "data": counter, "gasPrice": hex(2 * GWEI as u64)}])).await;
        let ping = Bytes::from(Probe::pingCall { id: U256::from(1), tag: B256::ZERO }.abi_encode());
        t.ok("payable estimate", "eth_estimateGas", json!([{"from": address(1), "to": probe, "data": ping, "value": "0x10"}])).await;
        let access = AccessList(vec![AccessListItem { address: probe, storage_keys: vec![B256::ZERO] }]);
        t.ok("estimate with access list", "eth_estimateGas", json!([{"from": address(1), "to": probe, "data": ping, "accessList": access}])).await;
        let poor = Address::repeat_byte(0x77);
        t.call("value without funds", "eth_call", json!([{"from": poor, "to": probe, "data": ping, "value": "0x10"}, "latest"]))
            .await
            .expect_err("no funds");
        let overrides = json!({ poor.to_string(): {"balance": "0xffffffffffffffff"} });
        t.ok("state override", "eth_call", json!([{"from": poor, "to": probe, "data": ping, "value": "0x10"}, "latest", overrides])).await;
        t.ok("create estimate", "eth_estimateGas", json!([{"from": address(1), "data": Probe::BYTECODE.clone()}])).await;
        t
    })
    .await;
}

#[tokio::test]
async fn logs_in_every_filter_shape_and_polling_filters() {
    conform(|mut t| async move {
        let probe = deploy_probe(&mut t, 0, 0).await;
        // Filter ids are random on both sides: used, not compared.
        let block_filter = t.rpc.ok("eth_newBlockFilter", json!([])).await;
        let log_filter = t
            .rpc
            .ok("eth_newFilter", json!([{"address": probe, "topics": [Probe::Ping::SIGNATURE_HASH]}]))
            .await;
        for (i, tag) in [(1u64, 0xaa), (2, 0xbb), (3, 0xaa)] {
            let data = Probe::pingCall { id: U256::from(i), tag: B256::repeat_byte(tag) }.abi_encode();
            let mut spec = TxSpec::call(probe, data, 0);
            spec.value = U256::from(i);
            t.send("ping", &spec.sign_1559(&signer(i as usize))).await;
        }
        let bulk = Probe::emitManyCall { batch: U256::from(7), n: U256::from(5) }.abi_encode();
        t.send("bulk", &TxSpec::call(probe, bulk, 1).sign_1559(&signer(0))).await;
        let ping = Probe::Ping::SIGNATURE_HASH;
        let note = Probe::Note::SIGNATURE_HASH;
        let id = |i: u64| B256::from(U256::from(i));
        let shapes = [
            json!({"fromBlock": "0x0", "toBlock": "latest"}),
            json!({"fromBlock": "earliest", "address": probe}),
            json!({"fromBlock": "0x0", "address": [probe, Address::ZERO]}),
            json!({"fromBlock": "0x0", "address": Address::ZERO}),
            json!({"fromBlock": "0x0", "topics": [ping]}),
            json!({"fromBlock": "0x0", "topics": [[ping, note]]}),
            json!({"fromBlock": "0x0", "topics": [null, id(2)]}),
            json!({"fromBlock": "0x0", "topics": [ping, [id(1), id(3)]]}),
            json!({"fromBlock": "0x0", "topics": [null, null, address(2).into_word()]}),
            json!({"fromBlock": "0x0", "topics": [ping, null, null, B256::repeat_byte(0xaa)]}),
            json!({"fromBlock": "0x0", "topics": [note, id(1)]}),
            json!({"fromBlock": "0x0", "topics": [Probe::Bulk::SIGNATURE_HASH, id(7), [id(1), id(3)]]}),
            json!({"fromBlock": "0x2", "toBlock": "0x3"}),
            json!({"fromBlock": "0x3", "toBlock": "0x3"}),
            json!({"toBlock": "latest"}),
            json!({}),
        ];
        for (i, shape) in shapes.iter().enumerate() {
            t.call(&format!("getLogs shape {i}"), "eth_getLogs", json!([shape])).await.ok();
        }
        let block2 = t.ok("block 2", "eth_getBlockByNumber", json!(["0x2", false])).await;
        t.ok("logs by block hash", "eth_getLogs", json!([{"blockHash": block2["hash"]}])).await;
        let changes = t.rpc.ok("eth_getFilterChanges", json!([block_filter])).await;
        t.record("block filter change count", json!(changes.as_array().map(Vec::len)));
        t.ok("log filter changes", "eth_getFilterChanges", json!([log_filter])).await;
        t.ok("log filter changes again", "eth_getFilterChanges", json!([log_filter])).await;
        t.ok("uninstall", "eth_uninstallFilter", json!([log_filter])).await;
        t.ok("uninstall again", "eth_uninstallFilter", json!([log_filter])).await;
        t
    })
    .await;
}

#[tokio::test]
async fn transaction_types_blocks_nonces_and_error_codes() {
    conform(|mut t| async move {
        let s = signer(0);
        t.send(
            "legacy",
            &TxSpec::transfer(address(5), U256::from(1), 0).sign_legacy(&s),
        )
        .await;
        let access = AccessList(vec![AccessListItem {
            address: address(5),
            storage_keys: vec![B256::ZERO],
        }]);
        let mut spec = TxSpec::transfer(address(5), U256::from(2), 1);
        spec.gas = 30_000;
        t.send("eip2930", &spec.sign_2930(&s, access)).await;
        t.send(
            "eip1559",
            &TxSpec::transfer(address(5), U256::from(3), 2).sign_1559(&s),
        )
        .await;
        let hash = t
            .ok(
                "send tx",
                "eth_sendTransaction",
                json!([{"from": address(1), "to": address(5), "value": "0x4"}]),
            )
            .await;
        let receipt = t.receipt(&hash).await;
        t.record("send tx receipt", receipt);
        // anvil answers `safe` and `finalized` with genesis; a single node finalizes at once,
        // so ours answer with the head (checked in `basic`).
        for tag in ["latest", "earliest", "0x2"] {
            t.ok(
                &format!("block {tag}"),
                "eth_getBlockByNumber",
                json!([tag, true]),
            )
            .await;
            t.ok(
                &format!("block {tag} hashes"),
                "eth_getBlockByNumber",
                json!([tag, false]),
            )
            .await;
        }
        t.ok("receipts", "eth_getBlockReceipts", json!(["0x1"]))
            .await;
        t.ok(
            "tx by index",
            "eth_getTransactionByBlockNumberAndIndex",
            json!(["0x2", "0x0"]),
        )
        .await;
        t.ok(
            "tx by missing index",
            "eth_getTransactionByBlockNumberAndIndex",
            json!(["0x2", "0x5"]),
        )
        .await;
        t.ok(
            "tx count",
            "eth_getBlockTransactionCountByNumber",
            json!(["0x3"]),
        )
        .await;
        t.ok(
            "unknown tx",
            "eth_getTransactionByHash",
            json!([B256::repeat_byte(3)]),
        )
        .await;
        t.ok(
            "unknown receipt",
            "eth_getTransactionReceipt",
            json!([B256::repeat_byte(3)]),
        )
        .await;
        // Refusals.
        let mut errors: Vec<(&str, Bytes)> = vec![(
            "nonce too low",
            TxSpec::transfer(address(5), U256::from(9), 0).sign_1559(&s),
        )];
        let mut rich = TxSpec::transfer(address(5), U256::from(10u64).pow(U256::from(30u64)), 0);
        rich.nonce = 0;
        errors.push(("insufficient funds", rich.sign_1559(&signer(6))));
        let mut low = TxSpec::transfer(address(5), U256::from(1), 3);
        low.gas = 20_000;
        errors.push(("intrinsic gas", low.sign_1559(&s)));
        let mut cheap = TxSpec::transfer(address(5), U256::from(1), 3);
        cheap.max_fee = 1;
        cheap.tip = 1;
        errors.push(("fee cap", cheap.sign_1559(&s)));
        let mut garbage = vec![0x02, 0x01];
        garbage.extend_from_slice(&[0u8; 8]);
        errors.push(("garbage", garbage.into()));
        for (what, raw) in errors {
            t.call(what, "eth_sendRawTransaction", json!([raw]))
                .await
                .expect_err(what);
        }
        // A future nonce waits in the pool; the same bytes again are refused.
        let future = TxSpec::transfer(address(5), U256::from(1), 9).sign_1559(&s);
        t.ok("future nonce", "eth_sendRawTransaction", json!([future]))
            .await;
        t.call("already known", "eth_sendRawTransaction", json!([future]))
            .await
            .expect_err("known");
        t.ok(
            "pending tx",
            "eth_getTransactionByHash",
            json!([alloy::primitives::keccak256(&future)]),
        )
        .await;
        t.ok(
            "latest nonce",
            "eth_getTransactionCount",
            json!([address(0), "latest"]),
        )
        .await;
        t.call("bad params", "eth_getBalance", json!(["0x12"]))
            .await
            .expect_err("params");
        for a in [0, 1, 5] {
            t.ok("balance", "eth_getBalance", json!([address(a), "latest"]))
                .await;
        }
        t
    })
    .await;
}

#[tokio::test]
async fn fee_history_and_estimates() {
    conform(|mut t| async move {
        for (i, tip) in [1u128, 3, 2, 5].iter().enumerate() {
            let mut spec = TxSpec::transfer(address(7), U256::from(1), 0);
            spec.tip = tip * GWEI;
            spec.max_fee = 20 * GWEI;
            t.send("priced transfer", &spec.sign_1559(&signer(i))).await;
        }
        let probe = deploy_probe(&mut t, 5, 0).await;
        let burn = Bytes::from(
            Probe::burnCall {
                rounds: U256::from(30),
            }
            .abi_encode(),
        );
        t.ok(
            "burn estimate",
            "eth_estimateGas",
            json!([{"from": address(5), "to": probe, "data": burn}]),
        )
        .await;
        let mut spec = TxSpec::call(probe, burn, 1);
        spec.gas = 2_000_000;
        t.send("burn", &spec.sign_1559(&signer(5))).await;
        t.ok(
            "fee history",
            "eth_feeHistory",
            json!(["0x4", "latest", [10.0, 50.0, 90.0]]),
        )
        .await;
        t.ok(
            "fee history no rewards",
            "eth_feeHistory",
            json!([9, "latest", []]),
        )
        .await;
        t.ok("base fee", "eth_getBlockByNumber", json!(["latest", false]))
            .await;
        t.ok(
            "transfer estimate",
            "eth_estimateGas",
            json!([{"from": address(1), "to": address(2), "value": "0x1"}]),
        )
        .await;
        t
    })
    .await;
}

#[tokio::test]
async fn subscriptions_over_websocket() {
    conform(|mut t| async move {
        let mut ws = Ws::connect(&t.ws_url).await;
        let _heads = ws
            .call("eth_subscribe", json!(["newHeads"]))
            .await
            .expect("subscribe");
        let probe = deploy_probe(&mut t, 0, 0).await;
        let (_, head) = ws.notification().await;
        t.record("deploy head", head);
        let _logs = ws
            .call(
                "eth_subscribe",
                json!(["logs", {"address": probe, "topics": [Probe::Ping::SIGNATURE_HASH]}]),
            )
            .await
            .expect("subscribe logs");
        let data = Probe::pingCall {
            id: U256::from(3),
            tag: B256::ZERO,
        }
        .abi_encode();
        t.send("ping", &TxSpec::call(probe, data, 1).sign_1559(&signer(0)))
            .await;
        let mut got = Vec::new();
        for _ in 0..2 {
            let (_, v) = ws.notification().await;
            got.push(v);
        }
        // Head and log may arrive in either order.
        got.sort_by_key(|v| v.get("number").is_some());
        t.record("ping log", got[0].clone());
        t.record("ping head", got[1].clone());
        t.record("head number", json!(quantity(&got[1]["number"])));
        t
    })
    .await;
}

#[tokio::test]
async fn snapshots_and_mining() {
    conform(|mut t| async move {
        let s = signer(0);
        t.send(
            "transfer",
            &TxSpec::transfer(address(1), U256::from(1), 0).sign_1559(&s),
        )
        .await;
        let snap = t.ok("snapshot", "evm_snapshot", json!([])).await;
        t.send(
            "transfer 2",
            &TxSpec::transfer(address(1), U256::from(1), 1).sign_1559(&s),
        )
        .await;
        t.ok("mine", "evm_mine", json!([])).await;
        t.ok("height", "eth_blockNumber", json!([])).await;
        t.ok("revert", "evm_revert", json!([snap])).await;
        t.ok("height after revert", "eth_blockNumber", json!([]))
            .await;
        t.ok(
            "nonce after revert",
            "eth_getTransactionCount",
            json!([address(0), "latest"]),
        )
        .await;
        t.ok("revert again", "evm_revert", json!([snap])).await;
        // The answer is the clock's offset in seconds. anvil measures it against the wall
        // clock, so it is a second short when a second boundary passes between the revert and
        // this call: both must answer 100, or 99 for that reason.
        let offset = t.rpc.ok("evm_increaseTime", json!([100])).await;
        let seconds = offset.as_u64().or_else(|| {
            offset
                .as_str()
                .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        });
        assert!(
            seconds.is_some(),
            "{}: increase time answered {offset}",
            t.name
        );
        t.record(
            "increase time: about 100 s",
            json!(seconds.is_some_and(|s| (99..=100).contains(&s))),
        );
        t
    })
    .await;
}

/// EIP-7966: `eth_sendRawTransactionSync` answers the receipt itself, the same as anvil's; a
/// transaction the node refuses is refused as by `eth_sendRawTransaction`; one that cannot be
/// mined yet (a nonce gap) ends in error 4 after the timeout asked for (milliseconds, hex).
#[tokio::test]
async fn send_raw_transaction_sync_answers_the_receipt() {
    conform(|mut t| async move {
        let s = signer(2);
        let raw = TxSpec::transfer(address(7), U256::from(12_345), 0).sign_1559(&s);
        let receipt = t
            .ok("sync receipt", "eth_sendRawTransactionSync", json!([raw]))
            .await;
        assert_eq!(receipt["status"], "0x1", "{}: {receipt}", t.name);
        let polled = t.receipt(&receipt["transactionHash"]).await;
        assert_eq!(normalize(&receipt), normalize(&polled), "{}", t.name);
        t.call("sync again", "eth_sendRawTransactionSync", json!([raw]))
            .await
            .expect_err("known");
        let mut low = TxSpec::transfer(address(7), U256::from(1), 1);
        low.gas = 20_000;
        t.call(
            "sync intrinsic gas",
            "eth_sendRawTransactionSync",
            json!([low.sign_1559(&s)]),
        )
        .await
        .expect_err("intrinsic gas");
        // anvil 1.7.1 takes no timeout argument (and waits its own), so this part is ours.
        if t.name == "propledger" {
            let gap = TxSpec::transfer(address(7), U256::from(1), 5).sign_1559(&s);
            let e = t
                .rpc
                .call("eth_sendRawTransactionSync", json!([gap, "0x12c"]))
                .await
                .expect_err("a nonce gap is not mined");
            assert_eq!(e.code, 4, "{e:?}");
            assert!(e.message.contains("300 ms"), "{e:?}");
        }
        t
    })
    .await;
}
