//! What an auditor checks against the chain: a property's on-chain history as the node indexed
//! it (every event with its block, block hash, transaction and log index, decoded), its cap
//! table at any block (checked against the chain's `balanceOf` and `totalSupply` at that block
//! when the chain is reachable), the ledger's hash chain and balances, and the books reconciled
//! with the chain at a block (with the API's own records paired in, [`crate::reconcile`]).

use std::collections::{BTreeMap, HashMap};

use alloy::primitives::Address;
use propledger_indexer::audit::{self as index_audit, Auditor};
use propledger_indexer::source::{RpcSource, SourceConfig};
use propledger_ledger::Ledger;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{Db, Query};
use crate::error::{Error, Result};
use crate::market;
use crate::reconcile::{self, Completed};

/// Most events on a page of a property's history.
pub const EVENTS_PAGE_MAX: u32 = 500;

/// One event as the node stored it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ChainEvent {
    /// Its block.
    pub block_number: u64,
    /// The block's hash.
    pub block_hash: String,
    /// The transaction's hash.
    pub tx_hash: String,
    /// The transaction's position in the block.
    pub tx_index: u64,
    /// The log's position in the block.
    pub log_index: u64,
    /// The contract that emitted it.
    pub address: String,
    /// What that contract is (`shares`, `treasury`, `distributor`, `offering`, `deed`, ...).
    pub contract: String,
    /// The event's name (`unknown` when it did not decode).
    pub event: String,
    /// Its fields by name (integers as decimal strings, bytes as hex).
    #[schema(value_type = Object)]
    pub decoded: serde_json::Value,
}

/// A page of a property's history.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The property's deed token id.
    pub property: String,
    /// The events in chain order.
    pub items: Vec<ChainEvent>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn hex_of(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn address_of(bytes: &[u8]) -> Result<Address> {
    (bytes.len() == 20)
        .then(|| Address::from_slice(bytes))
        .ok_or_else(|| Error::Corrupt("an indexed address".to_owned()))
}

/// The property's deed token id as the index names it: an API property id's number, or the
/// number given.
pub fn token_of(property: &str) -> Result<String> {
    if let Ok(id) = crate::properties::PropertyId::parse(property) {
        return Ok(crate::tokenization::token_id(id).to_string());
    }
    property
        .parse::<alloy::primitives::U256>()
        .map(|n| n.to_string())
        .map_err(|_| Error::NotFound("property"))
}

fn parse_cursor(cursor: Option<&str>) -> Result<(i64, i64)> {
    let Some(c) = cursor else {
        return Ok((-1, -1));
    };
    let bad = || Error::invalid("cursor", "not a cursor of this list");
    let (b, l) = c.split_once('-').ok_or_else(bad)?;
    Ok((
        b.parse::<i64>().map_err(|_| bad())?,
        l.parse::<i64>().map_err(|_| bad())?,
    ))
}

/// A page of the property's on-chain history: the events of its contracts (share token,
/// treasury, distributor, offerings) and the deed's events about its token, in chain order.
pub async fn events(
    db: &Db,
    property: &str,
    deed: Address,
    cursor: Option<&str>,
    limit: u32,
) -> Result<EventPage> {
    let token = token_of(property)?;
    if !(1..=EVENTS_PAGE_MAX).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("must be 1 to {EVENTS_PAGE_MAX}"),
        ));
    }
    let (after_block, after_log) = parse_cursor(cursor)?;
    if !market::index_exists(db).await? {
        return Err(Error::Unavailable("nothing is indexed yet".to_owned()));
    }
    let mut kinds: HashMap<Address, String> = HashMap::new();
    let rows = Query::new(
        "SELECT address, kind FROM idx_contracts WHERE property_id = $1 ORDER BY added_block",
    )
    .bind(token.clone())
    .fetch_all(db.reader())
    .await?;
    for r in rows {
        kinds.insert(address_of(&r.get::<Vec<u8>>("address")?)?, r.get("kind")?);
    }
    if kinds.is_empty() {
        return Err(Error::NotFound("property's contracts in the index"));
    }
    kinds.insert(deed, "deed".to_owned());
    let addresses: Vec<Address> = kinds.keys().copied().collect();
    let marks: Vec<String> = (0..addresses.len())
        .map(|i| format!("${}", i + 3))
        .collect();
    let mut q = Query::assembled(format!(
        "SELECT block_number, log_index, block_hash, tx_hash, tx_index, address, event, decoded \
         FROM idx_events WHERE (block_number > $1 OR (block_number = $1 AND log_index > $2)) \
         AND address IN ({}) ORDER BY block_number, log_index LIMIT {}",
        marks.join(", "),
        limit
    ))
    .bind(after_block)
    .bind(after_log);
    for a in &addresses {
        q = q.bind(a.to_vec());
    }
    let rows = q.fetch_all(db.reader()).await?;
    let full = rows.len() == limit as usize;
    let mut last = None;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        let block: i64 = r.get("block_number")?;
        let log: i64 = r.get("log_index")?;
        last = Some((block, log));
        let address = address_of(&r.get::<Vec<u8>>("address")?)?;
        let contract = kinds.get(&address).cloned().unwrap_or_default();
        let decoded: serde_json::Value = serde_json::from_str(&r.get::<String>("decoded")?)
            .map_err(|_| Error::Corrupt("an indexed event".to_owned()))?;
        // The deed is every property's: keep its events about this token.
        if contract == "deed" && decoded["tokenId"].as_str() != Some(token.as_str()) {
            continue;
        }
        let int =
            |v: i64| u64::try_from(v).map_err(|_| Error::Corrupt("an event's position".into()));
        items.push(ChainEvent {
            block_number: int(block)?,
            block_hash: hex_of(&r.get::<Vec<u8>>("block_hash")?),
            tx_hash: hex_of(&r.get::<Vec<u8>>("tx_hash")?),
            tx_index: int(r.get("tx_index")?)?,
            log_index: int(log)?,
            address: address.to_checksum(None),
            contract,
            event: r.get("event")?,
            decoded,
        });
    }
    Ok(EventPage {
        property: token,
        items,
        next_cursor: full
            .then_some(last)
            .flatten()
            .map(|(b, l)| format!("{b}-{l}")),
    })
}

