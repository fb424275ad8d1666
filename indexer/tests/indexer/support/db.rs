//! Throwaway databases from the test kit: a SQLite file in a temporary directory, or a fresh
//! database in the shared throwaway PostgreSQL cluster.

use propledger_ledger::{Ledger, TxConn};
use propledger_testkit::TestDatabase;

use super::anvil::TestResult;

/// Runs each named `async fn(Engine) -> TestResult` as two tests, `<name>::sqlite` and
/// `<name>::postgres`, each under the test timeout.
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> $crate::support::anvil::TestResult {
                $crate::support::anvil::within(super::$name($crate::support::db::Engine::Sqlite))
                    .await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> $crate::support::anvil::TestResult {
                $crate::support::anvil::within(super::$name(
                    $crate::support::db::Engine::Postgres,
                ))
                .await
            }
        }
    )*};
}
pub(crate) use both_engines;

pub(crate) use propledger_testkit::Engine;

/// A database for one index.
pub(crate) struct TestDb {
    pub(crate) url: String,
    _db: TestDatabase,
}

impl TestDb {
    pub(crate) async fn new(engine: Engine) -> TestDb {
        let db = TestDatabase::new(engine).await;
        TestDb {
            url: db.url().to_owned(),
            _db: db,
        }
    }

    pub(crate) async fn ledger(&self) -> Ledger {
        Ledger::connect(&self.url).await.expect("open the ledger")
    }

    /// Runs a statement on the database directly, as an older build (or an intruder) would.
    pub(crate) async fn execute(&self, sql: &str) -> TestResult {
        use sqlx::Connection;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.url.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(&self.url).await?;
            sqlx::raw_sql(sql).execute(&mut c).await?;
        } else {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await?;
            sqlx::raw_sql(sql).execute(&mut c).await?;
        }
        Ok(())
    }
}

/// Rows of a query on the index's database, read through [`Ledger::read_with`].
pub(crate) async fn select<T>(ledger: &Ledger, sql: &'static str) -> TestResult<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
        + 'static,
{
    Ok(ledger
        .read_with(|conn| {
            Box::pin(async move {
                Ok(match conn {
                    TxConn::Sqlite(c) => sqlx::query_as(sql).fetch_all(&mut **c).await?,
                    TxConn::Postgres(c) => sqlx::query_as(sql).fetch_all(&mut **c).await?,
                })
            })
        })
        .await?)
}

/// The index's checkpoint (the next block to index; 0 before the indexer first started).
pub(crate) async fn next_block(ledger: &Ledger) -> TestResult<u64> {
    Ok(propledger_indexer::store::checkpoint(ledger)
        .await?
        .map_or(0, |c| c.next_block))
}

/// An event row of `idx_events`, every column.
pub(crate) type EventRow = (
    i64,
    i64,
    Vec<u8>,
    Vec<u8>,
    i64,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    String,
    String,
    String,
);

/// Every stored event, in chain order.
pub(crate) async fn events(ledger: &Ledger) -> TestResult<Vec<EventRow>> {
    select(
        ledger,
        "SELECT block_number, log_index, block_hash, tx_hash, tx_index, address, topics, data, \
         kind, event, decoded FROM idx_events ORDER BY block_number, log_index",
    )
    .await
}
