//! The indexer's tables (`idx_*`, in the ledger's database): every statement that reads or
//! writes them is here, and the migrations that make them (`indexer/migrations/`).
//!
//! Reads go through [`Ledger::read_with`] with sqlx on either engine; writes are steps of the
//! [`UnitOfWork`] of a commit, so that a block's events, its entries and the checkpoint commit
//! in one transaction. Each event is stored once: commits cover disjoint runs of blocks, which
//! the checkpoint they move (a guard of the same transaction) makes sure of in the database;
//! a commit that finds a new contract also brings that contract's earlier events, which no
//! commit before it stored, as the contract was not watched; and a commit's events are strictly
//! increasing by (block, log index), which [`events`] checks before they are loaded.

use alloy::primitives::{Address, B256};
use propledger_ledger::unit::{BulkRows, Column, Insert, Statement, Table, UnitOfWork, Value};
use propledger_ledger::{Ledger, Migrations, TxConn};
use tracing::info;

use crate::decode::{self, ContractKind};
use crate::error::{Error, Result};
use crate::source::{BlockHeader, RawLog};

/// The table recording the indexer's migrations (the ledger keeps `_sqlx_migrations`).
pub const MIGRATIONS_TABLE: &str = "_indexer_migrations";

/// Runs `$body` with `$c` bound to the connection, once per engine: the same sqlx code on
/// both (`$1` placeholders work on SQLite too).
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            TxConn::Sqlite($c) => $body,
            TxConn::Postgres($c) => $body,
        }
    };
}

/// What [`migrate`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upgrade {
    /// No index yet: the tables were created.
    Created,
    /// Versioned tables, brought up to date (when there were migrations to apply).
    Versioned,
    /// Tables made by a build that created them without migrations: adopted as they were,
    /// then brought up to date.
    Adopted,
}

/// Creates the indexer's tables in `ledger`'s database, or brings them to this build's schema.
pub async fn migrate(ledger: &Ledger) -> Result<Upgrade> {
    let (has_state, has_versions) = ledger
        .read_with(|conn| {
            Box::pin(async move {
                Ok(match conn {
                    TxConn::Sqlite(c) => (
                        sqlite_table_exists(c, "idx_state").await?,
                        sqlite_table_exists(c, MIGRATIONS_TABLE).await?,
                    ),
                    TxConn::Postgres(c) => (
                        postgres_table_exists(c, "idx_state").await?,
                        postgres_table_exists(c, MIGRATIONS_TABLE).await?,
                    ),
                })
            })
        })
        .await?;
    let upgrade = match (has_state, has_versions) {
        (false, _) => Upgrade::Created,
        (true, true) => Upgrade::Versioned,
        (true, false) => Upgrade::Adopted,
    };
    if upgrade == Upgrade::Adopted {
        info!("adopting index tables made without migrations; upgrading them");
    }
    let migrations = Migrations::new(
        MIGRATIONS_TABLE,
        sqlx::migrate!("migrations/sqlite"),
        sqlx::migrate!("migrations/postgres"),
    )?;
    ledger.migrate(&migrations).await?;
    Ok(upgrade)
}

async fn sqlite_table_exists(
    c: &mut sqlx::SqliteConnection,
    table: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1")
            .bind(table)
            .fetch_one(c)
            .await?;
    Ok(n > 0)
}

async fn postgres_table_exists(
    c: &mut sqlx::PgConnection,
    table: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(table)
        .fetch_one(c)
        .await?;
    Ok(found.is_some())
}

/// Where the index stands: the checkpoint and what the books are kept in. What other
/// processes (the API) read to tell the indexer's lag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The chain indexed.
    pub chain_id: u64,
    /// The next block to index: every block before it is indexed.
    pub next_block: u64,
    /// The chain's head as the indexer saw it at its last commit (`None` before the first
    /// commit of this build).
    pub head_block: Option<u64>,
    /// The books' currency code (the settlement token's symbol).
    pub currency: String,
    /// The settlement token's decimals.
    pub token_decimals: u8,
}

impl Checkpoint {
    /// Blocks between the checkpoint and the head the indexer last saw (0 when caught up).
    pub fn lag_blocks(&self) -> Option<u64> {
        self.head_block
            .map(|head| (head + 1).saturating_sub(self.next_block))
    }
}

