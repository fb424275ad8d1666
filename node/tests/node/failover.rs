//! Failover: two `propledger` processes, each with its own data directory, on one database (a
//! SQLite file, and a PostgreSQL database) and one external chain (anvil). The second finds the platform in the database and stands by;
//! when the indexing one is killed (SIGKILL), the second takes the indexer role over and indexes
//! what the chain does next.

use std::time::{Duration, Instant};

use alloy::primitives::keccak256;
use alloy::providers::Provider;
use propledger_node::deployment::DeploymentRecord;
use propledger_testkit::anvil::Anvil;

use crate::backup::{dollars, provider};
use crate::keys::Run;

/// The last block the database's index holds.
async fn indexed(database: &str) -> u64 {
    let ledger = propledger_ledger::Ledger::connect(database)
        .await
        .expect("books");
    propledger_indexer::store::checkpoint(&ledger)
        .await
        .expect("checkpoint")
        .map_or(0, |c| c.next_block.saturating_sub(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_when_the_indexer_is_killed_sqlite() {
    let shared = tempfile::tempdir().expect("tempdir");
    failover(format!(
        "sqlite:{}",
        shared.path().join("books.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_when_the_indexer_is_killed_postgres() {
    failover(
        propledger_testkit::postgres::Postgres::shared()
            .fresh_database()
            .await,
    )
    .await;
}

async fn failover(database: String) {
    let anvil = Anvil::spawn();
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = |dir: &std::path::Path| {
        vec![
            "--data-dir".to_owned(),
            dir.display().to_string(),
            "--rpc-url".to_owned(),
            anvil.url().to_owned(),
            "--database-url".to_owned(),
            database.clone(),
            "--confirmations".to_owned(),
            "0".to_owned(),
        ]
    };
    let a_args = args(a_dir.path());
    let mut a = Run::start(&a_args.iter().map(String::as_str).collect::<Vec<_>>());
    a.wait_for("indexer running");
    let b_args = args(b_dir.path());
    let mut b = Run::start(&b_args.iter().map(String::as_str).collect::<Vec<_>>());
    b.wait_for("the indexer stands by");
    let log = b.log();
    assert!(
        log.contains("found the platform's deployment in the database"),
        "{log}"
    );
    assert!(!log.contains("platform contracts deployed"), "{log}");
    let platform = DeploymentRecord::load(a_dir.path())
        .expect("load")
        .expect("record")
        .platform;
    assert_eq!(
        DeploymentRecord::load(b_dir.path())
            .expect("load")
            .expect("record")
            .platform,
        platform
    );

    // The indexing process dies without a word.
    a.kill();
    let killed = Instant::now();
    b.wait_for("indexer role taken");
    eprintln!(
        "the standby took the indexer role {:?} after the kill",
        killed.elapsed()
    );

    // What the chain does next is indexed by the survivor.
    let chain = provider(anvil.url());
    let now = chain
        .get_block_by_number(Default::default())
        .await
        .expect("block")
        .expect("latest")
        .header
        .timestamp;
    let launched = propledger_contracts::launch::launch_property(
        &chain,
        &platform,
        &propledger_contracts::launch::PropertyParams {
            property_id: alloy::primitives::U256::from(9u64),
            name: "Ash St Shares".into(),
            symbol: "ASH".into(),
            parcel_id: keccak256("APN:ASH"),
            metadata_hash: keccak256("metadata:ASH"),
            metadata_uri: "ipfs://deed/ASH".into(),
            custodian: None,
            terms: propledger_contracts::launch::OfferingTerms {
                price_per_share: dollars(50),
                min_purchase: alloy::primitives::U256::from(10u64)
                    .pow(alloy::primitives::U256::from(18u64)),
                max_per_investor: alloy::primitives::U256::ZERO,
                shares_for_sale: alloy::primitives::U256::from(10u64)
                    .pow(alloy::primitives::U256::from(21u64)),
                soft_cap: dollars(100),
                start: now,
                end: now + 30 * 24 * 3600,
            },
        },
    )
    .await
    .expect("launch");
    assert!(!launched.treasury.address.is_zero());
    let head = chain.get_block_number().await.expect("head");
    let deadline = Instant::now() + Duration::from_secs(60);
    while indexed(&database).await < head {
        assert!(
            Instant::now() < deadline,
            "the survivor never indexed block {head}:\n{}",
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.stop();
}
