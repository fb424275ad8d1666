//! The chain follower: backfill, head following, reorgs, and the one-transaction commit of a
//! range of blocks.
//!
//! Two modes, chosen per step by the distance to the head:
//! - **Backfill** (more than `reorg_window` blocks behind): log chunks are fetched ahead with
//!   bounded concurrency while earlier ones are committed; blocks this deep are taken as final.
//!   Each commit also stores the header of its last block, so following can link to it.
//! - **Following** (within the window): headers and logs of the next blocks are fetched, the
//!   headers must link to each other and to the stored window, and every log must name the
//!   header's hash. A parent-hash mismatch walks back through the window to the fork point,
//!   rolls back what was indexed past it (events, discovered contracts, blocks) and
//!   retracts its entries (pending ones are voided, posted ones reversed), in one transaction.
//!
//! Every commit holds whole blocks: their events, the entries they make, the entries that
//! became final, the window and the checkpoint. A crash between commits resumes from the
//! checkpoint; a crash inside one loses the whole commit and nothing else.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use alloy::primitives::map::AddressMap;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::{SolCall, SolEvent};
use chrono::NaiveDate;
use propledger_contracts::deploy::Platform;
use propledger_contracts::{PropertyDirectory, PropertyShares, TestStablecoin};
use propledger_ledger::Ledger;
use propledger_ledger::core::chart::{codes, template_line};
use propledger_ledger::core::{
    AccountCode, AccountId, Amount, Currency, DimValue, Dimensions, EntryDraft, Finality,
    IdempotencyKey, NewAccount, Source,
};
use propledger_ledger::ext::{
    Changes, Column, CopyRows, Load, MAX_STATEMENT_BINDS, Retraction, Statement, placeholders,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::books::{self, Target};
use crate::decode::{self, ContractKind};
use crate::error::{Error, Result};
use crate::schema::schema;
use crate::source::{BlockHeader, LogChunk, RawLog, RpcSource, SourceConfig};

/// Header requests in flight when a commit needs the dates of many blocks.
const HEADER_CONCURRENCY: usize = 16;

/// Backfill chunks prepared at once (decoded, their rows built, their headers read).
const PREPARE_AHEAD: usize = 2;

/// Backfill commits in flight at once: one finishing, the others' events going in (PostgreSQL;
/// fewer when the pool is small, see [`propledger_ledger::Ledger::early_writes`]).
const COMMITS_IN_FLIGHT: usize = 3;

/// How the indexer follows one chain.
#[derive(Clone, Debug)]
pub struct IndexerConfig {
    /// The JSON-RPC endpoint and how to read it.
    pub source: SourceConfig,
    /// The platform's shared contracts (from the node's deployment record).
    pub platform: Platform,
    /// Blocks on top of an event's block before its entry is posted (0: at once).
    pub confirmations: u64,
    /// Recent blocks whose hashes are kept to detect reorgs; deeper reorgs stop the indexer.
    pub reorg_window: u64,
    /// How often to look for a new head when caught up.
    pub poll_interval: Duration,
    /// Most events in one commit (whole blocks are never split); at most 10,000 of them may
    /// make entries.
    pub max_events_per_commit: usize,
    /// Most blocks fetched per step while following the head.
    pub follow_batch: u64,
}

impl IndexerConfig {
    /// Defaults: 12 confirmations, a window of 128 blocks, 250 ms polling.
    pub fn new(source: SourceConfig, platform: Platform) -> Self {
        IndexerConfig {
            source,
            platform,
            confirmations: 12,
            reorg_window: 128,
            poll_interval: Duration::from_millis(250),
            max_events_per_commit: 20_000,
            follow_batch: 100,
        }
    }
}

/// What one [`Indexer::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing new: the checkpoint is past the head.
    Idle {
        /// The head seen.
        head: u64,
    },
    /// Blocks were indexed up to and including `to`.
    Indexed {
        /// Last block indexed.
        to: u64,
    },
    /// A reorg was rolled back to `fork` (the last common block).
    RolledBack {
        /// The fork point.
        fork: u64,
    },
    /// The chain moved while a range was read; it will be read again.
    Retry,
}

#[derive(Clone, Debug)]
struct Watched {
    kind: ContractKind,
    property: Option<String>,
}

#[derive(Clone, Debug)]
struct PropertyBooks {
    dim: DimValue,
    chart: HashMap<String, AccountId>,
    investors: HashMap<Address, AccountId>,
    lines: HashMap<B256, AccountId>,
}

/// The indexer of one chain into one ledger database.
pub struct Indexer {
    cfg: IndexerConfig,
    source: RpcSource,
    ledger: Ledger,
    chain_id: u64,
    currency: Currency,
    token_decimals: u8,
    next_block: u64,
    contracts: AddressMap<Watched>,
    properties: HashMap<String, PropertyBooks>,
    window: BTreeMap<u64, B256>,
    pending: BTreeMap<u64, Vec<String>>,
    retired: HashSet<String>,
    /// Contracts whose registration a backfill pass found before reading their blocks, with
    /// the block of the registration: read and booked from the pass's start, recorded as
    /// watched by the commit that holds the registration.
    ahead: AddressMap<(Watched, u64)>,
}

/// The ledger dimension value of a property id.
pub fn property_dim(id: &str) -> Result<DimValue> {
    let text = if id.len() <= 58 {
        format!("prop-{id}")
    } else {
        let n: U256 = id
            .parse()
            .map_err(|_| Error::Corrupt(format!("property id {id}")))?;
        format!("{n:x}")
    };
    Ok(DimValue::parse(&text)?)
}

/// The idempotency key of the entry an event makes.
fn event_key(chain_id: u64, log: &RawLog) -> String {
    format!("ev:{chain_id}:{:#x}:{}", log.block_hash, log.log_index)
}

fn date_of(timestamp: u64) -> Result<NaiveDate> {
    let secs = i64::try_from(timestamp).map_err(|_| Error::Corrupt("timestamp".into()))?;
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.date_naive())
        .ok_or_else(|| Error::Corrupt(format!("block timestamp {timestamp}")))
}

fn hash_of(bytes: &[u8]) -> Result<B256> {
    B256::try_from(bytes).map_err(|_| Error::Corrupt("stored hash is not 32 bytes".into()))
}

fn address_of(bytes: &[u8]) -> Result<Address> {
    Address::try_from(bytes).map_err(|_| Error::Corrupt("stored address is not 20 bytes".into()))
}

fn i64_of(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::Corrupt(format!("{n} does not fit a database integer")))
}

/// Multi-row inserts of `rows` (each `cols` binds), chunked under the bind limit.
fn insert_rows(
    changes: &mut Changes,
    head: &str,
    cols: usize,
    rows: Vec<Vec<propledger_ledger::ext::Value>>,
) {
    insert_rows_into(changes, &format!("{head} VALUES "), "", cols, rows);
}

