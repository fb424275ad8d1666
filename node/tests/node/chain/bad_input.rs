//! Bad input gets standard JSON-RPC errors and the node keeps serving: malformed JSON, wrong
//! params, oversized bodies and batches, bad signatures, wrong chain ids, refused transactions.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEip4844, TxEnvelope},
    eips::eip2718::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, Bytes, TxKind, U256},
};
use serde_json::{Value, json};

use super::support::{self, GWEI, TxSpec, Ws, address, signer};

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("response is not JSON ({e}): {body}"))
}

#[tokio::test]
async fn malformed_requests_get_standard_errors() {
    let chain = support::chain_with(|c| {
        c.limits.max_batch_len = 3;
        c.limits.max_body_bytes = 64 * 1024;
    })
    .await;
    let rpc = chain.rpc();
    let cases: &[(&str, i64)] = &[
        ("{not json", -32700),
        ("", -32700),
        ("42", -32600),
        (r#""eth_chainId""#, -32600),
        (r#"{"jsonrpc":"2.0","id":1}"#, -32600),
        (r#"{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}"#, -32600),
        (
            r#"{"jsonrpc":"2.0","id":{"x":1},"method":"eth_chainId"}"#,
            -32600,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_nope","params":[]}"#,
            -32601,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":{"a":1}}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x12"]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[1]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["latestish",false]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"topics":[1]}]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"0xzz"}]}"#,
            -32602,
        ),
        ("[]", -32600),
        ("[1,2,3,4]", -32600),
    ];
    for (body, code) in cases {
        let (status, text) = rpc.post(*body).await;
        assert_eq!(status, 200, "{body}");
        let v = parse(&text);
        assert_eq!(v["error"]["code"], json!(code), "{body} -> {text}");
        assert_eq!(v["jsonrpc"], "2.0");
    }
    let (_, text) = rpc.post("[1,2,3,4]").await;
    assert_eq!(parse(&text)["error"]["message"], "batch too large");
    // A batch answers each call; invalid members get their own errors; notifications none.
    let (_, text) = rpc
        .post(r#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}, 5, {"jsonrpc":"2.0","method":"eth_chainId"}]"#)
        .await;
    let v = parse(&text);
    assert_eq!(v.as_array().map(Vec::len), Some(2));
    assert_eq!(v[0]["result"], "0x7a69");
    assert_eq!(v[1]["error"]["code"], -32600);
    let (status, text) = rpc
        .post(r#"{"jsonrpc":"2.0","method":"eth_chainId"}"#)
        .await;
    assert_eq!(
        (status, text.as_str()),
        (200, ""),
        "a notification gets no answer"
    );
    // Oversized body: 413 with a JSON-RPC error.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"web3_sha3","params":["0x{}"]}}"#,
        "00".repeat(40 * 1024)
    );
    let (status, text) = rpc.post(big).await;
    assert_eq!(status, 413);
    assert_eq!(parse(&text)["error"]["code"], -32600);
    assert_eq!(
        rpc.ok("eth_chainId", json!([])).await,
        "0x7a69",
        "still serving"
    );
}

fn sign(tx: &mut TxEip1559, who: usize) -> Bytes {
    let sig = signer(who).sign_transaction_sync(tx).expect("sign");
    TxEnvelope::from(tx.clone().into_signed(sig))
        .encoded_2718()
        .into()
}

fn base_tx(nonce: u64) -> TxEip1559 {
    TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: TxKind::Call(address(1)),
        value: U256::from(1),
        ..Default::default()
    }
}

