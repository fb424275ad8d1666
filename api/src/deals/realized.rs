//! What each investor in a deal's property has paid in and taken out, as dated cash flows, and
//! the realized equity multiple and IRR they give: at the deal's exit, its realized returns.
//!
//! An investor's flows, from their point of view (paid in negative, taken out positive), are
//! read from the books and the index up to the end of the day asked for, else all of them (a
//! deal's final payout is claimed after its exit):
//!
//! - **Capital**: each posted entry to the investor's capital account in the property's books
//!   (offering purchases paid in; refunds taken out; capital carried with shares bought from or
//!   sold to another investor, at book value, as the capital accounts carry it), on the entry's
//!   day. The entry closing the books (which allocates income and distributions inside the
//!   capital accounts, moving no money) is not a flow, nor is an entry reversed or reversing.
//! - **Distributions**: each claim paid by the property's distributor to a wallet of the
//!   investor's, on the day the claim was booked. A payout still unclaimed is not realized.
//!
//! The equity multiple is what was taken out over what was paid in, to two places; the IRR is
//! the XIRR of the flows (Actual/365), as a percentage to two places. Either is null, with the
//! reason, when the flows do not define it. The deal's figures are those of every investor's
//! flows together.

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy::primitives::Address;
use chrono::NaiveDate;
use propledger_ledger::Ledger;
use propledger_ledger::account::AccountFilter;
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{Direction, EntryStatus, IdempotencyKey};
use propledger_ledger::entry::EntryFilter;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::costs::{BOOKS_CURRENCY, ledger_error, property_dim};
use super::finance;
use crate::db::{Db, Query};
use crate::error::{Error, Result};
use crate::investors;
use crate::properties::PropertyId;
use crate::types::Money;

/// Most capital entries or claims read for one deal's realized returns.
pub const FLOWS_READ_MAX: usize = 20_000;

/// One dated cash flow of an investor's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Flow {
    /// Its day.
    pub on: String,
    /// Paid in (negative) or taken out (positive), from the investor's side.
    pub amount: Money,
    /// `capital` or `distribution`.
    pub kind: String,
}

/// Realized figures, for one investor or all of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RealizedFigures {
    /// Paid in.
    pub paid_in: Money,
    /// Capital taken out (refunds, capital carried with shares sold to another investor).
    pub capital_returned: Money,
    /// Distributions claimed.
    pub distributions_received: Money,
    /// Taken out in all.
    pub taken_out: Money,
    /// Taken out / paid in.
    pub equity_multiple: Option<String>,
    /// The flows' XIRR, percent.
    pub irr_percent: Option<String>,
    /// Why a figure is null, by its name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<String, String>,
}

/// One investor's realized returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvestorRealized {
    /// The investor (registry id in hex, or `wallet-0x…` for a wallet not in the registry).
    pub investor: String,
    /// Their figures.
    #[serde(flatten)]
    pub figures: RealizedFigures,
    /// Their flows, by day.
    pub flows: Vec<Flow>,
}

/// The realized returns of a deal's investors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Realized {
    /// All investors' flows together.
    #[serde(flatten)]
    pub total: RealizedFigures,
    /// Per investor, by investor.
    pub investors: Vec<InvestorRealized>,
}