/// As [`insert_rows`], each statement `{before}(?,..),(..){after}`. Statements hold a power of
/// two of rows, largest first, so that their texts recur from one commit to the next and the
/// connection's statement cache spares preparing them again (a statement of thousands of rows
/// takes milliseconds to prepare).
fn insert_rows_into(
    changes: &mut Changes,
    before: &str,
    after: &str,
    cols: usize,
    rows: Vec<Vec<propledger_ledger::ext::Value>>,
) {
    let most = (MAX_STATEMENT_BINDS / cols).max(1);
    let per_statement = 1usize << most.ilog2();
    let mut left = rows.len();
    let mut rows = rows.into_iter();
    while left > 0 {
        let n = if left >= per_statement {
            per_statement
        } else {
            1usize << left.ilog2()
        };
        left -= n;
        let chunk: Vec<_> = rows.by_ref().take(n).collect();
        let mut s = Statement::assembled(format!(
            "{before}{}{after}",
            placeholders(chunk.len(), cols)
        ));
        for value in chunk.into_iter().flatten() {
            s.push(value);
        }
        changes.statement(s);
    }
}

/// `IN (?,..)` statements over `keys`, chunked.
fn for_keys(changes: &mut Changes, head: &str, keys: &[String]) {
    for chunk in keys.chunks(MAX_STATEMENT_BINDS) {
        let mut s = Statement::assembled(format!("{head} ({})", vec!["?"; chunk.len()].join(",")));
        for k in chunk {
            s.push(k.as_str());
        }
        changes.statement(s);
    }
}

impl Indexer {
    /// Connects to the chain, creates the indexer's tables in `ledger`'s database, and loads
    /// the checkpoint (starting at the platform's first block on a fresh database).
    pub async fn new(ledger: Ledger, cfg: IndexerConfig) -> Result<Indexer> {
        let source = RpcSource::connect(cfg.source.clone()).await?;
        Self::with_source(ledger, cfg, source).await
    }

    /// As [`Indexer::new`], over an already connected source.
    pub async fn with_source(
        ledger: Ledger,
        cfg: IndexerConfig,
        source: RpcSource,
    ) -> Result<Indexer> {
        let chain_id = source.chain_id();
        if cfg.platform.chain_id != chain_id {
            return Err(Error::ChainMismatch {
                expected: cfg.platform.chain_id,
                found: chain_id,
            });
        }
        if cfg.reorg_window < cfg.confirmations {
            return Err(Error::Config(
                "the reorg window must be at least the confirmations".into(),
            ));
        }
        ledger.ensure_schema(&schema(ledger.backend())).await?;
        let state = ledger
            .query(Statement::new(
                "SELECT chain_id, next_block, currency, token_decimals FROM idx_state WHERE id = 1",
            ))
            .await?;
        let (currency, token_decimals) = match state.first() {
            Some(row) => {
                let stored = u64::try_from(row.int(0)?).unwrap_or_default();
                if stored != chain_id {
                    return Err(Error::ChainMismatch {
                        expected: stored,
                        found: chain_id,
                    });
                }
                let decimals = u8::try_from(row.int(3)?)
                    .map_err(|_| Error::Corrupt("token decimals".into()))?;
                (
                    Currency::parse(&row.text(2)?, u32::from(decimals))?,
                    decimals,
                )
            }
            None => Self::initialize(&ledger, &cfg, &source).await?,
        };
        let mut indexer = Indexer {
            cfg,
            source,
            ledger,
            chain_id,
            currency,
            token_decimals,
            next_block: 0,
            contracts: AddressMap::default(),
            properties: HashMap::new(),
            window: BTreeMap::new(),
            pending: BTreeMap::new(),
            retired: HashSet::new(),
            ahead: AddressMap::default(),
        };
        indexer.load().await?;
        Ok(indexer)
    }

    /// First start on a database: reads the settlement token's symbol and decimals (the books'
    /// currency) and writes the checkpoint and the platform's contracts.
    async fn initialize(
        ledger: &Ledger,
        cfg: &IndexerConfig,
        source: &RpcSource,
    ) -> Result<(Currency, u8)> {
        let head = source.head().await?;
        let token = cfg.platform.settlement_token;
        let raw = source
            .call(
                head,
                token,
                TestStablecoin::decimalsCall {}.abi_encode().into(),
            )
            .await?;
        let decimals = TestStablecoin::decimalsCall::abi_decode_returns(&raw)
            .map_err(|e| Error::Corrupt(format!("settlement token decimals: {e}")))?;
        let raw = source
            .call(
                head,
                token,
                TestStablecoin::symbolCall {}.abi_encode().into(),
            )
            .await?;
        let symbol = TestStablecoin::symbolCall::abi_decode_returns(&raw).unwrap_or_default();
        let code: String = symbol
            .to_ascii_uppercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let currency = Currency::parse(&code, u32::from(decimals))
            .or_else(|_| Currency::parse("TOKEN", u32::from(decimals)))?;
        let p = &cfg.platform;
        let mut changes = Changes::new();
        changes.statement(
            Statement::new(
                "INSERT INTO idx_state (id, chain_id, next_block, currency, token_decimals) \
                 VALUES (1, $1, $2, $3, $4)",
            )
            .bind(i64_of(p.chain_id)?)
            .bind(i64_of(p.start_block())?)
            .bind(currency.code().as_str().to_owned())
            .bind(i64::from(decimals)),
        );
        let rows = [
            (p.identity_registry, ContractKind::IdentityRegistry),
            (p.deed, ContractKind::Deed),
            (p.directory, ContractKind::Directory),
        ]
        .into_iter()
        .map(|(d, kind)| {
            Ok(vec![
                d.address.to_vec().into(),
                kind.as_str().into(),
                None::<String>.into(),
                i64_of(d.block)?.into(),
            ])
        })
        .collect::<Result<Vec<_>>>()?;
        insert_rows(
            &mut changes,
            "INSERT INTO idx_contracts (address, kind, property_id, added_block)",
            4,
            rows,
        );
        ledger.apply(changes).await?;
        info!(chain_id = p.chain_id, currency = %currency.code().as_str(), "indexer initialized");
        Ok((currency, decimals))
    }

    /// Loads the checkpoint, contracts, window and bookings from the database.
    async fn load(&mut self) -> Result<()> {
        let mut rows = self
            .ledger
            .query_many(vec![
                Statement::new("SELECT next_block FROM idx_state WHERE id = 1"),
                Statement::new("SELECT address, kind, property_id FROM idx_contracts"),
                Statement::new("SELECT number, hash FROM idx_blocks"),
                Statement::new(
                    "SELECT entry_key, block_number, status FROM idx_bookings \
                     WHERE status <> 'posted'",
                ),
            ])
            .await?
            .into_iter();
        let state = rows.next().unwrap_or_default();
        let contracts = rows.next().unwrap_or_default();
        let blocks = rows.next().unwrap_or_default();
        let bookings = rows.next().unwrap_or_default();
        self.next_block = state
            .first()
            .map(|r| r.int(0))
            .transpose()?
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| Error::Corrupt("no checkpoint".into()))?;
        self.contracts.clear();
        let mut property_ids = Vec::new();
        for r in &contracts {
            let kind = ContractKind::parse(&r.text(1)?)
                .ok_or_else(|| Error::Corrupt("contract kind".into()))?;
            let property = r.opt_text(2)?;
            if let Some(p) = &property {
                property_ids.push(p.clone());
            }
            self.contracts
                .insert(address_of(&r.blob(0)?)?, Watched { kind, property });
        }
        property_ids.sort();
        property_ids.dedup();
        self.properties.retain(|id, _| property_ids.contains(id));
        for id in property_ids {
            self.open_property(&id).await?;
        }
        self.window.clear();
        for r in &blocks {
            self.window.insert(
                u64::try_from(r.int(0)?).unwrap_or_default(),
                hash_of(&r.blob(1)?)?,
            );
        }
        self.pending.clear();
        self.retired.clear();
        self.ahead.clear();
        for r in &bookings {
            let key = r.text(0)?;
            let block = u64::try_from(r.int(1)?).unwrap_or_default();
            match r.text(2)?.as_str() {
                "pending" => self.pending.entry(block).or_default().push(key),
                _ => {
                    self.retired.insert(key);
                }
            }
        }
        Ok(())
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The next block to index (everything before it is indexed).
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// The currency the books are kept in (the settlement token's symbol and decimals).
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Decimals of the settlement token.
    pub fn token_decimals(&self) -> u8 {
        self.token_decimals
    }

