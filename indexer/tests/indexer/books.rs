//! What the indexer books and how the books are checked: the entries each event makes,
//! reconciliation against chain state (clean when the books are right; an off-chain mistake,
//! an unbooked chain movement, and unmatched or differing items when not), contracts
//! registered while the indexer runs, and indexing through a faulty provider.

use alloy::primitives::{Address, U256, keccak256};
use alloy::providers::Provider;
use chrono::NaiveDate;
use propledger_contracts::{
    Distributor, IdentityRegistry, PropertyShares, PropertyTreasury, TestStablecoin,
};
use propledger_indexer::follow::property_dim;
use propledger_indexer::source::SourceConfig;
use propledger_indexer::{Indexer, Step};
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{Amount, EntryDraft, IdempotencyKey, Source};
use rust_decimal::Decimal;
use std::time::Duration;

use crate::support::anvil::TestResult;
use crate::support::db::{Engine, TestDb, both_engines, events as stored_events, select};
use crate::support::fault_proxy::{Fault, FaultPlan, FaultProxy, RangeStyle};
use crate::support::state::{assert_same, index_state};
use crate::support::world::{ChainKind, PRICE, World, mined, usd};

both_engines!(
    stored_events_are_the_chain_logs,
    events_make_the_expected_entries,
    withheld_recovered_and_swept_payouts_keep_the_books_reconciled,
    reconciliation_is_clean_when_the_books_are_right,
    reconciliation_finds_mistakes,
    contracts_registered_later_are_picked_up,
    a_property_launched_under_a_uuid_sized_id_is_indexed,
    one_backfill_pass_reads_through_registrations,
    faults_and_range_limits_skip_nothing,
    an_older_index_watches_the_market_from_its_next_block,
);

