//! Log filters: the matching rule (a pure function over addresses and topic positions, with a
//! bloom pre-check), and the registry behind `eth_newFilter` / `eth_getFilterChanges`, whose
//! filters expire when nobody polls them and hold a bounded backlog.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, Bloom, BloomInput, Log, U256, keccak256, map::HashMap},
    rpc::types as rpc,
};

use super::block::StoredBlock;

/// Most addresses one filter may list.
pub(crate) const MAX_FILTER_ADDRESSES: usize = 1_000;
/// Most alternatives one topic position may list.
pub(crate) const MAX_TOPIC_ALTERNATIVES: usize = 1_000;
/// A filter nobody polled for this long is removed (geth uses five minutes).
pub(crate) const FILTER_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Most changes a filter holds between polls; older ones are dropped.
pub(crate) const MAX_FILTER_BACKLOG: usize = 10_000;

/// Why a filter was refused or is unknown.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Error {
    /// Too many addresses.
    #[error("too many addresses in filter: {0}, limit {MAX_FILTER_ADDRESSES}")]
    TooManyAddresses(usize),
    /// Too many alternatives at one topic position.
    #[error("too many topic alternatives in filter: {0}, limit {MAX_TOPIC_ALTERNATIVES}")]
    TooManyTopics(usize),
    /// No filter with that id (never installed, uninstalled, or expired).
    #[error("filter not found")]
    NotFound,
    /// The registry holds its maximum.
    #[error("too many filters installed: limit {0}")]
    TooManyFilters(usize),
}

/// Which logs a filter selects, independent of block range. An empty address list or topic
/// position matches anything; a position lists alternatives (OR); positions combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LogFilter {
    addresses: Vec<Address>,
    topics: [Vec<B256>; 4],
    address_blooms: Vec<Bloom>,
    topic_blooms: [Vec<Bloom>; 4],
}

fn bloom_of(bytes: &[u8]) -> Bloom {
    let mut b = Bloom::ZERO;
    b.accrue(BloomInput::Hash(keccak256(bytes)));
    b
}

impl LogFilter {
    /// Builds a filter from address and topic alternatives.
    pub(crate) fn new(addresses: Vec<Address>, topics: [Vec<B256>; 4]) -> Result<Self, Error> {
        if addresses.len() > MAX_FILTER_ADDRESSES {
            return Err(Error::TooManyAddresses(addresses.len()));
        }
        if let Some(t) = topics.iter().find(|t| t.len() > MAX_TOPIC_ALTERNATIVES) {
            return Err(Error::TooManyTopics(t.len()));
        }
        let mut addresses = addresses;
        addresses.sort_unstable();
        addresses.dedup();
        let mut topics = topics;
        for t in &mut topics {
            t.sort_unstable();
            t.dedup();
        }
        let address_blooms = addresses.iter().map(|a| bloom_of(a.as_slice())).collect();
        let topic_blooms = topics
            .clone()
            .map(|alts| alts.iter().map(|t| bloom_of(t.as_slice())).collect());
        Ok(Self {
            addresses,
            topics,
            address_blooms,
            topic_blooms,
        })
    }

    /// The address and topic part of a JSON-RPC filter.
    pub(crate) fn from_rpc(f: &rpc::Filter) -> Result<Self, Error> {
        let addresses = f.address.iter().copied().collect();
        let topics = f.topics.clone().map(|t| t.iter().copied().collect());
        Self::new(addresses, topics)
    }

    /// Whether a log matches.
    pub(crate) fn matches(&self, log: &Log) -> bool {
        if !self.addresses.is_empty() && self.addresses.binary_search(&log.address).is_err() {
            return false;
        }
        let topics = log.data.topics();
        self.topics.iter().enumerate().all(|(i, alts)| {
            alts.is_empty() || topics.get(i).is_some_and(|t| alts.binary_search(t).is_ok())
        })
    }

    /// Whether a block or receipt with this bloom may hold a matching log (no false negatives).
    pub(crate) fn may_match(&self, bloom: &Bloom) -> bool {
        let any = |blooms: &[Bloom]| blooms.is_empty() || blooms.iter().any(|b| bloom.contains(b));
        any(&self.address_blooms) && self.topic_blooms.iter().all(|t| any(t))
    }

    /// Visits the matching logs of a block in block order with their transaction index and
    /// log index.
    pub(crate) fn for_each_match(&self, block: &StoredBlock, mut f: impl FnMut(usize, u64, &Log)) {
        if !self.may_match(&block.header.logs_bloom) {
            return;
        }
        for (i, receipt) in block.receipts.iter().enumerate() {
            for (j, log) in receipt.logs.iter().enumerate() {
                if self.matches(log) {
                    f(i, receipt.first_log_index + j as u64, log);
                }
            }
        }
    }

