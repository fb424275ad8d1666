//! Integration tests of the node crate (one test binary).

mod api;
mod audit;
mod backup;
mod chain;
mod code;
mod failover;
mod keys;
mod run;
mod tls;
