//! PropLedger ledger: double-entry books on SQLite and PostgreSQL.
//!
//! Map of the crate:
//! - [`core`]: the pure core, no IO. Currencies and exact amounts (with exact on-chain `U256`
//!   conversion), accounts and the chart-of-accounts template, entry drafts and their
//!   validation, balances and the balance-limit rule, content and chain hashes.
//! - [`store`]: the [`Ledger`] handle over a SQLite or PostgreSQL pool, migrations, and the
//!   write path's locking (one head row serializes writers).
//! - [`account`]: currencies and accounts: opening, the per-property chart, lookups, balances.
//! - [`entry`]: recording entries (single and batched, idempotent), pending/post/void,
//!   reversals, lookups.
//! - [`backup`]: consistent copies of a SQLite ledger in use, and their check.
//! - [`verify`]: the auditor's checks: hash chain, balances recomputed from postings.
//! - [`budget`]: rehab budgets per property and budget line (append-only revisions).
//! - [`report`]: trial balance, balance sheet, income statement, rehab budget vs actual,
//!   investor capital accounts.
//! - [`export`]: CSV and Beancount.
//! - [`fees`]: platform fee schedules per property.
//! - [`unit`]: units of work: entry changes and other crates' rows (statements, bulk loads,
//!   and hooks that write with sqlx on the transaction's connection, [`TxConn`]) committed in
//!   one transaction by [`Ledger::apply`]. Other crates read their own tables with
//!   [`Ledger::read_with`] and version them with [`Ledger::migrate`] ([`Migrations`], with a
//!   migrations table of their own; see `migrations/README.md`).
//!
//! Other crates' rows in the entries' transaction go through a hook: a closure that gets the
//! transaction's connection, engine-tagged ([`TxConn`]), and the receipts of what the unit
//! posted, retracted and recorded ([`unit::Applied`]), writes with sqlx, and returns this
//! crate's `Result` (an error of its own as [`Error::Hook`]); an error rolls the whole unit
//! back. An outbox row per entry and a gap-free event number, as the API keeps them:
//!
//! ```no_run
//! # async fn demo(ledger: propledger_ledger::Ledger, draft: propledger_ledger::core::EntryDraft)
//! # -> propledger_ledger::Result<()> {
//! use propledger_ledger::TxConn;
//! use propledger_ledger::unit::UnitOfWork;
//!
//! let mut unit = UnitOfWork::new();
//! unit.record(draft);
//! unit.hook(|conn, applied| {
//!     Box::pin(async move {
//!         let take = "UPDATE api_counter SET next_no = next_no + 1 WHERE id = 1 \
//!                     RETURNING next_no - 1";
//!         let insert = "INSERT INTO api_outbox (entry_id, event_no) VALUES ($1, $2)";
//!         for receipt in applied.recorded.iter().filter(|r| !r.replayed) {
//!             match &mut *conn {
//!                 TxConn::Sqlite(c) => {
//!                     let n: i64 = sqlx::query_scalar(take).fetch_one(&mut **c).await?;
//!                     sqlx::query(insert).bind(receipt.id.get()).bind(n).execute(&mut **c).await?;
//!                 }
//!                 TxConn::Postgres(c) => {
//!                     let n: i64 = sqlx::query_scalar(take).fetch_one(&mut **c).await?;
//!                     sqlx::query(insert).bind(receipt.id.get()).bind(n).execute(&mut **c).await?;
//!                 }
//!             }
//!         }
//!         Ok(())
//!     })
//! });
//! ledger.apply(unit).await?;
//! # Ok(())
//! # }
//! ```
//! - [`error`]: the one error enum and the `Result` alias.
//!
//! ```no_run
//! # async fn demo() -> propledger_ledger::Result<()> {
//! use chrono::NaiveDate;
//! use propledger_ledger::Ledger;
//! use propledger_ledger::core::chart::codes;
//! use propledger_ledger::core::{Amount, Currency, DimValue, EntryDraft, IdempotencyKey, Source};
//!
//! let ledger = Ledger::open_sqlite("books.db").await?;
//! let usd = Currency::parse("USD", 2)?;
//! let chart = ledger
//!     .accounts()
//!     .open_property_chart(&DimValue::parse("oak-st")?, usd)
//!     .await?;
//! let id = |code: &str| chart.iter().find(|a| a.code.as_str() == code).map(|a| a.id);
//! let (cash, rent) = (id(codes::OPERATING_CASH).unwrap(), id(codes::RENTAL_INCOME).unwrap());
//! let draft = EntryDraft::builder(
//!     IdempotencyKey::parse("rent-2024-03")?,
//!     NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
//!     Source::operator("lease-17")?,
//! )
//! .description("March rent")
//! .debit(cash, Amount::parse("2000.00", usd)?)
//! .credit(rent, Amount::parse("2000.00", usd)?)
//! .build()?;
//! let receipt = ledger.entries().record(draft).await?;
//! assert!(ledger.verifier().chain().await?.is_intact());
//! # let _ = receipt;
//! # Ok(())
//! # }
//! ```
//!
//! Invariants the code keeps (and the property tests in `tests/ledger/props.rs` check): every
//! entry balances per currency; all accounts sum to zero per currency; every stored balance
//! equals the sum of its postings; replaying an entry (same key, same content) writes nothing;
//! posted entries form an unbroken hash chain. Entries and postings are append-only (triggers in
//! both schemas refuse updates and deletes, except an entry's one move from pending to posted or
//! voided).
//!
//! SQL is checked at run time (`sqlx::query` with binds), not with `query!`: the same statements
//! run on two engines, and compile-time checking would need two sets of offline data kept in step
//! (sqlx checks a crate's queries against a single database). Every statement is exercised by the
//! integration tests on both engines instead (`tests/ledger`).

pub mod account;
pub mod backup;
pub mod budget;
pub mod core;
pub mod entry;
pub mod error;
pub mod export;
pub mod fees;
pub mod lock;
pub mod report;
pub mod store;
pub mod unit;
pub mod verify;

pub use error::{Error, Result};
pub use store::{
    Backend, Ledger, Migrations, PostgresOptions, ReadFuture, SqliteDurability, SqliteOptions,
    TxConn,
};
