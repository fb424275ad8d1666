//! End-to-end tests of the bindings and the deployer against a real anvil (from node_modules):
//! each test starts its own node on a free loopback port and kills it when done.
//!
//! - `purchase`: deploy the platform and a property, two investors buy shares from their own
//!   wallets, and the events read back through the bindings carry the expected fields.
//! - `restrictions`: a restricted transfer reverts, and `canTransfer` answers the matching
//!   [`propledger_contracts::ReasonCode`].
//! - `gas`: a plain stablecoin transfer next to a compliant share transfer.
//! - `roles`: the deployer's role split over separate accounts, the two-step admin, and the
//!   check of an existing settlement token.

mod gas;
mod purchase;
mod restrictions;
mod roles;
mod support;
