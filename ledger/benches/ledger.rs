//! Ledger benchmark: posting throughput against plain inserts of the same rows, on SQLite and on
//! a throwaway PostgreSQL cluster with default (durable) settings, in one run on one machine.
//!
//! (a) 100,000 two-posting entries recorded in batches of 1,000 through the ledger (validation,
//!     idempotency lookups, balance checks and updates, hash chain) against the same entry and
//!     posting rows written with plain multi-row INSERTs and no checks, one transaction per
//!     1,000 entries.
//! (b) one entry per durable transaction through the ledger against the same rows (the entry
//!     and its two postings) written with bare INSERTs, one durable transaction per entry.
//!
//! Both sides run with the ledger's own settings (SQLite: WAL, synchronous=FULL, its page cache
//! and temporary store, one writer connection, its checkpoints beside the writer; PostgreSQL:
//! default durable configuration, the same pool) on a fresh database with the ledger's schema.
//! They take turns in rounds (10 for (a), 40 for (b)), which side goes first alternating from
//! round to round, so that changing load or disk latency falls on both alike; the figures are
//! medians over the rounds, and the ratio is the median of the per-round ratios.
//!
//! Each engine runs in a child process so its peak memory (VmHWM) is its own. Run with
//! `scripts/bench ledger` or `cargo bench -p propledger-ledger --bench ledger`; set
//! `LEDGER_BENCH_ENTRIES` / `LEDGER_BENCH_SINGLE` to change the sizes.

use std::collections::BTreeMap;
use std::process::Command;
use std::str::FromStr;
use std::time::Instant;

use chrono::NaiveDate;
use propledger_ledger::core::{
    AccountCode, AccountId, AccountType, Amount, BalanceLimit, Currency, EntryDraft,
    IdempotencyKey, NewAccount, Source,
};
use propledger_ledger::{Ledger, PostgresOptions, SqliteOptions};
use sqlx::{Connection, QueryBuilder};

const BATCH: usize = 1_000;
const CHILD_ENV: &str = "PROPLEDGER_LEDGER_BENCH_CHILD";

