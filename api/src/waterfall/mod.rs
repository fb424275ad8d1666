//! Distribution waterfalls: the cash a property distributes, run through its tiers in order.
//!
//! A waterfall is a list of tiers, each taking what it is owed from what is left:
//! - a **reserve** top-up to a target balance;
//! - the **management fee**: basis points of the period's gross rent, or a yearly rate on
//!   contributed capital pro rata for the period's days;
//! - the **preferred return**: a yearly rate on each investor's unreturned capital, accrued by
//!   the day since the last distribution and cumulative (what a distribution cannot pay is
//!   carried to the next), simple or compounding (compounding accrues on the unpaid preferred
//!   return too);
//! - **return of capital**, pro rata to each investor's unreturned capital;
//! - the sponsor's **catch-up**: a share of the cash to the sponsor until the sponsor holds the
//!   promote's share of all profits paid (preferred return, catch-up and split);
//! - the **split** of the rest: the promote to the sponsor, the remainder to investors pro rata
//!   to their contributed capital.
//!
//! Everything is in cents, exactly: rates round down, and a tier's amount is divided among
//! investors by the largest remainder, so every split sums to the tier's amount and the tiers
//! sum to the cash distributed. The engine is pure: it takes the state the books hold (each
//! investor's contributed and returned capital, unpaid preferred return and profit paid, the
//! reserve, the sponsor's profit, the last distribution's date) and returns what each tier and
//! each investor gets, and the state after.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub mod runs;

/// Basis points in one.
const BPS: u128 = 10_000;
/// Days in a year for accruals (actual/365).
const YEAR_DAYS: u128 = 365;

/// What a management fee is a rate of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeeBasis {
    /// The period's gross rent.
    GrossRent,
    /// Contributed capital, a yearly rate pro rata for the period's days.
    ContributedCapital,
}

/// How the preferred return accrues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Accrual {
    /// On unreturned capital only.
    Simple,
    /// On unreturned capital and the preferred return accrued and not yet paid.
    Compounding,
}

/// One tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Tier {
    /// Keeps cash back until the reserve holds `target`.
    Reserve {
        /// The reserve's target balance (USD).
        target: crate::types::Money,
    },
    /// The manager's fee.
    ManagementFee {
        /// The rate.
        bps: u32,
        /// Of what.
        basis: FeeBasis,
    },
    /// The preferred return: `rate_bps` a year on unreturned capital, cumulative.
    PreferredReturn {
        /// The yearly rate.
        rate_bps: u32,
        /// Simple or compounding.
        accrual: Accrual,
    },
    /// Unreturned capital paid back.
    ReturnOfCapital,
    /// `sponsor_bps` of the cash to the sponsor until the sponsor holds `promote_bps` of all
    /// profits paid; the rest of that cash to investors.
    CatchUp {
        /// The sponsor's share of the cash while catching up.
        sponsor_bps: u32,
        /// The share of all profits the catch-up brings the sponsor to.
        promote_bps: u32,
    },
    /// The rest: `promote_bps` to the sponsor, the remainder to investors.
    Split {
        /// The sponsor's promote.
        promote_bps: u32,
    },
}

impl Tier {
    /// The tier's name, as outcomes and entries show it.
    pub fn name(&self) -> &'static str {
        match self {
            Tier::Reserve { .. } => "reserve",
            Tier::ManagementFee { .. } => "management_fee",
            Tier::PreferredReturn { .. } => "preferred_return",
            Tier::ReturnOfCapital => "return_of_capital",
            Tier::CatchUp { .. } => "catch_up",
            Tier::Split { .. } => "split",
        }
    }
}

/// A property's waterfall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waterfall {
    /// The tiers, in order.
    pub tiers: Vec<Tier>,
}

impl Waterfall {
    /// Checks the tiers: rates within bounds, each kind at most once, and a catch-up only
    /// before a split with the same promote.
    pub fn check(&self) -> Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, t) in self.tiers.iter().enumerate() {
            let at = format!("/tiers/{i}");
            if !seen.insert(t.name()) {
                return Err(Error::invalid(at, format!("a second {} tier", t.name())));
            }
            let bounded = |bps: u32, what: &str| {
                if bps > 10_000 {
                    Err(Error::invalid(
                        format!("/tiers/{i}/{what}"),
                        "at most 10000 basis points",
                    ))
                } else {
                    Ok(())
                }
            };
            match *t {
                Tier::Reserve { ref target } => {
                    reserve_cents(i, target)?;
                }
                Tier::ManagementFee { bps, .. } => bounded(bps, "bps")?,
                Tier::PreferredReturn { rate_bps, .. } => bounded(rate_bps, "rate_bps")?,
                Tier::Split { promote_bps } => bounded(promote_bps, "promote_bps")?,
                Tier::CatchUp {
                    sponsor_bps,
                    promote_bps,
                } => {
                    bounded(sponsor_bps, "sponsor_bps")?;
                    bounded(promote_bps, "promote_bps")?;
                    if sponsor_bps <= promote_bps {
                        return Err(Error::invalid(
                            format!("{at}/sponsor_bps"),
                            "must exceed the promote, or the sponsor never catches up",
                        ));
                    }
                    let split = self.tiers[i + 1..].iter().find_map(|t| match t {
                        Tier::Split { promote_bps } => Some(*promote_bps),
                        _ => None,
                    });
                    if split != Some(promote_bps) {
                        return Err(Error::invalid(
                            at,
                            "a catch-up needs a later split with the same promote",
                        ));
                    }
                }
                Tier::ReturnOfCapital => {}
            }
        }
        Ok(())
    }
}

/// An investor's standing, as the books hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvestorState {
    /// Who.
    pub investor: String,
    /// Capital contributed.
    pub contributed: u64,
    /// Capital returned.
    pub returned: u64,
    /// Preferred return accrued and not yet paid.
    pub pref_unpaid: u64,
    /// Profits paid so far (preferred return, and shares of catch-up and split).
    pub profit_paid: u64,
    /// The date the preferred return is accrued to (the last distribution, or the investor's
    /// first contribution).
    pub accrued_to: NaiveDate,
}

impl InvestorState {
    /// An investor who contributed `contributed` on `on`.
    pub fn new(investor: impl Into<String>, contributed: u64, on: NaiveDate) -> Self {
        InvestorState {
            investor: investor.into(),
            contributed,
            returned: 0,
            pref_unpaid: 0,
            profit_paid: 0,
            accrued_to: on,
        }
    }

    fn unreturned(&self) -> u64 {
        self.contributed.saturating_sub(self.returned)
    }

