//! The chain service: shared read state for RPC handlers, and the miner thread, the only
//! writer. The miner takes commands in groups: it builds every block of a group in an overlay
//! over the published state, appends the group's records to the store and syncs once (group
//! commit), and only then publishes the blocks and acknowledges the commands. Nothing a client
//! can see or was told is ever ahead of the disk.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use alloy::{
    consensus::{
        EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH, Header, SignableTransaction, Transaction as _,
        TxEip1559, TxEip2930, TxEnvelope, TxLegacy,
    },
    eips::eip7685::EMPTY_REQUESTS_HASH,
    network::TxSignerSync,
    primitives::{Address, B64, B256, Bytes, TxKind, keccak256},
    rpc::types::TransactionRequest,
};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{
    block::{Outcome, StoredBlock, StoredTx},
    chaindata::{self, ChainData},
    exec::{self, BlockParams, Mode},
    filters::Registry,
    genesis::DevAccount,
    pool::{self, Pool, Readiness, TxError},
    state::{DiffBuilder, EvmDb, Overlay, StateDiff, StateRead, commit_root},
    store::{self, Store},
};

/// Commands waiting for the miner; senders wait when it is full.
pub(crate) const COMMAND_QUEUE: usize = 4_096;
/// Most commands handled in one group commit.
const MAX_GROUP: usize = 512;
/// Chain events buffered for slow subscribers before they lag.
pub(crate) const EVENT_BUFFER: usize = 1_024;

/// Failures of chain operations.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The transaction was refused.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// A chain read or reshape failed.
    #[error(transparent)]
    Chain(#[from] chaindata::Error),
    /// Writing to the data directory failed; the chain serves reads but accepts no writes.
    #[error("chain storage failure: {0}")]
    Storage(String),
    /// The chain is stopping or stopped.
    #[error("chain is shutting down")]
    Stopped,
    /// A dev-method argument was refused.
    #[error("{0}")]
    InvalidArgument(String),
}

/// Something that happened to the canonical chain, for subscriptions and filters.
#[derive(Debug)]
pub(crate) enum ChainEvent {
    /// Blocks joined the chain, oldest first.
    Added(Vec<Arc<StoredBlock>>),
    /// Blocks left the chain (revert, reorg), newest first.
    Removed(Vec<Arc<StoredBlock>>),
    /// Transactions entered the pool.
    Pending(Vec<B256>),
}

/// Chain parameters fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) chain_id: u64,
    pub(crate) gas_limit: u64,
    pub(crate) automine: bool,
    /// A production chain: no dev methods, no unlocked accounts.
    pub(crate) production: bool,
}

/// State shared by the RPC handlers and the miner.
pub(crate) struct Shared {
    pub(crate) params: Params,
    pub(crate) data: RwLock<ChainData>,
    pub(crate) pool: Mutex<Pool>,
    pub(crate) filters: Mutex<Registry>,
    pub(crate) events: broadcast::Sender<Arc<ChainEvent>>,
    pub(crate) dev_accounts: Vec<DevAccount>,
    commands: mpsc::Sender<Command>,
    failed: AtomicBool,
    /// Serializes eth_sendTransaction so two calls never pick the same nonce.
    pub(crate) send_lock: tokio::sync::Mutex<()>,
}

type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// A replacement transaction for a reorg: signed, or a request from an unlocked dev account.
#[derive(Debug, Clone)]
pub(crate) enum ReorgTx {
    Signed(Arc<StoredTx>),
    Request(Box<TransactionRequest>),
}

