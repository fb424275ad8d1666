//! `propledger export` and `propledger audit verify` through the binary: a running node's
//! property exported and verified against its chain; an edited export fails, naming the entry.

use std::process::Command;
use std::time::{Duration, Instant};

use alloy::primitives::keccak256;
use propledger_contracts::PropertyTreasury;
use propledger_node::Node;

use crate::backup::{dollars, property, provider};
use crate::run::config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_verifies_against_the_chain_through_the_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(config(dir.path())).await.expect("start");
    let chain = provider(node.rpc_url());
    let treasury = property(&node, &chain).await;
    PropertyTreasury::new(treasury, &chain)
        .deposit(dollars(250), keccak256("rent-1"))
        .send()
        .await
        .expect("deposit")
        .get_receipt()
        .await
        .expect("mined");
    // The deposit booked.
    let ledger = propledger_ledger::Ledger::connect(&format!(
        "sqlite:{}",
        dir.path().join("ledger.db").display()
    ))
    .await
    .expect("ledger");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let booked = ledger
            .entries()
            .search(
                &propledger_ledger::entry::EntryFilter {
                    source: Some(propledger_ledger::entry::SourceKind::Chain),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .expect("entries");
        if !booked.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the deposit was never booked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let bin = env!("CARGO_BIN_EXE_propledger");
    let file = dir.path().join("audit.json");
    let out = Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["export", "--property", "1", "--out"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verify = || {
        Command::new(bin)
            .args(["--rpc-url", node.rpc_url(), "audit", "verify", "--export"])
            .arg(&file)
            .output()
            .expect("run")
    };
    let out = verify();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verified: property 1"), "{stdout}");
    assert!(stdout.contains("hash chain: ok"), "{stdout}");
    assert!(stdout.contains("cap table"), "{stdout}");

    // One amount changed in the file: the verification fails and names the entry.
    let mut export: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    let entry = export["entries"][0].clone();
    export["entries"][0]["postings"][0]["amount"] = serde_json::json!("999999");
    std::fs::write(&file, serde_json::to_vec(&export).expect("json")).expect("write");
    let out = verify();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "FINDING: entry {} ({}): its content does not match its hash",
            entry["id"],
            entry["key"].as_str().expect("key")
        )),
        "{stdout}"
    );
    node.shutdown().await.expect("shutdown");
}
