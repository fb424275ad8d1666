//! Entries: recording (single and batched, idempotent), finality (post, void), reversal, lookup.
//!
//! Every write runs in one transaction under the head-row lock (see [`crate::store`]): it checks
//! the drafts against accounts and balances, assigns ids and chain links, inserts entries and
//! postings with multi-row statements, writes back the touched balances and the head. Any
//! refusal rolls the whole transaction back, so a batch is stored entirely or not at all.
//!
//! A small request first tries the state this handle's last write left behind (the head and the
//! totals it wrote, see [`crate::store::WriteState`]): the entries are checked and computed from
//! it and applied in one request, only if the head's version is still the same under the lock.
//! When another write came in between, nothing is written and the request takes the locked path.
//!
//! Recording first assumes every key is new and skips looking keys up; a key already stored
//! then trips the unique index on `idempotency_key`; that, or a refusal computed on that
//! optimistic attempt (which may be a replay), sends the request down the authoritative path,
//! which looks keys up first and answers with a replay or [`Error::IdempotencyConflict`]. A
//! database failure is returned as it is. Unknown accounts, currency mismatches, balance
//! limits and reversal rules are checked explicitly under the lock, so each refusal is its own
//! typed error naming the entry and account; the schema's constraints stay as a backstop.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use crate::account::Loaded;
use crate::account::{load_with_totals, store_totals};
use crate::core::{
    Account, AccountId, Amount, ChainLink, DimValue, Direction, Entry, EntryDraft, EntryHash,
    EntryId, EntryStatus, Finality, IdempotencyKey, Posting, Receipt, Source, Totals,
};
use crate::error::{Error, Result};
use crate::store::{Arg, Head, Ledger, MAX_BINDS, Row, Sql, Tx, list, placeholders};

/// Most entries one batch may hold.
pub const MAX_BATCH_ENTRIES: usize = 10_000;

/// Most entries a request may hold to be applied from the last write's state (see
/// [`Entries::record_batch`]).
const FROM_LAST_MAX_ENTRIES: usize = 16;

/// The entry columns [`entry_header_from_row`] reads, from `ledger_entries e`.
pub(crate) const ENTRY_COLUMNS: &str = "e.id, e.idempotency_key, e.effective_date, e.description, \
     e.source, e.status, e.reverses_entry_id, e.content_hash, e.chain_seq, e.prev_hash, e.hash";

/// An entry without its postings.
pub(crate) struct EntryHeader {
    pub(crate) entry: Entry,
}

pub(crate) fn entry_header_from_row(row: &Row) -> Result<EntryHeader> {
    let key_text = row.text(1)?;
    let source_text = row.text(4)?;
    let chain = match (row.opt_int(8)?, row.opt_blob(9)?, row.opt_blob(10)?) {
        (Some(seq), Some(prev), Some(hash)) => Some(ChainLink {
            seq: u64::try_from(seq).map_err(|_| Error::Corrupt(format!("chain seq {seq}")))?,
            prev_hash: EntryHash::from_stored(&prev)?,
            hash: EntryHash::from_stored(&hash)?,
        }),
        _ => None,
    };
    Ok(EntryHeader {
        entry: Entry {
            id: EntryId::new(row.int(0)?),
            key: IdempotencyKey::parse(&key_text)
                .map_err(|_| Error::Corrupt(format!("idempotency key {key_text:?}")))?,
            effective_date: row.date(2)?,
            description: row.text(3)?,
            source: source_text
                .parse::<Source>()
                .map_err(|_| Error::Corrupt(format!("source {source_text:?}")))?,
            status: EntryStatus::parse_stored(&row.text(5)?)?,
            reverses: row.opt_int(6)?.map(EntryId::new),
            content_hash: EntryHash::from_stored(&row.blob(7)?)?,
            chain,
            postings: Vec::new(),
        },
    })
}

/// Loads the postings of the given entries, grouped by entry, in posting order.
pub(crate) async fn load_postings(
    tx: &mut Tx,
    ids: &[EntryId],
) -> Result<HashMap<EntryId, Vec<Posting>>> {
    let mut out: HashMap<EntryId, Vec<Posting>> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BINDS) {
        let mut sql = Sql::assembled(format!(
            "SELECT p.entry_id, p.account_id, p.direction, p.amount, p.currency, c.scale \
             FROM ledger_postings p JOIN ledger_currencies c ON c.code = p.currency \
             WHERE p.entry_id IN ({}) ORDER BY p.entry_id, p.idx",
            list(chunk.len())
        ));
        for id in chunk {
            sql.push(id.get());
        }
        for row in tx.fetch_all(sql).await? {
            let currency = crate::account::currency_from(&row.text(4)?, row.int(5)?)?;
            out.entry(EntryId::new(row.int(0)?))
                .or_default()
                .push(Posting {
                    account: AccountId::new(row.int(1)?),
                    direction: Direction::parse_stored(&row.text(2)?)?,
                    amount: Amount::from_storage_text(&row.text(3)?, currency)?,
                });
        }
    }
    Ok(out)
}

