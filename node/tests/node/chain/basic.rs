//! Core behaviour: dev accounts, every transaction type, contracts through alloy, reverts,
//! historical state, fees, interval mining.

use std::time::Duration;

use alloy::{
    eips::eip2930::{AccessList, AccessListItem},
    network::EthereumWallet,
    primitives::{Address, B256, Bytes, U256},
    providers::ProviderBuilder,
    sol_types::{SolCall, SolError},
};
use propledger_contracts::TestStablecoin;
use serde_json::json;

use super::{
    Probe,
    support::{self, GWEI, TxSpec, address, quantity, signer, u256},
};

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

#[tokio::test]
async fn dev_accounts_are_anvils_and_prefunded() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    let accounts = rpc.ok("eth_accounts", json!([])).await;
    let expected: Vec<Address> = (0..10).map(address).collect();
    assert_eq!(accounts, json!(expected));
    for a in &expected {
        assert_eq!(
            u256(&rpc.ok("eth_getBalance", json!([a, "latest"])).await),
            ether(10_000)
        );
    }
    assert_eq!(rpc.ok("eth_chainId", json!([])).await, "0x7a69");
    assert_eq!(rpc.ok("net_version", json!([])).await, "31337");
    assert_eq!(rpc.block_number().await, 0);
    assert_eq!(rpc.ok("eth_syncing", json!([])).await, json!(false));
    let genesis = rpc
        .ok("eth_getBlockByNumber", json!(["earliest", false]))
        .await;
    assert_eq!(genesis["baseFeePerGas"], "0x3b9aca00");
    assert_eq!(genesis["gasLimit"], "0x1c9c380");
    for tag in ["latest", "safe", "finalized", "pending"] {
        let b = rpc.ok("eth_getBlockByNumber", json!([tag, false])).await;
        assert_eq!(
            b["hash"], genesis["hash"],
            "{tag} is the head on a single node"
        );
    }
}

#[tokio::test]
async fn every_transaction_type_is_mined_at_once() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    let s = signer(0);
    let to = address(5);
    let legacy = TxSpec::transfer(to, U256::from(1), 0).sign_legacy(&s);
    let access = AccessList(vec![AccessListItem {
        address: to,
        storage_keys: vec![B256::ZERO],
    }]);
    let mut spec = TxSpec::transfer(to, U256::from(2), 1);
    spec.gas = 30_000;
    let eip2930 = spec.sign_2930(&s, access);
    let eip1559 = TxSpec::transfer(to, U256::from(3), 2).sign_1559(&s);
    for (i, (raw, ty)) in [(legacy, "0x0"), (eip2930, "0x1"), (eip1559, "0x2")]
        .iter()
        .enumerate()
    {
        let receipt = rpc.send_raw(raw).await;
        assert_eq!(receipt["status"], "0x1");
        assert_eq!(receipt["type"], *ty);
        assert_eq!(
            quantity(&receipt["blockNumber"]),
            i as u64 + 1,
            "a block per transaction"
        );
        let tx = rpc
            .ok(
                "eth_getTransactionByHash",
                json!([receipt["transactionHash"]]),
            )
            .await;
        assert_eq!(tx["from"], json!(address(0)));
        assert_eq!(tx["blockHash"], receipt["blockHash"]);
    }
    assert_eq!(rpc.nonce(address(0)).await, 3);
    assert_eq!(
        u256(&rpc.ok("eth_getBalance", json!([to, "latest"])).await),
        ether(10_000) + U256::from(6)
    );
    let b1 = rpc.ok("eth_getBlockByNumber", json!(["0x1", true])).await;
    let b2 = rpc.ok("eth_getBlockByNumber", json!(["0x2", false])).await;
    // Block 1 uses the configured base fee (as anvil does); later blocks follow EIP-1559.
    assert_eq!(u256(&b1["baseFeePerGas"]), U256::from(GWEI));
    let expected = GWEI - GWEI * (15_000_000 - 21_000) / 15_000_000 / 8;
    assert_eq!(u256(&b2["baseFeePerGas"]), U256::from(expected));
    assert_eq!(b1["transactions"][0]["type"], "0x0");
    assert_eq!(b2["transactions"].as_array().map(Vec::len), Some(1));
    assert_eq!(b2["parentHash"], b1["hash"]);
}

