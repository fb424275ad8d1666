//! Rates of return in exact decimals: the internal rate of return of periodic flows (IRR), of
//! dated flows (XIRR, Actual/365), compounded annualization, and the rounding every figure
//! shown goes through. No float anywhere: every step is `rust_decimal` arithmetic with integer
//! powers only.
//!
//! **How a rate is found.** The net present value of flows `c_t` at exponents `t` (periods, or
//! days) is `Σ c_t / g^t` with `g = 1 + q`, `q` the rate per period. Only its sign matters to
//! the search, so for `g < 1` the sum is multiplied through by `g^T` (`T` the last exponent):
//! `Σ c_t · g^(T - t)`, the same sign, and every power taken is then of a number at most 1, so
//! nothing overflows however long the flows run. The search scans a fixed grid of rates for
//! sign changes of the NPV: exactly one change is bisected until the bracket is narrower than
//! the stated tolerance ([`RATE_TOLERANCE`] a year); none means no rate in the grid's range
//! makes the NPV zero, several mean the rate is not unique (flows that change sign more than
//! once). Flows that never change sign have no rate at all. Each case is a [`NoRate`], a reason
//! to show next to a null figure, never an error of the request.
//!
//! **Dated flows** (XIRR) discount by `(1 + r)^(days / 365)`. The fractional power is avoided
//! by searching the daily rate `q` with `(1 + q)^365 = 1 + r`: the NPV is `Σ c_i / (1 + q)^days_i`,
//! integer powers only, and the yearly rate is `(1 + q)^365 - 1`, again an integer power.
//!
//! **Rounding.** Rates are searched to [`RATE_TOLERANCE`] (1e-10 a year) and shown as a
//! percentage rounded to two places, half away from zero ([`percent`]); ratios such as an
//! equity multiple also to two places ([`ratio`]); money to the cent ([`cents`]), half away from
//! zero.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

/// Why a rate of return has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoRate {
    /// Every flow has the same sign (or is zero): no rate makes the NPV zero.
    #[error("the cash flows never change sign, so no rate makes their present value zero")]
    NoSignChange,
    /// The NPV keeps one sign over every rate the search covers.
    #[error("no rate between -99.99% and the search's upper bound makes the present value zero")]
    NotFound,
    /// The NPV changes sign more than once: the flows change sign several times and the rate
    /// is not unique.
    #[error(
        "several rates make the present value zero (the cash flows change sign more than once)"
    )]
    Several,
    /// The flows are too many, too far apart or too large to evaluate.
    #[error("the cash flows are too many, too far apart or too large to evaluate")]
    OutOfRange,
}

/// How close the search brings a yearly rate to the exact one (1e-10, a hundred-millionth of a
/// percentage point).
pub const RATE_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 10);
/// Most flows a rate is computed over.
pub const FLOWS_MAX: usize = 10_000;
/// Longest span of dated flows, days (a hundred years).
pub const SPAN_MAX_DAYS: i64 = 36_525;
/// Days in the Actual/365 year.
const DAYS_A_YEAR: u32 = 365;
/// Most bisection steps (each halves the bracket; 200 is far more than any grid cell needs).
const STEPS_MAX: u32 = 200;

/// `n / 10^scale`.
const fn dec(n: i64, scale: u32) -> Decimal {
    let neg = n < 0;
    let m = n.unsigned_abs();
    // The grids below fit in 32 bits.
    Decimal::from_parts(m as u32, 0, 0, neg, scale)
}

/// Yearly rates scanned for IRR of yearly flows, from -99.99% to +1,000,000%.
const YEARLY_GRID: &[Decimal] = &[
    dec(-9999, 4),
    dec(-99, 2),
    dec(-9, 1),
    dec(-75, 2),
    dec(-5, 1),
    dec(-25, 2),
    dec(-1, 1),
    dec(0, 0),
    dec(5, 2),
    dec(1, 1),
    dec(2, 1),
    dec(35, 2),
    dec(5, 1),
    dec(75, 2),
    dec(1, 0),
    dec(2, 0),
    dec(5, 0),
    dec(10, 0),
    dec(100, 0),
    dec(1000, 0),
    dec(10000, 0),
];

