//! Staging a commit: from a range's logs and headers to the unit of work that commits them,
//! in small named steps, and the in-memory view moved on as if it were committed (so that the
//! next commit can be staged while this one is applied).

use std::collections::{BTreeSet, HashMap, HashSet};

use alloy::primitives::Address;
use alloy::primitives::map::AddressMap;
use propledger_ledger::core::{Amount, EntryDraft, Finality, IdempotencyKey, Source};
use propledger_ledger::unit::{MAX_UNIT_ENTRIES, Statement, UnitOfWork};
use tracing::{debug, warn};

use super::{Indexer, Watched, date_of, event_key};
use crate::books::{self, Target};
use crate::decode::ContractKind;
use crate::error::{Error, Result};
use crate::source::{BlockHeader, RawLog};
use crate::store::{self, Booking, BookingStatus, ContractRow};

/// How many header requests are in flight when a commit needs the dates of many blocks.
const HEADER_CONCURRENCY: usize = 16;

/// A commit staged by [`Indexer::stage_commit`], to be applied.
pub(super) struct Staged {
    pub(super) unit: UnitOfWork,
    /// The last block it commits.
    pub(super) to: u64,
    /// The checkpoint it moves on from.
    pub(super) expected: u64,
}

/// The blocks a commit holds, once registrations in them are accounted for.
struct Range {
    to: u64,
    logs: Vec<RawLog>,
    headers: Vec<BlockHeader>,
    /// Every contract watched for this commit: the stored ones, those found ahead, and those
    /// registered in the range.
    watched: AddressMap<Watched>,
    /// Contracts registered in the range (not found ahead).
    added: Vec<(Address, Watched, u64)>,
    /// Contracts found ahead whose registration the range holds.
    registered: Vec<(Address, Watched, u64)>,
}

/// The entries of a commit and their bookings.
struct Entries {
    drafts: Vec<EntryDraft>,
    bookings: Vec<Booking>,
    /// Pending bookings, by block.
    pending: Vec<(u64, String)>,
}

impl Indexer {
    /// Prepares the commit of blocks `from..=to` (see [`Indexer::commit_range`]) and moves the
    /// in-memory view on as if it were committed. When applying it fails, the view must be read
    /// again ([`Indexer::reload_after`]). `prepared` is the events' load, made ahead by the
    /// backfill pipeline.
    pub(super) async fn stage_commit(
        &mut self,
        from: u64,
        to: u64,
        logs: Vec<RawLog>,
        headers: Vec<BlockHeader>,
        head: u64,
        prepared: Option<Vec<Statement>>,
    ) -> Result<Staged> {
        let range = self.registrations(to, logs, headers).await?;
        // Capital moves on a copy, kept only when the commit is staged.
        let mut capital = self.capital.clone();
        // Fee schedules are read afresh for every commit: one set since the last applies to
        // the blocks after the one it names.
        capital.set_fees(&self.ledger.fees().all().await?);
        let planned = plan_entries(&range, &mut capital);
        self.open_books(&range, &planned).await?;
        let timestamps = self.dates(&range, &planned).await?;
        let final_upto = head.saturating_sub(self.cfg.confirmations);
        let entries = self.entries(&range, planned, &timestamps, final_upto)?;
        if entries.drafts.len() > MAX_UNIT_ENTRIES {
            return Err(Error::BlockTooLarge {
                block: range.to,
                entries: entries.drafts.len(),
                max: MAX_UNIT_ENTRIES,
            });
        }

        let mut unit = UnitOfWork::new();
        let posted_blocks = self.finalize(&mut unit, final_upto);
        for draft in &entries.drafts {
            unit.record(draft.clone());
        }
        store::insert_bookings(&mut unit, &entries.bookings)?;
        let events = match prepared {
            Some(events) if range.added.is_empty() => events,
            // Contracts registered in the range: their events were not known when the rows
            // were prepared.
            _ => {
                let kinds: AddressMap<ContractKind> =
                    range.watched.iter().map(|(a, w)| (*a, w.kind)).collect();
                store::events(&kinds, &range.logs)?.into_iter().collect()
            }
        };
        // The events' rows are the bulk of a commit and no other writer's: they go in before
        // the writers' lock, overlapping the commit before, unless the checkpoint has already
        // passed this commit's first block (a stale indexer, turned away before it inserts
        // rows another one committed). The guard under the lock still decides.
        unit.precondition(store::not_passed(self.next_block)?);
        for load in events {
            unit.before_lock(load);
        }
        let contracts: Vec<ContractRow> = range
            .added
            .iter()
            .chain(&range.registered)
            .map(|(a, w, block)| ContractRow {
                address: *a,
                kind: w.kind,
                property: w.property.clone(),
                added_block: *block,
            })
            .collect();
        store::insert_contracts(&mut unit, &contracts)?;
        let keep_from = range
            .to
            .saturating_sub(self.cfg.reorg_window.saturating_mul(2));
        store::store_blocks(&mut unit, &range.headers, keep_from)?;
        unit.guard(store::advance_checkpoint(
            self.next_block,
            range.to + 1,
            head,
        )?);
        let (expected, to) = (self.next_block, range.to);
        debug!(from, to, events = range.logs.len(), "staged");
        self.move_view(range, entries, &posted_blocks, keep_from);
        self.capital = capital;
        Ok(Staged { unit, to, expected })
    }

