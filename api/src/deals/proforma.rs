//! A deal's pro-forma projection: what the deal should earn under stated assumptions (pure: no
//! database, no books). Money is USD to the cent; every figure is exact decimal arithmetic,
//! rounded to the cent where it is computed, half away from zero; rates are found and rounded
//! as [`super::finance`] says.
//!
//! The purchase price, closing costs, estimated repairs and the loan default to the deal's own
//! figures and may be overridden by the request (`loan_principal=0`: bought without a loan).
//!
//! **The loan** is a fixed-rate loan paid in equal monthly instalments over its term (fully
//! amortizing): the instalment is `P·i / (1 - (1 + i)^-n)` (`i` the yearly rate / 12, `n` the
//! term in months; `P / n` at 0%) rounded to the cent; each month's interest is the balance
//! times `i`, rounded to the cent, the rest of the instalment repays principal, and the last
//! instalment pays whatever is left. Debt service is the instalments paid; the payoff at a sale
//! is the balance left.
//!
//! **Hold.** Year `y` (1 ..= hold years): gross rent = year-1 rent × (1 + rent growth)^(y-1);
//! vacancy = gross × vacancy rate; effective income = gross - vacancy; expenses = year-1
//! expenses × (1 + expense growth)^(y-1), or a percentage of the year's effective income; NOI =
//! effective income - expenses; cash flow = NOI - debt service. The sale at the end of the last
//! year is priced on the next year's NOI (forward NOI) at the exit cap rate (no income, no
//! value: an exit NOI at or below zero sells for zero); selling costs are a percentage of it;
//! the loan's balance is paid off from it. Equity invested = purchase price + closing costs +
//! repairs - loan principal, at year 0. IRR is over yearly flows (year 0: -equity; year `y`:
//! its cash flow, plus the net sale proceeds less the payoff in the last year); the equity
//! multiple is everything returned (cash flows, net sale proceeds less the payoff) over the
//! equity; cash-on-cash is year 1's cash flow over the equity; the cap rate on cost is year 1's
//! NOI over purchase price + closing costs + repairs.
//!
//! **Flip.** Over the holding months: holding costs = monthly holding costs × months;
//! financing interest = the loan's interest over those months; selling costs = sale price
//! (after-repair value) × selling costs rate. Total cost = purchase price + closing costs +
//! repairs + holding costs + financing interest + selling costs; profit = sale price - total
//! cost. Cash invested = purchase price + closing costs + repairs - loan principal + holding
//! costs + the instalments paid (everything paid before the sale); ROI = profit / cash
//! invested; the annualized return compounds it: `(1 + ROI)^(12 / months) - 1`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::finance::{self, NoRate, cents};
use super::{Deal, DealId, Strategy, TERM_MAX_MONTHS};
use crate::error::{Checks, Error, Result};
use crate::types::{Currency, Money};

/// Longest hold, years.
pub const HOLD_YEARS_MAX: u32 = 30;
/// Longest flip, months (ten years).
pub const HOLDING_MONTHS_MAX: u32 = 120;
/// Largest amount an assumption may state, USD (a trillion: every figure derived from it stays
/// far inside what a decimal holds).
pub const AMOUNT_MAX_USD: i64 = 1_000_000_000_000;

/// What a pro-forma projects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// Buy and rent, then sell at an exit cap rate.
    Hold,
    /// Buy, repair, hold a few months, sell.
    Flip,
}

/// The assumptions, as query parameters: amounts are USD decimal text (at most two decimals),
/// rates are percentages (at most four decimals). Those the deal carries default to the deal's.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProFormaQuery {
    /// `hold` or `flip`; the deal's strategy by default (a wholesale deal must say).
    pub model: Option<String>,
    /// The purchase price; the deal's by default.
    pub purchase_price: Option<String>,
    /// Closing costs; the deal's by default.
    pub closing_costs: Option<String>,
    /// Repairs; the deal's estimate by default.
    pub estimated_repairs: Option<String>,
    /// The loan's principal; the deal's financing by default (`0`: no loan).
    pub loan_principal: Option<String>,
    /// The loan's yearly rate, percent; the deal's by default.
    pub loan_rate_percent: Option<String>,
    /// The loan's term, months (1 to 600); the deal's by default.
    pub loan_term_months: Option<String>,
    /// Hold: rent a month in year 1 (or `annual_rent`; one is required).
    pub monthly_rent: Option<String>,
    /// Hold: rent in year 1 (or `monthly_rent`).
    pub annual_rent: Option<String>,
    /// Hold: yearly rent growth, percent (default 0).
    pub rent_growth_percent: Option<String>,
    /// Hold: vacancy and credit loss, percent of gross rent (default 0).
    pub vacancy_percent: Option<String>,
    /// Hold: operating expenses in year 1 (or `expenses_percent`; one is required).
    pub annual_expenses: Option<String>,
    /// Hold: operating expenses as a percentage of each year's effective income.
    pub expenses_percent: Option<String>,
    /// Hold: yearly growth of `annual_expenses`, percent (default 0).
    pub expense_growth_percent: Option<String>,
    /// Hold: years held (1 to 30; required).
    pub hold_years: Option<String>,
    /// Hold: cap rate the property sells at, percent (required).
    pub exit_cap_rate_percent: Option<String>,
    /// Selling costs, percent of the sale price (default 0).
    pub selling_costs_percent: Option<String>,
    /// Flip: months from purchase to sale (1 to 120; required).
    pub holding_months: Option<String>,
    /// Flip: taxes, insurance, utilities and the like, a month (default 0).
    pub monthly_holding_costs: Option<String>,
    /// Flip: the sale price, the after-repair value (required).
    pub sale_price: Option<String>,
}