#[tokio::test]
async fn contracts_deploy_and_run_through_alloy() {
    let chain = support::chain().await;
    let wallet = EthereumWallet::from(signer(0));
    let provider = ProviderBuilder::new()
        .wallet(wallet)
        .connect_http(chain.url().parse().expect("url"));
    let usd = TestStablecoin::deploy(&provider, address(0))
        .await
        .expect("deploy");
    let mint = usd
        .mint(address(1), U256::from(1_000_000))
        .send()
        .await
        .expect("send")
        .get_receipt()
        .await
        .expect("receipt");
    assert!(mint.status());
    assert_eq!(mint.logs().len(), 1);
    let transfer = TestStablecoin::new(*usd.address(), &provider);
    let balance = transfer.balanceOf(address(1)).call().await.expect("call");
    assert_eq!(balance, U256::from(1_000_000));
    assert_eq!(transfer.decimals().call().await.expect("decimals"), 6);
    // A dev account unlocked by the node signs through eth_sendTransaction.
    let plain = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_http(chain.url().parse().expect("url"));
    let from_node = TestStablecoin::new(*usd.address(), &plain);
    let pending = from_node
        .mint(address(2), U256::from(5))
        .from(address(0))
        .send()
        .await
        .expect("eth_sendTransaction");
    let receipt = pending.get_receipt().await.expect("receipt");
    assert!(receipt.status());
    assert_eq!(
        transfer.balanceOf(address(2)).call().await.expect("call"),
        U256::from(5)
    );
    // Custom errors come back as revert data alloy can decode.
    let err = TestStablecoin::new(*usd.address(), &plain)
        .transfer(address(3), U256::from(1))
        .from(address(4))
        .call()
        .await
        .expect_err("no balance");
    let decoded = err
        .as_decoded_interface_error::<TestStablecoin::TestStablecoinErrors>()
        .expect("decodes");
    assert!(matches!(
        decoded,
        TestStablecoin::TestStablecoinErrors::ERC20InsufficientBalance(_)
    ));
}

#[tokio::test]
async fn reverts_carry_reasons_and_data_in_calls_estimates_and_receipts() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    let s = signer(0);
    let deploy = rpc
        .send_raw(&TxSpec::create(Probe::BYTECODE.clone(), 0).sign_1559(&s))
        .await;
    let probe: Address =
        serde_json::from_value(deploy["contractAddress"].clone()).expect("address");

    let data = Probe::failWithCall {
        reason: "not today".into(),
    }
    .abi_encode();
    let call = json!({"to": probe, "data": Bytes::from(data.clone())});
    for method in ["eth_call", "eth_estimateGas"] {
        let e = rpc.err(method, json!([call, "latest"])).await;
        assert_eq!(e.code, 3, "{method}");
        assert_eq!(e.message, "execution reverted: not today");
        let raw: Bytes = serde_json::from_value(e.data.clone().expect("data")).expect("hex");
        assert_eq!(
            alloy::sol_types::Revert::abi_decode(&raw)
                .expect("Error(string)")
                .reason,
            "not today"
        );
    }
    let e = rpc
        .err("eth_call", json!([{"to": probe, "data": Bytes::from(Probe::failPanicCall { d: U256::ZERO }.abi_encode())}]))
        .await;
    assert_eq!(e.code, 3);
    assert!(
        e.message.starts_with("execution reverted: "),
        "{}",
        e.message
    );
    let e = rpc
        .err("eth_call", json!([{"to": probe, "from": address(3), "data": Bytes::from(Probe::failCustomCall { code: U256::from(7) }.abi_encode())}]))
        .await;
    let raw: Bytes = serde_json::from_value(e.data.expect("data")).expect("hex");
    let denied = Probe::Denied::abi_decode(&raw).expect("custom error");
    assert_eq!((denied.who, denied.code), (address(3), U256::from(7)));
    let e = rpc
        .err(
            "eth_call",
            json!([{"to": probe, "data": Bytes::from(Probe::failEmptyCall {}.abi_encode())}]),
        )
        .await;
    assert_eq!(
        (e.code, e.message.as_str(), e.data),
        (3, "execution reverted", Some(json!("0x")))
    );

    // A reverting transaction is still mined, with status 0.
    let receipt = rpc
        .send_raw(&TxSpec::call(probe, data, 1).sign_1559(&s))
        .await;
    assert_eq!(receipt["status"], "0x0");
    assert!(quantity(&receipt["gasUsed"]) > 21_000);
    assert_eq!(rpc.nonce(address(0)).await, 2);
}

