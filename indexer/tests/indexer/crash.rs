//! Crash safety: the indexer runs in a child process (this test binary, running the ignored
//! test `crash::child`) and is killed with SIGKILL at seeded random moments, more than 50 times,
//! while it backfills and follows a chain that keeps growing; each restart resumes from the
//! checkpoint. The final state equals that of an index that was never interrupted.
//!
//! Most kills are timed from the moment the child says its indexer is set up (connected,
//! migrated, checkpoint read), so they land while it indexes however long a loaded machine
//! takes to start a process; every fourth is timed from the spawn and may land in the set-up.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::keccak256;
use propledger_contracts::deploy::Platform;
use propledger_indexer::Indexer;
use propledger_indexer::source::SourceConfig;

use crate::support::anvil::TestResult;
use crate::support::db::{Engine, TestDb, next_block};
use crate::support::state::{assert_same, index_state};
use crate::support::world::{ChainKind, World};

const KILLS: u32 = 60;
const CONFIRMATIONS: u64 = 2;
const WINDOW: u64 = 16;

/// The configuration the child reads from its environment.
fn child_config(url: &str, platform: Platform) -> propledger_indexer::IndexerConfig {
    let mut cfg = propledger_indexer::IndexerConfig::new(SourceConfig::new(url), platform);
    cfg.confirmations = CONFIRMATIONS;
    cfg.reorg_window = WINDOW;
    // Small commits and batches: many commit boundaries to be killed around.
    cfg.max_events_per_commit = 3;
    cfg.follow_batch = 2;
    cfg.poll_interval = Duration::from_millis(10);
    cfg.source.initial_range = 8;
    cfg.source.max_range = 8;
    cfg
}

/// The indexer as a child process; it runs until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the crash tests as their child process"]
async fn child() -> TestResult {
    let url = std::env::var("PROPLEDGER_CRASH_RPC")?;
    let db = std::env::var("PROPLEDGER_CRASH_DB")?;
    let platform: Platform = serde_json::from_str(&std::env::var("PROPLEDGER_CRASH_PLATFORM")?)?;
    let ledger = propledger_ledger::Ledger::connect(&db).await?;
    let mut indexer = Indexer::new(ledger, child_config(&url, platform)).await?;
    std::fs::write(std::env::var("PROPLEDGER_CRASH_READY")?, b"")?;
    let (_stop, rx) = tokio::sync::watch::channel(false);
    indexer.run(rx).await?;
    Ok(())
}

fn spawn_child(world: &World, db: &TestDb, ready: &Path) -> TestResult<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args([
            "crash::child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PROPLEDGER_CRASH_RPC", world.node.url())
        .env("PROPLEDGER_CRASH_DB", &db.url)
        .env("PROPLEDGER_CRASH_READY", ready)
        .env(
            "PROPLEDGER_CRASH_PLATFORM",
            serde_json::to_string(&world.platform)?,
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

/// Waits until the child has written its `ready` marker.
async fn wait_ready(child: &mut Child, ready: &Path) -> TestResult {
    // Only a hung child would take this long.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready.exists() {
        if let Some(status) = child.try_wait()? {
            return Err(format!("the child exited ({status}) before it was set up").into());
        }
        if Instant::now() > deadline {
            return Err("the child was never set up".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// A small deterministic generator (xorshift), so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

async fn checkpoint(db: &TestDb) -> TestResult<i64> {
    let ledger = db.ledger().await;
    // Before the indexer's first start there are no tables yet: 0.
    let n = i64::try_from(next_block(&ledger).await.unwrap_or(0))?;
    ledger.close().await;
    Ok(n)
}

async fn killed_and_restarted(engine: Engine) -> TestResult {
    let seed = std::env::var("PROPLEDGER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1dec_u64);
    let mut rng = Rng(seed);
    let world = World::start(ChainKind::Anvil).await?;
    world.business().await?;
    for i in 0..120u64 {
        world.buy((i % 4) as usize, 1 + i % 5).await?;
    }
    let db = TestDb::new(engine).await;
    let markers = tempfile::tempdir()?;
    let mut checkpoints = Vec::new();
    for k in 0..KILLS {
        // The chain keeps growing, so later restarts follow the head rather than backfill.
        world.buy((k % 4) as usize, 2).await?;
        if k % 3 == 0 {
            world.deposit(5, keccak256(format!("crash-{k}"))).await?;
        }
        let ready = markers.path().join(format!("ready-{k}"));
        let mut child = spawn_child(&world, &db, &ready)?;
        if k % 4 != 0 {
            wait_ready(&mut child, &ready).await?;
        }
        let delay = 10 + rng.next() % 150;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill()?;
        child.wait()?;
        checkpoints.push(checkpoint(&db).await?);
    }
    eprintln!("checkpoint after each kill (seed {seed:#x}): {checkpoints:?}");
    // A last run to the end, uninterrupted, in this process.
    let cfg = child_config(&world.node.url(), world.platform.clone());
    let mut indexer = Indexer::new(db.ledger().await, cfg.clone()).await?;
    indexer.sync().await?;
    let shares = world.property.shares.address;
    let got = index_state(indexer.ledger(), shares).await?;

    let reference_db = TestDb::new(engine).await;
    let mut reference = Indexer::new(reference_db.ledger().await, cfg).await?;
    reference.sync().await?;
    let want = index_state(reference.ledger(), shares).await?;
    assert_same(
        &format!("after {KILLS} kills (seed {seed:#x})"),
        &got,
        &want,
    );
    assert!(
        indexer.ledger().verifier().chain().await?.is_intact(),
        "hash chain"
    );
    // The kills landed at many different points of the work, not all after it.
    let mut distinct = checkpoints.clone();
    distinct.dedup();
    assert!(
        distinct.len() >= 15,
        "kills landed at too few checkpoints: {checkpoints:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_sqlite() -> TestResult {
    tokio::time::timeout(
        Duration::from_secs(240),
        killed_and_restarted(Engine::Sqlite),
    )
    .await
    .map_err(|_| "crash test timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_postgres() -> TestResult {
    tokio::time::timeout(
        Duration::from_secs(240),
        killed_and_restarted(Engine::Postgres),
    )
    .await
    .map_err(|_| "crash test timed out")?
}