#[tokio::test]
async fn refused_transactions_name_the_problem_and_change_nothing() {
    let chain = support::chain().await;
    let rpc = chain.rpc();
    rpc.send_raw(&sign(&mut base_tx(0), 0)).await;
    let head = rpc.block_number().await;

    let mut cases: Vec<(&str, Bytes, i64, &str)> = Vec::new();
    cases.push((
        "garbage",
        Bytes::from_static(&[0x02, 0xff, 0x00]),
        -32602,
        "failed to decode transaction",
    ));
    cases.push((
        "empty",
        Bytes::new(),
        -32602,
        "failed to decode transaction",
    ));
    let good = sign(&mut base_tx(1), 0);
    let mut trailing = good.to_vec();
    trailing.push(0);
    cases.push((
        "trailing bytes",
        trailing.into(),
        -32602,
        "failed to decode transaction",
    ));
    // Flip a byte inside the signature's r value.
    let mut bad_sig = good.to_vec();
    let n = bad_sig.len();
    bad_sig[n - 40] ^= 0xff;
    cases.push(("bad signature", bad_sig.into(), -32000, ""));
    let mut wrong_chain = base_tx(1);
    wrong_chain.chain_id = 1;
    cases.push((
        "wrong chain",
        sign(&mut wrong_chain, 0),
        -32000,
        "invalid chain id for signer",
    ));
    cases.push((
        "nonce too low",
        sign(&mut base_tx(0), 0),
        -32003,
        "nonce too low",
    ));
    let mut rich = base_tx(0);
    rich.value = U256::from(10u64).pow(U256::from(30u64));
    cases.push((
        "no funds",
        sign(&mut rich, 2),
        -32003,
        "insufficient funds for gas * price + value",
    ));
    let mut low_gas = base_tx(1);
    low_gas.gas_limit = 20_000;
    cases.push((
        "intrinsic",
        sign(&mut low_gas, 0),
        -32000,
        "intrinsic gas too low",
    ));
    let mut huge_gas = base_tx(1);
    huge_gas.gas_limit = 40_000_000;
    cases.push((
        "block gas",
        sign(&mut huge_gas, 0),
        -32000,
        "exceeds block gas limit",
    ));
    let mut cheap = base_tx(1);
    cheap.max_fee_per_gas = 1;
    cheap.max_priority_fee_per_gas = 1;
    cases.push((
        "fee cap",
        sign(&mut cheap, 0),
        -32003,
        "max fee per gas less than block base fee",
    ));
    let mut tip = base_tx(1);
    tip.max_priority_fee_per_gas = 20 * GWEI;
    cases.push((
        "tip",
        sign(&mut tip, 0),
        -32000,
        "max priority fee per gas higher than max fee per gas",
    ));
    let mut fat = base_tx(1);
    fat.input = vec![1u8; 130 * 1024].into();
    fat.gas_limit = 10_000_000;
    cases.push(("oversized", sign(&mut fat, 0), -32000, "oversized data"));
    let mut blob = TxEip4844 {
        chain_id: 31337,
        nonce: 1,
        gas_limit: 21_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: address(1),
        blob_versioned_hashes: vec![alloy::primitives::B256::with_last_byte(1)],
        max_fee_per_blob_gas: 1,
        ..Default::default()
    };
    let sig = signer(0).sign_transaction_sync(&mut blob).expect("sign");
    let blob_raw: Bytes = TxEnvelope::from(blob.into_signed(sig))
        .encoded_2718()
        .into();
    cases.push(("blob", blob_raw, -32000, "transaction type not supported"));

    for (what, raw, code, prefix) in cases {
        let e = rpc.err("eth_sendRawTransaction", json!([raw])).await;
        assert_eq!(e.code, code, "{what}: {e:?}");
        assert!(e.message.starts_with(prefix), "{what}: {}", e.message);
    }
    // The same accepted transaction twice.
    let again = TxSpec::transfer(address(1), U256::from(1), 5).sign_1559(&signer(3));
    rpc.ok("eth_sendRawTransaction", json!([again])).await;
    let e = rpc.err("eth_sendRawTransaction", json!([again])).await;
    assert_eq!((e.code, e.message.as_str()), (-32003, "already known"));
    // An account the node has no key for.
    let e = rpc
        .err(
            "eth_sendTransaction",
            json!([{"from": Address::repeat_byte(7), "to": address(1)}]),
        )
        .await;
    assert!(e.message.starts_with("no key for account"), "{}", e.message);

    assert_eq!(rpc.block_number().await, head, "nothing was mined");
    assert_eq!(rpc.nonce(address(0)).await, 1);
    rpc.send_raw(&sign(&mut base_tx(1), 0)).await;
}

#[tokio::test]
async fn websocket_input_is_checked_and_connections_are_bounded() {
    let chain = support::chain_with(|c| c.limits.max_ws_connections = 1).await;
    let mut ws = Ws::connect(&chain.ws_url()).await;
    ws.send_text("{oops").await;
    assert_eq!(ws.recv().await["error"]["code"], -32700);
    ws.send_text(r#"[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_subscribe","params":["nothing"]}]"#)
        .await;
    let v = ws.recv().await;
    assert_eq!(v[0]["result"], "0x0");
    assert_eq!(v[1]["error"]["code"], -32602);
    let second = tokio_tungstenite::connect_async(chain.ws_url()).await;
    assert!(second.is_err(), "only one connection allowed");
    assert_eq!(
        ws.call("eth_chainId", json!([]))
            .await
            .expect("still serving"),
        "0x7a69"
    );
    assert_eq!(chain.rpc().ok("eth_chainId", json!([])).await, "0x7a69");
}

#[tokio::test]
async fn a_batch_stops_answering_past_its_response_budget() {
    let chain = support::chain_with(|c| c.limits.max_batch_response_bytes = 2_000).await;
    let rpc = chain.rpc();
    let calls: Vec<Value> = (0..20)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": ["0x0", false]}))
        .collect();
    let (status, text) = rpc.post(Value::Array(calls).to_string()).await;
    assert_eq!(status, 200);
    let v = parse(&text);
    let answers = v.as_array().expect("batch answer");
    assert_eq!(answers.len(), 20, "every call gets an answer");
    assert!(answers[0]["result"].is_object());
    let last = &answers[19];
    assert_eq!(last["id"], 19);
    assert_eq!(last["error"]["code"], -32003);
    assert_eq!(last["error"]["message"], "response too large");
}
