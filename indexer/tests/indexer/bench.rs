//! The indexer benchmark (`scripts/bench indexer`, an ignored test run in release mode).
//!
//! Backfill: anvil holds the platform with its business (purchases, deposits, draws, a
//! distribution with claims, a forced transfer) and a second property whose share token is a
//! log emitter: 100,000 ERC-20 `Transfer` events (mints of one unit to distinct holders), 200
//! per transaction. In the same run, alternating: a bare fetch of the same logs through the
//! same source (same adaptive ranges, started over at the same registrations as the indexer's
//! pass, same concurrency, JSON decoding included) and a full
//! index into SQLite and into a durable throwaway PostgreSQL. Printed: rates and the ratio of
//! indexing to bare fetch (target >= 0.5).
//!
//! Transports: the same SQLite index and bare fetch over plain HTTP, over plain HTTP through a
//! forwarding proxy, and over https through the same proxy terminating TLS. Printed: rates and
//! the share of index time TLS takes (target < 15%).
//!
//! Live: anvil mines a block every second with 20 purchases each; the indexer follows the head
//! in this process while a watcher notes when each block appears and when its entries are
//! committed. Printed: p50/p99/max lag from block to booked entries (target p99 <= 1 block
//! interval).

use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256, hex};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use propledger_contracts::PropertyDirectory;
use propledger_indexer::Indexer;
use propledger_indexer::source::{RpcSource, SourceConfig};
use propledger_testkit::tls::{TestCa, TlsProxy};

use crate::support::anvil::TestResult;
use crate::support::db::{Engine, TestDb, next_block, select};
use crate::support::world::{ChainKind, World, mined};

const EVENTS: u64 = 100_000;
const PER_TX: u64 = 200;

/// Runtime code that, called with a 32-byte `n`, emits `n` ERC-20 `Transfer(0, i + 1, 1)`
/// logs: `mem[0] = 1; for i in 0..n { LOG3(0, 32, TRANSFER, 0, i + 1) }`.
fn emitter_runtime() -> Vec<u8> {
    let transfer = alloy::primitives::keccak256("Transfer(address,address,uint256)");
    let mut code = hex::decode("600160005260003560005b818110156044578060010160007f").unwrap();
    code.extend_from_slice(transfer.as_slice());
    code.extend(hex::decode("60206000a3600101600a565b00").unwrap());
    assert_eq!(code.len(), 0x46);
    code
}

/// Init code returning [`emitter_runtime`].
fn emitter_initcode() -> Vec<u8> {
    let mut code = hex::decode("604680600b6000396000f3").unwrap();
    code.extend(emitter_runtime());
    code
}

async fn setup() -> TestResult<World> {
    let world = World::start(ChainKind::Anvil).await?;
    world.business().await?;
    for i in 0..100u64 {
        world.buy((i % 4) as usize, 1 + i % 3).await?;
    }
    let deploy = TransactionRequest::default()
        .with_from(world.admin)
        .with_deploy_code(Bytes::from(emitter_initcode()))
        .with_gas_limit(1_000_000);
    let receipt = world.send(deploy).await?;
    let emitter = receipt.contract_address.ok_or("no emitter address")?;
    let directory = PropertyDirectory::new(world.platform.directory.address, &world.provider);
    mined(
        directory
            .registerProperty(
                U256::from(2u8),
                emitter,
                Address::repeat_byte(0xc1),
                Address::repeat_byte(0xc2),
                Address::repeat_byte(0xc3),
            )
            .from(world.admin)
            .send()
            .await?
            .get_receipt()
            .await?,
    )?;
    let t = Instant::now();
    for _ in 0..EVENTS / PER_TX {
        let call = world.request(
            world.admin,
            emitter,
            Bytes::from(U256::from(PER_TX).to_be_bytes::<32>().to_vec()),
        );
        let receipt = world.send(call.with_gas_limit(5_000_000)).await?;
        assert_eq!(receipt.inner.logs().len() as u64, PER_TX);
    }
    eprintln!(
        "setup: {EVENTS} transfer events in {} blocks ({:.1} s), head {}",
        EVENTS / PER_TX,
        t.elapsed().as_secs_f64(),
        world.provider.get_block_number().await?
    );
    Ok(world)
}

/// Fetches every log of the watched contracts once, as the indexer's backfill does: the same
/// windows, learned the same way, starting over at the same registrations.
async fn bare_fetch(
    world: &World,
    addresses: Vec<Address>,
    breaks: Vec<u64>,
    transport: Option<&Transport>,
) -> TestResult<(u64, Duration)> {
    use futures_util::StreamExt;
    let source = RpcSource::connect(source_config(world, transport)).await?;
    let head = source.head().await?;
    let t = Instant::now();
    let mut stream = std::pin::pin!(source.log_chunks_with_breaks(
        world.platform.start_block(),
        head,
        addresses,
        breaks
    ));
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        n += chunk?.logs.len() as u64;
    }
    Ok((n, t.elapsed()))
}