async fn indexed(engine: Engine) -> TestResult<(World, TestDb, Indexer)> {
    let world = World::start(ChainKind::Embedded).await?;
    world.business().await?;
    let db = TestDb::new(engine).await;
    let mut indexer = Indexer::new(db.ledger().await, world.indexer_config(0)).await?;
    indexer.sync().await?;
    Ok((world, db, indexer))
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

async fn balance(indexer: &Indexer, code: &str) -> TestResult<Decimal> {
    let id = indexer.chart_account("1", code)?;
    let b = indexer.ledger().accounts().balance(id, None).await?;
    Ok(b.with_pending()?.value())
}

async fn stored_events_are_the_chain_logs(engine: Engine) -> TestResult {
    let (world, _db, indexer) = indexed(engine).await?;
    let head = world.provider.get_block_number().await?;
    let kinds: std::collections::HashMap<Address, String> =
        select::<(Vec<u8>, String)>(indexer.ledger(), "SELECT address, kind FROM idx_contracts")
            .await?
            .into_iter()
            .map(|(a, kind)| Ok((Address::try_from(a.as_slice())?, kind)))
            .collect::<TestResult<_>>()?;
    let logs = indexer
        .source()
        .logs(world.platform.start_block(), head, &indexer.watched())
        .await?;
    let stored = stored_events(indexer.ledger()).await?;
    assert_eq!(stored.len(), logs.len());
    assert!(
        logs.iter().any(|l| l.data.is_empty()),
        "some events carry no data (the deed's transfers)"
    );
    for (row, log) in stored.iter().zip(&logs) {
        let kind =
            propledger_indexer::decode::ContractKind::parse(&kinds[&log.address]).ok_or("kind")?;
        let decoded = propledger_indexer::decode::decode(kind, log);
        let topics: Vec<u8> = log.topics.iter().flat_map(|t| t.to_vec()).collect();
        let at = format!("log {}/{}", log.block_number, log.log_index);
        assert_eq!(row.0, i64::try_from(log.block_number)?, "{at}");
        assert_eq!(row.1, i64::try_from(log.log_index)?, "{at}");
        assert_eq!(row.2, log.block_hash.to_vec(), "{at}");
        assert_eq!(row.3, log.tx_hash.to_vec(), "{at}");
        assert_eq!(row.4, i64::try_from(log.tx_index)?, "{at}");
        assert_eq!(row.5, log.address.to_vec(), "{at}");
        assert_eq!(row.6, topics, "{at}");
        assert_eq!(row.7, log.data.to_vec(), "{at}");
        assert_eq!(row.8, kind.as_str(), "{at}");
        assert_eq!(row.9, decoded.name, "{at}");
        assert_eq!(row.10, decoded.json, "{at}");
        assert_ne!(decoded.name, "unknown", "{at}");
    }
    Ok(())
}

async fn events_make_the_expected_entries(engine: Engine) -> TestResult {
    let (world, _db, indexer) = indexed(engine).await?;
    // Purchases of 10, 11, 12 and 13 shares at $50; a $1,000 deposit; draws of $700 and $300;
    // a $200 distribution, two of four holders' payouts claimed.
    let raised = Decimal::from((10 + 11 + 12 + 13) * PRICE);
    let treasury = raised + dec("1000") - dec("700") - dec("300") - dec("200");
    assert_eq!(balance(&indexer, codes::TREASURY_CASH).await?, treasury);
    // Balances are on each account's normal side.
    assert_eq!(balance(&indexer, codes::OTHER_INCOME).await?, dec("1000"));
    assert_eq!(balance(&indexer, codes::DISTRIBUTIONS).await?, dec("-200"));
    let payable = balance(&indexer, codes::DISTRIBUTIONS_PAYABLE).await?;
    assert_eq!(balance(&indexer, codes::DISTRIBUTOR_CASH).await?, payable);
    assert!(
        payable > Decimal::ZERO && payable < dec("200"),
        "part is still payable"
    );

    // One capital account per investor (the registry's id, not the wallet), one improvements
    // account per budget line. The forced transfer of 2 of investor 0's 10 shares carried a
    // fifth of its $500 to investor 1.
    let accounts = indexer
        .ledger()
        .accounts()
        .list(&propledger_ledger::account::AccountFilter {
            property: Some(property_dim("1")?),
            ..Default::default()
        })
        .await?;
    let capital: Vec<_> = accounts
        .iter()
        .filter(|a| a.code.as_str() == codes::INVESTOR_CAPITAL && a.dimensions.investor.is_some())
        .collect();
    assert_eq!(
        capital.len(),
        world.investors.len(),
        "one account per investor"
    );
    for (i, expected) in ["400", "650", "600", "650"].into_iter().enumerate() {
        let id = alloy::hex::encode(alloy::primitives::keccak256(format!("investor:{i}")));
        let account = capital
            .iter()
            .find(|a| a.dimensions.investor.as_ref().map(|d| d.as_str()) == Some(id.as_str()))
            .ok_or("capital account")?;
        let b = indexer
            .ledger()
            .accounts()
            .balance(account.id, None)
            .await?;
        assert_eq!(b.posted()?.value(), dec(expected), "investor {i}'s capital");
    }
    let lines = accounts
        .iter()
        .filter(|a| {
            a.code.as_str() == codes::CAPITALIZED_IMPROVEMENTS && a.dimensions.budget_line.is_some()
        })
        .count();
    assert_eq!(lines, 2, "roof and kitchen");

    // Every entry is posted (no confirmations on this chain) and the hash chain holds.
    let state = index_state(indexer.ledger(), world.property.shares.address).await?;
    assert!(
        state.entries.iter().all(|e| e.contains(" posted ")),
        "{:?}",
        state.entries
    );
    assert!(indexer.ledger().verifier().chain().await?.is_intact());
    Ok(())
}

/// A distribution whose payouts take every path: one withheld for a frozen holder and paid after
/// the unfreeze, one paid to the wallet a lost one was recovered to, and the rest swept back to the
/// treasury. Treasury and distributor cash in the books stay equal to the chain's, and the sweep
/// is booked once.
async fn withheld_recovered_and_swept_payouts_keep_the_books_reconciled(
    engine: Engine,
) -> TestResult {
    let world = World::start(ChainKind::Embedded).await?;
    world.business().await?;
    let treasury = PropertyTreasury::new(world.property.treasury.address, &world.provider);
    let distributor = Distributor::new(world.property.distributor.address, &world.provider);
    let shares_token = PropertyShares::new(world.property.shares.address, &world.provider);
    let registry = IdentityRegistry::new(world.platform.identity_registry.address, &world.provider);
    let (frozen, lost) = (world.investors[2], world.investors[3]);
    let recovered = crate::support::world::dev_key(5).address();
    let send = async |call: alloy::rpc::types::TransactionRequest| world.send(call).await;
    let now = crate::support::world::latest_timestamp(&world.provider).await?;
    send(
        treasury
            .fundDistribution(usd(300), now + 3600, keccak256("dist-2"))
            .from(world.admin)
            .into_transaction_request(),
    )
    .await?;
    let id = distributor.distributionCount().call().await? - U256::from(1u8);

    // The frozen holder's claim is withheld; the lost wallet's payout goes to its new wallet.
    send(
        shares_token
            .setAddressFrozen(frozen, true)
            .from(world.admin)
            .into_transaction_request(),
    )
    .await?;
    send(
        distributor
            .claimFor(id, frozen)
            .from(world.admin)
            .into_transaction_request(),
    )
    .await?;
    send(
        registry
            .addWallet(recovered, keccak256("investor:3"))
            .from(world.admin)
            .into_transaction_request(),
    )
    .await?;
    send(
        shares_token
            .recoverWallet(lost, recovered)
            .from(world.admin)
            .into_transaction_request(),
    )
    .await?;
    let token = TestStablecoin::new(world.platform.settlement_token, &world.provider);
    let before = token.balanceOf(recovered).call().await?;
    send(
        distributor
            .claimFor(id, lost)
            .from(world.admin)
            .into_transaction_request(),
    )
    .await?;
    let paid = token.balanceOf(recovered).call().await? - before;
    assert!(!paid.is_zero(), "the recovered wallet was paid");

    // Past the deadline the rest is swept back; the withheld payout stays, and is paid later.
    let _: serde_json::Value = world
        .provider
        .raw_request("evm_increaseTime".into(), (3601u64,))
        .await?;
    world.mine(1).await?;
    for swept in [id - U256::from(1u8), id] {
        send(
            distributor
                .sweep(swept)
                .from(world.admin)
                .into_transaction_request(),
        )
        .await?;
    }
    send(
        shares_token
            .setAddressFrozen(frozen, false)
            .from(world.admin)
            .into_transaction_request(),
    )
    .await?;
    send(
        distributor
            .claimFor(id, frozen)
            .from(world.admin)
            .into_transaction_request(),
    )
    .await?;

    let db = TestDb::new(engine).await;
    let mut indexer = Indexer::new(db.ledger().await, world.indexer_config(0)).await?;
    indexer.sync().await?;
    let report = indexer.reconcile(indexer.next_block() - 1).await?;
    for line in &report.balances {
        assert!(line.difference().is_zero(), "{line:?}");
    }
    assert!(report.cap_tables.is_empty(), "{:?}", report.cap_tables);
    // Both distributions (the business's and this one) are swept or paid: nothing is payable and
    // the distributor holds nothing.
    assert_eq!(
        balance(&indexer, codes::DISTRIBUTOR_CASH).await?,
        Decimal::ZERO
    );
    assert_eq!(
        balance(&indexer, codes::DISTRIBUTIONS_PAYABLE).await?,
        Decimal::ZERO
    );
    Ok(())
}

/// An operator's memo entry carrying a chain reference; it touches no on-chain account.
async fn operator_item(indexer: &Indexer, key: &str, reference: &str, dollars: &str) -> TestResult {
    let currency = indexer.currency();
    let amount = Amount::parse(dollars, currency)?;
    let draft = EntryDraft::builder(
        IdempotencyKey::parse(key)?,
        NaiveDate::from_ymd_opt(2026, 11, 1).ok_or("date")?,
        Source::operator(reference)?,
    )
    .description("operator item")
    .debit(indexer.chart_account("1", codes::RECEIVABLES)?, amount)
    .credit(indexer.chart_account("1", codes::ACCOUNTS_PAYABLE)?, amount)
    .build()?;
    indexer.ledger().entries().record(draft).await?;
    Ok(())
}

fn reference(label: &str) -> String {
    format!("{:#x}", keccak256(label))
}

async fn reconciliation_is_clean_when_the_books_are_right(engine: Engine) -> TestResult {
    let (_world, _db, indexer) = indexed(engine).await?;
    for (key, label, dollars) in [
        ("op-rent", "rent-2026-10", "1000"),
        ("op-inv-1", "invoice-1", "700"),
        ("op-inv-2", "invoice-2", "300"),
        ("op-dist-1", "dist-1", "200"),
    ] {
        operator_item(&indexer, key, &reference(label), dollars).await?;
    }
    let report = indexer.reconcile(indexer.next_block() - 1).await?;
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.matched.len(), 4);
    assert_eq!(report.balances.len(), 2, "treasury and distributor cash");
    Ok(())
}

