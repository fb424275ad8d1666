//! Integration tests of the node crate (one test binary).

mod chain;
mod keys;
mod run;