/// The acquisition: what the equity and the loan pay for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acquisition {
    /// Purchase price.
    pub purchase_price: Decimal,
    /// Closing costs.
    pub closing_costs: Decimal,
    /// Repairs.
    pub repairs: Decimal,
}

impl Acquisition {
    /// Purchase price + closing costs + repairs.
    pub fn cost(&self) -> Decimal {
        self.purchase_price + self.closing_costs + self.repairs
    }
}

/// A fixed-rate, fully amortizing loan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loan {
    /// Principal.
    pub principal: Decimal,
    /// Yearly rate, percent.
    pub rate_percent: Decimal,
    /// Term, months.
    pub term_months: u32,
}

/// How operating expenses are projected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expenses {
    /// An amount in year 1, growing yearly by a fraction.
    Annual {
        /// Year 1's amount.
        year_1: Decimal,
        /// Yearly growth (0.03 for 3%).
        growth: Decimal,
    },
    /// A fraction of each year's effective income.
    OfIncome(Decimal),
}

/// Hold assumptions, rates as fractions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldAssumptions {
    /// Gross rent in year 1.
    pub rent_year_1: Decimal,
    /// Yearly rent growth.
    pub rent_growth: Decimal,
    /// Vacancy, of gross rent.
    pub vacancy: Decimal,
    /// Operating expenses.
    pub expenses: Expenses,
    /// Years held.
    pub hold_years: u32,
    /// Exit cap rate.
    pub exit_cap_rate: Decimal,
    /// Selling costs, of the sale price.
    pub selling_costs: Decimal,
}

/// Flip assumptions, rates as fractions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlipAssumptions {
    /// Months held.
    pub holding_months: u32,
    /// Holding costs a month.
    pub monthly_holding_costs: Decimal,
    /// Sale price.
    pub sale_price: Decimal,
    /// Selling costs, of the sale price.
    pub selling_costs: Decimal,
}

/// What to project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// A hold.
    Hold(HoldAssumptions),
    /// A flip.
    Flip(FlipAssumptions),
}

/// Checked inputs of a projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inputs {
    /// The acquisition.
    pub acquisition: Acquisition,
    /// The loan, if any.
    pub loan: Option<Loan>,
    /// The plan.
    pub plan: Plan,
}

/// A percentage rounded for showing: decimal text.
fn pct(d: Decimal) -> String {
    d.to_string()
}

fn usd(d: Decimal) -> Money {
    let mut v = cents(d);
    v.rescale(Currency::USD.scale());
    Money {
        amount: v.to_string(),
        currency: Currency::USD.code().to_owned(),
    }
}

/// The loan as projected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct LoanTerms {
    /// Principal.
    pub principal: Money,
    /// Yearly rate, percent.
    pub rate_percent: String,
    /// Term, months.
    pub term_months: u32,
    /// The monthly instalment (the last one pays what is left).
    pub monthly_payment: Money,
}

/// One year of a hold's projection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct HoldYear {
    /// 1 for the first year held.
    pub year: u32,
    /// Rent at full occupancy.
    pub gross_rent: Money,
    /// Vacancy and credit loss.
    pub vacancy: Money,
    /// Rent collected.
    pub effective_income: Money,
    /// Operating expenses.
    pub expenses: Money,
    /// Net operating income.
    pub noi: Money,
    /// Loan instalments paid in the year.
    pub debt_service: Money,
    /// NOI less debt service.
    pub cash_flow: Money,
}

/// A hold's projection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct HoldProjection {
    /// Gross rent in year 1.
    pub gross_rent_year_1: Money,
    /// Yearly rent growth, percent.
    pub rent_growth_percent: String,
    /// Vacancy, percent of gross rent.
    pub vacancy_percent: String,
    /// Operating expenses in year 1, when given as an amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annual_expenses: Option<Money>,
    /// Yearly growth of the expenses given as an amount, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expense_growth_percent: Option<String>,
    /// Operating expenses as a percentage of effective income, when given so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expenses_percent: Option<String>,
    /// Years held.
    pub hold_years: u32,
    /// Exit cap rate, percent.
    pub exit_cap_rate_percent: String,
    /// Selling costs, percent of the sale price.
    pub selling_costs_percent: String,
    /// Year by year.
    pub years: Vec<HoldYear>,
    /// Purchase price + closing costs + repairs - loan principal, paid at year 0.
    pub equity_invested: Money,
    /// The NOI of the year after the last, which prices the sale.
    pub exit_noi: Money,
    /// Exit NOI / exit cap rate.
    pub exit_value: Money,
    /// Selling costs.
    pub selling_costs: Money,
    /// Exit value less selling costs.
    pub net_sale_proceeds: Money,
    /// The loan's balance at the sale.
    pub loan_payoff: Money,
    /// Every cash flow, plus the net sale proceeds less the payoff.
    pub total_returned: Money,
    /// Total returned less equity invested.
    pub profit: Money,
    /// IRR of the yearly flows, percent (null: see `unavailable`).
    pub irr_percent: Option<String>,
    /// Total returned / equity invested (null: see `unavailable`).
    pub equity_multiple: Option<String>,
    /// Year 1's cash flow / equity invested, percent.
    pub cash_on_cash_year_1_percent: Option<String>,
    /// Year 1's NOI / (purchase price + closing costs + repairs), percent.
    pub cap_rate_on_cost_percent: Option<String>,
    /// Why a figure is null, by its name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<String, String>,
}

