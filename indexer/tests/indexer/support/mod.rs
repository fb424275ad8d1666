//! Test support: real chains, databases and a fault-injecting proxy.

pub(crate) mod anvil;
pub(crate) mod db;
pub(crate) mod fault_proxy;
pub(crate) mod state;
pub(crate) mod world;