/// One holder in a cap table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Holding {
    /// The wallet.
    pub wallet: String,
    /// Its shares (base units, decimal).
    pub shares: String,
    /// The investor the wallet belongs to, when the API knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investor_id: Option<String>,
}

/// Where the indexed cap table and the chain disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct CapDifference {
    /// The holder, or absent for the total supply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// From the indexed `Transfer` events.
    pub indexed: String,
    /// From the chain at the block.
    pub on_chain: String,
}

/// A property's cap table at a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct CapTableView {
    /// The property's deed token id.
    pub property: String,
    /// The share token.
    pub token: String,
    /// The block.
    pub block: u64,
    /// Holders with shares, by wallet.
    pub holders: Vec<Holding>,
    /// Shares minted less shares burned.
    pub total_supply: String,
    /// Whether the table was checked against the chain's `balanceOf` and `totalSupply`.
    pub checked_against_chain: bool,
    /// What the check found (empty when it agrees).
    pub differences: Vec<CapDifference>,
}

/// The index's last block (the default block of the audit views).
pub async fn last_indexed(db: &Db) -> Result<u64> {
    market::index_head(db)
        .await?
        .map(|h| h.block)
        .ok_or_else(|| Error::Unavailable("nothing is indexed yet".to_owned()))
}

fn index_error(e: propledger_indexer::Error) -> Error {
    Error::Unavailable(format!("the index or the chain: {e}"))
}

/// Connects to the chain the indexer reads.
pub async fn source(config: Option<&SourceConfig>) -> Result<RpcSource> {
    let config =
        config.ok_or_else(|| Error::Unavailable("this API has no chain to read".to_owned()))?;
    RpcSource::connect(config.clone())
        .await
        .map_err(|e| Error::Unavailable(format!("the chain: {e}")))
}

