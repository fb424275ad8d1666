//! The chain follower: backfill, head following, reorgs, and the one-transaction commit of a
//! range of blocks.
//!
//! Two modes, chosen per step by the distance to the head:
//! - **Backfill** (more than `reorg_window` blocks behind, [`pipeline`]): log chunks are
//!   fetched ahead with bounded concurrency while earlier ones are committed; blocks this deep
//!   are taken as final. Each commit also stores the header of its last block, so following
//!   can link to it.
//! - **Following** (within the window): headers and logs of the next blocks are fetched, and
//!   the [`window`] decides whether they extend the stored chain. A fork walks the window back
//!   to the fork point, rolls back what was indexed past it (events, discovered contracts,
//!   blocks) and retracts its entries (pending ones are voided, posted ones reversed).
//!
//! Every commit holds whole blocks: their events, the entries they make, the entries that
//! became final, the window and the checkpoint ([`stage`] builds it, the store's statements
//! and the ledger's unit of work apply it). A crash between commits resumes from the
//! checkpoint; a crash inside one loses the whole commit and nothing else. A commit makes at
//! most as many entries as one unit of work takes
//! ([`propledger_ledger::unit::MAX_UNIT_ENTRIES`]): ranges are cut at block boundaries to fit.
//!
//! Modules: [`window`] (the pure reorg decisions), [`pipeline`] (the backfill pass),
//! [`stage`] (a commit, step by step), [`accounts`] (the accounts booked into), [`upgrade`]
//! (books of an earlier model brought to this build's).

pub mod accounts;
mod pipeline;
mod stage;
pub mod upgrade;
pub mod window;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use alloy::primitives::map::AddressMap;
use alloy::primitives::{Address, Bytes};
use alloy::sol_types::{SolCall, SolEvent};
use chrono::NaiveDate;
use propledger_contracts::deploy::Platform;
use propledger_contracts::{PropertyDirectory, PropertyShares, TestStablecoin};
use propledger_ledger::Ledger;
use propledger_ledger::core::{AccountId, Currency, IdempotencyKey, Source};
use propledger_ledger::unit::{MAX_UNIT_ENTRIES, Retraction, UnitOfWork};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::books::Capital;
use crate::decode::ContractKind;
use crate::error::{Error, Result};
use crate::source::{RawLog, RpcSource, SourceConfig};
use crate::store::{self, BookingStatus, ContractRow};

use accounts::Books;
pub use accounts::property_dim;
use window::{Fork, Link, ReorgWindow};

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
    /// Most events in one commit (whole blocks are never split). The entries a commit makes
    /// are limited by the ledger's unit of work besides
    /// ([`propledger_ledger::unit::MAX_UNIT_ENTRIES`]).
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

/// A watched contract.
#[derive(Clone, Debug)]
struct Watched {
    kind: ContractKind,
    property: Option<String>,
}

/// The share market's row: the platform's own books.
fn market_row(d: propledger_contracts::deploy::Deployed) -> ContractRow {
    ContractRow {
        address: d.address,
        kind: ContractKind::Settlement,
        property: Some(accounts::PLATFORM_BOOKS.to_owned()),
        added_block: d.block,
    }
}

/// How much one commit may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Events (a soft limit: a block is never split).
    pub(crate) events: usize,
    /// Entries the events make (a hard limit: one unit of work takes no more).
    pub(crate) entries: usize,
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
    books: Books,
    /// Wallets, shares and capital as of the checkpoint, for booking capital per investor.
    capital: Capital,
    window: ReorgWindow,
    /// Keys of pending entries, by block.
    pending: BTreeMap<u64, Vec<String>>,
    /// Keys of retracted bookings (a re-booked event takes a new key).
    retired: HashSet<String>,
    /// Contracts whose registration a backfill pass found before reading their blocks, with
    /// the block of the registration: read and booked from the pass's start, recorded as
    /// watched by the commit that holds the registration.
    ahead: AddressMap<(Watched, u64)>,
}

/// The books' currency: the settlement stablecoin is booked as US dollars at par.
pub const BOOKS_CURRENCY: &str = "USD";

/// The idempotency key of the entry an event makes.
fn event_key(chain_id: u64, log: &RawLog) -> String {
    format!("ev:{chain_id}:{:#x}:{}", log.block_hash, log.log_index)
}

