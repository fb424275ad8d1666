//! An audit export of one property, and its verification from the chain alone.
//!
//! [`export`] writes what the node holds: the platform's deployment, the property's contracts
//! and stored events, and every posted ledger entry with its postings and hashes (the hash
//! chain runs over the whole ledger). [`verify`] trusts nothing but that file and a JSON-RPC
//! endpoint:
//!
//! 1. the endpoint's chain is the export's;
//! 2. every platform contract was created from the creation code this build carries (its
//!    creation transaction's input starts with it) and has code now;
//! 3. the property's contracts are the ones the platform's directory names;
//! 4. the property's events, re-read from the chain, are the exported ones: none missing, extra
//!    or changed;
//! 5. every exported entry hashes to its content hash and links to the one before, in sequence;
//! 6. every chain-sourced entry of the property names an event on chain and books its amounts;
//! 7. every anchor on chain matches the exported entry it covers; later entries are the
//!    unanchored tail;
//! 8. the cap table replayed from the chain's `Transfer` logs equals `balanceOf` at the
//!    export's block (or, where the endpoint keeps no state that old, is only replayed).
//!
//! The verdict lists every finding; it is clean only when there is none.

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::{SolCall, SolEvent};
use propledger_contracts::deploy::Platform;
use propledger_contracts::{LedgerAnchor, PropertyDirectory, PropertyShares};
use propledger_indexer::decode::{ContractKind, decode};
use propledger_indexer::source::{RawLog, RpcSource};
use propledger_ledger::Ledger;
use propledger_ledger::core::{
    AccountId, Amount, ChainLink, Currency, Direction, Entry, EntryHash, EntryId, EntryStatus,
    IdempotencyKey, Posting, Source, chain_hash,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::db::{Db, Query};
use crate::error::{Error, Result};

/// The export's format name.
pub const FORMAT: &str = "propledger-audit-export/1";

/// A contract of the property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportContract {
    /// Its address.
    pub address: Address,
    /// What it is (`shares`, `treasury`, `distributor`, `offering`, `compliance`).
    pub kind: String,
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportEvent {
    /// Its block.
    pub block_number: u64,
    /// Its position in the block.
    pub log_index: u64,
    /// The block's hash.
    pub block_hash: B256,
    /// The transaction.
    pub tx_hash: B256,
    /// The emitting contract.
    pub address: Address,
    /// Topics.
    pub topics: Vec<B256>,
    /// Data.
    pub data: Bytes,
}

/// A posting of an exported entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportPosting {
    /// The account's id.
    pub account: i64,
    /// `debit` or `credit`.
    pub direction: String,
    /// The amount, decimal.
    pub amount: Decimal,
    /// Its currency code.
    pub currency: String,
    /// The currency's scale.
    pub scale: u32,
}

/// A posted entry with its hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportEntry {
    /// Its id.
    pub id: i64,
    /// Its idempotency key.
    pub key: String,
    /// Its effective date (`YYYY-MM-DD`).
    pub date: String,
    /// Its description.
    pub description: String,
    /// Its source (`chain:<chain id>:<tx>:<log index>` or `operator:<ref>`).
    pub source: String,
    /// The entry it reverses.
    pub reverses: Option<i64>,
    /// Its postings.
    pub postings: Vec<ExportPosting>,
    /// Its content hash.
    pub content_hash: B256,
    /// Its position in the hash chain.
    pub seq: u64,
    /// The previous entry's chain hash.
    pub prev_hash: B256,
    /// Its chain hash.
    pub hash: B256,
}

/// One property's audit export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditExport {
    /// [`FORMAT`].
    pub format: String,
    /// The chain.
    pub chain_id: u64,
    /// The last block indexed when exported.
    pub block: u64,
    /// The platform's deployment.
    pub platform: Platform,
    /// The property's deed token id.
    pub property: String,
    /// Its contracts.
    pub contracts: Vec<ExportContract>,
    /// The settlement token's decimals.
    pub token_decimals: u8,
    /// The books' currency code.
    pub currency: String,
    /// Its stored events, and the deed's about its token, in chain order.
    pub events: Vec<ExportEvent>,
    /// Every posted entry, in chain order.
    pub entries: Vec<ExportEntry>,
    /// The ids of the property's accounts.
    pub property_accounts: Vec<i64>,
    /// The books' anchor contract on a second, external chain, when the node anchors there too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_anchor: Option<ExportExternalAnchor>,
}