/// A flip's projection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FlipProjection {
    /// Months held.
    pub holding_months: u32,
    /// Holding costs a month.
    pub monthly_holding_costs: Money,
    /// The sale price (after-repair value).
    pub sale_price: Money,
    /// Selling costs, percent of the sale price.
    pub selling_costs_percent: String,
    /// Holding costs over the months held.
    pub holding_costs: Money,
    /// The loan's interest over the months held.
    pub financing_interest: Money,
    /// Selling costs.
    pub selling_costs: Money,
    /// Purchase price + closing costs + repairs + holding costs + financing interest + selling
    /// costs.
    pub total_cost: Money,
    /// Loan instalments paid before the sale.
    pub debt_service: Money,
    /// The loan's balance at the sale.
    pub loan_payoff: Money,
    /// Sale price less selling costs and the payoff.
    pub net_sale_proceeds: Money,
    /// Equity at purchase + holding costs + debt service: everything paid before the sale.
    pub cash_invested: Money,
    /// Sale price less total cost.
    pub profit: Money,
    /// Profit / cash invested, percent.
    pub roi_percent: Option<String>,
    /// `(1 + ROI)^(12 / months) - 1`, percent.
    pub annualized_return_percent: Option<String>,
    /// Why a figure is null, by its name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<String, String>,
}

/// A deal's pro-forma.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProForma {
    /// The deal.
    pub deal_id: DealId,
    /// What was projected.
    pub model: Model,
    /// Purchase price.
    pub purchase_price: Money,
    /// Closing costs.
    pub closing_costs: Money,
    /// Repairs.
    pub estimated_repairs: Money,
    /// Purchase price + closing costs + repairs.
    pub total_acquisition_cost: Money,
    /// The loan (absent: bought without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loan: Option<LoanTerms>,
    /// The deal's own expected profit, to compare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_profit: Option<Money>,
    /// The hold projection (model `hold`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldProjection>,
    /// The flip projection (model `flip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flip: Option<FlipProjection>,
}

// ---- reading the assumptions ----

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An amount of USD: at most two decimals, not negative, at most [`AMOUNT_MAX_USD`].
fn amount(name: &str, text: &str) -> Result<Decimal> {
    let d = text
        .parse::<Decimal>()
        .ok()
        .filter(|_| text.len() <= 40)
        .ok_or_else(|| Error::invalid(name, "expected a USD amount such as \"1250.00\""))?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(Error::invalid(name, "must not be negative"));
    }
    if d.scale() > 2 {
        return Err(Error::invalid(
            name,
            "USD amounts have at most 2 decimal places",
        ));
    }
    if d > Decimal::from(AMOUNT_MAX_USD) {
        return Err(Error::invalid(
            name,
            format!("at most {AMOUNT_MAX_USD} USD"),
        ));
    }
    Ok(d.normalize())
}

/// A percentage with at most four decimals, within `min..=max` (`min` excluded when
/// `min_open`), as a fraction.
fn percent(name: &str, text: &str, min: i64, min_open: bool, max: i64) -> Result<Decimal> {
    let bad = || {
        let low = if min_open { "above" } else { "from" };
        Error::invalid(
            name,
            format!(
                "expected a percentage {low} {min} to {max} with at most four decimals, such as \"3.5\""
            ),
        )
    };
    let d = text
        .parse::<Decimal>()
        .ok()
        .filter(|_| text.len() <= 40)
        .ok_or_else(bad)?;
    let (lo, hi) = (Decimal::from(min), Decimal::from(max));
    if d.scale() > 4 || d > hi || d < lo || (min_open && d == lo) {
        return Err(bad());
    }
    Ok(d.normalize() / HUNDRED)
}

fn whole(name: &str, text: &str, max: u32) -> Result<u32> {
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| Error::invalid(name, format!("expected a whole number from 1 to {max}")))
}

fn required<T>(checks: &mut Checks, name: &str, why: &str, v: Option<T>) -> Option<T> {
    if v.is_none() {
        checks.push(name, why);
    }
    v
}

/// A figure of the deal, as stored (USD text at the cent).
fn deal_amount(m: &Money) -> Result<Decimal> {
    m.amount
        .parse::<Decimal>()
        .map_err(|_| Error::Corrupt("a deal's amount".to_owned()))
}