    /// Accrues the preferred return up to `on` (a contribution's date, before it is added, so
    /// that capital accrues only from when it came in).
    pub fn accrue(&mut self, rate_bps: u32, accrual: Accrual, on: NaiveDate) -> Result<()> {
        if on < self.accrued_to {
            return Err(Error::invalid(
                "/on",
                format!(
                    "before the preferred return's accrual date ({})",
                    self.accrued_to
                ),
            ));
        }
        let days = u128::try_from((on - self.accrued_to).num_days()).unwrap_or(0);
        let base = match accrual {
            Accrual::Simple => u128::from(self.unreturned()),
            Accrual::Compounding => u128::from(self.unreturned()) + u128::from(self.pref_unpaid),
        };
        self.pref_unpaid += cents(rate(base, rate_bps, days))?;
        self.accrued_to = on;
        Ok(())
    }
}

/// The property's standing before a distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Every investor.
    pub investors: Vec<InvestorState>,
    /// The reserve's balance.
    pub reserve: u64,
    /// The sponsor's profits paid so far (catch-up and promote).
    pub sponsor_profit: u64,
    /// The last distribution's date (a fee on contributed capital runs from it).
    pub last_distribution: NaiveDate,
}

/// A distribution's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Distribution {
    /// The cash to distribute.
    pub cash: u64,
    /// Its date: accruals run to it.
    pub on: NaiveDate,
    /// The period's gross rent (for a fee on it).
    pub gross_rent: u64,
}

/// What one tier took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TierPaid {
    /// The tier's name.
    pub tier: &'static str,
    /// What it took.
    pub amount: u64,
    /// To the sponsor (catch-up and split).
    pub sponsor: u64,
    /// To each investor, in the state's order.
    pub investors: Vec<u64>,
}

/// A distribution run through the waterfall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Each tier, in order.
    pub tiers: Vec<TierPaid>,
    /// Preferred return accrued by this distribution's date and not paid: carried on.
    pub pref_carried: u64,
    /// A management fee owed and not paid for want of cash.
    pub fee_unpaid: u64,
    /// Cash no tier took (none when the waterfall ends in a split).
    pub undistributed: u64,
    /// The standing after it.
    #[serde(skip)]
    pub after: State,
}

/// Divides `total` among `weights` in proportion, exactly: each gets the floor of its share,
/// and the cents left go one by one to the largest remainders (the earlier one on a tie).
/// With no weight at all, nobody gets anything.
pub fn allocate(total: u64, weights: &[u64]) -> Vec<u64> {
    let weights: Vec<u128> = weights.iter().map(|w| u128::from(*w)).collect();
    allocate_wide(u128::from(total), &weights)
        .into_iter()
        .map(|v| v as u64) // each part is at most `total`
        .collect()
}