/// Loads full entries by id (missing ids are skipped).
pub(crate) async fn load_entries(tx: &mut Tx, ids: &[EntryId]) -> Result<Vec<Entry>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BINDS) {
        let mut sql = Sql::assembled(format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger_entries e WHERE e.id IN ({}) ORDER BY e.id",
            list(chunk.len())
        ));
        for id in chunk {
            sql.push(id.get());
        }
        let headers = tx
            .fetch_all(sql)
            .await?
            .iter()
            .map(entry_header_from_row)
            .collect::<Result<Vec<_>>>()?;
        let entry_ids: Vec<EntryId> = headers.iter().map(|h| h.entry.id).collect();
        let mut postings = load_postings(tx, &entry_ids).await?;
        for h in headers {
            let mut entry = h.entry;
            entry.postings = postings.remove(&entry.id).unwrap_or_default();
            out.push(entry);
        }
    }
    Ok(out)
}

fn receipt(entry: &Entry, replayed: bool) -> Receipt {
    Receipt {
        id: entry.id,
        key: entry.key.clone(),
        status: entry.status,
        replayed,
        chain: entry.chain,
    }
}

/// For each of `originals` that was reversed, the id of its reversing entry.
pub(crate) async fn reversal_map(
    tx: &mut Tx,
    originals: &[EntryId],
) -> Result<HashMap<EntryId, EntryId>> {
    let mut out = HashMap::new();
    for chunk in originals.chunks(MAX_BINDS) {
        let mut sql = Sql::assembled(format!(
            "SELECT id, reverses_entry_id FROM ledger_entries WHERE reverses_entry_id IN ({})",
            list(chunk.len())
        ));
        for id in chunk {
            sql.push(id.get());
        }
        for row in tx.fetch_all(sql).await? {
            out.insert(EntryId::new(row.int(1)?), EntryId::new(row.int(0)?));
        }
    }
    Ok(out)
}

/// A new entry as it will be inserted.
struct NewRow {
    id: EntryId,
    status: EntryStatus,
    content_hash: EntryHash,
    chain: Option<ChainLink>,
    draft: EntryDraft,
}

/// What an existing key holds, for idempotency checks.
struct Known {
    id: EntryId,
    content_hash: EntryHash,
    status: EntryStatus,
    chain: Option<ChainLink>,
}

/// How [`record_in`] learns which keys are already recorded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum KeyLookup {
    /// Look the keys up first (authoritative).
    Full,
    /// Assume every key is new; a stored key then fails the insert on its unique index and
    /// the caller retries with [`KeyLookup::Full`]. Saves a round trip on the common path.
    Optimistic,
}

