//! The backfill pass: log chunks fetched ahead and prepared (decoded, their rows built, their
//! headers read) in tasks of their own, commits staged in order and applied several at a time.
//!
//! ```text
//! source chunks ──▶ prepare (tasks, PREPARE_AHEAD) ──▶ channel ──▶ stage ──▶ begin ──▶ finish (tasks, in order)
//! ```
//!
//! Each commit begins (on PostgreSQL its events go in before the writers' lock, on a
//! connection of its own) as soon as it is staged, and finishes, taking the lock, once the one
//! before it has. The ledger bounds how many units are begun and not finished
//! ([`propledger_ledger::Ledger::begin`]); beginning them in order keeps the earliest always
//! able to finish.

use std::collections::VecDeque;
use std::sync::Arc;

use alloy::primitives::Address;
use alloy::primitives::map::AddressMap;
use propledger_ledger::unit::Statement;
use tokio::sync::{mpsc, oneshot};

use super::{Budget, Indexer, Step, settled};
use crate::books;
use crate::decode::ContractKind;
use crate::error::{Error, Result};
use crate::source::{BlockHeader, LogChunk, RawLog, RpcSource, SourceError};
use crate::store;

/// Backfill chunks prepared at once (decoded, their rows built, their headers read).
const PREPARE_AHEAD: usize = 2;

/// Backfill commits in flight at once: one finishing, the others' events going in.
const COMMITS_IN_FLIGHT: usize = 3;

/// Whole blocks of a backfill chunk with their rows prepared.
struct Group {
    from: u64,
    to: u64,
    /// Whether the blocks are in the reorg window (then `headers` has every block).
    window: bool,
    logs: Vec<RawLog>,
    /// Every block's header in the window; the last block's otherwise.
    headers: Vec<BlockHeader>,
    /// Entries the logs make (at most), for the commit's budget.
    entries: usize,
    /// The loads of the events' rows (one per prepared group joined into this one).
    events: Vec<Statement>,
}

impl Group {
    /// Takes `next`'s blocks into this group (they follow it).
    fn join(&mut self, next: Group) {
        self.to = next.to;
        self.logs.extend(next.logs);
        self.entries += next.entries;
        self.events.extend(next.events);
        if self.window {
            self.headers.extend(next.headers);
        } else {
            self.headers = next.headers;
        }
    }
}

/// A staged commit being finished in a task of its own.
struct InFlight {
    task: AbortOnDrop<std::result::Result<(), Finish>>,
    expected: u64,
}

/// Why a commit's task did not finish it.
enum Finish {
    /// The ledger refused or failed.
    Ledger(propledger_ledger::Error),
    /// The commit before it did not finish (its error is the one reported).
    Before,
}

impl InFlight {
    /// Waits for the commit to be over; see [`settled`].
    async fn settle(self) -> Result<()> {
        let InFlight { task, expected } = self;
        match task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Finish::Ledger(e))) => settled(Err(e), expected),
            Ok(Err(Finish::Before)) => {
                Err(Error::TaskFailed("the commit before did not finish".into()))
            }
            Err(e) => Err(Error::TaskFailed(format!("commit task: {e}"))),
        }
    }
}

