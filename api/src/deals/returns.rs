//! A deal's actual returns, read from its property's books through the ledger's reports, next
//! to what the deal expected. Posted entries only (chain events not final yet are left out).
//!
//! - **Over the deal's life** (from the day it was found to `as_of`: the day asked for, else
//!   the day it exited or died, else today): income, expenses and net income, the
//!   property's income-statement accounts.
//! - **As of `as_of`**: the cost basis (property at cost + capitalized closing costs +
//!   capitalized improvements, every budget line), loans borrowed (credits to loans payable)
//!   and still owed, and the investors' capital (net credits to their capital accounts).
//! - **Equity invested** is the cost basis less the loans borrowed: the part of what the
//!   property cost that the owners fund, whether paid from investors' money in the treasury,
//!   operating cash, or still owed to a vendor. It is the figure a pro-forma calls equity
//!   (purchase price + closing costs + repairs - loan principal), so actual and expected
//!   compare; the investors' capital is shown beside it (it may be larger: money raised and
//!   not yet spent on the property).
//! - **ROI** = net income over the life / equity invested.
//! - **The twelve months ending `as_of`**: income, operating expenses (every expense but
//!   interest), NOI = income - operating expenses, interest, principal repaid (debits to loans
//!   payable), cash flow = NOI - interest - principal repaid (the books carry no depreciation,
//!   so this is their cash view). Cash-on-cash = that cash flow / equity invested; for a hold,
//!   the cap rate = that NOI / the cost basis.
//! - **Expected**, from the deal: cost basis (purchase price + closing costs + estimated
//!   repairs), equity (less the loan's principal), profit and ROI (profit / that equity).
//!
//! Ratios are percentages rounded to two places, half away from zero; a ratio over nothing is
//! null, with the reason under `unavailable`.

use std::collections::BTreeMap;

use chrono::{Months, NaiveDate};
use propledger_ledger::Ledger;
use propledger_ledger::core::AccountType;
use propledger_ledger::core::chart::codes;
use propledger_ledger::report::{self, AccountTotals, Scope};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::costs::{BOOKS_CURRENCY, books_currency, ledger_error, property_dim};
use super::finance;
use super::realized::{self, Realized};
use super::{Deal, DealId, DealStatus, Strategy, parse_day};
use crate::error::{Error, Result};
use crate::properties::PropertyId;
use crate::types::Money;

/// The day the returns are read at.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReturnsQuery {
    /// The last day counted (`YYYY-MM-DD`); the day the deal exited or died, else today (UTC).
    pub as_of: Option<String>,
}

/// What the books say, as plain decimals (the pure input of [`compute`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookFigures {
    /// Income over the deal's life.
    pub income: Decimal,
    /// Expenses over the deal's life.
    pub expenses: Decimal,
    /// Property at cost, as of the day.
    pub property_at_cost: Decimal,
    /// Capitalized closing costs, as of the day.
    pub closing_costs: Decimal,
    /// Capitalized improvements (every budget line), as of the day.
    pub improvements: Decimal,
    /// Credits to loans payable, up to the day.
    pub loans_borrowed: Decimal,
    /// Loans payable's balance, as of the day.
    pub loans_outstanding: Decimal,
    /// Investors' capital accounts' net credits, as of the day.
    pub investor_capital: Decimal,
    /// Income in the twelve months.
    pub t12_income: Decimal,
    /// Expenses other than interest in the twelve months.
    pub t12_operating_expenses: Decimal,
    /// Interest in the twelve months.
    pub t12_interest: Decimal,
    /// Debits to loans payable in the twelve months.
    pub t12_principal_repaid: Decimal,
}

/// The cost basis, by account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct CostBasis {
    /// Property at cost (1500).
    pub property_at_cost: Money,
    /// Capitalized closing costs (1510).
    pub capitalized_closing_costs: Money,
    /// Capitalized improvements (1600, every budget line).
    pub capitalized_improvements: Money,
    /// Their sum.
    pub total: Money,
}

/// The twelve months ending on the day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TrailingYear {
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// Income.
    pub income: Money,
    /// Expenses other than interest.
    pub operating_expenses: Money,
    /// Income less operating expenses.
    pub noi: Money,
    /// Interest.
    pub interest: Money,
    /// Loan principal repaid.
    pub principal_repaid: Money,
    /// NOI less interest and principal repaid.
    pub cash_flow: Money,
}

