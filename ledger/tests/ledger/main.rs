//! Ledger integration tests: every test in the engine modules runs on SQLite and on a throwaway
//! PostgreSQL cluster (`propledger_testkit`); `tls` connects to a cluster of its own over TLS.

mod support;

mod accounts;
mod chain;
mod crash;
mod entries;
mod export;
mod props;
mod reports;
mod tls;
mod unit;