/// Monthly rates scanned when annualizing over months (about -99.98% to far above +1,000,000%
/// a year).
const MONTHLY_GRID: &[Decimal] = &[
    dec(-5, 1),
    dec(-2, 1),
    dec(-1, 1),
    dec(-5, 2),
    dec(-1, 2),
    dec(0, 0),
    dec(1, 2),
    dec(5, 2),
    dec(1, 1),
    dec(2, 1),
    dec(5, 1),
    dec(1, 0),
    dec(2, 0),
    dec(5, 0),
    dec(10, 0),
];

/// Daily rates scanned for XIRR: about -99.99% (`0.9751^365 - 1`) to +820,000% (`1.025^365 - 1`)
/// a year.
const DAILY_GRID: &[Decimal] = &[
    dec(-249, 4),
    dec(-2, 2),
    dec(-1, 2),
    dec(-5, 3),
    dec(-2, 3),
    dec(-1, 3),
    dec(-5, 4),
    dec(-2, 4),
    dec(0, 0),
    dec(1, 4),
    dec(2, 4),
    dec(5, 4),
    dec(1, 3),
    dec(2, 3),
    dec(3, 3),
    dec(5, 3),
    dec(1, 2),
    dec(2, 2),
    dec(25, 3),
];

/// `base^n` by squaring; `None` on overflow.
fn pow(base: Decimal, mut n: u32) -> Option<Decimal> {
    let mut out = Decimal::ONE;
    let mut b = base;
    while n > 0 {
        if n & 1 == 1 {
            out = out.checked_mul(b)?;
        }
        n >>= 1;
        if n > 0 {
            b = b.checked_mul(b)?;
        }
    }
    Some(out)
}

/// A value with the sign of the NPV of `flows` (exponent, amount) at growth factor `g = 1 + q`
/// (`g > 0`), computed so that every power is of a number at most 1.
fn npv_sign(flows: &[(u32, Decimal)], g: Decimal, last: u32) -> Option<Decimal> {
    let mut sum = Decimal::ZERO;
    if g >= Decimal::ONE {
        let d = Decimal::ONE.checked_div(g)?;
        for (t, c) in flows {
            sum = sum.checked_add(c.checked_mul(pow(d, *t)?)?)?;
        }
    } else {
        for (t, c) in flows {
            sum = sum.checked_add(c.checked_mul(pow(g, last - t)?)?)?;
        }
    }
    Some(sum)
}