/// What the deal expected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Expected {
    /// Purchase price + closing costs + estimated repairs.
    pub cost_basis: Money,
    /// The cost basis less the loan's principal.
    pub equity_invested: Money,
    /// The deal's expected profit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profit: Option<Money>,
    /// Expected profit / expected equity, percent.
    pub roi_percent: Option<String>,
}

/// A deal's actual returns beside its expected figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Returns {
    /// The deal.
    pub deal_id: DealId,
    /// Its property.
    pub property_id: PropertyId,
    /// Its strategy.
    pub strategy: Strategy,
    /// Its status.
    pub status: DealStatus,
    /// First day counted: the day the deal was found.
    pub from: String,
    /// Last day counted.
    pub as_of: String,
    /// Income over the deal's life.
    pub income: Money,
    /// Expenses over the deal's life.
    pub expenses: Money,
    /// Income less expenses.
    pub net_income: Money,
    /// The cost basis as of the day.
    pub cost_basis: CostBasis,
    /// Borrowed (credits to loans payable), up to the day.
    pub loans_borrowed: Money,
    /// Still owed on loans.
    pub loans_outstanding: Money,
    /// Investors' capital: contributed less returned (refunds, redemptions), as of the day.
    pub investor_capital: Money,
    /// The cost basis less the loans borrowed.
    pub equity_invested: Money,
    /// Net income / equity invested, percent.
    pub roi_percent: Option<String>,
    /// The twelve months ending on the day.
    pub trailing_12_months: TrailingYear,
    /// The twelve months' cash flow / equity invested, percent.
    pub cash_on_cash_percent: Option<String>,
    /// Hold deals: the twelve months' NOI / cost basis, percent (null without a cost basis;
    /// absent for other strategies).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cap_rate_percent: Option<Option<String>>,
    /// What the deal expected.
    pub expected: Expected,
    /// Net income less the expected profit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profit_vs_expected: Option<Money>,
    /// What the investors paid in and took out, and the equity multiple and IRR that gives
    /// (all of them, and each): at exit, the deal's realized returns. Up to `as_of` when it is
    /// asked for, else everything so far (payouts claimed after the exit count). Absent when
    /// computed without the books.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realized: Option<Realized>,
    /// Why a figure is null, by its name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<String, String>,
}

fn text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The deal's days: the one it was found, and the last one counted.
pub fn period(deal: &Deal, q: &ReturnsQuery, today: NaiveDate) -> Result<(NaiveDate, NaiveDate)> {
    let found = deal
        .transitions
        .first()
        .map(|t| parse_day("found_on", &t.on))
        .transpose()
        .map_err(|_| Error::Corrupt("a deal's first move".to_owned()))?
        .unwrap_or(today);
    let end = match q.as_of.as_deref() {
        Some(t) => parse_day("as_of", t)?,
        None => {
            let closed = deal
                .transitions
                .iter()
                .rev()
                .find(|t| matches!(t.to, DealStatus::Exited | DealStatus::Dead));
            match closed {
                Some(t) => parse_day("as_of", &t.on)
                    .map_err(|_| Error::Corrupt("a deal's move".to_owned()))?,
                None => today,
            }
        }
    };
    if end < found {
        return Err(Error::invalid(
            "as_of",
            format!("before the deal was found, on {}", text(found)),
        ));
    }
    Ok((found, end))
}

/// The first day of the twelve months ending on `end`.
pub fn year_before(end: NaiveDate) -> NaiveDate {
    end.checked_sub_months(Months::new(12))
        .and_then(|d| d.succ_opt())
        .unwrap_or(end)
}

fn deal_amount(m: &Money) -> Result<Decimal> {
    m.amount
        .parse::<Decimal>()
        .map_err(|_| Error::Corrupt("a deal's amount".to_owned()))
}