/// How the benchmark reaches anvil, when not directly over HTTP.
#[derive(Clone)]
struct Transport {
    name: &'static str,
    url: String,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

fn source_config(world: &World, transport: Option<&Transport>) -> SourceConfig {
    let mut source = world.indexer_config(0).source;
    if let Some(t) = transport {
        source.url = t.url.clone();
        source.tls = t.tls.clone();
    }
    source
}

async fn index(
    world: &World,
    url: &str,
    transport: Option<&Transport>,
) -> TestResult<(Indexer, u64, Duration)> {
    let ledger = propledger_ledger::Ledger::connect(url).await?;
    let mut cfg = world.indexer_config(0);
    cfg.source = source_config(world, transport);
    cfg.reorg_window = 64;
    // Timed from the first request of the backfill, as the bare fetch is: setting up (the
    // source's connection, the indexer's tables on a new database, its checkpoint) is not.
    let mut indexer = Indexer::new(ledger, cfg).await?;
    let t = Instant::now();
    indexer.sync().await?;
    let elapsed = t.elapsed();
    let events: Vec<(i64,)> = select(indexer.ledger(), "SELECT COUNT(*) FROM idx_events").await?;
    Ok((indexer, u64::try_from(events[0].0)?, elapsed))
}

/// The watched contracts once everything is discovered, the blocks that register them (where
/// the backfill starts its ranges over), and the number of events: from a first index.
async fn watched_set(world: &World) -> TestResult<(Vec<Address>, Vec<u64>, u64)> {
    let warm = TestDb::new(Engine::Sqlite).await;
    let (indexer, total, _) = index(world, &warm.url, None).await?;
    let breaks = select::<(i64,)>(
        indexer.ledger(),
        "SELECT DISTINCT added_block FROM idx_contracts WHERE property_id IS NOT NULL",
    )
    .await?
    .into_iter()
    .map(|(b,)| Ok(u64::try_from(b)?))
    .collect::<TestResult<_>>()?;
    Ok((indexer.watched(), breaks, total))
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench indexer"]
async fn indexer_vs_bare_fetch() -> TestResult {
    let world = setup().await?;
    let cluster = propledger_testkit::Postgres::start_durable();
    let pg_admin = cluster.url("postgres");

    // PROPLEDGER_BENCH_PROFILE=sqlite|postgres|bare|https: repeated indexes on one engine,
    // repeated bare fetches, or repeated SQLite indexes over https through a TLS-terminating
    // proxy, for a profiler or for comparing two builds or settings (PROPLEDGER_BENCH_RUNS of
    // them, 5 unless set; the first warms up and is left out of the quartiles printed at the
    // end).
    if let Ok(only) = std::env::var("PROPLEDGER_BENCH_PROFILE") {
        let runs: usize = std::env::var("PROPLEDGER_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5)
            .max(2);
        let (addresses, breaks, _) = watched_set(&world).await?;
        let ca = TestCa::new("PropLedger bench CA");
        let proxy = TlsProxy::start(&ca, anvil_addr(&world)?).await;
        let https = Transport {
            name: "https",
            url: proxy.https_url(),
            tls: Some(propledger_net::tls::client_config(&[ca.ca_file()])?),
        };
        let transport = (only == "https").then_some(&https);
        let mut times = Vec::with_capacity(runs);
        for run in 1..=runs {
            let t = if only == "bare" {
                bare_fetch(&world, addresses.clone(), breaks.clone(), None)
                    .await?
                    .1
            } else {
                let sqlite_db = TestDb::new(Engine::Sqlite).await;
                let url = if only == "postgres" {
                    create_database(&pg_admin, &format!("profile_{run}")).await?
                } else {
                    sqlite_db.url.clone()
                };
                index(&world, &url, transport).await?.2
            };
            println!("profile {only}: run {run} in {:.3} s", t.as_secs_f64());
            if run > 1 {
                times.push(t.as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        let at = |q: usize| times[(times.len() - 1) * q / 4];
        println!(
            "profile {only}: min {:.3} s, quartiles {:.3} / {:.3} / {:.3} s, max {:.3} s",
            at(0),
            at(1),
            at(2),
            at(3),
            at(4)
        );
        return Ok(());
    }
    let (addresses, breaks, total) = watched_set(&world).await?;

    println!("backfill of {total} events ({EVENTS} transfers and the platform's events):");
    for round in 1..=2 {
        let (fetched, bare) = bare_fetch(&world, addresses.clone(), breaks.clone(), None).await?;
        assert_eq!(fetched, total, "the bare fetch sees every event");
        let sqlite = TestDb::new(Engine::Sqlite).await;
        let (_, n_sqlite, t_sqlite) = index(&world, &sqlite.url, None).await?;
        assert_eq!(n_sqlite, total);
        let (_, bare2) = bare_fetch(&world, addresses.clone(), breaks.clone(), None).await?;
        let pg_url = create_database(&pg_admin, &format!("bench_{round}")).await?;
        let (_, n_pg, t_pg) = index(&world, &pg_url, None).await?;
        assert_eq!(n_pg, total);
        let bare_rate = rate(total, bare).max(rate(total, bare2));
        let (r_sqlite, r_pg) = (rate(total, t_sqlite), rate(total, t_pg));
        println!(
            "  round {round}: bare fetch {:>9.0} events/s ({:.2} s, {:.2} s) | SQLite {:>9.0} events/s ({:.2} s) ratio {:.2} | PostgreSQL {:>9.0} events/s ({:.2} s) ratio {:.2}",
            bare_rate,
            bare.as_secs_f64(),
            bare2.as_secs_f64(),
            r_sqlite,
            t_sqlite.as_secs_f64(),
            r_sqlite / bare_rate,
            r_pg,
            t_pg.as_secs_f64(),
            r_pg / bare_rate
        );
    }
    println!("  target: indexing >= 0.5x the bare fetch rate");

    over_tls(&world, &addresses, &breaks, total).await?;
    live(&world).await?;
    Ok(())
}

fn anvil_addr(world: &World) -> TestResult<std::net::SocketAddr> {
    Ok(world.node.url().trim_start_matches("http://").parse()?)
}

/// The same SQLite index and bare fetch over plain HTTP to anvil, over plain HTTP through a
/// forwarding proxy, and over https through the same proxy terminating TLS (a certificate of a
/// CA made here): what TLS costs, told apart from the cost of the proxy's extra hop. Rounds
/// rotate the order; medians are printed.
async fn over_tls(world: &World, addresses: &[Address], breaks: &[u64], total: u64) -> TestResult {
    const ROUNDS: usize = 5;
    let upstream = anvil_addr(world)?;
    let ca = TestCa::new("PropLedger bench CA");
    let plain = TlsProxy::start_plain(upstream).await;
    let secure = TlsProxy::start(&ca, upstream).await;
    let transports = [
        Transport {
            name: "http, direct",
            url: world.node.url(),
            tls: None,
        },
        Transport {
            name: "http via proxy",
            url: plain.http_url(),
            tls: None,
        },
        Transport {
            name: "https via proxy",
            url: secure.https_url(),
            tls: Some(propledger_net::tls::client_config(&[ca.ca_file()])?),
        },
    ];
    let mut indexes = vec![Vec::new(); transports.len()];
    let mut fetches = vec![Vec::new(); transports.len()];
    for round in 0..ROUNDS {
        for k in 0..transports.len() {
            let i = (round + k) % transports.len();
            let t = &transports[i];
            let db = TestDb::new(Engine::Sqlite).await;
            let (_, n, took) = index(world, &db.url, Some(t)).await?;
            assert_eq!(n, total, "{}", t.name);
            indexes[i].push(took.as_secs_f64());
            let (n, took) = bare_fetch(world, addresses.to_vec(), breaks.to_vec(), Some(t)).await?;
            assert_eq!(n, total, "{}", t.name);
            fetches[i].push(took.as_secs_f64());
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let indexes: Vec<f64> = indexes.iter_mut().map(median).collect();
    let fetches: Vec<f64> = fetches.iter_mut().map(median).collect();
    println!(
        "over TLS: SQLite index and bare fetch of {total} events, medians of {ROUNDS} rounds:"
    );
    for (i, t) in transports.iter().enumerate() {
        println!(
            "  {:<16} index {:>9.0} events/s ({:.3} s) | bare fetch {:>9.0} events/s ({:.3} s)",
            t.name,
            total as f64 / indexes[i],
            indexes[i],
            total as f64 / fetches[i],
            fetches[i]
        );
    }
    let share = |with: f64, without: f64| 100.0 * (with - without) / with;
    println!(
        "  TLS share of index time: {:.1}% against plain HTTP through the same proxy, {:.1}% against plain HTTP direct (bare fetch: {:.1}%, {:.1}%); target < 15%",
        share(indexes[2], indexes[1]),
        share(indexes[2], indexes[0]),
        share(fetches[2], fetches[1]),
        share(fetches[2], fetches[0])
    );
    Ok(())
}

/// A new database for one index, on a server in its steady state.
///
/// A server that has been running reuses its WAL segments: a checkpoint renames the ones it no
/// longer needs into the segments ahead (at least `min_wal_size` of them). A new cluster has a
/// single segment, so a timed index on it (about 47 MB of WAL) would also create, zero-fill and
/// fsync three 16 MB files, which no running server does. So before each index a few segments
/// are filled (`pg_switch_wal`, needed on a new cluster only) and a `CHECKPOINT` recycles them
/// and the ones earlier indexes used.
async fn create_database(admin_url: &str, name: &str) -> TestResult<String> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    for _ in 0..4 {
        // A switch needs something written since the last one.
        sqlx::raw_sql(
            "SELECT pg_logical_emit_message(false, 'propledger-bench', 'steady state'); \
             SELECT pg_switch_wal()",
        )
        .execute(&mut admin)
        .await?;
    }
    sqlx::raw_sql("CHECKPOINT").execute(&mut admin).await?;
    let (base, _) = admin_url.rsplit_once('/').ok_or("url")?;
    Ok(format!("{base}/{name}"))
}

/// Follows anvil mining one block per second with 20 purchases in each; measures the lag
/// from a block's appearance to the commit of its entries.
async fn live(world: &World) -> TestResult {
    const BLOCKS: u64 = 40;
    const TXS: u64 = 20;
    let db = TestDb::new(Engine::Sqlite).await;
    let mut cfg = world.indexer_config(0);
    cfg.poll_interval = Duration::from_millis(20);
    let ledger = db.ledger().await;
    let mut indexer = Indexer::new(ledger.clone(), cfg).await?;
    indexer.sync().await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(async move { indexer.run(stop_rx).await });

    let _: serde_json::Value = world
        .provider
        .raw_request("evm_setAutomine".into(), (false,))
        .await?;
    let _: serde_json::Value = world
        .provider
        .raw_request("evm_setIntervalMining".into(), (1u64,))
        .await?;
    let start_block = world.provider.get_block_number().await?;

    // Transactions go in as fast as they are accepted: about 20 per block.
    let sender = {
        let requests: Vec<TransactionRequest> = (0..BLOCKS * TXS)
            .map(|i| world.buy_request((i % 4) as usize, 1))
            .collect();
        let provider = world.provider.clone();
        tokio::spawn(async move {
            for (i, r) in requests.into_iter().enumerate() {
                let _ = provider.send_transaction(r).await;
                if i as u64 % TXS == TXS - 1 {
                    tokio::time::sleep(Duration::from_millis(1_000)).await;
                }
            }
        })
    };

    // The watcher: when each block appears, and when the checkpoint passes it.
    let mut appeared: std::collections::BTreeMap<u64, Instant> = Default::default();
    let mut booked: std::collections::BTreeMap<u64, Instant> = Default::default();
    let mut txs_per_block = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(BLOCKS + 30);
    let last = start_block + BLOCKS;
    while booked.range(last..).next().is_none() && Instant::now() < deadline {
        let head = world.provider.get_block_number().await?;
        let now = Instant::now();
        for b in start_block + 1..=head {
            appeared.entry(b).or_insert(now);
        }
        let next = next_block(&ledger).await?;
        let now = Instant::now();
        for b in start_block + 1..next {
            booked.entry(b).or_insert(now);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for b in start_block + 1..=last {
        if let Some(block) = world.provider.get_block_by_number(b.into()).await? {
            txs_per_block.push(block.transactions.len());
        }
    }
    stop_tx.send(true)?;
    runner.await??;
    sender.abort();
    let mut lags: Vec<Duration> = appeared
        .iter()
        .filter_map(|(b, t)| booked.get(b).map(|d| d.saturating_duration_since(*t)))
        .collect();
    lags.sort();
    let pct = |p: f64| lags[((lags.len() as f64 - 1.0) * p).round() as usize];
    let busy: Vec<usize> = txs_per_block.iter().copied().filter(|n| *n > 0).collect();
    println!(
        "live: {} blocks at 1 s, {:.1} transactions per busy block; lag from block to booked entries p50 {} ms, p99 {} ms, max {} ms (target p99 <= 1000 ms)",
        lags.len(),
        busy.iter().sum::<usize>() as f64 / busy.len().max(1) as f64,
        pct(0.5).as_millis(),
        pct(0.99).as_millis(),
        lags.last().copied().unwrap_or_default().as_millis()
    );
    Ok(())
}
