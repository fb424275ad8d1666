//! Production mode: a chain created with it has no mnemonic accounts and refuses every dev
//! method with the standard "method not available" error, for good (the mode is recorded in
//! the data directory); a development chain still answers them.

use alloy::primitives::{Address, U256};
use propledger_node::chain::{ChainConfig, ChainMode, EmbeddedChain, Error, OpenError};
use serde_json::{Value, json};

use super::support::{self, Rpc, TxSpec, address, signer, test_config, u256};

/// Every dev method a client might try, with plausible parameters.
fn dev_calls() -> Vec<(&'static str, Value)> {
    vec![
        ("evm_mine", json!([])),
        ("evm_snapshot", json!([])),
        ("evm_revert", json!(["0x1"])),
        ("evm_increaseTime", json!([3600])),
        ("evm_setNextBlockTimestamp", json!([4_000_000_000u64])),
        ("anvil_mine", json!(["0x2"])),
        ("anvil_setNextBlockTimestamp", json!([4_000_000_000u64])),
        ("anvil_reorg", json!([1, []])),
        ("anvil_setBalance", json!([address(0), "0x1"])),
        ("anvil_impersonateAccount", json!([address(0)])),
        ("hardhat_mine", json!(["0x1"])),
        ("propledger_reorg", json!([1, []])),
    ]
}

const OPERATOR_WEI: u64 = 5_000_000_000_000_000_000;

fn production(config: &mut ChainConfig, operator: Address) {
    config.chain_id = 7_770;
    config.mode = ChainMode::Production {
        funded: vec![(operator, U256::from(OPERATOR_WEI))],
    };
}

#[tokio::test]
async fn a_production_chain_refuses_dev_methods_for_good_and_funds_only_its_operator() {
    // The operator is a key of its own (the mnemonic's ninth account stands in for one).
    let operator = signer(9);
    let mut chain = support::chain_with(|c| production(c, operator.address())).await;
    let rpc = chain.rpc();
    assert!(chain.node.as_ref().expect("running").is_production());
    let check = |rpc: Rpc| async move {
        for (method, params) in dev_calls() {
            let e = rpc.err(method, params).await;
            assert_eq!(e.code, -32601, "{method}: {}", e.message);
            assert_eq!(
                e.message,
                format!("the method {method} does not exist/is not available")
            );
        }
        assert_eq!(rpc.ok("eth_accounts", json!([])).await, json!([]));
        for i in 0..9 {
            let balance = rpc
                .ok("eth_getBalance", json!([address(i), "latest"]))
                .await;
            assert_eq!(u256(&balance), U256::ZERO, "mnemonic account {i} is funded");
        }
        let e = rpc
            .err(
                "eth_sendTransaction",
                json!([{ "from": address(0), "to": address(1), "value": "0x1" }]),
            )
            .await;
        assert!(e.message.contains("no key for account"), "{}", e.message);
    };
    check(rpc.clone()).await;
    assert_eq!(
        u256(
            &rpc.ok("eth_getBalance", json!([operator.address(), "latest"]))
                .await
        ),
        U256::from(OPERATOR_WEI)
    );
    // The operator's signed transactions are mined as on any chain.
    let mut tx = TxSpec::transfer(Address::repeat_byte(0x42), U256::from(7u8), 0);
    tx.chain_id = 7_770;
    let receipt = rpc.send_raw(&tx.sign_1559(&operator)).await;
    assert_eq!(receipt["status"], "0x1");
    let head = rpc.block_number().await;

    // A restart configured as a development chain is still the production chain.
    chain
        .node
        .take()
        .expect("running")
        .shutdown()
        .await
        .expect("stop");
    let mut dev = test_config(chain.dir.path());
    dev.chain_id = 7_770;
    let restarted = EmbeddedChain::start(dev).await.expect("restart");
    assert!(restarted.is_production(), "the mode is recorded for good");
    assert!(restarted.dev_accounts().is_empty());
    let rpc = Rpc::new(&restarted.url());
    assert_eq!(rpc.block_number().await, head);
    check(rpc).await;
    restarted.shutdown().await.expect("stop");
}

#[tokio::test]
async fn production_needs_its_own_chain_id_an_operator_and_a_new_data_directory() {
    let operator = signer(9).address();
    let dir = tempfile::tempdir().expect("tempdir");

    let mut config = test_config(dir.path());
    production(&mut config, operator);
    config.chain_id = 31337;
    let e = EmbeddedChain::start(config)
        .await
        .expect_err("dev chain id");
    assert!(
        matches!(&e, Error::Config(m) if m.contains("chain id of its own")),
        "{e}"
    );

    let mut config = test_config(dir.path());
    config.chain_id = 7_770;
    config.mode = ChainMode::Production { funded: vec![] };
    let e = EmbeddedChain::start(config).await.expect_err("no operator");
    assert!(
        matches!(&e, Error::Config(m) if m.contains("operator")),
        "{e}"
    );

    // A data directory made as a development chain (or by a build without production mode:
    // its log has no mode record) stays one.
    let mut dev = test_config(dir.path());
    dev.chain_id = 7_770;
    let chain = EmbeddedChain::start(dev.clone()).await.expect("dev chain");
    assert!(!chain.is_production());
    let rpc = Rpc::new(&chain.url());
    assert_eq!(rpc.ok("evm_mine", json!([])).await, "0x0");
    let snapshot = rpc.ok("evm_snapshot", json!([])).await;
    assert_eq!(rpc.ok("evm_revert", json!([snapshot])).await, json!(true));
    assert_eq!(
        rpc.ok("eth_accounts", json!([]))
            .await
            .as_array()
            .map(Vec::len),
        Some(10)
    );
    chain.shutdown().await.expect("stop");
    let mut config = dev;
    production(&mut config, operator);
    let e = EmbeddedChain::start(config)
        .await
        .expect_err("production on a dev chain");
    assert!(matches!(e, Error::Open(OpenError::DevChain)), "{e}");
}