impl Indexer {
    /// A backfill pass from the checkpoint to `head`; blocks up to `safe_to` are final.
    pub(super) async fn backfill(&mut self, safe_to: u64, head: u64) -> Result<Step> {
        let from = self.next_block;
        self.find_registrations(from, safe_to).await?;
        let kinds = self.kinds();
        let mut addresses: Vec<Address> = kinds.keys().copied().collect();
        addresses.sort();
        let known = kinds.len();
        let budget = self.budget();
        // Fetching, decoding and preparing the rows run ahead of the commits, in another task;
        // the channel bounds how far.
        let (tx, mut rx) = mpsc::channel::<Result<Group>>(self.cfg.source.concurrency.max(1));
        // The stream runs to the head: the blocks of the reorg window come last, with every
        // header, checked as following checks them. A registration changes the density of logs
        // from its block on.
        let breaks: Vec<u64> = self.ahead.values().map(|(_, block)| *block).collect();
        let stream = self
            .source
            .log_chunks_with_breaks(from, head, addresses, breaks);
        let source = self.source.clone();
        let kinds = Arc::new(kinds);
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
                        budget,
                    )))
                })
                .buffered(PREPARE_AHEAD);
            let mut prepared = std::pin::pin!(prepared);
            while let Some(groups) = prepared.next().await {
                let groups = groups
                    .unwrap_or_else(|e| vec![Err(Error::TaskFailed(format!("prepare task: {e}")))]);
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
        let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(COMMITS_IN_FLIGHT);
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
                // Groups that are already waiting join this commit, within its budget: when
                // storing is slower than reading, commits grow and their fixed cost shrinks.
                while g.logs.len() < budget.events {
                    match rx.try_recv() {
                        Ok(Ok(next))
                            if g.logs.len() + next.logs.len() <= budget.events
                                && g.entries + next.entries <= budget.entries
                                && g.window == next.window =>
                        {
                            g.join(next);
                        }
                        Ok(Ok(next)) => {
                            carried = Some(next);
                            break;
                        }
                        Ok(Err(e)) => return Err(e),
                        Err(_) => break,
                    }
                }
                if g.window {
                    let linked = self.window.check(g.from, &g.headers) == super::Link::Extends
                        && super::window::logs_match(&g.headers, &g.logs);
                    if !linked {
                        // The chain moved under the window while it was read: what is committed
                        // stays, and the next step follows from there (finding the fork, if
                        // any).
                        break;
                    }
                }
                let staged = self
                    .stage_commit(g.from, g.to, g.logs, g.headers, head, Some(g.events))
                    .await?;
                while in_flight.len() >= COMMITS_IN_FLIGHT {
                    if let Some(oldest) = in_flight.pop_front() {
                        oldest.settle().await?;
                    }
                }
                let begun = match self.ledger.begin(staged.unit).await {
                    Ok(begun) => begun,
                    Err(e) => return settled(Err(e), staged.expected),
                };
                let (finished, finishes) = oneshot::channel();
                let after = last_finished.replace(finishes);
                in_flight.push_back(InFlight {
                    task: AbortOnDrop(tokio::spawn(async move {
                        if let Some(after) = after
                            && after.await.is_err()
                        {
                            // The commit before failed and this one rolls back.
                            return Err(Finish::Before);
                        }
                        begun.finish().await.map_err(Finish::Ledger)?;
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
}

/// Whether `log` makes a ledger entry (at most: an event of a contract with no property, or
/// whose amount does not convert, makes none).
fn makes_entry(kinds: &AddressMap<ContractKind>, log: &RawLog) -> bool {
    kinds
        .get(&log.address)
        .is_some_and(|kind| books::may_book(*kind, log))
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

/// One commit's share of a chunk: its first and last block, its logs and the entries they make.
pub(crate) type Packed = (u64, u64, Vec<RawLog>, usize);

/// Blocks `from..=to` packed into commits of whole blocks within `budget`, in order: a commit
/// closes once it holds `budget.events` events, and before a block whose entries would take it
/// past `budget.entries`. A block that alone makes more entries than that is refused.
/// Returns each commit's first and last block, its logs and the entries they make.
pub(crate) fn pack(
    chunk: LogChunk,
    kinds: &AddressMap<ContractKind>,
    budget: Budget,
) -> Result<Vec<Packed>> {
    let mut out = Vec::new();
    let mut from = chunk.from;
    let mut current: Vec<RawLog> = Vec::new();
    let mut entries = 0usize;
    let mut logs = chunk.logs.into_iter().peekable();
    while let Some(first) = logs.next() {
        // One block's logs.
        let block = first.block_number;
        let mut block_logs = vec![first];
        while let Some(next) = logs.next_if(|l| l.block_number == block) {
            block_logs.push(next);
        }
        let block_entries = block_logs.iter().filter(|l| makes_entry(kinds, l)).count();
        if block_entries > budget.entries {
            return Err(Error::BlockTooLarge {
                block,
                entries: block_entries,
                max: budget.entries,
            });
        }
        if !current.is_empty()
            && (current.len() >= budget.events || entries + block_entries > budget.entries)
        {
            out.push((from, block - 1, std::mem::take(&mut current), entries));
            from = block;
            entries = 0;
        }
        current.extend(block_logs);
        entries += block_entries;
    }
    out.push((from, chunk.to, current, entries));
    Ok(out)
}

/// The last block of `from..=to` that one commit takes within `budget`, given the range's
/// logs.
pub(crate) fn fit(
    from: u64,
    to: u64,
    logs: &[RawLog],
    kinds: &AddressMap<ContractKind>,
    budget: Budget,
) -> Result<u64> {
    let chunk = LogChunk {
        from,
        to,
        logs: logs.to_vec(),
    };
    Ok(pack(chunk, kinds, budget)?
        .first()
        .map_or(to, |(_, last, _, _)| *last))
}

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
    chunk: std::result::Result<LogChunk, SourceError>,
    kinds: Arc<AddressMap<ContractKind>>,
    source: RpcSource,
    safe_to: u64,
    budget: Budget,
) -> Vec<Result<Group>> {
    let chunk = match chunk {
        Ok(chunk) => chunk,
        Err(e) => return vec![Err(e.into())],
    };
    let mut groups = Vec::new();
    for part in split_at(chunk, safe_to) {
        match pack(part, &kinds, budget) {
            Ok(packed) => groups.extend(packed),
            Err(e) => return vec![Err(e)],
        }
    }
    // Headers are asked for at once, while the rows are prepared.
    let headers: Vec<Option<AbortOnDrop<_>>> = groups
        .iter()
        .map(|(from, to, _, _)| {
            let (source, from, to) = (source.clone(), *from, *to);
            if from > safe_to {
                Some(AbortOnDrop(tokio::spawn(async move {
                    source.headers(from, to).await
                })))
            } else if to == safe_to {
                Some(AbortOnDrop(tokio::spawn(async move {
                    match source.header(to).await? {
                        Some(h) => Ok(vec![h]),
                        None => Err(SourceError::MissingBlock(to)),
                    }
                })))
            } else {
                None
            }
        })
        .collect();
    let mut out = Vec::with_capacity(groups.len());
    for ((from, to, logs, entries), header) in groups.into_iter().zip(headers) {
        let events = store::events(&kinds, &logs);
        let headers = match header {
            None => Ok(Vec::new()),
            Some(task) => match task.await {
                Ok(Ok(h)) => Ok(h),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(Error::TaskFailed(format!("header task: {e}"))),
            },
        };
        let group = headers.and_then(|headers| {
            Ok(Group {
                from,
                to,
                window: from > safe_to,
                logs,
                headers,
                entries,
                events: events?.into_iter().collect(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{B256, Bytes, U256};
    use alloy::sol_types::SolEvent;
    use propledger_contracts::PropertyTreasury;

    /// A treasury `Deposited` (a booking event) or a plain log, in block `block`.
    fn log(block: u64, index: u64, books: bool) -> RawLog {
        let treasury = Address::repeat_byte(7);
        let (address, topics, data) = if books {
            let e = PropertyTreasury::Deposited {
                from: Address::repeat_byte(1),
                amount: U256::from(5),
                kind: 0,
                r#ref: B256::ZERO,
            };
            let data = e.encode_log_data();
            (treasury, data.topics().to_vec(), data.data.clone())
        } else {
            (
                Address::repeat_byte(8),
                vec![B256::repeat_byte(3)],
                Bytes::new(),
            )
        };
        RawLog {
            block_number: block,
            block_hash: B256::repeat_byte(1),
            block_timestamp: None,
            tx_hash: B256::repeat_byte(2),
            tx_index: 0,
            log_index: index,
            address,
            topics,
            data,
        }
    }

    fn kinds() -> AddressMap<ContractKind> {
        [
            (Address::repeat_byte(7), ContractKind::Treasury),
            (Address::repeat_byte(8), ContractKind::Shares),
        ]
        .into_iter()
        .collect()
    }

    fn blocks(spec: &[(u64, usize, usize)]) -> Vec<RawLog> {
        // (block, booking events, other events)
        let mut out = Vec::new();
        for (block, booked, other) in spec {
            let mut i = 0;
            for _ in 0..*booked {
                out.push(log(*block, i, true));
                i += 1;
            }
            for _ in 0..*other {
                out.push(log(*block, i, false));
                i += 1;
            }
        }
        out
    }

    #[test]
    fn commits_never_make_more_entries_than_one_unit_takes() {
        let logs = blocks(&[(10, 3, 1), (11, 2, 0), (12, 4, 5), (14, 1, 0)]);
        let chunk = LogChunk {
            from: 10,
            to: 15,
            logs,
        };
        let budget = Budget {
            events: 1_000,
            entries: 5,
        };
        let packed = pack(chunk, &kinds(), budget).unwrap();
        let shape: Vec<(u64, u64, usize)> =
            packed.iter().map(|(f, t, _, e)| (*f, *t, *e)).collect();
        assert_eq!(shape, vec![(10, 11, 5), (12, 15, 5)]);
        for (from, to, logs, _) in &packed {
            assert!(logs.iter().all(|l| (*from..=*to).contains(&l.block_number)));
        }
        assert_eq!(
            fit(10, 15, &blocks(&[(10, 3, 1), (11, 3, 0)]), &kinds(), budget).unwrap(),
            10
        );
        assert_eq!(fit(10, 15, &[], &kinds(), budget).unwrap(), 15);
    }

    #[test]
    fn the_event_limit_stays_soft_and_whole_blocks_stay_whole() {
        let chunk = LogChunk {
            from: 1,
            to: 3,
            logs: blocks(&[(1, 0, 3), (2, 0, 3), (3, 0, 1)]),
        };
        let budget = Budget {
            events: 2,
            entries: 100,
        };
        let shape: Vec<(u64, u64)> = pack(chunk, &kinds(), budget)
            .unwrap()
            .iter()
            .map(|(f, t, _, _)| (*f, *t))
            .collect();
        assert_eq!(shape, vec![(1, 1), (2, 2), (3, 3)]);
    }

    #[test]
    fn a_block_with_more_entries_than_a_unit_takes_is_refused_not_retried() {
        let chunk = LogChunk {
            from: 1,
            to: 2,
            logs: blocks(&[(1, 1, 0), (2, 6, 0)]),
        };
        let budget = Budget {
            events: 100,
            entries: 5,
        };
        match pack(chunk, &kinds(), budget) {
            Err(
                e @ Error::BlockTooLarge {
                    block: 2,
                    entries: 6,
                    max: 5,
                },
            ) => {
                assert!(e.is_fatal())
            }
            other => panic!("expected the block to be refused, got {other:?}"),
        }
    }
}