async fn reconciliation_finds_mistakes(engine: Engine) -> TestResult {
    let (world, _db, mut indexer) = indexed(engine).await?;
    operator_item(&indexer, "op-rent", &reference("rent-2026-10"), "1000").await?;
    operator_item(&indexer, "op-inv-1", &reference("invoice-1"), "700").await?;
    // Booked with the wrong amount.
    operator_item(&indexer, "op-inv-2", &reference("invoice-2"), "350").await?;
    // An invoice that was never paid on chain.
    operator_item(&indexer, "op-inv-9", &reference("invoice-9"), "90").await?;
    // The distribution's reference has no operator item.
    // An off-chain mistake: $40 booked out of the treasury's on-chain cash by hand.
    let currency = indexer.currency();
    let amount = Amount::parse("40", currency)?;
    indexer
        .ledger()
        .entries()
        .record(
            EntryDraft::builder(
                IdempotencyKey::parse("op-mistake")?,
                NaiveDate::from_ymd_opt(2026, 11, 2).ok_or("date")?,
                Source::operator("bank-statement-7")?,
            )
            .debit(indexer.chart_account("1", codes::REPAIRS)?, amount)
            .credit(indexer.chart_account("1", codes::TREASURY_CASH)?, amount)
            .build()?,
        )
        .await?;
    // A chain movement no event books: $15 sent to the treasury by a plain token transfer.
    let token = TestStablecoin::new(world.platform.settlement_token, &world.provider);
    mined(
        token
            .transfer(world.property.treasury.address, usd(15))
            .from(world.admin)
            .send()
            .await?
            .get_receipt()
            .await?,
    )?;
    indexer.sync().await?;

    let report = indexer.reconcile(indexer.next_block() - 1).await?;
    assert!(!report.is_clean());
    let treasury = report
        .balances
        .iter()
        .find(|b| b.what == "treasury cash")
        .ok_or("treasury line")?;
    assert_eq!(treasury.difference(), dec("-55"), "{treasury:?}");
    let distributor = report
        .balances
        .iter()
        .find(|b| b.what == "distributor cash")
        .ok_or("distributor line")?;
    assert!(distributor.difference().is_zero());
    assert_eq!(report.matched.len(), 2);
    assert_eq!(report.amount_differences.len(), 1);
    assert_eq!(report.amount_differences[0].chain.amount, dec("300"));
    assert_eq!(report.amount_differences[0].books.amount, dec("350"));
    assert_eq!(
        report
            .unmatched_on_chain
            .iter()
            .map(|i| i.reference.clone())
            .collect::<Vec<_>>(),
        vec![reference("invoice-9")]
    );
    assert_eq!(
        report
            .unmatched_in_books
            .iter()
            .map(|i| i.reference.clone())
            .collect::<Vec<_>>(),
        vec![reference("dist-1")]
    );
    // At a block before the transfer, the chain side differs only by the mistake.
    let earlier = indexer.reconcile(indexer.next_block() - 2).await?;
    let treasury = earlier
        .balances
        .iter()
        .find(|b| b.what == "treasury cash")
        .ok_or("treasury line")?;
    assert_eq!(treasury.difference(), dec("-40"));
    Ok(())
}