impl ProFormaQuery {
    /// Checks the assumptions against the deal's defaults; every bad or missing one is named.
    pub fn check(&self, deal: &Deal) -> Result<Inputs> {
        let mut c = Checks::new();
        let model = match present(&self.model) {
            Some("hold") => Some(Model::Hold),
            Some("flip") => Some(Model::Flip),
            Some(_) => {
                c.push("model", "expected hold or flip");
                None
            }
            None => match deal.strategy {
                Strategy::Hold => Some(Model::Hold),
                Strategy::Flip => Some(Model::Flip),
                Strategy::Wholesale => {
                    c.push(
                        "model",
                        "required for a wholesale deal: hold or flip, the plan to project",
                    );
                    None
                }
            },
        };
        let money =
            |c: &mut Checks, name: &str, given: &Option<String>, default: &Money| match present(
                given,
            ) {
                Some(t) => c.take(amount(name, t)),
                None => c.take(deal_amount(default)),
            };
        let purchase_price = money(
            &mut c,
            "purchase_price",
            &self.purchase_price,
            &deal.purchase_price,
        );
        let closing_costs = money(
            &mut c,
            "closing_costs",
            &self.closing_costs,
            &deal.closing_costs,
        );
        let repairs = money(
            &mut c,
            "estimated_repairs",
            &self.estimated_repairs,
            &deal.estimated_repairs,
        );
        let loan = self.loan(&mut c, deal);
        let plan = match model {
            Some(Model::Hold) => {
                self.refuse_others(&mut c, Model::Hold);
                self.hold(&mut c).map(Plan::Hold)
            }
            Some(Model::Flip) => {
                self.refuse_others(&mut c, Model::Flip);
                self.flip(&mut c).map(Plan::Flip)
            }
            None => None,
        };
        c.finish()?;
        match (purchase_price, closing_costs, repairs, loan, plan) {
            (Some(purchase_price), Some(closing_costs), Some(repairs), Some(loan), Some(plan)) => {
                Ok(Inputs {
                    acquisition: Acquisition {
                        purchase_price,
                        closing_costs,
                        repairs,
                    },
                    loan,
                    plan,
                })
            }
            _ => Err(Error::Internal("checked assumptions missing".into())),
        }
    }

    /// The loan: `Some(None)` for none, `None` when a part is wrong (recorded in `c`).
    fn loan(&self, c: &mut Checks, deal: &Deal) -> Option<Option<Loan>> {
        let financing = deal.financing.as_ref();
        // Every part is checked, so each bad one is named, before any is used.
        let principal = match present(&self.loan_principal) {
            Some(t) => c.take(amount("loan_principal", t)),
            None => match financing {
                Some(f) => c.take(deal_amount(&f.principal)),
                None => Some(Decimal::ZERO),
            },
        };
        if principal.is_some_and(|p| p.is_zero()) {
            for (name, v) in [
                ("loan_rate_percent", &self.loan_rate_percent),
                ("loan_term_months", &self.loan_term_months),
            ] {
                if present(v).is_some() {
                    c.push(name, "applies only with a loan (loan_principal above 0)");
                }
            }
            return Some(None);
        }
        let rate = match present(&self.loan_rate_percent) {
            Some(t) => c.take(percent("loan_rate_percent", t, 0, false, 100)),
            None => match financing {
                Some(f) => c.take(
                    f.rate_percent
                        .parse::<Decimal>()
                        .map(|r| r / HUNDRED)
                        .map_err(|_| Error::Corrupt("a deal's rate".to_owned())),
                ),
                None => required(
                    c,
                    "loan_rate_percent",
                    "required with a loan: the deal has no financing",
                    None,
                ),
            },
        };
        let max_term = u32::try_from(TERM_MAX_MONTHS).unwrap_or(u32::MAX);
        let term = match present(&self.loan_term_months) {
            Some(t) => c.take(whole("loan_term_months", t, max_term)),
            None => match financing {
                Some(f) => c.take(
                    u32::try_from(f.term_months)
                        .ok()
                        .filter(|t| (1..=max_term).contains(t))
                        .ok_or_else(|| Error::Corrupt("a deal's term".to_owned())),
                ),
                None => required(
                    c,
                    "loan_term_months",
                    "required with a loan: the deal has no financing",
                    None,
                ),
            },
        };
        Some(Some(Loan {
            principal: principal?,
            rate_percent: rate? * HUNDRED,
            term_months: term?,
        }))
    }

    fn refuse_others(&self, c: &mut Checks, model: Model) {
        let hold_only = [
            ("monthly_rent", &self.monthly_rent),
            ("annual_rent", &self.annual_rent),
            ("rent_growth_percent", &self.rent_growth_percent),
            ("vacancy_percent", &self.vacancy_percent),
            ("annual_expenses", &self.annual_expenses),
            ("expenses_percent", &self.expenses_percent),
            ("expense_growth_percent", &self.expense_growth_percent),
            ("hold_years", &self.hold_years),
            ("exit_cap_rate_percent", &self.exit_cap_rate_percent),
        ];
        let flip_only = [
            ("holding_months", &self.holding_months),
            ("monthly_holding_costs", &self.monthly_holding_costs),
            ("sale_price", &self.sale_price),
        ];
        let (others, what): (&[(&str, &Option<String>)], &str) = match model {
            Model::Hold => (&flip_only, "applies to flip pro-formas only"),
            Model::Flip => (&hold_only, "applies to hold pro-formas only"),
        };
        for (name, v) in others {
            if present(v).is_some() {
                c.push(*name, what);
            }
        }
    }

