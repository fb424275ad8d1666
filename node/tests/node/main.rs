//! Integration tests of the node crate (one test binary).

mod backup;
mod chain;
mod keys;
mod run;
