//! Several indexers on one database: commits of an indexer whose view is stale are refused
//! (even with no lock at all, two indexers running side by side end with the state of one
//! fresh index), and with the chain's lock one leads while a standby waits and takes over when
//! the leader is gone.

use std::time::Duration;

use alloy::primitives::keccak256;
use alloy::providers::Provider;
use propledger_indexer::leader::lock_name;
use propledger_indexer::{Error, Indexer, Leader, run_exclusive};
use propledger_ledger::Ledger;
use tokio::sync::watch;

use crate::support::anvil::TestResult;
use crate::support::db::{Engine, TestDb, both_engines, next_block};
use crate::support::state::{assert_same, index_state};
use crate::support::world::{ChainKind, World};

const CONFIRMATIONS: u64 = 2;

both_engines!(stale_indexers_are_fenced, a_standby_takes_over);

async fn checkpoint(ledger: &Ledger) -> TestResult<u64> {
    next_block(ledger).await
}

/// Waits until the index in `ledger` has every block of the chain.
async fn caught_up(world: &World, ledger: &Ledger) -> TestResult {
    let head = world.provider.get_block_number().await?;
    while checkpoint(ledger).await? <= head {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The index in `ledger` equals a fresh index of the same chain.
async fn same_as_fresh(world: &World, engine: Engine, ledger: &Ledger, what: &str) -> TestResult {
    let shares = world.property.shares.address;
    let fresh_db = TestDb::new(engine).await;
    let mut fresh =
        Indexer::new(fresh_db.ledger().await, world.indexer_config(CONFIRMATIONS)).await?;
    fresh.sync().await?;
    let want = index_state(fresh.ledger(), shares).await?;
    assert!(
        want.events.len() > 50 && want.entries.len() > 8,
        "{what}: the fresh index holds the business"
    );
    assert_same(what, &index_state(ledger, shares).await?, &want);
    assert!(
        ledger.verifier().chain().await?.is_intact(),
        "{what}: hash chain"
    );
    Ok(())
}

async fn stale_indexers_are_fenced(engine: Engine) -> TestResult {
    let world = World::start(ChainKind::Embedded).await?;
    world.business().await?;
    let db = TestDb::new(engine).await;
    let cfg = world.indexer_config(CONFIRMATIONS);
    let mut a = Indexer::new(db.ledger().await, cfg.clone()).await?;
    let mut b = Indexer::new(db.ledger().await, cfg.clone()).await?;
    a.sync().await?;
    world.buy(0, 3).await?;
    a.sync().await?;
    let stored = checkpoint(a.ledger()).await?;

    // `b` still believes the checkpoint is where it opened it: its commit is refused whole.
    let err = b.step().await.expect_err("a stale indexer must not commit");
    assert!(
        matches!(err, Error::Superseded { expected } if expected < stored),
        "{err}"
    );
    assert!(!err.is_fatal(), "a fenced indexer reloads and goes on");
    assert_eq!(checkpoint(a.ledger()).await?, stored, "nothing moved");
    same_as_fresh(&world, engine, a.ledger(), "after a refused commit").await?;

    // Both run side by side with no lock while business goes on, through a reorg: whichever
    // commits first wins each range, the other reloads; nothing is booked twice.
    let (stop, stopped) = watch::channel(false);
    let runs = [a, b].map(|mut ix| {
        let stopped = stopped.clone();
        tokio::spawn(async move { ix.run(stopped).await })
    });
    for i in 0..12u64 {
        world.buy((i % 4) as usize, 1 + i % 3).await?;
        if i == 6 {
            world
                .reorg(2, vec![(world.deposit_request(7, keccak256("rent-7")), 1)])
                .await?;
        }
    }
    world.mine(CONFIRMATIONS).await?;
    caught_up(&world, &db.ledger().await).await?;
    // Both have seen the last head (the last one to commit, and the other after reloading).
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true)?;
    for run in runs {
        run.await??;
    }
    same_as_fresh(
        &world,
        engine,
        &db.ledger().await,
        "two indexers side by side",
    )
    .await
}

async fn a_standby_takes_over(engine: Engine) -> TestResult {
    let world = World::start(ChainKind::Embedded).await?;
    world.business().await?;
    let db = TestDb::new(engine).await;
    let cfg = world.indexer_config(CONFIRMATIONS);
    let ledger = db.ledger().await;

    let mut leader = Leader::try_acquire(&ledger, &cfg)
        .await?
        .expect("the role is free");
    let other = db.ledger().await;
    assert!(
        Leader::try_acquire(&other, &cfg).await?.is_none(),
        "one leader at a time"
    );
    assert!(
        other
            .try_lock(&lock_name(cfg.platform.chain_id))
            .await?
            .is_none()
    );
    leader.indexer().sync().await?;

    // A standby on its own connections waits for the role.
    let (stop, stopped) = watch::channel(false);
    let standby = tokio::spawn(run_exclusive(other.clone(), cfg.clone(), None, stopped));
    world.buy(1, 2).await?;
    leader.indexer().sync().await?;
    let led_to = checkpoint(&ledger).await?;

    // The leader goes away; its lock with it. Business goes on and the standby picks it up
    // from the stored checkpoint.
    drop(leader);
    world.buy(2, 4).await?;
    world.deposit(12, keccak256("rent-after-failover")).await?;
    world.mine(CONFIRMATIONS).await?;
    caught_up(&world, &ledger).await?;
    assert!(checkpoint(&ledger).await? > led_to);
    stop.send(true)?;
    standby.await??;
    same_as_fresh(&world, engine, &ledger, "after the standby took over").await?;

    // The standby's role ended with its run: the lock is free again.
    assert!(
        other
            .try_lock(&lock_name(cfg.platform.chain_id))
            .await?
            .is_some()
    );
    Ok(())
}