/// The property's cap table at `block` from its indexed `Transfer` events, checked against the
/// chain when `source` is given.
pub async fn cap_table(
    db: &Db,
    ledger: &Ledger,
    property: &str,
    block: u64,
    source: Option<&RpcSource>,
) -> Result<CapTableView> {
    let token = token_of(property)?;
    let shares = crate::distributions::contracts(db, &token)
        .await
        .map_err(|e| match e {
            Error::Conflict { .. } => Error::NotFound("property's share token in the index"),
            e => e,
        })?
        .shares;
    let last = last_indexed(db).await?;
    if block > last {
        return Err(Error::invalid(
            "block",
            format!("not indexed yet: the index is at block {last}"),
        ));
    }
    let table = index_audit::cap_table(ledger, shares, block)
        .await
        .map_err(index_error)?;
    let differences = match source {
        Some(s) => index_audit::check_cap_table(s, &table)
            .await
            .map_err(index_error)?
            .into_iter()
            .map(|m| CapDifference {
                holder: m.holder.map(|h| h.to_checksum(None)),
                indexed: m.indexed.to_string(),
                on_chain: m.on_chain.to_string(),
            })
            .collect(),
        None => Vec::new(),
    };
    let mut holders = Vec::with_capacity(table.holders.len());
    let mut known: BTreeMap<Address, Option<String>> = BTreeMap::new();
    for (wallet, n) in &table.holders {
        let investor = match known.get(wallet) {
            Some(i) => i.clone(),
            None => {
                let i = crate::investors::of_wallet(db, &wallet.to_checksum(None))
                    .await?
                    .map(|inv| inv.id.to_string());
                known.insert(*wallet, i.clone());
                i
            }
        };
        holders.push(Holding {
            wallet: wallet.to_checksum(None),
            shares: n.to_string(),
            investor_id: investor,
        });
    }
    Ok(CapTableView {
        property: token,
        token: shares.to_checksum(None),
        block,
        holders,
        total_supply: table.total_supply.to_string(),
        checked_against_chain: source.is_some(),
        differences,
    })
}

/// Where the ledger's hash chain first breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Break {
    /// The first entry that does not verify (absent when the head itself is wrong).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<i64>,
    /// Its sequence number in the chain.
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// The ledger's own checks: the hash chain over posted entries and the balances recomputed
/// from every posting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct LedgerCheck {
    /// Whether both checks pass.
    pub clean: bool,
    /// Posted entries whose hash links were recomputed.
    pub chained_entries: u64,
    /// The head's sequence number.
    pub head_seq: u64,
    /// The head hash (what an anchor records).
    pub head_hash: String,
    /// The first break of the hash chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_break: Option<Break>,
    /// Entries whose postings were summed.
    pub entries_checked: u64,
    /// Accounts whose balances were recomputed.
    pub accounts_checked: u64,
    /// Entries that do not balance per currency.
    pub unbalanced_entries: Vec<i64>,
    /// Accounts whose stored totals differ from their postings.
    pub mismatched_accounts: Vec<i64>,
    /// Currencies whose accounts do not sum to zero.
    pub nonzero_currencies: Vec<String>,
}

/// Runs the ledger's checks.
pub async fn ledger_check(ledger: &Ledger) -> Result<LedgerCheck> {
    let err = crate::deals::costs::ledger_error;
    let chain = ledger.verifier().chain().await.map_err(err)?;
    let sums = ledger.verifier().audit().await.map_err(err)?;
    Ok(LedgerCheck {
        clean: chain.is_intact() && sums.is_clean(),
        chained_entries: chain.entries_checked,
        head_seq: chain.head_seq,
        head_hash: chain.head_hash.to_string(),
        first_break: chain.first_break.map(|b| Break {
            entry_id: b.entry.map(|e| e.get()),
            seq: b.seq,
            reason: b.reason.to_string(),
        }),
        entries_checked: sums.entries_checked,
        accounts_checked: sums.accounts_checked,
        unbalanced_entries: sums.unbalanced_entries.iter().map(|e| e.get()).collect(),
        mismatched_accounts: sums.mismatched_accounts.iter().map(|a| a.get()).collect(),
        nonzero_currencies: sums
            .nonzero_currencies
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
    })
}

/// The books reconciled with the chain at `block` (the last indexed one by default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReconciliationView {
    /// Whether books and chain agree everywhere.
    pub clean: bool,
    /// What was compared and found.
    #[serde(flatten)]
    pub report: Completed,
}

/// Reconciles the books with the chain at `block`, the API's records paired in.
pub async fn reconciliation(
    db: &Db,
    ledger: &Ledger,
    source: RpcSource,
    settlement_token: Address,
    block: Option<u64>,
) -> Result<ReconciliationView> {
    let auditor = Auditor::open(ledger.clone(), source, settlement_token)
        .await
        .map_err(index_error)?;
    let last = auditor.next_block().saturating_sub(1);
    let block = block.unwrap_or(last);
    if block > last {
        return Err(Error::invalid(
            "block",
            format!("not indexed yet: the index is at block {last}"),
        ));
    }
    let report = auditor.reconcile(block).await.map_err(index_error)?;
    let report = reconcile::complete(db, report).await?;
    Ok(ReconciliationView {
        clean: report.is_clean(),
        report,
    })
}

