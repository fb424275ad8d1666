//! Ledger integration tests: every test in the engine modules runs on SQLite and on a throwaway
//! PostgreSQL cluster (see `support::pg`); `tls` connects to a cluster of its own over TLS.

mod support;

mod accounts;
mod chain;
mod crash;
mod entries;
mod export;
mod ext;
mod props;
mod reports;
mod tls;
