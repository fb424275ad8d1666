//! Throwaway databases: a SQLite file in a temporary directory, or a fresh database in the
//! shared throwaway PostgreSQL cluster (the ledger tests' cluster helper, `pg`).

use std::sync::atomic::{AtomicU32, Ordering};

use propledger_ledger::Ledger;
use sqlx::Connection;

use super::pg;

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

/// Which engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Engine {
    Sqlite,
    Postgres,
}

/// A database for one index.
pub(crate) struct TestDb {
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub(crate) async fn new(engine: Engine) -> TestDb {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite:{}", dir.path().join("books.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                }
            }
            Engine::Postgres => TestDb {
                url: fresh_pg_database().await,
                _dir: None,
            },
        }
    }

    pub(crate) async fn ledger(&self) -> Ledger {
        Ledger::connect(&self.url).await.expect("open the ledger")
    }
}

/// A new, empty database in the shared throwaway cluster (or in `PROPLEDGER_TEST_PG_URL`'s
/// server when set); returns its URL.
async fn fresh_pg_database() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let admin_url = match std::env::var("PROPLEDGER_TEST_PG_URL") {
        Ok(url) => url,
        Err(_) => pg::shared().url("postgres"),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "indexer_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    );
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to the test cluster");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let (base, _) = admin_url.rsplit_once('/').expect("url with a database");
    format!("{base}/{name}")
}