/// The returns of `deal` from the books' figures over `from..=as_of`, amounts at `scale`.
pub fn compute(
    deal: &Deal,
    b: &BookFigures,
    (from, as_of): (NaiveDate, NaiveDate),
    scale: u32,
) -> Result<Returns> {
    let money = |v: Decimal| {
        let mut v = v;
        v.rescale(scale);
        Money {
            amount: v.to_string(),
            currency: BOOKS_CURRENCY.to_owned(),
        }
    };
    let pct = |v: Option<Decimal>| v.map(|p| p.to_string());
    let mut unavailable = BTreeMap::new();
    let mut why = |name: &str, v: &Option<String>, reason: &str| {
        if v.is_none() {
            unavailable.insert(name.to_owned(), reason.to_owned());
        }
    };
    let net_income = b.income - b.expenses;
    let basis = b.property_at_cost + b.closing_costs + b.improvements;
    let equity = basis - b.loans_borrowed;
    let noi = b.t12_income - b.t12_operating_expenses;
    let cash_flow = noi - b.t12_interest - b.t12_principal_repaid;
    let no_equity = "no equity is invested: the books show no cost beyond what loans paid";
    let roi = pct(finance::percent_of(net_income, equity));
    why("roi_percent", &roi, no_equity);
    let cash_on_cash = pct(finance::percent_of(cash_flow, equity));
    why("cash_on_cash_percent", &cash_on_cash, no_equity);
    let cap_rate = (deal.strategy == Strategy::Hold).then(|| {
        let c = pct(finance::percent_of(noi, basis));
        why("cap_rate_percent", &c, "the books show no cost basis");
        c
    });
    let expected_basis = deal_amount(&deal.purchase_price)?
        + deal_amount(&deal.closing_costs)?
        + deal_amount(&deal.estimated_repairs)?;
    let expected_equity = expected_basis
        - deal
            .financing
            .as_ref()
            .map(|f| deal_amount(&f.principal))
            .transpose()?
            .unwrap_or(Decimal::ZERO);
    let expected_profit = deal.expected_profit.as_ref().map(deal_amount).transpose()?;
    let expected_roi = pct(expected_profit.and_then(|p| finance::percent_of(p, expected_equity)));
    why(
        "expected.roi_percent",
        &expected_roi,
        if expected_profit.is_none() {
            "the deal states no expected profit"
        } else {
            "the deal expects no equity: its loan covers the whole cost"
        },
    );
    Ok(Returns {
        deal_id: deal.id,
        property_id: deal.property_id,
        strategy: deal.strategy,
        status: deal.status,
        from: text(from),
        as_of: text(as_of),
        income: money(b.income),
        expenses: money(b.expenses),
        net_income: money(net_income),
        cost_basis: CostBasis {
            property_at_cost: money(b.property_at_cost),
            capitalized_closing_costs: money(b.closing_costs),
            capitalized_improvements: money(b.improvements),
            total: money(basis),
        },
        loans_borrowed: money(b.loans_borrowed),
        loans_outstanding: money(b.loans_outstanding),
        investor_capital: money(b.investor_capital),
        equity_invested: money(equity),
        roi_percent: roi,
        trailing_12_months: TrailingYear {
            from: text(year_before(as_of)),
            to: text(as_of),
            income: money(b.t12_income),
            operating_expenses: money(b.t12_operating_expenses),
            noi: money(noi),
            interest: money(b.t12_interest),
            principal_repaid: money(b.t12_principal_repaid),
            cash_flow: money(cash_flow),
        },
        cash_on_cash_percent: cash_on_cash,
        cap_rate_percent: cap_rate,
        expected: Expected {
            cost_basis: money(expected_basis),
            equity_invested: money(expected_equity),
            profit: expected_profit.map(money),
            roi_percent: expected_roi,
        },
        profit_vs_expected: expected_profit.map(|p| money(net_income - p)),
        realized: None,
        unavailable,
    })
}

/// Sums in the books' currency (accounts of another currency would need a conversion entry
/// first, and are left out) by account code: (posted debits, posted credits, posted
/// balance on the normal side, account type).
fn by_code(
    totals: &[AccountTotals],
) -> Result<BTreeMap<String, (Decimal, Decimal, Decimal, AccountType)>> {
    let mut out: BTreeMap<String, (Decimal, Decimal, Decimal, AccountType)> = BTreeMap::new();
    for t in totals {
        if t.account.currency.code().as_str() != BOOKS_CURRENCY {
            continue;
        }
        let side = t.account.account_type.normal_side();
        let balance = t.totals.posted(side).map_err(ledger_error)?.value();
        let e = out.entry(t.account.code.as_str().to_owned()).or_insert((
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::ZERO,
            t.account.account_type,
        ));
        e.0 += t.totals.posted_debits.value();
        e.1 += t.totals.posted_credits.value();
        e.2 += balance;
    }
    Ok(out)
}

