//! PropLedger api.
