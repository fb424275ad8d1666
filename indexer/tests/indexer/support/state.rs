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
use propledger_ledger::ext::Statement;

use super::anvil::TestResult;

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
    let next_block = ledger
        .query(Statement::new("SELECT next_block FROM idx_state"))
        .await?[0]
        .int(0)?;
    let events = ledger
        .query(Statement::new(
            "SELECT block_number, log_index, block_hash, tx_hash, tx_index, address, topics, data, \
             kind, event, decoded FROM idx_events ORDER BY block_number, log_index",
        ))
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "{}/{} {} {} {} {} {} {} {} {} {}",
                r.int(0)?,
                r.int(1)?,
                hex(&r.blob(2)?),
                hex(&r.blob(3)?),
                r.int(4)?,
                hex(&r.blob(5)?),
                hex(&r.blob(6)?),
                hex(&r.blob(7)?),
                r.text(8)?,
                r.text(9)?,
                r.text(10)?
            ))
        })
        .collect::<propledger_ledger::Result<Vec<_>>>()?;
    let rows = ledger
        .query(Statement::new(
            "SELECT e.id, e.source, e.status, e.description, e.effective_date, b.block_number, \
             b.log_index, b.reference FROM idx_bookings b \
             JOIN ledger_entries e ON e.idempotency_key = b.entry_key \
             WHERE b.status <> 'retracted' ORDER BY b.block_number, b.log_index",
        ))
        .await?;
    let mut entries = Vec::new();
    for r in &rows {
        let entry = ledger
            .entries()
            .get(propledger_ledger::core::EntryId::new(r.int(0)?))
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
            "{}/{} {} {} {} {} {:?} [{}]",
            r.int(5)?,
            r.int(6)?,
            r.text(1)?,
            r.text(2)?,
            r.text(3)?,
            r.date(4)?,
            r.opt_text(7)?,
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
    let contracts = ledger
        .query(Statement::new(
            "SELECT address, kind, property_id, added_block FROM idx_contracts ORDER BY address",
        ))
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "{} {} {:?} {}",
                hex(&r.blob(0)?),
                r.text(1)?,
                r.opt_text(2)?,
                r.int(3)?
            ))
        })
        .collect::<propledger_ledger::Result<Vec<_>>>()?;
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