/// A second property (id 2), launched now.
async fn second_property(
    world: &World,
) -> TestResult<propledger_contracts::launch::PropertyDeployment> {
    let start = crate::support::world::latest_timestamp(&world.provider).await?;
    Ok(propledger_contracts::launch::launch_property(
        &world.provider,
        &world.platform,
        &crate::support::world::property_params(2, "Oak Ave Shares", "OAK", start),
    )
    .await?)
}

async fn contracts_registered_later_are_picked_up(engine: Engine) -> TestResult {
    let (world, _db, mut indexer) = indexed(engine).await?;
    let watched = indexer.watched().len();
    // A second property, launched while the indexer runs.
    let second = second_property(&world).await?;
    indexer.sync().await?;
    assert_eq!(
        indexer.watched().len(),
        watched + 5,
        "shares, compliance, treasury, distributor, offering"
    );
    let offering =
        propledger_contracts::ShareOffering::new(second.offering.address, &world.provider);
    let token = TestStablecoin::new(world.platform.settlement_token, &world.provider);
    mined(
        token
            .approve(second.offering.address, U256::MAX)
            .from(world.investors[0])
            .send()
            .await?
            .get_receipt()
            .await?,
    )?;
    mined(
        offering
            .buy(crate::support::world::shares(3))
            .from(world.investors[0])
            .send()
            .await?
            .get_receipt()
            .await?,
    )?;
    indexer.sync().await?;
    let id = second.property_id.to_string();
    let cash = indexer.chart_account(&id, codes::TREASURY_CASH)?;
    let b = indexer.ledger().accounts().balance(cash, None).await?;
    assert_eq!(b.posted()?.value(), Decimal::from(3 * PRICE));
    // The same as an index started after the second property existed.
    let fresh_db = TestDb::new(engine).await;
    let mut fresh = Indexer::new(fresh_db.ledger().await, world.indexer_config(0)).await?;
    fresh.sync().await?;
    for shares in [world.property.shares.address, second.shares.address] {
        assert_same(
            "second property",
            &index_state(indexer.ledger(), shares).await?,
            &index_state(fresh.ledger(), shares).await?,
        );
    }
    Ok(())
}

