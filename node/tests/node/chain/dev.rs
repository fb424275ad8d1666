//! Dev methods: mining on demand, the clock, snapshots, and reorgs that indexers can be tested
//! against (new hashes, removed logs, replacement transactions).

use alloy::{
    primitives::{Address, B256, U256},
    sol_types::SolCall,
};
use serde_json::json;

use super::{
    Probe,
    support::{self, TxSpec, Ws, address, quantity, signer},
};

#[tokio::test]
async fn mining_and_the_clock() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    assert_eq!(rpc.ok("evm_mine", json!([])).await, "0x0");
    assert_eq!(rpc.block_number().await, 1);
    rpc.ok("anvil_mine", json!(["0x3"])).await;
    assert_eq!(rpc.block_number().await, 4);
    let t4 = quantity(
        &rpc.ok("eth_getBlockByNumber", json!(["latest", false]))
            .await["timestamp"],
    );
    assert_eq!(rpc.ok("evm_increaseTime", json!([3600])).await, json!(3600));
    rpc.ok("evm_mine", json!([])).await;
    let t5 = quantity(
        &rpc.ok("eth_getBlockByNumber", json!(["latest", false]))
            .await["timestamp"],
    );
    assert!(t5 >= t4 + 3600, "{t5} vs {t4}");
    let next = t5 + 1_000;
    assert!(
        rpc.ok("evm_setNextBlockTimestamp", json!([next]))
            .await
            .is_null()
    );
    rpc.ok("evm_mine", json!([])).await;
    let t6 = quantity(
        &rpc.ok("eth_getBlockByNumber", json!(["latest", false]))
            .await["timestamp"],
    );
    assert_eq!(t6, next);
    rpc.ok("evm_mine", json!([{"timestamp": next + 50, "blocks": 2}]))
        .await;
    assert_eq!(rpc.block_number().await, 8);
    let e = rpc.err("evm_setNextBlockTimestamp", json!([1])).await;
    assert_eq!(e.code, -32602);
    assert!(e.message.contains("lower than"), "{}", e.message);
}

#[tokio::test]
async fn snapshot_and_revert_restore_blocks_state_and_nonces() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    let s = signer(0);
    rpc.send_raw(&TxSpec::transfer(address(1), U256::from(1), 0).sign_1559(&s))
        .await;
    let snap = rpc.ok("evm_snapshot", json!([])).await;
    let balance = rpc
        .ok("eth_getBalance", json!([address(0), "latest"]))
        .await;
    let head = rpc
        .ok("eth_getBlockByNumber", json!(["latest", false]))
        .await;
    let r = rpc
        .send_raw(&TxSpec::transfer(address(1), U256::from(1), 1).sign_1559(&s))
        .await;
    rpc.ok("evm_mine", json!([])).await;
    assert_eq!(rpc.block_number().await, 3);
    assert_eq!(rpc.ok("evm_revert", json!([snap])).await, json!(true));
    assert_eq!(rpc.block_number().await, 1);
    assert_eq!(
        rpc.ok("eth_getBlockByNumber", json!(["latest", false]))
            .await["hash"],
        head["hash"]
    );
    assert_eq!(
        rpc.ok("eth_getBalance", json!([address(0), "latest"]))
            .await,
        balance
    );
    assert_eq!(rpc.nonce(address(0)).await, 1);
    assert!(
        rpc.ok("eth_getTransactionReceipt", json!([r["transactionHash"]]))
            .await
            .is_null()
    );
    assert_eq!(
        rpc.ok("evm_revert", json!([snap])).await,
        json!(false),
        "a snapshot is used up"
    );
    // The same transaction can be sent again after the revert.
    let again = rpc
        .send_raw(&TxSpec::transfer(address(1), U256::from(1), 1).sign_1559(&s))
        .await;
    assert_eq!(again["transactionHash"], r["transactionHash"]);
}