/// The anchor contract on the external anchor chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportExternalAnchor {
    /// That chain's id.
    pub chain_id: u64,
    /// The contract and its deployment block.
    pub contract: propledger_contracts::deploy::Deployed,
}

fn b256(bytes: &[u8]) -> Result<B256> {
    (bytes.len() == 32)
        .then(|| B256::from_slice(bytes))
        .ok_or_else(|| Error::Corrupt("a stored hash".to_owned()))
}

/// Exports the property: what the node stored and booked, as of its last indexed block.
pub async fn export(
    db: &Db,
    ledger: &Ledger,
    platform: &Platform,
    property: &str,
) -> Result<AuditExport> {
    let token = crate::chain_audit::token_of(property)?;
    let err = crate::deals::costs::ledger_error;
    let checkpoint = propledger_indexer::store::checkpoint(ledger)
        .await
        .map_err(|e| Error::Unavailable(format!("the index: {e}")))?
        .ok_or_else(|| Error::Unavailable("nothing is indexed yet".to_owned()))?;
    let block = checkpoint.next_block.saturating_sub(1);
    let mut contracts = Vec::new();
    for r in Query::new(
        "SELECT address, kind FROM idx_contracts WHERE property_id = $1 ORDER BY added_block, address",
    )
    .bind(token.clone())
    .fetch_all(db.reader())
    .await?
    {
        let a: Vec<u8> = r.get("address")?;
        contracts.push(ExportContract {
            address: Address::try_from(a.as_slice())
                .map_err(|_| Error::Corrupt("an indexed address".to_owned()))?,
            kind: r.get("kind")?,
        });
    }
    if contracts.is_empty() {
        return Err(Error::NotFound("property's contracts in the index"));
    }
    // The events, through the audit view (the deed's filtered to this token), then their raw
    // topics and data.
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = crate::chain_audit::events(
            db,
            &token,
            platform.deed.address,
            cursor.as_deref(),
            crate::chain_audit::EVENTS_PAGE_MAX,
        )
        .await?;
        for e in &page.items {
            let r = Query::new(
                "SELECT topics, data FROM idx_events WHERE block_number = $1 AND log_index = $2",
            )
            .bind(i64::try_from(e.block_number).unwrap_or(i64::MAX))
            .bind(i64::try_from(e.log_index).unwrap_or(i64::MAX))
            .fetch_one(db.reader())
            .await?;
            let topics: Vec<u8> = r.get("topics")?;
            events.push(ExportEvent {
                block_number: e.block_number,
                log_index: e.log_index,
                block_hash: e
                    .block_hash
                    .parse()
                    .map_err(|_| Error::Corrupt("a hash".into()))?,
                tx_hash: e
                    .tx_hash
                    .parse()
                    .map_err(|_| Error::Corrupt("a hash".into()))?,
                address: e
                    .address
                    .parse()
                    .map_err(|_| Error::Corrupt("an address".into()))?,
                topics: topics.chunks(32).map(b256).collect::<Result<_>>()?,
                data: Bytes::from(r.get::<Vec<u8>>("data")?),
            });
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // Every posted entry, in chain order.
    let filter = propledger_ledger::entry::EntryFilter {
        status: Some(EntryStatus::Posted),
        ..Default::default()
    };
    let mut entries = Vec::new();
    let mut after = None;
    loop {
        let page = ledger
            .entries()
            .search(&filter, after, 1_000)
            .await
            .map_err(err)?;
        let full = page.len() == 1_000;
        after = page.last().map(|e| e.id);
        for e in page {
            let Some(link) = e.chain else { continue };
            entries.push(ExportEntry {
                id: e.id.get(),
                key: e.key.as_str().to_owned(),
                date: e.effective_date.format("%Y-%m-%d").to_string(),
                description: e.description.clone(),
                source: e.source.to_string(),
                reverses: e.reverses.map(|r| r.get()),
                postings: e
                    .postings
                    .iter()
                    .map(|p| ExportPosting {
                        account: p.account.get(),
                        direction: match p.direction {
                            Direction::Debit => "debit",
                            Direction::Credit => "credit",
                        }
                        .to_owned(),
                        amount: p.amount.value(),
                        currency: p.amount.currency().code().as_str().to_owned(),
                        scale: p.amount.currency().scale(),
                    })
                    .collect(),
                content_hash: B256::from(e.content_hash.0),
                seq: link.seq,
                prev_hash: B256::from(link.prev_hash.0),
                hash: B256::from(link.hash.0),
            });
        }
        if !full {
            break;
        }
    }
    entries.sort_by_key(|e| e.seq);
    let dim = crate::deals::costs::property_dim(&token)?;
    let property_accounts = ledger
        .accounts()
        .list(&propledger_ledger::account::AccountFilter {
            property: Some(dim),
            ..Default::default()
        })
        .await
        .map_err(err)?
        .into_iter()
        .map(|a| a.id.get())
        .collect();
    Ok(AuditExport {
        format: FORMAT.to_owned(),
        chain_id: checkpoint.chain_id,
        block,
        platform: platform.clone(),
        property: token,
        contracts,
        token_decimals: checkpoint.token_decimals,
        currency: checkpoint.currency,
        events,
        entries,
        property_accounts,
        external_anchor: None,
    })
}

/// The verdict of a verification.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// What was checked, each with what it found (`ok` or the count of findings).
    pub checks: Vec<(String, String)>,
    /// Every finding, in words naming the entry, event or contract.
    pub findings: Vec<String>,
    /// Whether the cap table was checked against `balanceOf` (false: replayed from the logs
    /// only, the endpoint keeping no state at the export's block).
    pub cap_table_against_state: bool,
}

