//! JSON shapes of the answers we read, kept minimal so that chains with extra fields or other
//! transaction types decode all the same.

use alloy::primitives::{Address, B256, Bytes, U64};
use serde::Deserialize;

use super::{BlockHeader, RawLog, SourceError};

/// The part of an `eth_getBlockByNumber` answer we keep.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireHeader {
    number: U64,
    hash: B256,
    parent_hash: B256,
    timestamp: U64,
}

impl WireHeader {
    pub(super) fn into_header(self) -> BlockHeader {
        BlockHeader {
            number: self.number.to(),
            hash: self.hash,
            parent_hash: self.parent_hash,
            timestamp: self.timestamp.to(),
        }
    }
}

/// One log of an `eth_getLogs` answer. Mined logs carry every position field; a log without
/// them (pending) is a decode error.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireLog {
    address: Address,
    topics: Vec<B256>,
    data: Bytes,
    block_number: Option<U64>,
    block_hash: Option<B256>,
    #[serde(default)]
    block_timestamp: Option<U64>,
    transaction_hash: Option<B256>,
    transaction_index: Option<U64>,
    log_index: Option<U64>,
}

impl WireLog {
    pub(super) fn into_raw(self) -> Result<RawLog, SourceError> {
        let missing = |field: &str| {
            SourceError::Decode(format!(
                "eth_getLogs returned a log without {field} (a pending log?)"
            ))
        };
        Ok(RawLog {
            block_number: self
                .block_number
                .ok_or_else(|| missing("blockNumber"))?
                .to(),
            block_hash: self.block_hash.ok_or_else(|| missing("blockHash"))?,
            block_timestamp: self.block_timestamp.map(|t| t.to()),
            tx_hash: self
                .transaction_hash
                .ok_or_else(|| missing("transactionHash"))?,
            tx_index: self
                .transaction_index
                .ok_or_else(|| missing("transactionIndex"))?
                .to(),
            log_index: self.log_index.ok_or_else(|| missing("logIndex"))?.to(),
            address: self.address,
            topics: self.topics,
            data: self.data,
        })
    }
}