#[tokio::test]
async fn reorgs_replace_blocks_with_new_hashes_and_report_removed_logs() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    let s = signer(0);
    let deploy = rpc
        .send_raw(&TxSpec::create(Probe::BYTECODE.clone(), 0).sign_1559(&s))
        .await;
    let probe: Address =
        serde_json::from_value(deploy["contractAddress"].clone()).expect("address");
    let ping = |id: u64, nonce: u64| {
        let data = Probe::pingCall {
            id: U256::from(id),
            tag: B256::ZERO,
        }
        .abi_encode();
        TxSpec::call(probe, data, nonce).sign_1559(&s)
    };
    let mut receipts = Vec::new();
    for i in 1..=3 {
        receipts.push(rpc.send_raw(&ping(i, i)).await);
    }
    let old: Vec<_> = futures_util::future::join_all(
        (2..=4u64).map(|n| rpc.ok("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))),
    )
    .await;
    let filter = rpc.ok("eth_newFilter", json!([{"address": probe}])).await;
    let blocks_filter = rpc.ok("eth_newBlockFilter", json!([])).await;
    let mut ws = Ws::connect(&chain.ws_url()).await;
    let sub = ws
        .call("eth_subscribe", json!(["logs", {"address": probe}]))
        .await
        .expect("subscribe");

    // Replace blocks 3 and 4: block 3 gets a different ping (nonce 2 again), block 4 is empty.
    let replacement = ping(42, 2);
    let result = rpc
        .ok("propledger_reorg", json!([2, [[replacement]]]))
        .await;
    let new_hashes = result["blocks"].as_array().expect("hashes").clone();
    assert_eq!(new_hashes.len(), 2);
    assert_eq!(rpc.block_number().await, 4, "same height");
    let b2 = rpc.ok("eth_getBlockByNumber", json!(["0x2", false])).await;
    assert_eq!(b2["hash"], old[0]["hash"], "block 2 is kept");
    for (i, n) in [3u64, 4].iter().enumerate() {
        let b = rpc
            .ok("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))
            .await;
        assert_eq!(b["hash"], new_hashes[i]);
        assert_ne!(b["hash"], old[i + 1]["hash"], "block {n} has a new hash");
    }
    assert!(
        rpc.ok(
            "eth_getTransactionReceipt",
            json!([receipts[2]["transactionHash"]])
        )
        .await
        .is_null()
    );
    assert_eq!(rpc.nonce(address(0)).await, 3);

    // Subscribers see the old logs removed, then the new ones.
    let mut removed = Vec::new();
    let mut added = Vec::new();
    while removed.len() < 4 || added.len() < 2 {
        let (id, log) = ws.notification().await;
        assert_eq!(id, sub);
        if log["removed"] == json!(true) {
            removed.push(log);
        } else {
            added.push(log);
        }
    }
    assert_eq!(added[0]["topics"][1], json!(B256::from(U256::from(42))));
    let changes = rpc.ok("eth_getFilterChanges", json!([filter])).await;
    let changes = changes.as_array().expect("changes");
    assert_eq!(
        changes
            .iter()
            .filter(|l| l["removed"] == json!(true))
            .count(),
        4
    );
    assert_eq!(
        changes
            .iter()
            .filter(|l| l["removed"] == json!(false))
            .count(),
        2
    );
    let new_blocks = rpc.ok("eth_getFilterChanges", json!([blocks_filter])).await;
    assert_eq!(new_blocks, json!(new_hashes));

    // anvil_reorg's parameter shape, with a request the node signs.
    let req = json!({"from": address(1), "to": address(2), "value": "0x5", "gas": "0x5208"});
    assert!(
        rpc.ok(
            "anvil_reorg",
            json!([{"depth": 1, "tx_block_pairs": [[req, 0]]}])
        )
        .await
        .is_null()
    );
    let head = rpc
        .ok("eth_getBlockByNumber", json!(["latest", true]))
        .await;
    assert_eq!(head["transactions"][0]["from"], json!(address(1)));
    let e = rpc.err("propledger_reorg", json!([99])).await;
    assert_eq!(e.code, -32602);
}