#[derive(Default)]
struct Sums {
    flows: Vec<(NaiveDate, Decimal, &'static str)>,
}

fn money(v: Decimal, scale: u32) -> Money {
    let mut v = v;
    v.rescale(scale);
    Money {
        amount: v.to_string(),
        currency: BOOKS_CURRENCY.to_owned(),
    }
}

/// The figures of dated flows (investor's side).
pub fn figures(flows: &[(NaiveDate, Decimal)], scale: u32) -> RealizedFigures {
    figures_of(
        &flows
            .iter()
            .map(|(d, a)| (*d, *a, "capital"))
            .collect::<Vec<_>>(),
        scale,
    )
}

fn figures_of(flows: &[(NaiveDate, Decimal, &'static str)], scale: u32) -> RealizedFigures {
    let paid_in: Decimal = flows
        .iter()
        .filter(|f| f.1.is_sign_negative())
        .map(|f| -f.1)
        .sum();
    let out = |kind: &str| -> Decimal {
        flows
            .iter()
            .filter(|f| f.2 == kind && f.1.is_sign_positive())
            .map(|f| f.1)
            .sum()
    };
    let (returned, received) = (out("capital"), out("distribution"));
    let taken_out = returned + received;
    let mut unavailable = BTreeMap::new();
    let multiple = finance::ratio(taken_out, paid_in).map(|m| m.to_string());
    if multiple.is_none() {
        unavailable.insert(
            "equity_multiple".to_owned(),
            "nothing was paid in".to_owned(),
        );
    }
    // Flows on one day net out before the rate is solved.
    let mut by_day: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();
    for (d, a, _) in flows {
        *by_day.entry(*d).or_default() += *a;
    }
    let dated: Vec<(NaiveDate, Decimal)> = by_day.into_iter().filter(|f| !f.1.is_zero()).collect();
    let irr = match finance::xirr(&dated) {
        Ok(r) => Some(finance::percent(r).to_string()),
        Err(why) => {
            unavailable.insert("irr_percent".to_owned(), why.to_string());
            None
        }
    };
    RealizedFigures {
        paid_in: money(paid_in, scale),
        capital_returned: money(returned, scale),
        distributions_received: money(received, scale),
        taken_out: money(taken_out, scale),
        equity_multiple: multiple,
        irr_percent: irr,
        unavailable,
    }
}

fn too_many() -> Error {
    Error::conflict(
        "too_many_flows",
        format!("more than {FLOWS_READ_MAX} capital entries or claims to read"),
    )
}

/// The capital flows of the property's investors up to `as_of`, by investor.
async fn capital_flows(
    ledger: &Ledger,
    property: PropertyId,
    as_of: Option<NaiveDate>,
    into: &mut BTreeMap<String, Sums>,
) -> Result<()> {
    let dim = property_dim(&property.to_string())?;
    let accounts = ledger
        .accounts()
        .list(&AccountFilter {
            property: Some(dim),
            ..AccountFilter::default()
        })
        .await
        .map_err(ledger_error)?;
    let mut read = 0usize;
    for a in accounts {
        let Some(investor) = &a.dimensions.investor else {
            continue;
        };
        if a.code.as_str() != codes::INVESTOR_CAPITAL
            || a.currency.code().as_str() != BOOKS_CURRENCY
        {
            continue;
        }
        let filter = EntryFilter {
            account: Some(a.id),
            to: as_of,
            status: Some(EntryStatus::Posted),
            ..EntryFilter::default()
        };
        let mut entries = Vec::new();
        let mut after = None;
        loop {
            let page = ledger
                .entries()
                .search(&filter, after, 500)
                .await
                .map_err(ledger_error)?;
            read += page.len();
            if read > FLOWS_READ_MAX {
                return Err(too_many());
            }
            let full = page.len() == 500;
            after = page.last().map(|e| e.id);
            entries.extend(page);
            if !full {
                break;
            }
        }
        let reversed: HashSet<_> = entries.iter().filter_map(|e| e.reverses).collect();
        let sums = into.entry(investor.as_str().to_owned()).or_default();
        for e in &entries {
            if e.reverses.is_some()
                || reversed.contains(&e.id)
                || e.key.as_str().starts_with("close:")
            {
                continue;
            }
            // The investor's side: a credit to their capital is money they paid in.
            let net: Decimal = e
                .postings
                .iter()
                .filter(|p| p.account == a.id)
                .map(|p| match p.direction {
                    Direction::Credit => -p.amount.value(),
                    Direction::Debit => p.amount.value(),
                })
                .sum();
            if !net.is_zero() {
                sums.flows.push((e.effective_date, net, "capital"));
            }
        }
    }
    Ok(())
}

/// The investor a wallet belongs to, as the books name investors.
async fn investor_of(db: &Db, wallet: Address) -> Result<String> {
    Ok(
        match investors::of_wallet(db, &wallet.to_checksum(None)).await? {
            Some(inv) => hex::encode(investors::registry_id(&inv)?),
            None => format!("wallet-{wallet:#x}"),
        },
    )
}

/// The claims paid by the property's distributor up to `as_of`, by the holder's investor.
async fn distribution_flows(
    db: &Db,
    ledger: &Ledger,
    property: PropertyId,
    as_of: Option<NaiveDate>,
    into: &mut BTreeMap<String, Sums>,
) -> Result<()> {
    if !crate::market::index_exists(db).await? {
        return Ok(());
    }
    let token = crate::tokenization::token_id(property).to_string();
    let Some(distributor) = crate::market::registered(db, &["distributor"])
        .await?
        .into_iter()
        .find(|c| c.property_id == token)
    else {
        return Ok(());
    };
    let rows = Query::new(
        "SELECT e.decoded, b.entry_key FROM idx_events e JOIN idx_bookings b \
         ON b.block_number = e.block_number AND b.log_index = e.log_index \
         WHERE e.address = $1 AND e.event = 'Claimed' AND b.status = 'posted' \
         ORDER BY e.block_number, e.log_index",
    )
    .bind(distributor.address.to_vec())
    .fetch_all(db.reader())
    .await?;
    if rows.len() > FLOWS_READ_MAX {
        return Err(too_many());
    }
    let mut investor_by_wallet: HashMap<Address, String> = HashMap::new();
    for r in rows {
        let v: serde_json::Value = serde_json::from_str(&r.get::<String>("decoded")?)
            .map_err(|_| Error::Corrupt("an indexed claim".to_owned()))?;
        let holder: Address = v["holder"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| Error::Corrupt("an indexed claim's holder".to_owned()))?;
        let key = IdempotencyKey::parse(&r.get::<String>("entry_key")?)
            .map_err(|_| Error::Corrupt("a booking's key".to_owned()))?;
        let Some(entry) = ledger.entries().by_key(&key).await.map_err(ledger_error)? else {
            continue;
        };
        if entry.status != EntryStatus::Posted || as_of.is_some_and(|d| entry.effective_date > d) {
            continue;
        }
        let Some(first) = entry.postings.first() else {
            continue;
        };
        let investor = match investor_by_wallet.get(&holder) {
            Some(i) => i.clone(),
            None => {
                let i = investor_of(db, holder).await?;
                investor_by_wallet.insert(holder, i.clone());
                i
            }
        };
        into.entry(investor).or_default().flows.push((
            entry.effective_date,
            first.amount.value(),
            "distribution",
        ));
    }
    Ok(())
}

/// The realized returns of the property's investors up to the end of `as_of` (all when
/// `None`).
pub async fn realized(
    db: &Db,
    ledger: &Ledger,
    property: PropertyId,
    as_of: Option<NaiveDate>,
    scale: u32,
) -> Result<Realized> {
    let mut by_investor: BTreeMap<String, Sums> = BTreeMap::new();
    capital_flows(ledger, property, as_of, &mut by_investor).await?;
    distribution_flows(db, ledger, property, as_of, &mut by_investor).await?;
    let mut all = Vec::new();
    let mut investors = Vec::with_capacity(by_investor.len());
    for (investor, mut s) in by_investor {
        s.flows.sort_by_key(|f| f.0);
        all.extend(s.flows.iter().copied());
        investors.push(InvestorRealized {
            investor,
            figures: figures_of(&s.flows, scale),
            flows: s
                .flows
                .iter()
                .map(|(d, a, k)| Flow {
                    on: d.format("%Y-%m-%d").to_string(),
                    amount: money(*a, scale),
                    kind: (*k).to_owned(),
                })
                .collect(),
        });
    }
    Ok(Realized {
        total: figures_of(&all, scale),
        investors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn a_year_doubled_is_a_hundred_percent_and_two_times() {
        let f = figures(
            &[
                (day("2026-01-01"), d("-600")),
                (day("2027-01-01"), d("1200")),
            ],
            2,
        );
        assert_eq!(f.paid_in.amount, "600.00");
        assert_eq!(f.taken_out.amount, "1200.00");
        assert_eq!(f.equity_multiple.as_deref(), Some("2.00"));
        assert_eq!(f.irr_percent.as_deref(), Some("100.00"));
        assert!(f.unavailable.is_empty());
    }

    #[test]
    fn flows_of_a_day_net_and_nothing_paid_in_has_a_reason() {
        let f = figures(&[(day("2026-01-01"), d("50"))], 2);
        assert_eq!(f.equity_multiple, None);
        assert_eq!(f.irr_percent, None);
        assert_eq!(f.unavailable.len(), 2);
        // Bought and refunded the same day: no rate, a multiple of one.
        let f = figures(
            &[
                (day("2026-01-01"), d("-100")),
                (day("2026-01-01"), d("100")),
            ],
            2,
        );
        assert_eq!(f.equity_multiple.as_deref(), Some("1.00"));
        assert_eq!(f.irr_percent, None);
    }
}
