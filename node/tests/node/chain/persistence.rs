//! Persistence: a clean stop and a kill -9 in the middle of load both come back as the same
//! chain, and nothing that was acknowledged is lost.

use std::{
    collections::BTreeMap,
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    primitives::{Address, B256, U256},
    sol_types::SolCall,
};
use propledger_node::chain::{ChainConfig, EmbeddedChain, Error, OpenError, StoreError};
use serde_json::{Value, json};

use super::{
    Probe,
    support::{self, ChildChain, Rpc, TxSpec, address, quantity, signer},
};

/// Everything a client can observe that must survive a restart.
async fn observe(rpc: &Rpc, accounts: &[Address], probe: Address) -> Value {
    let head = rpc.block_number().await;
    let mut blocks = Vec::new();
    for n in 0..=head {
        let b = rpc
            .ok("eth_getBlockByNumber", json!([format!("{n:#x}"), true]))
            .await;
        let receipts = rpc
            .ok("eth_getBlockReceipts", json!([format!("{n:#x}")]))
            .await;
        blocks.push(json!({"block": b, "receipts": receipts}));
    }
    let mut balances = Vec::new();
    for a in accounts {
        balances.push(json!({
            "balance": rpc.ok("eth_getBalance", json!([a, "latest"])).await,
            "nonce": rpc.ok("eth_getTransactionCount", json!([a, "latest"])).await,
            "old_balance": rpc.ok("eth_getBalance", json!([a, "0x2"])).await,
        }));
    }
    let counter = rpc
        .ok("eth_call", json!([{"to": probe, "data": alloy::primitives::Bytes::from(Probe::counterCall {}.abi_encode())}, "latest"]))
        .await;
    let logs = rpc
        .ok(
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "toBlock": "latest"}]),
        )
        .await;
    let code = rpc.ok("eth_getCode", json!([probe, "latest"])).await;
    json!({"blocks": blocks, "balances": balances, "counter": counter, "logs": logs, "code": code})
}

