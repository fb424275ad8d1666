//! A fresh database on either engine, for suites that run every test on both.

use crate::sqlite::SqliteFile;

/// Which database engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file ([`SqliteFile`]).
    Sqlite,
    /// A database in the shared throwaway cluster ([`crate::Postgres::shared`]), or in the server of
    /// `PROPLEDGER_TEST_PG_URL` when that is set.
    Postgres,
}

impl Engine {
    /// Both engines, SQLite first.
    pub const ALL: [Engine; 2] = [Engine::Sqlite, Engine::Postgres];
}

/// A database of its own for one test: a SQLite file removed on drop, or a new database in
/// the shared PostgreSQL cluster (left to the cluster, which is deleted once the run is over).
#[derive(Debug)]
pub struct TestDatabase {
    engine: Engine,
    url: String,
    _file: Option<SqliteFile>,
}

impl TestDatabase {
    /// A new, empty database on `engine`.
    pub async fn new(engine: Engine) -> TestDatabase {
        match engine {
            Engine::Sqlite => {
                let file = SqliteFile::new();
                TestDatabase {
                    engine,
                    url: file.url(),
                    _file: Some(file),
                }
            }
            Engine::Postgres => TestDatabase {
                engine,
                url: crate::postgres::fresh_test_database().await,
                _file: None,
            },
        }
    }

    /// Its engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// `sqlite:<path>` or `postgres://...`; opening it again reaches the same data.
    pub fn url(&self) -> &str {
        &self.url
    }
}