/// Work for the miner.
pub(crate) enum Command {
    Submit {
        tx: Arc<StoredTx>,
        reply: Reply<B256>,
    },
    Mine {
        blocks: u64,
        timestamp: Option<u64>,
        interval_secs: Option<u64>,
        reply: Reply<u64>,
    },
    Tick,
    IncreaseTime {
        secs: i64,
        reply: Reply<i64>,
    },
    SetNextTimestamp {
        timestamp: u64,
        reply: Reply<()>,
    },
    Snapshot {
        reply: Reply<u64>,
    },
    Revert {
        id: u64,
        reply: Reply<bool>,
    },
    Reorg {
        depth: u64,
        /// Transactions per replacement block, oldest block first.
        blocks: Vec<Vec<ReorgTx>>,
        reply: Reply<Vec<B256>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

impl Command {
    /// Commands that reshape the chain run alone, outside group commits.
    fn is_structural(&self) -> bool {
        matches!(
            self,
            Self::Snapshot { .. }
                | Self::Revert { .. }
                | Self::Reorg { .. }
                | Self::Shutdown { .. }
        )
    }
}

impl Shared {
    pub(crate) fn new(
        params: Params,
        data: ChainData,
        pool: Pool,
        max_filters: usize,
        dev_accounts: Vec<DevAccount>,
    ) -> (Arc<Self>, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let shared = Arc::new(Self {
            params,
            data: RwLock::new(data),
            pool: Mutex::new(pool),
            filters: Mutex::new(Registry::new(max_filters)),
            events,
            dev_accounts,
            commands: tx,
            failed: AtomicBool::new(false),
            send_lock: tokio::sync::Mutex::new(()),
        });
        (shared, rx)
    }

    /// Sends a command and waits for its reply.
    pub(crate) async fn request<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, Error> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(Error::Storage(
                "an earlier write failed; restart the node".to_owned(),
            ));
        }
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Submits a signed transaction; under automine returns once its block is durable.
    pub(crate) async fn submit(&self, tx: StoredTx) -> Result<B256, Error> {
        let tx = Arc::new(tx);
        self.request(|reply| Command::Submit { tx, reply }).await
    }

    /// Asks the miner for an interval block without waiting (dropped if the queue is full).
    pub(crate) fn tick(&self) {
        let _ = self.commands.try_send(Command::Tick);
    }

    /// Stops the miner after it finishes what is queued.
    pub(crate) async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { reply: tx })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    pub(crate) fn dev_account(&self, address: &Address) -> Option<&DevAccount> {
        self.dev_accounts.iter().find(|a| a.address == *address)
    }
}

/// The dev clock: wall time plus an offset, and an optional fixed next timestamp.
#[derive(Debug, Default)]
struct Clock {
    offset_secs: i64,
    next: Option<u64>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Clock {
    fn now(&self) -> u64 {
        u64::try_from(
            i64::try_from(now_secs())
                .unwrap_or(i64::MAX)
                .saturating_add(self.offset_secs),
        )
        .unwrap_or_default()
    }

    /// Timestamp of the next block: never before its parent (equal is allowed, as in anvil).
    fn timestamp_for(&mut self, parent: u64) -> u64 {
        match self.next.take() {
            Some(t) => t.max(parent),
            None => self.now().max(parent),
        }
    }
}

/// A deferred acknowledgement, sent once the group is durable (or failed).
type Ack = Box<dyn FnOnce(Option<&Error>) + Send>;

fn ack<T: Send + 'static>(reply: Reply<T>, value: T) -> Ack {
    Box::new(move |err: Option<&Error>| {
        let _ = reply.send(match err {
            None => Ok(value),
            Some(e) => Err(Error::Storage(e.to_string())),
        });
    })
}

/// The blocks, records and acknowledgements of one group commit.
struct Outcome2 {
    rewind_to: Option<u64>,
    blocks: Vec<(Arc<StoredBlock>, Arc<StateDiff>)>,
    records: Vec<Vec<u8>>,
    acks: Vec<Ack>,
    pending: Vec<B256>,
    time_offset_secs: i64,
}

/// Blocks being built on top of a base block, in an overlay.
struct Session<'a> {
    shared: &'a Shared,
    data: &'a ChainData,
    overlay: Overlay<'a>,
    base: u64,
    out: Outcome2,
    seed: u128,
}