/// The API launches properties under ids made from UUIDs (up to 39 decimal digits): the
/// launch's contracts are watched from its block under that id, and its books open under it.
async fn a_property_launched_under_a_uuid_sized_id_is_indexed(engine: Engine) -> TestResult {
    use propledger_indexer::decode::ContractKind;
    let (world, _db, mut indexer) = indexed(engine).await?;
    let start = crate::support::world::latest_timestamp(&world.provider).await?;
    let mut params = crate::support::world::property_params(0, "Ash Ct Shares", "ASH", start);
    // The bits of a UUIDv7.
    params.property_id = U256::from(0x0190_b3c2_5e1f_7a3b_9c4d_2e8f_6a1b_0c3d_u128);
    let launched =
        propledger_contracts::launch::launch_property(&world.provider, &world.platform, &params)
            .await?;
    indexer.sync().await?;
    let id = params.property_id.to_string();
    let mut rows: Vec<(Vec<u8>, String, Option<String>, i64)> = select(
        indexer.ledger(),
        "SELECT address, kind, property_id, added_block FROM idx_contracts",
    )
    .await?;
    rows.retain(|r| r.2.as_deref() == Some(id.as_str()));
    rows.sort();
    let block = i64::try_from(launched.block)?;
    let mut expected: Vec<(Vec<u8>, String, Option<String>, i64)> = [
        (launched.shares.address, ContractKind::Shares),
        (launched.compliance.address, ContractKind::Compliance),
        (launched.treasury.address, ContractKind::Treasury),
        (launched.distributor.address, ContractKind::Distributor),
        (launched.offering.address, ContractKind::Offering),
    ]
    .into_iter()
    .map(|(a, k)| (a.to_vec(), k.as_str().to_owned(), Some(id.clone()), block))
    .collect();
    expected.sort();
    assert_eq!(rows, expected);

    // The launch block's events of every watched contract are stored: the deed's mint, the
    // directory's registrations, and what the new contracts logged while being created.
    let logs = indexer
        .source()
        .logs(launched.block, launched.block, &indexer.watched())
        .await?;
    let stored: Vec<(i64, i64)> = stored_events(indexer.ledger())
        .await?
        .into_iter()
        .filter(|r| r.0 == block)
        .map(|r| (r.0, r.1))
        .collect();
    let chain: Vec<(i64, i64)> = logs
        .iter()
        .map(|l| Ok((i64::try_from(l.block_number)?, i64::try_from(l.log_index)?)))
        .collect::<TestResult<_>>()?;
    assert_eq!(stored, chain);
    for address in [
        world.platform.deed.address,
        world.platform.directory.address,
        launched.shares.address,
        launched.compliance.address,
    ] {
        assert!(
            logs.iter().any(|l| l.address == address),
            "no event of {address} in the launch block"
        );
    }

    // A purchase books into the property's own chart.
    let token = TestStablecoin::new(world.platform.settlement_token, &world.provider);
    mined(
        token
            .approve(launched.offering.address, U256::MAX)
            .from(world.investors[1])
            .send()
            .await?
            .get_receipt()
            .await?,
    )?;
    let offering =
        propledger_contracts::ShareOffering::new(launched.offering.address, &world.provider);
    mined(
        offering
            .buy(crate::support::world::shares(2))
            .from(world.investors[1])
            .send()
            .await?
            .get_receipt()
            .await?,
    )?;
    indexer.sync().await?;
    let cash = indexer.chart_account(&id, codes::TREASURY_CASH)?;
    let b = indexer.ledger().accounts().balance(cash, None).await?;
    assert_eq!(b.posted()?.value(), Decimal::from(2 * PRICE));
    Ok(())
}

