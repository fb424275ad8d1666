//! A property's performance over the twelve months to a day, from its books, its valuations,
//! its rent schedules, its rehab projects and its investors' realized flows:
//!
//! - **NOI**: operating income (rent and other income) less operating expenses (repairs,
//!   management, taxes, insurance, utilities, HOA, other). Interest, platform fees and the
//!   sponsor's promote are not operating expenses;
//! - **cap rate**: NOI over the value at the day (the latest valuation on or before it);
//! - **cash-on-cash**: distributions the investors received in the period over the capital they
//!   paid in up to the day;
//! - **IRR and equity multiple**: of every investor's flows up to the day (XIRR, Actual/365);
//! - **occupancy**: the share of the period's days that a rent schedule covers;
//! - **budget variance**: each rehab project's drawn amount against its budget;
//! - **per investor**: paid in, distributions received and IRR.
//!
//! A figure that the data does not define is null, with the reason under `unavailable`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use propledger_ledger::core::chart::codes;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::Db;
use crate::deals::finance::{percent_of, ratio};
use crate::error::{Error, Result};
use crate::properties::PropertyId;
use crate::types::Money;

/// Income accounts that count as operating income.
const OPERATING_INCOME: [&str; 2] = [codes::RENTAL_INCOME, codes::OTHER_INCOME];
/// Expense accounts that count as operating expenses.
const OPERATING_EXPENSES: [&str; 7] = [
    codes::REPAIRS,
    codes::MANAGEMENT_FEES,
    codes::PROPERTY_TAXES,
    codes::INSURANCE,
    codes::UTILITIES,
    codes::HOA_DUES,
    codes::OTHER_EXPENSES,
];

/// A rehab project's budget against what was drawn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct BudgetVariance {
    /// The project.
    pub project_id: String,
    /// Its budget.
    pub budget: Money,
    /// Committed by accepted bids.
    pub committed: Money,
    /// Drawn.
    pub drawn: Money,
    /// Drawn less budget (negative: under budget).
    pub variance: Money,
    /// The variance as a percentage of the budget.
    pub variance_percent: Option<String>,
}

/// One investor's figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvestorFigures {
    /// The investor.
    pub investor: String,
    /// Paid in.
    pub contributed: Money,
    /// Distributions received.
    pub distributed: Money,
    /// XIRR of their flows, percent.
    pub irr_percent: Option<String>,
}

/// A property's analytics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct PropertyAnalytics {
    /// The property.
    pub property_id: PropertyId,
    /// The period's first day.
    pub from: String,
    /// Its last day.
    pub to: String,
    /// Operating income in the period.
    pub operating_income: Money,
    /// Operating expenses in the period.
    pub operating_expenses: Money,
    /// Net operating income.
    pub noi: Money,
    /// The value at the period's end.
    pub value: Option<Money>,
    /// NOI over value, percent.
    pub cap_rate_percent: Option<String>,
    /// Distributions received in the period over capital paid in, percent.
    pub cash_on_cash_percent: Option<String>,
    /// XIRR of every investor's flows, percent.
    pub irr_percent: Option<String>,
    /// Taken out over paid in.
    pub equity_multiple: Option<String>,
    /// Days covered by a rent schedule over the period's days, percent.
    pub occupancy_percent: String,
    /// Each rehab project's variance.
    pub budget: Vec<BudgetVariance>,
    /// Each investor's figures.
    pub investors: Vec<InvestorFigures>,
    /// Why a figure is null, by its name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<String, String>,
}

fn usd(v: Decimal) -> Money {
    let mut v = v.round_dp(2);
    v.rescale(2);
    Money {
        amount: v.to_string(),
        currency: "USD".to_owned(),
    }
}

fn dec(m: &Money) -> Result<Decimal> {
    m.amount
        .parse()
        .map_err(|_| Error::Corrupt("an amount".to_owned()))
}

