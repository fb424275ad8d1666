//! Mined blocks as the chain keeps them (header, transactions with their senders, receipts),
//! their on-disk encoding, and their JSON-RPC shapes.

use alloy::{
    consensus::{
        Block, BlockBody, Eip658Value, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom,
        Transaction as _, TxEnvelope, transaction::Recovered,
    },
    eips::eip2718::{Decodable2718, Encodable2718},
    primitives::{Address, B256, Bloom, Bytes, Log, LogData, U256},
    rlp::{Decodable, Encodable},
    rpc::types as rpc,
};

use super::codec::{self, Reader, Writer};

/// Appends `0x` and the lowercase hex of `bytes`.
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(b"0x");
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    // The slice is exactly twice the input, so encoding cannot fail.
    let _ = alloy::hex::encode_to_slice(bytes, &mut out[start..]);
}

/// Appends a JSON-RPC quantity (`0x` and hex without leading zeros).
fn push_quantity(out: &mut Vec<u8>, n: u64) {
    use std::io::Write;
    let _ = write!(out, "{n:#x}");
}

/// A transaction in a block or in the pool, with its recovered sender.
#[derive(Debug, Clone)]
pub(crate) struct StoredTx {
    pub(crate) envelope: TxEnvelope,
    pub(crate) sender: Address,
    pub(crate) hash: B256,
}

impl StoredTx {
    pub(crate) fn new(envelope: TxEnvelope, sender: Address) -> Self {
        let hash = *envelope.tx_hash();
        Self {
            envelope,
            sender,
            hash,
        }
    }

    pub(crate) fn nonce(&self) -> u64 {
        self.envelope.nonce()
    }

    /// The JSON-RPC object, optionally placed in a block.
    pub(crate) fn to_rpc(&self, placed: Option<(&StoredBlock, usize)>) -> rpc::Transaction {
        let (block_hash, block_number, index, price, timestamp) = match placed {
            Some((b, i)) => (
                Some(b.hash),
                Some(b.header.number),
                Some(i as u64),
                Some(self.envelope.effective_gas_price(b.header.base_fee_per_gas)),
                Some(b.header.timestamp),
            ),
            None => (None, None, None, None, None),
        };
        rpc::Transaction {
            inner: Recovered::new_unchecked(self.envelope.clone(), self.sender),
            block_hash,
            block_number,
            transaction_index: index,
            effective_gas_price: price,
            block_timestamp: timestamp,
        }
    }
}

/// What execution recorded about one transaction.
#[derive(Debug, Clone)]
pub(crate) struct StoredReceipt {
    pub(crate) success: bool,
    pub(crate) cumulative_gas_used: u64,
    pub(crate) gas_used: u64,
    pub(crate) logs: Vec<Log>,
    /// Index in the block of this receipt's first log.
    pub(crate) first_log_index: u64,
}

impl StoredReceipt {
    pub(crate) fn bloom(&self) -> Bloom {
        let mut bloom = Bloom::ZERO;
        for log in &self.logs {
            bloom.accrue_log(log);
        }
        bloom
    }

    fn consensus(&self, tx: &StoredTx) -> ReceiptEnvelope {
        let receipt = Receipt {
            status: Eip658Value::Eip658(self.success),
            cumulative_gas_used: self.cumulative_gas_used,
            logs: self.logs.clone(),
        };
        ReceiptEnvelope::from_typed(
            tx.envelope.tx_type(),
            ReceiptWithBloom::new(receipt, self.bloom()),
        )
    }
}

/// A block of the canonical chain.
#[derive(Debug)]
pub(crate) struct StoredBlock {
    pub(crate) header: Header,
    pub(crate) hash: B256,
    pub(crate) txs: Vec<StoredTx>,
    pub(crate) receipts: Vec<StoredReceipt>,
    /// RLP size of the whole block.
    pub(crate) size: u64,
}

/// The outcome of one transaction, before it is placed in a block.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) success: bool,
    pub(crate) gas_used: u64,
    pub(crate) logs: Vec<Log>,
}

