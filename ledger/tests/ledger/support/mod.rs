//! Test support: a fresh database per test on either engine, and small builders.

use chrono::NaiveDate;
use propledger_ledger::core::{
    AccountCode, AccountId, AccountType, Amount, BalanceLimit, Currency, DimValue, Dimensions,
    EntryBuilder, EntryDraft, IdempotencyKey, NewAccount, Source,
};
use propledger_ledger::{Backend, Ledger, SqliteDurability, SqliteOptions, TxConn};
use propledger_testkit::SqliteFile;
use sqlx::Connection;

/// Runs each named `async fn(TestDb)` once per engine, as `<module>::sqlite::<name>` and
/// `<module>::postgres::<name>`.
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::TestDb::new(propledger_ledger::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::TestDb::new(propledger_ledger::Backend::Postgres).await).await
                }
            )*
        }
    };
}
pub(crate) use both_engines;

/// A ledger on a database of its own.
pub(crate) struct TestDb {
    pub(crate) ledger: Ledger,
    /// `sqlite:<path>` or a PostgreSQL URL; opening it again reaches the same data.
    pub(crate) url: String,
    _file: Option<SqliteFile>,
}

impl TestDb {
    pub(crate) async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let file = SqliteFile::new();
                let path = file.path();
                // Tests need no power-loss durability; NORMAL is as crash-safe for a process kill.
                let mut options = SqliteOptions::new(path);
                options.durability = SqliteDurability::Normal;
                let ledger = Ledger::open_sqlite_with(options)
                    .await
                    .expect("open sqlite");
                TestDb {
                    ledger,
                    url: file.url(),
                    _file: Some(file),
                }
            }
            Backend::Postgres => {
                let url =
                    propledger_testkit::TestDatabase::new(propledger_testkit::Engine::Postgres)
                        .await
                        .url()
                        .to_owned();
                let ledger = Ledger::connect_postgres(&url)
                    .await
                    .expect("connect postgres");
                TestDb {
                    ledger,
                    url,
                    _file: None,
                }
            }
        }
    }

    /// Another handle on the same database (as after a restart).
    pub(crate) async fn reopen(&self) -> Ledger {
        Ledger::connect(&self.url).await.expect("reopen")
    }

    /// Runs a raw statement outside the ledger, as an intruder with database access would.
    pub(crate) async fn raw(&self, sql: &'static str) -> Result<(), sqlx::Error> {
        if let Some(path) = self.url.strip_prefix("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{path}")).await?;
            sqlx::raw_sql(sql).execute(&mut c).await?;
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await?;
            sqlx::raw_sql(sql).execute(&mut c).await?;
        }
        Ok(())
    }

    /// Runs a query returning one integer, outside the ledger.
    pub(crate) async fn count(&self, sql: &'static str) -> i64 {
        if let Some(path) = self.url.strip_prefix("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

pub(crate) fn usd() -> Currency {
    Currency::parse("USD", 2).unwrap()
}

pub(crate) fn amt(text: &str) -> Amount {
    Amount::parse(text, usd()).unwrap()
}

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub(crate) fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

pub(crate) fn dim(text: &str) -> DimValue {
    DimValue::parse(text).unwrap()
}

pub(crate) fn op(reference: &str) -> Source {
    Source::operator(reference).unwrap()
}

/// An entry builder dated 2024-01-15 from an operator source.
pub(crate) fn entry(k: &str) -> EntryBuilder {
    EntryDraft::builder(key(k), date(2024, 1, 15), op("test"))
}

/// A simple two-posting entry.
pub(crate) fn transfer(k: &str, debit: AccountId, credit: AccountId, amount: &str) -> EntryDraft {
    entry(k)
        .debit(debit, amt(amount))
        .credit(credit, amt(amount))
        .build()
        .unwrap()
}

/// Opens an account with a code, type and limit, in USD, under property `p1`.
pub(crate) async fn open(
    ledger: &Ledger,
    code: &str,
    account_type: AccountType,
    limit: BalanceLimit,
) -> AccountId {
    ledger
        .accounts()
        .open(
            NewAccount::new(AccountCode::parse(code).unwrap(), code, account_type, usd())
                .with_dimensions(Dimensions::property(dim("p1")))
                .with_limit(limit),
        )
        .await
        .unwrap()
        .id
}

/// Cash (non-negative asset), capital (equity), rent (income), repairs (expense).
pub(crate) struct Basic {
    pub(crate) cash: AccountId,
    pub(crate) capital: AccountId,
    pub(crate) rent: AccountId,
    pub(crate) repairs: AccountId,
}

pub(crate) async fn basic(ledger: &Ledger) -> Basic {
    Basic {
        cash: open(
            ledger,
            "1000",
            AccountType::Asset,
            BalanceLimit::NonNegative,
        )
        .await,
        capital: open(ledger, "3000", AccountType::Equity, BalanceLimit::Unlimited).await,
        rent: open(ledger, "4000", AccountType::Income, BalanceLimit::Unlimited).await,
        repairs: open(
            ledger,
            "5000",
            AccountType::Expense,
            BalanceLimit::Unlimited,
        )
        .await,
    }
}

/// Rows of a query on the ledger's database, read through [`Ledger::read_with`].
pub(crate) async fn select<T>(ledger: &Ledger, sql: &'static str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
        + 'static,
{
    ledger
        .read_with(|conn| {
            Box::pin(async move {
                Ok(match conn {
                    TxConn::Sqlite(c) => sqlx::query_as(sql).fetch_all(&mut **c).await?,
                    TxConn::Postgres(c) => sqlx::query_as(sql).fetch_all(&mut **c).await?,
                })
            })
        })
        .await
        .unwrap()
}

/// Asserts the ledger's invariants: chain intact, balances equal their postings, sums zero.
pub(crate) async fn assert_invariants(ledger: &Ledger) {
    let chain = ledger.verifier().chain().await.unwrap();
    assert!(chain.is_intact(), "{chain:?}");
    let audit = ledger.verifier().audit().await.unwrap();
    assert!(audit.is_clean(), "{audit:?}");
}
