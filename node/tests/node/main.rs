//! Integration tests of the node crate (one test binary).

mod api;
mod backup;
mod chain;
mod code;
mod keys;
mod run;
mod tls;
