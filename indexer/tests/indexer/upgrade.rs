//! Databases made by a build that created the indexer's tables without migrations are adopted
//! and upgraded on purpose: they end with this build's schema and the same data.
//!
//! The fixtures (`fixtures/`) were written by that build, indexing the platform's business on
//! anvil with two confirmations (one entry still pending): `legacy.sqlite`, a SQLite database
//! file, and `legacy.postgres.sql`, a `pg_dump --inserts` of the same on PostgreSQL. Builds
//! before the events table's BRIN index keyed it by (block, log index) on PostgreSQL; that
//! database is made from the same dump with the key put back.

use std::path::PathBuf;

use propledger_indexer::follow::property_dim;
use propledger_indexer::follow::upgrade::{BooksUpgrade, upgrade_books};
use propledger_indexer::store::{self, Upgrade};
use propledger_ledger::Ledger;
use propledger_ledger::account::AccountFilter;
use propledger_ledger::core::chart::codes;
use propledger_testkit::{Postgres, SqliteFile};
use rust_decimal::Decimal;
use sqlx::Connection;

use crate::support::anvil::TestResult;
use crate::support::db::{EventRow, events, select};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/indexer/fixtures")
        .join(name)
}

/// Everything the index and the books hold, to compare before and after an upgrade.
#[derive(Debug, PartialEq, Eq)]
struct Content {
    events: Vec<EventRow>,
    state: Vec<(i64, i64, i64, String, i64)>,
    blocks: Vec<(i64, Vec<u8>, Vec<u8>, i64)>,
    contracts: Vec<(Vec<u8>, String, Option<String>, i64)>,
    bookings: Vec<(String, i64, i64, String, Option<String>)>,
    entries: Vec<(i64, String, String, Option<Vec<u8>>)>,
}

async fn content(ledger: &Ledger) -> TestResult<Content> {
    Ok(Content {
        events: events(ledger).await?,
        state: select(
            ledger,
            "SELECT id, chain_id, next_block, currency, token_decimals FROM idx_state",
        )
        .await?,
        blocks: select(
            ledger,
            "SELECT number, hash, parent_hash, timestamp FROM idx_blocks ORDER BY number",
        )
        .await?,
        contracts: select(
            ledger,
            "SELECT address, kind, property_id, added_block FROM idx_contracts ORDER BY address",
        )
        .await?,
        bookings: select(
            ledger,
            "SELECT entry_key, block_number, log_index, status, reference FROM idx_bookings \
             ORDER BY entry_key",
        )
        .await?,
        entries: select(
            ledger,
            "SELECT id, idempotency_key, status, hash FROM ledger_entries ORDER BY id",
        )
        .await?,
    })
}