/// Whether `entry` books what the event `log` (of a contract of `kind`) books: each line the
/// indexer makes from the event is among the entry's postings, with its direction and exact
/// amount (a platform fee's lines may come beside them). True for an event that books nothing
/// by itself (a share transfer's capital, booked from the holders' state).
pub fn books_its_event(
    entry: &propledger_ledger::core::Entry,
    kind: propledger_indexer::decode::ContractKind,
    log: &propledger_indexer::source::RawLog,
    token_decimals: u8,
    currency: propledger_ledger::core::Currency,
) -> Result<bool> {
    let Some(plan) = propledger_indexer::books::plan(kind, log) else {
        return Ok(true);
    };
    let mut postings: Vec<_> = entry
        .postings
        .iter()
        .map(|p| (p.direction, p.amount.value()))
        .collect();
    for line in &plan.lines {
        let amount = propledger_ledger::core::Amount::from_token_units(
            line.amount,
            token_decimals,
            currency,
        )
        .map_err(crate::deals::costs::ledger_error)?
        .value();
        match postings
            .iter()
            .position(|p| p.0 == line.direction && p.1 == amount)
        {
            Some(i) => {
                postings.swap_remove(i);
            }
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// Most events a verification compares (on either side).
pub const VERIFY_EVENTS_MAX: usize = 200_000;
/// How long a verification may take.
pub const VERIFY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// Largest `eth_getLogs` answer a verification reads from an auditor's endpoint.
pub const VERIFY_MAX_LOGS_BODY: usize = 16 * 1024 * 1024;

/// An event named by a verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct EventRef {
    /// Its block.
    pub block_number: u64,
    /// Its position in the block.
    pub log_index: u64,
    /// Its transaction.
    pub tx_hash: String,
    /// The contract that emitted it.
    pub address: String,
    /// The event's name.
    pub event: String,
}

/// A booked entry named by a verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct EntryRef {
    /// The entry.
    pub entry_id: i64,
    /// Its idempotency key.
    pub key: String,
    /// The transaction its source names.
    pub tx_hash: String,
    /// The log index its source names.
    pub log_index: u64,
}

/// What re-reading a property's history from an auditor's endpoint found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Verification {
    /// Whether the stored history and the books match the chain.
    pub clean: bool,
    /// The property's deed token id.
    pub property: String,
    /// The endpoint read (credentials masked).
    pub rpc_url: String,
    /// The chain id it answered.
    pub chain_id: u64,
    /// The blocks compared.
    pub from_block: u64,
    /// The last of them (the index's last block).
    pub to_block: u64,
    /// Events the endpoint returned.
    pub events_on_chain: u64,
    /// Events the node stored.
    pub events_stored: u64,
    /// On chain, not stored.
    pub missing: Vec<EventRef>,
    /// Stored, not on chain.
    pub extra: Vec<EventRef>,
    /// At the same position with other contents (contract, topics, data, block or transaction).
    pub changed: Vec<EventRef>,
    /// Chain-sourced entries of the property's books checked.
    pub entries_checked: u64,
    /// Entries whose source names no event on chain.
    pub entries_without_event: Vec<EntryRef>,
    /// Entries whose amounts are not those their event books.
    pub entries_differing: Vec<EntryRef>,
}

/// An endpoint an auditor may name: one on the node's allowlist (compared without a trailing
/// slash).
pub fn allowed_endpoint(url: &str, allowlist: &[String]) -> bool {
    let url = url.trim().trim_end_matches('/');
    !url.is_empty() && allowlist.iter().any(|a| a.trim_end_matches('/') == url)
}

fn event_ref(
    block: u64,
    log_index: u64,
    tx_hash: &[u8],
    address: Address,
    event: &str,
) -> EventRef {
    EventRef {
        block_number: block,
        log_index,
        tx_hash: hex_of(tx_hash),
        address: address.to_checksum(None),
        event: event.to_owned(),
    }
}

/// What a stored or read event is compared by.
#[derive(PartialEq, Eq)]
struct Fingerprint {
    address: Address,
    topics: Vec<u8>,
    data: Vec<u8>,
    block_hash: Vec<u8>,
    tx_hash: Vec<u8>,
}

