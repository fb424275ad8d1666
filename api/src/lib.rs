//! # propledger-api
//!
//! The HTTP API (axum, versioned under `/v1`) for operators, investors and auditors.
//!
//! Map: this crate is the home of the HTTP layer. It holds no code yet; the transfer-restriction
//! codes it will answer compliance questions with are `propledger_contracts::ReasonCode`.