/// The index's checkpoint in `ledger`'s database; `None` before the indexer first started
/// there.
pub async fn checkpoint(ledger: &Ledger) -> Result<Option<Checkpoint>> {
    type StateRow = (i64, i64, Option<i64>, String, i64);
    let row: Option<StateRow> = ledger
        .read_with(|conn| {
            Box::pin(async move {
                let sql = "SELECT chain_id, next_block, head_block, currency, token_decimals \
                           FROM idx_state WHERE id = 1";
                Ok(on_conn!(conn, c => sqlx::query_as(sql).fetch_optional(&mut **c).await?))
            })
        })
        .await?;
    row.map(|(chain_id, next_block, head_block, currency, decimals)| {
        Ok(Checkpoint {
            chain_id: u64_of(chain_id, "chain id")?,
            next_block: u64_of(next_block, "checkpoint")?,
            head_block: head_block.map(|h| u64_of(h, "head")).transpose()?,
            currency,
            token_decimals: u8::try_from(decimals)
                .map_err(|_| Error::CorruptStore(format!("token decimals {decimals}")))?,
        })
    })
    .transpose()
}

/// The status of a booking: the entry an event made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BookingStatus {
    /// Its block is not final yet: the entry is pending.
    Pending,
    /// Final: the entry is posted.
    Posted,
    /// A reorg removed the event: the entry was voided or reversed.
    Retracted,
}

impl BookingStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Pending => "pending",
            BookingStatus::Posted => "posted",
            BookingStatus::Retracted => "retracted",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "pending" => Ok(BookingStatus::Pending),
            "posted" => Ok(BookingStatus::Posted),
            "retracted" => Ok(BookingStatus::Retracted),
            other => Err(Error::CorruptStore(format!("booking status {other:?}"))),
        }
    }
}

/// A watched contract as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ContractRow {
    pub(crate) address: Address,
    pub(crate) kind: ContractKind,
    pub(crate) property: Option<String>,
    pub(crate) added_block: u64,
}

/// A booking as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Booking {
    pub(crate) key: String,
    pub(crate) block: u64,
    pub(crate) log_index: u64,
    pub(crate) status: BookingStatus,
    pub(crate) reference: Option<String>,
}

/// What the follower keeps in memory, as stored.
pub(crate) struct View {
    pub(crate) next_block: u64,
    pub(crate) contracts: Vec<ContractRow>,
    pub(crate) window: Vec<(u64, B256)>,
    /// Bookings that are not posted (pending or retracted).
    pub(crate) unsettled: Vec<Booking>,
}

type ContractTuple = (Vec<u8>, String, Option<String>, i64);
type BookingTuple = (String, i64, i64, String, Option<String>);

/// Reads the checkpoint, the watched contracts, the window and the unsettled bookings on one
/// snapshot.
pub(crate) async fn load_view(ledger: &Ledger) -> Result<View> {
    type Raw = (
        Option<i64>,
        Vec<ContractTuple>,
        Vec<(i64, Vec<u8>)>,
        Vec<BookingTuple>,
    );
    let (next, contracts, blocks, bookings): Raw = ledger
        .read_with(|conn| {
            Box::pin(async move {
                on_conn!(conn, c => {
                    let next = sqlx::query_scalar("SELECT next_block FROM idx_state WHERE id = 1")
                        .fetch_optional(&mut **c)
                        .await?;
                    let contracts = sqlx::query_as(
                        "SELECT address, kind, property_id, added_block FROM idx_contracts",
                    )
                    .fetch_all(&mut **c)
                    .await?;
                    let blocks = sqlx::query_as("SELECT number, hash FROM idx_blocks")
                        .fetch_all(&mut **c)
                        .await?;
                    let bookings = sqlx::query_as(
                        "SELECT entry_key, block_number, log_index, status, reference \
                         FROM idx_bookings WHERE status <> 'posted'",
                    )
                    .fetch_all(&mut **c)
                    .await?;
                    Ok((next, contracts, blocks, bookings))
                })
            })
        })
        .await?;
    let next_block = u64_of(
        next.ok_or_else(|| Error::CorruptStore("no checkpoint".into()))?,
        "checkpoint",
    )?;
    let window = blocks
        .into_iter()
        .map(|(n, hash)| Ok((u64_of(n, "block number")?, hash_of(&hash)?)))
        .collect::<Result<_>>()?;
    Ok(View {
        next_block,
        contracts: contracts
            .into_iter()
            .map(contract_row)
            .collect::<Result<_>>()?,
        window,
        unsettled: bookings.into_iter().map(booking).collect::<Result<_>>()?,
    })
}