/// The accounts the drafts post to, sorted and without repeats.
fn accounts_of(drafts: &[EntryDraft]) -> Vec<AccountId> {
    let mut ids: Vec<AccountId> = drafts
        .iter()
        .flat_map(|d| d.postings().iter().map(|p| p.account))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// What [`record_in`] and [`plan`] return: the receipts, the statements that store the new
/// entries and balances (the caller adds the head update), and the totals those statements
/// write.
type Planned = (Vec<Receipt>, Vec<Sql>, Vec<(AccountId, Totals)>);

/// Checks `drafts` inside `tx`, given their accounts as loaded under the lock, and returns the
/// receipts and the statements that store them; the caller adds the head update, executes them
/// and commits.
pub(crate) async fn record_in(
    tx: &mut Tx,
    head: &mut Head,
    loaded: Loaded,
    drafts: Vec<EntryDraft>,
    lookup: KeyLookup,
) -> Result<Planned> {
    // Keys already recorded.
    let mut known: HashMap<IdempotencyKey, Known> = HashMap::new();
    let keys: Vec<&IdempotencyKey> = match lookup {
        KeyLookup::Full => drafts.iter().map(EntryDraft::key).collect(),
        KeyLookup::Optimistic => Vec::new(),
    };
    for chunk in keys.chunks(MAX_BINDS) {
        let mut sql = Sql::assembled(format!(
            "SELECT idempotency_key, id, content_hash, status, chain_seq, prev_hash, hash \
             FROM ledger_entries WHERE idempotency_key IN ({})",
            list(chunk.len())
        ));
        for k in chunk {
            sql.push(k.as_str());
        }
        for row in tx.fetch_all(sql).await? {
            let key_text = row.text(0)?;
            let key = IdempotencyKey::parse(&key_text)
                .map_err(|_| Error::Corrupt(format!("idempotency key {key_text:?}")))?;
            let chain = match (row.opt_int(4)?, row.opt_blob(5)?, row.opt_blob(6)?) {
                (Some(seq), Some(prev), Some(hash)) => Some(ChainLink {
                    seq: u64::try_from(seq).map_err(|_| Error::Corrupt("chain seq".into()))?,
                    prev_hash: EntryHash::from_stored(&prev)?,
                    hash: EntryHash::from_stored(&hash)?,
                }),
                _ => None,
            };
            known.insert(
                key,
                Known {
                    id: EntryId::new(row.int(1)?),
                    content_hash: EntryHash::from_stored(&row.blob(2)?)?,
                    status: EntryStatus::parse_stored(&row.text(3)?)?,
                    chain,
                },
            );
        }
    }

    // Originals of reversals that are new in this call.
    let reversal_targets: Vec<EntryId> = drafts
        .iter()
        .filter(|d| !known.contains_key(d.key()))
        .filter_map(EntryDraft::reverses)
        .collect();
    let mut originals: HashMap<EntryId, Entry> = HashMap::new();
    let mut reversed_by: HashMap<EntryId, EntryId> = HashMap::new();
    if !reversal_targets.is_empty() {
        for e in load_entries(tx, &reversal_targets).await? {
            originals.insert(e.id, e);
        }
        reversed_by = reversal_map(tx, &reversal_targets).await?;
    }
    plan(head, loaded, drafts, &known, &originals, reversed_by)
}

/// The checks and statements of [`record_in`], given what it looked up: `known` the stored
/// entries of the drafts' keys, `originals` the entries that new reversals reverse and
/// `reversed_by` their stored reversals. Reads nothing, so it also serves a write computed from
/// the last write's state (see [`crate::store::WriteState`]).
fn plan(
    head: &mut Head,
    loaded: Loaded,
    mut drafts: Vec<EntryDraft>,
    known: &HashMap<IdempotencyKey, Known>,
    originals: &HashMap<EntryId, Entry>,
    mut reversed_by: HashMap<EntryId, EntryId>,
) -> Result<Planned> {
    let accounts: HashMap<AccountId, Account> =
        loaded.iter().map(|(id, (a, _))| (*id, a.clone())).collect();
    let mut totals: HashMap<AccountId, Totals> =
        loaded.into_iter().map(|(id, (_, t))| (id, t)).collect();
    for draft in &mut drafts {
        draft.bind_accounts(&accounts)?;
    }
    let hashes: Vec<EntryHash> = drafts.iter().map(EntryDraft::content_hash).collect();

    let mut receipts = Vec::with_capacity(drafts.len());
    let mut new_rows: Vec<NewRow> = Vec::new();
    let mut in_batch: HashMap<IdempotencyKey, usize> = HashMap::new();
    let mut touched: HashSet<AccountId> = HashSet::new();
    for (draft, content_hash) in drafts.into_iter().zip(hashes) {
        let key = draft.key().clone();
        if let Some(k) = known.get(&key) {
            if k.content_hash != content_hash {
                return Err(Error::IdempotencyConflict {
                    key,
                    existing: k.id,
                });
            }
            receipts.push(Receipt {
                id: k.id,
                key,
                status: k.status,
                replayed: true,
                chain: k.chain,
            });
            continue;
        }
        if let Some(&i) = in_batch.get(&key) {
            let first = &new_rows[i];
            if first.content_hash != content_hash {
                return Err(Error::IdempotencyConflict {
                    key,
                    existing: first.id,
                });
            }
            receipts.push(Receipt {
                id: first.id,
                key,
                status: first.status,
                replayed: true,
                chain: first.chain,
            });
            continue;
        }
        if let Some(original_id) = draft.reverses() {
            let original = originals
                .get(&original_id)
                .ok_or(Error::UnknownEntry(original_id))?;
            draft.check_reversal_of(original)?;
            if let Some(&reversal) = reversed_by.get(&original_id) {
                return Err(Error::AlreadyReversed {
                    entry: original_id,
                    reversal,
                });
            }
        }

        let id = EntryId::new(head.next_entry_id);
        let status = match draft.finality() {
            Finality::Pending => EntryStatus::Pending,
            Finality::Posted => EntryStatus::Posted,
        };
        for p in draft.postings() {
            let t = totals.get_mut(&p.account).ok_or(Error::UnknownAccount {
                key: Some(key.clone()),
                account: p.account,
            })?;
            t.add(p.direction, p.amount, status)?;
            touched.insert(p.account);
        }
        for p in draft.postings() {
            let account = &accounts[&p.account];
            let t = &totals[&p.account];
            let side = account.account_type.normal_side();
            if !t.within(account.limit, side)? {
                return Err(Error::NegativeBalance {
                    key,
                    account: p.account,
                    available: t.available(side)?.to_string(),
                });
            }
        }
        let chain = (status == EntryStatus::Posted).then(|| head.link(id, &content_hash));
        head.next_entry_id += 1;
        if let Some(original) = draft.reverses() {
            reversed_by.insert(original, id);
        }
        receipts.push(Receipt {
            id,
            key: key.clone(),
            status,
            replayed: false,
            chain,
        });
        in_batch.insert(key, new_rows.len());
        new_rows.push(NewRow {
            id,
            status,
            content_hash,
            chain,
            draft,
        });
    }

    let mut writes = Vec::new();
    insert_entries(&mut writes, &new_rows)?;
    insert_postings(&mut writes, &new_rows);
    let mut changed: Vec<(AccountId, Totals)> =
        touched.into_iter().map(|id| (id, totals[&id])).collect();
    changed.sort_unstable_by_key(|(id, _)| *id);
    store_totals(&mut writes, &changed);
    Ok((receipts, writes, changed))
}

fn insert_entries(writes: &mut Vec<Sql>, rows: &[NewRow]) -> Result<()> {
    const COLS: usize = 11;
    for chunk in rows.chunks(MAX_BINDS / COLS) {
        let mut sql = Sql::assembled(format!(
            "INSERT INTO ledger_entries (id, idempotency_key, content_hash, effective_date, description, \
             source, reverses_entry_id, status, chain_seq, prev_hash, hash) VALUES {}",
            placeholders(chunk.len(), COLS)
        ));
        for r in chunk {
            let d = &r.draft;
            sql.push(r.id.get());
            sql.push(d.key().as_str());
            sql.push(r.content_hash.as_bytes().to_vec());
            sql.push(d.effective_date());
            sql.push(d.description());
            sql.push(d.source().to_string());
            sql.push(d.reverses().map(EntryId::get));
            sql.push(r.status.as_str());
            match &r.chain {
                Some(link) => {
                    sql.push(Some(
                        i64::try_from(link.seq)
                            .map_err(|_| Error::Corrupt("chain sequence overflow".into()))?,
                    ));
                    sql.push(Some(link.prev_hash.as_bytes().to_vec()));
                    sql.push(Some(link.hash.as_bytes().to_vec()));
                }
                None => {
                    sql.push(None::<i64>);
                    sql.push(None::<Vec<u8>>);
                    sql.push(None::<Vec<u8>>);
                }
            }
        }
        writes.push(sql);
    }
    Ok(())
}

fn insert_postings(writes: &mut Vec<Sql>, rows: &[NewRow]) {
    const COLS: usize = 6;
    let postings: Vec<(EntryId, usize, &Posting)> = rows
        .iter()
        .flat_map(|r| {
            r.draft
                .postings()
                .iter()
                .enumerate()
                .map(move |(i, p)| (r.id, i, p))
        })
        .collect();
    for chunk in postings.chunks(MAX_BINDS / COLS) {
        let mut sql = Sql::assembled(format!(
            "INSERT INTO ledger_postings (entry_id, idx, account_id, direction, amount, currency) VALUES {}",
            placeholders(chunk.len(), COLS)
        ));
        for (id, i, p) in chunk {
            sql.push(id.get());
            sql.push(*i as i64);
            sql.push(p.account.get());
            sql.push(p.direction.as_str());
            sql.push(p.amount.to_storage_text());
            sql.push(p.amount.currency().code().as_str());
        }
        writes.push(sql);
    }
}

/// The update that moves pending entry `id` to `to`, with its place in the hash chain when it
/// is posted ([`Head::link`]). Guarded by `status = 'pending'`: under the writers' lock it always
/// matches, and a caller that finds no row changed knows the entry moved under it.
pub(crate) fn settle_statement(
    id: EntryId,
    to: EntryStatus,
    link: Option<ChainLink>,
) -> Result<Sql> {
    let sql = Sql::assembled(
        "UPDATE ledger_entries SET status = ?, chain_seq = ?, prev_hash = ?, hash = ? \
         WHERE id = ? AND status = 'pending'"
            .to_owned(),
    )
    .bind(to.as_str());
    let sql = match link {
        Some(link) => sql
            .bind(Some(i64::try_from(link.seq).map_err(|_| {
                Error::Corrupt("chain sequence overflow".into())
            })?))
            .bind(Some(link.prev_hash.as_bytes().to_vec()))
            .bind(Some(link.hash.as_bytes().to_vec())),
        None => sql
            .bind(None::<i64>)
            .bind(None::<Vec<u8>>)
            .bind(None::<Vec<u8>>),
    };
    Ok(sql.bind(id.get()))
}

/// Whether a refusal of an optimistic write attempt (one that assumed every key new, or the
/// last write's state current) is one the authoritative path decides again: a stored key (its
/// unique index), or a refusal computed from state that may be stale or may be a replay. A
/// database failure is not: it is returned as it is.
fn decided_again(e: &Error) -> bool {
    match e {
        e if e.is_unique_violation() => true,
        Error::IdempotencyConflict { .. }
        | Error::NegativeBalance { .. }
        | Error::UnknownAccount { .. }
        | Error::CurrencyMismatch { .. }
        | Error::AmountOutOfRange { .. }
        | Error::UnknownEntry(_)
        | Error::AlreadyReversed { .. }
        | Error::InvalidReversal { .. } => true,
        _ => false,
    }
}

/// An entry's key, status and source with its first posting's amount: what a reconciliation
/// matches items by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntrySummary {
    /// The entry.
    pub id: EntryId,
    /// Its idempotency key.
    pub key: IdempotencyKey,
    /// Its status.
    pub status: EntryStatus,
    /// Where it comes from.
    pub source: Source,
    /// The amount of its first posting.
    pub amount: Amount,
}