    /// The matching logs of a block, in block order.
    pub(crate) fn block_logs(&self, block: &StoredBlock, removed: bool, out: &mut Vec<rpc::Log>) {
        self.for_each_match(block, |i, index, log| {
            out.push(block.rpc_log(i, index, log, removed));
        });
    }
}

/// What a polling filter watches.
#[derive(Debug, Clone)]
pub(crate) enum FilterKind {
    /// New block hashes.
    Blocks,
    /// Matching logs (and removed logs on a reorg), with the original request for
    /// `eth_getFilterLogs`.
    Logs(Box<LogFilter>, Box<rpc::Filter>),
    /// Hashes of transactions entering the pool.
    PendingTransactions,
}

/// What `eth_getFilterChanges` returns.
#[derive(Debug, Clone)]
pub(crate) enum Changes {
    Hashes(Vec<B256>),
    Logs(Vec<rpc::Log>),
}

#[derive(Debug)]
struct Installed {
    kind: FilterKind,
    hashes: VecDeque<B256>,
    logs: VecDeque<rpc::Log>,
    last_poll: Instant,
}

/// Installed polling filters.
#[derive(Debug)]
pub(crate) struct Registry {
    filters: HashMap<U256, Installed>,
    max_filters: usize,
    next_id: u64,
    id_salt: B256,
}

impl Registry {
    pub(crate) fn new(max_filters: usize) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Self {
            filters: HashMap::default(),
            max_filters,
            next_id: 1,
            id_salt: keccak256(nanos.to_be_bytes()),
        }
    }

    /// Installs a filter and returns its id.
    pub(crate) fn install(&mut self, kind: FilterKind, now: Instant) -> Result<U256, Error> {
        self.expire(now);
        if self.filters.len() >= self.max_filters {
            return Err(Error::TooManyFilters(self.max_filters));
        }
        let mut seed = self.id_salt.to_vec();
        seed.extend_from_slice(&self.next_id.to_be_bytes());
        self.next_id += 1;
        // 128-bit ids, unguessable across filters, like geth's.
        let id = U256::from_be_slice(&keccak256(seed)[..16]);
        self.filters.insert(
            id,
            Installed {
                kind,
                hashes: VecDeque::new(),
                logs: VecDeque::new(),
                last_poll: now,
            },
        );
        Ok(id)
    }

    pub(crate) fn uninstall(&mut self, id: &U256) -> bool {
        self.filters.remove(id).is_some()
    }

    /// The filter's definition (for `eth_getFilterLogs`).
    pub(crate) fn kind(&mut self, id: &U256, now: Instant) -> Result<FilterKind, Error> {
        self.expire(now);
        let f = self.filters.get_mut(id).ok_or(Error::NotFound)?;
        f.last_poll = now;
        Ok(f.kind.clone())
    }

    /// Drains what happened since the last poll.
    pub(crate) fn changes(&mut self, id: &U256, now: Instant) -> Result<Changes, Error> {
        self.expire(now);
        let f = self.filters.get_mut(id).ok_or(Error::NotFound)?;
        f.last_poll = now;
        Ok(match f.kind {
            FilterKind::Logs(..) => Changes::Logs(f.logs.drain(..).collect()),
            _ => Changes::Hashes(f.hashes.drain(..).collect()),
        })
    }

    /// Feeds blocks that joined (`removed == false`) or left the chain.
    pub(crate) fn on_blocks(
        &mut self,
        blocks: &[std::sync::Arc<StoredBlock>],
        removed: bool,
        now: Instant,
    ) {
        self.expire(now);
        for f in self.filters.values_mut() {
            match &f.kind {
                FilterKind::Blocks if !removed => {
                    f.hashes.extend(blocks.iter().map(|b| b.hash));
                }
                FilterKind::Logs(filter, _) => {
                    let mut logs = Vec::new();
                    for b in blocks {
                        filter.block_logs(b, removed, &mut logs);
                    }
                    f.logs.extend(logs);
                }
                _ => {}
            }
            trim(&mut f.hashes);
            trim(&mut f.logs);
        }
    }

    /// Feeds transactions that entered the pool.
    pub(crate) fn on_pending(&mut self, hashes: &[B256]) {
        for f in self.filters.values_mut() {
            if matches!(f.kind, FilterKind::PendingTransactions) {
                f.hashes.extend(hashes.iter().copied());
                trim(&mut f.hashes);
            }
        }
    }

    fn expire(&mut self, now: Instant) {
        self.filters
            .retain(|_, f| now.saturating_duration_since(f.last_poll) < FILTER_TIMEOUT);
    }
}

