//! The indexer's commits against the ledger's limit on one unit of work
//! ([`MAX_UNIT_ENTRIES`] entries): a range holding more booking events than one unit takes is
//! committed in several, and a block that alone holds more is a fatal error that `run` returns
//! at once instead of retrying the same range forever.
//!
//! The booking events come from a log emitter registered as a property's treasury: one call
//! emits any number of treasury `Deposited` events (each a direct deposit, which makes an
//! entry), far cheaper than real deposits.

use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256, hex};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolEvent;
use propledger_contracts::{PropertyDirectory, PropertyTreasury};
use propledger_indexer::{Error, Indexer};
use propledger_ledger::unit::MAX_UNIT_ENTRIES;

use crate::support::anvil::TestResult;
use crate::support::db::{Engine, TestDb, both_engines, select};
use crate::support::world::{ChainKind, World, mined};

both_engines!(a_range_with_more_booking_events_than_one_unit_takes_is_committed);

/// Runtime code that, called with a 32-byte `n`, emits `n` treasury
/// `Deposited(from = i + 1, amount = 1, kind = 0, ref = 0)` logs:
/// `mem[0] = 1; for i in 0..n { LOG3(0, 64, DEPOSITED, i + 1, 0) }`.
fn deposits_runtime() -> Vec<u8> {
    let mut code = hex::decode("600160005260003560005b818110156044576000816001017f").unwrap();
    code.extend_from_slice(PropertyTreasury::Deposited::SIGNATURE_HASH.as_slice());
    code.extend(hex::decode("60406000a3600101600a565b00").unwrap());
    assert_eq!(code.len(), 0x46);
    code
}

/// A world whose property 3 has the emitter as its treasury; returns the emitter.
async fn with_emitter(world: &World) -> TestResult<Address> {
    let mut init = hex::decode("604680600b6000396000f3")?;
    init.extend(deposits_runtime());
    let deploy = TransactionRequest::default()
        .with_from(world.admin)
        .with_deploy_code(Bytes::from(init))
        .with_gas_limit(1_000_000);
    let emitter = world
        .send(deploy)
        .await?
        .contract_address
        .ok_or("no emitter address")?;
    let directory = PropertyDirectory::new(world.platform.directory.address, &world.provider);
    mined(
        directory
            .registerProperty(
                U256::from(3u8),
                Address::repeat_byte(0xd1),
                Address::repeat_byte(0xd2),
                emitter,
                Address::repeat_byte(0xd3),
            )
            .from(world.admin)
            .send()
            .await?
            .get_receipt()
            .await?,
    )?;
    Ok(emitter)
}

/// Emits `n` deposits in one transaction (one block).
async fn emit(world: &World, emitter: Address, n: u64) -> TestResult {
    let call = world.request(
        world.admin,
        emitter,
        Bytes::from(U256::from(n).to_be_bytes::<32>().to_vec()),
    );
    let receipt = world.send(call.with_gas_limit(29_000_000)).await?;
    assert_eq!(receipt.inner.logs().len() as u64, n);
    Ok(())
}

async fn bookings(indexer: &Indexer) -> TestResult<i64> {
    let n: Vec<(i64,)> = select(indexer.ledger(), "SELECT COUNT(*) FROM idx_bookings").await?;
    Ok(n[0].0)
}

async fn a_range_with_more_booking_events_than_one_unit_takes_is_committed(
    engine: Engine,
) -> TestResult {
    let world = World::start(ChainKind::Anvil).await?;
    let emitter = with_emitter(&world).await?;
    // Six blocks of 1,800 booking events: more than one unit takes, and all within the reorg
    // window, so that following would read them as one range.
    let per_block = 1_800u64;
    for _ in 0..6 {
        emit(&world, emitter, per_block).await?;
    }
    let total = 6 * per_block;
    assert!(total as usize > MAX_UNIT_ENTRIES);
    let db = TestDb::new(engine).await;
    let ledger = db.ledger().await;
    let mut indexer = Indexer::new(ledger.clone(), world.indexer_config(0)).await?;
    indexer.sync().await?;
    assert_eq!(bookings(&indexer).await?, total as i64);
    let chain = ledger.verifier().chain().await?;
    assert!(chain.is_intact(), "{chain:?}");
    assert_eq!(chain.entries_checked, total);
    let cash = indexer.chart_account("3", propledger_ledger::core::chart::codes::TREASURY_CASH)?;
    let balance = ledger.accounts().balance(cash, None).await?;
    assert_eq!(
        balance.posted()?.value(),
        rust_decimal::Decimal::new(total as i64, 6),
        "every deposit of one base unit is booked once"
    );

    // A block whose events alone make more entries than one unit takes cannot be committed:
    // `run` returns that at once, as fatal, rather than trying the same block again and again.
    emit(&world, emitter, MAX_UNIT_ENTRIES as u64 + 1).await?;
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let outcome = tokio::time::timeout(Duration::from_secs(60), indexer.run(stop))
        .await
        .map_err(|_| "run kept retrying a block it can never commit")?;
    match outcome {
        Err(e @ Error::BlockTooLarge { entries, max, .. }) => {
            assert_eq!((entries, max), (MAX_UNIT_ENTRIES + 1, MAX_UNIT_ENTRIES));
            assert!(e.is_fatal());
        }
        other => panic!("expected the block to be refused as too large, got {other:?}"),
    }
    // Nothing of it was committed.
    assert_eq!(bookings(&indexer).await?, total as i64);
    Ok(())
}
