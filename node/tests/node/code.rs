//! The deployed contracts' code hashes in the deployment record: a fresh node records them, a
//! restart on the same code proceeds, and a node whose artifacts or chain code differ from the
//! record says so, serves reads, refuses chain actions with a `code-mismatch` problem and runs no
//! outbox sender, until it is restarted with `--accept-deployed-code`.

use alloy::primitives::{B256, Bytes, keccak256};
use alloy::providers::{Provider, ProviderBuilder};
use propledger_node::code::{CodeHashes, Differs};
use propledger_node::{Node, deployment::DeploymentRecord};
use propledger_testkit::anvil::Anvil;

use crate::api::{applicant, approve, confirmed, get};
use crate::keys::Run;
use crate::run::config;

/// The creation code of a committed artifact, read from its JSON (`bytecode.object`).
fn artifact_creation_code(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../contracts/artifacts/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("artifact")).expect("json");
    let hex = json["bytecode"]["object"]
        .as_str()
        .expect("bytecode.object");
    alloy::hex::decode(hex).expect("hex")
}

/// The answer to a chain action while actions are held.
fn assert_refused(status: u16, problem: &serde_json::Value, contract: &str) {
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["type"], "/problems/code-mismatch", "{problem}");
    assert_eq!(problem["code"], "code_mismatch", "{problem}");
    let detail = problem["detail"].as_str().expect("detail");
    assert!(detail.contains(contract), "{detail}");
    assert!(detail.contains("--accept-deployed-code"), "{detail}");
}

/// Readiness stays 200-able with reads, and says whether chain actions are held.
async fn chain_writes(url: &str) -> serde_json::Value {
    let (_, ready) = get(&format!("{url}/readyz"), None).await;
    ready["chain_writes"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_node_records_its_contracts_code_and_a_restart_on_it_proceeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(config(dir.path())).await.expect("start");
    let provider = ProviderBuilder::new().connect_http(node.rpc_url().parse().expect("url"));
    let record = DeploymentRecord::load(dir.path())
        .expect("load")
        .expect("record");
    let names: Vec<&str> = record.code.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "IdentityRegistry",
            "LedgerAnchor",
            "OfferingFactory",
            "PropertyDeed",
            "PropertyDirectory",
            "PropertyLauncher",
            "ShareSettlement",
            "SharesFactory",
            "TestStablecoin",
            "TreasuryFactory",
        ]
    );
    for contract in node.platform().contracts() {
        let code = record.code[contract.name];
        assert_eq!(code.address, contract.deployed.address);
        let runtime = provider.get_code_at(code.address).await.expect("code");
        assert!(!runtime.is_empty());
        assert_eq!(code.runtime_hash, keccak256(&runtime), "{}", contract.name);
        assert_eq!(
            code.artifact_hash,
            keccak256(artifact_creation_code(contract.name)),
            "{}",
            contract.name
        );
    }
    assert!(node.code_mismatches().is_empty());
    let url = node.api_url().expect("api").to_owned();
    assert_eq!(chain_writes(&url).await, serde_json::json!({"ok": true}));
    node.shutdown().await.expect("shutdown");

    let node = Node::start(config(dir.path())).await.expect("restart");
    assert!(
        node.code_mismatches().is_empty(),
        "{:?}",
        node.code_mismatches()
    );
    assert_eq!(node.record(), &record, "a matching restart changes nothing");
    node.shutdown().await.expect("shutdown");

    // A record from before the hashes were kept gets them at the next start, as they are.
    let mut old = record.clone();
    old.code = CodeHashes::new();
    old.save(dir.path()).expect("save");
    let text = std::fs::read_to_string(DeploymentRecord::path(dir.path())).expect("read");
    assert!(!text.contains("runtime_hash"), "{text}");
    let node = Node::start(config(dir.path())).await.expect("restart");
    assert!(node.code_mismatches().is_empty());
    node.shutdown().await.expect("shutdown");
    let filled = DeploymentRecord::load(dir.path())
        .expect("load")
        .expect("record");
    assert_eq!(filled, record);

    // A record from before platforms had an anchor contract and a share market gets both
    // deployed at the next start, with their code recorded.
    let mut old = record.clone();
    old.platform.anchor = None;
    old.code.remove("LedgerAnchor");
    old.platform.settlement = None;
    old.code.remove("ShareSettlement");
    old.save(dir.path()).expect("save");
    // (A database from then records no platform either.)
    {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&format!(
            "sqlite:{}",
            dir.path().join("ledger.db").display()
        ))
        .await
        .expect("books");
        sqlx::query("DELETE FROM api_platform")
            .execute(&mut db)
            .await
            .expect("delete");
    }
    let text = std::fs::read_to_string(DeploymentRecord::path(dir.path())).expect("read");
    assert!(!text.contains("anchor"), "{text}");
    assert!(!text.contains("\"settlement\""), "{text}");
    let node = Node::start(config(dir.path())).await.expect("restart");
    assert!(node.code_mismatches().is_empty());
    let anchor = node.platform().anchor.expect("an anchor");
    assert_ne!(Some(anchor), record.platform.anchor, "a new one");
    let market = node.platform().settlement.expect("a share market");
    assert_ne!(Some(market), record.platform.settlement, "a new one");
    node.shutdown().await.expect("shutdown");
    let upgraded = DeploymentRecord::load(dir.path())
        .expect("load")
        .expect("record");
    assert_eq!(upgraded.platform.anchor, Some(anchor));
    assert_eq!(upgraded.code["LedgerAnchor"].address, anchor.address);
    assert_eq!(upgraded.platform.settlement, Some(market));
    assert_eq!(upgraded.code["ShareSettlement"].address, market.address);
}