/// Opens the database at `url`, upgrades the index, and checks the outcome: adopted, the same
/// content, the migrations recorded, the checkpoint readable with its new column, and a second
/// run a no-op.
async fn upgrade(url: &str) -> TestResult<Ledger> {
    let ledger = Ledger::connect(url).await?;
    let before = content(&ledger).await?;
    assert!(!before.events.is_empty() && !before.bookings.is_empty());
    assert!(
        before.bookings.iter().any(|b| b.3 == "pending"),
        "the fixture holds a pending booking"
    );
    assert_eq!(store::migrate(&ledger).await?, Upgrade::Adopted);
    assert_eq!(content(&ledger).await?, before, "the data is unchanged");
    let applied: Vec<(i64, bool)> = select(
        &ledger,
        "SELECT version, success FROM _indexer_migrations ORDER BY version",
    )
    .await?;
    assert_eq!(applied, vec![(1, true), (2, true), (3, true)]);
    let checkpoint = store::checkpoint(&ledger).await?.ok_or("no checkpoint")?;
    assert_eq!(
        (checkpoint.chain_id, checkpoint.next_block as i64),
        (31337, before.state[0].2)
    );
    assert_eq!(checkpoint.head_block, None, "no commit of this build yet");
    assert_eq!(store::migrate(&ledger).await?, Upgrade::Versioned);
    assert_eq!(content(&ledger).await?, before);
    assert!(ledger.verifier().chain().await?.is_intact());
    Ok(ledger)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_index_made_without_migrations_is_adopted() -> TestResult {
    let file = SqliteFile::copy_of(fixture("legacy.sqlite"));
    let ledger = upgrade(&file.url()).await?;
    // The events keep their primary key on SQLite.
    let key: Vec<(String,)> = select(
        &ledger,
        "SELECT name FROM pragma_table_info('idx_events') WHERE pk > 0 ORDER BY pk",
    )
    .await?;
    assert_eq!(key, vec![("block_number".into(),), ("log_index".into(),)]);
    ledger.close().await;
    Ok(())
}

/// A fresh database in the shared cluster holding the fixture's dump, and `extra` after it.
async fn restored(extra: &str) -> TestResult<String> {
    let url = Postgres::shared().fresh_database().await;
    let dump = std::fs::read_to_string(fixture("legacy.postgres.sql"))?;
    let mut conn = sqlx::PgConnection::connect(&url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(dump))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    if !extra.is_empty() {
        let mut conn = sqlx::PgConnection::connect(&url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(extra.to_owned()))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
    }
    Ok(url)
}

/// The events table's keys and indexes on PostgreSQL: (unique key present, BRIN index present).
async fn events_keys(ledger: &Ledger) -> TestResult<(bool, bool)> {
    let unique: Vec<(i64,)> = select(
        ledger,
        "SELECT COUNT(*) FROM pg_constraint WHERE conrelid = 'idx_events'::regclass \
         AND contype IN ('p', 'u')",
    )
    .await?;
    let brin: Vec<(i64,)> = select(
        ledger,
        "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'idx_events' \
         AND indexname = 'idx_events_block' AND indexdef LIKE '%USING brin%'",
    )
    .await?;
    Ok((unique[0].0 > 0, brin[0].0 > 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_index_made_without_migrations_is_adopted() -> TestResult {
    let url = restored("").await?;
    let ledger = upgrade(&url).await?;
    assert_eq!(events_keys(&ledger).await?, (false, true));
    ledger.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_index_keyed_before_the_brin_index_loses_its_key() -> TestResult {
    let url = restored(
        "DROP INDEX idx_events_block; \
         ALTER TABLE idx_events ADD PRIMARY KEY (block_number, log_index);",
    )
    .await?;
    {
        let ledger = Ledger::connect(&url).await?;
        assert_eq!(events_keys(&ledger).await?, (true, false), "the old schema");
        ledger.close().await;
    }
    let ledger = upgrade(&url).await?;
    assert_eq!(events_keys(&ledger).await?, (false, true));
    ledger.close().await;
    Ok(())
}

/// The capital balances (pending included) of property 1's investor capital accounts, by their
/// `investor` dimension.
async fn capital(ledger: &Ledger) -> TestResult<Vec<(String, Decimal)>> {
    let accounts = ledger
        .accounts()
        .list(&AccountFilter {
            property: Some(property_dim("1")?),
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    for a in accounts {
        let Some(investor) = &a.dimensions.investor else {
            continue;
        };
        if a.code.as_str() != codes::INVESTOR_CAPITAL {
            continue;
        }
        let b = ledger.accounts().balance(a.id, None).await?;
        out.push((investor.as_str().to_owned(), b.with_pending()?.value()));
    }
    out.sort();
    Ok(out)
}

/// Books of the first model (capital per buyer wallet, none carried by the forced transfer of
/// 2 of investor 0's 10 shares to investor 1) are moved to capital per investor: the wallets'
/// entries are retracted (posted ones reversed, the pending one voided; no entry is edited),
/// and the purchases and the transfer booked again. Once: a second run does nothing.
async fn legacy_books_move_to_investor_capital(url: &str) -> TestResult {
    let ledger = Ledger::connect(url).await?;
    store::migrate(&ledger).await?;
    let before = content(&ledger).await?;
    let wallets: Vec<(String, Decimal)> = capital(&ledger).await?;
    assert_eq!(wallets.len(), 4);
    assert!(
        wallets.iter().all(|(d, _)| d.starts_with("0x")),
        "{wallets:?}"
    );
    assert_eq!(store::books_model(&ledger).await?, Some(1));

    let done = upgrade_books(&ledger, 2, None).await?.ok_or("no upgrade")?;
    assert_eq!(
        done,
        BooksUpgrade {
            retracted: 4,
            booked: 5
        }
    );
    assert_eq!(store::books_model(&ledger).await?, Some(store::BOOKS_MODEL));

    let after = capital(&ledger).await?;
    let mut expected: Vec<(String, Decimal)> = wallets
        .iter()
        .map(|(d, _)| (d.clone(), Decimal::ZERO))
        .collect();
    for (i, dollars) in [400, 650, 600, 650].into_iter().enumerate() {
        let id = alloy::hex::encode(alloy::primitives::keccak256(format!("investor:{i}")));
        expected.push((id, Decimal::from(dollars)));
    }
    expected.sort();
    assert_eq!(after, expected);

    // Posted entries are untouched; the pending one of a capital event is voided, never edited.
    let now = content(&ledger).await?;
    for e in &before.entries {
        let same = now
            .entries
            .iter()
            .find(|n| n.0 == e.0)
            .ok_or("entry gone")?;
        if e.2 == "posted" {
            assert_eq!(same, e);
        } else {
            assert_eq!((&same.1, &same.3), (&e.1, &e.3));
        }
    }
    assert!(ledger.verifier().chain().await?.is_intact());
    assert_eq!(upgrade_books(&ledger, 2, None).await?, None, "once");
    assert_eq!(capital(&ledger).await?, expected);
    ledger.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_legacy_books_move_to_investor_capital() -> TestResult {
    let file = SqliteFile::copy_of(fixture("legacy.sqlite"));
    legacy_books_move_to_investor_capital(&file.url()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_legacy_books_move_to_investor_capital() -> TestResult {
    let url = restored("").await?;
    legacy_books_move_to_investor_capital(&url).await
}
