//! The reorg window: the hashes of the recent blocks the index holds, and the pure decisions
//! made from them and from headers alone. No IO: the follower reads headers and acts on the
//! verdict ([`ReorgWindow::check`], [`ReorgWindow::fork_point`]).

use std::collections::{BTreeMap, HashMap};

use alloy::primitives::B256;

use crate::source::{BlockHeader, RawLog};

/// How a run of new headers relates to the indexed chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// The headers are the blocks from the one asked for on, each the parent of the next, and
    /// the first extends the window (or the window does not hold the block before it).
    Extends,
    /// The first header does not extend the window's block before it: the chain forked at or
    /// before `below` (the block before the first header). The fork point is found with
    /// [`ReorgWindow::fork_point`].
    Forked {
        /// The stored block the new chain does not build on.
        below: u64,
    },
    /// The headers do not hold together (a gap, a wrong number, a header whose parent is not
    /// the header before it): the chain moved while they were read, and they are read again.
    Inconsistent,
}

/// Where the stored chain and the canonical one part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// The last block both chains share: everything indexed after it is rolled back.
    At(u64),
    /// No block of the window is on the canonical chain: the reorg is deeper than the window.
    BeyondWindow,
}

/// The hashes of the recent blocks, by number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReorgWindow {
    hashes: BTreeMap<u64, B256>,
}

impl ReorgWindow {
    /// A window holding these blocks.
    pub fn from_blocks(blocks: impl IntoIterator<Item = (u64, B256)>) -> Self {
        ReorgWindow {
            hashes: blocks.into_iter().collect(),
        }
    }

    /// The stored hash of block `n`.
    pub fn get(&self, n: u64) -> Option<B256> {
        self.hashes.get(&n).copied()
    }

    /// The stored blocks below `n`, highest first.
    pub fn below(&self, n: u64) -> impl Iterator<Item = (u64, B256)> + '_ {
        self.hashes.range(..n).rev().map(|(n, h)| (*n, *h))
    }

    /// The lowest stored block.
    pub fn first(&self) -> Option<u64> {
        self.hashes.keys().next().copied()
    }

    /// Whether `headers`, read from block `from` on, extend the window; see [`Link`].
    pub fn check(&self, from: u64, headers: &[BlockHeader]) -> Link {
        let numbered = headers
            .iter()
            .enumerate()
            .all(|(i, h)| h.number == from + i as u64);
        let chained = headers.windows(2).all(|w| w[1].parent_hash == w[0].hash);
        if !numbered || !chained {
            return Link::Inconsistent;
        }
        match (headers.first(), from.checked_sub(1)) {
            (Some(first), Some(prev)) => match self.get(prev) {
                Some(stored) if stored != first.parent_hash => Link::Forked { below: prev },
                _ => Link::Extends,
            },
            _ => Link::Extends,
        }
    }

    /// The fork point below block `from`, given the canonical headers of (some of) the stored
    /// blocks below it: the highest stored block whose hash the canonical chain has. Blocks the
    /// canonical chain has no header for are passed over (a chain shorter than the index).
    pub fn fork_point(&self, from: u64, canonical: &[BlockHeader]) -> Fork {
        let by_number: HashMap<u64, B256> = canonical.iter().map(|h| (h.number, h.hash)).collect();
        self.below(from)
            .find(|(n, hash)| by_number.get(n) == Some(hash))
            .map_or(Fork::BeyondWindow, |(n, _)| Fork::At(n))
    }

    /// Adds the blocks of `headers` (replacing what a rolled-back branch left).
    pub fn extend(&mut self, headers: &[BlockHeader]) {
        for h in headers {
            self.hashes.insert(h.number, h.hash);
        }
    }

    /// Forgets the blocks before `n`.
    pub fn keep_from(&mut self, n: u64) {
        self.hashes = self.hashes.split_off(&n);
    }
}