impl Verdict {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    fn check(&mut self, what: &str, findings: Vec<String>) {
        let status = if findings.is_empty() {
            "ok".to_owned()
        } else {
            format!("{} finding(s)", findings.len())
        };
        self.checks.push((what.to_owned(), status));
        self.findings.extend(findings);
    }
}

fn rpc<T>(what: &str) -> impl FnOnce(T) -> Error
where
    T: std::fmt::Display,
{
    let what = what.to_owned();
    move |e| Error::Unavailable(format!("{what}: {e}"))
}

fn hex_of(v: &serde_json::Value) -> Result<Vec<u8>> {
    let s = v.as_str().unwrap_or("0x");
    hex::decode(s.trim_start_matches("0x"))
        .map_err(|_| Error::Unavailable("an answer that is not hex".into()))
}

/// The platform's contracts' code, against the creation code this build carries.
async fn code_findings(platform: &Platform, source: &RpcSource) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for c in platform.contracts() {
        let code = source
            .request_raw(
                "eth_getCode",
                serde_json::json!([c.deployed.address, "latest"]),
            )
            .await
            .map_err(rpc("eth_getCode"))?;
        if hex_of(&code)?.is_empty() {
            out.push(format!("{} at {} has no code", c.name, c.deployed.address));
            continue;
        }
        let block = source
            .request_raw(
                "eth_getBlockByNumber",
                serde_json::json!([format!("{:#x}", c.deployed.block), true]),
            )
            .await
            .map_err(rpc("eth_getBlockByNumber"))?;
        let mut created_from = None;
        for tx in block["transactions"].as_array().into_iter().flatten() {
            if !tx["to"].is_null() {
                continue;
            }
            let receipt = source
                .request_raw("eth_getTransactionReceipt", serde_json::json!([tx["hash"]]))
                .await
                .map_err(rpc("eth_getTransactionReceipt"))?;
            let made: Option<Address> = receipt["contractAddress"]
                .as_str()
                .and_then(|a| a.parse().ok());
            if made == Some(c.deployed.address) {
                created_from = Some(hex_of(&tx["input"])?);
                break;
            }
        }
        match created_from {
            None => out.push(format!(
                "{} at {}: no transaction of block {} created it",
                c.name, c.deployed.address, c.deployed.block
            )),
            Some(input) if !input.starts_with(c.creation_code) => out.push(format!(
                "{} at {} was not created from this build's {} artifact",
                c.name, c.deployed.address, c.name
            )),
            Some(_) => {}
        }
    }
    Ok(out)
}