/// [`allocate`] for token base units, which outgrow `u64`. The products are taken in 256
/// bits, so any amounts a token holds divide exactly.
pub fn allocate_wide(total: u128, weights: &[u128]) -> Vec<u128> {
    use alloy::primitives::U256;
    let sum: U256 = weights.iter().map(|w| U256::from(*w)).sum();
    if sum.is_zero() {
        return vec![0; weights.len()];
    }
    let mut out: Vec<u128> = Vec::with_capacity(weights.len());
    let mut rest = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = U256::from(total) * U256::from(*w);
        out.push((exact / sum).to::<u128>());
        rest.push((exact % sum, i));
    }
    let mut left = total - out.iter().sum::<u128>();
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rest {
        if left == 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

/// A reserve target in cents: USD, not negative; errors name tier `i`'s field.
fn reserve_cents(i: usize, target: &crate::types::Money) -> Result<u64> {
    let mut errors = Vec::new();
    let cents = crate::deals::usd(&format!("/tiers/{i}/target"), target, &mut errors);
    if errors.is_empty() && cents < 0 {
        errors.push(crate::error::FieldError::new(
            format!("/tiers/{i}/target/amount"),
            "must not be negative",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(u64::try_from(cents).unwrap_or(0))
}

fn rate(amount: u128, bps: u32, days: u128) -> u128 {
    amount * u128::from(bps) * days / (BPS * YEAR_DAYS)
}

fn cents(v: u128) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::invalid("/cash", "too large"))
}

/// Runs `d` through `w` from `state`.
pub fn run(w: &Waterfall, state: &State, d: Distribution) -> Result<Outcome> {
    w.check()?;
    if d.on < state.last_distribution {
        return Err(Error::invalid(
            "/on",
            format!("before the last distribution ({})", state.last_distribution),
        ));
    }
    let days = u128::try_from((d.on - state.last_distribution).num_days()).unwrap_or(0);
    let mut s = state.clone();
    s.last_distribution = d.on;
    let n = s.investors.len();
    let mut cash = d.cash;
    let mut tiers = Vec::new();
    let mut fee_unpaid = 0;
    for tier in &w.tiers {
        let mut paid = TierPaid {
            tier: tier.name(),
            amount: 0,
            sponsor: 0,
            investors: vec![0; n],
        };
        match *tier {
            Tier::Reserve { ref target } => {
                let take = reserve_cents(0, target)?
                    .saturating_sub(s.reserve)
                    .min(cash);
                s.reserve += take;
                paid.amount = take;
            }
            Tier::ManagementFee { bps, basis } => {
                let owed = match basis {
                    FeeBasis::GrossRent => u128::from(d.gross_rent) * u128::from(bps) / BPS,
                    FeeBasis::ContributedCapital => rate(
                        s.investors.iter().map(|i| u128::from(i.contributed)).sum(),
                        bps,
                        days,
                    ),
                };
                let owed = cents(owed)?;
                paid.amount = owed.min(cash);
                fee_unpaid = owed - paid.amount;
            }
            Tier::PreferredReturn { rate_bps, accrual } => {
                for i in &mut s.investors {
                    i.accrue(rate_bps, accrual, d.on)?;
                }
                let owed: Vec<u64> = s.investors.iter().map(|i| i.pref_unpaid).collect();
                let take = owed.iter().sum::<u64>().min(cash);
                paid.investors = allocate(take, &owed);
                for (i, p) in s.investors.iter_mut().zip(&paid.investors) {
                    i.pref_unpaid -= p;
                    i.profit_paid += p;
                }
                paid.amount = take;
            }
            Tier::ReturnOfCapital => {
                let owed: Vec<u64> = s.investors.iter().map(InvestorState::unreturned).collect();
                let take = owed.iter().sum::<u64>().min(cash);
                paid.investors = allocate(take, &owed);
                for (i, p) in s.investors.iter_mut().zip(&paid.investors) {
                    i.returned += p;
                }
                paid.amount = take;
            }
            Tier::CatchUp {
                sponsor_bps,
                promote_bps,
            } => {
                // The sponsor is caught up when S = p (P + S): investors' profits P, sponsor's S.
                // Cash x in this tier moves S by a x and P by (1 - a) x, so
                // x = (p (P + S) - S) / (a - p), in basis points.
                let p = u128::from(promote_bps);
                let a = u128::from(sponsor_bps);
                let investors: u128 = s.investors.iter().map(|i| u128::from(i.profit_paid)).sum();
                let sponsor = u128::from(s.sponsor_profit);
                let short = (p * (investors + sponsor)).saturating_sub(BPS * sponsor);
                let needed = short.div_ceil(a - p);
                let take = cents(needed)?.min(cash);
                let to_sponsor = cents(u128::from(take) * a / BPS)?;
                paid.sponsor = to_sponsor;
                let weights: Vec<u64> = s.investors.iter().map(|i| i.contributed).collect();
                paid.investors = allocate(take - to_sponsor, &weights);
                paid.amount = take;
            }
            Tier::Split { promote_bps } => {
                let to_sponsor = cents(u128::from(cash) * u128::from(promote_bps) / BPS)?;
                let weights: Vec<u64> = s.investors.iter().map(|i| i.contributed).collect();
                paid.sponsor = to_sponsor;
                paid.investors = allocate(cash - to_sponsor, &weights);
                paid.amount = cash;
            }
        }
        if matches!(tier, Tier::CatchUp { .. } | Tier::Split { .. }) {
            // With no investor to share in it, the investors' part stays undistributed.
            paid.amount = paid.sponsor + paid.investors.iter().sum::<u64>();
            s.sponsor_profit += paid.sponsor;
            for (i, p) in s.investors.iter_mut().zip(&paid.investors) {
                i.profit_paid += p;
            }
        }
        cash -= paid.amount;
        tiers.push(paid);
    }
    Ok(Outcome {
        tiers,
        pref_carried: s.investors.iter().map(|i| i.pref_unpaid).sum(),
        fee_unpaid,
        undistributed: cash,
        after: s,
    })
}

/// What moved the investors' standing, for [`replay`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Capital paid in.
    Contributed(u64),
    /// Capital paid back outside a distribution (a refund).
    Withdrawn(u64),
    /// A distribution not run through the waterfall: it pays the accrued preferred return
    /// first, then returns capital; anything beyond is profit.
    Plain(u64),
    /// A distribution run through the waterfall: what each tier paid (tier, sponsor's part,
    /// investors' part) and the preferred return it left unpaid.
    Run {
        /// (tier, to the sponsor, to the investors) of each tier.
        tiers: Vec<(String, u64, u64)>,
        /// Preferred return carried on after it.
        pref_carried: u64,
    },
}

/// The investors' standing, as one class, after `events` (dated, in day order) from `start`.
/// Capital accrues the preferred return from its day at `w`'s rate; a run sets what it left
/// unpaid, so a rate that changed since does not rewrite what was carried.
pub fn replay(w: &Waterfall, events: &[(NaiveDate, Event)], start: NaiveDate) -> Result<State> {
    Ok(replay_detailed(w, events, start)?.0)
}

/// [`replay`], with how each plain distribution divided: (profit, capital returned), in order.
pub fn replay_detailed(
    w: &Waterfall,
    events: &[(NaiveDate, Event)],
    start: NaiveDate,
) -> Result<(State, Vec<(u64, u64)>)> {
    let mut plain = Vec::new();
    let (rate_bps, accrual) = w
        .tiers
        .iter()
        .find_map(|t| match t {
            Tier::PreferredReturn { rate_bps, accrual } => Some((*rate_bps, *accrual)),
            _ => None,
        })
        .unwrap_or((0, Accrual::Simple));
    let mut i = InvestorState::new(CLASS, 0, start);
    let (mut reserve, mut sponsor_profit, mut last_distribution) = (0, 0, start);
    for (on, e) in events {
        i.accrue(rate_bps, accrual, *on)?;
        match e {
            Event::Contributed(c) => i.contributed += c,
            Event::Withdrawn(c) => i.returned += (*c).min(i.unreturned()),
            Event::Plain(c) => {
                last_distribution = *on;
                let pref = (*c).min(i.pref_unpaid);
                i.pref_unpaid -= pref;
                let capital = (c - pref).min(i.unreturned());
                i.returned += capital;
                i.profit_paid += c - capital;
                plain.push((c - capital, capital));
            }
            Event::Run {
                tiers,
                pref_carried,
            } => {
                last_distribution = *on;
                for (tier, sponsor, investors) in tiers {
                    match tier.as_str() {
                        "reserve" => reserve += investors + sponsor,
                        "preferred_return" => i.profit_paid += investors,
                        "return_of_capital" => i.returned += investors,
                        "catch_up" | "split" => {
                            i.profit_paid += investors;
                            sponsor_profit += sponsor;
                        }
                        _ => {}
                    }
                }
                i.pref_unpaid = *pref_carried;
            }
        }
    }
    Ok((
        State {
            investors: vec![i],
            reserve,
            sponsor_profit,
            last_distribution,
        },
        plain,
    ))
}

/// The name the investors go by as one class.
pub const CLASS: &str = "investors";

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// Ada put in 60,000.00 and Bob 40,000.00 on 2025-01-01 (in cents).
    fn start() -> State {
        State {
            investors: vec![
                InvestorState::new("ada", 6_000_000, day("2025-01-01")),
                InvestorState::new("bob", 4_000_000, day("2025-01-01")),
            ],
            reserve: 0,
            sponsor_profit: 0,
            last_distribution: day("2025-01-01"),
        }
    }

    fn pref_roc_split(accrual: Accrual, catch_up: bool) -> Waterfall {
        let mut tiers = vec![
            Tier::PreferredReturn {
                rate_bps: 800,
                accrual,
            },
            Tier::ReturnOfCapital,
        ];
        if catch_up {
            tiers.push(Tier::CatchUp {
                sponsor_bps: 10_000,
                promote_bps: 2_000,
            });
        }
        tiers.push(Tier::Split { promote_bps: 2_000 });
        Waterfall { tiers }
    }

    fn dist(cash: u64, on: &str) -> Distribution {
        Distribution {
            cash,
            on: day(on),
            gross_rent: 0,
        }
    }

    /// (tier, amount, sponsor, [ada, bob]) of each tier.
    fn table(o: &Outcome) -> Vec<(&'static str, u64, u64, Vec<u64>)> {
        o.tiers
            .iter()
            .map(|t| (t.tier, t.amount, t.sponsor, t.investors.clone()))
            .collect()
    }

    /// Replaying what a run paid gives the standing the run left, so the books' history
    /// carries each distribution into the next.
    #[test]
    fn a_replayed_run_leaves_the_standing_the_run_did() {
        let w = pref_roc_split(Accrual::Compounding, true);
        let start = day("2025-01-01");
        let mut events = vec![(start, Event::Contributed(10_000_000))];
        let mut state = replay(&w, &events, start).unwrap();
        for (cash, on) in [(500_000, "2026-01-01"), (14_000_000, "2027-03-01")] {
            let o = run(&w, &state, dist(cash, on)).unwrap();
            events.push((
                day(on),
                Event::Run {
                    tiers: o
                        .tiers
                        .iter()
                        .map(|t| (t.tier.to_owned(), t.sponsor, t.investors.iter().sum()))
                        .collect(),
                    pref_carried: o.pref_carried,
                },
            ));
            state = replay(&w, &events, start).unwrap();
            assert_eq!(state, o.after, "{on}");
        }
        // The sale paid every unreturned cent back and the catch-up brought the sponsor to a
        // fifth of all profits.
        let i = &state.investors[0];
        assert_eq!(
            (i.contributed, i.returned, i.pref_unpaid),
            (10_000_000, 10_000_000, 0)
        );
        assert_eq!(
            state.sponsor_profit * 5,
            state.sponsor_profit + i.profit_paid
        );
    }

    #[test]
    fn a_year_of_preferred_return_then_capital_back() {
        // 8% on 100,000 for 365 days is 8,000: all paid; the other 2,000 returns capital.
        let o = run(
            &pref_roc_split(Accrual::Simple, false),
            &start(),
            dist(1_000_000, "2026-01-01"),
        )
        .unwrap();
        assert_eq!(
            table(&o),
            [
                ("preferred_return", 800_000, 0, vec![480_000, 320_000]),
                ("return_of_capital", 200_000, 0, vec![120_000, 80_000]),
                ("split", 0, 0, vec![0, 0]),
            ]
        );
        assert_eq!(o.pref_carried, 0);
        assert_eq!(o.after.investors[0].returned, 120_000);
    }

    #[test]
    fn capital_accrues_from_when_it_came_in() {
        // Bob joins on 2025-07-01, 184 days before the distribution: 40,000 at 8% for 184
        // days is 1,613.15; Ada's full year is 4,800.
        let mut s = start();
        s.investors[1] = InvestorState::new("bob", 4_000_000, day("2025-07-01"));
        let o = run(
            &pref_roc_split(Accrual::Simple, false),
            &s,
            dist(1_000_000, "2026-01-01"),
        )
        .unwrap();
        assert_eq!(
            table(&o)[..2],
            [
                ("preferred_return", 641_315, 0, vec![480_000, 161_315]),
                ("return_of_capital", 358_685, 0, vec![215_211, 143_474]),
            ]
        );
        // Ada adds 10,000 on 2026-07-02: her unreturned 57,847.89 accrues to that day first
        // (182 days: 2,307.57), the new capital only after.
        let mut ada = o.after.investors[0].clone();
        ada.accrue(800, Accrual::Simple, day("2026-07-02")).unwrap();
        assert_eq!(ada.pref_unpaid, 230_757);
        ada.contributed += 1_000_000;
        assert!(ada.accrue(800, Accrual::Simple, day("2026-07-01")).is_err());
    }

    #[test]
    fn a_shortfall_is_carried_simple_and_compounding() {
        // Year one: 5,000 of the 8,000 owed; 3,000 carried.
        let w = pref_roc_split(Accrual::Simple, false);
        let first = run(&w, &start(), dist(500_000, "2026-01-01")).unwrap();
        assert_eq!(
            table(&first)[0],
            ("preferred_return", 500_000, 0, vec![300_000, 200_000])
        );
        assert_eq!(first.pref_carried, 300_000);
        // Year two, simple: 8,000 more, 11,000 owed; of 20,000 the other 9,000 returns capital.
        let second = run(&w, &first.after, dist(2_000_000, "2027-01-01")).unwrap();
        assert_eq!(
            table(&second),
            [
                ("preferred_return", 1_100_000, 0, vec![660_000, 440_000]),
                ("return_of_capital", 900_000, 0, vec![540_000, 360_000]),
                ("split", 0, 0, vec![0, 0]),
            ]
        );
        // Compounding: year two accrues on 103,000 (8,240), 11,240 owed.
        let w = pref_roc_split(Accrual::Compounding, false);
        let first = run(&w, &start(), dist(500_000, "2026-01-01")).unwrap();
        let second = run(&w, &first.after, dist(2_000_000, "2027-01-01")).unwrap();
        assert_eq!(
            table(&second),
            [
                ("preferred_return", 1_124_000, 0, vec![674_400, 449_600]),
                ("return_of_capital", 876_000, 0, vec![525_600, 350_400]),
                ("split", 0, 0, vec![0, 0]),
            ]
        );
    }

    #[test]
    fn a_sale_reaches_the_promote_with_and_without_catch_up() {
        // 150,000 after a year: 8,000 preferred, 100,000 capital, 42,000 left.
        let o = run(
            &pref_roc_split(Accrual::Simple, true),
            &start(),
            dist(15_000_000, "2026-01-01"),
        )
        .unwrap();
        // Catch-up: 2,000 brings the sponsor to 20% of 10,000; then 40,000 split 20/80.
        assert_eq!(
            table(&o),
            [
                ("preferred_return", 800_000, 0, vec![480_000, 320_000]),
                (
                    "return_of_capital",
                    10_000_000,
                    0,
                    vec![6_000_000, 4_000_000]
                ),
                ("catch_up", 200_000, 200_000, vec![0, 0]),
                ("split", 4_000_000, 800_000, vec![1_920_000, 1_280_000]),
            ]
        );
        // The sponsor holds 20% of all profits: 10,000 of 50,000.
        assert_eq!(o.after.sponsor_profit, 1_000_000);
        let profits: u64 = o.after.investors.iter().map(|i| i.profit_paid).sum();
        assert_eq!(profits + o.after.sponsor_profit, 5_000_000);
        // Without the catch-up the 42,000 is split: 8,400 to the sponsor.
        let o = run(
            &pref_roc_split(Accrual::Simple, false),
            &start(),
            dist(15_000_000, "2026-01-01"),
        )
        .unwrap();
        assert_eq!(
            table(&o)[2],
            ("split", 4_200_000, 840_000, vec![2_016_000, 1_344_000])
        );
    }

    #[test]
    fn reserve_and_fee_come_first() {
        let w = Waterfall {
            tiers: vec![
                Tier::Reserve {
                    target: crate::deals::money(500_000),
                },
                Tier::ManagementFee {
                    bps: 500,
                    basis: FeeBasis::GrossRent,
                },
                Tier::PreferredReturn {
                    rate_bps: 800,
                    accrual: Accrual::Simple,
                },
            ],
        };
        let mut s = start();
        s.reserve = 200_000;
        // 3,000 tops the reserve up to 5,000; 5% of 24,000 of rent is 1,200; 6,000 of the
        // 8,000 preferred return is paid.
        let o = run(
            &w,
            &s,
            Distribution {
                cash: 1_020_000,
                on: day("2026-01-01"),
                gross_rent: 2_400_000,
            },
        )
        .unwrap();
        assert_eq!(
            table(&o),
            [
                ("reserve", 300_000, 0, vec![0, 0]),
                ("management_fee", 120_000, 0, vec![0, 0]),
                ("preferred_return", 600_000, 0, vec![360_000, 240_000]),
            ]
        );
        assert_eq!(o.after.reserve, 500_000);
        assert_eq!(o.pref_carried, 200_000);
        assert_eq!(o.undistributed, 0);
    }

    #[test]
    fn bad_waterfalls_are_refused() {
        let catch_up_alone = Waterfall {
            tiers: vec![Tier::CatchUp {
                sponsor_bps: 10_000,
                promote_bps: 2_000,
            }],
        };
        assert!(catch_up_alone.check().is_err());
        let twice = Waterfall {
            tiers: vec![Tier::ReturnOfCapital, Tier::ReturnOfCapital],
        };
        assert!(twice.check().is_err());
        let too_high = Waterfall {
            tiers: vec![Tier::Split {
                promote_bps: 10_001,
            }],
        };
        assert!(too_high.check().is_err());
        // A date before the last distribution.
        let w = pref_roc_split(Accrual::Simple, false);
        assert!(run(&w, &start(), dist(1, "2024-12-31")).is_err());
    }

    #[test]
    fn allocation_is_exact() {
        assert_eq!(allocate(100, &[1, 1, 1]), [34, 33, 33]);
        assert_eq!(allocate(0, &[5, 5]), [0, 0]);
        assert_eq!(allocate(7, &[0, 0]), [0, 0]);
        assert_eq!(allocate(10, &[1, 3]), [3, 7]);
    }

    fn tiers() -> impl Strategy<Value = Waterfall> {
        (
            any::<bool>(),
            0u32..2_000,
            any::<bool>(),
            any::<bool>(),
            0i64..1_000_000,
        )
            .prop_map(|(compounding, rate, catch_up, reserve, target)| {
                let mut tiers = Vec::new();
                if reserve {
                    tiers.push(Tier::Reserve {
                        target: crate::deals::money(target),
                    });
                }
                tiers.push(Tier::PreferredReturn {
                    rate_bps: rate,
                    accrual: if compounding {
                        Accrual::Compounding
                    } else {
                        Accrual::Simple
                    },
                });
                tiers.push(Tier::ReturnOfCapital);
                if catch_up {
                    tiers.push(Tier::CatchUp {
                        sponsor_bps: 10_000,
                        promote_bps: 2_000,
                    });
                }
                tiers.push(Tier::Split { promote_bps: 2_000 });
                Waterfall { tiers }
            })
    }

    proptest! {
        /// Over random histories the tiers sum to the cash distributed, each tier's parts sum
        /// to it, and no investor gets back more capital than they put in.
        #[test]
        fn tiers_sum_to_the_cash(
            w in tiers(),
            contributions in proptest::collection::vec(1u64..10_000_000, 1..5),
            history in proptest::collection::vec((0u64..5_000_000, 1i64..400), 1..8),
        ) {
            let mut s = State {
                investors: contributions.iter().enumerate().map(|(i, c)| {
                    InvestorState::new(format!("i{i}"), *c, day("2025-01-01"))
                }).collect(),
                reserve: 0,
                sponsor_profit: 0,
                last_distribution: day("2025-01-01"),
            };
            for (cash, days) in history {
                let on = s.last_distribution + chrono::Duration::days(days);
                let o = run(&w, &s, Distribution { cash, on, gross_rent: 0 }).unwrap();
                let total: u64 = o.tiers.iter().map(|t| t.amount).sum();
                prop_assert_eq!(total + o.undistributed, cash);
                prop_assert_eq!(o.undistributed, 0);
                for t in &o.tiers {
                    if t.tier != "reserve" {
                        prop_assert_eq!(t.sponsor + t.investors.iter().sum::<u64>(), t.amount);
                    }
                }
                for i in &o.after.investors {
                    prop_assert!(i.returned <= i.contributed);
                }
                s = o.after;
            }
        }
    }
}