/// Whether every log names the hash of its block among `headers` (a log from another branch
/// than the headers' was read while the chain moved).
pub fn logs_match(headers: &[BlockHeader], logs: &[RawLog]) -> bool {
    let by_number: HashMap<u64, B256> = headers.iter().map(|h| (h.number, h.hash)).collect();
    logs.iter()
        .all(|l| by_number.get(&l.block_number) == Some(&l.block_hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, Bytes};

    /// Block `n` of branch `branch`: hashes differ between branches from the block where they
    /// part.
    fn hash(branch: u8, n: u64) -> B256 {
        let mut b = [0u8; 32];
        b[0] = branch;
        b[24..].copy_from_slice(&n.to_be_bytes());
        B256::from(b)
    }

    /// Headers `from..=to` of a chain that follows branch 0 up to `fork` and `branch` after it.
    fn chain(branch: u8, fork: u64, from: u64, to: u64) -> Vec<BlockHeader> {
        let h = |n: u64| {
            if n <= fork {
                hash(0, n)
            } else {
                hash(branch, n)
            }
        };
        (from..=to)
            .map(|n| BlockHeader {
                number: n,
                hash: h(n),
                parent_hash: if n == 0 { B256::ZERO } else { h(n - 1) },
                timestamp: 1_000 + n,
            })
            .collect()
    }

    /// A window of blocks `from..=to` of branch 0.
    fn window(from: u64, to: u64) -> ReorgWindow {
        ReorgWindow::from_blocks((from..=to).map(|n| (n, hash(0, n))))
    }

    #[test]
    fn headers_that_build_on_the_window_extend_it() {
        let w = window(10, 20);
        assert_eq!(w.check(21, &chain(0, u64::MAX, 21, 25)), Link::Extends);
        // An empty window (a fresh index) or an empty read extends anything.
        assert_eq!(
            ReorgWindow::default().check(21, &chain(1, 0, 21, 25)),
            Link::Extends
        );
        assert_eq!(w.check(21, &[]), Link::Extends);
        // From genesis there is no block before.
        assert_eq!(w.check(0, &chain(0, u64::MAX, 0, 3)), Link::Extends);
    }

    #[test]
    fn a_fork_at_every_depth_of_the_window_is_found() {
        let (low, high) = (10, 20);
        let w = window(low, high);
        for fork in low..high {
            // The new branch replaces every block after `fork`, and grew one block longer.
            let canonical = chain(7, fork, low, high + 1);
            let next = &canonical[(high + 1 - low) as usize..];
            assert_eq!(
                w.check(high + 1, next),
                Link::Forked { below: high },
                "fork at {fork}"
            );
            assert_eq!(
                w.fork_point(high + 1, &canonical),
                Fork::At(fork),
                "fork at {fork}"
            );
        }
        // A branch that shares nothing with the window is deeper than it.
        let canonical = chain(7, low - 1, low, high + 1);
        assert_eq!(w.fork_point(high + 1, &canonical), Fork::BeyondWindow);
        // Without the headers of the window's blocks nothing is known to be shared.
        assert_eq!(w.fork_point(high + 1, &[]), Fork::BeyondWindow);
    }

    #[test]
    fn a_chain_shorter_than_the_index_forks_at_its_last_shared_block() {
        let w = window(10, 20);
        // The canonical chain replaced blocks 16.. and is now only 18 blocks high: blocks 19
        // and 20 have no header.
        let canonical = chain(3, 15, 10, 18);
        assert_eq!(w.fork_point(21, &canonical), Fork::At(15));
    }

    #[test]
    fn a_gap_or_a_broken_link_is_inconsistent() {
        let w = window(10, 20);
        let mut gap = chain(0, u64::MAX, 21, 25);
        gap.remove(2);
        assert_eq!(w.check(21, &gap), Link::Inconsistent);
        // Numbered from elsewhere than asked.
        assert_eq!(w.check(21, &chain(0, u64::MAX, 22, 25)), Link::Inconsistent);
        // A header whose parent is not the header before it (two branches mixed in one read).
        let mut mixed = chain(0, u64::MAX, 21, 25);
        mixed[3] = chain(5, 22, 21, 25)[3].clone();
        assert_eq!(w.check(21, &mixed), Link::Inconsistent);
    }

    #[test]
    fn logs_must_name_their_blocks_hashes() {
        let headers = chain(0, u64::MAX, 21, 22);
        let log = |n: u64, hash: B256| RawLog {
            block_number: n,
            block_hash: hash,
            block_timestamp: None,
            tx_hash: B256::ZERO,
            tx_index: 0,
            log_index: 0,
            address: Address::ZERO,
            topics: Vec::new(),
            data: Bytes::new(),
        };
        assert!(logs_match(&headers, &[log(21, headers[0].hash)]));
        assert!(!logs_match(&headers, &[log(21, hash(9, 21))]));
        assert!(!logs_match(&headers, &[log(23, hash(0, 23))]));
    }

    #[test]
    fn the_window_keeps_what_it_is_told() {
        let mut w = window(10, 20);
        w.extend(&chain(4, 18, 19, 22));
        assert_eq!(w.get(19), Some(hash(4, 19)));
        assert_eq!(w.get(18), Some(hash(0, 18)));
        w.keep_from(15);
        assert_eq!(w.first(), Some(15));
        assert_eq!(
            w.below(17).map(|(n, _)| n).collect::<Vec<_>>(),
            vec![16, 15]
        );
    }
}