#[tokio::test]
async fn estimates_are_exact_and_send_transaction_uses_them() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    let transfer = json!({"from": address(0), "to": address(1), "value": "0x1"});
    assert_eq!(
        quantity(&rpc.ok("eth_estimateGas", json!([transfer])).await),
        21_000
    );
    let hash = rpc.ok("eth_sendTransaction", json!([transfer])).await;
    let receipt = rpc.ok("eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(receipt["gasUsed"], "0x5208");
    let tx = rpc.ok("eth_getTransactionByHash", json!([hash])).await;
    assert_eq!(tx["gas"], "0x5208");
    assert_eq!(tx["type"], "0x2");
    // Legacy when a gas price is given.
    let legacy =
        json!({"from": address(0), "to": address(1), "gasPrice": format!("{:#x}", 3 * GWEI)});
    let hash = rpc.ok("eth_sendTransaction", json!([legacy])).await;
    let tx = rpc.ok("eth_getTransactionByHash", json!([hash])).await;
    assert_eq!(tx["type"], "0x0");
    // Storage-heavy call: the estimate is the least gas that succeeds.
    let s = signer(1);
    let deploy = rpc
        .send_raw(&TxSpec::create(Probe::BYTECODE.clone(), 0).sign_1559(&s))
        .await;
    let probe: Address =
        serde_json::from_value(deploy["contractAddress"].clone()).expect("address");
    let burn = Bytes::from(
        Probe::burnCall {
            rounds: U256::from(20),
        }
        .abi_encode(),
    );
    let req = json!({"from": address(1), "to": probe, "data": burn});
    let gas = quantity(&rpc.ok("eth_estimateGas", json!([req])).await);
    let mut spec = TxSpec::call(probe, burn.clone(), 1);
    spec.gas = gas - 1;
    assert_eq!(
        rpc.send_raw(&spec.sign_1559(&s)).await["status"],
        "0x0",
        "one gas less fails"
    );
    spec.gas = gas;
    spec.nonce = 2;
    assert_eq!(rpc.send_raw(&spec.sign_1559(&s)).await["status"], "0x1");
    // An account without funds cannot send value.
    let poor = json!({"from": Address::repeat_byte(0x42), "to": address(1), "value": "0x1"});
    let e = rpc.err("eth_estimateGas", json!([poor])).await;
    assert!(e.message.starts_with("insufficient funds"), "{}", e.message);
}

#[tokio::test]
async fn historical_state_within_retention_and_a_clear_error_beyond() {
    let chain = support::chain_with(|c| c.history_blocks = 4).await;
    let rpc = chain.rpc();
    let s = signer(0);
    let deploy = rpc
        .send_raw(&TxSpec::create(Probe::BYTECODE.clone(), 0).sign_1559(&s))
        .await;
    let probe: Address =
        serde_json::from_value(deploy["contractAddress"].clone()).expect("address");
    for i in 1..=6u64 {
        let data = Probe::storeCall {
            key: U256::from(1),
            value: U256::from(i * 10),
        }
        .abi_encode();
        rpc.send_raw(&TxSpec::call(probe, data, i).sign_1559(&s))
            .await;
    }
    // Block 1 deployed, blocks 2..=7 stored 10..=60. Retention 4: state of blocks 3..=7.
    let slot_call = |block: u64| json!([{"to": probe, "data": Bytes::from(Probe::slotsCall(U256::from(1)).abi_encode())}, format!("{block:#x}")]);
    for (block, want) in [(7u64, 60u64), (5, 40), (3, 20)] {
        let out = rpc.ok("eth_call", slot_call(block)).await;
        assert_eq!(u256(&out), U256::from(want), "slot at block {block}");
        let nonce = rpc
            .ok(
                "eth_getTransactionCount",
                json!([address(0), format!("{block:#x}")]),
            )
            .await;
        assert_eq!(quantity(&nonce), block);
    }
    let balance_3 = u256(&rpc.ok("eth_getBalance", json!([address(0), "0x3"])).await);
    let balance_7 = u256(&rpc.ok("eth_getBalance", json!([address(0), "0x7"])).await);
    assert!(balance_3 > balance_7, "fees were paid after block 3");
    let e = rpc.err("eth_call", slot_call(2)).await;
    assert_eq!(e.code, -32000);
    assert!(e.message.contains("not available"), "{}", e.message);
    let e = rpc.err("eth_getBalance", json!([address(0), "0x99"])).await;
    assert_eq!(e.message, "header not found");
    // Blocks and receipts themselves are kept forever.
    assert!(
        !rpc.ok("eth_getBlockByNumber", json!(["0x1", false]))
            .await
            .is_null()
    );
}

