//! The crate's error type.

use alloy::primitives::{Address, TxHash};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A JSON-RPC request to the node failed.
    #[error("rpc request failed: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
    /// A contract call or deployment could not be sent, typically because the node predicted a
    /// revert while estimating it; the revert data, if any, is inside.
    #[error("contract call failed: {0}")]
    Contract(#[from] alloy::contract::Error),
    /// Waiting for a sent transaction to be mined failed.
    #[error("waiting for a transaction failed: {0}")]
    Pending(#[from] alloy::providers::PendingTransactionError),
    /// A transaction was mined but reverted.
    #[error("{action}: transaction {tx} reverted")]
    Reverted {
        /// What the transaction was meant to do.
        action: String,
        /// The transaction's hash.
        tx: TxHash,
    },
    /// A receipt lacks a field that a mined transaction must have.
    #[error("{action}: receipt of transaction {tx} has no {field}")]
    IncompleteReceipt {
        /// What the transaction was meant to do.
        action: String,
        /// The transaction's hash.
        tx: TxHash,
        /// The missing field.
        field: &'static str,
    },
    /// A mined transaction did not emit an event it must emit.
    #[error("{action}: transaction {tx} emitted no {event} event")]
    MissingEvent {
        /// What the transaction was meant to do.
        action: String,
        /// The transaction's hash.
        tx: TxHash,
        /// The event's name.
        event: &'static str,
    },
    /// A number is not one of the reason codes of `ReasonCodes.sol`.
    #[error("unknown reason code {0}")]
    UnknownReasonCode(u8),
    /// A string is not the slug of a reason code.
    #[error("unknown reason code slug `{0}`")]
    UnknownReasonSlug(String),
    /// Deployment parameters that the contracts would reject.
    #[error("invalid deployment parameters: {0}")]
    InvalidParams(&'static str),
    /// A role of the deployment is the zero address.
    #[error("invalid deployment parameters: the {0} role is the zero address")]
    ZeroRole(&'static str),
    /// The settlement token cannot back the platform's books.
    #[error("settlement token {token} refused: {reason}")]
    UnsupportedSettlementToken {
        /// The token's address.
        token: Address,
        /// Why it was refused.
        reason: String,
    },
}