    /// Step 1: contracts registered in the range. The commit stops at the block of the first
    /// registration and takes the new contracts' events up to it (their history before
    /// registration included); the blocks after it are read again, with the new contracts
    /// watched, by the next step.
    async fn registrations(
        &mut self,
        to: u64,
        mut logs: Vec<RawLog>,
        mut headers: Vec<BlockHeader>,
    ) -> Result<Range> {
        let mut watched = self.contracts.clone();
        watched.extend(self.ahead.iter().map(|(a, (w, _))| (*a, w.clone())));
        let mut added: Vec<(Address, Watched, u64)> = Vec::new();
        let mut to = to;
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
        Ok(Range {
            to,
            logs,
            headers,
            watched,
            added,
            registered,
        })
    }

    /// Step 3: the properties' charts of the new contracts, and the accounts the entries need
    /// that are not open yet, opened together.
    async fn open_books(&mut self, range: &Range, planned: &[(usize, books::Plan)]) -> Result<()> {
        for (_, w, _) in range.added.iter().chain(&range.registered) {
            if let Some(p) = &w.property {
                self.books
                    .open_property(&self.ledger, self.currency, p)
                    .await?;
            }
        }
        let targets: Vec<(String, Target)> = planned
            .iter()
            .filter_map(|(i, plan)| {
                let property = range
                    .watched
                    .get(&range.logs[*i].address)?
                    .property
                    .clone()?;
                Some(
                    plan.lines
                        .iter()
                        .map(move |l| (property.clone(), l.target.clone())),
                )
            })
            .flatten()
            .collect();
        self.books.open(&self.ledger, self.currency, targets).await
    }

    /// Step 4: the timestamps of the blocks with entries (their effective dates): from the
    /// headers and logs at hand, the others read, several at a time.
    async fn dates(
        &self,
        range: &Range,
        planned: &[(usize, books::Plan)],
    ) -> Result<HashMap<u64, u64>> {
        use futures_util::{StreamExt, TryStreamExt};
        let mut timestamps: HashMap<u64, u64> = range
            .headers
            .iter()
            .map(|h| (h.number, h.timestamp))
            .collect();
        for (i, _) in planned {
            let l = &range.logs[*i];
            if let Some(ts) = l.block_timestamp {
                timestamps.entry(l.block_number).or_insert(ts);
            }
        }
        let missing: BTreeSet<u64> = planned
            .iter()
            .map(|(i, _)| range.logs[*i].block_number)
            .filter(|n| !timestamps.contains_key(n))
            .collect();
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
        Ok(timestamps)
    }

    /// Step 5: the entries the events make (posted when final), and their bookings. An event
    /// whose amount does not convert exactly is stored but not booked (reconciliation shows
    /// the difference).
    fn entries(
        &self,
        range: &Range,
        planned: Vec<(usize, books::Plan)>,
        timestamps: &HashMap<u64, u64>,
        final_upto: u64,
    ) -> Result<Entries> {
        let mut out = Entries {
            drafts: Vec::with_capacity(planned.len()),
            bookings: Vec::with_capacity(planned.len()),
            pending: Vec::new(),
        };
        for (i, plan) in planned {
            let log = &range.logs[i];
            let Some(property) = range
                .watched
                .get(&log.address)
                .and_then(|w| w.property.clone())
            else {
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
            let timestamp = timestamps.get(&log.block_number).copied().ok_or_else(|| {
                Error::Internal(format!("no timestamp for block {}", log.block_number))
            })?;
            let mut builder = EntryDraft::builder(
                IdempotencyKey::parse(&key)?,
                date_of(timestamp)?,
                Source::chain(self.chain_id, log.tx_hash, log.log_index),
            )
            .description(&plan.description)
            .finality(finality);
            let mut refused = None;
            for line in &plan.lines {
                let account = self.books.account(&property, &line.target)?;
                match Amount::from_token_units(line.amount, self.token_decimals, self.currency) {
                    Ok(amount) => builder = builder.posting(account, line.direction, amount),
                    Err(e) => refused = Some(e),
                }
            }
            let draft = match refused.map_or_else(|| builder.build(), Err) {
                Ok(d) => d,
                Err(e) => {
                    warn!(block = log.block_number, log_index = log.log_index, error = %e,
                        "event not booked");
                    continue;
                }
            };
            out.drafts.push(draft);
            let status = match finality {
                Finality::Posted => BookingStatus::Posted,
                Finality::Pending => BookingStatus::Pending,
            };
            out.bookings.push(Booking {
                key: key.clone(),
                block: log.block_number,
                log_index: log.log_index,
                status,
                reference: plan.reference.map(|r| format!("{r:#x}")),
            });
            if status == BookingStatus::Pending {
                out.pending.push((log.block_number, key));
            }
        }
        Ok(out)
    }

    /// Step 7: the view as the commit leaves it.
    fn move_view(&mut self, range: Range, entries: Entries, posted: &[u64], keep_from: u64) {
        self.next_block = range.to + 1;
        self.forget_pending(posted);
        for (block, key) in entries.pending {
            self.pending.entry(block).or_default().push(key);
        }
        for (a, w, _) in range.added.into_iter().chain(range.registered) {
            self.ahead.remove(&a);
            self.contracts.insert(a, w);
        }
        self.window.extend(&range.headers);
        self.window.keep_from(keep_from);
    }
}

/// Step 2: the events that make entries, with their plans, taken in chain order by `capital`.
fn plan_entries(range: &Range, capital: &mut books::Capital) -> Vec<(usize, books::Plan)> {
    range
        .logs
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let w = range.watched.get(&l.address)?;
            capital
                .apply(w.kind, w.property.as_deref(), l)
                .map(|p| (i, p))
        })
        .collect()
}