impl<'a> Session<'a> {
    fn new(
        shared: &'a Shared,
        data: &'a ChainData,
        state: &'a dyn StateRead,
        base: u64,
        offset: i64,
    ) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Self {
            shared,
            data,
            overlay: Overlay::new(state),
            base,
            out: Outcome2 {
                rewind_to: None,
                blocks: Vec::new(),
                records: Vec::new(),
                acks: Vec::new(),
                pending: Vec::new(),
                time_offset_secs: offset,
            },
            seed,
        }
    }

    fn parent(&self) -> (&Header, B256) {
        match self.out.blocks.last() {
            Some((b, _)) => (&b.header, b.hash),
            None => {
                // Invariant: the base block exists (checked when the session is opened).
                let b = self
                    .data
                    .block(self.base)
                    .unwrap_or_else(|| self.data.head());
                (&b.header, b.hash)
            }
        }
    }

    fn next_base_fee(&self) -> u64 {
        chaindata::next_base_fee(self.parent().0, self.data.genesis.base_fee)
    }

    fn hash_of(&self, n: u64) -> B256 {
        if n <= self.base {
            return self.data.hash_of(n);
        }
        self.out
            .blocks
            .get((n - self.base - 1) as usize)
            .map(|(b, _)| b.hash)
            .unwrap_or_default()
    }

    fn nonce_of(&self, address: &Address) -> u64 {
        self.overlay.account(address).map_or(0, |a| a.nonce)
    }

    /// Checks a transaction against the overlay state, as admission does.
    fn admit(&self, tx: &StoredTx) -> Result<Readiness, TxError> {
        let account = self.overlay.account(&tx.sender);
        let delegated = account.is_some_and(|a| {
            self.overlay
                .code(&a.code_hash)
                .is_some_and(|c| c.is_eip7702())
        });
        pool::check_account(tx, account.as_ref(), delegated)
    }

    /// Builds one block from candidate transactions; those that cannot go in are returned
    /// with the reason.
    fn mine_block(
        &mut self,
        clock: &mut Clock,
        candidates: Vec<Arc<StoredTx>>,
        timestamp: Option<u64>,
        allow_empty: bool,
    ) -> Vec<(Arc<StoredTx>, TxError)> {
        let pinned = clock.next;
        let (parent, parent_hash) = self.parent();
        let parent_state_root = parent.state_root;
        let parent_ts = parent.timestamp;
        let number = parent.number + 1;
        let base_fee = self.next_base_fee();
        let gas_limit = self.shared.params.gas_limit;
        let timestamp = match timestamp {
            Some(t) => t.max(parent_ts),
            None => clock.timestamp_for(parent_ts),
        };
        let mut seed = parent_hash.to_vec();
        seed.extend_from_slice(&number.to_be_bytes());
        seed.extend_from_slice(&self.seed.to_be_bytes());
        let prevrandao = keccak256(&seed);
        let params = BlockParams {
            number,
            timestamp,
            gas_limit,
            base_fee,
            prevrandao,
            beneficiary: Address::ZERO,
        };

        let mut diff = DiffBuilder::default();
        let mut txs = Vec::new();
        let mut outcomes = Vec::new();
        let mut refused = Vec::new();
        let mut gas_used = 0u64;
        for tx in candidates {
            if tx.envelope.gas_limit() > gas_limit - gas_used {
                refused.push((tx, TxError::GasLimitExceedsBlock));
                continue;
            }
            match self.admit(&tx) {
                Ok(Readiness::Ready) => {}
                Ok(Readiness::Future) => {
                    let state = self.nonce_of(&tx.sender);
                    refused.push((
                        tx.clone(),
                        TxError::Rejected(format!(
                            "nonce too high: next nonce {state}, tx nonce {}",
                            tx.nonce()
                        )),
                    ));
                    continue;
                }
                Err(e) => {
                    refused.push((tx, e));
                    continue;
                }
            }
            let result = {
                let hashes = |n: u64| self.hash_of(n);
                let db = EvmDb {
                    state: &self.overlay,
                    block_hashes: &hashes,
                    overrides: None,
                };
                exec::transact(
                    db,
                    self.shared.params.chain_id,
                    &params,
                    exec::tx_env(&tx),
                    Mode::Block,
                )
            };
            let r = match result {
                Ok(r) => r,
                Err(e) => {
                    let refusal = exec_refusal(e, &tx, base_fee);
                    refused.push((tx, refusal));
                    continue;
                }
            };
            let tx_diff = self.overlay.diff_of(&r.state);
            self.overlay.apply(&tx_diff);
            diff.merge(&tx_diff);
            let used = r.result.tx_gas_used();
            gas_used += used;
            outcomes.push(Outcome {
                success: r.result.is_success(),
                gas_used: used,
                logs: r.result.into_logs(),
            });
            txs.push((*tx).clone());
        }
        if txs.is_empty() && !allow_empty {
            clock.next = pinned;
            return refused;
        }
        let diff = diff.finish();
        let header = Header {
            parent_hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: Address::ZERO,
            state_root: commit_root(parent_state_root, &diff),
            number,
            gas_limit,
            timestamp,
            mix_hash: prevrandao,
            nonce: B64::ZERO,
            base_fee_per_gas: Some(base_fee),
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        };
        let block = StoredBlock::seal(header, txs, outcomes);
        self.out.records.push(store::encode_block(&block, &diff));
        self.out.blocks.push((Arc::new(block), Arc::new(diff)));
        refused
    }

    /// Mines the sender's pooled transactions that became ready, each in its own block.
    fn promote(&mut self, clock: &mut Clock, sender: Address) {
        loop {
            let nonce = self.nonce_of(&sender);
            let next = self.shared.pool.lock().by_nonce(&sender, nonce).cloned();
            let Some(tx) = next else { break };
            self.shared.pool.lock().remove(&tx.hash);
            if !self.mine_block(clock, vec![tx], None, false).is_empty() {
                break;
            }
        }
    }

    fn submit(&mut self, clock: &mut Clock, tx: Arc<StoredTx>, reply: Reply<B256>) {
        // A mined copy is refused by its nonce below, as geth does.
        if self.shared.pool.lock().contains(&tx.hash) {
            let _ = reply.send(Err(TxError::AlreadyKnown.into()));
            return;
        }
        let readiness = match self.admit(&tx) {
            Ok(r) => r,
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        if self.shared.params.automine && readiness == Readiness::Ready {
            if let Some((_, e)) = self.mine_block(clock, vec![tx.clone()], None, false).pop() {
                let _ = reply.send(Err(e.into()));
                return;
            }
            self.promote(clock, tx.sender);
        } else {
            let inserted = self.shared.pool.lock().insert(tx.clone());
            if let Err(e) = inserted {
                let _ = reply.send(Err(e.into()));
                return;
            }
            self.out.records.push(store::encode_pending(&tx));
            self.out.pending.push(tx.hash);
        }
        self.out.acks.push(ack(reply, tx.hash));
    }

    /// Mines one block from the pool.
    fn mine_from_pool(&mut self, clock: &mut Clock, timestamp: Option<u64>) {
        let base_fee = self.next_base_fee();
        let ready = {
            let pool = self.shared.pool.lock();
            pool.ready(|a| self.nonce_of(a), base_fee)
        };
        for tx in &ready {
            self.shared.pool.lock().remove(&tx.hash);
        }
        let refused = self.mine_block(clock, ready, timestamp, true);
        // Transactions that only missed this block (gas, fee, nonce gap) go back to the pool.
        let mut pool = self.shared.pool.lock();
        for (tx, err) in refused {
            if matches!(
                err,
                TxError::GasLimitExceedsBlock | TxError::FeeCapTooLow { .. } | TxError::Rejected(_)
            ) {
                let _ = pool.insert(tx);
            }
        }
    }

    fn finish(self) -> Outcome2 {
        self.out
    }
}