/// Most tiers in a waterfall (each kind at most once).
pub const MAX_TIERS: usize = 6;

/// A new version of a property's waterfall.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWaterfall {
    /// The tiers, in the order they take cash.
    pub tiers: Vec<Tier>,
    /// The sponsor's wallet, paid the management fee and the promote (needed once a
    /// distribution pays either).
    #[serde(default)]
    pub sponsor: Option<String>,
}

/// One version of a property's waterfall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WaterfallVersion {
    /// The property.
    pub property_id: crate::properties::PropertyId,
    /// Its number: 1 for the first, one more for each change.
    pub version: i64,
    /// The tiers, in order.
    pub tiers: Vec<Tier>,
    /// The sponsor's wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsor: Option<String>,
    /// Who set it.
    pub set_by: String,
    /// When (RFC 3339).
    pub set_at: String,
}

impl WaterfallVersion {
    /// The waterfall the engine runs.
    pub fn waterfall(&self) -> Waterfall {
        Waterfall {
            tiers: self.tiers.clone(),
        }
    }
}

/// Records a new version of `property`'s waterfall (the earlier ones are kept).
pub async fn set(
    tx: &mut crate::db::Tx,
    actor: &crate::auth::Actor,
    property: crate::properties::PropertyId,
    new: &NewWaterfall,
) -> Result<WaterfallVersion> {
    crate::properties::get(tx.exec(), property).await?;
    if new.tiers.is_empty() || new.tiers.len() > MAX_TIERS {
        return Err(Error::invalid(
            "/tiers",
            format!("from 1 to {MAX_TIERS} tiers"),
        ));
    }
    Waterfall {
        tiers: new.tiers.clone(),
    }
    .check()?;
    let sponsor = match &new.sponsor {
        None => None,
        Some(s) => Some(
            s.parse::<alloy::primitives::Address>()
                .ok()
                .filter(|a| !a.is_zero())
                .ok_or_else(|| {
                    Error::invalid(
                        "/sponsor",
                        "expected a wallet address (0x and 40 hex digits)",
                    )
                })?
                .to_checksum(None),
        ),
    };
    let last = crate::db::Query::new(
        "SELECT MAX(version) AS v FROM api_waterfalls WHERE property_id = $1",
    )
    .bind(property.to_string())
    .fetch_one(tx.exec())
    .await?
    .get::<Option<i64>>("v")?
    .unwrap_or(0);
    let now = crate::types::now_ms();
    let v = WaterfallVersion {
        property_id: property,
        version: last + 1,
        tiers: new.tiers.clone(),
        sponsor,
        set_by: actor.reference(),
        set_at: crate::types::rfc3339(now),
    };
    let doc = serde_json::to_string(&v)
        .map_err(|e| Error::Internal(format!("rendering a waterfall: {e}")))?;
    let inserted = crate::db::Query::new(
        "INSERT INTO api_waterfalls (property_id, version, doc, set_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(property.to_string())
    .bind(v.version)
    .bind(doc)
    .bind(now)
    .execute(tx.exec())
    .await;
    match inserted {
        Ok(_) => Ok(v),
        // Another change took this version number first.
        Err(e) if crate::db::is_unique_violation(&e) => Err(Error::conflict(
            "waterfall_changed",
            "the waterfall changed meanwhile; read it and try again",
        )),
        Err(e) => Err(e),
    }
}

/// Most versions a listing shows (the latest).
pub const VERSIONS_SHOWN: i64 = 100;

/// `property`'s waterfall versions, the latest first (at most [`VERSIONS_SHOWN`]).
pub async fn versions(
    exec: crate::db::Exec<'_>,
    property: crate::properties::PropertyId,
) -> Result<Vec<WaterfallVersion>> {
    let rows = crate::db::Query::new(
        "SELECT doc FROM api_waterfalls WHERE property_id = $1 ORDER BY version DESC LIMIT $2",
    )
    .bind(property.to_string())
    .bind(VERSIONS_SHOWN)
    .fetch_all(exec)
    .await?;
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.get::<String>("doc")?)
                .map_err(|_| Error::Corrupt("a stored waterfall".to_owned()))
        })
        .collect()
}