/// One posting to an account, with its entry's key and status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountPosting {
    /// The entry.
    pub entry: EntryId,
    /// The entry's idempotency key.
    pub key: IdempotencyKey,
    /// The entry's status.
    pub status: EntryStatus,
    /// Debit or credit.
    pub direction: Direction,
    /// The amount.
    pub amount: Amount,
}

const SUMMARY_COLUMNS: &str = "SELECT e.id, e.idempotency_key, e.status, e.source, p.amount, \
     p.currency, c.scale FROM ledger_entries e \
     JOIN ledger_postings p ON p.entry_id = e.id AND p.idx = 0 \
     JOIN ledger_currencies c ON c.code = p.currency";

fn summary_from_row(row: &Row) -> Result<EntrySummary> {
    let key = row.text(1)?;
    let source = row.text(3)?;
    let currency = crate::account::currency_from(&row.text(5)?, row.int(6)?)?;
    Ok(EntrySummary {
        id: EntryId::new(row.int(0)?),
        key: IdempotencyKey::parse(&key)
            .map_err(|_| Error::Corrupt(format!("idempotency key {key:?}")))?,
        status: EntryStatus::parse_stored(&row.text(2)?)?,
        source: source
            .parse()
            .map_err(|_| Error::Corrupt(format!("source {source:?}")))?,
        amount: Amount::from_storage_text(&row.text(4)?, currency)?,
    })
}