fn to_entry(e: &ExportEntry) -> std::result::Result<Entry, String> {
    let bad = |what: &str| format!("entry {}: {what} does not read", e.id);
    Ok(Entry {
        id: EntryId::new(e.id),
        key: IdempotencyKey::parse(&e.key).map_err(|_| bad("its key"))?,
        effective_date: chrono::NaiveDate::parse_from_str(&e.date, "%Y-%m-%d")
            .map_err(|_| bad("its date"))?,
        description: e.description.clone(),
        source: e.source.parse::<Source>().map_err(|_| bad("its source"))?,
        status: EntryStatus::Posted,
        reverses: e.reverses.map(EntryId::new),
        postings: e
            .postings
            .iter()
            .map(|p| {
                let currency =
                    Currency::parse(&p.currency, p.scale).map_err(|_| bad("a currency"))?;
                Ok(Posting {
                    account: AccountId::new(p.account),
                    direction: match p.direction.as_str() {
                        "debit" => Direction::Debit,
                        "credit" => Direction::Credit,
                        _ => return Err(bad("a direction")),
                    },
                    amount: Amount::new(p.amount, currency).map_err(|_| bad("an amount"))?,
                })
            })
            .collect::<std::result::Result<_, String>>()?,
        content_hash: EntryHash(e.content_hash.0),
        chain: Some(ChainLink {
            seq: e.seq,
            prev_hash: EntryHash(e.prev_hash.0),
            hash: EntryHash(e.hash.0),
        }),
    })
}

/// Verifies `export` against the chain `source` reads (see the module); `progress` hears each
/// step as it starts.
pub async fn verify(
    export: &AuditExport,
    source: &RpcSource,
    progress: &mut dyn FnMut(&str),
) -> Result<Verdict> {
    verify_with(export, source, None, progress).await
}