fn exec_refusal(e: exec::Error, tx: &StoredTx, base_fee: u64) -> TxError {
    use revm::context_interface::result::InvalidTransaction as I;
    match e {
        exec::Error::Invalid(I::GasPriceLessThanBasefee) => TxError::FeeCapTooLow {
            address: tx.sender,
            max_fee: tx.envelope.max_fee_per_gas(),
            base_fee,
        },
        other => TxError::Rejected(other.to_string()),
    }
}

/// The miner: owns the store and the dev clock; runs on its own thread.
pub(crate) struct Miner {
    shared: Arc<Shared>,
    store: Store,
    clock: Clock,
    snapshots: BTreeMap<u64, (u64, i64)>,
    next_snapshot: u64,
}

impl Miner {
    pub(crate) fn new(shared: Arc<Shared>, store: Store) -> Self {
        let offset = shared.data.read().time_offset_secs;
        Self {
            shared,
            store,
            clock: Clock {
                offset_secs: offset,
                next: None,
            },
            snapshots: BTreeMap::new(),
            next_snapshot: 0,
        }
    }

    /// Runs until a shutdown command or until every sender is gone.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(first) = rx.blocking_recv() {
            let mut cmds = vec![first];
            while cmds.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(c) => cmds.push(c),
                    Err(_) => break,
                }
            }
            if self.process(cmds) {
                return;
            }
        }
        let _ = self.store.sync();
    }

    /// Handles a group of commands; returns true on shutdown.
    fn process(&mut self, cmds: Vec<Command>) -> bool {
        let mut iter = cmds.into_iter().peekable();
        while let Some(cmd) = iter.next() {
            if self.shared.failed.load(Ordering::Relaxed) {
                fail(cmd);
                continue;
            }
            if cmd.is_structural() {
                if self.structural(cmd) {
                    // Anything queued behind the shutdown is refused.
                    iter.for_each(fail);
                    return true;
                }
                continue;
            }
            let shared = self.shared.clone();
            let outcome = {
                let data = shared.data.read();
                let head = data.head_number();
                let mut session =
                    Session::new(&shared, &data, data.state(), head, self.clock.offset_secs);
                self.handle(&mut session, cmd);
                while let Some(next) = iter.next_if(|c| !c.is_structural()) {
                    self.handle(&mut session, next);
                }
                session.finish()
            };
            self.commit(outcome);
        }
        false
    }

    fn handle(&mut self, s: &mut Session<'_>, cmd: Command) {
        match cmd {
            Command::Submit { tx, reply } => s.submit(&mut self.clock, tx, reply),
            Command::Tick => {
                if !s.shared.params.automine {
                    s.mine_from_pool(&mut self.clock, None);
                }
            }
            Command::Mine {
                blocks,
                timestamp,
                interval_secs,
                reply,
            } => {
                let parent_ts = s.parent().0.timestamp;
                if let Some(t) = timestamp
                    && t < parent_ts
                {
                    let _ = reply.send(Err(Error::InvalidArgument(format!(
                        "timestamp {t} is lower than the previous block's timestamp {parent_ts}"
                    ))));
                    return;
                }
                for i in 0..blocks {
                    let ts = timestamp.map(|t| t + i * interval_secs.unwrap_or(0));
                    s.mine_from_pool(&mut self.clock, ts);
                }
                let head = s.parent().0.number;
                s.out.acks.push(ack(reply, head));
            }
            Command::IncreaseTime { secs, reply } => {
                self.clock.offset_secs = self.clock.offset_secs.saturating_add(secs);
                s.out.time_offset_secs = self.clock.offset_secs;
                s.out
                    .records
                    .push(store::encode_time_offset(self.clock.offset_secs));
                s.out.acks.push(ack(reply, self.clock.offset_secs));
            }
            Command::SetNextTimestamp { timestamp, reply } => {
                let parent_ts = s.parent().0.timestamp;
                if timestamp < parent_ts {
                    let _ = reply.send(Err(Error::InvalidArgument(format!(
                        "timestamp {timestamp} is lower than the previous block's timestamp {parent_ts}"
                    ))));
                    return;
                }
                self.clock.next = Some(timestamp);
                let now = i64::try_from(now_secs()).unwrap_or(i64::MAX);
                self.clock.offset_secs = i64::try_from(timestamp).unwrap_or(i64::MAX) - now;
                s.out.time_offset_secs = self.clock.offset_secs;
                s.out
                    .records
                    .push(store::encode_time_offset(self.clock.offset_secs));
                s.out.acks.push(ack(reply, ()));
            }
            other => fail(other),
        }
    }

    /// Snapshot, revert, reorg, shutdown. Returns true on shutdown.
    fn structural(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Shutdown { reply } => {
                let _ = self.store.sync();
                let _ = reply.send(());
                return true;
            }
            Command::Snapshot { reply } => {
                let head = self.shared.data.read().head_number();
                let id = self.next_snapshot;
                self.next_snapshot += 1;
                self.snapshots.insert(id, (head, self.clock.offset_secs));
                let _ = reply.send(Ok(id));
            }
            Command::Revert { id, reply } => {
                let Some((target, offset)) = self.snapshots.get(&id).copied() else {
                    let _ = reply.send(Ok(false));
                    return false;
                };
                let oldest = self.shared.data.read().oldest_state();
                if target < oldest {
                    let _ = reply.send(Err(
                        chaindata::Error::RewindTooDeep { target, oldest }.into()
                    ));
                    return false;
                }
                // The snapshot and every later one are used up, as in anvil and Hardhat.
                self.snapshots.retain(|k, _| *k < id);
                self.clock.offset_secs = offset;
                self.clock.next = None;
                let outcome = Outcome2 {
                    rewind_to: Some(target),
                    blocks: Vec::new(),
                    records: vec![
                        store::encode_rewind(target),
                        store::encode_time_offset(offset),
                    ],
                    acks: vec![ack(reply, true)],
                    pending: Vec::new(),
                    time_offset_secs: offset,
                };
                self.commit(outcome);
            }
            Command::Reorg {
                depth,
                blocks,
                reply,
            } => {
                let shared = self.shared.clone();
                let outcome = {
                    let data = shared.data.read();
                    match self.build_reorg(&shared, &data, depth, blocks) {
                        Ok((mut outcome, hashes)) => {
                            outcome.acks.push(ack(reply, hashes));
                            outcome
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            return false;
                        }
                    }
                };
                self.commit(outcome);
            }
            other => fail(other),
        }
        false
    }

    fn build_reorg(
        &mut self,
        shared: &Shared,
        data: &ChainData,
        depth: u64,
        blocks: Vec<Vec<ReorgTx>>,
    ) -> Result<(Outcome2, Vec<B256>), Error> {
        let head = data.head_number();
        if depth == 0 || depth > head {
            return Err(Error::InvalidArgument(format!(
                "reorg depth must be between 1 and the head number {head}, got {depth}"
            )));
        }
        if blocks.len() as u64 > depth {
            return Err(Error::InvalidArgument(format!(
                "{} replacement blocks given for a reorg of depth {depth}",
                blocks.len()
            )));
        }
        let fork = head - depth;
        let state = data.state_at(fork).map_err(|_| {
            Error::Chain(chaindata::Error::RewindTooDeep {
                target: fork,
                oldest: data.oldest_state(),
            })
        })?;
        let old_timestamps: Vec<u64> = (fork + 1..=head)
            .filter_map(|n| data.block(n).map(|b| b.header.timestamp))
            .collect();
        let mut session = Session::new(shared, data, state.as_read(), fork, self.clock.offset_secs);
        session.out.rewind_to = Some(fork);
        session.out.records.push(store::encode_rewind(fork));
        let mut blocks = blocks.into_iter();
        for i in 0..depth as usize {
            let mut txs = Vec::new();
            for t in blocks.next().unwrap_or_default() {
                let tx = match t {
                    ReorgTx::Signed(tx) => tx,
                    ReorgTx::Request(req) => Arc::new(sign_request(&session, &req, &txs)?),
                };
                txs.push(tx);
            }
            let n = txs.len();
            let refused =
                session.mine_block(&mut self.clock, txs, old_timestamps.get(i).copied(), true);
            if let Some((tx, e)) = refused.into_iter().next() {
                return Err(Error::InvalidArgument(format!(
                    "replacement transaction {} for block {} of {n} refused: {e}",
                    tx.hash,
                    fork + 1 + i as u64
                )));
            }
        }
        let hashes = session.out.blocks.iter().map(|(b, _)| b.hash).collect();
        Ok((session.finish(), hashes))
    }

    /// Writes, syncs, publishes, notifies and acknowledges a group.
    fn commit(&mut self, outcome: Outcome2) {
        let Outcome2 {
            rewind_to,
            blocks,
            records,
            acks,
            pending,
            time_offset_secs,
        } = outcome;
        let written = self.store.append(&records).and_then(|()| {
            if records.is_empty() {
                Ok(())
            } else {
                self.store.sync()
            }
        });
        if let Err(e) = written {
            tracing::error!(error = %e, "chain store write failed; refusing further writes");
            self.shared.failed.store(true, Ordering::Relaxed);
            let err = Error::Storage(e.to_string());
            for a in acks {
                a(Some(&err));
            }
            return;
        }
        let mut removed = Vec::new();
        let added: Vec<Arc<StoredBlock>> = blocks.iter().map(|(b, _)| b.clone()).collect();
        {
            let mut data = self.shared.data.write();
            if let Some(target) = rewind_to {
                match data.rewind(target) {
                    Ok(r) => removed = r,
                    Err(e) => tracing::error!(error = %e, "rewind after a durable record failed"),
                }
            }
            for (block, diff) in blocks {
                if let Err(e) = data.push(block, diff) {
                    tracing::error!(error = %e, "publishing a durable block failed");
                }
            }
            data.time_offset_secs = time_offset_secs;
        }
        let now = Instant::now();
        if !removed.is_empty() {
            self.shared.filters.lock().on_blocks(&removed, true, now);
            let _ = self
                .shared
                .events
                .send(Arc::new(ChainEvent::Removed(removed)));
        }
        if !added.is_empty() {
            self.shared.filters.lock().on_blocks(&added, false, now);
            let _ = self.shared.events.send(Arc::new(ChainEvent::Added(added)));
            // Transactions mined in these blocks, or made stale by them, leave the pool.
            let data = self.shared.data.read();
            self.shared
                .pool
                .lock()
                .prune(|a| data.account(a).map_or(0, |x| x.nonce));
        }
        if !pending.is_empty() {
            self.shared.filters.lock().on_pending(&pending);
            let _ = self
                .shared
                .events
                .send(Arc::new(ChainEvent::Pending(pending)));
        }
        for a in acks {
            a(None);
        }
    }
}

