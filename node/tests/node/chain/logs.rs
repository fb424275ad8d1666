//! Logs, receipts and blocks: eth_getLogs in every filter shape and its limits, polling
//! filters, eth_getBlockReceipts, and WebSocket subscriptions.

use alloy::{
    primitives::{Address, B256, U256},
    sol_types::{SolCall, SolEvent},
};
use serde_json::{Value, json};

use super::{
    Probe,
    support::{self, Rpc, TxSpec, Ws, address, quantity, signer},
};

/// Deploys Probe from account 0 and sends pings from accounts 1..=3 with ids 1..=3 and tags
/// 0xaa.., 0xbb.., 0xaa.. . Returns the Probe address.
async fn setup(rpc: &Rpc) -> Address {
    let deploy = rpc
        .send_raw(&TxSpec::create(Probe::BYTECODE.clone(), 0).sign_1559(&signer(0)))
        .await;
    let probe: Address =
        serde_json::from_value(deploy["contractAddress"].clone()).expect("address");
    for (i, tag) in [(1u64, 0xaa), (2, 0xbb), (3, 0xaa)] {
        let data = Probe::pingCall {
            id: U256::from(i),
            tag: B256::repeat_byte(tag),
        }
        .abi_encode();
        let receipt = rpc
            .send_raw(&TxSpec::call(probe, data, 0).sign_1559(&signer(i as usize)))
            .await;
        assert_eq!(receipt["logs"].as_array().map(Vec::len), Some(2));
    }
    probe
}

fn topic_id(i: u64) -> B256 {
    B256::from(U256::from(i))
}

fn topic_addr(a: Address) -> B256 {
    a.into_word()
}

async fn count(rpc: &Rpc, filter: Value) -> usize {
    rpc.ok("eth_getLogs", json!([filter]))
        .await
        .as_array()
        .expect("logs")
        .len()
}

#[tokio::test]
async fn get_logs_matches_every_filter_shape() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    let probe = setup(&rpc).await;
    let ping = Probe::Ping::SIGNATURE_HASH;
    let note = Probe::Note::SIGNATURE_HASH;
    let all = json!({"fromBlock": "0x0", "toBlock": "latest"});
    assert_eq!(count(&rpc, all.clone()).await, 6);
    assert_eq!(
        count(&rpc, json!({"fromBlock": "earliest", "address": probe})).await,
        6
    );
    assert_eq!(
        count(
            &rpc,
            json!({"fromBlock": "0x0", "address": [probe, Address::ZERO]})
        )
        .await,
        6
    );
    assert_eq!(
        count(&rpc, json!({"fromBlock": "0x0", "address": Address::ZERO})).await,
        0
    );
    assert_eq!(
        count(&rpc, json!({"fromBlock": "0x0", "topics": [ping]})).await,
        3
    );
    assert_eq!(
        count(&rpc, json!({"fromBlock": "0x0", "topics": [[ping, note]]})).await,
        6
    );
    assert_eq!(
        count(
            &rpc,
            json!({"fromBlock": "0x0", "topics": [null, topic_id(2)]})
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &rpc,
            json!({"fromBlock": "0x0", "topics": [ping, [topic_id(1), topic_id(3)]]})
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &rpc,
            json!({"fromBlock": "0x0", "topics": [null, null, topic_addr(address(2))]})
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &rpc,
            json!({"fromBlock": "0x0", "topics": [ping, null, null, B256::repeat_byte(0xaa)]})
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &rpc,
            json!({"fromBlock": "0x0", "topics": [note, topic_id(1)]})
        )
        .await,
        0,
        "Note has one topic"
    );
    assert_eq!(
        count(&rpc, json!({"fromBlock": "0x2", "toBlock": "0x3"})).await,
        4
    );
    assert_eq!(
        count(&rpc, json!({"fromBlock": "0x3", "toBlock": "0x3"})).await,
        2
    );
    assert_eq!(
        count(&rpc, json!({})).await,
        2,
        "default range is the latest block"
    );
    let block2 = rpc.ok("eth_getBlockByNumber", json!(["0x2", false])).await;
    let by_hash = rpc
        .ok("eth_getLogs", json!([{"blockHash": block2["hash"]}]))
        .await;
    assert_eq!(by_hash.as_array().map(Vec::len), Some(2));
    assert_eq!(by_hash[0]["blockHash"], block2["hash"]);
    assert_eq!(by_hash[0]["logIndex"], "0x0");
    assert_eq!(by_hash[1]["logIndex"], "0x1");
    assert_eq!(by_hash[1]["removed"], json!(false));
    let e = rpc
        .err(
            "eth_getLogs",
            json!([{"fromBlock": "0x3", "toBlock": "0x2"}]),
        )
        .await;
    assert_eq!(e.message, "invalid block range params");
    let e = rpc
        .err("eth_getLogs", json!([{"blockHash": B256::repeat_byte(1)}]))
        .await;
    assert_eq!(e.message, "unknown block");
    // Receipts of a block, in order, with logs.
    let receipts = rpc.ok("eth_getBlockReceipts", json!(["0x2"])).await;
    assert_eq!(receipts.as_array().map(Vec::len), Some(1));
    assert_eq!(receipts[0]["logs"], by_hash);
}