fn contract_row((address, kind, property, added): ContractTuple) -> Result<ContractRow> {
    Ok(ContractRow {
        address: address_of(&address)?,
        kind: ContractKind::parse(&kind)
            .ok_or_else(|| Error::CorruptStore(format!("contract kind {kind:?}")))?,
        property,
        added_block: u64_of(added, "block number")?,
    })
}

fn booking((key, block, log_index, status, reference): BookingTuple) -> Result<Booking> {
    Ok(Booking {
        key,
        block: u64_of(block, "block number")?,
        log_index: u64_of(log_index, "log index")?,
        status: BookingStatus::parse(&status)?,
        reference,
    })
}

/// Every booking, in chain order.
pub(crate) async fn bookings(ledger: &Ledger) -> Result<Vec<Booking>> {
    let rows: Vec<BookingTuple> = ledger
        .read_with(|conn| {
            Box::pin(async move {
                let sql = "SELECT entry_key, block_number, log_index, status, reference \
                           FROM idx_bookings ORDER BY block_number, log_index";
                Ok(on_conn!(conn, c => sqlx::query_as(sql).fetch_all(&mut **c).await?))
            })
        })
        .await?;
    rows.into_iter().map(booking).collect()
}

/// The keys of the bookings after block `fork` that are not retracted, latest first.
pub(crate) async fn live_bookings_after(ledger: &Ledger, fork: u64) -> Result<Vec<String>> {
    let fork = i64_of(fork)?;
    Ok(ledger
        .read_with(|conn| {
            Box::pin(async move {
                let sql = "SELECT entry_key FROM idx_bookings WHERE block_number > $1 \
                           AND status <> 'retracted' ORDER BY block_number DESC, log_index DESC";
                Ok(on_conn!(conn, c => sqlx::query_scalar(sql)
                    .bind(fork)
                    .fetch_all(&mut **c)
                    .await?))
            })
        })
        .await?)
}

/// The contracts watched at `block` (added by then), by property and kind.
pub(crate) async fn contracts_at(ledger: &Ledger, block: u64) -> Result<Vec<ContractRow>> {
    let b = i64_of(block)?;
    let rows: Vec<ContractTuple> = ledger
        .read_with(|conn| {
            Box::pin(async move {
                let sql = "SELECT address, kind, property_id, added_block FROM idx_contracts \
                           WHERE added_block <= $1 ORDER BY property_id, kind, address";
                Ok(on_conn!(conn, c => sqlx::query_as(sql).bind(b).fetch_all(&mut **c).await?))
            })
        })
        .await?;
    rows.into_iter().map(contract_row).collect()
}

/// Topics and data of the share `Transfer` events of `token` up to `block`, in chain order.
pub(crate) async fn share_transfers(
    ledger: &Ledger,
    token: Address,
    block: u64,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let b = i64_of(block)?;
    let token = token.to_vec();
    Ok(ledger
        .read_with(|conn| {
            Box::pin(async move {
                let sql = "SELECT topics, data FROM idx_events \
                           WHERE block_number <= $2 AND event = 'Transfer' AND address = $1 \
                           AND kind = 'shares' ORDER BY block_number, log_index";
                Ok(on_conn!(conn, c => sqlx::query_as(sql)
                    .bind(token)
                    .bind(b)
                    .fetch_all(&mut **c)
                    .await?))
            })
        })
        .await?)
}

/// The first checkpoint and the platform's contracts, on a new index.
pub(crate) fn initialize(
    unit: &mut UnitOfWork,
    chain_id: u64,
    start_block: u64,
    currency: &str,
    decimals: u8,
    contracts: &[ContractRow],
) -> Result<()> {
    unit.statement(
        Statement::new(
            "INSERT INTO idx_state (id, chain_id, next_block, currency, token_decimals, \
             books_model) VALUES (1, $1, $2, $3, $4, $5)",
        )
        .bind(i64_of(chain_id)?)
        .bind(i64_of(start_block)?)
        .bind(currency.to_owned())
        .bind(i64::from(decimals))
        .bind(BOOKS_MODEL),
    );
    insert_contracts(unit, contracts)
}

/// The books' model this build keeps (`idx_state.books_model`): capital per registry investor,
/// carried by share transfers.
pub const BOOKS_MODEL: i64 = 2;