/// Where an entry comes from, as a filter distinguishes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// A chain event.
    Chain,
    /// An operator reference.
    Operator,
}

/// Which entries a search selects: every field set must hold. An entry belongs to a property,
/// deal or account when one of its postings does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// Only entries posting to this property's accounts.
    pub property: Option<DimValue>,
    /// Only entries posting to this deal's accounts.
    pub deal: Option<DimValue>,
    /// Only entries posting to this account.
    pub account: Option<AccountId>,
    /// Only chain or only operator entries.
    pub source: Option<SourceKind>,
    /// Only entries effective on or after this day.
    pub from: Option<NaiveDate>,
    /// Only entries effective on or before this day.
    pub to: Option<NaiveDate>,
    /// Only entries in this status.
    pub status: Option<EntryStatus>,
}

/// The ids of at most `limit` entries after `after` that `filter` selects, in id order.
pub(crate) async fn filtered_ids(
    tx: &mut Tx,
    filter: &EntryFilter,
    after: EntryId,
    limit: usize,
) -> Result<Vec<EntryId>> {
    let mut text = String::from("SELECT e.id FROM ledger_entries e WHERE e.id > ?");
    let mut args: Vec<Arg> = vec![after.get().into()];
    if filter.property.is_some() || filter.deal.is_some() || filter.account.is_some() {
        // Checked entry by entry through the postings' primary key, so a page stops reading
        // once it is full.
        text.push_str(
            " AND EXISTS (SELECT 1 FROM ledger_postings p JOIN ledger_accounts a \
             ON a.id = p.account_id WHERE p.entry_id = e.id",
        );
        if let Some(property) = &filter.property {
            text.push_str(" AND a.property = ?");
            args.push(property.as_str().into());
        }
        if let Some(deal) = &filter.deal {
            text.push_str(" AND a.deal = ?");
            args.push(deal.as_str().into());
        }
        if let Some(account) = filter.account {
            text.push_str(" AND p.account_id = ?");
            args.push(account.get().into());
        }
        text.push(')');
    }
    match filter.source {
        Some(SourceKind::Chain) => text.push_str(" AND e.source LIKE 'chain:%'"),
        Some(SourceKind::Operator) => text.push_str(" AND e.source LIKE 'operator:%'"),
        None => {}
    }
    if let Some(from) = filter.from {
        text.push_str(" AND e.effective_date >= ?");
        args.push(from.into());
    }
    if let Some(to) = filter.to {
        text.push_str(" AND e.effective_date <= ?");
        args.push(to.into());
    }
    if let Some(status) = filter.status {
        text.push_str(" AND e.status = ?");
        args.push(status.as_str().into());
    }
    text.push_str(" ORDER BY e.id LIMIT ?");
    args.push((limit as i64).into());
    let mut sql = Sql::assembled(text);
    for a in args {
        sql.push(a);
    }
    tx.fetch_all(sql)
        .await?
        .iter()
        .map(|r| r.int(0).map(EntryId::new))
        .collect()
}