/// Re-reads the property's history from `source` (an auditor's endpoint) and compares it with
/// the events the node stored and the entries it booked from them.
pub async fn verify(
    db: &Db,
    ledger: &Ledger,
    source: &RpcSource,
    deed: Address,
    property: &str,
) -> Result<Verification> {
    use propledger_indexer::decode::{ContractKind, decode};
    let token = token_of(property)?;
    let head = market::index_head(db)
        .await?
        .ok_or_else(|| Error::Unavailable("nothing is indexed yet".to_owned()))?;
    let checkpoint = propledger_indexer::store::checkpoint(ledger)
        .await
        .map_err(index_error)?
        .ok_or_else(|| Error::Unavailable("nothing is indexed yet".to_owned()))?;
    if checkpoint.chain_id != source.chain_id() {
        return Err(Error::invalid(
            "/rpc_url",
            format!(
                "the endpoint serves chain {}, the node indexes chain {}",
                source.chain_id(),
                checkpoint.chain_id
            ),
        ));
    }
    let to = head.block;
    // The property's contracts, and the first block the platform was indexed from.
    let mut kinds: HashMap<Address, ContractKind> = HashMap::new();
    for r in Query::new("SELECT address, kind FROM idx_contracts WHERE property_id = $1")
        .bind(token.clone())
        .fetch_all(db.reader())
        .await?
    {
        let kind = ContractKind::parse(&r.get::<String>("kind")?)
            .ok_or_else(|| Error::Corrupt("an indexed contract's kind".to_owned()))?;
        kinds.insert(address_of(&r.get::<Vec<u8>>("address")?)?, kind);
    }
    if kinds.is_empty() {
        return Err(Error::NotFound("property's contracts in the index"));
    }
    kinds.insert(deed, ContractKind::Deed);
    let from = u64::try_from(
        Query::new("SELECT CAST(COALESCE(MIN(added_block), 0) AS BIGINT) AS b FROM idx_contracts")
            .fetch_one(db.reader())
            .await?
            .get::<i64>("b")?,
    )
    .unwrap_or(0);
    let addresses: Vec<Address> = kinds.keys().copied().collect();
    let ours = |kind: ContractKind, log: &propledger_indexer::source::RawLog| -> Result<bool> {
        if kind != ContractKind::Deed {
            return Ok(true);
        }
        let d = decode(kind, log);
        let v: serde_json::Value = serde_json::from_str(&d.json)
            .map_err(|_| Error::Internal("a decoded event".to_owned()))?;
        Ok(v["tokenId"].as_str() == Some(token.as_str()))
    };

    // The chain's side.
    let logs = source
        .logs(from, to, &addresses)
        .await
        .map_err(|e| Error::Unavailable(format!("the endpoint: {e}")))?;
    if logs.len() > VERIFY_EVENTS_MAX {
        return Err(Error::conflict(
            "too_many_events",
            format!("more than {VERIFY_EVENTS_MAX} events to compare"),
        ));
    }
    let mut chain: BTreeMap<(u64, u64), (Fingerprint, EventRef)> = BTreeMap::new();
    let mut by_tx: HashMap<(Vec<u8>, u64), propledger_indexer::source::RawLog> = HashMap::new();
    for log in logs {
        // An endpoint's answer is not trusted: a log of another contract is ignored.
        let Some(&kind) = kinds.get(&log.address) else {
            continue;
        };
        if !ours(kind, &log)? {
            continue;
        }
        let name = decode(kind, &log).name.into_owned();
        let topics: Vec<u8> = log.topics.iter().flat_map(|t| t.0).collect();
        chain.insert(
            (log.block_number, log.log_index),
            (
                Fingerprint {
                    address: log.address,
                    topics,
                    data: log.data.to_vec(),
                    block_hash: log.block_hash.to_vec(),
                    tx_hash: log.tx_hash.to_vec(),
                },
                event_ref(
                    log.block_number,
                    log.log_index,
                    log.tx_hash.as_slice(),
                    log.address,
                    &name,
                ),
            ),
        );
        by_tx.insert((log.tx_hash.to_vec(), log.log_index), log);
    }

    // The node's side.
    let marks: Vec<String> = (0..addresses.len())
        .map(|i| format!("${}", i + 3))
        .collect();
    let mut q = Query::assembled(format!(
        "SELECT block_number, log_index, block_hash, tx_hash, address, topics, data, event, \
         decoded FROM idx_events WHERE block_number >= $1 AND block_number <= $2 \
         AND address IN ({}) ORDER BY block_number, log_index LIMIT {}",
        marks.join(", "),
        VERIFY_EVENTS_MAX + 1
    ))
    .bind(i64::try_from(from).unwrap_or(i64::MAX))
    .bind(i64::try_from(to).unwrap_or(i64::MAX));
    for a in &addresses {
        q = q.bind(a.to_vec());
    }
    let rows = q.fetch_all(db.reader()).await?;
    if rows.len() > VERIFY_EVENTS_MAX {
        return Err(Error::conflict(
            "too_many_events",
            format!("more than {VERIFY_EVENTS_MAX} events to compare"),
        ));
    }
    let (mut missing, mut extra, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    let mut stored = 0u64;
    let mut seen = std::collections::HashSet::new();
    for r in rows {
        let address = address_of(&r.get::<Vec<u8>>("address")?)?;
        if kinds.get(&address) == Some(&ContractKind::Deed) {
            let v: serde_json::Value = serde_json::from_str(&r.get::<String>("decoded")?)
                .map_err(|_| Error::Corrupt("an indexed event".to_owned()))?;
            if v["tokenId"].as_str() != Some(token.as_str()) {
                continue;
            }
        }
        stored += 1;
        let position = (
            u64::try_from(r.get::<i64>("block_number")?).unwrap_or(0),
            u64::try_from(r.get::<i64>("log_index")?).unwrap_or(0),
        );
        let tx_hash: Vec<u8> = r.get("tx_hash")?;
        let mine = Fingerprint {
            address,
            topics: r.get("topics")?,
            data: r.get("data")?,
            block_hash: r.get("block_hash")?,
            tx_hash: tx_hash.clone(),
        };
        let named = event_ref(
            position.0,
            position.1,
            &tx_hash,
            address,
            &r.get::<String>("event")?,
        );
        seen.insert(position);
        match chain.get(&position) {
            None => extra.push(named),
            Some((theirs, _)) if *theirs != mine => changed.push(named),
            Some(_) => {}
        }
    }
    for (position, (_, named)) in &chain {
        if !seen.contains(position) {
            missing.push(named.clone());
        }
    }

    // The books: every chain-sourced entry of the property names an event on chain, and books
    // the amounts that event books.
    let dim = crate::deals::costs::property_dim(&token)?;
    let filter = propledger_ledger::entry::EntryFilter {
        property: Some(dim),
        source: Some(propledger_ledger::entry::SourceKind::Chain),
        ..Default::default()
    };
    let mut entries = Vec::new();
    let mut after = None;
    loop {
        let page = ledger
            .entries()
            .search(&filter, after, 1_000)
            .await
            .map_err(crate::deals::costs::ledger_error)?;
        let full = page.len() == 1_000;
        after = page.last().map(|e| e.id);
        entries.extend(page);
        if entries.len() > VERIFY_EVENTS_MAX {
            return Err(Error::conflict(
                "too_many_entries",
                format!("more than {VERIFY_EVENTS_MAX} entries to check"),
            ));
        }
        if !full {
            break;
        }
    }
    let reversed: std::collections::HashSet<_> =
        entries.iter().filter_map(|e| e.reverses).collect();
    let currency = propledger_ledger::core::Currency::parse(
        &checkpoint.currency,
        u32::from(checkpoint.token_decimals),
    )
    .map_err(crate::deals::costs::ledger_error)?;
    let (mut without, mut differing) = (Vec::new(), Vec::new());
    let mut checked = 0u64;
    for e in &entries {
        let propledger_ledger::core::Source::Chain {
            tx_hash, log_index, ..
        } = &e.source
        else {
            continue;
        };
        // A reorg's retraction and what it retracted stand for an event no longer on chain.
        if e.status == propledger_ledger::core::EntryStatus::Voided
            || e.reverses.is_some()
            || reversed.contains(&e.id)
        {
            continue;
        }
        checked += 1;
        let named = EntryRef {
            entry_id: e.id.get(),
            key: e.key.as_str().to_owned(),
            tx_hash: format!("{tx_hash:#x}"),
            log_index: *log_index,
        };
        let Some(log) = by_tx.get(&(tx_hash.to_vec(), *log_index)) else {
            without.push(named);
            continue;
        };
        let Some(&kind) = kinds.get(&log.address) else {
            continue;
        };
        if !books_its_event(e, kind, log, checkpoint.token_decimals, currency)? {
            differing.push(named);
        }
    }
    Ok(Verification {
        clean: missing.is_empty()
            && extra.is_empty()
            && changed.is_empty()
            && without.is_empty()
            && differing.is_empty(),
        property: token,
        rpc_url: String::new(),
        chain_id: source.chain_id(),
        from_block: from,
        to_block: to,
        events_on_chain: chain.len() as u64,
        events_stored: stored,
        missing,
        extra,
        changed,
        entries_checked: checked,
        entries_without_event: without,
        entries_differing: differing,
    })
}
