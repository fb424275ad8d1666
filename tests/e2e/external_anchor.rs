//! The books anchored on a second, external chain too (`--anchor-rpc-url`): the node deploys an
//! anchor contract there once, anchors on both chains through the outbox, checks both, and
//! reuses the contract after a restart.

use alloy::primitives::Address;
use alloy::providers::ProviderBuilder;
use propledger_contracts::LedgerAnchor;
use propledger_node::demo::ApiClient;
use propledger_testkit::anvil::Anvil;

use crate::setup::{Chain, Db, Setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchors_go_to_the_external_chain_too() {
    let external = Anvil::spawn_with_args(&["--chain-id", "31338"]);
    let mut setup = Setup::start_with(
        Chain::Embedded,
        Db::Sqlite,
        &["--anchor-rpc-url".to_owned(), external.url().to_owned()],
    )
    .await;
    assert!(
        setup
            .node
            .log()
            .contains("deployed the books' anchor contract on the external anchor chain"),
        "{}",
        setup.node.log()
    );
    let outcome =
        propledger_node::demo::run(setup.demo(), &mut |line| eprintln!("{line}"), &mut |_| {
            Box::pin(async {})
        })
        .await
        .unwrap_or_else(|e| panic!("the lifecycle failed: {e:#}\n{}", setup.node.log()));

    let api = ApiClient::new(
        &setup.node.api_url,
        propledger_net::tls::client_config(&[]).expect("tls"),
    );
    let anchors = api
        .get("/v1/audit/anchors")
        .token(&outcome.auditor_key)
        .ok()
        .await
        .expect("anchors");
    assert_eq!(anchors["clean"], true, "{anchors}");
    let ext = &anchors["external"];
    assert_eq!(ext["chain_id"], 31338, "{anchors}");
    assert_eq!(ext["clean"], true, "{anchors}");
    let ext_anchors = ext["anchors"].as_array().expect("anchors");
    assert_eq!(ext_anchors.len(), 1, "{anchors}");
    assert_eq!(
        ext_anchors[0]["head_hash"], anchors["anchors"][0]["head_hash"],
        "the same head on both chains"
    );
    // The external chain itself says so, read without the node.
    let contract: Address = ext["contract"].as_str().unwrap().parse().unwrap();
    let chain = ProviderBuilder::new().connect_http(external.url().parse().unwrap());
    let last = LedgerAnchor::new(contract, &chain)
        .lastEntries()
        .call()
        .await
        .expect("lastEntries");
    assert_eq!(Some(last), ext_anchors[0]["entries"].as_u64(), "{anchors}");

    // The standalone verification checks the external chain's anchors when given its endpoint,
    // says it did not without it, and refuses another chain in its place.
    let out = setup.data_dir.path().join("export.json");
    let mut args = setup.store_args();
    args.extend(
        [
            "export",
            "--property",
            &outcome.property,
            "--out",
            &out.display().to_string(),
        ]
        .map(str::to_owned),
    );
    assert!(propledger_e2e::command(&args).status.success());
    let verify = |anchor_url: Option<&str>| {
        let mut args = vec!["--rpc-url".to_owned(), setup.rpc_url.clone()];
        if let Some(u) = anchor_url {
            args.extend(["--anchor-rpc-url".to_owned(), u.to_owned()]);
        }
        args.extend(["audit", "verify", "--export", &out.display().to_string()].map(str::to_owned));
        let ran = propledger_e2e::command(&args);
        (
            ran.status.success(),
            String::from_utf8_lossy(&ran.stdout).into_owned(),
        )
    };
    let (ok, text) = verify(Some(external.url()));
    assert!(ok, "{text}");
    assert!(text.contains("external anchors: ok"), "{text}");
    assert!(
        text.contains("external anchors: unanchored tail: "),
        "{text}"
    );
    let (ok, text) = verify(None);
    assert!(ok, "{text}");
    assert!(text.contains("external anchors: not checked"), "{text}");
    let (ok, text) = verify(Some(&setup.rpc_url));
    assert!(!ok, "{text}");
    assert!(
        text.contains(
            "the anchor endpoint serves chain 31337, not the external anchor chain 31338"
        ),
        "{text}"
    );

    // A second node on the same database and chains, with a data directory of its own, anchors
    // with the contract the database records instead of deploying another.
    let second_dir = tempfile::tempdir().unwrap();
    let second = propledger_e2e::NodeProcess::start(
        [
            "--data-dir",
            &second_dir.path().display().to_string(),
            "--api-listen",
            &format!("127.0.0.1:{}", propledger_e2e::free_port()),
            "--rpc-url",
            &setup.rpc_url,
            "--database-url",
            &format!(
                "sqlite:{}",
                setup.data_dir.path().join("ledger.db").display()
            ),
            "--anchor-rpc-url",
            external.url(),
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    let log = second.stop();
    assert!(
        log.contains("anchoring the books on the external chain too"),
        "{log}"
    );
    assert!(
        !log.contains("deployed the books' anchor contract"),
        "{log}"
    );

    // A restart anchors with the same contract.
    setup.node.restart_after_kill();
    let log = setup.node.log();
    let second = &log[log.rfind("=== start 2 ===").expect("second start")..];
    assert!(
        second.contains("anchoring the books on the external chain too"),
        "{second}"
    );
    assert!(
        !second.contains("deployed the books' anchor contract"),
        "{second}"
    );
    setup.node.stop();
}

/// The platform's own chain is no second chain: the node refuses to start, saying so.
#[test]
fn the_platforms_own_chain_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = propledger_e2e::free_port();
    let ran = propledger_e2e::command(
        &[
            "--data-dir",
            &dir.path().display().to_string(),
            "--chain-port",
            &port.to_string(),
            "--api-listen",
            &format!("127.0.0.1:{}", propledger_e2e::free_port()),
            "--anchor-rpc-url",
            &format!("http://127.0.0.1:{port}"),
        ]
        .map(str::to_owned),
    );
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(!ran.status.success(), "{out}");
    assert!(
        out.contains("--anchor-rpc-url names chain 31337, the platform's own chain"),
        "{out}"
    );
}
