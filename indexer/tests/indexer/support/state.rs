//! What an index holds, in a form two indexes can be compared by: the stored events, the live
//! entries booked from events (not retracted), every account's balances, the watched contracts
//! and the cap table. Accounts are named by code and dimensions, since ids depend on the order
//! accounts were opened in.

use std::collections::BTreeMap;

use alloy::primitives::Address;
use propledger_indexer::audit::cap_table;
use propledger_ledger::Ledger;
use propledger_ledger::account::AccountFilter;
use propledger_ledger::core::AccountId;

use super::anvil::TestResult;
use super::db::{events as stored_events, next_block as checkpoint, select};

/// The comparable content of an index.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct IndexState {
    pub(crate) next_block: i64,
    pub(crate) events: Vec<String>,
    pub(crate) entries: Vec<String>,
    pub(crate) balances: BTreeMap<String, String>,
    pub(crate) contracts: Vec<String>,
    pub(crate) cap_table: Vec<String>,
}

fn hex(b: &[u8]) -> String {
    alloy::hex::encode(b)
}

/// Reads the state of the index in `ledger`'s database; the cap table of `shares` at the last
/// indexed block.
pub(crate) async fn index_state(ledger: &Ledger, shares: Address) -> TestResult<IndexState> {
    let names: BTreeMap<AccountId, String> = ledger
        .accounts()
        .list(&AccountFilter::default())
        .await?
        .into_iter()
        .map(|a| (a.id, format!("{}{:?}", a.code.as_str(), a.dimensions)))
        .collect();
    let next_block = i64::try_from(checkpoint(ledger).await?)?;
    let events = stored_events(ledger)
        .await?
        .into_iter()
        .map(|r| {
            format!(
                "{}/{} {} {} {} {} {} {} {} {} {}",
                r.0,
                r.1,
                hex(&r.2),
                hex(&r.3),
                r.4,
                hex(&r.5),
                hex(&r.6),
                hex(&r.7),
                r.8,
                r.9,
                r.10
            )
        })
        .collect();
    let rows: Vec<(i64, i64, i64, Option<String>)> = select(
        ledger,
        "SELECT e.id, b.block_number, b.log_index, b.reference FROM idx_bookings b \
         JOIN ledger_entries e ON e.idempotency_key = b.entry_key \
         WHERE b.status <> 'retracted' ORDER BY b.block_number, b.log_index",
    )
    .await?;
    let mut entries = Vec::new();
    for (id, block, log_index, reference) in rows {
        let entry = ledger
            .entries()
            .get(propledger_ledger::core::EntryId::new(id))
            .await?;
        let postings: Vec<String> = entry
            .postings
            .iter()
            .map(|p| {
                format!(
                    "{} {:?} {}",
                    names[&p.account],
                    p.direction,
                    p.amount.value()
                )
            })
            .collect();
        entries.push(format!(
            "{block}/{log_index} {} {} {} {} {reference:?} [{}]",
            entry.source,
            entry.status,
            entry.description,
            entry.effective_date,
            postings.join("; ")
        ));
    }
    let mut balances = BTreeMap::new();
    for (id, name) in &names {
        let b = ledger.accounts().balance(*id, None).await?;
        let (posted, pending) = (b.posted()?.value(), b.pending()?.value());
        if !posted.is_zero() || !pending.is_zero() {
            balances.insert(name.clone(), format!("posted {posted} pending {pending}"));
        }
    }
    let contracts: Vec<(Vec<u8>, String, Option<String>, i64)> = select(
        ledger,
        "SELECT address, kind, property_id, added_block FROM idx_contracts ORDER BY address",
    )
    .await?;
    let contracts = contracts
        .into_iter()
        .map(|(address, kind, property, block)| {
            format!("{} {kind} {property:?} {block}", hex(&address))
        })
        .collect();
    let table = cap_table(ledger, shares, u64::try_from(next_block - 1)?).await?;
    let mut cap = vec![format!("supply {}", table.total_supply)];
    cap.extend(table.holders.iter().map(|(h, b)| format!("{h:#x} {b}")));
    Ok(IndexState {
        next_block,
        events,
        entries,
        balances,
        contracts,
        cap_table: cap,
    })
}

/// Asserts two states are equal, part by part, for readable failures.
pub(crate) fn assert_same(what: &str, got: &IndexState, want: &IndexState) {
    assert_eq!(got.next_block, want.next_block, "{what}: checkpoint");
    assert_eq!(got.events, want.events, "{what}: events");
    assert_eq!(got.entries, want.entries, "{what}: entries");
    assert_eq!(got.balances, want.balances, "{what}: balances");
    assert_eq!(got.contracts, want.contracts, "{what}: contracts");
    assert_eq!(got.cap_table, want.cap_table, "{what}: cap table");
}