/// A preview's request.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The cash to distribute (USD).
    pub amount: crate::types::Money,
    /// The distribution's date, `YYYY-MM-DD` (default today).
    pub on: Option<String>,
    /// The period's gross rent, for a management fee on it (USD; default none).
    pub gross_rent: Option<crate::types::Money>,
}

/// One tier of a preview or a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TierShown {
    /// The tier.
    pub tier: String,
    /// What it takes.
    pub amount: crate::types::Money,
    /// Of it, to the sponsor (management fee, catch-up and promote).
    pub sponsor: crate::types::Money,
    /// Of it, to the investors.
    pub investors: crate::types::Money,
}

/// One holder's part of the investors' share, as the distributor pays it: the share in
/// proportion to the holder's shares (rounded down to the token's unit, as the chain does),
/// divided among the tiers in proportion to what each gave the investors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HolderPart {
    /// The wallet.
    pub holder: String,
    /// Its investor, when the wallet is one an investor added here.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub investor_id: Option<String>,
    /// Its shares.
    pub shares: crate::market::Amount,
    /// What it is paid.
    pub amount: crate::market::Amount,
    /// Of it, by tier (only the tiers that pay investors).
    pub by_tier: Vec<TierPart>,
}

/// A holder's part of one tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TierPart {
    /// The tier.
    pub tier: String,
    /// The part.
    pub amount: crate::market::Amount,
}

