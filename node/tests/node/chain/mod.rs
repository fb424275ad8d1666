//! The embedded chain: core RPC and transactions, persistence across clean stops and kill -9,
//! logs and subscriptions, dev methods and reorgs, production mode, slow and idle clients, bad
//! input, and a conformance suite that runs
//! the same scenarios against anvil. The benchmark (`scripts/bench chain`) lives in `bench`,
//! ignored in normal runs.

mod bad_input;
mod basic;
mod bench;
mod conformance;
mod dev;
mod logs;
mod persistence;
mod production;
mod slow_clients;
mod support;

alloy::sol!(
    #[sol(rpc)]
    #[allow(missing_docs)]
    Probe,
    "tests/node/chain/Probe.json"
);
