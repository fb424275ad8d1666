//! The canonical chain in memory: blocks, indexes by hash, the latest state, and the state
//! diffs of the most recent blocks (the retention window) through which older states are read
//! and blocks are rolled back.

use std::{collections::VecDeque, sync::Arc};

use alloy::{
    eips::{BlockNumberOrTag, eip1559::BaseFeeParams},
    primitives::{Address, B256, map::B256Map},
};

use super::{
    block::StoredBlock,
    filters::LogFilter,
    genesis::GenesisSpec,
    state::{Account, HistoricalState, State, StateDiff, StateRead},
};

/// Failures reading or reshaping the chain.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Error {
    /// The block does not exist (yet).
    #[error("block {0} not found")]
    UnknownBlock(u64),
    /// No block has that hash.
    #[error("block {0} not found")]
    UnknownHash(B256),
    /// The state at that block is older than the retention window.
    #[error(
        "historical state for block {block} is not available: the node keeps state for blocks {oldest} and later"
    )]
    StatePruned {
        /// Requested block.
        block: u64,
        /// Oldest block whose state is kept.
        oldest: u64,
    },
    /// A rollback deeper than the retention window or the chain.
    #[error(
        "cannot roll back to block {target}: the oldest block that can be restored is {oldest}"
    )]
    RewindTooDeep {
        /// Requested block.
        target: u64,
        /// Oldest block the chain can return to.
        oldest: u64,
    },
    /// `fromBlock` after `toBlock`.
    #[error("invalid block range params")]
    InvalidRange,
    /// eth_getLogs over too many blocks.
    #[error("query exceeds max block range {0}")]
    RangeTooLarge(u64),
    /// eth_getLogs matched too many logs; retry with the suggested range.
    #[error(
        "query returned more than {limit} results. Try with this block range [{from:#x}, {to:#x}]."
    )]
    TooManyResults {
        /// The result limit.
        limit: usize,
        /// Suggested start.
        from: u64,
        /// Suggested end.
        to: u64,
    },
    /// A block does not extend the head (a bug in the miner, never client input).
    #[error("block {number} does not extend the head {head}")]
    NotChild {
        /// The new block's number.
        number: u64,
        /// The head's number.
        head: u64,
    },
}

/// EIP-1559 base fee of the block after `parent`. The block after genesis uses the configured
/// initial base fee, as anvil does, so the first transactions pay exactly what was configured.
pub(crate) fn next_base_fee(parent: &alloy::consensus::Header, initial: u64) -> u64 {
    if parent.number == 0 {
        return initial;
    }
    parent
        .next_block_base_fee(BaseFeeParams::ethereum())
        .unwrap_or(initial)
}

/// The in-memory chain.
#[derive(Debug)]
pub(crate) struct ChainData {
    pub(crate) genesis: GenesisSpec,
    blocks: Vec<Arc<StoredBlock>>,
    /// Diffs of the newest blocks, oldest first; the last one belongs to the head.
    diffs: VecDeque<Arc<StateDiff>>,
    by_hash: B256Map<u64>,
    txs: B256Map<(u64, u32)>,
    state: State,
    retention: u64,
    /// The dev clock offset last recorded (seconds added to wall time).
    pub(crate) time_offset_secs: i64,
}

/// A state at some block: the latest, or an older one read through diffs.
pub(crate) enum StateAt<'a> {
    Latest(&'a State),
    Past(HistoricalState<'a>),
}

impl StateAt<'_> {
    pub(crate) fn as_read(&self) -> &dyn StateRead {
        match self {
            Self::Latest(s) => *s,
            Self::Past(h) => h,
        }
    }
}

impl ChainData {
    /// A chain holding only block 0.
    pub(crate) fn new(genesis: GenesisSpec, retention: u64) -> Self {
        let mut state = State::default();
        state.apply(&genesis.state_diff());
        let block = Arc::new(StoredBlock::seal(genesis.header(), Vec::new(), Vec::new()));
        let mut by_hash = B256Map::default();
        by_hash.insert(block.hash, 0);
        Self {
            genesis,
            blocks: vec![block],
            diffs: VecDeque::new(),
            by_hash,
            txs: B256Map::default(),
            state,
            retention: retention.max(1),
            time_offset_secs: 0,
        }
    }

    pub(crate) fn head(&self) -> &Arc<StoredBlock> {
        // Invariant: block 0 is never removed.
        &self.blocks[self.blocks.len() - 1]
    }

