//! # propledger-net
//!
//! The edges where PropLedger meets the network, shared by the embedded chain, the node and
//! the API:
//! - [`serve`]: an axum router served with a cap on open connections and timeouts for slow
//!   and idle clients ([`ServerLimits`]).
//! - [`tls`]: the TLS client configuration (rustls with ring; Mozilla's roots and the
//!   operator's CA files).
//! - [`http`]: the HTTP/1.1 client of JSON-RPC endpoints, plain or TLS, on sockets that
//!   acknowledge what they read at once.
//! - [`rpc`]: alloy JSON-RPC clients for `http(s)://` and `ws(s)://` endpoints over them.
//! - [`secret`]: [`Secret`], a value that never shows in `Debug` output and is wiped on drop.
//! - [`report`]: error text with the causes that say what happened.
//! - [`redact`]: URLs with their credentials and API keys masked, and a [`Redactor`] that masks
//!   known secrets in any text (error messages, log lines).

pub mod http;
pub mod redact;
pub mod report;
pub mod rpc;
pub mod secret;
pub mod serve;
pub mod tls;

pub use redact::{Redactor, redact_url};
pub use report::describe;
pub use secret::Secret;
pub use serve::{ServerLimits, serve};
