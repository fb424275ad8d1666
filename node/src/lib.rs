//! PropLedger node.