/// Days of `from..=to` that `ranges` (inclusive, open-ended when `None`) cover.
pub fn covered_days(
    ranges: &[(NaiveDate, Option<NaiveDate>)],
    from: NaiveDate,
    to: NaiveDate,
) -> i64 {
    let mut spans: Vec<(NaiveDate, NaiveDate)> = ranges
        .iter()
        .filter_map(|(s, e)| {
            let s = (*s).max(from);
            let e = e.unwrap_or(to).min(to);
            (s <= e).then_some((s, e))
        })
        .collect();
    spans.sort();
    let mut days = 0;
    let mut reach: Option<NaiveDate> = None;
    for (s, e) in spans {
        let start = match reach {
            Some(r) if r >= s => r.succ_opt().unwrap_or(r),
            _ => s,
        };
        if start <= e {
            days += (e - start).num_days() + 1;
        }
        reach = Some(reach.map_or(e, |r| r.max(e)));
    }
    days
}

/// The analytics of `property` for the twelve months to `to`.
pub async fn property(
    db: &Db,
    ledger: &propledger_ledger::Ledger,
    property: PropertyId,
    to: NaiveDate,
) -> Result<PropertyAnalytics> {
    crate::properties::get(db.reader(), property).await?;
    let from = to - chrono::Duration::days(364);
    let mut unavailable = BTreeMap::new();
    let id = property.to_string();
    let (mut income, mut expenses) = (Decimal::ZERO, Decimal::ZERO);
    match crate::books::income_statement(ledger, &id, Some(from), Some(to)).await {
        Ok(is) => {
            for l in &is.income {
                if OPERATING_INCOME.contains(&l.code.as_str()) {
                    income += dec(&l.posted)?;
                }
            }
            for l in &is.expenses {
                if OPERATING_EXPENSES.contains(&l.code.as_str()) {
                    expenses += dec(&l.posted)?;
                }
            }
        }
        Err(Error::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let noi = income - expenses;
    let value = crate::valuations::current(db.reader(), property, Some(to)).await?;
    let cap_rate = match &value {
        Some(v) => percent_of(noi, dec(&v.value)?),
        None => {
            unavailable.insert(
                "cap_rate_percent".to_owned(),
                "no valuation on or before the day".to_owned(),
            );
            None
        }
    };
    let realized = crate::deals::realized::realized(db, ledger, property, Some(to), 6).await?;
    let paid_in = dec(&realized.total.paid_in)?;
    let mut received_in_period = Decimal::ZERO;
    let mut investors = Vec::with_capacity(realized.investors.len());
    for inv in &realized.investors {
        for f in inv.flows.iter().filter(|f| f.kind == "distribution") {
            let day = crate::deals::parse_day("/on", &f.on)?;
            if day >= from && day <= to {
                received_in_period += dec(&f.amount)?;
            }
        }
        investors.push(InvestorFigures {
            investor: inv.investor.clone(),
            contributed: inv.figures.paid_in.clone(),
            distributed: inv.figures.distributions_received.clone(),
            irr_percent: inv.figures.irr_percent.clone(),
        });
    }
    let cash_on_cash = percent_of(received_in_period, paid_in);
    if cash_on_cash.is_none() {
        unavailable.insert(
            "cash_on_cash_percent".to_owned(),
            "no capital paid in".to_owned(),
        );
    }
    for (k, why) in &realized.total.unavailable {
        let name = match k.as_str() {
            "irr_percent" => "irr_percent",
            "equity_multiple" => "equity_multiple",
            _ => continue,
        };
        unavailable.insert(name.to_owned(), why.clone());
    }
    let page = crate::types::PageRequest::parse(Some(200), None)?;
    let schedules = crate::transactions::schedules(db, property, &page).await?;
    let mut ranges = Vec::new();
    for s in &schedules.items {
        let start = crate::deals::parse_day("/starts_on", &s.starts_on)?;
        let end = s
            .ends_on
            .as_deref()
            .map(|e| crate::deals::parse_day("/ends_on", e))
            .transpose()?;
        ranges.push((start, end));
    }
    let days = (to - from).num_days() + 1;
    let occupancy = percent_of(
        Decimal::from(covered_days(&ranges, from, to)),
        Decimal::from(days),
    )
    .unwrap_or_default();
    let mut budget = Vec::new();
    for p in crate::rehab::projects_of(db.reader(), property).await? {
        let v = crate::rehab::view(db, p.id).await?;
        let (b, d) = (dec(&v.budget)?, dec(&v.drawn)?);
        budget.push(BudgetVariance {
            project_id: p.id.to_string(),
            budget: v.budget.clone(),
            committed: v.committed.clone(),
            drawn: v.drawn.clone(),
            variance: usd(d - b),
            variance_percent: percent_of(d - b, b).map(|p| p.to_string()),
        });
    }
    Ok(PropertyAnalytics {
        property_id: property,
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
        operating_income: usd(income),
        operating_expenses: usd(expenses),
        noi: usd(noi),
        value: value.map(|v| v.value),
        cap_rate_percent: cap_rate.map(|c| c.to_string()),
        cash_on_cash_percent: cash_on_cash.map(|c| c.to_string()),
        irr_percent: realized.total.irr_percent.clone(),
        equity_multiple: realized.total.equity_multiple.clone(),
        occupancy_percent: occupancy.to_string(),
        budget,
        investors,
        unavailable,
    })
}

/// The portfolio: every property's NOI and value together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Portfolio {
    /// The period's last day.
    pub to: String,
    /// Properties counted.
    pub properties: u32,
    /// Their NOI together.
    pub noi: Money,
    /// Their values together (those with a valuation).
    pub value: Money,
    /// NOI of the valued properties over their value, percent.
    pub cap_rate_percent: Option<String>,
    /// Taken out over paid in, over every property's investors.
    pub equity_multiple: Option<String>,
    /// Each property's analytics.
    pub items: Vec<PropertyAnalytics>,
}

/// Most properties a portfolio counts.
pub const PORTFOLIO_MAX: u32 = 200;

/// The portfolio's analytics for the twelve months to `to`.
pub async fn portfolio(
    db: &Db,
    ledger: &propledger_ledger::Ledger,
    to: NaiveDate,
) -> Result<Portfolio> {
    let rows = crate::db::Query::new("SELECT id FROM api_properties ORDER BY id LIMIT $1")
        .bind(i64::from(PORTFOLIO_MAX))
        .fetch_all(db.reader())
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        let id = PropertyId::parse(&r.get::<String>("id")?)?;
        items.push(property(db, ledger, id, to).await?);
    }
    let (mut noi, mut valued_noi, mut value) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let (mut paid_in, mut taken_out) = (Decimal::ZERO, Decimal::ZERO);
    for a in &items {
        let n = dec(&a.noi)?;
        noi += n;
        if let Some(v) = &a.value {
            value += dec(v)?;
            valued_noi += n;
        }
        for i in &a.investors {
            paid_in += dec(&i.contributed)?;
            taken_out += dec(&i.distributed)?;
        }
    }
    Ok(Portfolio {
        to: to.format("%Y-%m-%d").to_string(),
        properties: u32::try_from(items.len()).unwrap_or(u32::MAX),
        noi: usd(noi),
        value: usd(value),
        cap_rate_percent: percent_of(valued_noi, value).map(|c| c.to_string()),
        equity_multiple: ratio(taken_out, paid_in).map(|r| r.to_string()),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn covered_days_count_overlaps_once() {
        let (from, to) = (day("2026-01-01"), day("2026-12-31"));
        // March to May, April to June overlapping, and an open-ended one from December 1st.
        let ranges = [
            (day("2026-03-01"), Some(day("2026-05-31"))),
            (day("2026-04-01"), Some(day("2026-06-30"))),
            (day("2026-12-01"), None),
            (day("2025-01-01"), Some(day("2025-12-31"))),
        ];
        // 122 days (March through June) and 31 in December.
        assert_eq!(covered_days(&ranges, from, to), 153);
        assert_eq!(covered_days(&[], from, to), 0);
        assert_eq!(covered_days(&[(day("2020-01-01"), None)], from, to), 365);
    }
}