    fn hold(&self, c: &mut Checks) -> Option<HoldAssumptions> {
        let rent = match (present(&self.monthly_rent), present(&self.annual_rent)) {
            (Some(m), None) => c
                .take(amount("monthly_rent", m))
                .map(|m| m * Decimal::from(12)),
            (None, Some(a)) => c.take(amount("annual_rent", a)),
            (Some(_), Some(_)) => {
                c.push("annual_rent", "give monthly_rent or annual_rent, not both");
                None
            }
            (None, None) => required(
                c,
                "monthly_rent",
                "required: the rent (monthly_rent or annual_rent)",
                None,
            ),
        };
        let rate =
            |c: &mut Checks, name: &str, v: &Option<String>, min: i64, open: bool, max: i64| {
                match present(v) {
                    Some(t) => c.take(percent(name, t, min, open, max)),
                    None => Some(Decimal::ZERO),
                }
            };
        let rent_growth = rate(
            c,
            "rent_growth_percent",
            &self.rent_growth_percent,
            -100,
            true,
            100,
        );
        let vacancy = rate(c, "vacancy_percent", &self.vacancy_percent, 0, false, 100);
        let expenses = match (
            present(&self.annual_expenses),
            present(&self.expenses_percent),
        ) {
            (Some(a), None) => {
                let year_1 = c.take(amount("annual_expenses", a));
                let growth = rate(
                    c,
                    "expense_growth_percent",
                    &self.expense_growth_percent,
                    -100,
                    true,
                    100,
                );
                year_1
                    .zip(growth)
                    .map(|(year_1, growth)| Expenses::Annual { year_1, growth })
            }
            (None, Some(p)) => {
                if present(&self.expense_growth_percent).is_some() {
                    c.push(
                        "expense_growth_percent",
                        "applies only to annual_expenses (a percentage follows income)",
                    );
                }
                c.take(percent("expenses_percent", p, 0, false, 100))
                    .map(Expenses::OfIncome)
            }
            (Some(_), Some(_)) => {
                c.push(
                    "expenses_percent",
                    "give annual_expenses or expenses_percent, not both",
                );
                None
            }
            (None, None) => required(
                c,
                "annual_expenses",
                "required: operating expenses (annual_expenses or expenses_percent)",
                None,
            ),
        };
        let hold_years = match present(&self.hold_years) {
            Some(t) => c.take(whole("hold_years", t, HOLD_YEARS_MAX)),
            None => required(c, "hold_years", "required: years held (1 to 30)", None),
        };
        let exit_cap_rate = match present(&self.exit_cap_rate_percent) {
            // At least 0.01%: the exit value is NOI / cap rate.
            Some(t) => c
                .take(percent("exit_cap_rate_percent", t, 0, true, 100))
                .and_then(|r| {
                    if r < Decimal::new(1, 4) {
                        c.push("exit_cap_rate_percent", "at least 0.01");
                        None
                    } else {
                        Some(r)
                    }
                }),
            None => required(
                c,
                "exit_cap_rate_percent",
                "required: the cap rate the property sells at",
                None,
            ),
        };
        let selling = rate(
            c,
            "selling_costs_percent",
            &self.selling_costs_percent,
            0,
            false,
            100,
        );
        Some(HoldAssumptions {
            rent_year_1: rent?,
            rent_growth: rent_growth?,
            vacancy: vacancy?,
            expenses: expenses?,
            hold_years: hold_years?,
            exit_cap_rate: exit_cap_rate?,
            selling_costs: selling?,
        })
    }

    fn flip(&self, c: &mut Checks) -> Option<FlipAssumptions> {
        let months = match present(&self.holding_months) {
            Some(t) => c.take(whole("holding_months", t, HOLDING_MONTHS_MAX)),
            None => required(
                c,
                "holding_months",
                "required: months from purchase to sale (1 to 120)",
                None,
            ),
        };
        let monthly = match present(&self.monthly_holding_costs) {
            Some(t) => c.take(amount("monthly_holding_costs", t)),
            None => Some(Decimal::ZERO),
        };
        let sale = match present(&self.sale_price) {
            Some(t) => c.take(amount("sale_price", t)),
            None => required(
                c,
                "sale_price",
                "required: the sale price (after-repair value)",
                None,
            ),
        };
        let selling = match present(&self.selling_costs_percent) {
            Some(t) => c.take(percent("selling_costs_percent", t, 0, false, 100)),
            None => Some(Decimal::ZERO),
        };
        Some(FlipAssumptions {
            holding_months: months?,
            monthly_holding_costs: monthly?,
            sale_price: sale?,
            selling_costs: selling?,
        })
    }
}

// ---- the projection ----

/// A loan's month-by-month schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The instalment (the last may be less).
    pub payment: Decimal,
    /// Per month paid (1-based index - 1): (instalment, interest).
    pub months: Vec<(Decimal, Decimal)>,
    /// Balance after each month, month 0 first.
    pub balances: Vec<Decimal>,
}

impl Schedule {
    /// The schedule of `loan` for its first `months` months (or its whole term if shorter).
    pub fn of(loan: &Loan, months: u32) -> Schedule {
        let i = loan.rate_percent / HUNDRED / Decimal::from(12);
        let n = loan.term_months;
        let p = loan.principal;
        let payment = if i.is_zero() {
            cents(p / Decimal::from(n))
        } else {
            // P·i / (1 - (1 + i)^-n): the discount factor stays at most 1, so no power overflows.
            let d = Decimal::ONE / (Decimal::ONE + i);
            let dn = finance::power(d, n).unwrap_or(Decimal::ZERO);
            cents(p * i / (Decimal::ONE - dn))
        };
        let mut balance = p;
        let mut out = Schedule {
            payment,
            months: Vec::new(),
            balances: vec![p],
        };
        for k in 1..=months.min(n) {
            if balance.is_zero() {
                break;
            }
            let interest = cents(balance * i);
            let due = balance + interest;
            let paid = if k == n || payment >= due {
                due
            } else {
                payment
            };
            // An instalment below the month's interest would grow the balance; the formula's
            // instalment never is, rounding aside.
            let principal = (paid - interest).max(Decimal::ZERO);
            balance -= principal;
            out.months.push((paid, interest));
            out.balances.push(balance);
        }
        out
    }