/// The binary, on a record whose artifact hash differs from this build's (as after an upgrade
/// that changed a contract): the log names the contract, a read works, a chain action is
/// refused and nothing of it is kept; the accepting restart re-records and the action goes
/// through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_artifacts_hold_chain_actions_until_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_str().expect("utf-8");
    let args = ["--data-dir", data_dir, "--chain-port", "0"];
    let mut run = Run::start(&args);
    run.wait_for("node running");
    run.stop();
    let key = std::fs::read_to_string(dir.path().join("admin.key")).expect("the first admin key");
    let key = key.trim();
    let record = DeploymentRecord::load(dir.path())
        .expect("load")
        .expect("record");
    let mut changed = record.clone();
    let launcher = changed.code.get_mut("PropertyLauncher").expect("launcher");
    let stale = B256::repeat_byte(0x5a);
    launcher.artifact_hash = stale;
    let address = launcher.address;
    changed.save(dir.path()).expect("save");

    let mut run = Run::start(&args);
    run.wait_for("node running");
    let log = run.log();
    assert!(
        log.contains(&format!(
            "PropertyLauncher at {address}: this build's artifact differs from the one the \
             contract was deployed from (recorded {stale}, found {})",
            record.code["PropertyLauncher"].artifact_hash
        )),
        "{log}"
    );
    assert!(log.contains("no outbox sender runs"), "{log}");
    let url = api_url(&log);
    let (status, offerings) = get(&format!("{url}/v1/offerings"), Some(key)).await;
    assert_eq!(status, 200, "reads go on: {offerings}");
    let held = chain_writes(&url).await;
    assert_eq!(held["ok"], false, "{held}");
    let id = applicant(&url).await;
    let (status, problem) = approve(&url, key, &id).await;
    assert_refused(
        status,
        &problem,
        "PropertyLauncher (this build's artifact changed)",
    );
    let (_, investor) = get(&format!("{url}/v1/investors/{id}"), Some(key)).await;
    assert_eq!(
        investor["status"], "submitted",
        "nothing was recorded: {investor}"
    );
    run.stop();
    assert_eq!(
        DeploymentRecord::load(dir.path()).expect("load"),
        Some(changed),
        "a refusing node leaves the record as it was"
    );

    let mut accept = args.to_vec();
    accept.push("--accept-deployed-code");
    let mut run = Run::start(&accept);
    run.wait_for("node running");
    let log = run.log();
    assert!(log.contains("accepted: PropertyLauncher at"), "{log}");
    assert_eq!(
        DeploymentRecord::load(dir.path()).expect("load"),
        Some(record),
        "the code as it is now is recorded"
    );
    let url = api_url(&log);
    assert_eq!(chain_writes(&url).await, serde_json::json!({"ok": true}));
    let (status, detail) = approve(&url, key, &id).await;
    assert_eq!(status, 200, "{detail}");
    confirmed(&url, key, &detail).await;
    run.stop();
}

/// On anvil, whose `anvil_setCode` stands in for a self-destruct or a swapped proxy: the code at
/// a recorded address changes under a stopped node, which then refuses chain actions until an
/// accepting restart records the new code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_chain_code_holds_chain_actions_until_accepted() {
    let anvil = Anvil::spawn();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.rpc_url = Some(anvil.url().to_owned().into());
    cfg.confirmations = Some(0);
    let node = Node::start(cfg.clone()).await.expect("start");
    let key = node.first_admin_key().expect("a first key").to_owned();
    let usd = node
        .platform()
        .test_stablecoin
        .expect("test stablecoin")
        .address;
    let recorded = node.record().code["TestStablecoin"].runtime_hash;
    node.shutdown().await.expect("shutdown");

    let provider = ProviderBuilder::new().connect_http(anvil.url().parse().expect("url"));
    let other = Bytes::from_static(&[0x00]);
    let () = provider
        .raw_request("anvil_setCode".into(), (usd, other.clone()))
        .await
        .expect("anvil_setCode");

    let node = Node::start(cfg.clone()).await.expect("restart");
    let mismatches = node.code_mismatches().to_vec();
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    let m = &mismatches[0];
    assert_eq!(
        (
            m.contract.as_str(),
            m.address,
            m.differs,
            m.recorded,
            m.found
        ),
        (
            "TestStablecoin",
            usd,
            Differs::OnChain,
            Some(recorded),
            keccak256(&other)
        )
    );
    let url = node.api_url().expect("api").to_owned();
    let (status, me) = get(&format!("{url}/v1/auth/session"), Some(&key)).await;
    assert_eq!(status, 200, "reads go on: {me}");
    let id = applicant(&url).await;
    let (status, problem) = approve(&url, &key, &id).await;
    assert_refused(
        status,
        &problem,
        "TestStablecoin (its code on chain changed)",
    );
    node.shutdown().await.expect("shutdown");

    cfg.accept_deployed_code = true;
    let node = Node::start(cfg.clone()).await.expect("accepting restart");
    assert!(node.code_mismatches().is_empty());
    let record = DeploymentRecord::load(dir.path())
        .expect("load")
        .expect("record");
    assert_eq!(
        record.code["TestStablecoin"].runtime_hash,
        keccak256(&other)
    );
    let url = node.api_url().expect("api").to_owned();
    let (status, detail) = approve(&url, &key, &id).await;
    assert_eq!(status, 200, "{detail}");
    confirmed(&url, &key, &detail).await;
    node.shutdown().await.expect("shutdown");

    // Accepted once, the new code is what later starts expect.
    cfg.accept_deployed_code = false;
    let node = Node::start(cfg).await.expect("restart");
    assert!(node.code_mismatches().is_empty());
    node.shutdown().await.expect("shutdown");
}

/// The API's address, from the binary's output.
fn api_url(log: &str) -> String {
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix("PropLedger API: "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the API's address in the output")
        .to_owned()
}