/// Entries of a [`Ledger`].
#[derive(Clone, Copy, Debug)]
pub struct Entries<'a> {
    ledger: &'a Ledger,
}

impl<'a> Entries<'a> {
    pub(crate) fn new(ledger: &'a Ledger) -> Self {
        Entries { ledger }
    }

    /// Records one entry in its own transaction. A replay (same key, same content) returns the
    /// entry on record with `replayed` set and writes nothing.
    pub async fn record(&self, draft: EntryDraft) -> Result<Receipt> {
        let mut receipts = self.record_batch(vec![draft]).await?;
        receipts
            .pop()
            .ok_or_else(|| Error::Corrupt("no receipt for a recorded entry".into()))
    }

    /// Records many entries in one transaction: all of them or, on any refusal, none. Returns
    /// one receipt per draft, in order. Replays inside the batch are allowed.
    pub async fn record_batch(&self, drafts: Vec<EntryDraft>) -> Result<Vec<Receipt>> {
        if drafts.len() > MAX_BATCH_ENTRIES {
            return Err(Error::BatchTooLarge {
                count: drafts.len(),
                max: MAX_BATCH_ENTRIES,
            });
        }
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        // First assume all keys are new (one round trip fewer); on any refusal, including a
        // stored key, start over with the authoritative path, which also decides replays.
        // Before that, when this handle's last write left the head and these accounts' totals
        // behind, compute the entries from them and apply them in one request, guarded by the
        // head's version under the lock; when another write came in between it writes nothing.
        let ids = accounts_of(&drafts);
        match self.try_record_from_last(&drafts, &ids).await {
            Ok(Some(receipts)) => return Ok(receipts),
            Ok(None) => {}
            Err(e) if decided_again(&e) => {
                return self.try_record(drafts, &ids, KeyLookup::Full).await;
            }
            Err(e) => return Err(e),
        }
        match self
            .try_record(drafts.clone(), &ids, KeyLookup::Optimistic)
            .await
        {
            Ok(receipts) => Ok(receipts),
            Err(e) if decided_again(&e) => self.try_record(drafts, &ids, KeyLookup::Full).await,
            Err(e) => Err(e),
        }
    }

    /// The optimistic path from the last write's state: `None` when there is no usable state
    /// or the head moved on since (nothing written), an error on any refusal (nothing written;
    /// the authoritative path decides).
    async fn try_record_from_last(
        &self,
        drafts: &[EntryDraft],
        ids: &[AccountId],
    ) -> Result<Option<Vec<Receipt>>> {
        // Reversals read their originals under the lock. Large batches gain little from a
        // round trip less and may need several statements; they take the locked path.
        let binds: usize = drafts.iter().map(|d| 11 + 6 * d.postings().len()).sum();
        if drafts.len() > FROM_LAST_MAX_ENTRIES
            || drafts.iter().any(|d| d.reverses().is_some())
            || binds + 5 * ids.len() + 8 > MAX_BINDS
        {
            return Ok(None);
        }
        let Some((state, loaded)) = self.ledger.take_write_state(ids) else {
            return Ok(None);
        };
        let mut head = state.head;
        let (receipts, writes, changed) = plan(
            &mut head,
            loaded,
            drafts.to_vec(),
            &HashMap::new(),
            &HashMap::new(),
            HashMap::new(),
        )?;
        if !self
            .ledger
            .apply_if_current(state.head.version, writes, &head)
            .await?
        {
            return Ok(None);
        }
        head.version = state.head.version + 1;
        self.ledger.remember_applied(state, head, &changed);
        Ok(Some(receipts))
    }