    /// Instalments paid in months `from..=to` (1-based).
    pub fn paid(&self, from: u32, to: u32) -> Decimal {
        self.slice(from, to).map(|(p, _)| *p).sum()
    }

    /// Interest paid in months `from..=to` (1-based).
    pub fn interest(&self, from: u32, to: u32) -> Decimal {
        self.slice(from, to).map(|(_, i)| *i).sum()
    }

    /// The balance after `month` months.
    pub fn balance_after(&self, month: u32) -> Decimal {
        let k = usize::try_from(month).unwrap_or(usize::MAX);
        self.balances
            .get(k)
            .or(self.balances.last())
            .copied()
            .unwrap_or(Decimal::ZERO)
    }

    fn slice(&self, from: u32, to: u32) -> impl Iterator<Item = &(Decimal, Decimal)> {
        let from = usize::try_from(from.max(1) - 1).unwrap_or(usize::MAX);
        let to = usize::try_from(to).unwrap_or(usize::MAX);
        self.months
            .iter()
            .enumerate()
            .filter(move |(k, _)| *k >= from && *k < to)
            .map(|(_, m)| m)
    }
}

fn grown(base: Decimal, growth: Decimal, years: u32) -> Decimal {
    // Growth is above -100% and at most +100% over at most 31 years: no overflow.
    finance::power(Decimal::ONE + growth, years)
        .map(|g| cents(base * g))
        .unwrap_or(Decimal::ZERO)
}

fn no_rate(unavailable: &mut BTreeMap<String, String>, name: &str, why: NoRate) {
    unavailable.insert(name.to_owned(), why.to_string());
}

fn ratio_or(
    unavailable: &mut BTreeMap<String, String>,
    name: &str,
    v: Option<Decimal>,
    why: &str,
) -> Option<String> {
    if v.is_none() {
        unavailable.insert(name.to_owned(), why.to_owned());
    }
    v.map(pct)
}

/// Projects a hold.
pub fn project_hold(acq: &Acquisition, loan: Option<&Loan>, h: &HoldAssumptions) -> HoldProjection {
    let months = h.hold_years * 12;
    let schedule = loan.map(|l| Schedule::of(l, months));
    let year = |y: u32| {
        let gross = grown(h.rent_year_1, h.rent_growth, y - 1);
        let vacancy = cents(gross * h.vacancy);
        let effective = gross - vacancy;
        let expenses = match h.expenses {
            Expenses::Annual { year_1, growth } => grown(year_1, growth, y - 1),
            Expenses::OfIncome(share) => cents(effective * share),
        };
        (gross, vacancy, effective, expenses, effective - expenses)
    };
    let mut years = Vec::new();
    let mut flows = Vec::new();
    let equity = acq.cost() - loan.map_or(Decimal::ZERO, |l| l.principal);
    flows.push(-equity);
    let (mut noi_1, mut cash_flow_1) = (Decimal::ZERO, Decimal::ZERO);
    let mut returned = Decimal::ZERO;
    for y in 1..=h.hold_years {
        let (gross, vacancy, effective, expenses, noi) = year(y);
        let debt_service = schedule
            .as_ref()
            .map_or(Decimal::ZERO, |s| s.paid(12 * (y - 1) + 1, 12 * y));
        let cash_flow = noi - debt_service;
        if y == 1 {
            (noi_1, cash_flow_1) = (noi, cash_flow);
        }
        returned += cash_flow;
        flows.push(cash_flow);
        years.push(HoldYear {
            year: y,
            gross_rent: usd(gross),
            vacancy: usd(vacancy),
            effective_income: usd(effective),
            expenses: usd(expenses),
            noi: usd(noi),
            debt_service: usd(debt_service),
            cash_flow: usd(cash_flow),
        });
    }
    let exit_noi = year(h.hold_years + 1).4;
    let exit_value = if exit_noi > Decimal::ZERO {
        cents(exit_noi / h.exit_cap_rate)
    } else {
        Decimal::ZERO
    };
    let selling_costs = cents(exit_value * h.selling_costs);
    let net_sale = exit_value - selling_costs;
    let payoff = schedule
        .as_ref()
        .map_or(Decimal::ZERO, |s| s.balance_after(months));
    returned += net_sale - payoff;
    if let Some(last) = flows.last_mut() {
        *last += net_sale - payoff;
    }
    let mut unavailable = BTreeMap::new();
    let irr = match finance::irr(&flows) {
        Ok(r) => Some(pct(finance::percent(r))),
        Err(why) => {
            no_rate(&mut unavailable, "irr_percent", why);
            None
        }
    };
    let no_equity = "no equity is invested (the loan covers the whole cost)";
    let equity_multiple = ratio_or(
        &mut unavailable,
        "equity_multiple",
        finance::ratio(returned, equity),
        no_equity,
    );
    let cash_on_cash = ratio_or(
        &mut unavailable,
        "cash_on_cash_year_1_percent",
        finance::percent_of(cash_flow_1, equity),
        no_equity,
    );
    let cap_rate = ratio_or(
        &mut unavailable,
        "cap_rate_on_cost_percent",
        finance::percent_of(noi_1, acq.cost()),
        "the acquisition cost is zero",
    );
    let (annual_expenses, expense_growth, expenses_percent) = match h.expenses {
        Expenses::Annual { year_1, growth } => (
            Some(usd(year_1)),
            Some(pct((growth * HUNDRED).normalize())),
            None,
        ),
        Expenses::OfIncome(share) => (None, None, Some(pct((share * HUNDRED).normalize()))),
    };
    HoldProjection {
        gross_rent_year_1: usd(h.rent_year_1),
        rent_growth_percent: pct((h.rent_growth * HUNDRED).normalize()),
        vacancy_percent: pct((h.vacancy * HUNDRED).normalize()),
        annual_expenses,
        expense_growth_percent: expense_growth,
        expenses_percent,
        hold_years: h.hold_years,
        exit_cap_rate_percent: pct((h.exit_cap_rate * HUNDRED).normalize()),
        selling_costs_percent: pct((h.selling_costs * HUNDRED).normalize()),
        years,
        equity_invested: usd(equity),
        exit_noi: usd(exit_noi),
        exit_value: usd(exit_value),
        selling_costs: usd(selling_costs),
        net_sale_proceeds: usd(net_sale),
        loan_payoff: usd(payoff),
        total_returned: usd(returned),
        profit: usd(returned - equity),
        irr_percent: irr,
        equity_multiple,
        cash_on_cash_year_1_percent: cash_on_cash,
        cap_rate_on_cost_percent: cap_rate,
        unavailable,
    }
}