#[tokio::test]
async fn a_clean_restart_serves_the_same_chain() {
    let mut chain = support::chain().await;
    let rpc = chain.rpc();
    let s = signer(0);
    let deploy = rpc
        .send_raw(&TxSpec::create(Probe::BYTECODE.clone(), 0).sign_1559(&s))
        .await;
    let probe: Address =
        serde_json::from_value(deploy["contractAddress"].clone()).expect("address");
    for i in 1..=4u64 {
        let data = Probe::pingCall {
            id: U256::from(i),
            tag: B256::ZERO,
        }
        .abi_encode();
        rpc.send_raw(&TxSpec::call(probe, data, i).sign_1559(&s))
            .await;
    }
    rpc.ok("evm_increaseTime", json!([7200])).await;
    let snap = rpc.ok("evm_snapshot", json!([])).await;
    rpc.send_raw(&TxSpec::transfer(address(3), U256::from(9), 5).sign_1559(&s))
        .await;
    rpc.ok("evm_revert", json!([snap])).await;
    // The reorg drops the last ping, so nonce 4 is free again.
    rpc.ok("propledger_reorg", json!([1])).await;
    rpc.send_raw(&TxSpec::transfer(address(3), U256::from(7), 4).sign_1559(&s))
        .await;
    let accounts = [address(0), address(3), probe];
    let before = observe(&rpc, &accounts, probe).await;

    chain.restart().await;
    let rpc = chain.rpc();
    let after = observe(&rpc, &accounts, probe).await;
    assert_eq!(before, after, "the restarted chain is the same chain");

    // It keeps going from where it was, with the clock offset kept.
    let receipt = rpc
        .send_raw(&TxSpec::transfer(address(3), U256::from(1), 5).sign_1559(&s))
        .await;
    let block = rpc
        .ok(
            "eth_getBlockByNumber",
            json!([receipt["blockNumber"], false]),
        )
        .await;
    let parent = rpc
        .ok("eth_getBlockByHash", json!([block["parentHash"], false]))
        .await;
    assert_eq!(quantity(&parent["number"]) + 1, quantity(&block["number"]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(
        quantity(&block["timestamp"]) >= now + 7_000,
        "evm_increaseTime survives restarts"
    );
}

#[tokio::test]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = ChildChain::spawn(dir.path(), "kill-9");
    let rpc = Rpc::new(&child.url);
    let acked: Arc<Mutex<Vec<(usize, u64, Value)>>> = Arc::default();
    let seen_blocks: Arc<Mutex<BTreeMap<u64, Value>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for sender in 0..4usize {
        let rpc = rpc.clone();
        let acked = acked.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let s = signer(sender);
            for nonce in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let raw = TxSpec::transfer(address(9), U256::from(1), nonce).sign_1559(&s);
                match rpc.call("eth_sendRawTransaction", json!([raw])).await {
                    Ok(hash) => acked.lock().expect("lock").push((sender, nonce, hash)),
                    Err(_) => break,
                }
            }
        }));
    }
    {
        let rpc = rpc.clone();
        let seen = seen_blocks.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(b) = rpc
                    .call("eth_getBlockByNumber", json!(["latest", false]))
                    .await
                else {
                    break;
                };
                seen.lock()
                    .expect("lock")
                    .insert(quantity(&b["number"]), b["hash"].clone());
            }
        }));
    }
    // Let load build up, then kill the process without warning, mid-request.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let pid = child.pid();
    child.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // The client's view at the moment of the kill: anything answered after it cannot exist.
    let acked = acked.lock().expect("lock").clone();
    let seen = seen_blocks.lock().expect("lock").clone();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    assert!(
        acked.len() > 5,
        "load reached the chain before the kill (pid {pid}), got {}",
        acked.len()
    );

    let mut config = support::test_config(dir.path());
    config.listen = "127.0.0.1:0".parse().expect("addr");
    let node = EmbeddedChain::start(config)
        .await
        .expect("restart after kill -9");
    let rpc = Rpc::new(&node.url());
    for (sender, nonce, hash) in &acked {
        let receipt = rpc.ok("eth_getTransactionReceipt", json!([hash])).await;
        assert!(
            !receipt.is_null(),
            "acknowledged tx {hash} of sender {sender} nonce {nonce} was lost"
        );
        assert_eq!(receipt["status"], "0x1");
    }
    for (n, hash) in &seen {
        let b = rpc
            .ok("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))
            .await;
        assert_eq!(
            &b["hash"], hash,
            "block {n} was served before the kill and must be the same"
        );
    }
    for sender in 0..4 {
        let highest = acked
            .iter()
            .filter(|(s, _, _)| *s == sender)
            .map(|(_, n, _)| *n + 1)
            .max()
            .unwrap_or(0);
        assert!(rpc.nonce(address(sender)).await >= highest);
    }
    // And it keeps working.
    let nonce = rpc.nonce(address(5)).await;
    rpc.send_raw(&TxSpec::transfer(address(9), U256::from(1), nonce).sign_1559(&signer(5)))
        .await;
    node.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_and_pending_transactions_survive() {
    let mut chain = support::chain_with(|c| c.block_time = Some(Duration::from_secs(3_600))).await;
    let rpc = chain.rpc();
    rpc.ok("evm_mine", json!([])).await;
    let s = signer(0);
    let raw = TxSpec::transfer(address(1), U256::from(1), 0).sign_1559(&s);
    let hash = rpc.ok("eth_sendRawTransaction", json!([raw])).await;
    let head = rpc
        .ok("eth_getBlockByNumber", json!(["latest", false]))
        .await;
    if let Some(node) = chain.node.take() {
        node.shutdown().await.expect("shutdown");
    }
    // Simulate a crash in the middle of writing the next record.
    let log = chain.dir.path().join("chain.log");
    let len = std::fs::read(&log)
        .expect("read")
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |p| p + 1);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open");
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(len as u64)).expect("seek");
    f.write_all(&[0x50, 0x4c, 0x43, 0x31, 0, 0, 1, 0, 9, 9, 9])
        .expect("write garbage");
    drop(f);
    chain.restart().await;
    let rpc = chain.rpc();
    assert_eq!(
        rpc.ok("eth_getBlockByNumber", json!(["latest", false]))
            .await,
        head
    );
    let pending = rpc.ok("eth_getTransactionByHash", json!([hash])).await;
    assert!(
        pending["blockHash"].is_null(),
        "the accepted transaction is still pending"
    );
    rpc.ok("evm_mine", json!([])).await;
    let receipt = rpc.ok("eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(receipt["status"], "0x1");
}

#[tokio::test]
async fn one_data_directory_serves_one_chain() {
    let chain = support::chain().await;
    let mut config = ChainConfig::new(chain.dir.path());
    config.listen = "127.0.0.1:0".parse().expect("addr");
    let err = EmbeddedChain::start(config.clone())
        .await
        .expect_err("locked");
    assert!(
        matches!(err, Error::Open(OpenError::Store(StoreError::Locked(_)))),
        "{err}"
    );
    drop(chain);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::test_config(dir.path());
    EmbeddedChain::start(config.clone())
        .await
        .expect("start")
        .shutdown()
        .await
        .expect("stop");
    config.chain_id = 1;
    let err = EmbeddedChain::start(config)
        .await
        .expect_err("other chain id");
    assert!(
        matches!(
            err,
            Error::Open(OpenError::ChainIdMismatch {
                stored: 31337,
                configured: 1
            })
        ),
        "{err}"
    );
}