    async fn try_record(
        &self,
        drafts: Vec<EntryDraft>,
        ids: &[AccountId],
        lookup: KeyLookup,
    ) -> Result<Vec<Receipt>> {
        let (mut tx, read, loaded) = self.ledger.write_loading(ids).await?;
        let read_totals: Vec<(AccountId, Totals)> =
            loaded.iter().map(|(id, (_, t))| (*id, *t)).collect();
        let mut head = read;
        let (receipts, mut writes, changed) =
            record_in(&mut tx, &mut head, loaded, drafts, lookup).await?;
        writes.push(head.update()?);
        tx.commit_with(writes).await?;
        head.version = read.version + 1;
        self.ledger
            .remember_locked(&read, read_totals, head, &changed);
        Ok(receipts)
    }

    /// Posts a pending entry: its amounts move from pending to posted balances and it joins the
    /// hash chain. Posting an entry that is already posted is a replay.
    pub async fn post(&self, id: EntryId) -> Result<Receipt> {
        self.settle(id, EntryStatus::Posted).await
    }

    /// Voids a pending entry: its pending amounts are dropped. Voiding a voided entry is a
    /// replay; a posted entry cannot be voided (reverse it instead).
    pub async fn void(&self, id: EntryId) -> Result<Receipt> {
        self.settle(id, EntryStatus::Voided).await
    }

    async fn settle(&self, id: EntryId, to: EntryStatus) -> Result<Receipt> {
        let (mut tx, mut head) = self.ledger.write().await?;
        let mut entry = load_entries(&mut tx, &[id])
            .await?
            .pop()
            .ok_or(Error::UnknownEntry(id))?;
        if entry.status == to {
            return Ok(receipt(&entry, true));
        }
        if entry.status != EntryStatus::Pending {
            return Err(Error::NotPending {
                entry: id,
                status: entry.status,
            });
        }
        let account_ids: Vec<AccountId> = entry.postings.iter().map(|p| p.account).collect();
        let mut loaded = load_with_totals(&mut tx, &account_ids).await?;
        for p in &entry.postings {
            let (_, t) = loaded.get_mut(&p.account).ok_or(Error::UnknownAccount {
                key: Some(entry.key.clone()),
                account: p.account,
            })?;
            t.settle(p.direction, p.amount, to)?;
        }
        let mut changed: Vec<(AccountId, Totals)> =
            loaded.iter().map(|(id, (_, t))| (*id, *t)).collect();
        changed.sort_unstable_by_key(|(id, _)| *id);
        let mut writes = Vec::new();
        store_totals(&mut writes, &changed);

        let link = (to == EntryStatus::Posted).then(|| head.link(id, &entry.content_hash));
        entry.chain = link;
        let sql = settle_statement(id, to, link)?;
        writes.push(head.update()?);
        tx.execute_all(writes).await?;
        let updated = tx.execute(sql).await?;
        if updated != 1 {
            return Err(Error::Corrupt(format!(
                "entry {id} changed under the head lock"
            )));
        }
        tx.commit().await?;
        entry.status = to;
        Ok(receipt(&entry, false))
    }

    /// Reverses a posted entry with a new posted entry that mirrors it and refers to it.
    /// Idempotent on `key`; an entry can be reversed once.
    pub async fn reverse(
        &self,
        id: EntryId,
        key: IdempotencyKey,
        effective_date: chrono::NaiveDate,
        description: &str,
        source: Source,
    ) -> Result<Receipt> {
        let (mut tx, mut head) = self.ledger.write().await?;
        let original = load_entries(&mut tx, &[id])
            .await?
            .pop()
            .ok_or(Error::UnknownEntry(id))?;
        let draft = EntryDraft::reversal_of(&original, key, effective_date, description, source)?;
        let drafts = vec![draft];
        let loaded = load_with_totals(&mut tx, &accounts_of(&drafts)).await?;
        let (mut receipts, mut writes, _) =
            record_in(&mut tx, &mut head, loaded, drafts, KeyLookup::Full).await?;
        writes.push(head.update()?);
        tx.commit_with(writes).await?;
        receipts
            .pop()
            .ok_or_else(|| Error::Corrupt("no receipt for a reversal".into()))
    }

