//! A property's cash flow statement for a period, by the direct method, from its posted
//! entries.
//!
//! Cash is the treasury (on chain), operating (bank) and distributor (on chain) accounts; a
//! move between two of them is no flow. An entry's net cash change is spread over the accounts
//! on the other side of it (the debits when cash went out, the credits when it came in), in
//! proportion to their amounts, the last taking the remainder so the parts add up exactly; each
//! part is a flow of that account's activity:
//! - **operating**: income and expense accounts, receivables, payables, security deposits;
//! - **investing**: the property at cost, capitalized closing costs and improvements;
//! - **financing**: loans, investor capital, distributions and distributions payable.
//!
//! A purchase paid partly by a loan is an investing outflow of the cash paid only; the loan's
//! part moved no cash.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use propledger_ledger::Ledger;
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{Account, AccountId, AccountType, Direction, EntryId, EntryStatus};
use propledger_ledger::entry::EntryFilter;
use propledger_ledger::report::Scope;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::property_dim;
use crate::deals::costs::ledger_error;
use crate::error::{Error, Result};
use crate::types::Money;

/// Entries read per page while summing.
const PAGE: usize = 1_000;

const CASH: [&str; 3] = [
    codes::TREASURY_CASH,
    codes::OPERATING_CASH,
    codes::DISTRIBUTOR_CASH,
];

/// What kind of activity a flow belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Activity {
    Operating,
    Investing,
    Financing,
}

fn activity(a: &Account) -> Activity {
    match a.code.as_str() {
        codes::PROPERTY_AT_COST
        | codes::CAPITALIZED_CLOSING_COSTS
        | codes::CAPITALIZED_IMPROVEMENTS => Activity::Investing,
        codes::LOANS_PAYABLE
        | codes::INVESTOR_CAPITAL
        | codes::DISTRIBUTIONS
        | codes::DISTRIBUTIONS_PAYABLE
        | codes::RETAINED_EARNINGS => Activity::Financing,
        _ if a.account_type == AccountType::Equity => Activity::Financing,
        _ => Activity::Operating,
    }
}

/// The flows of one chart code in a section.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FlowLine {
    /// The chart code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Cash in.
    pub inflow: Money,
    /// Cash out.
    pub outflow: Money,
    /// In less out.
    pub net: Money,
}

/// One section of the statement.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FlowSection {
    /// Its lines, by code.
    pub lines: Vec<FlowLine>,
    /// Net cash from the section.
    pub net: Money,
}

/// A property's cash flow statement.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CashFlowStatement {
    /// The property.
    pub property: String,
    /// First day (open when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day (open when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Cash at the start of the period.
    pub opening_cash: Money,
    /// Operating activities.
    pub operating: FlowSection,
    /// Investing activities.
    pub investing: FlowSection,
    /// Financing activities.
    pub financing: FlowSection,
    /// The three sections' net.
    pub net_change: Money,
    /// Cash at the end of the period: the opening cash and the net change, equal to the cash
    /// accounts' balance that day.
    pub closing_cash: Money,
}

#[derive(Default)]
struct Flow {
    name: String,
    inflow: Decimal,
    outflow: Decimal,
}

/// Spreads `total` over `weights` in proportion, the last taking the remainder; each part is
/// cut (toward zero) to `scale` places.
pub(crate) fn spread(total: Decimal, weights: &[Decimal], scale: u32) -> Vec<Decimal> {
    let sum: Decimal = weights.iter().sum();
    let mut out = Vec::with_capacity(weights.len());
    let mut left = total;
    for (i, w) in weights.iter().enumerate() {
        let part = if i + 1 == weights.len() || sum.is_zero() {
            left
        } else {
            (total * *w / sum).trunc_with_scale(scale)
        };
        left -= part;
        out.push(part);
    }
    out
}