/// [`verify`], and the anchors on the external anchor chain the export names, read from
/// `anchor_source` (without it they are reported as not checked).
pub async fn verify_with(
    export: &AuditExport,
    source: &RpcSource,
    anchor_source: Option<&RpcSource>,
    progress: &mut dyn FnMut(&str),
) -> Result<Verdict> {
    let mut v = Verdict::default();
    if export.format != FORMAT {
        return Err(Error::invalid("export", format!("not a {FORMAT} file")));
    }
    progress("chain");
    if source.chain_id() != export.chain_id {
        v.check(
            "chain",
            vec![format!(
                "the endpoint serves chain {}, the export is of chain {}",
                source.chain_id(),
                export.chain_id
            )],
        );
        return Ok(v);
    }
    v.check("chain", Vec::new());

    progress("platform contracts' code");
    v.check(
        "platform code",
        code_findings(&export.platform, source).await?,
    );

    progress("the property's contracts");
    let token: U256 = export
        .property
        .parse()
        .map_err(|_| Error::invalid("export", "a property id that is not a number"))?;
    let raw = source
        .call(
            export.block,
            export.platform.directory.address,
            PropertyDirectory::propertyCall { propertyId: token }
                .abi_encode()
                .into(),
        )
        .await
        .map_err(rpc("the directory"))?;
    let p = PropertyDirectory::propertyCall::abi_decode_returns(&raw)
        .map_err(|e| Error::Unavailable(format!("the directory's answer: {e}")))?;
    let mut on_chain: Vec<(Address, ContractKind)> = vec![
        (p.shares, ContractKind::Shares),
        (p.compliance, ContractKind::Compliance),
        (p.treasury, ContractKind::Treasury),
        (p.distributor, ContractKind::Distributor),
    ];
    on_chain.extend(p.offerings.iter().map(|a| (*a, ContractKind::Offering)));
    let exported: HashSet<Address> = export.contracts.iter().map(|c| c.address).collect();
    let named: HashSet<Address> = on_chain.iter().map(|c| c.0).collect();
    let mut findings = Vec::new();
    for a in named.difference(&exported) {
        findings.push(format!(
            "contract {a} of the property is missing from the export"
        ));
    }
    for a in exported.difference(&named) {
        findings.push(format!(
            "contract {a} in the export is not the property's on chain"
        ));
    }
    v.check("property contracts", findings);

    progress("events");
    let mut kinds: HashMap<Address, ContractKind> = on_chain.into_iter().collect();
    kinds.insert(export.platform.deed.address, ContractKind::Deed);
    let addresses: Vec<Address> = kinds.keys().copied().collect();
    let from = export.platform.start_block();
    let logs = source
        .logs(from, export.block, &addresses)
        .await
        .map_err(rpc("eth_getLogs"))?;
    let ours = |log: &RawLog| -> bool {
        match kinds.get(&log.address) {
            Some(ContractKind::Deed) => {
                let d = decode(ContractKind::Deed, log);
                serde_json::from_str::<serde_json::Value>(&d.json)
                    .ok()
                    .is_some_and(|j| j["tokenId"].as_str() == Some(export.property.as_str()))
            }
            Some(_) => true,
            None => false,
        }
    };
    let chain_logs: BTreeMap<(u64, u64), &RawLog> = logs
        .iter()
        .filter(|l| ours(l))
        .map(|l| ((l.block_number, l.log_index), l))
        .collect();
    let stored: BTreeMap<(u64, u64), &ExportEvent> = export
        .events
        .iter()
        .map(|e| ((e.block_number, e.log_index), e))
        .collect();
    let mut findings = Vec::new();
    for (pos, log) in &chain_logs {
        match stored.get(pos) {
            None => findings.push(format!(
                "event at block {} log {} (tx {:#x}) is on chain, not in the export",
                pos.0, pos.1, log.tx_hash
            )),
            Some(e)
                if e.address != log.address
                    || e.topics != log.topics
                    || e.data != log.data
                    || e.block_hash != log.block_hash
                    || e.tx_hash != log.tx_hash =>
            {
                findings.push(format!(
                    "event at block {} log {} differs from the chain's",
                    pos.0, pos.1
                ));
            }
            Some(_) => {}
        }
    }
    for (pos, e) in &stored {
        if !chain_logs.contains_key(pos) {
            findings.push(format!(
                "event at block {} log {} (tx {:#x}) is in the export, not on chain",
                pos.0, pos.1, e.tx_hash
            ));
        }
    }
    v.check("events", findings);

    progress("hash chain");
    let mut findings = Vec::new();
    let mut prev = B256::from(EntryHash::GENESIS.0);
    let mut expected = 1u64;
    let mut entries = Vec::with_capacity(export.entries.len());
    for e in &export.entries {
        let entry = match to_entry(e) {
            Ok(entry) => entry,
            Err(why) => {
                findings.push(why);
                continue;
            }
        };
        if e.seq != expected {
            findings.push(format!(
                "entry {} has sequence {}, {} was expected (entries missing or reordered)",
                e.id, e.seq, expected
            ));
        }
        if B256::from(entry.recompute_content_hash().0) != e.content_hash {
            findings.push(format!(
                "entry {} ({}): its content does not match its hash",
                e.id, e.key
            ));
        }
        if e.prev_hash != prev {
            findings.push(format!(
                "entry {} does not link to the entry before it",
                e.id
            ));
        }
        let linked = chain_hash(
            e.seq,
            &EntryHash(e.prev_hash.0),
            EntryId::new(e.id),
            &EntryHash(e.content_hash.0),
        );
        if B256::from(linked.0) != e.hash {
            findings.push(format!("entry {}: its chain hash does not match", e.id));
        }
        prev = e.hash;
        expected = e.seq + 1;
        entries.push(entry);
    }
    v.check("hash chain", findings);

    progress("entries booked from events");
    let by_tx: HashMap<(B256, u64), &RawLog> = chain_logs
        .values()
        .map(|l| ((l.tx_hash, l.log_index), *l))
        .collect();
    let accounts: HashSet<i64> = export.property_accounts.iter().copied().collect();
    let reversed: HashSet<EntryId> = entries.iter().filter_map(|e| e.reverses).collect();
    let currency = Currency::parse(&export.currency, u32::from(export.token_decimals))
        .map_err(|_| Error::invalid("export", "its currency"))?;
    let mut findings = Vec::new();
    for e in &entries {
        let Source::Chain {
            tx_hash, log_index, ..
        } = &e.source
        else {
            continue;
        };
        if !e
            .postings
            .iter()
            .any(|p| accounts.contains(&p.account.get()))
            || e.reverses.is_some()
            || reversed.contains(&e.id)
        {
            continue;
        }
        let Some(log) = by_tx.get(&(*tx_hash, *log_index)) else {
            findings.push(format!(
                "entry {} ({}) names event {tx_hash:#x}:{log_index}, which is not on chain",
                e.id.get(),
                e.key.as_str()
            ));
            continue;
        };
        let Some(kind) = kinds.get(&log.address) else {
            continue;
        };
        if !crate::chain_audit::books_its_event(e, *kind, log, export.token_decimals, currency)? {
            findings.push(format!(
                "entry {} ({}) books other amounts than its event",
                e.id.get(),
                e.key.as_str()
            ));
        }
    }
    v.check("entries", findings);

    progress("anchors");
    match export.platform.anchor {
        None => v.check(
            "anchors",
            vec![
                "the platform has no anchor contract: nothing proves the books' history".to_owned(),
            ],
        ),
        Some(anchor) => check_anchors(&mut v, "anchors", anchor, source, export).await?,
    }
    if let Some(ext) = export.external_anchor {
        progress("anchors on the external chain");
        match anchor_source {
            Some(s) if s.chain_id() != ext.chain_id => v.check(
                "external anchors",
                vec![format!(
                    "the anchor endpoint serves chain {}, not the external anchor chain {}",
                    s.chain_id(),
                    ext.chain_id
                )],
            ),
            Some(s) => check_anchors(&mut v, "external anchors", ext.contract, s, export).await?,
            None => v.checks.push((
                "external anchors".to_owned(),
                format!(
                    "not checked: the books are anchored on chain {} too; name its endpoint with --anchor-rpc-url",
                    ext.chain_id
                ),
            )),
        }
    }

    progress("cap table");
    let shares = p.shares;
    let mut balances: BTreeMap<Address, U256> = BTreeMap::new();
    for log in logs.iter().filter(|l| l.address == shares) {
        if log.topics.first() != Some(&PropertyShares::Transfer::SIGNATURE_HASH) {
            continue;
        }
        let data = alloy::primitives::LogData::new_unchecked(log.topics.clone(), log.data.clone());
        let Ok(t) = PropertyShares::Transfer::decode_log_data(&data) else {
            continue;
        };
        if !t.from.is_zero() {
            let b = balances.entry(t.from).or_default();
            *b = b.saturating_sub(t.value);
        }
        if !t.to.is_zero() {
            *balances.entry(t.to).or_default() += t.value;
        }
    }
    let mut findings = Vec::new();
    let mut against_state = true;
    for (holder, replayed) in &balances {
        let raw = source
            .call(
                export.block,
                shares,
                PropertyShares::balanceOfCall { account: *holder }
                    .abi_encode()
                    .into(),
            )
            .await;
        match raw {
            Ok(raw) => {
                let held = PropertyShares::balanceOfCall::abi_decode_returns(&raw)
                    .map_err(|e| Error::Unavailable(format!("balanceOf: {e}")))?;
                if held != *replayed {
                    findings.push(format!(
                        "{holder} holds {held} at block {}, the Transfer logs give {replayed}",
                        export.block
                    ));
                }
            }
            Err(_) => {
                against_state = false;
                break;
            }
        }
    }
    v.cap_table_against_state = against_state;
    v.check(
        if against_state {
            "cap table (balanceOf)"
        } else {
            "cap table (replayed from Transfer logs only)"
        },
        findings,
    );
    Ok(v)
}