fn trim<T>(q: &mut VecDeque<T>) {
    while q.len() > MAX_FILTER_BACKLOG {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Bytes, LogData};
    use proptest::prelude::*;

    fn log(address: u8, topics: &[u8]) -> Log {
        Log {
            address: Address::repeat_byte(address),
            data: LogData::new_unchecked(
                topics.iter().map(|t| B256::repeat_byte(*t)).collect(),
                Bytes::new(),
            ),
        }
    }

    fn filter(addresses: &[u8], topics: [&[u8]; 4]) -> LogFilter {
        LogFilter::new(
            addresses.iter().map(|a| Address::repeat_byte(*a)).collect(),
            topics.map(|t| t.iter().map(|x| B256::repeat_byte(*x)).collect()),
        )
        .expect("filter")
    }

    #[test]
    fn every_filter_shape() {
        let l = log(1, &[10, 20, 30]);
        assert!(filter(&[], [&[], &[], &[], &[]]).matches(&l));
        assert!(filter(&[1, 2], [&[], &[], &[], &[]]).matches(&l));
        assert!(!filter(&[2], [&[], &[], &[], &[]]).matches(&l));
        assert!(filter(&[], [&[10], &[], &[], &[]]).matches(&l));
        // null in first position, OR in second
        assert!(filter(&[], [&[], &[21, 20], &[], &[]]).matches(&l));
        assert!(!filter(&[], [&[], &[21, 22], &[], &[]]).matches(&l));
        // a position the log does not have never matches a concrete topic
        assert!(!filter(&[], [&[], &[], &[], &[40]]).matches(&l));
        assert!(filter(&[1], [&[10], &[20], &[30], &[]]).matches(&l));
    }

    #[test]
    fn limits_are_enforced() {
        let many: Vec<Address> = (0..=MAX_FILTER_ADDRESSES)
            .map(|i| Address::left_padding_from(&i.to_be_bytes()))
            .collect();
        assert!(matches!(
            LogFilter::new(many, Default::default()),
            Err(Error::TooManyAddresses(_))
        ));
    }

    #[test]
    fn registry_tracks_changes_expires_and_bounds_filters() {
        let mut r = Registry::new(2);
        let t0 = Instant::now();
        let blocks = r.install(FilterKind::Blocks, t0).expect("install");
        let pending = r
            .install(FilterKind::PendingTransactions, t0)
            .expect("install");
        assert_eq!(
            r.install(FilterKind::Blocks, t0),
            Err(Error::TooManyFilters(2))
        );
        r.on_pending(&[B256::repeat_byte(1)]);
        assert!(matches!(r.changes(&pending, t0), Ok(Changes::Hashes(h)) if h.len() == 1));
        assert!(matches!(r.changes(&pending, t0), Ok(Changes::Hashes(h)) if h.is_empty()));
        let later = t0 + FILTER_TIMEOUT + Duration::from_secs(1);
        assert_eq!(r.changes(&blocks, later).err(), Some(Error::NotFound));
        assert!(r.filters.is_empty());
    }

    proptest! {
        /// The filter agrees with the definition on every log, and the bloom pre-check never
        /// rejects a block holding a matching log.
        #[test]
        fn matches_the_definition_and_bloom_has_no_false_negatives(
            addr in 0u8..4,
            topics in proptest::collection::vec(0u8..4, 0..4),
            f_addrs in proptest::collection::vec(0u8..4, 0..3),
            f_topics in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..3), 0..4),
        ) {
            let l = log(addr, &topics);
            let mut positions: [&[u8]; 4] = [&[], &[], &[], &[]];
            for (i, t) in f_topics.iter().enumerate() {
                positions[i] = t;
            }
            let f = filter(&f_addrs, positions);
            let expected = (f_addrs.is_empty() || f_addrs.contains(&addr))
                && f_topics.iter().enumerate().all(|(i, alts)| {
                    alts.is_empty() || topics.get(i).is_some_and(|t| alts.contains(t))
                });
            prop_assert_eq!(f.matches(&l), expected);
            let mut bloom = Bloom::ZERO;
            bloom.accrue_log(&l);
            if expected {
                prop_assert!(f.may_match(&bloom));
            }
        }
    }
}
