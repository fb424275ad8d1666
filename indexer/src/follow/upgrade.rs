//! Bringing books kept in an earlier model to this build's ([`store::BOOKS_MODEL`]).
//!
//! Model 1 booked capital per buyer wallet and moved none on share transfers. Model 2 books it
//! per registry investor and carries it with the shares ([`crate::books`]). The move never
//! edits an entry: the stored events are replayed in chain order to book capital again, share
//! transfers between investors included, under keys of their own (`<event key>~books2`); then
//! every live entry of a capital event of the earlier model (offering proceeds, refunds) is
//! retracted as a reorg would retract it (a pending one voided, a posted one reversed, dated
//! like the event). The new entries go first so that no cash account dips below zero on the
//! way (a reversal of offering proceeds takes treasury cash back out). Two units of work: the
//! first records the new entries (a retry finds them by key and records nothing twice); the
//! second retracts the old ones, records the bookings and moves the model, guarded by that
//! move, so it happens once whichever indexer gets there first.

use std::collections::HashMap;

use propledger_ledger::Ledger;
use propledger_ledger::core::{Amount, Currency, EntryDraft, Finality, IdempotencyKey, Source};
use propledger_ledger::unit::{MAX_UNIT_ENTRIES, Retraction, UnitOfWork};
use tracing::{info, warn};

use super::accounts::Books;
use super::{date_of, event_key, retraction_key};
use crate::books::{Capital, Target};
use crate::error::{Error, Result};
use crate::source::RpcSource;
use crate::store::{self, Booking, BookingStatus};

/// What [`upgrade_books`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BooksUpgrade {
    /// Entries of the earlier model retracted.
    pub retracted: usize,
    /// Entries booked in this build's model.
    pub booked: usize,
}

