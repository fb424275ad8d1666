//! Integration tests of the node crate (one test binary).

mod backup;
mod chain;
mod keys;
mod run;
mod tls;
/// The ledger tests' test CA and TLS-terminating proxy.
#[path = "../../../ledger/tests/ledger/support/tls.rs"]
mod tls_support;
