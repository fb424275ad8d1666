//! PropLedger indexer.