/// Every anchor of `anchor` (read from `source`) against the export's entries, as check `what`,
/// with the unanchored tail.
async fn check_anchors(
    v: &mut Verdict,
    what: &str,
    anchor: propledger_contracts::deploy::Deployed,
    source: &RpcSource,
    export: &AuditExport,
) -> Result<()> {
    let mut findings = Vec::new();
    let head = source.head().await.map_err(rpc("the chain's head"))?;
    let logs = source
        .sparse_logs(anchor.block, head, &[anchor.address])
        .await
        .map_err(rpc("eth_getLogs"))?;
    let hashes: HashMap<u64, B256> = export.entries.iter().map(|e| (e.seq, e.hash)).collect();
    // The platform chain's findings read as before; the external chain's name it.
    let on = if what == "anchors" {
        String::new()
    } else {
        format!("{what}: ")
    };
    let mut last = 0u64;
    for log in logs {
        if log.topics.first() != Some(&LedgerAnchor::Anchored::SIGNATURE_HASH) {
            continue;
        }
        let data = alloy::primitives::LogData::new_unchecked(log.topics.clone(), log.data.clone());
        let Ok(a) = LedgerAnchor::Anchored::decode_log_data(&data) else {
            findings.push(format!(
                "an Anchored event in block {} does not decode",
                log.block_number
            ));
            continue;
        };
        last = last.max(a.entries);
        match hashes.get(&a.entries) {
            Some(h) if *h == a.headHash => {}
            Some(_) => findings.push(format!(
                "{on}anchor {} (block {}): the books' entry {} no longer ends in the anchored hash",
                a.index, log.block_number, a.entries
            )),
            None => findings.push(format!(
                "{on}anchor {} (block {}) covers {} entries; the export has no entry {}",
                a.index, log.block_number, a.entries, a.entries
            )),
        }
    }
    let total = export.entries.last().map_or(0, |e| e.seq);
    v.checks.push((
        format!("{on}unanchored tail"),
        format!(
            "{} entries after the last anchor",
            total.saturating_sub(last)
        ),
    ));
    v.check(what, findings);
    Ok(())
}
