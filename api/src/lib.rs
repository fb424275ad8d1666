//! # propledger-api
//!
//! The HTTP API of a PropLedger node (axum, versioned under `/v1`), for operators, compliance
//! staff and auditors; investors sign in with their wallets in a later part.
//!
//! Map of the crate:
//! - [`app`]: [`Api`], the state every request shares (database, blob store, settings,
//!   metrics, rate limiters, chain status), and how it is served.
//! - [`db`]: the API's tables in the node's database (SQLite or PostgreSQL), its migrations,
//!   and statements written once for both engines.
//! - Resources, each with its types, rules and storage, testable without HTTP:
//!   [`users`] (staff accounts, sign-in, sessions), [`keys`] (API keys), [`properties`],
//!   [`documents`], [`deals`] (acquisitions, their pipeline, costs, pro-formas and actual
//!   returns), [`books`] (a property's accounts and reports, read through the ledger), and
//!   [`audit`] (the log of every write).
//! - Shared parts: [`auth`] (roles, principals, tokens, passwords, TOTP), [`blobs`] (the
//!   content-addressed store every file goes through), [`idempotency`], [`types`] (money,
//!   times, ids, cursors and pages), [`error`].
//! - [`admin`]: writes made from the node's command line, audited like the API's.
//! - [`http`]: the thin HTTP layer: routes, extractors, problem documents, the write flow
//!   (change + audit row + idempotent response in one transaction), limits, metrics, and the
//!   OpenAPI document generated from the handlers.
//!
//! Conventions every route follows: RFC 9457 problem documents with stable `type`s that never
//! show internals; cursor pagination with a page-size limit; `Idempotency-Key` on creating
//! POSTs; a request id on every response and log line; body-size, timeout and rate limits;
//! money as decimal text with its currency; `ETag`/`If-Match` versions on changeable
//! resources.

pub mod admin;
pub mod analytics;
pub mod anchors;
pub mod anomalies;
pub mod app;
pub mod audit;
pub mod audit_export;
pub mod auth;
pub mod avm;
pub mod blobs;
pub mod books;
pub mod business_docs;
pub mod chain_audit;
pub mod charts;
pub mod compliance;
pub mod comps;
pub mod db;
pub mod deals;
pub mod distributions;
pub mod documents;
pub mod error;
pub mod fx;
pub mod http;
pub mod idempotency;
pub mod investors;
pub mod keys;
pub mod market;
pub mod outbox;
pub mod pdf;
pub mod platform;
pub mod properties;
pub mod reconcile;
pub mod rehab;
pub mod sales;
pub mod siwe;
pub mod tax;
pub mod tokenization;
pub mod transactions;
pub mod types;
pub mod users;
pub mod valuations;
pub mod waterfall;

pub use app::{Api, ApiConfig, ChainContext, ChainStatus};
pub use error::{Error, Result};