/// Income and expenses of an income statement in the books' currency: (income, expenses other
/// than interest, interest).
fn earnings(
    totals: Vec<AccountTotals>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Decimal, Decimal, Decimal)> {
    let is = report::income_statement(totals, Some(from), Some(to)).map_err(ledger_error)?;
    let sum = |lines: &[report::StatementLine], keep: &dyn Fn(&str) -> bool| {
        lines
            .iter()
            .filter(|l| l.account.currency.code().as_str() == BOOKS_CURRENCY)
            .filter(|l| keep(l.account.code.as_str()))
            .map(|l| l.posted.value())
            .sum::<Decimal>()
    };
    Ok((
        sum(&is.income, &|_| true),
        sum(&is.expenses, &|c| c != codes::INTEREST),
        sum(&is.expenses, &|c| c == codes::INTEREST),
    ))
}

/// Reads the deal's figures from its property's books and the index and computes its returns,
/// realized ones included.
pub async fn returns(
    db: &crate::db::Db,
    ledger: &Ledger,
    deal: &Deal,
    q: &ReturnsQuery,
) -> Result<Returns> {
    let (from, as_of) = period(deal, q, chrono::Utc::now().date_naive())?;
    let currency = books_currency(ledger).await?;
    let scope = Scope::property(property_dim(&deal.property_id.to_string())?);
    let reports = ledger.reports();
    let t12_from = year_before(as_of);
    let life = reports
        .totals(&scope, Some(from), Some(as_of))
        .await
        .map_err(ledger_error)?;
    let to_date = reports
        .totals(&scope, None, Some(as_of))
        .await
        .map_err(ledger_error)?;
    let year = reports
        .totals(&scope, Some(t12_from), Some(as_of))
        .await
        .map_err(ledger_error)?;
    let (life_income, life_opex, life_interest) = earnings(life, from, as_of)?;
    let (t12_income, t12_opex, t12_interest) = earnings(year.clone(), t12_from, as_of)?;
    let sheet = by_code(&to_date)?;
    let year = by_code(&year)?;
    let balance = |code: &str| sheet.get(code).map_or(Decimal::ZERO, |e| e.2);
    let figures = BookFigures {
        income: life_income,
        expenses: life_opex + life_interest,
        property_at_cost: balance(codes::PROPERTY_AT_COST),
        closing_costs: balance(codes::CAPITALIZED_CLOSING_COSTS),
        improvements: balance(codes::CAPITALIZED_IMPROVEMENTS),
        loans_borrowed: sheet
            .get(codes::LOANS_PAYABLE)
            .map_or(Decimal::ZERO, |e| e.1),
        loans_outstanding: balance(codes::LOANS_PAYABLE),
        investor_capital: balance(codes::INVESTOR_CAPITAL),
        t12_income,
        t12_operating_expenses: t12_opex,
        t12_interest,
        t12_principal_repaid: year
            .get(codes::LOANS_PAYABLE)
            .map_or(Decimal::ZERO, |e| e.0),
    };
    let mut out = compute(deal, &figures, (from, as_of), currency.scale())?;
    out.realized = Some(
        realized::realized(
            db,
            ledger,
            deal.property_id,
            q.as_of.is_some().then_some(as_of),
            currency.scale(),
        )
        .await?,
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deals::{Financing, Transition};
    use crate::types::Currency;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn usd(s: &str) -> Money {
        Money {
            amount: s.to_owned(),
            currency: Currency::USD.code().to_owned(),
        }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn deal(strategy: Strategy, moves: &[(DealStatus, &str)]) -> Deal {
        Deal {
            id: DealId::new(),
            property_id: PropertyId(uuid::Uuid::nil()),
            strategy,
            status: moves.last().map_or(DealStatus::Lead, |m| m.0),
            purchase_price: usd("200000.00"),
            closing_costs: usd("5000.00"),
            financing: Some(Financing {
                lender: "Bank".to_owned(),
                principal: usd("150000.00"),
                rate_percent: "6".to_owned(),
                term_months: 360,
            }),
            estimated_repairs: usd("15000.00"),
            expected_profit: Some(usd("14000.00")),
            transitions: moves
                .iter()
                .map(|(to, on)| Transition {
                    from: None,
                    to: *to,
                    on: (*on).to_owned(),
                    by: "op".to_owned(),
                    recorded_at: String::new(),
                })
                .collect(),
            offers: Vec::new(),
            milestones: Vec::new(),
            sale: None,
            version: 1,
            created_by: "op".to_owned(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn the_period_runs_from_the_find_to_the_exit_or_the_day_asked() {
        let today = day("2027-06-30");
        let open = deal(Strategy::Hold, &[(DealStatus::Lead, "2026-01-10")]);
        let q = ReturnsQuery::default();
        assert_eq!(
            period(&open, &q, today).unwrap(),
            (day("2026-01-10"), today)
        );
        let exited = deal(
            Strategy::Hold,
            &[
                (DealStatus::Lead, "2026-01-10"),
                (DealStatus::Exited, "2027-03-01"),
            ],
        );
        assert_eq!(
            period(&exited, &q, today).unwrap(),
            (day("2026-01-10"), day("2027-03-01"))
        );
        let asked = ReturnsQuery {
            as_of: Some("2026-12-31".to_owned()),
        };
        assert_eq!(period(&exited, &asked, today).unwrap().1, day("2026-12-31"));
        let early = ReturnsQuery {
            as_of: Some("2025-12-31".to_owned()),
        };
        assert!(
            matches!(period(&open, &early, today), Err(Error::Invalid(e)) if e[0].pointer == "as_of")
        );
        assert_eq!(year_before(day("2027-03-01")), day("2026-03-02"));
        assert_eq!(year_before(day("2028-02-29")), day("2027-03-01"));
    }

    #[test]
    fn ratios_follow_the_books_and_sit_beside_the_expected_figures() {
        let hold = deal(Strategy::Hold, &[(DealStatus::Lead, "2026-01-10")]);
        let b = BookFigures {
            income: d("30000"),
            expenses: d("18000"),
            property_at_cost: d("200000"),
            closing_costs: d("5000"),
            improvements: d("20000"),
            loans_borrowed: d("150000"),
            loans_outstanding: d("148000"),
            investor_capital: d("90000"),
            t12_income: d("24000"),
            t12_operating_expenses: d("6000"),
            t12_interest: d("8900"),
            t12_principal_repaid: d("1800"),
        };
        let r = compute(&hold, &b, (day("2026-01-10"), day("2027-06-30")), 2).unwrap();
        assert_eq!(r.net_income.amount, "12000.00");
        assert_eq!(r.cost_basis.total.amount, "225000.00");
        assert_eq!(r.equity_invested.amount, "75000.00");
        // 12000 / 75000
        assert_eq!(r.roi_percent.as_deref(), Some("16.00"));
        // NOI 18000; cash flow 18000 - 8900 - 1800 = 7300; 7300 / 75000 = 9.7333%
        assert_eq!(r.trailing_12_months.noi.amount, "18000.00");
        assert_eq!(r.trailing_12_months.cash_flow.amount, "7300.00");
        assert_eq!(r.cash_on_cash_percent.as_deref(), Some("9.73"));
        // 18000 / 225000
        assert_eq!(r.cap_rate_percent, Some(Some("8.00".to_owned())));
        // Expected: 220000 basis, 70000 equity, 14000 / 70000 = 20%.
        assert_eq!(r.expected.cost_basis.amount, "220000.00");
        assert_eq!(r.expected.equity_invested.amount, "70000.00");
        assert_eq!(r.expected.roi_percent.as_deref(), Some("20.00"));
        assert_eq!(r.profit_vs_expected.unwrap().amount, "-2000.00");
        assert!(r.unavailable.is_empty());
        assert_eq!(r.trailing_12_months.from, "2026-07-01");

        // A flip has no cap rate; empty books have no ratios, and say why.
        let flip = deal(Strategy::Flip, &[(DealStatus::Lead, "2026-01-10")]);
        let r = compute(
            &flip,
            &BookFigures::default(),
            (day("2026-01-10"), day("2026-02-01")),
            6,
        )
        .unwrap();
        assert_eq!(r.cap_rate_percent, None);
        assert_eq!(r.roi_percent, None);
        assert_eq!(r.net_income.amount, "0.000000");
        assert!(r.unavailable.contains_key("roi_percent"));
        assert!(r.unavailable.contains_key("cash_on_cash_percent"));
        assert!(!r.unavailable.contains_key("cap_rate_percent"));
    }
}