async fn one_backfill_pass_reads_through_registrations(engine: Engine) -> TestResult {
    let world = World::start(ChainKind::Embedded).await?;
    world.business().await?;
    let second = second_property(&world).await?;
    world.mine(3).await?;
    let head = world.provider.get_block_number().await?;
    // Both properties register in the final part of the range: the pass finds them first and
    // reads their contracts' logs from its start, instead of stopping at each registration.
    let db = TestDb::new(engine).await;
    let mut cfg = world.indexer_config(0);
    cfg.reorg_window = 2;
    let mut indexer = Indexer::new(db.ledger().await, cfg).await?;
    assert_eq!(indexer.step().await?, Step::Indexed { to: head });
    assert_eq!(indexer.step().await?, Step::Idle { head });
    // The same as following block by block, registrations met one at a time.
    let slow_db = TestDb::new(engine).await;
    let mut slow_cfg = world.indexer_config(0);
    slow_cfg.follow_batch = 1;
    let mut slow = Indexer::new(slow_db.ledger().await, slow_cfg).await?;
    slow.sync().await?;
    assert_eq!(indexer.watched(), slow.watched());
    for shares in [world.property.shares.address, second.shares.address] {
        assert_same(
            "registrations read ahead",
            &index_state(indexer.ledger(), shares).await?,
            &index_state(slow.ledger(), shares).await?,
        );
    }
    Ok(())
}

async fn faults_and_range_limits_skip_nothing(engine: Engine) -> TestResult {
    let world = World::start(ChainKind::Anvil).await?;
    world.business().await?;
    for i in 0..20u64 {
        world.buy((i % 4) as usize, 1).await?;
    }
    let proxy = FaultProxy::start(&world.node.url()).await?;
    proxy.set_plan(FaultPlan {
        max_logs_span: Some(7),
        range_style: RangeStyle::ResultsNoHint,
        fail_every: Some(4),
        faults: Fault::ALL.to_vec(),
        seed: 7,
        delay: Duration::from_millis(1_500),
        ..FaultPlan::default()
    });
    let mut cfg = world.indexer_config(2);
    let mut source = SourceConfig::new(proxy.url.clone());
    source.request_timeout = Duration::from_millis(500);
    source.retry.initial_backoff = Duration::from_millis(5);
    source.retry.max_backoff = Duration::from_millis(50);
    cfg.source = source;
    cfg.reorg_window = 16;
    let db = TestDb::new(engine).await;
    let mut indexer = Indexer::new(db.ledger().await, cfg).await?;
    indexer.sync().await?;
    let head = world.provider.get_block_number().await?;
    assert_eq!(indexer.next_block(), head + 1);
    let counts = proxy.counts();
    for fault in Fault::ALL {
        assert!(counts.of(fault) > 0, "{fault:?} was injected: {counts:?}");
    }
    assert!(counts.range_errors > 0, "{counts:?}");

    let direct_db = TestDb::new(engine).await;
    let mut direct = Indexer::new(direct_db.ledger().await, world.indexer_config(2)).await?;
    direct.sync().await?;
    let shares = world.property.shares.address;
    assert_same(
        "through the faulty proxy",
        &index_state(indexer.ledger(), shares).await?,
        &index_state(direct.ledger(), shares).await?,
    );
    Ok(())
}

