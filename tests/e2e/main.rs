//! End to end: the real `propledger` binary, driven only through its HTTP API and the
//! investors' own wallet signatures (alloy local signers), through the whole investment
//! lifecycle (`propledger demo`'s), on the embedded chain and on anvil, on SQLite and on
//! PostgreSQL; then killed with SIGKILL at points during the lifecycle and started again.
//!
//! The web app runs in headless Chromium against the node on its embedded chain (`browser`).
//!
//! The lifecycle runs on all four combinations every time. The kill points run a subset chosen
//! by `PROPLEDGER_TEST_SEED` (default: the day); `PROPLEDGER_TEST_FULL=1` (`scripts/test
//! --full`) kills the node at every one of them.

mod bench;
mod browser;
mod external_anchor;
mod failover;
mod lifecycle;
mod push;
mod restart;
mod setup;