/// Refuses a command that cannot run (storage failed or the miner is stopping).
fn fail(cmd: Command) {
    match cmd {
        Command::Submit { reply, .. } => {
            let _ = reply.send(Err(Error::Stopped));
        }
        Command::Mine { reply, .. } => {
            let _ = reply.send(Err(Error::Stopped));
        }
        Command::IncreaseTime { reply, .. } => {
            let _ = reply.send(Err(Error::Stopped));
        }
        Command::SetNextTimestamp { reply, .. } => {
            let _ = reply.send(Err(Error::Stopped));
        }
        Command::Snapshot { reply } => {
            let _ = reply.send(Err(Error::Stopped));
        }
        Command::Revert { reply, .. } => {
            let _ = reply.send(Err(Error::Stopped));
        }
        Command::Reorg { reply, .. } => {
            let _ = reply.send(Err(Error::Stopped));
        }
        Command::Shutdown { reply } => {
            let _ = reply.send(());
        }
        Command::Tick => {}
    }
}

/// Signs a request from a dev account for a reorg block, with the nonce that follows the
/// session state and the transactions already placed.
fn sign_request(
    session: &Session<'_>,
    req: &TransactionRequest,
    placed: &[Arc<StoredTx>],
) -> Result<StoredTx, Error> {
    let from = req.from.unwrap_or_default();
    let nonce = req.nonce.unwrap_or_else(|| {
        session.nonce_of(&from) + placed.iter().filter(|t| t.sender == from).count() as u64
    });
    let base_fee = session.next_base_fee();
    let params = FillParams {
        chain_id: session.shared.params.chain_id,
        nonce,
        gas: req
            .gas
            .unwrap_or(exec::TX_GAS_LIMIT_CAP.min(session.shared.params.gas_limit)),
        base_fee,
    };
    sign_with_dev_key(session.shared, req, &params)
}

