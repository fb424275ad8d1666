//! The API's integration tests: the real router over a real database (SQLite and a throwaway
//! PostgreSQL cluster), called as clients call it.

mod anomalies;
mod audit;
mod auth;
mod authz;
mod bench;
mod books;
mod business_documents;
mod chain_audit;
mod chainapp;
mod compliance;
mod conventions;
mod deals;
mod distributions;
mod documents;
mod hold;
mod investors;
mod market;
mod network;
mod outbox;
mod outbox_crash;
mod properties;
mod rehab;
mod sales;
mod support;
mod tokenization;
mod trading;
mod transactions;
mod valuation_bench;
mod waterfall_runs;
mod waterfalls;
