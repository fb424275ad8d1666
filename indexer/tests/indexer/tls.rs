//! The indexer over TLS: anvil behind a TLS-terminating proxy whose certificate comes from a CA
//! made by the test. Over `https://` (the source's own `eth_getLogs` client) and `wss://` the
//! indexer backfills and follows to the same index as over plain HTTP; a certificate from a CA
//! the source does not trust is refused at once with a clear error, never retried.

use std::net::SocketAddr;
use std::time::Duration;

use alloy::primitives::keccak256;
use alloy::providers::Provider;
use propledger_indexer::Indexer;
use propledger_indexer::source::{RpcSource, SourceConfig, SourceError};

use crate::support::anvil::{TestResult, within};
use crate::support::db::{Engine, TestDb};
use crate::support::state::{assert_same, index_state};
use crate::support::world::{ChainKind, World};
use propledger_testkit::tls::{TestCa, TlsProxy};

fn upstream(world: &World) -> TestResult<SocketAddr> {
    let url = world.node.url();
    Ok(url.trim_start_matches("http://").parse()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfills_and_follows_over_https_and_wss() -> TestResult {
    within(async {
        let world = World::start(ChainKind::Anvil).await?;
        world.business().await?;
        let ca = TestCa::new("PropLedger test CA");
        let proxy = TlsProxy::start(&ca, upstream(&world)?).await;
        let tls = propledger_net::tls::client_config(&[ca.ca_file()])?;
        let shares = world.property.shares.address;
        let urls = [
            // Credentials in the URL go as basic authorization on both of the source's clients.
            proxy
                .https_url()
                .replace("https://", "https://reader:s3cret@"),
            proxy.wss_url(),
        ];
        for (round, url) in urls.into_iter().enumerate() {
            let mut cfg = world.indexer_config(0);
            cfg.source.url = url.clone();
            cfg.source.tls = Some(tls.clone());
            cfg.source.request_timeout = Duration::from_secs(10);
            let db = TestDb::new(Engine::Sqlite).await;
            let mut indexer = Indexer::new(db.ledger().await, cfg).await?;
            // Backfill...
            indexer.sync().await?;
            // ...then follow new business.
            world.buy(round % 4, 2).await?;
            world.deposit(10, keccak256(format!("tls-{round}"))).await?;
            let head = world.provider.get_block_number().await?;
            while indexer.next_block() <= head {
                indexer.step().await?;
            }
            let plain_db = TestDb::new(Engine::Sqlite).await;
            let mut plain = Indexer::new(plain_db.ledger().await, world.indexer_config(0)).await?;
            plain.sync().await?;
            while plain.next_block() <= head {
                plain.step().await?;
            }
            assert_same(
                if round == 0 { "over https" } else { "over wss" },
                &index_state(indexer.ledger(), shares).await?,
                &index_state(plain.ledger(), shares).await?,
            );
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_untrusted_ca_is_refused_at_once() -> TestResult {
    within(async {
        let world = World::start(ChainKind::Embedded).await?;
        let ca = TestCa::new("PropLedger test CA");
        let proxy = TlsProxy::start(&ca, upstream(&world)?).await;
        let other = TestCa::new("Another CA");
        let trusting_other = propledger_net::tls::client_config(&[other.ca_file()])?;
        for url in [proxy.https_url(), proxy.wss_url()] {
            // Mozilla's roots alone, or another private CA: neither knows the proxy's.
            for tls in [None, Some(trusting_other.clone())] {
                let mut cfg = SourceConfig::new(url.clone());
                cfg.tls = tls;
                // The node retries transient failures forever; this one must not be.
                cfg.retry.max_attempts = None;
                match RpcSource::connect(cfg).await {
                    Err(SourceError::Tls(reason)) => {
                        assert!(
                            reason.contains("invalid peer certificate: UnknownIssuer"),
                            "{url}: {reason}"
                        );
                    }
                    other => panic!("{url}: expected a TLS error, got {other:?}"),
                }
            }
        }
        // The CA that signed the proxy's certificate lets it in.
        let mut cfg = SourceConfig::new(proxy.https_url());
        cfg.tls = Some(propledger_net::tls::client_config(&[ca.ca_file()])?);
        let source = RpcSource::connect(cfg).await?;
        assert_eq!(source.chain_id(), world.platform.chain_id);
        Ok(())
    })
    .await
}