/// The rate per period at which the NPV of `flows` is zero, searched over `grid` (ascending,
/// each above -1) to `tolerance`.
fn solve(
    flows: &[(u32, Decimal)],
    grid: &[Decimal],
    tolerance: Decimal,
) -> Result<Decimal, NoRate> {
    if flows.len() > FLOWS_MAX {
        return Err(NoRate::OutOfRange);
    }
    let positive = flows
        .iter()
        .any(|(_, c)| c.is_sign_positive() && !c.is_zero());
    let negative = flows
        .iter()
        .any(|(_, c)| c.is_sign_negative() && !c.is_zero());
    if !(positive && negative) {
        return Err(NoRate::NoSignChange);
    }
    // Every partial sum below is bounded by the sum of magnitudes.
    flows
        .iter()
        .try_fold(Decimal::ZERO, |s, (_, c)| s.checked_add(c.abs()))
        .ok_or(NoRate::OutOfRange)?;
    let last = flows.iter().map(|(t, _)| *t).max().unwrap_or(0);
    let f = |q: Decimal| -> Result<Decimal, NoRate> {
        npv_sign(flows, Decimal::ONE + q, last).ok_or(NoRate::OutOfRange)
    };
    let values = grid.iter().map(|q| f(*q)).collect::<Result<Vec<_>, _>>()?;
    // Brackets (lo, hi) with a sign change, and grid points that are roots themselves.
    let mut roots: Vec<Decimal> = Vec::new();
    let mut brackets: Vec<(usize, usize)> = Vec::new();
    for i in 0..grid.len() {
        if values[i].is_zero() {
            roots.push(grid[i]);
        } else if i + 1 < grid.len()
            && !values[i + 1].is_zero()
            && values[i].is_sign_negative() != values[i + 1].is_sign_negative()
        {
            brackets.push((i, i + 1));
        }
    }
    match (roots.len(), brackets.len()) {
        (0, 0) => Err(NoRate::NotFound),
        (1, 0) => Ok(roots[0]),
        (0, 1) => {
            let (i, j) = brackets[0];
            let (mut lo, mut hi, lo_negative) = (grid[i], grid[j], values[i].is_sign_negative());
            for _ in 0..STEPS_MAX {
                if hi - lo <= tolerance {
                    break;
                }
                let mid = (lo + hi) / Decimal::TWO;
                let v = f(mid)?;
                if v.is_zero() {
                    return Ok(mid);
                }
                if v.is_sign_negative() == lo_negative {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            Ok((lo + hi) / Decimal::TWO)
        }
        _ => Err(NoRate::Several),
    }
}

/// The internal rate of return of flows one period apart (`flows[0]` now, `flows[t]` at the end
/// of period `t`), per period, to [`RATE_TOLERANCE`]. The grid is of yearly rates: pass yearly
/// flows.
pub fn irr(flows: &[Decimal]) -> Result<Decimal, NoRate> {
    if flows.len() > FLOWS_MAX {
        return Err(NoRate::OutOfRange);
    }
    let timed: Vec<(u32, Decimal)> = flows
        .iter()
        .enumerate()
        .map(|(t, c)| (u32::try_from(t).unwrap_or(u32::MAX), *c))
        .collect();
    solve(&timed, YEARLY_GRID, RATE_TOLERANCE)
}

/// The yearly rate `r` at which dated flows have zero present value, each discounted by
/// `(1 + r)^(days since the earliest flow / 365)` (Actual/365, as spreadsheets' XIRR), to about
/// [`RATE_TOLERANCE`]. Flows may come in any order and share a day.
pub fn xirr(flows: &[(NaiveDate, Decimal)]) -> Result<Decimal, NoRate> {
    if flows.len() > FLOWS_MAX {
        return Err(NoRate::OutOfRange);
    }
    let Some(first) = flows.iter().map(|(d, _)| *d).min() else {
        return Err(NoRate::NoSignChange);
    };
    let mut timed = Vec::with_capacity(flows.len());
    for (day, c) in flows {
        let days = (*day - first).num_days();
        if days > SPAN_MAX_DAYS {
            return Err(NoRate::OutOfRange);
        }
        timed.push((u32::try_from(days).map_err(|_| NoRate::OutOfRange)?, *c));
    }
    // A daily bracket this narrow keeps the yearly rate within about 1e-10 (365 times wider,
    // scaled by the growth factor, for rates up to a few hundred percent).
    let daily = solve(&timed, DAILY_GRID, Decimal::from_parts(1, 0, 0, false, 14))?;
    pow(Decimal::ONE + daily, DAYS_A_YEAR)
        .map(|g| g - Decimal::ONE)
        .ok_or(NoRate::OutOfRange)
}

/// The yearly rate compounding to a total return `total` (0.25 for +25%) over `months`:
/// `(1 + total)^(12 / months) - 1`, found as the monthly rate `q` with `(1 + q)^months = 1 +
/// total` (integer powers only) and then `(1 + q)^12 - 1`.
pub fn annualize_months(total: Decimal, months: u32) -> Result<Decimal, NoRate> {
    if months == 0 {
        return Err(NoRate::OutOfRange);
    }
    let end = Decimal::ONE.checked_add(total).ok_or(NoRate::OutOfRange)?;
    if end <= Decimal::ZERO {
        // All was lost (or more): no positive growth factor gives it.
        return Err(NoRate::NotFound);
    }
    let monthly = solve(
        &[(0, -Decimal::ONE), (months, end)],
        MONTHLY_GRID,
        Decimal::from_parts(1, 0, 0, false, 12),
    )?;
    pow(Decimal::ONE + monthly, 12)
        .map(|g| g - Decimal::ONE)
        .ok_or(NoRate::OutOfRange)
}

/// A rate as a percentage rounded to two places, half away from zero (`0.373362` -> `37.34`).
pub fn percent(rate: Decimal) -> Decimal {
    let mut p = (rate * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    p.rescale(2);
    p
}

/// `num / den` as a percentage rounded to two places, half away from zero; `None` when `den`
/// is not positive.
pub fn percent_of(num: Decimal, den: Decimal) -> Option<Decimal> {
    if den <= Decimal::ZERO {
        return None;
    }
    num.checked_div(den).map(percent)
}

/// `num / den` rounded to two places, half away from zero; `None` when `den` is not positive.
pub fn ratio(num: Decimal, den: Decimal) -> Option<Decimal> {
    if den <= Decimal::ZERO {
        return None;
    }
    num.checked_div(den).map(|r| {
        let mut r = r.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        r.rescale(2);
        r
    })
}

/// Money rounded to the cent, half away from zero.
pub fn cents(v: Decimal) -> Decimal {
    let mut c = v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    c.rescale(2);
    c
}

/// `base^n` for a growth factor and a year count; `None` on overflow.
pub fn power(base: Decimal, n: u32) -> Option<Decimal> {
    pow(base, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Asserts a rate is within the search's tolerance of the exact value (worked out to 50
    /// digits with Python's `decimal`, bisecting the same NPV).
    #[track_caller]
    fn close(r: Decimal, exact: &str) {
        let gap = (r - d(exact)).abs();
        assert!(
            gap <= RATE_TOLERANCE * Decimal::TWO,
            "{r} is {gap} from {exact}"
        );
    }

    #[test]
    fn xirr_matches_the_spreadsheet_documentation_example() {
        // The XIRR example of the spreadsheet documentation: 0.373362535 there (37.34%), whose
        // exact value is 0.37336253351883...
        let flows = [
            (day("2008-01-01"), d("-10000")),
            (day("2008-03-01"), d("2750")),
            (day("2008-10-30"), d("4250")),
            (day("2009-02-15"), d("3250")),
            (day("2009-04-01"), d("2750")),
        ];
        let r = xirr(&flows).unwrap();
        close(r, "0.3733625335188315103");
        assert_eq!(percent(r).to_string(), "37.34");
        // Order does not matter.
        let mut shuffled = flows;
        shuffled.reverse();
        close(xirr(&shuffled).unwrap(), "0.3733625335188315103");
    }

    #[test]
    fn xirr_of_a_year_apart_is_the_simple_return() {
        // 365 days apart: 1000 -> 1100 is exactly 10%.
        let r = xirr(&[
            (day("2025-01-01"), d("-1000")),
            (day("2026-01-01"), d("1100")),
        ])
        .unwrap();
        close(r, "0.1");
        // Half a year of 365 days (182.5 days cannot be; 73 days is a fifth): 1.1^(1/5) per fifth.
        let r = xirr(&[
            (day("2025-01-01"), d("-1000")),
            (day("2025-03-15"), d("1100")),
        ])
        .unwrap();
        // 1.1^5 - 1 = 0.61051
        close(r, "0.61051");
        // A loss.
        let r = xirr(&[
            (day("2025-01-01"), d("-1000")),
            (day("2026-01-01"), d("250")),
        ])
        .unwrap();
        close(r, "-0.75");
    }

    #[test]
    fn irr_matches_textbook_values() {
        // -100, then 60 and 60: 100(1+r)^2 = 60(1+r) + 60, r = (sqrt(27600) - 140) / 200.
        let r = irr(&[d("-100"), d("60"), d("60")]).unwrap();
        close(r, "0.1306623862918074852");
        // A 10% bond bought at par returns 10%.
        let r = irr(&[d("-1000"), d("100"), d("100"), d("1100")]).unwrap();
        close(r, "0.1");
        // The spreadsheet IRR example: -70000, 12000, 15000, 18000, 21000, 26000 -> 8.66%.
        let r = irr(&[
            d("-70000"),
            d("12000"),
            d("15000"),
            d("18000"),
            d("21000"),
            d("26000"),
        ])
        .unwrap();
        assert_eq!(percent(r).to_string(), "8.66");
        close(r, "0.0866309480365316143");
        // And its four-year part: -2.12%.
        let r = irr(&[d("-70000"), d("12000"), d("15000"), d("18000"), d("21000")]).unwrap();
        assert_eq!(percent(r).to_string(), "-2.12");
        close(r, "-0.0212448482734109910");
        // Zero is a root on the grid itself.
        assert_eq!(irr(&[d("-100"), d("50"), d("50")]).unwrap(), Decimal::ZERO);
    }

    #[test]
    fn no_rate_has_a_reason_not_a_value() {
        assert_eq!(irr(&[d("100"), d("10")]), Err(NoRate::NoSignChange));
        assert_eq!(irr(&[d("-100"), d("-10")]), Err(NoRate::NoSignChange));
        assert_eq!(irr(&[d("0"), d("0")]), Err(NoRate::NoSignChange));
        assert_eq!(irr(&[]), Err(NoRate::NoSignChange));
        assert_eq!(xirr(&[]), Err(NoRate::NoSignChange));
        // -100, +240, -143.75: NPV is zero at 15% and at 25%.
        assert_eq!(
            irr(&[d("-100"), d("240"), d("-143.75")]),
            Err(NoRate::Several)
        );
        // -100, +230, -132: zero at 10% and 20%, both points of the grid.
        assert_eq!(irr(&[d("-100"), d("230"), d("-132")]), Err(NoRate::Several));
        // -100, +100, -100: the NPV never reaches zero.
        assert_eq!(
            irr(&[d("-100"), d("100"), d("-100")]),
            Err(NoRate::NotFound)
        );
        // More than 99.99% lost.
        assert_eq!(irr(&[d("-1000000"), d("0.01")]), Err(NoRate::NotFound));
        let too_far = [(day("1900-01-01"), d("-1")), (day("2100-01-01"), d("2"))];
        assert_eq!(xirr(&too_far), Err(NoRate::OutOfRange));
        let huge = [Decimal::MIN, Decimal::MAX];
        assert_eq!(irr(&huge), Err(NoRate::OutOfRange));
        assert!(
            NoRate::NoSignChange
                .to_string()
                .starts_with("the cash flows")
        );
    }

    #[test]
    fn long_flows_neither_overflow_nor_lose_the_rate() {
        // Thirty years of 12% on 1,000,000: the rate is exact however far out the flows go.
        let mut flows = vec![d("-1000000")];
        flows.extend(std::iter::repeat_n(d("120000"), 29));
        flows.push(d("1120000"));
        close(irr(&flows).unwrap(), "0.12");
        // Forty years of daily flows' span at 5% a year.
        let end = pow(d("1.05"), 40).unwrap();
        let r = xirr(&[(day("2000-01-01"), d("-1")), (day("2039-12-22"), end)]).unwrap();
        // 14600 days = 40 years of 365 days.
        close(r, "0.05");
    }

    #[test]
    fn annualizing_compounds() {
        // +21% over 24 months is 10% a year; +10% over 6 months is 21% a year.
        close(annualize_months(d("0.21"), 24).unwrap(), "0.1");
        close(annualize_months(d("0.1"), 6).unwrap(), "0.21");
        close(annualize_months(d("0.1"), 12).unwrap(), "0.1");
        assert_eq!(annualize_months(d("-1"), 6), Err(NoRate::NotFound));
        assert_eq!(annualize_months(d("0"), 6).unwrap(), Decimal::ZERO);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(percent(d("0.123450")).to_string(), "12.35");
        assert_eq!(percent(d("-0.123450")).to_string(), "-12.35");
        assert_eq!(percent(d("0.1")).to_string(), "10.00");
        assert_eq!(cents(d("1.005")).to_string(), "1.01");
        assert_eq!(cents(d("-1.005")).to_string(), "-1.01");
        assert_eq!(cents(d("7")).to_string(), "7.00");
        assert_eq!(ratio(d("3"), d("2")).unwrap().to_string(), "1.50");
        assert_eq!(ratio(d("1"), d("0")), None);
        assert_eq!(percent_of(d("1"), d("8")).unwrap().to_string(), "12.50");
        assert_eq!(percent_of(d("1"), d("-8")), None);
    }
}