/// The model the books were kept in (`None` before the index is initialized).
pub async fn books_model(ledger: &Ledger) -> Result<Option<i64>> {
    Ok(ledger
        .read_with(|conn| {
            Box::pin(async move {
                let sql = "SELECT books_model FROM idx_state WHERE id = 1";
                Ok(on_conn!(conn, c => sqlx::query_scalar(sql).fetch_optional(&mut **c).await?))
            })
        })
        .await?)
}

/// The guard that moves the books from model `from` to this build's: it holds for the one
/// indexer that makes the move.
pub(crate) fn books_model_upgrade(from: i64) -> Statement {
    Statement::new("UPDATE idx_state SET books_model = $1 WHERE id = 1 AND books_model = $2")
        .bind(BOOKS_MODEL)
        .bind(from)
}

/// A guard that holds while the books are still of model `model`.
pub(crate) fn books_model_is(model: i64) -> Statement {
    Statement::new(
        "UPDATE idx_state SET books_model = books_model WHERE id = 1 AND books_model = $1",
    )
    .bind(model)
}

/// A stored event that capital booking follows, with its contract's kind and property.
pub(crate) struct CapitalEvent {
    pub(crate) log: RawLog,
    pub(crate) kind: ContractKind,
    pub(crate) property: Option<String>,
}

type CapitalTuple = (
    i64,
    i64,
    Vec<u8>,
    Vec<u8>,
    i64,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    String,
    Option<String>,
);

/// The stored events that move capital or resolve wallets (the registry's wallet links, share
/// transfers, the treasury's and distributor's money events), in chain order.
pub(crate) async fn capital_events(ledger: &Ledger) -> Result<Vec<CapitalEvent>> {
    let rows: Vec<CapitalTuple> = ledger
        .read_with(|conn| {
            Box::pin(async move {
                let sql = "SELECT e.block_number, e.log_index, e.block_hash, e.tx_hash, \
                           e.tx_index, e.address, e.topics, e.data, c.kind, c.property_id \
                           FROM idx_events e JOIN idx_contracts c ON c.address = e.address \
                           WHERE (c.kind = 'identity_registry' \
                                  AND e.event IN ('WalletAdded', 'WalletRemoved')) \
                              OR (c.kind = 'shares' AND e.event = 'Transfer') \
                              OR (c.kind = 'treasury' AND e.event IN ('Deposited', 'Refunded')) \
                           ORDER BY e.block_number, e.log_index";
                Ok(on_conn!(conn, c => sqlx::query_as(sql).fetch_all(&mut **c).await?))
            })
        })
        .await?;
    rows.into_iter()
        .map(
            |(
                block,
                index,
                block_hash,
                tx_hash,
                tx_index,
                address,
                topics,
                data,
                kind,
                property,
            )| {
                if topics.len() % 32 != 0 {
                    return Err(Error::CorruptStore("event topics".into()));
                }
                Ok(CapitalEvent {
                    log: RawLog {
                        block_number: u64_of(block, "block number")?,
                        block_hash: hash_of(&block_hash)?,
                        block_timestamp: None,
                        tx_hash: hash_of(&tx_hash)?,
                        tx_index: u64_of(tx_index, "tx index")?,
                        log_index: u64_of(index, "log index")?,
                        address: address_of(&address)?,
                        topics: topics.chunks(32).map(B256::from_slice).collect(),
                        data: data.into(),
                    },
                    kind: ContractKind::parse(&kind)
                        .ok_or_else(|| Error::CorruptStore(format!("contract kind {kind:?}")))?,
                    property,
                })
            },
        )
        .collect()
}

/// Timestamps of the stored blocks (the reorg window's).
pub(crate) async fn block_timestamps(ledger: &Ledger) -> Result<Vec<(u64, u64)>> {
    let rows: Vec<(i64, i64)> = ledger
        .read_with(|conn| {
            Box::pin(async move {
                let sql = "SELECT number, timestamp FROM idx_blocks";
                Ok(on_conn!(conn, c => sqlx::query_as(sql).fetch_all(&mut **c).await?))
            })
        })
        .await?;
    rows.into_iter()
        .map(|(n, t)| Ok((u64_of(n, "block number")?, u64_of(t, "timestamp")?)))
        .collect()
}

