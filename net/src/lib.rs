//! # propledger-net
//!
//! The edges where PropLedger meets the network, shared by the embedded chain, the node and
//! the API:
//! - [`serve`]: an axum router served with a cap on open connections and timeouts for slow
//!   and idle clients ([`ServerLimits`]).
//! - [`secret`]: [`Secret`], a value that never shows in `Debug` output and is wiped on drop.
//! - [`redact`]: URLs with their credentials and API keys masked, and a [`Redactor`] that masks
//!   known secrets in any text (error messages, log lines).

pub mod redact;
pub mod secret;
pub mod serve;

pub use redact::{Redactor, redact_url};
pub use secret::Secret;
pub use serve::{ServerLimits, serve};