#[tokio::test]
async fn interval_mining_batches_the_pool_into_blocks() {
    let chain = support::chain_with(|c| c.block_time = Some(Duration::from_millis(700))).await;
    let rpc = chain.rpc();
    let s = signer(0);
    let mut hashes = Vec::new();
    for nonce in 0..3 {
        let raw = TxSpec::transfer(address(1), U256::from(1), nonce).sign_1559(&s);
        hashes.push(rpc.ok("eth_sendRawTransaction", json!([raw])).await);
    }
    let pending = rpc.ok("eth_getTransactionByHash", json!([hashes[0]])).await;
    assert!(
        pending["blockHash"].is_null(),
        "waits for the next interval block"
    );
    assert_eq!(
        quantity(
            &rpc.ok("eth_getTransactionCount", json!([address(0), "pending"]))
                .await
        ),
        3
    );
    let mut receipt = serde_json::Value::Null;
    for _ in 0..50 {
        receipt = rpc
            .ok("eth_getTransactionReceipt", json!([hashes[2]]))
            .await;
        if !receipt.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!receipt.is_null(), "mined within a few intervals");
    let first = rpc
        .ok("eth_getTransactionReceipt", json!([hashes[0]]))
        .await;
    assert_eq!(
        first["blockNumber"], receipt["blockNumber"],
        "one block holds all three"
    );
    assert_eq!(receipt["transactionIndex"], "0x2");
    // Empty blocks keep coming.
    let n = rpc.block_number().await;
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert!(rpc.block_number().await > n);
}

#[tokio::test]
async fn fee_methods_follow_the_base_fee() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    assert_eq!(
        u256(&rpc.ok("eth_gasPrice", json!([])).await),
        U256::from(2 * GWEI)
    );
    assert_eq!(
        u256(&rpc.ok("eth_maxPriorityFeePerGas", json!([])).await),
        U256::from(GWEI)
    );
    let s = signer(0);
    for nonce in 0..3u64 {
        let mut spec = TxSpec::transfer(address(1), U256::from(1), nonce);
        spec.tip = u128::from(nonce + 1) * GWEI;
        spec.max_fee = 10 * GWEI;
        rpc.send_raw(&spec.sign_1559(&s)).await;
    }
    let h = rpc
        .ok("eth_feeHistory", json!(["0x3", "latest", [50.0]]))
        .await;
    assert_eq!(h["oldestBlock"], "0x1");
    assert_eq!(h["baseFeePerGas"].as_array().map(Vec::len), Some(4));
    assert_eq!(h["gasUsedRatio"].as_array().map(Vec::len), Some(3));
    let rewards: Vec<u64> = h["reward"]
        .as_array()
        .expect("rewards")
        .iter()
        .map(|r| quantity(&r[0]))
        .collect();
    assert_eq!(rewards, vec![GWEI as u64, 2 * GWEI as u64, 3 * GWEI as u64]);
    let e = rpc
        .err("eth_feeHistory", json!(["0x3", "latest", [90.0, 10.0]]))
        .await;
    assert_eq!(e.code, -32602);
}

#[tokio::test]
async fn dev_accounts_sign_messages_and_typed_data_for_wallet_libraries() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    let sig = rpc
        .ok(
            "personal_sign",
            json!([Bytes::from_static(b"hello"), address(2)]),
        )
        .await;
    let sig: alloy::primitives::Signature = serde_json::from_value::<Bytes>(sig)
        .ok()
        .and_then(|b| alloy::primitives::Signature::try_from(b.as_ref()).ok())
        .expect("65-byte signature");
    let recovered = sig.recover_address_from_msg(b"hello").expect("recover");
    assert_eq!(recovered, address(2));
    let same = rpc
        .ok(
            "eth_sign",
            json!([address(2), Bytes::from_static(b"hello")]),
        )
        .await;
    assert_eq!(same, json!(Bytes::from(sig.as_bytes())));
    let typed = json!({
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
            "Mail": [{"name": "to", "type": "address"}, {"name": "contents", "type": "string"}]
        },
        "primaryType": "Mail",
        "domain": {"name": "PropLedger", "chainId": 31337},
        "message": {"to": address(3), "contents": "hi"}
    });
    let as_object = rpc
        .ok("eth_signTypedData_v4", json!([address(1), typed]))
        .await;
    let as_string = rpc
        .ok(
            "eth_signTypedData_v4",
            json!([address(1), typed.to_string()]),
        )
        .await;
    assert_eq!(as_object, as_string);
    let data: alloy::dyn_abi::TypedData = serde_json::from_value(typed).expect("typed data");
    let hash = data.eip712_signing_hash().expect("hash");
    let sig = serde_json::from_value::<Bytes>(as_object)
        .ok()
        .and_then(|b| alloy::primitives::Signature::try_from(b.as_ref()).ok())
        .expect("signature");
    assert_eq!(
        sig.recover_address_from_prehash(&hash).expect("recover"),
        address(1)
    );
    let e = rpc
        .err("personal_sign", json!(["0x00", Address::repeat_byte(9)]))
        .await;
    assert!(e.message.starts_with("no key for account"), "{}", e.message);
}
