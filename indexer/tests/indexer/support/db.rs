//! Throwaway databases from the test kit: a SQLite file in a temporary directory, or a fresh
//! database in the shared throwaway PostgreSQL cluster.

use propledger_ledger::Ledger;
use propledger_testkit::TestDatabase;

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
}
