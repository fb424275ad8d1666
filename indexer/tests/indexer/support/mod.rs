//! Test support: real chains, databases and a fault-injecting proxy.

pub(crate) mod anvil;
pub(crate) mod db;
pub(crate) mod fault_proxy;
/// The ledger tests' throwaway PostgreSQL cluster, shared by both test binaries.
#[path = "../../../../ledger/tests/ledger/support/pg.rs"]
pub(crate) mod pg;
pub(crate) mod state;
/// The ledger tests' test CA and TLS-terminating proxy.
#[path = "../../../../ledger/tests/ledger/support/tls.rs"]
pub(crate) mod tls;
pub(crate) mod world;
