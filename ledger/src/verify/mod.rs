//! The auditor's checks, recomputed from the stored entries and postings alone:
//! - [`Verifier::chain`] walks posted entries in chain order, recomputes every content hash and
//!   chain link, and names the first entry that does not match;
//! - [`Verifier::audit`] recomputes every balance from its postings and checks that each entry
//!   balances per currency and that all accounts sum to zero per currency.
//!
//! Both read one consistent snapshot, page by page, so memory stays bounded.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::account::{list_all, load_with_totals};
use crate::core::{
    AccountId, Amount, CurrencyCode, Direction, EntryHash, EntryId, EntryStatus, Totals, chain_hash,
};
use crate::entry::{ENTRY_COLUMNS, entry_header_from_row, load_postings};
use crate::error::{Error, Result};
use crate::store::{Ledger, PAGE_ROWS, Sql};

/// Why the chain breaks at an entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BreakReason {
    /// The entry's fields or postings no longer hash to its stored content hash.
    ContentAltered,
    /// Its stored previous-hash is not the previous posted entry's hash.
    PrevHashMismatch,
    /// Its stored chain hash is not the hash of its link.
    ChainHashMismatch,
    /// A sequence number is missing before this entry (an entry was removed or unposted).
    SequenceGap {
        /// The sequence number expected here.
        expected: u64,
    },
    /// The head row does not point at the last posted entry (entries removed from the end,
    /// or the head rewritten).
    HeadMismatch,
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::ContentAltered => f.write_str("content does not match its hash"),
            BreakReason::PrevHashMismatch => f.write_str("previous hash does not match"),
            BreakReason::ChainHashMismatch => f.write_str("chain hash does not match"),
            BreakReason::SequenceGap { expected } => write!(f, "sequence {expected} is missing"),
            BreakReason::HeadMismatch => f.write_str("head does not match the last entry"),
        }
    }
}

/// The first place the chain does not verify.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChainBreak {
    /// The first entry that does not match (`None` when the head itself is wrong).
    pub entry: Option<EntryId>,
    /// Its chain sequence number (or the head's).
    pub seq: u64,
    /// What is wrong.
    pub reason: BreakReason,
}

/// Outcome of [`Verifier::chain`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChainReport {
    /// Posted entries checked.
    pub entries_checked: u64,
    /// Sequence number of the head.
    pub head_seq: u64,
    /// Head hash: the value to anchor on chain.
    pub head_hash: EntryHash,
    /// The first break, if any.
    pub first_break: Option<ChainBreak>,
}

impl ChainReport {
    /// True when every link verified.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Outcome of [`Verifier::audit`].
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AuditReport {
    /// Entries checked (all statuses).
    pub entries_checked: u64,
    /// Accounts checked.
    pub accounts_checked: u64,
    /// Entries whose postings do not balance per currency.
    pub unbalanced_entries: Vec<EntryId>,
    /// Accounts whose stored totals differ from the sum of their postings.
    pub mismatched_accounts: Vec<AccountId>,
    /// Currencies in which the posted or pending totals over all accounts are not zero.
    pub nonzero_currencies: Vec<CurrencyCode>,
}

impl AuditReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.unbalanced_entries.is_empty()
            && self.mismatched_accounts.is_empty()
            && self.nonzero_currencies.is_empty()
    }
}

/// The checks of a [`Ledger`].
#[derive(Clone, Copy, Debug)]
pub struct Verifier<'a> {
    ledger: &'a Ledger,
}

impl<'a> Verifier<'a> {
    pub(crate) fn new(ledger: &'a Ledger) -> Self {
        Verifier { ledger }
    }

    /// The head of the hash chain as stored: how many posted entries it links, and the last
    /// one's chain hash (what an anchor records).
    pub async fn head(&self) -> Result<(u64, EntryHash)> {
        let mut tx = self.ledger.read().await?;
        let row = tx
            .fetch_one(Sql::new(
                "SELECT chain_seq, chain_hash FROM ledger_head WHERE id = 1",
            ))
            .await?;
        let seq = u64::try_from(row.int(0)?)
            .map_err(|_| Error::Corrupt("negative chain sequence".into()))?;
        Ok((seq, EntryHash::from_stored(&row.blob(1)?)?))
    }

    /// The stored chain hash of the posted entry with sequence number `seq`, if one has it.
    pub async fn hash_at(&self, seq: u64) -> Result<Option<EntryHash>> {
        let seq = i64::try_from(seq).map_err(|_| Error::Corrupt("sequence too large".into()))?;
        let mut tx = self.ledger.read().await?;
        let row = tx
            .fetch_optional(
                Sql::new("SELECT hash FROM ledger_entries WHERE chain_seq = $1").bind(seq),
            )
            .await?;
        row.map(|r| EntryHash::from_stored(&r.blob(0)?)).transpose()
    }