async fn cash_at(ledger: &Ledger, scope: &Scope, day: Option<NaiveDate>) -> Result<Decimal> {
    let totals = ledger
        .reports()
        .totals(scope, None, day)
        .await
        .map_err(ledger_error)?;
    let mut cash = Decimal::ZERO;
    for t in totals {
        if CASH.contains(&t.account.code.as_str()) && t.account.dimensions.investor.is_none() {
            cash += t
                .totals
                .posted(Direction::Debit)
                .map_err(ledger_error)?
                .value();
        }
    }
    Ok(cash)
}

/// Most days a cash history holds (the latest).
pub const HISTORY_DAYS_MAX: usize = 3_660;

/// The property's cash (treasury, operating and distributor accounts together) at the end of
/// each day an entry moved it, from its posted entries, oldest first (at most
/// [`HISTORY_DAYS_MAX`], the latest).
pub async fn cash_by_day(ledger: &Ledger, property: &str) -> Result<Vec<(NaiveDate, Decimal)>> {
    let dim = property_dim(property)?;
    let chart = ledger
        .accounts()
        .list(&propledger_ledger::account::AccountFilter {
            property: Some(dim.clone()),
            ..Default::default()
        })
        .await
        .map_err(ledger_error)?;
    if chart.is_empty() {
        return Err(Error::NotFound("property's books"));
    }
    let cash: std::collections::HashSet<AccountId> = chart
        .iter()
        .filter(|a| CASH.contains(&a.code.as_str()))
        .map(|a| a.id)
        .collect();
    let filter = EntryFilter {
        property: Some(dim),
        status: Some(EntryStatus::Posted),
        ..EntryFilter::default()
    };
    let mut by_day: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();
    let mut after: Option<EntryId> = None;
    loop {
        let page = ledger
            .entries()
            .search(&filter, after, PAGE)
            .await
            .map_err(ledger_error)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for e in &page {
            let change: Decimal = e
                .postings
                .iter()
                .filter(|p| cash.contains(&p.account))
                .map(|p| match p.direction {
                    Direction::Debit => p.amount.value(),
                    Direction::Credit => -p.amount.value(),
                })
                .sum();
            if !change.is_zero() {
                *by_day.entry(e.effective_date).or_default() += change;
            }
        }
    }
    let mut running = Decimal::ZERO;
    let mut out: Vec<(NaiveDate, Decimal)> = by_day
        .into_iter()
        .map(|(d, c)| {
            running += c;
            (d, running)
        })
        .collect();
    if out.len() > HISTORY_DAYS_MAX {
        out.drain(..out.len() - HISTORY_DAYS_MAX);
    }
    Ok(out)
}