/// The key of the entry that reverses the entry of `key` when a reorg removes its event.
pub(crate) fn retraction_key(key: &str) -> String {
    format!("rev:{key}")
}

fn date_of(timestamp: u64) -> Result<NaiveDate> {
    let secs = i64::try_from(timestamp)
        .map_err(|_| Error::BadChainData(format!("block timestamp {timestamp}")))?;
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.date_naive())
        .ok_or_else(|| Error::BadChainData(format!("block timestamp {timestamp}")))
}

impl Indexer {
    /// Connects to the chain, creates or upgrades the indexer's tables in `ledger`'s database
    /// ([`store::migrate`]), and loads the checkpoint (starting at the platform's first block
    /// on a fresh database).
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
        store::migrate(&ledger).await?;
        let (currency, token_decimals) = match store::checkpoint(&ledger).await? {
            Some(c) => {
                if c.chain_id != chain_id {
                    return Err(Error::ChainMismatch {
                        expected: c.chain_id,
                        found: chain_id,
                    });
                }
                (
                    Currency::parse(&c.currency, u32::from(c.token_decimals))?,
                    c.token_decimals,
                )
            }
            None => Self::initialize(&ledger, &cfg, &source).await?,
        };
        upgrade::upgrade_books(&ledger, cfg.confirmations, Some(&source)).await?;
        let mut indexer = Indexer {
            cfg,
            source,
            ledger,
            chain_id,
            currency,
            token_decimals,
            next_block: 0,
            contracts: AddressMap::default(),
            books: Books::default(),
            capital: Capital::default(),
            window: ReorgWindow::default(),
            pending: BTreeMap::new(),
            retired: HashSet::new(),
            ahead: AddressMap::default(),
        };
        indexer.load().await?;
        indexer.watch_market().await?;
        Ok(indexer)
    }

    /// Watches the platform's share market when an index made before the indexer booked its
    /// fees does not: from its deployment when the index has not passed it, else from the next
    /// block (the trades before are left out of the platform's books, which the log says).
    async fn watch_market(&mut self) -> Result<()> {
        let Some(market) = self.cfg.platform.settlement else {
            return Ok(());
        };
        if self.contracts.contains_key(&market.address) {
            return Ok(());
        }
        let mut row = market_row(market);
        if row.added_block < self.next_block {
            warn!(
                market = %market.address,
                from = self.next_block,
                "the share market was not watched by this index: its trading fees are booked from this block on, not before"
            );
            row.added_block = self.next_block;
        }
        let mut unit = UnitOfWork::new();
        store::insert_contract_once(&mut unit, &row)?;
        self.ledger.apply(unit).await?;
        self.load().await
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
            .map_err(|e| Error::Config(format!("the settlement token's decimals: {e}")))?;
        let raw = source
            .call(
                head,
                token,
                TestStablecoin::symbolCall {}.abi_encode().into(),
            )
            .await?;
        // The settlement token is a USD stablecoin, booked as USD at par: its base units are
        // the books' minor units, so amounts convert exactly (a token with more decimals than
        // the ledger keeps is refused).
        let symbol = TestStablecoin::symbolCall::abi_decode_returns(&raw).unwrap_or_default();
        let currency = Currency::parse(BOOKS_CURRENCY, u32::from(decimals)).map_err(|e| {
            Error::Config(format!(
                "the settlement token {symbol:?} has {decimals} decimals, more than the books keep: {e}"
            ))
        })?;
        let p = &cfg.platform;
        let mut contracts: Vec<ContractRow> = [
            (p.identity_registry, ContractKind::IdentityRegistry),
            (p.deed, ContractKind::Deed),
            (p.directory, ContractKind::Directory),
        ]
        .into_iter()
        .map(|(d, kind)| ContractRow {
            address: d.address,
            kind,
            property: None,
            added_block: d.block,
        })
        .collect();
        contracts.extend(p.settlement.map(market_row));
        let mut unit = UnitOfWork::new();
        store::initialize(
            &mut unit,
            p.chain_id,
            p.start_block(),
            currency.code().as_str(),
            decimals,
            &contracts,
        )?;
        ledger.apply(unit).await?;
        info!(chain_id = p.chain_id, currency = %currency.code().as_str(), "indexer initialized");
        Ok((currency, decimals))
    }

    /// Loads the checkpoint, contracts, window and bookings from the database.
    async fn load(&mut self) -> Result<()> {
        let view = store::load_view(&self.ledger).await?;
        self.next_block = view.next_block;
        self.contracts.clear();
        let mut property_ids = Vec::new();
        for c in view.contracts {
            if let Some(p) = &c.property {
                property_ids.push(p.clone());
            }
            self.contracts.insert(
                c.address,
                Watched {
                    kind: c.kind,
                    property: c.property,
                },
            );
        }
        property_ids.sort();
        property_ids.dedup();
        self.books.retain(&property_ids);
        for id in property_ids {
            self.books
                .open_property(&self.ledger, self.currency, &id)
                .await?;
        }
        self.capital = Capital::default();
        for e in store::capital_events(&self.ledger).await? {
            self.capital.apply(e.kind, e.property.as_deref(), &e.log);
        }
        self.window = ReorgWindow::from_blocks(view.window);
        self.pending.clear();
        self.retired.clear();
        self.ahead.clear();
        for b in view.unsettled {
            match b.status {
                BookingStatus::Pending => self.pending.entry(b.block).or_default().push(b.key),
                BookingStatus::Retracted | BookingStatus::Posted => {
                    self.retired.insert(b.key);
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
        self.books
            .chart_account(property, code)
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

    /// How much one commit may hold: the configured events, and the entries one unit of work
    /// takes.
    fn budget(&self) -> Budget {
        Budget {
            events: self.cfg.max_events_per_commit.max(1),
            entries: MAX_UNIT_ENTRIES,
        }
    }

    /// Indexes until the checkpoint passes the head seen at the start (or a later one).
    pub async fn sync(&mut self) -> Result<u64> {
        loop {
            if let Step::Idle { head } = self.step().await? {
                return Ok(head);
            }
        }
    }

    /// Runs until `stop` turns true: indexes, then polls for new blocks. Errors that may pass
    /// (the chain or the database failing, another indexer committing first) are retried with
    /// backoff; one that cannot (a reorg deeper than the window, another chain, a refusal of
    /// the ledger) is returned.
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
                    warn!(error = %e.report(), "indexer step failed; retrying");
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
            if let Some(stored) = self.window.get(last) {
                let canonical = self.source.header(last).await?;
                if canonical.map(|h| h.hash) != Some(stored) {
                    return self.reorg(self.next_block, head).await;
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
        let mut unit = UnitOfWork::new();
        let posted = self.finalize(&mut unit, final_upto);
        // The checkpoint stays; the guard only checks that it is where this indexer saw it.
        unit.guard(store::advance_checkpoint(
            self.next_block,
            self.next_block,
            head,
        )?);
        self.apply(unit, self.next_block).await?;
        self.forget_pending(&posted);
        Ok(())
    }

    /// Adds to `unit` the posting of pending entries of blocks up to `final_upto`, whole
    /// blocks, as many as one unit takes (the rest are posted by the next commits); returns the
    /// blocks whose bookings are then posted.
    fn finalize(&self, unit: &mut UnitOfWork, final_upto: u64) -> Vec<u64> {
        let mut blocks = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        for (block, ks) in self.pending.range(..=final_upto) {
            if !keys.is_empty() && keys.len() + ks.len() > MAX_UNIT_ENTRIES {
                break;
            }
            blocks.push(*block);
            keys.extend(ks.iter().cloned());
        }
        for k in &keys {
            match IdempotencyKey::parse(k) {
                Ok(key) => {
                    unit.post(key);
                }
                Err(e) => warn!(key = %k, error = %e, "a pending booking has an invalid key"),
            }
        }
        store::post_bookings(unit, &keys);
        blocks
    }

    fn forget_pending(&mut self, blocks: &[u64]) {
        for b in blocks {
            self.pending.remove(b);
        }
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
        let mut headers = headers?;
        match self.window.check(from, &headers) {
            Link::Forked { .. } => return self.reorg(from, head).await,
            Link::Inconsistent => return Ok(Step::Retry),
            Link::Extends => {}
        }
        let mut logs = logs?;
        if !window::logs_match(&headers, &logs) {
            return Ok(Step::Retry);
        }
        // As many whole blocks as one commit holds.
        let kinds = self.kinds();
        let to = pipeline::fit(from, to, &logs, &kinds, self.budget())?;
        logs.retain(|l| l.block_number <= to);
        headers.retain(|h| h.number <= to);
        let to = self.commit_range(from, to, logs, headers, head).await?;
        Ok(Step::Indexed { to })
    }

    /// The kinds of the contracts watched, and of those found ahead.
    fn kinds(&self) -> AddressMap<ContractKind> {
        self.contracts
            .iter()
            .map(|(a, w)| (*a, w.kind))
            .chain(self.ahead.iter().map(|(a, (w, _))| (*a, w.kind)))
            .collect()
    }

    /// A block at `from` does not extend the stored chain: find the fork point in the window
    /// from the canonical headers of its blocks, and roll back past it.
    async fn reorg(&mut self, from: u64, head: u64) -> Result<Step> {
        let canonical = match self.window.first() {
            Some(low) if low <= head => {
                self.source
                    .headers(low, from.saturating_sub(1).min(head))
                    .await?
            }
            _ => Vec::new(),
        };
        match self.window.fork_point(from, &canonical) {
            Fork::At(fork) => {
                let date = match canonical.iter().find(|h| h.number == fork + 1) {
                    Some(h) => date_of(h.timestamp)?,
                    None => match canonical.iter().find(|h| h.number == fork) {
                        Some(h) => date_of(h.timestamp)?,
                        None => return Err(Error::Internal("fork block without header".into())),
                    },
                };
                self.rollback(fork, date, head).await?;
                info!(fork, depth = from - fork - 1, "rolled back a reorg");
                Ok(Step::RolledBack { fork })
            }
            Fork::BeyondWindow => Err(Error::ReorgTooDeep {
                at: from,
                window: self.cfg.reorg_window,
            }),
        }
    }

    /// Commits `unit` (which carries a checkpoint guard), staged from checkpoint `expected`.
    async fn apply(&self, unit: UnitOfWork, expected: u64) -> Result<()> {
        settled(self.ledger.apply(unit).await.map(drop), expected)
    }

    /// Undoes everything indexed after block `fork`: its entries are retracted (in units of
    /// at most what one unit takes, the last of which also removes the events and moves the
    /// checkpoint back).
    async fn rollback(&mut self, fork: u64, date: NaiveDate, head: u64) -> Result<()> {
        let keys = store::live_bookings_after(&self.ledger, fork).await?;
        let retraction = |key: &str| -> Result<Retraction> {
            Ok(Retraction {
                key: IdempotencyKey::parse(key)?,
                reversal_key: IdempotencyKey::parse(&retraction_key(key))?,
                effective_date: date,
                description: "Event removed by a chain reorganization".to_owned(),
                source: Source::operator("chain-reorg")?,
            })
        };
        let chunks: Vec<&[String]> = keys.chunks(MAX_UNIT_ENTRIES).collect();
        let (last, earlier) = chunks
            .split_last()
            .map_or((&[][..], &[][..]), |(l, e)| (*l, e));
        for chunk in earlier {
            let mut unit = UnitOfWork::new();
            for key in *chunk {
                unit.retract(retraction(key)?);
            }
            store::retract_bookings(&mut unit, chunk);
            unit.guard(store::advance_checkpoint(
                self.next_block,
                self.next_block,
                head,
            )?);
            self.apply(unit, self.next_block).await?;
        }
        let mut unit = UnitOfWork::new();
        for key in last {
            unit.retract(retraction(key)?);
        }
        store::roll_back(&mut unit, fork, self.next_block, head)?;
        self.apply(unit, self.next_block).await?;
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

    /// Commits blocks `from..=to` with their `logs` (sorted), in one transaction; returns the
    /// last block committed, which is earlier than `to` when the range registers contracts.
    /// `headers` are stored for the window: every block's when following or in the window;
    /// of final blocks, at most the last one's.
    async fn commit_range(
        &mut self,
        from: u64,
        to: u64,
        logs: Vec<RawLog>,
        headers: Vec<crate::source::BlockHeader>,
        head: u64,
    ) -> Result<u64> {
        let staged = self
            .stage_commit(from, to, logs, headers, head, None)
            .await?;
        if let Err(e) = self.apply(staged.unit, staged.expected).await {
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
            warn!(error = %error.report(), reload = %e.report(),
                "reloading after a failed commit failed");
        }
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

/// `balanceOf(holder)` calldata.
pub(crate) fn balance_of(holder: Address) -> Bytes {
    PropertyShares::balanceOfCall { account: holder }
        .abi_encode()
        .into()
}
