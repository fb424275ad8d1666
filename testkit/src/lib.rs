//! PropLedger's test kit: the real parts tests run against, started for a test and removed when
//! it is done. A dev-dependency only.
//!
//! One module per facility:
//! - [`postgres`]: a throwaway PostgreSQL cluster from the server binaries on this machine,
//!   either private to a test ([`Postgres::start`]) or shared by every test process of a run
//!   ([`Postgres::shared`]), and fresh databases in it ([`Postgres::fresh_database`]).
//! - [`sqlite`]: a SQLite database file in a temporary directory ([`SqliteFile`]).
//! - [`database`]: one fresh database on either engine behind one type ([`TestDatabase`]), for
//!   suites that run every test on both.
//! - [`anvil`]: anvil from the pinned toolchain in `node_modules` on a free loopback port
//!   ([`Anvil::spawn`]).
//! - [`tls`]: a certificate authority made on the spot ([`tls::TestCa`]), the server
//!   certificates it signs, and a TLS-terminating proxy in front of a plain endpoint
//!   ([`tls::TlsProxy`]); with [`Postgres::start_tls`], a cluster that speaks TLS.
//!
//! Everything is removed on drop: private clusters are stopped and deleted, temporary
//! directories deleted, anvil killed and reaped. The shared cluster outlives the process that
//! started it by a few idle seconds, so that the many processes of one test run share it.
//!
//! ```no_run
//! # async fn demo() {
//! use propledger_testkit::{Anvil, Engine, Postgres, TestDatabase};
//!
//! // A database of its own on the cluster every test process of this run shares.
//! let url: String = Postgres::shared().fresh_database().await;
//! // Or either engine, chosen by the test.
//! let db = TestDatabase::new(Engine::Sqlite).await;
//! assert!(db.url().starts_with("sqlite:"));
//! // A chain.
//! let anvil = Anvil::spawn();
//! println!("anvil at {}", anvil.url());
//! # let _ = url;
//! # }
//! ```

pub mod anvil;
pub mod database;
pub mod postgres;
pub mod sqlite;
pub mod tls;

pub use anvil::Anvil;
pub use database::{Engine, TestDatabase};
pub use postgres::Postgres;
pub use sqlite::SqliteFile;