/// The cash flow statement of a property for effective dates `from..=to`.
pub async fn cash_flow(
    ledger: &Ledger,
    property: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<CashFlowStatement> {
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(Error::invalid("from", "after `to`"));
    }
    let dim = property_dim(property)?;
    let scope = Scope::property(dim.clone());
    let chart = ledger
        .accounts()
        .list(&propledger_ledger::account::AccountFilter {
            property: Some(dim.clone()),
            ..Default::default()
        })
        .await
        .map_err(ledger_error)?;
    let Some(first) = chart.first() else {
        return Err(Error::NotFound("property's books"));
    };
    let currency = first.currency;
    let scale = currency.scale();
    let code = currency.code().as_str().to_owned();
    let accounts: BTreeMap<AccountId, Account> = chart.into_iter().map(|a| (a.id, a)).collect();
    let is_cash = |id: &AccountId| {
        accounts
            .get(id)
            .is_some_and(|a| CASH.contains(&a.code.as_str()))
    };

    let opening = match from.and_then(|f| f.checked_sub_days(Days::new(1))) {
        Some(day) => cash_at(ledger, &scope, Some(day)).await?,
        None => Decimal::ZERO,
    };
    let filter = EntryFilter {
        property: Some(dim),
        from,
        to,
        status: Some(EntryStatus::Posted),
        ..EntryFilter::default()
    };
    let mut flows: BTreeMap<(Activity, String), Flow> = BTreeMap::new();
    let mut after: Option<EntryId> = None;
    loop {
        let page = ledger
            .entries()
            .search(&filter, after, PAGE)
            .await
            .map_err(ledger_error)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for e in &page {
            let signed = |d: Direction, v: Decimal| match d {
                Direction::Debit => v,
                Direction::Credit => -v,
            };
            let change: Decimal = e
                .postings
                .iter()
                .filter(|p| is_cash(&p.account))
                .map(|p| signed(p.direction, p.amount.value()))
                .sum();
            if change.is_zero() {
                continue;
            }
            // Cash in is matched by credits elsewhere, cash out by debits.
            let other_side = if change > Decimal::ZERO {
                Direction::Credit
            } else {
                Direction::Debit
            };
            let others: Vec<_> = e
                .postings
                .iter()
                .filter(|p| !is_cash(&p.account) && p.direction == other_side)
                .collect();
            if others.is_empty() {
                return Err(Error::Corrupt(format!(
                    "entry {} moves cash with nothing on the other side",
                    e.id
                )));
            }
            let weights: Vec<Decimal> = others.iter().map(|p| p.amount.value()).collect();
            for (p, part) in others.iter().zip(spread(change, &weights, scale)) {
                let a = accounts.get(&p.account).ok_or_else(|| {
                    Error::Corrupt(format!("entry {} posts outside the property", e.id))
                })?;
                let template = propledger_ledger::core::chart::template_line(a.code.as_str());
                let f = flows
                    .entry((activity(a), a.code.as_str().to_owned()))
                    .or_insert_with(|| Flow {
                        name: template.map_or_else(|| a.name.clone(), |t| t.name.to_owned()),
                        ..Flow::default()
                    });
                if part > Decimal::ZERO {
                    f.inflow += part;
                } else {
                    f.outflow -= part;
                }
            }
        }
    }

    let shown = |v: Decimal| {
        let mut v = v;
        v.rescale(scale);
        Money {
            amount: v.to_string(),
            currency: code.clone(),
        }
    };
    let section = |which: Activity| {
        let mut net = Decimal::ZERO;
        let lines = flows
            .iter()
            .filter(|((a, _), _)| *a == which)
            .map(|((_, code), f)| {
                net += f.inflow - f.outflow;
                FlowLine {
                    code: code.clone(),
                    name: f.name.clone(),
                    inflow: shown(f.inflow),
                    outflow: shown(f.outflow),
                    net: shown(f.inflow - f.outflow),
                }
            })
            .collect();
        (
            FlowSection {
                lines,
                net: shown(net),
            },
            net,
        )
    };
    let (operating, o) = section(Activity::Operating);
    let (investing, i) = section(Activity::Investing);
    let (financing, f) = section(Activity::Financing);
    let net = o + i + f;
    let closing = cash_at(ledger, &scope, to).await?;
    if opening + net != closing {
        return Err(Error::Internal(format!(
            "cash flows do not add up: {opening} + {net} != {closing}"
        )));
    }
    Ok(CashFlowStatement {
        property: property.to_owned(),
        from: from.map(|d| d.format("%Y-%m-%d").to_string()),
        to: to.map(|d| d.format("%Y-%m-%d").to_string()),
        opening_cash: shown(opening),
        operating,
        investing,
        financing,
        net_change: shown(net),
        closing_cash: shown(closing),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn spread_adds_up_exactly() {
        let parts = spread(d("-100.00"), &[d("1"), d("1"), d("1")], 2);
        assert_eq!(parts, [d("-33.33"), d("-33.33"), d("-33.34")]);
        assert_eq!(parts.iter().sum::<Decimal>(), d("-100.00"));
        assert_eq!(spread(d("80000"), &[d("100000")], 6), [d("80000")]);
        let parts = spread(d("10"), &[d("3"), d("7")], 6);
        assert_eq!(parts, [d("3"), d("7")]);
    }
}