impl StoredBlock {
    /// Seals a block: computes receipts' running totals, roots, bloom, hash and size. The
    /// header must carry everything but those derived fields.
    pub(crate) fn seal(mut header: Header, txs: Vec<StoredTx>, outcomes: Vec<Outcome>) -> Self {
        debug_assert_eq!(txs.len(), outcomes.len());
        let mut receipts = Vec::with_capacity(outcomes.len());
        let mut cumulative = 0u64;
        let mut log_index = 0u64;
        for o in outcomes {
            cumulative += o.gas_used;
            let n = o.logs.len() as u64;
            receipts.push(StoredReceipt {
                success: o.success,
                cumulative_gas_used: cumulative,
                gas_used: o.gas_used,
                logs: o.logs,
                first_log_index: log_index,
            });
            log_index += n;
        }
        let consensus_receipts: Vec<ReceiptEnvelope> = receipts
            .iter()
            .zip(&txs)
            .map(|(r, t)| r.consensus(t))
            .collect();
        let envelopes: Vec<TxEnvelope> = txs.iter().map(|t| t.envelope.clone()).collect();
        header.gas_used = cumulative;
        header.transactions_root = alloy::consensus::proofs::calculate_transaction_root(&envelopes);
        header.receipts_root =
            alloy::consensus::proofs::calculate_receipt_root(&consensus_receipts);
        header.logs_bloom = consensus_receipts
            .iter()
            .fold(Bloom::ZERO, |acc, r| acc | *r.logs_bloom());
        Self::from_parts(header, txs, receipts, envelopes)
    }

    fn from_parts(
        header: Header,
        txs: Vec<StoredTx>,
        receipts: Vec<StoredReceipt>,
        envelopes: Vec<TxEnvelope>,
    ) -> Self {
        let hash = header.hash_slow();
        let block = Block::new(
            header,
            BlockBody {
                transactions: envelopes,
                ommers: Vec::new(),
                withdrawals: Some(Default::default()),
            },
        );
        let size = block.length() as u64;
        Self {
            header: block.header,
            hash,
            txs,
            receipts,
            size,
        }
    }

    pub(crate) fn number(&self) -> u64 {
        self.header.number
    }