/// Moves the books of the index in `ledger` to this build's model, when they are kept in an
/// earlier one; `None` when there was nothing to do (a new index, books already moved, or
/// another indexer moving them first). Block dates come from the stored window and, for older
/// blocks, from `source`; entries of blocks deeper than `confirmations` under the last head
/// seen are posted, the others pending.
pub async fn upgrade_books(
    ledger: &Ledger,
    confirmations: u64,
    source: Option<&RpcSource>,
) -> Result<Option<BooksUpgrade>> {
    let model = match store::books_model(ledger).await? {
        Some(m) if m < store::BOOKS_MODEL => m,
        _ => return Ok(None),
    };
    let cp = store::checkpoint(ledger)
        .await?
        .ok_or_else(|| Error::CorruptStore("a books model without a checkpoint".into()))?;
    let currency = Currency::parse(&cp.currency, u32::from(cp.token_decimals))?;
    let final_upto = cp
        .head_block
        .unwrap_or(cp.next_block.saturating_sub(1))
        .saturating_sub(confirmations);

    let bookings = store::bookings(ledger).await?;
    let live: HashMap<(u64, u64), &Booking> = bookings
        .iter()
        .filter(|b| b.status != BookingStatus::Retracted)
        .map(|b| ((b.block, b.log_index), b))
        .collect();

    // The capital events replayed in chain order, with the entries this model makes.
    let mut capital = Capital::default();
    capital.set_fees(&ledger.fees().all().await?);
    let mut planned = Vec::new();
    for e in store::capital_events(ledger).await? {
        let Some(plan) = capital.apply(e.kind, e.property.as_deref(), &e.log) else {
            continue;
        };
        if !plan
            .lines
            .iter()
            .any(|l| matches!(l.target, Target::InvestorCapital(_)))
        {
            continue;
        }
        let Some(property) = e.property else { continue };
        planned.push((e.log, property, plan));
    }

    let mut dates: HashMap<u64, u64> = store::block_timestamps(ledger).await?.into_iter().collect();
    for (log, _, _) in &planned {
        if dates.contains_key(&log.block_number) {
            continue;
        }
        let header = match source {
            Some(s) => s.header(log.block_number).await?,
            None => None,
        };
        let h = header.ok_or(Error::Source(crate::source::SourceError::MissingBlock(
            log.block_number,
        )))?;
        dates.insert(log.block_number, h.timestamp);
    }

    let mut books = Books::default();
    let targets = planned
        .iter()
        .flat_map(|(_, p, plan)| plan.lines.iter().map(|l| (p.clone(), l.target.clone())))
        .collect();
    books.open(ledger, currency, targets).await?;

    let mut records = UnitOfWork::new();
    let mut unit = UnitOfWork::new();
    let mut retracted = Vec::new();
    let mut new_bookings = Vec::new();
    for (log, property, plan) in planned {
        let date = date_of(
            *dates
                .get(&log.block_number)
                .ok_or_else(|| Error::Internal("no block date".into()))?,
        )?;
        let old = live.get(&(log.block_number, log.log_index)).copied();
        if let Some(old) = old {
            unit.retract(Retraction {
                key: IdempotencyKey::parse(&old.key)?,
                reversal_key: IdempotencyKey::parse(&retraction_key(&old.key))?,
                effective_date: date,
                description: "Capital booked again per investor".to_owned(),
                source: Source::operator("books-upgrade")?,
            });
            retracted.push(old.key.clone());
        }
        let status = match old.map(|b| b.status) {
            Some(s) => s,
            None if log.block_number <= final_upto => BookingStatus::Posted,
            None => BookingStatus::Pending,
        };
        let key = format!(
            "{}~books{}",
            event_key(cp.chain_id, &log),
            store::BOOKS_MODEL
        );
        let finality = match status {
            BookingStatus::Pending => Finality::Pending,
            _ => Finality::Posted,
        };
        let mut builder = EntryDraft::builder(
            IdempotencyKey::parse(&key)?,
            date,
            Source::chain(cp.chain_id, log.tx_hash, log.log_index),
        )
        .description(&plan.description)
        .finality(finality);
        let mut refused = None;
        for line in &plan.lines {
            let account = books.account(&property, &line.target)?;
            match Amount::from_token_units(line.amount, cp.token_decimals, currency) {
                Ok(amount) => builder = builder.posting(account, line.direction, amount),
                Err(e) => refused = Some(e),
            }
        }
        match refused.map_or_else(|| builder.build(), Err) {
            Ok(draft) => {
                records.record(draft);
            }
            Err(e) => {
                warn!(block = log.block_number, log_index = log.log_index, error = %e,
                    "event not booked");
                continue;
            }
        }
        new_bookings.push(Booking {
            key,
            block: log.block_number,
            log_index: log.log_index,
            status: match status {
                BookingStatus::Pending => BookingStatus::Pending,
                _ => BookingStatus::Posted,
            },
            reference: plan.reference.map(|r| format!("{r:#x}")),
        });
    }
    for u in [&records, &unit] {
        if u.entries() > MAX_UNIT_ENTRIES {
            return Err(Error::Config(format!(
                "moving the books to model {} takes {} entries in one step, more than a unit of \
                 work's {}",
                store::BOOKS_MODEL,
                u.entries(),
                MAX_UNIT_ENTRIES
            )));
        }
    }
    // The new entries, while the books are still of the earlier model.
    records.guard(store::books_model_is(model));
    match ledger.apply(records).await {
        Ok(_) => {}
        Err(propledger_ledger::Error::GuardFailed { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    if !retracted.is_empty() {
        store::retract_bookings(&mut unit, &retracted);
    }
    store::insert_bookings(&mut unit, &new_bookings)?;
    unit.guard(store::books_model_upgrade(model));
    match ledger.apply(unit).await {
        Ok(_) => {}
        Err(propledger_ledger::Error::GuardFailed { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let done = BooksUpgrade {
        retracted: retracted.len(),
        booked: new_bookings.len(),
    };
    info!(
        from = model,
        to = store::BOOKS_MODEL,
        retracted = done.retracted,
        booked = done.booked,
        "books moved to the investor capital model"
    );
    Ok(Some(done))
}