    /// The entry with this id.
    pub async fn get(&self, id: EntryId) -> Result<Entry> {
        let mut tx = self.ledger.read().await?;
        load_entries(&mut tx, &[id])
            .await?
            .pop()
            .ok_or(Error::UnknownEntry(id))
    }

    /// The entry recorded under this key, if any.
    pub async fn by_key(&self, key: &IdempotencyKey) -> Result<Option<Entry>> {
        let mut tx = self.ledger.read().await?;
        let row = tx
            .fetch_optional(
                Sql::new("SELECT id FROM ledger_entries WHERE idempotency_key = $1")
                    .bind(key.as_str()),
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(load_entries(&mut tx, &[EntryId::new(row.int(0)?)])
            .await?
            .pop())
    }

    /// The summaries of the entries recorded under `keys` (keys with no entry are left out),
    /// in id order.
    pub async fn summaries(&self, keys: &[IdempotencyKey]) -> Result<Vec<EntrySummary>> {
        let mut tx = self.ledger.read().await?;
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_BINDS) {
            let mut sql = Sql::assembled(format!(
                "{SUMMARY_COLUMNS} WHERE e.idempotency_key IN ({}) ORDER BY e.id",
                list(chunk.len())
            ));
            for k in chunk {
                sql.push(k.as_str());
            }
            for row in tx.fetch_all(sql).await? {
                out.push(summary_from_row(&row)?);
            }
        }
        out.sort_by_key(|e| e.id);
        Ok(out)
    }

    /// The summaries of the entries whose source is an operator reference starting with
    /// `prefix` (letters and digits only, such as `0x`), in id order, whatever their status.
    pub async fn with_operator_reference(&self, prefix: &str) -> Result<Vec<EntrySummary>> {
        if !prefix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid(
                "operator reference prefix",
                "may hold only letters and digits",
            ));
        }
        let mut tx = self.ledger.read().await?;
        let rows = tx
            .fetch_all(
                Sql::assembled(format!(
                    "{SUMMARY_COLUMNS} WHERE e.source LIKE ? ORDER BY e.id"
                ))
                .bind(format!("operator:{prefix}%")),
            )
            .await?;
        rows.iter().map(summary_from_row).collect()
    }

    /// Every posting to `account`, with its entry's key and status, in entry order.
    pub async fn postings_of(&self, account: AccountId) -> Result<Vec<AccountPosting>> {
        let mut tx = self.ledger.read().await?;
        let rows = tx
            .fetch_all(
                Sql::new(
                    "SELECT e.id, e.idempotency_key, e.status, p.direction, p.amount, p.currency, \
                     c.scale FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id \
                     JOIN ledger_currencies c ON c.code = p.currency \
                     WHERE p.account_id = $1 ORDER BY e.id, p.idx",
                )
                .bind(account.get()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let key = row.text(1)?;
                let currency = crate::account::currency_from(&row.text(5)?, row.int(6)?)?;
                Ok(AccountPosting {
                    entry: EntryId::new(row.int(0)?),
                    key: IdempotencyKey::parse(&key)
                        .map_err(|_| Error::Corrupt(format!("idempotency key {key:?}")))?,
                    status: EntryStatus::parse_stored(&row.text(2)?)?,
                    direction: Direction::parse_stored(&row.text(3)?)?,
                    amount: Amount::from_storage_text(&row.text(4)?, currency)?,
                })
            })
            .collect()
    }

    /// Entries that `filter` selects with ids after `after` (all when `None`), in id order, at
    /// most `limit` (capped at 1,000): a cursor for listing a property's or an account's
    /// entries page by page.
    pub async fn search(
        &self,
        filter: &EntryFilter,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        let mut tx = self.ledger.read().await?;
        let limit = limit.clamp(1, 1_000);
        let ids = filtered_ids(&mut tx, filter, after.unwrap_or(EntryId::new(0)), limit).await?;
        load_entries(&mut tx, &ids).await
    }

    /// Entries with ids after `after` (all when `None`), in id order, at most `limit`
    /// (capped at 1,000): a cursor for listing the whole ledger page by page.
    pub async fn page(&self, after: Option<EntryId>, limit: usize) -> Result<Vec<Entry>> {
        let mut tx = self.ledger.read().await?;
        let limit = limit.clamp(1, 1_000) as i64;
        let rows = tx
            .fetch_all(
                Sql::new("SELECT id FROM ledger_entries WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after.map_or(0, EntryId::get))
                    .bind(limit),
            )
            .await?;
        let ids = rows
            .iter()
            .map(|r| r.int(0).map(EntryId::new))
            .collect::<Result<Vec<_>>>()?;
        load_entries(&mut tx, &ids).await
    }
}