/// The investors' standing a distribution starts from (why each tier takes what it does).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Standing {
    /// Capital paid in.
    pub contributed: crate::types::Money,
    /// Capital returned.
    pub returned: crate::types::Money,
    /// Preferred return owed from before, accrued to the last distribution and not paid.
    pub pref_unpaid: crate::types::Money,
    /// Profits paid to investors so far.
    pub profit_paid: crate::types::Money,
    /// The sponsor's profits paid so far (catch-up and promote).
    pub sponsor_profit: crate::types::Money,
    /// What earlier distributions kept back in the reserve.
    pub reserve: crate::types::Money,
    /// The last distribution's date (accruals run from it).
    pub last_distribution: String,
}

/// What a distribution would pay, tier by tier and holder by holder, before it is funded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The waterfall version it runs.
    pub waterfall_version: i64,
    /// The distribution's date.
    pub on: String,
    /// The cash.
    pub cash: crate::types::Money,
    /// The standing it starts from.
    pub standing: Standing,
    /// Each tier, in order.
    pub tiers: Vec<TierShown>,
    /// Funded through the distributor, for the holders at the record date.
    pub investors: crate::types::Money,
    /// The management fee, paid to the sponsor's wallet.
    pub management_fee: crate::types::Money,
    /// The promote (catch-up and split), paid to the sponsor's wallet.
    pub promote: crate::types::Money,
    /// Kept back in the treasury as reserve.
    pub reserve: crate::types::Money,
    /// Preferred return accrued by then and left unpaid: carried on.
    pub pref_carried: crate::types::Money,
    /// A management fee owed and not paid for want of cash.
    pub fee_unpaid: crate::types::Money,
    /// Cash no tier took: it stays in the treasury.
    pub undistributed: crate::types::Money,
    /// Each holder's part of the investors' share, at today's holdings (empty before the
    /// property is tokenized).
    pub holders: Vec<HolderPart>,
}

/// A distribution run through the waterfall, planned: the inputs, the standing and the outcome.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The waterfall version it runs.
    pub version: WaterfallVersion,
    /// Its date.
    pub on: NaiveDate,
    /// The cash, in cents.
    pub cash: u64,
    /// The period's gross rent, in cents.
    pub gross_rent: u64,
    /// The investors' standing before it.
    pub before: State,
    /// What it pays.
    pub outcome: Outcome,
}

fn m(c: u64) -> crate::types::Money {
    crate::deals::money(i64::try_from(c).unwrap_or(i64::MAX))
}

impl Planned {
    /// Cents to the sponsor as the management fee.
    pub fn fee(&self) -> u64 {
        self.tier_sum(|t| (t.tier == "management_fee").then_some(t.amount))
    }

