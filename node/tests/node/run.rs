//! The node against its real embedded chain: first start deploys, a restart reuses the same contracts
//! and chain state, and misconfigurations fail with clear errors before anything is deployed.

use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use std::net::{Ipv4Addr, SocketAddr};

use propledger_contracts::{IdentityRegistry, PropertyDirectory};
use propledger_node::{
    Error, Node, NodeConfig, RoleKeys,
    chain::{ChainConfig, EmbeddedChain},
    deployment::DeploymentRecord,
    keys::{KeyError, KeySource},
};

pub(crate) fn config(dir: &std::path::Path) -> NodeConfig {
    let mut config = NodeConfig::new(dir.to_path_buf());
    config.chain.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    if let Some(api) = &mut config.api {
        api.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    }
    config
}

#[tokio::test]
async fn first_start_deploys_and_restart_reuses_the_same_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(config(dir.path())).await.expect("first start");
    let first = node.platform().clone();
    let provider = ProviderBuilder::new().connect_http(node.rpc_url().parse().expect("url"));
    let height = provider.get_block_number().await.expect("block number");
    assert!(
        height >= 4,
        "deploying the platform mines blocks, got height {height}"
    );
    assert!(
        !provider
            .get_code_at(first.directory.address)
            .await
            .expect("code")
            .is_empty()
    );
    let recorded = DeploymentRecord::load(dir.path())
        .expect("load")
        .expect("record written");
    assert_eq!(recorded.platform, first);
    node.shutdown().await.expect("shutdown");

    let node = Node::start(config(dir.path())).await.expect("restart");
    assert_eq!(node.platform(), &first, "a restart must not deploy again");
    let provider = ProviderBuilder::new().connect_http(node.rpc_url().parse().expect("url"));
    assert_eq!(
        provider.get_block_number().await.expect("block number"),
        height
    );
    let code = provider
        .get_code_at(first.identity_registry.address)
        .await
        .expect("code");
    assert!(!code.is_empty(), "the chain state survived the restart");
    node.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_indexes_its_chain_into_the_books() {
    use propledger_ledger::TxConn;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(config(dir.path())).await.expect("start");
    let provider = ProviderBuilder::new().connect_http(node.rpc_url().parse().expect("url"));
    let head = provider.get_block_number().await.expect("block number");
    let checkpoint = async || {
        propledger_indexer::store::checkpoint(node.ledger())
            .await
            .ok()
            .flatten()
            .map_or(0, |c| c.next_block as i64)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while checkpoint().await <= head as i64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the indexer did not catch up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let events: i64 = node
        .ledger()
        .read_with(|conn| {
            Box::pin(async move {
                let sql = "SELECT COUNT(*) FROM idx_events WHERE kind = 'directory'";
                Ok(match conn {
                    TxConn::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(&mut **c).await?,
                    TxConn::Postgres(c) => sqlx::query_scalar(sql).fetch_one(&mut **c).await?,
                })
            })
        })
        .await
        .expect("count the directory's events");
    assert!(events > 0, "the directory's deployment events are indexed");
    node.shutdown().await.expect("shutdown");
    assert!(
        dir.path().join("ledger.db").exists(),
        "books in the data directory"
    );
}

#[tokio::test]
async fn a_record_from_another_chain_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(config(dir.path())).await.expect("start");
    let mut record = DeploymentRecord::new(node.platform().clone());
    node.shutdown().await.expect("shutdown");
    record.platform.chain_id = 1;
    record.save(dir.path()).expect("save");

    let err = Node::start(config(dir.path()))
        .await
        .expect_err("must refuse");
    assert!(
        matches!(
            err,
            Error::ChainMismatch {
                recorded: 1,
                actual: 31337
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn an_external_chain_needs_a_key_unless_it_is_a_dev_chain() {
    // An embedded chain started on its own stands in for an external network.
    let chain_dir = tempfile::tempdir().expect("tempdir");
    let mut chain_config = ChainConfig::new(chain_dir.path());
    chain_config.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    chain_config.chain_id = 4242;
    let chain = EmbeddedChain::start(chain_config).await.expect("chain");

    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.rpc_url = Some(chain.url().into());
    let err = Node::start(cfg.clone())
        .await
        .expect_err("no key on a non-dev chain");
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(
        DeploymentRecord::load(dir.path()).expect("load").is_none(),
        "nothing recorded"
    );

    // The second dev account, passed explicitly, becomes the admin.
    cfg.signer = Some(
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
            .parse()
            .expect("key"),
    );
    let node = Node::start(cfg.clone()).await.expect("start with a key");
    assert_eq!(node.platform().chain_id, 4242);
    assert_eq!(
        node.platform().admin().to_string(),
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    );
    node.shutdown().await.expect("shutdown");

    let loader = propledger_node::keys::KeyLoader::default();
    let source = KeySource::parse("--private-key", "0xnot-a-key").expect("parse");
    let err = loader.load("--private-key", &source).expect_err("bad key");
    assert!(matches!(err, KeyError::BadHex { .. }), "{err}");
    chain.shutdown().await.expect("stop chain");
}

/// Each operational role may have its own key: the registry's registrar is the registrar key's
/// account (not the admin's), and the record names every holder. (Role keys from keystores, and
/// a role key that does not load, are in `keys`.)
#[tokio::test]
async fn each_role_key_is_granted_its_role_and_recorded() {
    // Dev accounts 1 to 4 of the standard test mnemonic.
    let keys = [
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
        "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    let signer = |k: &str| -> PrivateKeySigner { k.parse().expect("key") };
    cfg.role_keys = RoleKeys {
        agent: Some(signer(keys[0])),
        treasurer: Some(signer(keys[1])),
        registrar: Some(signer(keys[2])),
        rules: Some(signer(keys[3])),
    };
    let shown = format!("{:?}", cfg.role_keys);
    assert!(
        keys.iter().all(|k| !shown.contains(&k[2..])),
        "Debug never shows a key: {shown}"
    );
    let node = Node::start(cfg.clone()).await.expect("start");
    let roles = node.platform().roles;
    let expected = keys.map(|k| signer(k).address());
    assert_eq!(
        [roles.agent, roles.treasurer, roles.registrar, roles.rules],
        expected
    );
    assert_eq!(
        roles.admin.to_string(),
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    );
    let provider = ProviderBuilder::new().connect_http(node.rpc_url().parse().expect("url"));
    let registry = IdentityRegistry::new(node.platform().identity_registry.address, &provider);
    let registrar_role = registry.REGISTRAR_ROLE().call().await.expect("role");
    assert!(
        registry
            .hasRole(registrar_role, roles.registrar)
            .call()
            .await
            .expect("call")
    );
    assert!(
        !registry
            .hasRole(registrar_role, roles.admin)
            .call()
            .await
            .expect("call")
    );
    assert_eq!(
        registry.defaultAdmin().call().await.expect("call"),
        roles.admin
    );
    let directory = PropertyDirectory::new(node.platform().directory.address, &provider);
    assert_eq!(
        directory.defaultAdmin().call().await.expect("call"),
        roles.admin
    );
    let recorded = DeploymentRecord::load(dir.path())
        .expect("load")
        .expect("record");
    assert_eq!(recorded.platform.roles, roles);
    node.shutdown().await.expect("shutdown");
}

/// Two nodes, each with its own data directory, on one database and one chain: the second
/// finds the platform's deployment in the database and deploys nothing; a data directory that
/// records another platform than the database's is refused, naming both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_on_the_database_uses_its_platform() {
    let shared = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite:{}", shared.path().join("books.db").display());
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = config(a_dir.path());
    a.database_url = Some(propledger_net::Secret::new(database.clone()));
    let first = Node::start(a).await.expect("first node");
    let platform = first.platform().clone();
    let provider = ProviderBuilder::new().connect_http(first.rpc_url().parse().expect("url"));
    let height = provider.get_block_number().await.expect("block number");

    let mut b = config(b_dir.path());
    b.database_url = Some(propledger_net::Secret::new(database.clone()));
    b.rpc_url = Some(propledger_net::Secret::new(first.rpc_url().to_owned()));
    let second = Node::start(b).await.expect("second node");
    assert_eq!(second.platform(), &platform, "the database's platform");
    assert_eq!(
        provider.get_block_number().await.expect("block number"),
        height,
        "nothing deployed again"
    );
    let recorded = DeploymentRecord::load(b_dir.path())
        .expect("load")
        .expect("the record, written to the new data directory");
    assert_eq!(recorded.platform, platform);
    second.shutdown().await.expect("shutdown");

    // A data directory recording another platform.
    let mut other = recorded.clone();
    other.platform.directory.address = alloy::primitives::Address::repeat_byte(0x0d);
    let c_dir = tempfile::tempdir().unwrap();
    other.save(c_dir.path()).expect("save");
    let mut c = config(c_dir.path());
    c.database_url = Some(propledger_net::Secret::new(database));
    c.rpc_url = Some(propledger_net::Secret::new(first.rpc_url().to_owned()));
    let refused = match Node::start(c).await {
        Ok(_) => panic!("a node with another platform started"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains(&platform.directory.address.to_string()),
        "{refused}"
    );
    assert!(
        refused.contains(&alloy::primitives::Address::repeat_byte(0x0d).to_string()),
        "{refused}"
    );
    first.shutdown().await.expect("shutdown");
}