    /// The platform followed.
    pub fn platform(&self) -> &Platform {
        &self.cfg.platform
    }

    /// The account of a property's chart with this template code.
    pub fn chart_account(&self, property: &str, code: &str) -> Result<AccountId> {
        self.properties
            .get(property)
            .and_then(|p| p.chart.get(code))
            .copied()
            .ok_or_else(|| Error::Config(format!("property {property} has no account {code}")))
    }

    /// The chain source.
    pub fn source(&self) -> &RpcSource {
        &self.source
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Addresses of the contracts watched now.
    pub fn watched(&self) -> Vec<Address> {
        let mut a: Vec<Address> = self.contracts.keys().copied().collect();
        a.sort();
        a
    }

    /// Indexes until the checkpoint passes the head seen at the start (or a later one).
    pub async fn sync(&mut self) -> Result<u64> {
        loop {
            if let Step::Idle { head } = self.step().await? {
                return Ok(head);
            }
        }
    }

    /// Runs until `stop` turns true: indexes, then polls for new blocks. Errors of the
    /// database are retried with backoff; an unrecoverable one (a reorg deeper than the window,
    /// another chain) is returned.
    pub async fn run(&mut self, mut stop: watch::Receiver<bool>) -> Result<()> {
        let mut backoff = Duration::from_millis(100);
        while !*stop.borrow() {
            match self.step().await {
                Ok(Step::Idle { .. }) => {
                    backoff = Duration::from_millis(100);
                    tokio::select! {
                        _ = tokio::time::sleep(self.cfg.poll_interval) => {}
                        _ = stop.changed() => {}
                    }
                }
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    warn!(error = %e, "indexer step failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    // The database may have moved on without us (a failed commit); reload.
                    self.load().await?;
                }
            }
        }
        Ok(())
    }

    /// One unit of work: a backfill pass, a range of followed blocks, or a reorg rollback.
    pub async fn step(&mut self) -> Result<Step> {
        let head = self.source.head().await?;
        if self.next_block > head {
            // The chain may have been replaced by a branch no longer than ours.
            let last = self.next_block - 1;
            if let Some(stored) = self.window.get(&last) {
                let canonical = self.source.header(last).await?;
                if canonical.map(|h| h.hash) != Some(*stored) {
                    return self.reorg(self.next_block).await;
                }
            }
            // Entries may have become final without new events.
            self.post_final(head).await?;
            return Ok(Step::Idle { head });
        }
        if head - self.next_block >= self.cfg.reorg_window {
            self.backfill(head - self.cfg.reorg_window, head).await
        } else {
            self.follow(head).await
        }
    }

    /// Posts pending entries whose blocks are now final, when nothing else commits.
    async fn post_final(&mut self, head: u64) -> Result<()> {
        let final_upto = head.saturating_sub(self.cfg.confirmations);
        if self.pending.range(..=final_upto).next().is_none() {
            return Ok(());
        }
        let mut changes = Changes::new();
        let posted = self.finalize(&mut changes, final_upto);
        // The checkpoint stays; the guard only checks that it is where this indexer saw it.
        changes.guard(self.advance_checkpoint(self.next_block)?);
        self.apply(changes).await?;
        self.forget_pending(&posted);
        Ok(())
    }

    /// Adds to `changes` the posting of pending entries of blocks up to `final_upto`; returns
    /// the blocks whose bookings are then posted.
    fn finalize(&self, changes: &mut Changes, final_upto: u64) -> Vec<u64> {
        let mut blocks = Vec::new();
        let mut keys = Vec::new();
        for (block, ks) in self.pending.range(..=final_upto) {
            blocks.push(*block);
            keys.extend(ks.iter().cloned());
        }
        for k in &keys {
            if let Ok(key) = IdempotencyKey::parse(k) {
                changes.post(key);
            }
        }
        for_keys(
            changes,
            "UPDATE idx_bookings SET status = 'posted' WHERE entry_key IN",
            &keys,
        );
        blocks
    }

    fn forget_pending(&mut self, blocks: &[u64]) {
        for b in blocks {
            self.pending.remove(b);
        }
    }

    async fn backfill(&mut self, safe_to: u64, head: u64) -> Result<Step> {
        let from = self.next_block;
        self.find_registrations(from, safe_to).await?;
        let kinds: AddressMap<ContractKind> = self
            .contracts
            .iter()
            .map(|(a, w)| (*a, w.kind))
            .chain(self.ahead.iter().map(|(a, (w, _))| (*a, w.kind)))
            .collect();
        let mut addresses: Vec<Address> = kinds.keys().copied().collect();
        addresses.sort();
        let known = kinds.len();
        let max_events = self.cfg.max_events_per_commit.max(1);
        // Fetching, decoding and preparing the rows run ahead of the commits, in another task;
        // the channel bounds how far.
        let (tx, mut rx) = mpsc::channel::<Result<Group>>(self.cfg.source.concurrency.max(1));
        // The stream runs to the head: the blocks of the reorg window come last, with every
        // header, checked as following checks them.
        // A registration changes the density of logs from its block on.
        let breaks: Vec<u64> = self.ahead.values().map(|(_, block)| *block).collect();
        let stream = self
            .source
            .log_chunks_with_breaks(from, head, addresses, breaks);
        let source = self.source.clone();
        let kinds = std::sync::Arc::new(kinds);
        let pump = tokio::spawn(async move {
            use futures_util::StreamExt;
            // Each chunk is prepared in a task of its own, a few at a time and in order, so
            // that decoding one chunk and waiting for its headers overlap the next one's.
            let prepared = stream
                .map(move |chunk| {
                    AbortOnDrop(tokio::spawn(prepare_chunk(
                        chunk,
                        kinds.clone(),
                        source.clone(),
                        safe_to,
                        max_events,
                    )))
                })
                .buffered(PREPARE_AHEAD);
            let mut prepared = std::pin::pin!(prepared);
            while let Some(groups) = prepared.next().await {
                let groups = groups
                    .unwrap_or_else(|e| vec![Err(Error::Corrupt(format!("prepare task: {e}")))]);
                for group in groups {
                    let failed = group.is_err();
                    if tx.send(group).await.is_err() || failed {
                        return;
                    }
                }
            }
        });
        let _abort = AbortOnDrop(pump);
        let mut last = None;
        let mut carried: Option<Group> = None;
        // Commits run in tasks of their own, several at once: each begins at once (on
        // PostgreSQL its events go in on a connection of its own, beside the others') and
        // finishes, taking the writers' lock, once the one before it has.
        let ahead = COMMITS_IN_FLIGHT.min(self.ledger.early_writes()).max(1);
        let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(ahead);
        let mut last_finished: Option<oneshot::Receiver<()>> = None;
        let passed: Result<()> = async {
            loop {
                let mut g = match carried.take() {
                    Some(g) => g,
                    None => match rx.recv().await {
                        Some(group) => group?,
                        None => break,
                    },
                };
                // Groups that are already waiting join this commit, up to the size limit: when
                // storing is slower than reading, commits grow and their fixed cost shrinks.
                while g.logs.len() < max_events {
                    match rx.try_recv() {
                        Ok(Ok(next))
                            if g.logs.len() + next.logs.len() <= max_events
                                && g.window == next.window =>
                        {
                            g.to = next.to;
                            g.logs.extend(next.logs);
                            g.statements.extend(next.statements);
                            if g.window {
                                g.headers.extend(next.headers);
                            } else {
                                g.headers = next.headers;
                            }
                        }
                        Ok(Ok(next)) => {
                            carried = Some(next);
                            break;
                        }
                        Ok(Err(e)) => return Err(e),
                        Err(_) => break,
                    }
                }
                if g.window && !self.links(g.from, &g.headers, &g.logs) {
                    // The chain moved under the window while it was read: what is committed
                    // stays, and the next step follows from there (finding the fork, if any).
                    break;
                }
                let staged = self
                    .stage_commit(g.from, g.to, g.logs, g.headers, head, Some(g.statements))
                    .await?;
                while in_flight.len() >= ahead {
                    if let Some(oldest) = in_flight.pop_front() {
                        oldest.settle().await?;
                    }
                }
                let (finished, finishes) = oneshot::channel();
                let after = last_finished.replace(finishes);
                let (ledger, changes) = (self.ledger.clone(), staged.changes);
                in_flight.push_back(InFlight {
                    task: AbortOnDrop(tokio::spawn(async move {
                        let begun = ledger.begin(changes).await?;
                        if let Some(after) = after
                            && after.await.is_err()
                        {
                            // The commit before failed (its error is the one reported) and this
                            // one rolls back.
                            return Err(propledger_ledger::Error::Corrupt(
                                "the commit before did not finish".into(),
                            ));
                        }
                        begun.finish().await?;
                        let _ = finished.send(());
                        Ok(())
                    })),
                    expected: staged.expected,
                });
                last = Some(staged.to);
                if self.contracts.len() + self.ahead.len() != known {
                    // New contracts: the chunks in flight were read without them, and the
                    // span learned for the old set says nothing of how many logs the new one
                    // emits.
                    self.source.reset_range();
                    break;
                }
            }
            while let Some(commit) = in_flight.pop_front() {
                commit.settle().await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = passed {
            // The commits still in flight are cancelled (each waits for the one before, which
            // did not finish); the view is read again from what did commit.
            drop(in_flight);
            self.reload_after(&e).await;
            return Err(e);
        }
        // Registrations past the last commit (none, unless the pass stopped early) are found
        // again by the next pass.
        self.ahead.clear();
        Ok(last.map_or(Step::Retry, |to| Step::Indexed { to }))
    }

    /// Finds the contracts the directory registers in the final blocks `from..=to`, before a
    /// backfill pass reads them. The pass then reads every contract's logs from its start
    /// instead of stopping at each registration to read the new contracts' history and start
    /// over; the commits that need their properties' charts open them. Registrations in the
    /// reorg window are left to the commits that meet them.
    async fn find_registrations(&mut self, from: u64, to: u64) -> Result<()> {
        self.ahead.clear();
        let directories: Vec<Address> = self
            .contracts
            .iter()
            .filter(|(_, w)| w.kind == ContractKind::Directory)
            .map(|(a, _)| *a)
            .collect();
        if directories.is_empty() || from > to {
            return Ok(());
        }
        let logs = self.source.sparse_logs(from, to, &directories).await?;
        for (address, watched, block) in self.discoveries(&logs, &self.contracts) {
            self.ahead.insert(address, (watched, block));
        }
        Ok(())
    }

    async fn follow(&mut self, head: u64) -> Result<Step> {
        let from = self.next_block;
        let to = head.min(from + self.cfg.follow_batch.max(1) - 1);
        // Headers and logs are read at once; the checks below catch a chain that moved
        // between the two answers.
        let watched = self.watched();
        let (headers, logs) = tokio::join!(
            self.source.headers(from, to),
            self.source.logs(from, to, &watched)
        );
        let headers = headers?;
        if let (Some(first), Some(prev)) = (headers.first(), from.checked_sub(1))
            && let Some(stored) = self.window.get(&prev)
            && first.parent_hash != *stored
        {
            return self.reorg(from).await;
        }
        let logs = logs?;
        if !self.links(from, &headers, &logs) {
            return Ok(Step::Retry);
        }
        let to = self.commit_range(from, to, logs, headers, head).await?;
        Ok(Step::Indexed { to })
    }

    /// Whether `headers` are the blocks from `from` on, each the parent of the next, the first
    /// extending the stored window (when it holds the block before), and every log of `logs`
    /// names its block's hash: a consistent read of a chain that extends what is indexed.
    fn links(&self, from: u64, headers: &[BlockHeader], logs: &[RawLog]) -> bool {
        let numbered = headers
            .iter()
            .enumerate()
            .all(|(i, h)| h.number == from + i as u64);
        let extends = match (headers.first(), from.checked_sub(1)) {
            (Some(first), Some(prev)) => self
                .window
                .get(&prev)
                .is_none_or(|stored| first.parent_hash == *stored),
            _ => true,
        };
        let by_number: HashMap<u64, B256> = headers.iter().map(|h| (h.number, h.hash)).collect();
        numbered
            && extends
            && headers.windows(2).all(|w| w[1].parent_hash == w[0].hash)
            && logs
                .iter()
                .all(|l| by_number.get(&l.block_number) == Some(&l.block_hash))
    }

    /// A block at `from` does not extend the stored chain: find the fork point in the window
    /// and roll back past it.
    async fn reorg(&mut self, from: u64) -> Result<Step> {
        let stored: Vec<(u64, B256)> = self
            .window
            .range(..from)
            .rev()
            .map(|(n, h)| (*n, *h))
            .collect();
        for (n, hash) in stored {
            let Some(canonical) = self.source.header(n).await? else {
                continue;
            };
            if canonical.hash == hash {
                let date = match self.source.header(n + 1).await? {
                    Some(h) => date_of(h.timestamp)?,
                    None => date_of(canonical.timestamp)?,
                };
                self.rollback(n, date).await?;
                info!(fork = n, depth = from - n - 1, "rolled back a reorg");
                return Ok(Step::RolledBack { fork: n });
            }
        }
        Err(Error::ReorgTooDeep {
            at: from,
            window: self.cfg.reorg_window,
        })
    }

    /// The checkpoint update of a commit, as a guard: it moves the checkpoint to `next` only
    /// from where this indexer last saw it, so an indexer whose view is stale (another one
    /// committed in between) commits nothing.
    fn advance_checkpoint(&self, next: u64) -> Result<Statement> {
        Ok(
            Statement::new("UPDATE idx_state SET next_block = $1 WHERE id = 1 AND next_block = $2")
                .bind(i64_of(next)?)
                .bind(i64_of(self.next_block)?),
        )
    }

    /// Commits `changes` (which carry a checkpoint guard).
    async fn apply(&self, changes: Changes) -> Result<()> {
        match self.ledger.apply(changes).await {
            Ok(_) => Ok(()),
            Err(propledger_ledger::Error::GuardFailed { .. }) => Err(Error::Superseded {
                expected: self.next_block,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Undoes everything indexed after block `fork` in one transaction.
    async fn rollback(&mut self, fork: u64, date: NaiveDate) -> Result<()> {
        let f = i64_of(fork)?;
        let rows = self
            .ledger
            .query(
                Statement::new(
                    "SELECT entry_key FROM idx_bookings WHERE block_number > $1 \
                     AND status <> 'retracted' ORDER BY block_number DESC, log_index DESC",
                )
                .bind(f),
            )
            .await?;
        let mut changes = Changes::new();
        for r in &rows {
            let key = r.text(0)?;
            changes.retract(Retraction {
                key: IdempotencyKey::parse(&key)?,
                reversal_key: IdempotencyKey::parse(&format!("rev:{key}"))?,
                effective_date: date,
                description: "Event removed by a chain reorganization".to_owned(),
                source: Source::operator("chain-reorg")?,
            });
        }
        changes
            .statement(
                Statement::new(
                    "UPDATE idx_bookings SET status = 'retracted' \
                     WHERE block_number > $1 AND status <> 'retracted'",
                )
                .bind(f),
            )
            .statement(Statement::new("DELETE FROM idx_events WHERE block_number > $1").bind(f))
            .statement(Statement::new("DELETE FROM idx_contracts WHERE added_block > $1").bind(f))
            .statement(Statement::new("DELETE FROM idx_blocks WHERE number > $1").bind(f))
            .guard(self.advance_checkpoint(fork + 1)?);
        self.apply(changes).await?;
        self.load().await
    }

    /// Contracts registered by directory events in `logs` that are not watched yet.
    fn discoveries(
        &self,
        logs: &[RawLog],
        seen: &AddressMap<Watched>,
    ) -> Vec<(Address, Watched, u64)> {
        let mut out = Vec::new();
        for log in logs {
            let Some(w) = seen.get(&log.address) else {
                continue;
            };
            if w.kind != ContractKind::Directory {
                continue;
            }
            let data =
                alloy::primitives::LogData::new_unchecked(log.topics.clone(), log.data.clone());
            let mut found: Vec<(Address, ContractKind, String)> = Vec::new();
            if log.topics.first() == Some(&PropertyDirectory::PropertyRegistered::SIGNATURE_HASH) {
                if let Ok(e) = PropertyDirectory::PropertyRegistered::decode_log_data(&data) {
                    let id = e.propertyId.to_string();
                    found.push((e.shares, ContractKind::Shares, id.clone()));
                    found.push((e.compliance, ContractKind::Compliance, id.clone()));
                    found.push((e.treasury, ContractKind::Treasury, id.clone()));
                    found.push((e.distributor, ContractKind::Distributor, id));
                }
            } else if log.topics.first()
                == Some(&PropertyDirectory::OfferingRegistered::SIGNATURE_HASH)
                && let Ok(e) = PropertyDirectory::OfferingRegistered::decode_log_data(&data)
            {
                found.push((e.offering, ContractKind::Offering, e.propertyId.to_string()));
            }
            for (address, kind, property) in found {
                if !seen.contains_key(&address) && !out.iter().any(|(a, _, _)| *a == address) {
                    out.push((
                        address,
                        Watched {
                            kind,
                            property: Some(property),
                        },
                        log.block_number,
                    ));
                }
            }
        }
        out
    }

    /// Opens (idempotently) a property's chart and caches its accounts.
    async fn open_property(&mut self, id: &str) -> Result<()> {
        if self.properties.contains_key(id) {
            return Ok(());
        }
        let dim = property_dim(id)?;
        let chart = self
            .ledger
            .accounts()
            .open_property_chart(&dim, self.currency)
            .await?;
        let chart = chart
            .into_iter()
            .filter(|a| a.dimensions.investor.is_none() && a.dimensions.budget_line.is_none())
            .map(|a| (a.code.as_str().to_owned(), a.id))
            .collect();
        self.properties.insert(
            id.to_owned(),
            PropertyBooks {
                dim,
                chart,
                investors: HashMap::new(),
                lines: HashMap::new(),
            },
        );
        Ok(())
    }

    /// The account a posting goes to, when it is open (see [`Indexer::open_accounts`]).
    fn account(&self, property: &str, target: &Target) -> Result<AccountId> {
        let books = self
            .properties
            .get(property)
            .ok_or_else(|| Error::Corrupt(format!("property {property} is not open")))?;
        let found = match target {
            Target::Chart(code) => books.chart.get(*code),
            Target::InvestorCapital(wallet) => books.investors.get(wallet),
            Target::Improvements(line) => books.lines.get(line),
        };
        found
            .copied()
            .ok_or_else(|| Error::Corrupt(format!("no open account for {target:?}")))
    }

    /// Opens the properties' charts and the per-investor and per-line accounts of `targets`
    /// that are not open yet: the new accounts in one transaction.
    async fn open_accounts(&mut self, targets: Vec<(String, Target)>) -> Result<()> {
        let mut wanted: Vec<(String, Target, NewAccount)> = Vec::new();
        for (property, target) in targets {
            self.open_property(&property).await?;
            let books = self
                .properties
                .get(&property)
                .ok_or_else(|| Error::Corrupt(format!("property {property}")))?;
            let (code, dims) = match &target {
                Target::Chart(_) => continue,
                Target::InvestorCapital(wallet) => {
                    if books.investors.contains_key(wallet) {
                        continue;
                    }
                    (
                        codes::INVESTOR_CAPITAL,
                        Dimensions::property(books.dim.clone())
                            .with_investor(DimValue::parse(&format!("{wallet:#x}"))?),
                    )
                }
                Target::Improvements(line) => {
                    if books.lines.contains_key(line) {
                        continue;
                    }
                    (
                        codes::CAPITALIZED_IMPROVEMENTS,
                        Dimensions::property(books.dim.clone())
                            .with_budget_line(DimValue::parse(&alloy::hex::encode(line))?),
                    )
                }
            };
            if wanted
                .iter()
                .any(|(p, t, _)| *p == property && *t == target)
            {
                continue;
            }
            let line = template_line(code).ok_or_else(|| Error::Corrupt(format!("code {code}")))?;
            let new = NewAccount::new(
                AccountCode::parse(code)?,
                line.name,
                line.account_type,
                self.currency,
            )
            .with_dimensions(dims)
            .with_limit(line.limit);
            wanted.push((property, target, new));
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let news: Vec<NewAccount> = wanted.iter().map(|(_, _, n)| n.clone()).collect();
        let opened = self.ledger.accounts().open_many(&news).await?;
        for ((property, target, _), account) in wanted.into_iter().zip(opened) {
            let books = self
                .properties
                .get_mut(&property)
                .ok_or_else(|| Error::Corrupt(format!("property {property}")))?;
            match target {
                Target::InvestorCapital(w) => books.investors.insert(w, account.id),
                Target::Improvements(l) => books.lines.insert(l, account.id),
                Target::Chart(_) => None,
            };
        }
        Ok(())
    }

    /// Commits blocks `from..=to` with their `logs` (sorted), in one transaction; returns the
    /// last block committed, which is earlier than `to` when the range registers contracts.
    /// `headers` are stored for the window: every block's when following or in the window;
    /// of final blocks, at most the last one's.
    async fn commit_range(
        &mut self,
        from: u64,
        to: u64,
        logs: Vec<RawLog>,
        headers: Vec<BlockHeader>,
        head: u64,
    ) -> Result<u64> {
        let staged = self
            .stage_commit(from, to, logs, headers, head, None)
            .await?;
        let outcome = self.ledger.apply(staged.changes).await.map(drop);
        if let Err(e) = settled(outcome, staged.expected) {
            self.reload_after(&e).await;
            return Err(e);
        }
        Ok(staged.to)
    }

    /// Reads the in-memory view again after a failed commit: it moved on when the commit was
    /// staged. (The commit's error is returned anyway; a failing reload is left to the next
    /// step's.)
    async fn reload_after(&mut self, error: &Error) {
        if let Err(e) = self.load().await {
            warn!(error = %error, reload = %e, "reloading after a failed commit failed");
        }
    }

    /// Prepares the commit of blocks `from..=to` (see [`Indexer::commit_range`]) and moves the
    /// in-memory view on as if it were committed, so that the next commit can be staged while
    /// this one is applied. When applying it fails, the view must be read again
    /// ([`Indexer::reload_after`]).
    async fn stage_commit(
        &mut self,
        from: u64,
        to: u64,
        mut logs: Vec<RawLog>,
        headers: Vec<BlockHeader>,
        head: u64,
        prepared: Option<Vec<Statement>>,
    ) -> Result<Staged> {
        // Contracts registered in this range: the commit stops at the block of the first
        // registration and takes the new contracts' events up to it (their history before
        // registration included); the blocks after it are read again, with the new contracts
        // watched, by the next step.
        let mut watched = self.contracts.clone();
        watched.extend(self.ahead.iter().map(|(a, (w, _))| (*a, w.clone())));
        let mut added: Vec<(Address, Watched, u64)> = Vec::new();
        let mut to = to;
        let mut headers = headers;
        loop {
            let found = self.discoveries(&logs, &watched);
            let Some(at) = found.iter().map(|(_, _, block)| *block).min() else {
                break;
            };
            if at < to {
                to = at;
                logs.retain(|l| l.block_number <= at);
                headers.retain(|h| h.number <= at);
            }
            let found: Vec<(Address, Watched, u64)> = found
                .into_iter()
                .filter(|(_, _, block)| *block == at)
                .collect();
            let addresses: Vec<Address> = found.iter().map(|(a, _, _)| *a).collect();
            let earlier = self
                .source
                .logs(self.cfg.platform.start_block(), to, &addresses)
                .await?;
            for (a, w, block) in found {
                watched.insert(a, w.clone());
                added.push((a, w, block));
            }
            let mut seen: HashSet<(u64, u64)> =
                logs.iter().map(|l| (l.block_number, l.log_index)).collect();
            logs.extend(
                earlier
                    .into_iter()
                    .filter(|l| seen.insert((l.block_number, l.log_index))),
            );
            logs.sort_by_key(|l| (l.block_number, l.log_index));
        }
        // Registrations found before the pass that this commit holds.
        let registered: Vec<(Address, Watched, u64)> = self
            .ahead
            .iter()
            .filter(|(_, (_, block))| *block <= to)
            .map(|(a, (w, block))| (*a, w.clone(), *block))
            .collect();
        for (_, w, _) in added.iter().chain(&registered) {
            if let Some(p) = &w.property {
                self.open_property(p).await?;
            }
        }

        // Block timestamps for entries' effective dates.
        let mut timestamps: HashMap<u64, u64> =
            headers.iter().map(|h| (h.number, h.timestamp)).collect();
        let planned: Vec<(usize, books::Plan)> = logs
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let w = watched.get(&l.address)?;
                books::plan(w.kind, l).map(|p| (i, p))
            })
            .collect();
        for (i, _) in &planned {
            let l = &logs[*i];
            if let Some(ts) = l.block_timestamp {
                timestamps.entry(l.block_number).or_insert(ts);
            }
        }
        let missing: Vec<u64> = planned
            .iter()
            .map(|(i, _)| logs[*i].block_number)
            .filter(|n| !timestamps.contains_key(n))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        {
            // Headers of the blocks with entries (for their dates), several at a time.
            use futures_util::{StreamExt, TryStreamExt};
            let source = &self.source;
            let found: Vec<(u64, Option<BlockHeader>)> = futures_util::stream::iter(missing)
                .map(|n| async move { Ok::<_, Error>((n, source.header(n).await?)) })
                .buffered(HEADER_CONCURRENCY)
                .try_collect()
                .await?;
            for (n, h) in found {
                let h = h.ok_or(Error::Source(crate::source::SourceError::MissingBlock(n)))?;
                timestamps.insert(n, h.timestamp);
            }
        }
        // Accounts the entries need that are not open yet, opened together.
        let targets: Vec<(String, Target)> = planned
            .iter()
            .filter_map(|(i, plan)| {
                let property = watched.get(&logs[*i].address)?.property.clone()?;
                Some(
                    plan.lines
                        .iter()
                        .map(move |l| (property.clone(), l.target.clone())),
                )
            })
            .flatten()
            .collect();
        self.open_accounts(targets).await?;

        let final_upto = head.saturating_sub(self.cfg.confirmations);
        let mut changes = Changes::new();
        let posted_blocks = self.finalize(&mut changes, final_upto);

        // Entries.
        let mut bookings: Vec<Vec<propledger_ledger::ext::Value>> = Vec::new();
        let mut new_pending: Vec<(u64, String)> = Vec::new();
        for (i, plan) in planned {
            let log = &logs[i];
            let Some(property) = watched.get(&log.address).and_then(|w| w.property.clone()) else {
                continue;
            };
            let mut key = event_key(self.chain_id, log);
            let mut n = 1;
            while self.retired.contains(&key) {
                n += 1;
                key = format!("{}~{n}", event_key(self.chain_id, log));
            }
            let finality = if log.block_number <= final_upto {
                Finality::Posted
            } else {
                Finality::Pending
            };
            let date = date_of(timestamps[&log.block_number])?;
            let mut builder = EntryDraft::builder(
                IdempotencyKey::parse(&key)?,
                date,
                Source::chain(self.chain_id, log.tx_hash, log.log_index),
            )
            .description(&plan.description)
            .finality(finality);
            let mut refused = None;
            for line in &plan.lines {
                let account = self.account(&property, &line.target)?;
                match Amount::from_token_units(line.amount, self.token_decimals, self.currency) {
                    Ok(amount) => builder = builder.posting(account, line.direction, amount),
                    Err(e) => refused = Some(e),
                }
            }
            let draft = match refused.map_or_else(|| builder.build(), Err) {
                Ok(d) => d,
                Err(e) => {
                    // Stored as an event; not booked. Reconciliation shows the difference.
                    warn!(block = log.block_number, log_index = log.log_index, error = %e,
                        "event not booked");
                    continue;
                }
            };
            changes.record(draft);
            bookings.push(vec![
                key.clone().into(),
                i64_of(log.block_number)?.into(),
                i64_of(log.log_index)?.into(),
                match finality {
                    Finality::Posted => "posted",
                    Finality::Pending => "pending",
                }
                .into(),
                plan.reference.map(|r| format!("{r:#x}")).into(),
            ]);
            if finality == Finality::Pending {
                new_pending.push((log.block_number, key));
            }
        }
        insert_rows(
            &mut changes,
            "INSERT INTO idx_bookings (entry_key, block_number, log_index, status, reference)",
            5,
            bookings,
        );

        // Events (prepared ahead unless this commit discovered contracts, whose
        // events the preparation did not know), then contracts.
        let statements = match prepared {
            Some(statements) if added.is_empty() => statements,
            _ => {
                let kinds: AddressMap<ContractKind> =
                    watched.iter().map(|(a, w)| (*a, w.kind)).collect();
                event_statements(&kinds, &logs)?
            }
        };
        // The events' rows are the bulk of a commit and no other writer's: they go in before
        // the writers' lock, overlapping the commit before, unless the checkpoint has already
        // passed this commit's first block (a stale indexer, turned away before it inserts
        // rows another one committed). The guard under the lock still decides.
        changes.precondition(
            Statement::new("SELECT 1 FROM idx_state WHERE id = 1 AND next_block <= $1")
                .bind(i64_of(self.next_block)?),
        );
        for statement in statements {
            changes.unlocked(statement);
        }
        let contract_rows = added
            .iter()
            .chain(&registered)
            .map(|(a, w, block)| {
                Ok(vec![
                    a.to_vec().into(),
                    w.kind.as_str().into(),
                    w.property.clone().into(),
                    i64_of(*block)?.into(),
                ])
            })
            .collect::<Result<Vec<_>>>()?;
        insert_rows(
            &mut changes,
            "INSERT INTO idx_contracts (address, kind, property_id, added_block)",
            4,
            contract_rows,
        );

        // The window and the checkpoint.
        let block_rows: Vec<Vec<propledger_ledger::ext::Value>> = headers
            .iter()
            .map(|h| {
                Ok(vec![
                    i64_of(h.number)?.into(),
                    h.hash.to_vec().into(),
                    h.parent_hash.to_vec().into(),
                    i64_of(h.timestamp)?.into(),
                ])
            })
            .collect::<Result<Vec<_>>>()?;
        for chunk in block_rows.chunks(MAX_STATEMENT_BINDS / 4) {
            let mut s = Statement::assembled(format!(
                "INSERT INTO idx_blocks (number, hash, parent_hash, timestamp) VALUES {} \
                 ON CONFLICT (number) DO UPDATE SET hash = excluded.hash, \
                 parent_hash = excluded.parent_hash, timestamp = excluded.timestamp",
                placeholders(chunk.len(), 4)
            ));
            for row in chunk {
                for v in row {
                    s.push(v.clone());
                }
            }
            changes.statement(s);
        }
        let keep_from = to.saturating_sub(self.cfg.reorg_window.saturating_mul(2));
        changes
            .statement(
                Statement::new("DELETE FROM idx_blocks WHERE number < $1").bind(i64_of(keep_from)?),
            )
            .guard(self.advance_checkpoint(to + 1)?);
        let expected = self.next_block;

        // The view moves on now; a commit that fails reloads it (see `settle`).
        debug!(from, to, events = logs.len(), "staged");
        self.next_block = to + 1;
        self.forget_pending(&posted_blocks);
        for (block, key) in new_pending {
            self.pending.entry(block).or_default().push(key);
        }
        for (a, w, _) in added.into_iter().chain(registered) {
            self.ahead.remove(&a);
            self.contracts.insert(a, w);
        }
        for h in headers {
            self.window.insert(h.number, h.hash);
        }
        self.window = self.window.split_off(&keep_from);
        Ok(Staged {
            changes,
            to,
            expected,
        })
    }
}

/// The outcome of applying a commit staged from checkpoint `expected`: a failed checkpoint
/// guard means another indexer moved it.
fn settled(
    outcome: std::result::Result<(), propledger_ledger::Error>,
    expected: u64,
) -> Result<()> {
    match outcome {
        Ok(()) => Ok(()),
        Err(propledger_ledger::Error::GuardFailed { .. }) => Err(Error::Superseded { expected }),
        Err(e) => Err(e.into()),
    }
}

/// A commit staged by [`Indexer::stage_commit`], to be applied.
struct Staged {
    changes: Changes,
    /// The last block it commits.
    to: u64,
    /// The checkpoint it moves on from.
    expected: u64,
}

/// A staged commit being finished in a task of its own.
struct InFlight {
    task: AbortOnDrop<std::result::Result<(), propledger_ledger::Error>>,
    expected: u64,
}

impl InFlight {
    /// Waits for the commit to be over; see [`settled`].
    async fn settle(self) -> Result<()> {
        let InFlight { task, expected } = self;
        let outcome = task.await.unwrap_or_else(|e| {
            Err(propledger_ledger::Error::Corrupt(format!(
                "commit task: {e}"
            )))
        });
        settled(outcome, expected)
    }
}

/// Whole blocks of a backfill chunk with their rows prepared.
struct Group {
    from: u64,
    to: u64,
    /// Whether the blocks are in the reorg window (then `headers` has every block).
    window: bool,
    logs: Vec<RawLog>,
    /// Every block's header in the window; the last block's otherwise.
    headers: Vec<BlockHeader>,
    statements: Vec<Statement>,
}

/// Splits a chunk in two after block `at` when it spans it.
fn split_at(chunk: LogChunk, at: u64) -> Vec<LogChunk> {
    if chunk.from > at || chunk.to <= at {
        return vec![chunk];
    }
    let (before, after): (Vec<RawLog>, Vec<RawLog>) =
        chunk.logs.into_iter().partition(|l| l.block_number <= at);
    vec![
        LogChunk {
            from: chunk.from,
            to: at,
            logs: before,
        },
        LogChunk {
            from: at + 1,
            to: chunk.to,
            logs: after,
        },
    ]
}

/// Splits a chunk into commits of whole blocks with at most `max` events each (a single larger
/// block stays whole).
fn split_groups(chunk: LogChunk, max: usize) -> Vec<(u64, u64, Vec<RawLog>)> {
    let mut out = Vec::new();
    let mut from = chunk.from;
    let mut current: Vec<RawLog> = Vec::new();
    for log in chunk.logs {
        if current.len() >= max
            && current
                .last()
                .is_some_and(|l| l.block_number < log.block_number)
        {
            let to = log.block_number - 1;
            out.push((from, to, std::mem::take(&mut current)));
            from = to + 1;
        }
        current.push(log);
    }
    out.push((from, chunk.to, current));
    out
}

/// The statement loading `logs` (those of watched contracts) into `idx_events`, raw and
/// decoded ([`Statement::load`]: a binary `COPY` on PostgreSQL, a prepared insert per row on
/// SQLite).
fn event_statements(kinds: &AddressMap<ContractKind>, logs: &[RawLog]) -> Result<Vec<Statement>> {
    let watched: Vec<(&RawLog, ContractKind)> = logs
        .iter()
        .filter_map(|l| kinds.get(&l.address).map(|k| (l, *k)))
        .collect();
    if watched.is_empty() {
        return Ok(Vec::new());
    }
    // About what an ERC-20 transfer takes, so that the buffer seldom grows.
    let mut rows = CopyRows::with_capacity(watched.len() * 512);
    let mut last: Option<(u64, u64)> = None;
    for (log, kind) in watched {
        // Each event once (see `schema`): a commit's events are strictly in chain order.
        let at = (log.block_number, log.log_index);
        if last.is_some_and(|last| last >= at) {
            return Err(Error::Corrupt(format!(
                "log {} of block {} is not after the log before it in its commit",
                at.1, at.0
            )));
        }
        last = Some(at);
        let decoded = decode::decode(kind, log);
        rows.row(11);
        rows.push_i64(i64_of(log.block_number)?);
        rows.push_i64(i64_of(log.log_index)?);
        rows.push_bytes(log.block_hash.as_slice());
        rows.push_bytes(log.tx_hash.as_slice());
        rows.push_i64(i64_of(log.tx_index)?);
        rows.push_bytes(log.address.as_slice());
        rows.push_bytes_from(log.topics.iter().map(|t| t.as_slice()));
        rows.push_bytes(&log.data);
        rows.push_text(kind.as_str());
        rows.push_text(&decoded.name);
        rows.push_text(&decoded.json);
    }
    Ok(vec![Statement::load(&EVENTS, rows)])
}

/// The columns of `idx_events`, in the order [`event_statements`] gives them.
static EVENTS: Load = Load {
    table: "idx_events",
    columns: &[
        ("block_number", Column::Int),
        ("log_index", Column::Int),
        ("block_hash", Column::Bytes),
        ("tx_hash", Column::Bytes),
        ("tx_index", Column::Int),
        ("address", Column::Bytes),
        ("topics", Column::Bytes),
        ("data", Column::Bytes),
        ("kind", Column::Text),
        ("event", Column::Text),
        ("decoded", Column::Text),
    ],
};

/// A spawned task, aborted when dropped; as a future, its outcome.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = std::result::Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// Splits a backfill chunk into commits and prepares them: the rows of their events, and the
/// headers to store. Those are every block's in the reorg window, and the header of the last
/// final block, which the window's first block must link to; other final blocks need none.
/// The groups come back in order; an error ends them.
async fn prepare_chunk(
    chunk: std::result::Result<LogChunk, crate::source::SourceError>,
    kinds: std::sync::Arc<AddressMap<ContractKind>>,
    source: RpcSource,
    safe_to: u64,
    max_events: usize,
) -> Vec<Result<Group>> {
    let chunk = match chunk {
        Ok(chunk) => chunk,
        Err(e) => return vec![Err(e.into())],
    };
    let groups: Vec<(u64, u64, Vec<RawLog>)> = split_at(chunk, safe_to)
        .into_iter()
        .flat_map(|c| split_groups(c, max_events))
        .collect();
    // Headers are asked for at once, while the rows are prepared.
    let headers: Vec<Option<AbortOnDrop<_>>> = groups
        .iter()
        .map(|(from, to, _)| {
            let (source, from, to) = (source.clone(), *from, *to);
            if from > safe_to {
                Some(AbortOnDrop(tokio::spawn(async move {
                    source.headers(from, to).await
                })))
            } else if to == safe_to {
                Some(AbortOnDrop(tokio::spawn(async move {
                    match source.header(to).await? {
                        Some(h) => Ok(vec![h]),
                        None => Err(crate::source::SourceError::MissingBlock(to)),
                    }
                })))
            } else {
                None
            }
        })
        .collect();
    let mut out = Vec::with_capacity(groups.len());
    for ((from, to, logs), header) in groups.into_iter().zip(headers) {
        let statements = event_statements(&kinds, &logs);
        let headers = match header {
            None => Ok(Vec::new()),
            Some(task) => match task.await {
                Ok(Ok(h)) => Ok(h),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(Error::Corrupt(format!("header task: {e}"))),
            },
        };
        let group = headers.and_then(|headers| {
            Ok(Group {
                from,
                to,
                window: from > safe_to,
                logs,
                headers,
                statements: statements?,
            })
        });
        let failed = group.is_err();
        out.push(group);
        if failed {
            break;
        }
    }
    out
}

/// `balanceOf(holder)` calldata.
pub(crate) fn balance_of(holder: Address) -> Bytes {
    PropertyShares::balanceOfCall { account: holder }
        .abi_encode()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(block_number: u64, log_index: u64, address: Address) -> RawLog {
        RawLog {
            block_number,
            block_hash: B256::repeat_byte(1),
            block_timestamp: None,
            tx_hash: B256::repeat_byte(2),
            tx_index: 0,
            log_index,
            address,
            topics: vec![B256::repeat_byte(3)],
            data: Bytes::new(),
        }
    }

    #[test]
    fn a_commit_loads_its_events_only_in_strict_chain_order() {
        let watched = Address::repeat_byte(9);
        let kinds: AddressMap<ContractKind> = [(watched, ContractKind::Deed)].into_iter().collect();
        // An unwatched log between two watched ones is not loaded and breaks nothing.
        let ordered = [
            log(5, 0, watched),
            log(5, 1, Address::repeat_byte(8)),
            log(5, 2, watched),
            log(6, 0, watched),
        ];
        assert_eq!(event_statements(&kinds, &ordered).unwrap().len(), 1);
        for bad in [
            [log(5, 0, watched), log(5, 0, watched)],
            [log(6, 0, watched), log(5, 3, watched)],
            [log(5, 2, watched), log(5, 1, watched)],
        ] {
            match event_statements(&kinds, &bad) {
                Err(Error::Corrupt(message)) => assert!(message.contains("not after"), "{message}"),
                other => panic!("out of order events must be refused, got {other:?}"),
            }
        }
    }
}