/// The checkpoint's move from `from` to `to` (the next block to index), with the head seen, as
/// a guard: it moves only from where this indexer last saw it, so an indexer whose view is
/// stale (another one committed in between) commits nothing.
pub(crate) fn advance_checkpoint(from: u64, to: u64, head: u64) -> Result<Statement> {
    Ok(Statement::new(
        "UPDATE idx_state SET next_block = $1, head_block = $3 \
         WHERE id = 1 AND next_block = $2",
    )
    .bind(i64_of(to)?)
    .bind(i64_of(from)?)
    .bind(i64_of(head)?))
}

/// A precondition that the checkpoint has not passed `first`, the first block of a commit:
/// a stale indexer is turned away before it loads rows another one committed.
pub(crate) fn not_passed(first: u64) -> Result<Statement> {
    Ok(
        Statement::new("SELECT 1 FROM idx_state WHERE id = 1 AND next_block <= $1")
            .bind(i64_of(first)?),
    )
}

/// Marks bookings posted.
pub(crate) fn post_bookings(unit: &mut UnitOfWork, keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    unit.statement_in(
        "UPDATE idx_bookings SET status = 'posted' WHERE entry_key IN",
        keys.iter().map(|k| Value::from(k.as_str())),
    );
}

/// New bookings.
pub(crate) fn insert_bookings(unit: &mut UnitOfWork, bookings: &[Booking]) -> Result<()> {
    if bookings.is_empty() {
        return Ok(());
    }
    let mut rows = Insert::into_table(
        "INSERT INTO idx_bookings (entry_key, block_number, log_index, status, reference)",
        5,
    );
    for b in bookings {
        rows.row([
            b.key.as_str().into(),
            i64_of(b.block)?.into(),
            i64_of(b.log_index)?.into(),
            b.status.as_str().into(),
            b.reference.clone().into(),
        ]);
    }
    unit.insert(rows);
    Ok(())
}

/// Newly watched contracts.
pub(crate) fn insert_contracts(unit: &mut UnitOfWork, contracts: &[ContractRow]) -> Result<()> {
    if contracts.is_empty() {
        return Ok(());
    }
    let mut rows = Insert::into_table(
        "INSERT INTO idx_contracts (address, kind, property_id, added_block)",
        4,
    );
    for c in contracts {
        rows.row([
            c.address.to_vec().into(),
            c.kind.as_str().into(),
            c.property.clone().into(),
            i64_of(c.added_block)?.into(),
        ]);
    }
    unit.insert(rows);
    Ok(())
}

/// Adds one contract unless it is watched already (another indexer on the database may have
/// added it first).
pub(crate) fn insert_contract_once(unit: &mut UnitOfWork, c: &ContractRow) -> Result<()> {
    unit.statement(
        Statement::new(
            "INSERT INTO idx_contracts (address, kind, property_id, added_block) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (address) DO NOTHING",
        )
        .bind(c.address.to_vec())
        .bind(c.kind.as_str().to_owned())
        .bind(c.property.clone())
        .bind(i64_of(c.added_block)?),
    );
    Ok(())
}

/// Stores `headers` in the window (replacing what a rolled-back branch left) and forgets the
/// blocks before `keep_from`.
pub(crate) fn store_blocks(
    unit: &mut UnitOfWork,
    headers: &[BlockHeader],
    keep_from: u64,
) -> Result<()> {
    if !headers.is_empty() {
        let mut rows = Insert::into_table(
            "INSERT INTO idx_blocks (number, hash, parent_hash, timestamp)",
            4,
        )
        .then(
            "ON CONFLICT (number) DO UPDATE SET hash = excluded.hash, \
             parent_hash = excluded.parent_hash, timestamp = excluded.timestamp",
        );
        for h in headers {
            rows.row([
                i64_of(h.number)?.into(),
                h.hash.to_vec().into(),
                h.parent_hash.to_vec().into(),
                i64_of(h.timestamp)?.into(),
            ]);
        }
        unit.insert(rows);
    }
    unit.statement(
        Statement::new("DELETE FROM idx_blocks WHERE number < $1").bind(i64_of(keep_from)?),
    );
    Ok(())
}