    /// Cents to the sponsor as promote (catch-up and split).
    pub fn promote(&self) -> u64 {
        self.tier_sum(|t| Some(t.sponsor))
    }

    /// Cents to the investors.
    pub fn investors(&self) -> u64 {
        self.tier_sum(|t| Some(t.investors.iter().sum()))
    }

    /// Cents kept in the reserve.
    pub fn reserve(&self) -> u64 {
        self.tier_sum(|t| (t.tier == "reserve").then_some(t.amount))
    }

    fn tier_sum(&self, f: impl Fn(&TierPaid) -> Option<u64>) -> u64 {
        self.outcome.tiers.iter().filter_map(f).sum()
    }

    /// Each tier as shown.
    pub fn tiers(&self) -> Vec<TierShown> {
        self.outcome
            .tiers
            .iter()
            .map(|t| {
                let investors: u64 = t.investors.iter().sum();
                TierShown {
                    tier: t.tier.to_owned(),
                    amount: m(t.amount),
                    // The fee and the promote go to the sponsor; the reserve stays in the treasury.
                    sponsor: m(if t.tier == "reserve" {
                        0
                    } else {
                        t.amount - investors
                    }),
                    investors: m(investors),
                }
            })
            .collect()
    }

    /// The standing before.
    pub fn standing(&self) -> Standing {
        let s = &self.before;
        let i = s.investors.first();
        let f = |g: fn(&InvestorState) -> u64| m(i.map_or(0, g));
        Standing {
            contributed: f(|i| i.contributed),
            returned: f(|i| i.returned),
            pref_unpaid: f(|i| i.pref_unpaid),
            profit_paid: f(|i| i.profit_paid),
            sponsor_profit: m(s.sponsor_profit),
            reserve: m(s.reserve),
            last_distribution: s.last_distribution.format("%Y-%m-%d").to_string(),
        }
    }

    /// The preview of it, with `holders`.
    pub fn preview(&self, holders: Vec<HolderPart>) -> Preview {
        let o = &self.outcome;
        Preview {
            waterfall_version: self.version.version,
            on: self.on.format("%Y-%m-%d").to_string(),
            cash: m(self.cash),
            standing: self.standing(),
            tiers: self.tiers(),
            investors: m(self.investors()),
            management_fee: m(self.fee()),
            promote: m(self.promote()),
            reserve: m(self.reserve()),
            pref_carried: m(o.pref_carried),
            fee_unpaid: m(o.fee_unpaid),
            undistributed: m(o.undistributed),
            holders,
        }
    }

    /// (tier, cents to investors) of the tiers that pay investors.
    pub fn investor_tiers(&self) -> Vec<(String, u64)> {
        self.outcome
            .tiers
            .iter()
            .map(|t| (t.tier.to_owned(), t.investors.iter().sum::<u64>()))
            .filter(|(_, c)| *c > 0)
            .collect()
    }
}

/// A holder at a distribution: wallet, investor, shares.
pub(crate) type Holding = (
    alloy::primitives::Address,
    Option<String>,
    alloy::primitives::U256,
);

/// Divides `total` units among `holders` as the distributor does (each `total * shares /
/// supply`, rounded down), and each holder's part among `tiers` (tier, cents) in proportion.
pub(crate) fn divide(
    holders: &[Holding],
    supply: alloy::primitives::U256,
    total: alloy::primitives::U256,
    tiers: &[(String, u64)],
    decimals: u32,
) -> Result<Vec<HolderPart>> {
    use alloy::primitives::U256;
    if supply.is_zero() {
        return Ok(Vec::new());
    }
    let weights: Vec<u128> = tiers.iter().map(|(_, c)| u128::from(*c)).collect();
    let mut out = Vec::with_capacity(holders.len());
    for (wallet, investor, shares) in holders {
        if shares.is_zero() {
            continue;
        }
        let paid = total
            .checked_mul(*shares)
            .map(|p| p / supply)
            .ok_or_else(|| Error::invalid("/amount", "too large"))?;
        let paid_wide: u128 = paid
            .try_into()
            .map_err(|_| Error::invalid("/amount", "too large"))?;
        let parts = allocate_wide(paid_wide, &weights);
        out.push(HolderPart {
            holder: wallet.to_checksum(None),
            investor_id: investor.clone(),
            shares: crate::market::Amount::shares(*shares),
            amount: crate::market::Amount::of(paid, decimals),
            by_tier: tiers
                .iter()
                .zip(parts)
                .map(|((t, _), p)| TierPart {
                    tier: t.clone(),
                    amount: crate::market::Amount::of(U256::from(p), decimals),
                })
                .collect(),
        });
    }
    Ok(out)
}

/// Cents of a books amount (the books keep more places; sub-cent parts are dropped).
fn cents_of(d: rust_decimal::Decimal) -> Result<u64> {
    use rust_decimal::prelude::ToPrimitive;
    (d.abs() * rust_decimal::Decimal::ONE_HUNDRED)
        .trunc()
        .to_u64()
        .ok_or_else(|| Error::Corrupt("a books amount out of range".to_owned()))
}

/// The dated events of `property`'s investors from the books and the index: capital paid in
/// and refunded (capital carried between investors with shares nets out within the class),
/// distributions funded outside the waterfall, and the waterfall's own runs (`runs`, not
/// failed). In day order; the runs last on their day.
pub(crate) async fn events(
    db: &crate::db::Db,
    ledger: &propledger_ledger::Ledger,
    property: crate::properties::PropertyId,
    runs: &[runs::Run],
) -> Result<Vec<(NaiveDate, Event)>> {
    use std::collections::BTreeMap;
    let realized = crate::deals::realized::realized(db, ledger, property, None, 6).await?;
    let mut capital: BTreeMap<NaiveDate, rust_decimal::Decimal> = BTreeMap::new();
    for inv in &realized.investors {
        for f in inv.flows.iter().filter(|f| f.kind == "capital") {
            let day = crate::deals::parse_day("/on", &f.on)?;
            let amount: rust_decimal::Decimal = f
                .amount
                .amount
                .parse()
                .map_err(|_| Error::Corrupt("a flow's amount".to_owned()))?;
            *capital.entry(day).or_default() += amount;
        }
    }
    let mut out = Vec::new();
    for (day, net) in capital {
        let c = cents_of(net)?;
        if c == 0 {
            continue;
        }
        out.push((
            day,
            if net.is_sign_negative() {
                Event::Contributed(c)
            } else {
                Event::Withdrawn(c)
            },
        ));
    }
    // A failed run's investor distribution, should the chain have funded it, counts as a
    // plain one.
    let ours: std::collections::HashSet<String> = runs
        .iter()
        .filter(|r| r.status != runs::RunStatus::Failed)
        .map(|r| r.reference.to_ascii_lowercase())
        .collect();
    for (day, reference, amount) in funded_distributions(db, ledger, property).await? {
        if !ours.contains(&reference) {
            out.push((day, Event::Plain(cents_of(amount)?)));
        }
    }
    for r in runs.iter().filter(|r| r.status != runs::RunStatus::Failed) {
        out.push((crate::deals::parse_day("/on", &r.on)?, r.event()?));
    }
    out.sort_by_key(|(d, e)| (*d, matches!(e, Event::Run { .. })));
    Ok(out)
}