/// What filling in a request needs from the chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FillParams {
    pub(crate) chain_id: u64,
    pub(crate) nonce: u64,
    pub(crate) gas: u64,
    pub(crate) base_fee: u64,
}

/// Default tip for transactions the node signs (anvil's `eth_maxPriorityFeePerGas`).
pub(crate) const DEFAULT_TIP_WEI: u128 = 1_000_000_000;

/// Builds and signs a transaction for an unlocked dev account: legacy (or EIP-2930 with an
/// access list) when a gas price is given, EIP-1559 otherwise.
pub(crate) fn sign_with_dev_key(
    shared: &Shared,
    req: &TransactionRequest,
    p: &FillParams,
) -> Result<StoredTx, Error> {
    let from = req.from.unwrap_or_default();
    let account = shared
        .dev_account(&from)
        .ok_or(TxError::UnknownAccount(from))?;
    let to = req.to.unwrap_or(TxKind::Create);
    let value = req.value.unwrap_or_default();
    let input: Bytes = req.input.input().cloned().unwrap_or_default();
    let access_list = req.access_list.clone();
    let signer = &account.signer;
    let sign_err =
        |e: alloy::signers::Error| Error::InvalidArgument(format!("signing failed: {e}"));
    let envelope: TxEnvelope = if let Some(gas_price) = req.gas_price {
        match access_list {
            Some(access_list) if !access_list.is_empty() => {
                let mut tx = TxEip2930 {
                    chain_id: p.chain_id,
                    nonce: p.nonce,
                    gas_price,
                    gas_limit: p.gas,
                    to,
                    value,
                    access_list,
                    input,
                };
                let sig = signer.sign_transaction_sync(&mut tx).map_err(sign_err)?;
                tx.into_signed(sig).into()
            }
            _ => {
                let mut tx = TxLegacy {
                    chain_id: Some(p.chain_id),
                    nonce: p.nonce,
                    gas_price,
                    gas_limit: p.gas,
                    to,
                    value,
                    input,
                };
                let sig = signer.sign_transaction_sync(&mut tx).map_err(sign_err)?;
                tx.into_signed(sig).into()
            }
        }
    } else {
        let tip = req.max_priority_fee_per_gas.unwrap_or(DEFAULT_TIP_WEI);
        // Under automine the transaction goes into the very next block, so base fee + tip is
        // enough (as anvil fills it); with interval blocks leave geth's headroom of twice the
        // base fee.
        let base = u128::from(p.base_fee);
        let max_fee = req.max_fee_per_gas.unwrap_or(if shared.params.automine {
            base + tip
        } else {
            2 * base + tip
        });
        let mut tx = TxEip1559 {
            chain_id: p.chain_id,
            nonce: p.nonce,
            gas_limit: p.gas,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip.min(max_fee),
            to,
            value,
            access_list: access_list.unwrap_or_default(),
            input,
        };
        let sig = signer.sign_transaction_sync(&mut tx).map_err(sign_err)?;
        tx.into_signed(sig).into()
    };
    Ok(StoredTx::new(envelope, from))
}

