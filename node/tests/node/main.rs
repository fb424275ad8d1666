//! Integration tests of the node crate (one test binary).

mod api;
mod chain;
mod run;