/// Each distribution funded from `property`'s treasury, as the books hold it: (day,
/// reference, amount).
pub(crate) async fn funded_distributions(
    db: &crate::db::Db,
    ledger: &propledger_ledger::Ledger,
    property: crate::properties::PropertyId,
) -> Result<Vec<(NaiveDate, String, rust_decimal::Decimal)>> {
    if !crate::market::index_exists(db).await? {
        return Ok(Vec::new());
    }
    let token = crate::tokenization::token_id(property).to_string();
    let Some(treasury) = crate::market::registered(db, &["treasury"])
        .await?
        .into_iter()
        .find(|c| c.property_id == token)
    else {
        return Ok(Vec::new());
    };
    let rows = crate::db::Query::new(
        "SELECT e.decoded, b.entry_key FROM idx_events e JOIN idx_bookings b \
         ON b.block_number = e.block_number AND b.log_index = e.log_index \
         WHERE e.address = $1 AND e.event = 'DistributionFunded' AND b.status = 'posted' \
         ORDER BY e.block_number, e.log_index",
    )
    .bind(treasury.address.to_vec())
    .fetch_all(db.reader())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let v: serde_json::Value = serde_json::from_str(&r.get::<String>("decoded")?)
            .map_err(|_| Error::Corrupt("an indexed distribution".to_owned()))?;
        let reference = v["ref"].as_str().unwrap_or_default().to_ascii_lowercase();
        let key = propledger_ledger::core::IdempotencyKey::parse(&r.get::<String>("entry_key")?)
            .map_err(|_| Error::Corrupt("a booking's key".to_owned()))?;
        let Some(entry) = ledger
            .entries()
            .by_key(&key)
            .await
            .map_err(crate::deals::costs::ledger_error)?
        else {
            continue;
        };
        if entry.status != propledger_ledger::core::EntryStatus::Posted {
            continue;
        }
        let Some(first) = entry.postings.first() else {
            continue;
        };
        out.push((entry.effective_date, reference, first.amount.value()));
    }
    Ok(out)
}

/// Checks a preview's or a run's inputs: (cash, gross rent, date) in cents; the date
/// defaults to `today`.
pub(crate) fn check_inputs(
    amount: &crate::types::Money,
    on: Option<&str>,
    gross_rent: Option<&crate::types::Money>,
    today: NaiveDate,
) -> Result<(u64, u64, NaiveDate)> {
    let mut errors = Vec::new();
    let cash = crate::deals::usd("/amount", amount, &mut errors);
    let rent = gross_rent.map_or(0, |m| crate::deals::usd("/gross_rent", m, &mut errors));
    let on = match on {
        None => today,
        Some(t) => match crate::deals::parse_day("/on", t) {
            Ok(d) => d,
            Err(Error::Invalid(mut e)) => {
                errors.append(&mut e);
                NaiveDate::MIN
            }
            Err(e) => return Err(e),
        },
    };
    if !errors.iter().any(|e| e.pointer.starts_with("/amount")) && cash <= 0 {
        errors.push(crate::error::FieldError::new(
            "/amount/amount",
            "must be more than zero",
        ));
    }
    if !errors.iter().any(|e| e.pointer.starts_with("/gross_rent")) && rent < 0 {
        errors.push(crate::error::FieldError::new(
            "/gross_rent/amount",
            "must not be negative",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok((
        u64::try_from(cash).unwrap_or(0),
        u64::try_from(rent).unwrap_or(0),
        on,
    ))
}

/// Plans a distribution of `cash` on `on` through `property`'s current waterfall, from the
/// books' events and the runs before it.
pub(crate) async fn plan(
    db: &crate::db::Db,
    ledger: &propledger_ledger::Ledger,
    property: crate::properties::PropertyId,
    (cash, gross_rent, on): (u64, u64, NaiveDate),
    runs: &[runs::Run],
) -> Result<Planned> {
    let version = versions(db.reader(), property)
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound("waterfall"))?;
    let w = version.waterfall();
    let events = events(db, ledger, property, runs).await?;
    let start = events.first().map_or(on, |e| e.0.min(on));
    let last = events.last().map_or(start, |e| e.0);
    if on < last {
        return Err(Error::invalid(
            "/on",
            format!("before the books' last capital or distribution ({last})"),
        ));
    }
    let before = replay(&w, &events, start)?;
    let outcome = run(
        &w,
        &before,
        Distribution {
            cash,
            on,
            gross_rent,
        },
    )?;
    Ok(Planned {
        version,
        on,
        cash,
        gross_rent,
        before,
        outcome,
    })
}

/// Previews a distribution of `req` on `property` through its current waterfall, from the
/// books up to now, divided among today's holders. The date defaults to the chain's.
pub async fn preview(
    app: &crate::http::state::App,
    property: crate::properties::PropertyId,
    req: &PreviewRequest,
) -> Result<Preview> {
    // The date defaults to the chain's, as a run's does.
    let today = match app.chain() {
        Ok(_) => runs::chain_today(app).await?,
        Err(_) => chrono::Utc::now().date_naive(),
    };
    let inputs = check_inputs(
        &req.amount,
        req.on.as_deref(),
        req.gross_rent.as_ref(),
        today,
    )?;
    let runs = runs::list(app.db().reader(), property).await?;
    let planned = plan(app.db(), app.ledger()?, property, inputs, &runs).await?;
    let holders = match runs::holders_now(app, property).await? {
        Some((holders, supply, decimals)) => divide(
            &holders,
            supply,
            crate::distributions::units_of_cents(
                i64::try_from(planned.investors()).unwrap_or(i64::MAX),
                decimals,
            )?,
            &planned.investor_tiers(),
            decimals,
        )?,
        None => Vec::new(),
    };
    Ok(planned.preview(holders))
}