/// Projects a flip.
pub fn project_flip(acq: &Acquisition, loan: Option<&Loan>, f: &FlipAssumptions) -> FlipProjection {
    let m = f.holding_months;
    let schedule = loan.map(|l| Schedule::of(l, m));
    let holding = f.monthly_holding_costs * Decimal::from(m);
    let interest = schedule
        .as_ref()
        .map_or(Decimal::ZERO, |s| s.interest(1, m));
    let debt_service = schedule.as_ref().map_or(Decimal::ZERO, |s| s.paid(1, m));
    let payoff = schedule
        .as_ref()
        .map_or(Decimal::ZERO, |s| s.balance_after(m));
    let selling = cents(f.sale_price * f.selling_costs);
    let total_cost = acq.cost() + holding + interest + selling;
    let profit = f.sale_price - total_cost;
    let principal = loan.map_or(Decimal::ZERO, |l| l.principal);
    let cash_invested = acq.cost() - principal + holding + debt_service;
    let net_sale = f.sale_price - selling - payoff;
    // Whatever the loan, what comes back at the sale less everything paid before it is the
    // profit: the principal borrowed is repaid in instalments and the payoff.
    debug_assert_eq!(net_sale - cash_invested, profit);
    let mut unavailable = BTreeMap::new();
    let no_cash = "no cash is invested (the loan covers every cost)";
    let roi = finance::percent_of(profit, cash_invested);
    let annualized = if cash_invested > Decimal::ZERO {
        match finance::annualize_months(profit / cash_invested, m) {
            Ok(r) => Some(pct(finance::percent(r))),
            Err(why) => {
                no_rate(&mut unavailable, "annualized_return_percent", why);
                None
            }
        }
    } else {
        unavailable.insert("annualized_return_percent".to_owned(), no_cash.to_owned());
        None
    };
    let roi = ratio_or(&mut unavailable, "roi_percent", roi, no_cash);
    FlipProjection {
        holding_months: m,
        monthly_holding_costs: usd(f.monthly_holding_costs),
        sale_price: usd(f.sale_price),
        selling_costs_percent: pct((f.selling_costs * HUNDRED).normalize()),
        holding_costs: usd(holding),
        financing_interest: usd(interest),
        selling_costs: usd(selling),
        total_cost: usd(total_cost),
        debt_service: usd(debt_service),
        loan_payoff: usd(payoff),
        net_sale_proceeds: usd(net_sale),
        cash_invested: usd(cash_invested),
        profit: usd(profit),
        roi_percent: roi,
        annualized_return_percent: annualized,
        unavailable,
    }
}

/// The pro-forma of `deal` under checked inputs.
pub fn project(deal: &Deal, inputs: &Inputs) -> ProForma {
    let acq = &inputs.acquisition;
    let loan = inputs.loan.as_ref();
    let (model, hold, flip) = match &inputs.plan {
        Plan::Hold(h) => (Model::Hold, Some(project_hold(acq, loan, h)), None),
        Plan::Flip(f) => (Model::Flip, None, Some(project_flip(acq, loan, f))),
    };
    ProForma {
        deal_id: deal.id,
        model,
        purchase_price: usd(acq.purchase_price),
        closing_costs: usd(acq.closing_costs),
        estimated_repairs: usd(acq.repairs),
        total_acquisition_cost: usd(acq.cost()),
        loan: loan.map(|l| LoanTerms {
            principal: usd(l.principal),
            rate_percent: pct(l.rate_percent.normalize()),
            term_months: l.term_months,
            monthly_payment: usd(Schedule::of(l, 0).payment),
        }),
        expected_profit: deal.expected_profit.clone(),
        hold,
        flip,
    }
}