/// Unix time in seconds (for genesis).
pub(crate) fn unix_now() -> u64 {
    now_secs()
}

/// Replays the store into a fresh chain: the chain, the pending transactions that are still
/// valid, and the store positioned for appending.
/// Rebuilds a chain from its log records, in order.
#[derive(Default)]
struct Replayer {
    retention: u64,
    data: Option<ChainData>,
    pending: Vec<Arc<StoredTx>>,
    production: bool,
    seq: u64,
}

impl Replayer {
    fn record(&mut self, record: store::Record) -> Result<(), OpenError> {
        self.seq += 1;
        match record {
            store::Record::Genesis(spec) => {
                if self.data.is_some() {
                    return Err(OpenError::Replay("a second genesis record".to_owned()));
                }
                self.data = Some(ChainData::new(spec, self.retention));
            }
            // Only the record right after genesis may set the mode: a chain never changes it.
            store::Record::Production if self.seq == 2 => self.production = true,
            store::Record::Production => {
                return Err(OpenError::Replay(
                    "a production-mode record after the chain began".to_owned(),
                ));
            }
            other => {
                let chain = self
                    .data
                    .as_mut()
                    .ok_or_else(|| OpenError::Replay("a record before genesis".to_owned()))?;
                match other {
                    store::Record::Block(block, diff) => chain
                        .push(Arc::new(*block), Arc::new(diff))
                        .map_err(|e| OpenError::Replay(e.to_string()))?,
                    store::Record::Rewind(to) => {
                        chain
                            .rewind(to)
                            .map_err(|e| OpenError::Replay(e.to_string()))?;
                    }
                    store::Record::TimeOffset(o) => chain.time_offset_secs = o,
                    store::Record::PendingTx(tx) => self.pending.push(Arc::new(*tx)),
                    store::Record::Genesis(_) | store::Record::Production => {}
                }
            }
        }
        Ok(())
    }
}