fn entries_total() -> usize {
    std::env::var("LEDGER_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn singles_total() -> usize {
    std::env::var("LEDGER_BENCH_SINGLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn usd() -> Currency {
    Currency::parse("USD", 2).unwrap()
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 15).unwrap()
}

async fn accounts(ledger: &Ledger) -> (AccountId, AccountId) {
    let open = |code: &str, t, limit| {
        NewAccount::new(AccountCode::parse(code).unwrap(), code, t, usd()).with_limit(limit)
    };
    let cash = ledger
        .accounts()
        .open(open("1000", AccountType::Asset, BalanceLimit::NonNegative))
        .await
        .unwrap();
    let capital = ledger
        .accounts()
        .open(open("3000", AccountType::Equity, BalanceLimit::Unlimited))
        .await
        .unwrap();
    (cash.id, capital.id)
}

fn draft(prefix: &str, n: usize, cash: AccountId, capital: AccountId) -> EntryDraft {
    let amount = Amount::from_minor(100 + (n % 1000) as i128, usd()).unwrap();
    EntryDraft::builder(
        IdempotencyKey::parse(&format!("{prefix}{n}")).unwrap(),
        day(),
        Source::operator("bench").unwrap(),
    )
    .description("bench deposit")
    .debit(cash, amount)
    .credit(capital, amount)
    .build()
    .unwrap()
}

/// One engine's connection for the baseline and fresh ledgers.
enum Engine {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Engine {
    async fn ledger(&self, name: &str) -> Ledger {
        match self {
            Engine::Sqlite(dir) => {
                Ledger::open_sqlite_with(SqliteOptions::new(dir.join(format!("{name}.db"))))
                    .await
                    .unwrap()
            }
            Engine::Postgres(admin) => {
                let mut c = sqlx::PgConnection::connect(admin).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut c)
                    .await
                    .unwrap();
                let (base, _) = admin.rsplit_once('/').unwrap();
                Ledger::connect_postgres_with(PostgresOptions::new(&format!("{base}/{name}")))
                    .await
                    .unwrap()
            }
        }
    }

    fn url(&self, name: &str) -> String {
        match self {
            Engine::Sqlite(dir) => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
            Engine::Postgres(admin) => format!("{}/{name}", admin.rsplit_once('/').unwrap().0),
        }
    }
}

/// The same rows the ledger writes for entry `n`, with fixed hashes (no computation).
struct Row {
    id: i64,
    key: String,
    amount: String,
}

fn rows(prefix: &str, from: usize, to: usize) -> Vec<Row> {
    (from..to)
        .map(|n| Row {
            id: n as i64 + 1,
            key: format!("{prefix}{n}"),
            amount: Amount::from_minor(100 + (n % 1000) as i128, usd())
                .unwrap()
                .to_storage_text(),
        })
        .collect()
}

macro_rules! baseline_impl {
    ($conn:ty, $db:ty) => {
        /// Plain multi-row inserts of entries `from..to` and their postings, one transaction
        /// per batch.
        pub(crate) async fn batched(
            c: &$conn,
            prefix: &str,
            cash: i64,
            capital: i64,
            from: usize,
            to: usize,
        ) {
            let hash = vec![7u8; 32];
            for start in (from..to).step_by(BATCH) {
                let batch = rows(prefix, start, (start + BATCH).min(to));
                let mut tx = c.begin().await.unwrap();
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO ledger_entries (id, idempotency_key, content_hash, effective_date, \
                     description, source, reverses_entry_id, status, chain_seq, prev_hash, hash) ",
                );
                q.push_values(&batch, |mut b, r| {
                    b.push_bind(r.id)
                        .push_bind(r.key.clone())
                        .push_bind(hash.clone())
                        .push_bind(day())
                        .push_bind("bench deposit")
                        .push_bind("operator:bench")
                        .push_bind(None::<i64>)
                        .push_bind("posted")
                        .push_bind(Some(r.id))
                        .push_bind(Some(hash.clone()))
                        .push_bind(Some(hash.clone()));
                });
                q.build().execute(&mut *tx).await.unwrap();
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO ledger_postings (entry_id, idx, account_id, direction, amount, currency) ",
                );
                let postings = batch.iter().flat_map(|r| {
                    [(r, 0i64, cash, "debit"), (r, 1i64, capital, "credit")]
                });
                q.push_values(postings, |mut b, (r, idx, account, direction)| {
                    b.push_bind(r.id)
                        .push_bind(idx)
                        .push_bind(account)
                        .push_bind(direction)
                        .push_bind(r.amount.clone())
                        .push_bind("USD");
                });
                q.build().execute(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
            }
        }

        /// The rows of one entry (the entry and its two postings) per transaction, with bare
        /// INSERTs, for entries `from..to`.
        pub(crate) async fn single(
            c: &$conn,
            prefix: &str,
            cash: i64,
            capital: i64,
            from: usize,
            to: usize,
        ) {
            let hash = vec![7u8; 32];
            for r in rows(prefix, from, to) {
                let mut tx = c.begin().await.unwrap();
                sqlx::query(
                    "INSERT INTO ledger_entries (id, idempotency_key, content_hash, effective_date, \
                     description, source, reverses_entry_id, status, chain_seq, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(r.id)
                .bind(r.key)
                .bind(hash.clone())
                .bind(day())
                .bind("bench deposit")
                .bind("operator:bench")
                .bind(None::<i64>)
                .bind("posted")
                .bind(Some(r.id))
                .bind(Some(hash.clone()))
                .bind(Some(hash.clone()))
                .execute(&mut *tx)
                .await
                .unwrap();
                sqlx::query(
                    "INSERT INTO ledger_postings (entry_id, idx, account_id, direction, amount, \
                     currency) VALUES ($1, 0, $2, 'debit', $4, 'USD'), ($1, 1, $3, 'credit', $4, 'USD')",
                )
                .bind(r.id)
                .bind(cash)
                .bind(capital)
                .bind(r.amount)
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
            }
        }
    };
}

mod sqlite_baseline {
    use super::*;
    baseline_impl!(sqlx::SqlitePool, sqlx::Sqlite);
}

mod postgres_baseline {
    use super::*;
    baseline_impl!(sqlx::PgPool, sqlx::Postgres);
}

/// The baseline's SQLite pool: the ledger's own settings (see `ledger/src/store/mod.rs` and
/// `checkpoint.rs`): WAL, synchronous=FULL, foreign keys, a 64 MiB page cache and temporary
/// structures in memory, one writer connection whose own automatic checkpoint is only a
/// backstop (8,192 pages), and PASSIVE checkpoints on a connection of their own after writes,
/// at most one per 10 ms. So both sides pay the same for getting pages into the database file.
async fn baseline_pool_sqlite(url: &str) -> sqlx::SqlitePool {
    use sqlx::ConnectOptions;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .unwrap()
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(30))
        .pragma("cache_size", "-65536")
        .pragma("temp_store", "memory");
    let (wrote, mut checkpoint) = tokio::sync::mpsc::channel::<()>(1);
    let mut checkpointer = options.connect().await.unwrap();
    tokio::spawn(async move {
        while checkpoint.recv().await.is_some() {
            let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_optional(&mut checkpointer)
                .await;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .after_release(move |_, _| {
            let _ = wrote.try_send(());
            Box::pin(async { Ok(true) })
        })
        .connect_with(options.pragma("wal_autocheckpoint", "8192"))
        .await
        .unwrap()
}

/// The baseline's PostgreSQL pool: the ledger's own settings (8 connections, no ping on
/// acquire).
async fn baseline_pool_postgres(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .test_before_acquire(false)
        .connect(url)
        .await
        .unwrap()
}

fn report(key: &str, value: impl std::fmt::Display) {
    println!("RESULT {key} {value}");
}

/// One side of a measurement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Baseline,
    Ledger,
}

/// The order of the two sides in `round`: baseline first in even rounds, ledger first in odd.
fn sides(round: usize) -> [Side; 2] {
    if round.is_multiple_of(2) {
        [Side::Baseline, Side::Ledger]
    } else {
        [Side::Ledger, Side::Baseline]
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Reports a measurement's per-round rates as medians: each side's rate, and the ratio of the
/// two within each round (which cancels load that both sides of a round saw).
fn report_rounds(case: &str, baseline: &[f64], ledger: &[f64]) {
    let ratios: Vec<f64> = ledger.iter().zip(baseline).map(|(l, b)| l / b).collect();
    report(&format!("{case}_rounds"), baseline.len());
    report(&format!("{case}_baseline_rate"), median(baseline));
    report(&format!("{case}_ledger_rate"), median(ledger));
    report(&format!("{case}_ratio"), median(&ratios));
    report(
        &format!("{case}_ratio_min"),
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
    );
    report(
        &format!("{case}_ratio_max"),
        ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
}

/// Rounds per measurement: baseline and ledger take turns, so that load from anything else on
/// the machine (and the disk's changing fsync latency) falls on both alike.
const BATCH_ROUNDS: usize = 10;
const SINGLE_ROUNDS: usize = 40;

/// A baseline pool on either engine.
enum Baseline {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Baseline {
    async fn connect(engine: &Engine, name: &str) -> Baseline {
        let url = engine.url(name);
        match engine {
            Engine::Sqlite(_) => Baseline::Sqlite(baseline_pool_sqlite(&url).await),
            Engine::Postgres(_) => Baseline::Postgres(baseline_pool_postgres(&url).await),
        }
    }

    async fn batched(&self, cash: i64, capital: i64, from: usize, to: usize) {
        match self {
            Baseline::Sqlite(c) => sqlite_baseline::batched(c, "e", cash, capital, from, to).await,
            Baseline::Postgres(c) => {
                postgres_baseline::batched(c, "e", cash, capital, from, to).await
            }
        }
    }

    async fn single(&self, cash: i64, capital: i64, from: usize, to: usize) {
        match self {
            Baseline::Sqlite(c) => sqlite_baseline::single(c, "s", cash, capital, from, to).await,
            Baseline::Postgres(c) => {
                postgres_baseline::single(c, "s", cash, capital, from, to).await
            }
        }
    }
}

/// Runs every measurement on one engine (in the child process).
async fn run_engine(engine: Engine) {
    let total = entries_total();
    let singles = singles_total();

    // (a) batches: the baseline writes the same rows with plain multi-row inserts.
    let schema = engine.ledger("bench_baseline_batch").await;
    let (base_cash, base_capital) = accounts(&schema).await;
    schema.close().await;
    let baseline = Baseline::connect(&engine, "bench_baseline_batch").await;
    let ledger = engine.ledger("bench_ledger_batch").await;
    let (cash, capital) = accounts(&ledger).await;
    let (mut baseline_s, mut ledger_s) = (Vec::new(), Vec::new());
    let per_round = total.div_ceil(BATCH_ROUNDS).div_ceil(BATCH) * BATCH;
    for round in 0..BATCH_ROUNDS {
        let (from, to) = (
            (round * per_round).min(total),
            ((round + 1) * per_round).min(total),
        );
        // Who goes first alternates, so that neither side always follows the other's writes.
        for side in sides(round) {
            let started = Instant::now();
            if side == Side::Baseline {
                baseline
                    .batched(base_cash.get(), base_capital.get(), from, to)
                    .await;
            } else {
                for start in (from..to).step_by(BATCH) {
                    let drafts = (start..(start + BATCH).min(to))
                        .map(|n| draft("e", n, cash, capital))
                        .collect();
                    ledger.entries().record_batch(drafts).await.unwrap();
                }
            }
            let rate = (to - from) as f64 / started.elapsed().as_secs_f64();
            match side {
                Side::Baseline => baseline_s.push(rate),
                Side::Ledger => ledger_s.push(rate),
            }
        }
    }
    report_rounds("batch", &baseline_s, &ledger_s);
    let chain = ledger.verifier().chain().await.unwrap();
    assert!(chain.is_intact() && chain.entries_checked == total as u64);
    ledger.close().await;

    // (b) one entry per durable transaction against one bare insert per durable transaction.
    let schema = engine.ledger("bench_baseline_single").await;
    let (base_cash, base_capital) = accounts(&schema).await;
    schema.close().await;
    let baseline = Baseline::connect(&engine, "bench_baseline_single").await;
    let ledger = engine.ledger("bench_ledger_single").await;
    let (cash, capital) = accounts(&ledger).await;
    let (mut baseline_s, mut ledger_s) = (Vec::new(), Vec::new());
    let per_round = singles.div_ceil(SINGLE_ROUNDS);
    for round in 0..SINGLE_ROUNDS {
        let (from, to) = (
            (round * per_round).min(singles),
            ((round + 1) * per_round).min(singles),
        );
        if from == to {
            continue;
        }
        for side in sides(round) {
            let started = Instant::now();
            if side == Side::Baseline {
                baseline
                    .single(base_cash.get(), base_capital.get(), from, to)
                    .await;
            } else {
                for n in from..to {
                    ledger
                        .entries()
                        .record(draft("s", n, cash, capital))
                        .await
                        .unwrap();
                }
            }
            let rate = (to - from) as f64 / started.elapsed().as_secs_f64();
            match side {
                Side::Baseline => baseline_s.push(rate),
                Side::Ledger => ledger_s.push(rate),
            }
        }
    }
    report_rounds("single", &baseline_s, &ledger_s);
    ledger.close().await;

    report("peak_rss_kib", peak_rss_kib());
}

fn child(engine_name: &str, arg: &str) -> BTreeMap<String, f64> {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .env(CHILD_ENV, engine_name)
        .env("PROPLEDGER_LEDGER_BENCH_ARG", arg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{engine_name} benchmark failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
        .collect()
}

fn main() {
    if let Ok(engine) = std::env::var(CHILD_ENV) {
        let arg = std::env::var("PROPLEDGER_LEDGER_BENCH_ARG").unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(run_engine(match engine.as_str() {
            "sqlite" => Engine::Sqlite(arg.into()),
            _ => Engine::Postgres(arg),
        }));
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and gets a no-op instead
    // of a run of several minutes.
    if !std::env::args().any(|a| a == "--bench") {
        println!("ledger benchmark: run it with `scripts/bench ledger` (cargo bench)");
        return;
    }
    let total = entries_total();
    let singles = singles_total();
    println!(
        "ledger benchmark: (a) {total} two-posting entries in batches of {BATCH}; \
         (b) {singles} entries, one per durable transaction"
    );

    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite = child("sqlite", &sqlite_dir.path().display().to_string());

    let cluster = propledger_testkit::Postgres::start_durable();
    let postgres = child("postgres", &cluster.url("postgres"));
    drop(cluster);

    println!();
    println!(
        "| engine | case | ledger (median of rounds) | baseline (median of rounds) | ratio (median of per-round ratios) | target |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for (name, r) in [
        ("SQLite (WAL, synchronous=FULL)", &sqlite),
        ("PostgreSQL 15 (fsync on)", &postgres),
    ] {
        let verdict = |ratio: f64, target: f64| if ratio >= target { "ok" } else { "MISSED" };
        for (case, label, unit, target) in [
            ("batch", format!("(a) batches of {BATCH}"), "entries/s", 0.5),
            (
                "single",
                "(b) one per durable tx".to_owned(),
                "entries/s",
                0.7,
            ),
        ] {
            let ratio = r[&format!("{case}_ratio")];
            println!(
                "| {name} | {label} | {:.0} {unit} | {:.0} {unit} | {ratio:.2}x (rounds {:.2}..{:.2}, {} rounds) | >= {target}x {} |",
                r[&format!("{case}_ledger_rate")],
                r[&format!("{case}_baseline_rate")],
                r[&format!("{case}_ratio_min")],
                r[&format!("{case}_ratio_max")],
                r[&format!("{case}_rounds")],
                verdict(ratio, target),
            );
        }
    }
    println!();
    println!(
        "peak RSS of the benchmark process (VmHWM): SQLite {:.1} MiB, PostgreSQL client {:.1} MiB",
        sqlite["peak_rss_kib"] / 1024.0,
        postgres["peak_rss_kib"] / 1024.0
    );
}