    pub(crate) fn head_number(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    pub(crate) fn block(&self, number: u64) -> Option<&Arc<StoredBlock>> {
        usize::try_from(number)
            .ok()
            .and_then(|n| self.blocks.get(n))
    }

    pub(crate) fn block_by_hash(&self, hash: &B256) -> Option<&Arc<StoredBlock>> {
        self.by_hash.get(hash).and_then(|n| self.block(*n))
    }

    /// A mined transaction and its position.
    pub(crate) fn tx(&self, hash: &B256) -> Option<(&Arc<StoredBlock>, usize)> {
        let (n, i) = self.txs.get(hash)?;
        Some((self.block(*n)?, *i as usize))
    }

    pub(crate) fn contains_tx(&self, hash: &B256) -> bool {
        self.txs.contains_key(hash)
    }

    /// The block number a tag or number stands for (a single node finalizes at once, so
    /// `safe` and `finalized` are the head; `pending` is the head too).
    pub(crate) fn resolve(&self, tag: BlockNumberOrTag) -> Result<u64, Error> {
        let n = match tag {
            BlockNumberOrTag::Latest
            | BlockNumberOrTag::Pending
            | BlockNumberOrTag::Safe
            | BlockNumberOrTag::Finalized => self.head_number(),
            BlockNumberOrTag::Earliest => 0,
            BlockNumberOrTag::Number(n) => n,
        };
        if n > self.head_number() {
            return Err(Error::UnknownBlock(n));
        }
        Ok(n)
    }

    /// Hash of block `n` for BLOCKHASH, or zero if there is none.
    pub(crate) fn hash_of(&self, n: u64) -> B256 {
        self.block(n).map(|b| b.hash).unwrap_or_default()
    }

    /// The latest state.
    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    pub(crate) fn account(&self, address: &Address) -> Option<Account> {
        self.state.account(address)
    }

    /// The oldest block whose state can be read or rolled back to.
    pub(crate) fn oldest_state(&self) -> u64 {
        self.head_number() - self.diffs.len() as u64
    }

    /// The state after block `n`.
    pub(crate) fn state_at(&self, n: u64) -> Result<StateAt<'_>, Error> {
        let head = self.head_number();
        if n > head {
            return Err(Error::UnknownBlock(n));
        }
        if n == head {
            return Ok(StateAt::Latest(&self.state));
        }
        let oldest = self.oldest_state();
        if n < oldest {
            return Err(Error::StatePruned { block: n, oldest });
        }
        // diffs[k] belongs to block oldest + 1 + k.
        let skip = (n - oldest) as usize;
        Ok(StateAt::Past(HistoricalState {
            latest: &self.state,
            newer: self.diffs.iter().skip(skip).map(|d| d.as_ref()).collect(),
        }))
    }

    /// Appends a block on top of the head and moves the state over its diff.
    pub(crate) fn push(
        &mut self,
        block: Arc<StoredBlock>,
        diff: Arc<StateDiff>,
    ) -> Result<(), Error> {
        let head = self.head();
        if block.number() != head.number() + 1 || block.header.parent_hash != head.hash {
            return Err(Error::NotChild {
                number: block.number(),
                head: head.number(),
            });
        }
        self.state.apply(&diff);
        self.diffs.push_back(diff);
        while self.diffs.len() as u64 > self.retention {
            self.diffs.pop_front();
        }
        let number = block.number();
        self.by_hash.insert(block.hash, number);
        for (i, tx) in block.txs.iter().enumerate() {
            self.txs.insert(tx.hash, (number, i as u32));
        }
        self.blocks.push(block);
        Ok(())
    }

    /// Removes every block above `target`, newest first, moving the state back.
    pub(crate) fn rewind(&mut self, target: u64) -> Result<Vec<Arc<StoredBlock>>, Error> {
        if target >= self.head_number() {
            return Ok(Vec::new());
        }
        let oldest = self.oldest_state();
        if target < oldest {
            return Err(Error::RewindTooDeep { target, oldest });
        }
        let mut removed = Vec::new();
        while self.head_number() > target {
            let (Some(block), Some(diff)) = (self.blocks.pop(), self.diffs.pop_back()) else {
                break;
            };
            self.state.revert(&diff);
            self.by_hash.remove(&block.hash);
            for tx in &block.txs {
                self.txs.remove(&tx.hash);
            }
            removed.push(block);
        }
        Ok(removed)
    }

    /// Base fee of the block after `n`.
    pub(crate) fn next_base_fee(&self, n: u64) -> u64 {
        match self.block(n) {
            Some(b) => next_base_fee(&b.header, self.genesis.base_fee),
            None => self.genesis.base_fee,
        }
    }

    /// `eth_getLogs` over an inclusive range, as a JSON array, refusing ranges over
    /// `max_range` blocks and results over `max_results` logs.
    pub(crate) fn logs_json(
        &self,
        filter: &LogFilter,
        from: u64,
        to: u64,
        max_range: u64,
        max_results: usize,
    ) -> Result<Vec<u8>, Error> {
        if from > to {
            return Err(Error::InvalidRange);
        }
        if to - from >= max_range {
            return Err(Error::RangeTooLarge(max_range));
        }
        let to = to.min(self.head_number());
        if from > to {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(64 * 1024);
        out.push(b'[');
        let mut count = 0usize;
        for n in from..=to {
            let Some(block) = self.block(n) else { break };
            let before = count;
            filter.for_each_match(block, |i, index, log| {
                if count <= max_results {
                    if count > 0 {
                        out.push(b',');
                    }
                    block.write_log_json(&mut out, i, index, log);
                }
                count += 1;
            });
            if count > max_results {
                // Suggest the range that fits: up to the block before this one, or this block
                // alone if it is the first.
                let end = if count - before > max_results || n == from {
                    n
                } else {
                    n - 1
                };
                return Err(Error::TooManyResults {
                    limit: max_results,
                    from,
                    to: end,
                });
            }
        }
        out.push(b']');
        Ok(out)
    }

    /// Blocks `from..=to` that exist, oldest first (for fee history).
    pub(crate) fn blocks_range(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = &Arc<StoredBlock>> {
        (from..=to).filter_map(|n| self.block(n))
    }
}