    /// Block body for the store: header, transactions with senders, receipts.
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.with_buf(|b| self.header.encode(b));
        w.len(self.txs.len());
        for (tx, receipt) in self.txs.iter().zip(&self.receipts) {
            w.with_buf(|b| tx.envelope.encode_2718(b));
            w.address(&tx.sender);
            w.bool(receipt.success);
            w.u64(receipt.gas_used);
            w.len(receipt.logs.len());
            for log in &receipt.logs {
                w.address(&log.address);
                w.len(log.data.topics().len());
                for topic in log.data.topics() {
                    w.b256(topic);
                }
                w.bytes(&log.data.data);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> codec::Result<Self> {
        let header =
            Header::decode(&mut r.bytes()?).map_err(|_| codec::Error::Invalid("header"))?;
        let n = r.len(30)?;
        let mut txs = Vec::with_capacity(n);
        let mut receipts = Vec::with_capacity(n);
        let mut envelopes = Vec::with_capacity(n);
        let mut cumulative = 0u64;
        let mut log_index = 0u64;
        for _ in 0..n {
            let envelope = TxEnvelope::decode_2718(&mut r.bytes()?)
                .map_err(|_| codec::Error::Invalid("transaction"))?;
            let sender = r.address()?;
            let success = r.bool()?;
            let gas_used = r.u64()?;
            let n_logs = r.len(24)?;
            let mut logs = Vec::with_capacity(n_logs);
            for _ in 0..n_logs {
                let address = r.address()?;
                let n_topics = r.len(32)?;
                if n_topics > 4 {
                    return Err(codec::Error::Invalid("topic count"));
                }
                let mut topics = Vec::with_capacity(n_topics);
                for _ in 0..n_topics {
                    topics.push(r.b256()?);
                }
                let data = Bytes::copy_from_slice(r.bytes()?);
                logs.push(Log {
                    address,
                    data: LogData::new_unchecked(topics, data),
                });
            }
            cumulative += gas_used;
            receipts.push(StoredReceipt {
                success,
                cumulative_gas_used: cumulative,
                gas_used,
                first_log_index: log_index,
                logs,
            });
            log_index += n_logs as u64;
            envelopes.push(envelope.clone());
            txs.push(StoredTx::new(envelope, sender));
        }
        if cumulative != header.gas_used {
            return Err(codec::Error::Invalid("block gas used"));
        }
        Ok(Self::from_parts(header, txs, receipts, envelopes))
    }

    /// The JSON-RPC header.
    pub(crate) fn rpc_header(&self) -> rpc::Header {
        rpc::Header {
            hash: self.hash,
            inner: self.header.clone(),
            total_difficulty: Some(U256::ZERO),
            size: Some(U256::from(self.size)),
        }
    }

    /// The JSON-RPC block, with transaction hashes or full transactions.
    pub(crate) fn to_rpc(&self, full: bool) -> rpc::Block {
        let transactions = if full {
            rpc::BlockTransactions::Full(
                self.txs
                    .iter()
                    .enumerate()
                    .map(|(i, t)| t.to_rpc(Some((self, i))))
                    .collect(),
            )
        } else {
            rpc::BlockTransactions::Hashes(self.txs.iter().map(|t| t.hash).collect())
        };
        rpc::Block {
            header: self.rpc_header(),
            uncles: Vec::new(),
            transactions,
            withdrawals: Some(Default::default()),
        }
    }

    /// The logs of one transaction as JSON-RPC logs.
    pub(crate) fn rpc_logs(&self, index: usize, removed: bool) -> Vec<rpc::Log> {
        let receipt = &self.receipts[index];
        receipt
            .logs
            .iter()
            .enumerate()
            .map(|(i, log)| self.rpc_log(index, receipt.first_log_index + i as u64, log, removed))
            .collect()
    }

    pub(crate) fn rpc_log(
        &self,
        tx_index: usize,
        log_index: u64,
        log: &Log,
        removed: bool,
    ) -> rpc::Log {
        rpc::Log {
            inner: log.clone(),
            block_hash: Some(self.hash),
            block_number: Some(self.header.number),
            block_timestamp: Some(self.header.timestamp),
            transaction_hash: Some(self.txs[tx_index].hash),
            transaction_index: Some(tx_index as u64),
            log_index: Some(log_index),
            removed,
        }
    }

    /// Appends one log as a JSON-RPC object, the same fields `rpc_log` serializes, without
    /// building the intermediate value (eth_getLogs returns up to tens of thousands of these).
    pub(crate) fn write_log_json(
        &self,
        out: &mut Vec<u8>,
        tx_index: usize,
        log_index: u64,
        log: &Log,
    ) {
        out.extend_from_slice(b"{\"address\":\"");
        push_hex(out, log.address.as_slice());
        out.extend_from_slice(b"\",\"topics\":[");
        for (k, t) in log.data.topics().iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            out.push(b'"');
            push_hex(out, t.as_slice());
            out.push(b'"');
        }
        out.extend_from_slice(b"],\"data\":\"");
        push_hex(out, &log.data.data);
        out.extend_from_slice(b"\",\"blockHash\":\"");
        push_hex(out, self.hash.as_slice());
        out.extend_from_slice(b"\",\"blockNumber\":\"");
        push_quantity(out, self.header.number);
        out.extend_from_slice(b"\",\"blockTimestamp\":\"");
        push_quantity(out, self.header.timestamp);
        out.extend_from_slice(b"\",\"transactionHash\":\"");
        push_hex(out, self.txs[tx_index].hash.as_slice());
        out.extend_from_slice(b"\",\"transactionIndex\":\"");
        push_quantity(out, tx_index as u64);
        out.extend_from_slice(b"\",\"logIndex\":\"");
        push_quantity(out, log_index);
        out.extend_from_slice(b"\",\"removed\":false}");
    }

    /// The JSON-RPC receipt of one transaction.
    pub(crate) fn rpc_receipt(&self, index: usize) -> rpc::TransactionReceipt {
        let tx = &self.txs[index];
        let receipt = &self.receipts[index];
        let logs = self.rpc_logs(index, false);
        let inner = Receipt {
            status: Eip658Value::Eip658(receipt.success),
            cumulative_gas_used: receipt.cumulative_gas_used,
            logs,
        };
        let contract_address = tx
            .envelope
            .kind()
            .is_create()
            .then(|| tx.sender.create(tx.nonce()));
        rpc::TransactionReceipt {
            inner: ReceiptEnvelope::from_typed(
                tx.envelope.tx_type(),
                ReceiptWithBloom::new(inner, receipt.bloom()),
            ),
            transaction_hash: tx.hash,
            transaction_index: Some(index as u64),
            block_hash: Some(self.hash),
            block_number: Some(self.header.number),
            gas_used: receipt.gas_used,
            effective_gas_price: tx
                .envelope
                .effective_gas_price(self.header.base_fee_per_gas),
            blob_gas_used: None,
            blob_gas_price: None,
            from: tx.sender,
            to: tx.envelope.to(),
            contract_address,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{
        consensus::{SignableTransaction, TxEip1559},
        network::TxSignerSync,
        primitives::TxKind,
        signers::local::PrivateKeySigner,
    };

    fn signed_tx(nonce: u64) -> StoredTx {
        let signer = PrivateKeySigner::random();
        let mut tx = TxEip1559 {
            chain_id: 31337,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(Address::repeat_byte(9)),
            value: U256::from(1),
            ..Default::default()
        };
        let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
        StoredTx::new(TxEnvelope::from(tx.into_signed(sig)), signer.address())
    }

    #[test]
    fn sealed_blocks_round_trip_with_the_same_hash() {
        let header = Header {
            number: 3,
            gas_limit: 30_000_000,
            base_fee_per_gas: Some(7),
            ..Default::default()
        };
        let txs = vec![signed_tx(0), signed_tx(5)];
        let logs = vec![Log {
            address: Address::repeat_byte(1),
            data: LogData::new_unchecked(vec![B256::repeat_byte(2)], Bytes::from_static(b"x")),
        }];
        let outcomes = vec![
            Outcome {
                success: true,
                gas_used: 21_000,
                logs: logs.clone(),
            },
            Outcome {
                success: false,
                gas_used: 22_000,
                logs: Vec::new(),
            },
        ];
        let block = StoredBlock::seal(header, txs, outcomes);
        assert_eq!(block.header.gas_used, 43_000);
        assert_eq!(block.receipts[1].cumulative_gas_used, 43_000);
        assert!(
            block
                .header
                .logs_bloom
                .contains_input(alloy::primitives::BloomInput::Raw(
                    Address::repeat_byte(1).as_slice()
                ))
        );
        let mut w = Writer::new();
        block.encode(&mut w);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        let decoded = StoredBlock::decode(&mut r).expect("decode");
        r.finish().expect("no trailing bytes");
        assert_eq!(decoded.hash, block.hash);
        assert_eq!(decoded.size, block.size);
        assert_eq!(decoded.receipts[0].logs, logs);
        assert_eq!(decoded.txs[1].hash, block.txs[1].hash);
        let mut json = Vec::new();
        decoded.write_log_json(&mut json, 0, 0, &logs[0]);
        let fast: serde_json::Value = serde_json::from_slice(&json).expect("json");
        let slow = serde_json::to_value(decoded.rpc_log(0, 0, &logs[0], false)).expect("json");
        assert_eq!(fast, slow, "the fast log writer agrees with serde");
        let receipt = decoded.rpc_receipt(0);
        assert_eq!(receipt.gas_used, 21_000);
        assert_eq!(receipt.effective_gas_price, 1_000_000_007);
    }
}
