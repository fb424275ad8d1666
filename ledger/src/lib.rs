//! PropLedger ledger.