/// Everything indexed after block `fork` goes, and the checkpoint moves back to it. The
/// bookings' entries are retracted by the caller in the same unit.
pub(crate) fn roll_back(
    unit: &mut UnitOfWork,
    fork: u64,
    checkpoint: u64,
    head: u64,
) -> Result<()> {
    let f = i64_of(fork)?;
    unit.statement(
        Statement::new(
            "UPDATE idx_bookings SET status = 'retracted' \
             WHERE block_number > $1 AND status <> 'retracted'",
        )
        .bind(f),
    )
    .statement(Statement::new("DELETE FROM idx_events WHERE block_number > $1").bind(f))
    .statement(Statement::new("DELETE FROM idx_contracts WHERE added_block > $1").bind(f))
    .statement(Statement::new("DELETE FROM idx_blocks WHERE number > $1").bind(f))
    .guard(advance_checkpoint(checkpoint, fork + 1, head)?);
    Ok(())
}

/// Marks some bookings retracted ahead of a rollback too large for one unit.
pub(crate) fn retract_bookings(unit: &mut UnitOfWork, keys: &[String]) {
    unit.statement_in(
        "UPDATE idx_bookings SET status = 'retracted' WHERE entry_key IN",
        keys.iter().map(|k| Value::from(k.as_str())),
    );
}

/// The statement loading `logs` (those of watched contracts) into `idx_events`, raw and
/// decoded ([`Statement::load`]: a binary `COPY` on PostgreSQL, a prepared insert per row on
/// SQLite); `None` when no log is watched.
pub(crate) fn events(
    kinds: &alloy::primitives::map::AddressMap<ContractKind>,
    logs: &[RawLog],
) -> Result<Option<Statement>> {
    let watched: Vec<(&RawLog, ContractKind)> = logs
        .iter()
        .filter_map(|l| kinds.get(&l.address).map(|k| (l, *k)))
        .collect();
    if watched.is_empty() {
        return Ok(None);
    }
    // About what an ERC-20 transfer takes, so that the buffer seldom grows.
    let mut rows = BulkRows::with_capacity(watched.len() * 512);
    let mut last: Option<(u64, u64)> = None;
    for (log, kind) in watched {
        // Each event once: a commit's events are strictly in chain order.
        let at = (log.block_number, log.log_index);
        if last.is_some_and(|last| last >= at) {
            return Err(Error::BadChainData(format!(
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
    Ok(Some(Statement::load(&EVENTS, rows)))
}

/// The columns of `idx_events`, in the order [`events`] gives them.
static EVENTS: Table = Table {
    name: "idx_events",
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

pub(crate) fn i64_of(n: u64) -> Result<i64> {
    i64::try_from(n)
        .map_err(|_| Error::BadChainData(format!("{n} does not fit a database integer")))
}

fn u64_of(n: i64, what: &str) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::CorruptStore(format!("{what} {n}")))
}

fn hash_of(bytes: &[u8]) -> Result<B256> {
    B256::try_from(bytes).map_err(|_| Error::CorruptStore("stored hash is not 32 bytes".into()))
}

fn address_of(bytes: &[u8]) -> Result<Address> {
    Address::try_from(bytes)
        .map_err(|_| Error::CorruptStore("stored address is not 20 bytes".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Bytes;
    use alloy::primitives::map::AddressMap;

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
        assert!(events(&kinds, &ordered).unwrap().is_some());
        assert!(events(&kinds, &ordered[1..2]).unwrap().is_none());
        for bad in [
            [log(5, 0, watched), log(5, 0, watched)],
            [log(6, 0, watched), log(5, 3, watched)],
            [log(5, 2, watched), log(5, 1, watched)],
        ] {
            match events(&kinds, &bad) {
                Err(Error::BadChainData(message)) => {
                    assert!(message.contains("not after"), "{message}")
                }
                other => panic!("out of order events must be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn booking_statuses_round_trip_and_refuse_strangers() {
        for s in [
            BookingStatus::Pending,
            BookingStatus::Posted,
            BookingStatus::Retracted,
        ] {
            assert_eq!(BookingStatus::parse(s.as_str()).unwrap(), s);
        }
        assert!(matches!(
            BookingStatus::parse("voided"),
            Err(Error::CorruptStore(_))
        ));
    }

    #[test]
    fn lag_counts_the_blocks_behind_the_head_seen() {
        let mut c = Checkpoint {
            chain_id: 1,
            next_block: 11,
            head_block: Some(10),
            currency: "USD".into(),
            token_decimals: 6,
        };
        assert_eq!(c.lag_blocks(), Some(0));
        c.head_block = Some(15);
        assert_eq!(c.lag_blocks(), Some(5));
        c.head_block = None;
        assert_eq!(c.lag_blocks(), None);
    }
}