/// Checks the query against the deal and projects.
pub fn pro_forma(deal: &Deal, q: &ProFormaQuery) -> Result<ProForma> {
    let inputs = q.check(deal)?;
    Ok(project(deal, &inputs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn a_loan_amortizes_to_zero_at_the_cent() {
        // 100,000 at 6% over 360 months: the textbook instalment is 599.55.
        let loan = Loan {
            principal: d("100000"),
            rate_percent: d("6"),
            term_months: 360,
        };
        let s = Schedule::of(&loan, 360);
        assert_eq!(s.payment, d("599.55"));
        assert_eq!(s.months.len(), 360);
        assert_eq!(s.balance_after(360), Decimal::ZERO);
        // First month: interest 500.00, principal 99.55.
        assert_eq!(s.months[0], (d("599.55"), d("500.00")));
        assert_eq!(s.balance_after(1), d("99900.45"));
        // Everything paid is the principal plus every month's interest.
        let paid = s.paid(1, 360);
        assert_eq!(paid, d("100000") + s.interest(1, 360));
        // At 0%: equal parts, the last one what is left.
        let flat = Schedule::of(
            &Loan {
                principal: d("1000"),
                rate_percent: d("0"),
                term_months: 3,
            },
            12,
        );
        assert_eq!(flat.payment, d("333.33"));
        assert_eq!(flat.months.last(), Some(&(d("333.34"), d("0"))));
        assert_eq!(flat.balance_after(12), Decimal::ZERO);
        assert_eq!(flat.paid(1, 12), d("1000"));
    }

    #[test]
    fn a_hold_without_a_loan_at_flat_rent_returns_its_cap_rate() {
        // Bought at 100,000 all cash, NOI 8,000 a year, sold at an 8% cap: IRR is 8% exactly,
        // the multiple 1 + 8% × years.
        let acq = Acquisition {
            purchase_price: d("100000"),
            closing_costs: d("0"),
            repairs: d("0"),
        };
        let h = HoldAssumptions {
            rent_year_1: d("12000"),
            rent_growth: d("0"),
            vacancy: d("0"),
            expenses: Expenses::Annual {
                year_1: d("4000"),
                growth: d("0"),
            },
            hold_years: 5,
            exit_cap_rate: d("0.08"),
            selling_costs: d("0"),
        };
        let p = project_hold(&acq, None, &h);
        assert_eq!(p.irr_percent.as_deref(), Some("8.00"));
        assert_eq!(p.equity_multiple.as_deref(), Some("1.40"));
        assert_eq!(p.exit_value.amount, "100000.00");
        assert_eq!(p.cap_rate_on_cost_percent.as_deref(), Some("8.00"));
        assert_eq!(p.cash_on_cash_year_1_percent.as_deref(), Some("8.00"));
        assert_eq!(p.years.len(), 5);
        assert!(p.unavailable.is_empty());
    }

    #[test]
    fn a_hold_that_never_pays_back_has_no_irr_and_says_why() {
        let acq = Acquisition {
            purchase_price: d("100000"),
            closing_costs: d("0"),
            repairs: d("0"),
        };
        let h = HoldAssumptions {
            rent_year_1: d("0"),
            rent_growth: d("0"),
            vacancy: d("0"),
            expenses: Expenses::Annual {
                year_1: d("1000"),
                growth: d("0"),
            },
            hold_years: 3,
            exit_cap_rate: d("0.05"),
            selling_costs: d("0"),
        };
        let p = project_hold(&acq, None, &h);
        assert_eq!(p.irr_percent, None);
        assert_eq!(p.exit_value.amount, "0.00");
        assert!(p.unavailable["irr_percent"].contains("never change sign"));
        assert_eq!(p.equity_multiple.as_deref(), Some("-0.03"));
    }

    #[test]
    fn a_flips_profit_is_what_the_sale_returns_over_what_was_paid() {
        let acq = Acquisition {
            purchase_price: d("200000"),
            closing_costs: d("5000"),
            repairs: d("40000"),
        };
        let loan = Loan {
            principal: d("150000"),
            rate_percent: d("12"),
            term_months: 12,
        };
        let f = FlipAssumptions {
            holding_months: 6,
            monthly_holding_costs: d("1000"),
            sale_price: d("320000"),
            selling_costs: d("0.06"),
        };
        let p = project_flip(&acq, Some(&loan), &f);
        let total = d(&p.total_cost.amount);
        assert_eq!(d(&p.profit.amount), d("320000") - total);
        assert_eq!(
            d(&p.net_sale_proceeds.amount) - d(&p.cash_invested.amount),
            d(&p.profit.amount)
        );
        assert_eq!(p.selling_costs.amount, "19200.00");
        assert_eq!(p.holding_costs.amount, "6000.00");
        // A whole loss is -100% and has no annualized rate.
        let lost = project_flip(
            &acq,
            None,
            &FlipAssumptions {
                sale_price: d("0"),
                ..f
            },
        );
        assert_eq!(lost.roi_percent.as_deref(), Some("-100.00"));
        assert_eq!(lost.annualized_return_percent, None);
        assert!(lost.unavailable.contains_key("annualized_return_percent"));
        // A loan above every cost leaves no cash invested: no ratios, with the reason.
        let all_loan = project_flip(
            &acq,
            Some(&Loan {
                principal: d("1000000"),
                ..loan
            }),
            &f,
        );
        assert_eq!(all_loan.roi_percent, None);
        assert!(all_loan.unavailable["roi_percent"].contains("no cash"));
    }
}
