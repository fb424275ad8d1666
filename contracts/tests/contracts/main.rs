//! End-to-end tests of the bindings, the deployer and the launcher against a real anvil (from
//! node_modules) or the embedded chain: each test starts its own node on a free loopback port and
//! stops it when done.
//!
//! - `purchase`: deploy the platform and a property, two investors buy shares from their own
//!   wallets, and the events read back through the bindings carry the expected fields.
//! - `restrictions`: a restricted transfer reverts, and `canTransfer` answers the matching
//!   [`propledger_contracts::ReasonCode`].
//! - `gas`: a plain stablecoin transfer next to a compliant share transfer.
//! - `launch`: a property tokenized in one transaction (the outbox's call, its receipt decoded),
//!   a second launch of the same id refused without a change, the wiring and gas next to the
//!   same property deployed contract by contract.
//! - `roles`: the deployer's role split over separate accounts, the two-step admin, and the
//!   check of an existing settlement token.

mod gas;
mod launch;
mod purchase;
mod restrictions;
mod roles;
mod support;