/// What a chain's log holds, read back without opening it for writing (so while the chain
/// runs, or from a backup).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogSummary {
    /// Records in the log.
    pub records: u64,
    /// Bytes they take.
    pub bytes: u64,
    /// The chain id.
    pub chain_id: u64,
    /// The head block's number.
    pub head_number: u64,
    /// The head block's hash.
    pub head_hash: B256,
    /// Whether the chain was created in production mode.
    pub production: bool,
}

/// Replays the log in `dir` read-only.
pub(crate) fn inspect(dir: &std::path::Path) -> Result<LogSummary, OpenError> {
    let mut replayer = Replayer {
        retention: 1,
        ..Replayer::default()
    };
    let (records, bytes) = store::read_records(dir, |r| replayer.record(r))?;
    let data = replayer
        .data
        .ok_or_else(|| OpenError::Replay("the log has no genesis record".to_owned()))?;
    Ok(LogSummary {
        records,
        bytes,
        chain_id: data.genesis.chain_id,
        head_number: data.head_number(),
        head_hash: data.head().hash,
        production: replayer.production,
    })
}

pub(crate) fn open_chain(
    dir: &std::path::Path,
    genesis: super::genesis::GenesisSpec,
    retention: u64,
    production_if_new: bool,
) -> Result<Opened, OpenError> {
    let mut replayer = Replayer {
        retention,
        ..Replayer::default()
    };
    let (mut store, report) = Store::open(dir, |record| replayer.record(record))?;
    let Replayer {
        data,
        mut pending,
        mut production,
        ..
    } = replayer;
    let data = match data {
        Some(d) => {
            if d.genesis.chain_id != genesis.chain_id {
                return Err(OpenError::ChainIdMismatch {
                    stored: d.genesis.chain_id,
                    configured: genesis.chain_id,
                });
            }
            if production_if_new && !production {
                return Err(OpenError::DevChain);
            }
            d
        }
        None => {
            // Genesis and the mode go down in one durable write: a crash leaves both or
            // neither.
            let mut records = vec![store::encode_genesis(&genesis)];
            if production_if_new {
                records.push(store::encode_production());
            }
            store.append(&records)?;
            store.sync()?;
            production = production_if_new;
            ChainData::new(genesis, retention)
        }
    };
    pending.retain(|tx| {
        !data.contains_tx(&tx.hash) && tx.nonce() >= data.account(&tx.sender).map_or(0, |a| a.nonce)
    });
    Ok(Opened {
        data,
        pending,
        store,
        report,
        production,
    })
}

/// A replayed chain, ready to serve.
pub(crate) struct Opened {
    pub(crate) data: ChainData,
    /// Accepted transactions still waiting for a block.
    pub(crate) pending: Vec<Arc<StoredTx>>,
    pub(crate) store: Store,
    pub(crate) report: store::OpenReport,
    /// Whether the data directory holds a production chain.
    pub(crate) production: bool,
}

/// Failures opening the chain's data directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The records do not form a chain (damage a checksum cannot catch, or a bug).
    #[error("chain records cannot be replayed: {0}")]
    Replay(String),
    /// Production mode was asked for a data directory that holds a development chain.
    #[error(
        "the data directory holds a development chain; production mode is chosen when a chain is created, in a new data directory"
    )]
    DevChain,
    /// The data directory holds a chain with another id.
    #[error("data directory holds chain id {stored}, but chain id {configured} is configured")]
    ChainIdMismatch {
        /// Chain id on disk.
        stored: u64,
        /// Chain id asked for.
        configured: u64,
    },
}