    /// Recomputes the hash chain and reports the first entry that does not match.
    pub async fn chain(&self) -> Result<ChainReport> {
        let mut tx = self.ledger.read().await?;
        let head_row = tx
            .fetch_one(Sql::new(
                "SELECT chain_seq, chain_hash FROM ledger_head WHERE id = 1",
            ))
            .await?;
        let head_seq = u64::try_from(head_row.int(0)?)
            .map_err(|_| Error::Corrupt("negative chain sequence".into()))?;
        let head_hash = EntryHash::from_stored(&head_row.blob(1)?)?;

        let mut prev = EntryHash::GENESIS;
        let mut expected_seq = 1u64;
        let mut checked = 0u64;
        let report = |checked, first_break| ChainReport {
            entries_checked: checked,
            head_seq,
            head_hash,
            first_break,
        };
        loop {
            let rows = tx
                .fetch_all(
                    Sql::assembled(format!(
                        "SELECT {ENTRY_COLUMNS} FROM ledger_entries e \
                         WHERE e.chain_seq >= ? ORDER BY e.chain_seq LIMIT ?"
                    ))
                    .bind(i64::try_from(expected_seq).unwrap_or(i64::MAX))
                    .bind(PAGE_ROWS),
                )
                .await?;
            if rows.is_empty() {
                break;
            }
            let headers = rows
                .iter()
                .map(entry_header_from_row)
                .collect::<Result<Vec<_>>>()?;
            let ids: Vec<EntryId> = headers.iter().map(|h| h.entry.id).collect();
            let mut postings = load_postings(&mut tx, &ids).await?;
            for h in headers {
                let mut entry = h.entry;
                entry.postings = postings.remove(&entry.id).unwrap_or_default();
                let Some(link) = entry.chain else {
                    return Err(Error::Corrupt(format!(
                        "posted entry {} has no link",
                        entry.id
                    )));
                };
                let at = |reason| {
                    Some(ChainBreak {
                        entry: Some(entry.id),
                        seq: link.seq,
                        reason,
                    })
                };
                if link.seq != expected_seq {
                    return Ok(report(
                        checked,
                        at(BreakReason::SequenceGap {
                            expected: expected_seq,
                        }),
                    ));
                }
                if entry.status != EntryStatus::Posted
                    || entry.recompute_content_hash() != entry.content_hash
                {
                    return Ok(report(checked, at(BreakReason::ContentAltered)));
                }
                if link.prev_hash != prev {
                    return Ok(report(checked, at(BreakReason::PrevHashMismatch)));
                }
                if chain_hash(link.seq, &prev, entry.id, &entry.content_hash) != link.hash {
                    return Ok(report(checked, at(BreakReason::ChainHashMismatch)));
                }
                prev = link.hash;
                expected_seq += 1;
                checked += 1;
            }
        }
        if head_seq != checked || head_hash != prev {
            return Ok(report(
                checked,
                Some(ChainBreak {
                    entry: None,
                    seq: head_seq,
                    reason: BreakReason::HeadMismatch,
                }),
            ));
        }
        Ok(report(checked, None))
    }

    /// Recomputes balances from postings and checks the double-entry invariants.
    pub async fn audit(&self) -> Result<AuditReport> {
        let mut tx = self.ledger.read().await?;
        let accounts = list_all(&mut tx).await?;
        let currency_of: HashMap<AccountId, _> =
            accounts.iter().map(|a| (a.id, a.currency)).collect();
        let mut recomputed: HashMap<AccountId, Totals> = accounts
            .iter()
            .map(|a| (a.id, Totals::zero(a.currency)))
            .collect();
        let mut report = AuditReport {
            accounts_checked: accounts.len() as u64,
            ..AuditReport::default()
        };

        let mut after = 0i64;
        loop {
            let rows = tx
                .fetch_all(
                    Sql::new(
                        "SELECT id, status FROM ledger_entries WHERE id > $1 ORDER BY id LIMIT $2",
                    )
                    .bind(after)
                    .bind(PAGE_ROWS),
                )
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.int(0)?;
            let mut status_of = HashMap::with_capacity(rows.len());
            for r in &rows {
                status_of.insert(
                    EntryId::new(r.int(0)?),
                    EntryStatus::parse_stored(&r.text(1)?)?,
                );
            }
            let ids: Vec<EntryId> = status_of.keys().copied().collect();
            let postings = load_postings(&mut tx, &ids).await?;
            let mut ids_sorted = ids;
            ids_sorted.sort_unstable();
            for id in ids_sorted {
                report.entries_checked += 1;
                let status = status_of[&id];
                let mut per_currency: BTreeMap<CurrencyCode, i128> = BTreeMap::new();
                for p in postings.get(&id).map(Vec::as_slice).unwrap_or_default() {
                    let signed = match p.direction {
                        Direction::Debit => p.amount.minor_units(),
                        Direction::Credit => -p.amount.minor_units(),
                    };
                    *per_currency.entry(p.amount.currency().code()).or_default() += signed;
                    let currency = currency_of.get(&p.account).copied();
                    match recomputed.get_mut(&p.account) {
                        Some(t) if currency == Some(p.amount.currency()) => {
                            t.add(p.direction, p.amount, status)?;
                        }
                        _ => report.mismatched_accounts.push(p.account),
                    }
                }
                if per_currency.values().any(|v| *v != 0) {
                    report.unbalanced_entries.push(id);
                }
            }
        }

        let ids: Vec<AccountId> = accounts.iter().map(|a| a.id).collect();
        let stored = load_with_totals(&mut tx, &ids).await?;
        let mut sums: BTreeMap<CurrencyCode, [i128; 2]> = BTreeMap::new();
        for a in &accounts {
            let r = recomputed[&a.id];
            if stored.get(&a.id).map(|(_, t)| *t) != Some(r) {
                report.mismatched_accounts.push(a.id);
            }
            let net = |d: Amount, c: Amount| d.minor_units() - c.minor_units();
            let s = sums.entry(a.currency.code()).or_default();
            s[0] += net(r.posted_debits, r.posted_credits);
            s[1] += net(r.pending_debits, r.pending_credits);
        }
        report.nonzero_currencies = sums
            .into_iter()
            .filter(|(_, s)| s[0] != 0 || s[1] != 0)
            .map(|(c, _)| c)
            .collect();
        report.mismatched_accounts.sort_unstable();
        report.mismatched_accounts.dedup();
        Ok(report)
    }
}
