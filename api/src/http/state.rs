//! The state every handler shares.

/// The API, as handlers see it.
pub type App = crate::app::Api;