#[tokio::test]
async fn get_logs_refuses_too_many_results_with_a_range_that_fits() {
    let chain = support::chain_with(|c| {
        c.limits.max_logs_results = 25;
        c.limits.max_logs_block_range = 50;
    })
    .await;
    let rpc = chain.rpc();
    let s = signer(0);
    let deploy = rpc
        .send_raw(&TxSpec::create(Probe::BYTECODE.clone(), 0).sign_1559(&s))
        .await;
    let probe: Address =
        serde_json::from_value(deploy["contractAddress"].clone()).expect("address");
    for nonce in 1..=4u64 {
        let data = Probe::emitManyCall {
            batch: U256::from(nonce),
            n: U256::from(10),
        }
        .abi_encode();
        rpc.send_raw(&TxSpec::call(probe, data, nonce).sign_1559(&s))
            .await;
    }
    let e = rpc
        .err(
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "toBlock": "latest"}]),
        )
        .await;
    assert_eq!(e.code, -32005);
    assert_eq!(
        e.message,
        "query returned more than 25 results. Try with this block range [0x0, 0x3]."
    );
    assert_eq!(
        count(&rpc, json!({"fromBlock": "0x0", "toBlock": "0x3"})).await,
        20
    );
    let e = rpc
        .err(
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "toBlock": "0x40"}]),
        )
        .await;
    assert_eq!(e.code, -32005);
    assert!(e.message.contains("max block range 50"), "{}", e.message);
    // A selective filter over the same range fits.
    let topics = json!([Probe::Bulk::SIGNATURE_HASH, B256::from(U256::from(4))]);
    assert_eq!(
        count(&rpc, json!({"fromBlock": "0x0", "topics": topics})).await,
        10
    );
}

#[tokio::test]
async fn polling_filters_report_changes_once() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    let blocks = rpc.ok("eth_newBlockFilter", json!([])).await;
    let logs = rpc
        .ok(
            "eth_newFilter",
            json!([{"fromBlock": "earliest", "topics": [Probe::Ping::SIGNATURE_HASH]}]),
        )
        .await;
    let pending = rpc.ok("eth_newPendingTransactionFilter", json!([])).await;
    let probe = setup(&rpc).await;
    let hashes = rpc.ok("eth_getFilterChanges", json!([blocks])).await;
    assert_eq!(hashes.as_array().map(Vec::len), Some(4));
    assert_eq!(
        rpc.ok("eth_getFilterChanges", json!([blocks])).await,
        json!([])
    );
    let changes = rpc.ok("eth_getFilterChanges", json!([logs])).await;
    assert_eq!(changes.as_array().map(Vec::len), Some(3), "{changes:#}");
    assert!(
        changes
            .as_array()
            .expect("logs")
            .iter()
            .all(|l| l["address"] == json!(probe))
    );
    let all = rpc.ok("eth_getFilterLogs", json!([logs])).await;
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    assert_eq!(
        rpc.ok("eth_getFilterChanges", json!([pending])).await,
        json!([]),
        "automine: nothing waits"
    );
    assert_eq!(
        rpc.ok("eth_uninstallFilter", json!([logs])).await,
        json!(true)
    );
    assert_eq!(
        rpc.ok("eth_uninstallFilter", json!([logs])).await,
        json!(false)
    );
    let e = rpc.err("eth_getFilterChanges", json!([logs])).await;
    assert_eq!(e.message, "filter not found");
}

#[tokio::test]
async fn subscriptions_deliver_heads_and_matching_logs() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    let mut ws = Ws::connect(&chain.ws_url()).await;
    assert_eq!(
        ws.call("eth_chainId", json!([]))
            .await
            .expect("chain id over ws"),
        "0x7a69"
    );
    let heads = ws
        .call("eth_subscribe", json!(["newHeads"]))
        .await
        .expect("subscribe");
    let probe = setup(&rpc).await;
    let logs = ws
        .call(
            "eth_subscribe",
            json!(["logs", {"address": probe, "topics": [Probe::Ping::SIGNATURE_HASH]}]),
        )
        .await
        .expect("subscribe logs");
    for n in 1..=4u64 {
        let (sub, head) = ws.notification().await;
        assert_eq!(sub, heads);
        assert_eq!(quantity(&head["number"]), n);
        assert!(head["transactions"].is_null(), "headers only");
    }
    let data = Probe::pingCall {
        id: U256::from(9),
        tag: B256::ZERO,
    }
    .abi_encode();
    let receipt = rpc
        .send_raw(&TxSpec::call(probe, data, 1).sign_1559(&signer(1)))
        .await;
    let mut got_log = None;
    for _ in 0..2 {
        let (sub, v) = ws.notification().await;
        if sub == logs {
            got_log = Some(v);
        }
    }
    let log = got_log.expect("log notification");
    assert_eq!(log["transactionHash"], receipt["transactionHash"]);
    assert_eq!(log["topics"][1], json!(B256::from(U256::from(9))));
    assert_eq!(
        ws.call("eth_unsubscribe", json!([heads]))
            .await
            .expect("unsubscribe"),
        json!(true)
    );
    assert_eq!(
        ws.call("eth_unsubscribe", json!([heads]))
            .await
            .expect("unsubscribe"),
        json!(false)
    );
    // Subscriptions are WebSocket-only.
    let e = rpc.err("eth_subscribe", json!(["newHeads"])).await;
    assert_eq!(e.code, -32601);
}
