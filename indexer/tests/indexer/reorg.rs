//! Reorgs on anvil and on the embedded chain, with the index in SQLite and in PostgreSQL: after
//! each, the events, the live entries, every balance, the watched contracts and the cap table
//! equal those of a fresh index of the final chain, and the cap table agrees with `balanceOf`.

use alloy::primitives::keccak256;
use propledger_indexer::Indexer;
use propledger_indexer::audit::{cap_table, check_cap_table};

use crate::support::anvil::{TestResult, within};
use crate::support::db::{Engine, TestDb};
use crate::support::state::{assert_same, index_state};
use crate::support::world::{ChainKind, World};

/// Confirmations in these tests: a reorg of depth 1 meets pending entries, deeper ones meet
/// posted entries (which are reversed).
const CONFIRMATIONS: u64 = 2;

/// Every scenario on both chains and both engines.
macro_rules! matrix {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn anvil_sqlite() -> TestResult {
                within(super::$name(ChainKind::Anvil, Engine::Sqlite)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn anvil_postgres() -> TestResult {
                within(super::$name(ChainKind::Anvil, Engine::Postgres)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded_sqlite() -> TestResult {
                within(super::$name(ChainKind::Embedded, Engine::Sqlite)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded_postgres() -> TestResult {
                within(super::$name(ChainKind::Embedded, Engine::Postgres)).await
            }
        }
    )*};
}

matrix!(
    depth_1,
    depth_3,
    depth_64,
    dropped_purchase,
    two_in_a_row,
    snapshot_and_revert,
    across_restart,
);

/// A world with business done, and an indexer caught up with it.
struct Run {
    world: World,
    engine: Engine,
    _db: TestDb,
    indexer: Indexer,
}

async fn start(chain: ChainKind, engine: Engine) -> TestResult<Run> {
    let world = World::start(chain).await?;
    world.business().await?;
    let db = TestDb::new(engine).await;
    let mut indexer = Indexer::new(db.ledger().await, world.indexer_config(CONFIRMATIONS)).await?;
    indexer.sync().await?;
    Ok(Run {
        world,
        engine,
        _db: db,
        indexer,
    })
}

/// Catches the indexer up and compares it with a fresh index of the same chain.
async fn check(run: &mut Run, what: &str) -> TestResult {
    run.indexer.sync().await?;
    let shares = run.world.property.shares.address;
    let got = index_state(run.indexer.ledger(), shares).await?;
    let fresh_db = TestDb::new(run.engine).await;
    let mut fresh = Indexer::new(
        fresh_db.ledger().await,
        run.world.indexer_config(CONFIRMATIONS),
    )
    .await?;
    fresh.sync().await?;
    let want = index_state(fresh.ledger(), shares).await?;
    assert!(
        want.events.len() > 50 && want.entries.len() > 8 && want.cap_table.len() > 3,
        "{what}: the fresh index holds the business: {want:?}"
    );
    assert_same(what, &got, &want);
    let head = run.indexer.next_block() - 1;
    let table = cap_table(run.indexer.ledger(), shares, head).await?;
    assert!(
        check_cap_table(run.indexer.source(), &table)
            .await?
            .is_empty(),
        "{what}: cap table differs from balanceOf"
    );
    let report = run.indexer.reconcile(head).await?;
    for b in &report.balances {
        assert!(b.difference().is_zero(), "{what}: {b:?}");
    }
    assert!(
        report.cap_tables.is_empty(),
        "{what}: {:?}",
        report.cap_tables
    );
    assert!(
        run.indexer.ledger().verifier().chain().await?.is_intact(),
        "{what}: hash chain"
    );
    Ok(())
}

async fn entries(run: &Run) -> TestResult<usize> {
    Ok(
        index_state(run.indexer.ledger(), run.world.property.shares.address)
            .await?
            .entries
            .len(),
    )
}

async fn depth_1(chain: ChainKind, engine: Engine) -> TestResult {
    let mut run = start(chain, engine).await?;
    run.world.buy(0, 3).await?;
    run.indexer.sync().await?;
    run.world.reorg(1, vec![]).await?;
    run.world.mine(1).await?;
    check(&mut run, "depth 1").await
}

async fn depth_3(chain: ChainKind, engine: Engine) -> TestResult {
    let mut run = start(chain, engine).await?;
    run.world.buy(1, 4).await?;
    run.world.deposit(25, keccak256("late-rent")).await?;
    run.world.buy(2, 5).await?;
    run.indexer.sync().await?;
    let replacement = vec![(run.world.buy_request(3, 6), 1)];
    run.world.reorg(3, replacement).await?;
    check(&mut run, "depth 3").await
}

async fn depth_64(chain: ChainKind, engine: Engine) -> TestResult {
    let mut run = start(chain, engine).await?;
    for i in 0..64u64 {
        run.world.buy((i % 4) as usize, 1 + i % 3).await?;
    }
    run.indexer.sync().await?;
    let replacement = vec![
        (run.world.buy_request(0, 9), 0),
        (run.world.deposit_request(33, keccak256("reorged-rent")), 10),
        (run.world.buy_request(2, 2), 63),
    ];
    run.world.reorg(64, replacement).await?;
    check(&mut run, "depth 64").await
}

async fn dropped_purchase(chain: ChainKind, engine: Engine) -> TestResult {
    let mut run = start(chain, engine).await?;
    let before = entries(&run).await?;
    run.world.buy(3, 8).await?;
    run.indexer.sync().await?;
    assert_eq!(entries(&run).await?, before + 1, "the purchase is booked");
    run.world.reorg(1, vec![]).await?;
    run.indexer.sync().await?;
    assert_eq!(
        entries(&run).await?,
        before,
        "the dropped purchase is retracted"
    );
    check(&mut run, "dropped purchase").await
}

async fn two_in_a_row(chain: ChainKind, engine: Engine) -> TestResult {
    let mut run = start(chain, engine).await?;
    run.world.buy(0, 2).await?;
    run.world.buy(1, 2).await?;
    run.indexer.sync().await?;
    run.world
        .reorg(2, vec![(run.world.deposit_request(10, keccak256("a")), 0)])
        .await?;
    run.indexer.sync().await?;
    run.world
        .reorg(3, vec![(run.world.buy_request(2, 1), 2)])
        .await?;
    run.indexer.sync().await?;
    // And two before the indexer looks.
    run.world.reorg(1, vec![]).await?;
    run.world
        .reorg(2, vec![(run.world.deposit_request(11, keccak256("b")), 1)])
        .await?;
    check(&mut run, "two reorgs in a row").await
}

async fn snapshot_and_revert(chain: ChainKind, engine: Engine) -> TestResult {
    let mut run = start(chain, engine).await?;
    let snapshot = run.world.snapshot().await?;
    run.world.buy(0, 4).await?;
    run.world.buy(1, 4).await?;
    run.world.buy(2, 4).await?;
    run.indexer.sync().await?;
    run.world.revert(snapshot).await?;
    // A shorter branch first: the indexer rolls back while the chain is shorter than what it
    // indexed. Entries it had posted under the longer chain stay posted; once the new chain is
    // as many confirmations long, a fresh index posts them too.
    let before = run.indexer.next_block();
    run.indexer.sync().await?;
    assert!(
        run.indexer.next_block() < before,
        "rolled back to the shorter chain"
    );
    run.world.mine(CONFIRMATIONS).await?;
    check(&mut run, "after revert, shorter branch").await?;
    run.world.buy(3, 1).await?;
    check(&mut run, "after revert, new branch").await
}

async fn across_restart(chain: ChainKind, engine: Engine) -> TestResult {
    let mut run = start(chain, engine).await?;
    run.world.buy(0, 5).await?;
    run.world.buy(1, 6).await?;
    run.indexer.sync().await?;
    let ledger = run.indexer.ledger().clone();
    let cfg = run.world.indexer_config(CONFIRMATIONS);
    run.world
        .reorg(2, vec![(run.world.buy_request(2, 7), 1)])
        .await?;
    // The indexer that saw the old branch is gone; a new one starts on the same database.
    run.indexer = Indexer::new(ledger, cfg).await?;
    check(&mut run, "reorg across a restart").await
}