/// PostgreSQL: backfill commits begin early, each on a connection it keeps until it finishes
/// after the one before it, and the indexer keeps no more of them open than the pool holds.
/// Through a pool of one connection (one commit at a time) the result is the same as through a
/// full pool (three at a time).
#[tokio::test]
async fn backfill_through_a_pool_of_one_connection() -> TestResult {
    let world = World::start(ChainKind::Embedded).await?;
    world.business().await?;
    world.mine(3).await?;
    let index = |max_connections: u32| {
        let world = &world;
        async move {
            let db = TestDb::new(Engine::Postgres).await;
            let ledger = propledger_ledger::Ledger::connect_postgres_with(
                propledger_ledger::PostgresOptions {
                    url: db.url.clone(),
                    max_connections,
                },
            )
            .await?;
            let mut cfg = world.indexer_config(0);
            // Many small commits, so that several would be in flight at once.
            cfg.max_events_per_commit = 5;
            let mut indexer = Indexer::new(ledger, cfg).await?;
            tokio::time::timeout(Duration::from_secs(120), indexer.sync()).await??;
            TestResult::Ok((db, indexer))
        }
    };
    let (_one_db, one) = index(1).await?;
    let (_full_db, full) = index(8).await?;
    assert_same(
        "pool of one",
        &index_state(one.ledger(), world.property.shares.address).await?,
        &index_state(full.ledger(), world.property.shares.address).await?,
    );
    Ok(())
}

/// The share market is watched from its deployment, in the platform's own books; an index made
/// before the indexer watched it (its row gone) watches it from its next block once started
/// again.
async fn an_older_index_watches_the_market_from_its_next_block(engine: Engine) -> TestResult {
    let (world, db, indexer) = indexed(engine).await?;
    let market = world.platform.settlement.expect("a share market");
    assert!(indexer.watched().contains(&market.address));
    let rows: Vec<(i64, Option<String>)> = select(
        indexer.ledger(),
        "SELECT added_block, property_id FROM idx_contracts WHERE kind = 'settlement'",
    )
    .await?;
    assert_eq!(
        rows,
        [(i64::try_from(market.block)?, Some("platform".to_owned()))]
    );
    indexer.chart_account("platform", codes::TRADING_FEES)?;
    indexer.chart_account("platform", codes::FEE_RECIPIENT_CASH)?;
    drop(indexer);

    db.execute("DELETE FROM idx_contracts WHERE kind = 'settlement'")
        .await?;
    world.mine(2).await?;
    let ledger = db.ledger().await;
    let next = crate::support::db::next_block(&ledger).await?;
    assert!(next > market.block);
    let again = Indexer::new(ledger, world.indexer_config(0)).await?;
    assert!(again.watched().contains(&market.address));
    let rows: Vec<(i64,)> = select(
        again.ledger(),
        "SELECT added_block FROM idx_contracts WHERE kind = 'settlement'",
    )
    .await?;
    assert_eq!(rows, [(i64::try_from(next)?,)]);
    // Started once more, nothing is added twice.
    let third = Indexer::new(db.ledger().await, world.indexer_config(0)).await?;
    assert_eq!(third.watched(), again.watched());
    Ok(())
}
