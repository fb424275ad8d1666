//! Comparable sales: an after-repair value (ARV) for a subject from the sales most like it,
//! each adjusted for its differences, with every adjustment shown.
//!
//! - **Candidates**: sales in the subject's area that closed before the valuation day (never
//!   after it) and have a living area.
//! - **Similarity**: a score adding the relative difference in living area, the differences in
//!   bedrooms and bathrooms, a tenth of the difference in age (years), the months since the sale
//!   over twelve, and, when both have coordinates, the distance in kilometres. The lowest scores
//!   are the comps.
//! - **Market index**: for each quarter, the area's median price per square foot over the twelve
//!   months ending with it, from sales before the day. A comp's price is brought to the day by
//!   the ratio of the latest index to the index of the comp's quarter.
//! - **Adjustments**, for the differences in living area, bedrooms, bathrooms and age (fifty
//!   years at most): rates fitted by least squares on the area's earlier sales (at least 30 with
//!   every feature), else fixed rules (half the price per square foot; 3%, 2% and 0.3% of the
//!   median price a bedroom, a bathroom and a year); the lot up to 5% of the price, in
//!   proportion to the relative difference.
//! - **ARV**: the adjusted prices of the ten closest sales, weighted by `1 / (1 + score)`,
//!   rounded to the dollar.
//!
//! Everything is exact decimal arithmetic; coordinates are the only floats, and they only rank.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::types::Money;

/// Most comps a valuation uses.
pub const MAX_COMPS: usize = 10;
/// Most years of age difference an adjustment counts.
pub const MAX_AGE_YEARS: i64 = 50;

/// A sale, as the comps read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sold {
    /// Its id.
    pub id: String,
    /// Address.
    pub address: String,
    /// Day sold.
    pub sale_date: NaiveDate,
    /// Price (USD).
    pub price: Decimal,
    /// Living area.
    pub area: i64,
    /// Lot size.
    pub lot: Option<i64>,
    /// Bedrooms.
    pub bedrooms: Option<i64>,
    /// Bathrooms in tenths.
    pub baths_tenths: Option<i64>,
    /// Year built.
    pub year_built: Option<i64>,
    /// Latitude and longitude.
    pub location: Option<(f64, f64)>,
}

/// The subject to value.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// City.
    pub city: String,
    /// State or region.
    pub region: String,
    /// Living area (square feet), after repairs.
    pub living_area_sqft: i64,
    /// Bedrooms.
    pub bedrooms: Option<i64>,
    /// Bathrooms (2.5 for two and a half).
    #[schema(value_type = Option<f64>)]
    pub bathrooms: Option<serde_json::Number>,
    /// Year built.
    pub year_built: Option<i64>,
    /// Lot size (square feet).
    pub lot_size_sqft: Option<i64>,
    /// Latitude (decimal degrees).
    pub latitude: Option<f64>,
    /// Longitude (decimal degrees).
    pub longitude: Option<f64>,
    /// The valuation day (`YYYY-MM-DD`, default today): only sales before it count.
    pub as_of: Option<String>,
}

/// One adjustment to a comp's price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Adjustment {
    /// `time`, `living_area`, `bedrooms`, `bathrooms`, `age` or `lot`.
    pub kind: String,
    /// The amount added (negative: taken off).
    pub amount: Money,
    /// Why, as a sentence.
    pub why: String,
}

/// One comp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Comp {
    /// The sale.
    pub sale_id: String,
    /// Its address.
    pub address: String,
    /// Its day.
    pub sale_date: String,
    /// Its price.
    pub price: Money,
    /// The similarity score (lower is closer).
    pub score: String,
    /// Its adjustments.
    pub adjustments: Vec<Adjustment>,
    /// The adjusted price.
    pub adjusted_price: Money,
    /// Its weight in the ARV (percent).
    pub weight_percent: String,
}

/// A comps valuation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Valuation {
    /// The valuation day.
    pub as_of: String,
    /// The after-repair value.
    pub arv: Money,
    /// The area's latest median price per square foot (the index the time adjustment uses).
    pub market_price_per_sqft: Money,
    /// The comps, closest first.
    pub comps: Vec<Comp>,
    /// The area's learned model's estimate, next to the comps' (the latest model that learned
    /// only from sales before the day).
    pub model: Option<crate::avm::Estimate>,
    /// Why there is no model estimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_unavailable: Option<String>,
}

/// An amount in whole dollars.
pub fn dollars(v: Decimal) -> Money {
    usd(v, 0)
}

/// Sales without coordinates are scanned; located ones are also filed in cells of this many
/// degrees (about a kilometre of latitude), searched outward from the subject's.
const CELL_DEGREES: f64 = 0.01;
/// Kilometres in a degree of latitude (on the sphere [`km`] measures on).
const KM_PER_DEGREE: f64 = 12_742.0 * std::f64::consts::PI / 360.0;
/// Valuation days whose index and rates a market keeps.
const DAYS_KEPT: usize = 8;

/// What a valuation day derives from the sales before it: the index, the level on the day and
/// the adjustment rates.
#[derive(Debug)]
pub struct Day {
    index: BTreeMap<(i32, u32), Decimal>,
    now: Decimal,
    rates: Rates,
}

/// An area's sales, ready to value from: sorted by day (so the sales before a valuation day
/// are a prefix), the located ones filed by cell, and the last few days' index and rates kept.
#[derive(Debug)]
pub struct Market {
    sales: Vec<Sold>,
    cells: std::collections::HashMap<(i64, i64), Vec<usize>>,
    unlocated: Vec<usize>,
    /// The cells' extent: south, west, north, east.
    bbox: Option<(i64, i64, i64, i64)>,
    days: std::sync::Mutex<Vec<(NaiveDate, std::sync::Arc<Day>)>>,
}

fn cell(loc: (f64, f64)) -> (i64, i64) {
    (
        (loc.0 / CELL_DEGREES).floor() as i64,
        (loc.1 / CELL_DEGREES).floor() as i64,
    )
}

impl Market {
    /// The market of `sales` (those without a living area are left out).
    pub fn new(mut sales: Vec<Sold>) -> Market {
        sales.retain(|s| s.area > 0);
        sales.sort_by(|a, b| a.sale_date.cmp(&b.sale_date).then(a.id.cmp(&b.id)));
        let mut cells: std::collections::HashMap<(i64, i64), Vec<usize>> = Default::default();
        let mut unlocated = Vec::new();
        for (i, s) in sales.iter().enumerate() {
            match s.location {
                Some(l) => cells.entry(cell(l)).or_default().push(i),
                None => unlocated.push(i),
            }
        }
        let bbox = cells
            .keys()
            .fold(None, |b: Option<(i64, i64, i64, i64)>, &(y, x)| {
                Some(b.map_or((y, x, y, x), |(y0, x0, y1, x1)| {
                    (y0.min(y), x0.min(x), y1.max(y), x1.max(x))
                }))
            });
        Market {
            sales,
            cells,
            unlocated,
            bbox,
            days: Default::default(),
        }
    }

    /// Its sales, by day.
    pub fn sales(&self) -> &[Sold] {
        &self.sales
    }

    fn before(&self, day: NaiveDate) -> usize {
        self.sales.partition_point(|s| s.sale_date < day)
    }

    /// The index and rates of `day`, from the sales before it (`None` without any).
    pub fn day(&self, day: NaiveDate) -> Option<std::sync::Arc<Day>> {
        let lock = || {
            self.days
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((_, d)) = lock().iter().find(|(k, _)| *k == day) {
            return Some(d.clone());
        }
        let before = &self.sales[..self.before(day)];
        if before.is_empty() {
            return None;
        }
        let idx = index(before);
        let now = index_at(&idx, quarter(day))?;
        let rates = Rates::fit(before).unwrap_or_else(|| Rates::fixed(before, now));
        let d = std::sync::Arc::new(Day {
            index: idx,
            now,
            rates,
        });
        let mut days = lock();
        if days.len() >= DAYS_KEPT {
            days.remove(0);
        }
        days.push((day, d.clone()));
        Some(d)
    }

    /// The area's market level on the valuation day: the index comps are brought to.
    pub fn level(&self, day: NaiveDate) -> Option<Decimal> {
        self.day(day).map(|d| d.now)
    }

    /// The [`MAX_COMPS`] sales before the day with the lowest scores, lowest first (ties: the
    /// later sale, then the earlier filed). A located subject searches the cells in rings
    /// outward and stops once no sale in a further ring could score below the ones it has (its
    /// distance alone would pass them); when the rings would visit more cells than the area
    /// has, it scores every sale. `scan` always scores every sale: the baseline the cells are
    /// measured against.
    pub fn closest(&self, f: &Facts, scan: bool) -> Vec<(f64, &Sold)> {
        let n = self.before(f.as_of);
        let mut best: Vec<(f64, usize)> = Vec::with_capacity(MAX_COMPS + 1);
        let searched = match f.location {
            Some(loc) if !scan => self.ring_search(f, loc, n, &mut best),
            _ => false,
        };
        if !searched {
            best.clear();
            for i in 0..n {
                self.offer(f, i, &mut best);
            }
        }
        best.into_iter().map(|(s, i)| (s, &self.sales[i])).collect()
    }

    fn offer(&self, f: &Facts, i: usize, best: &mut Vec<(f64, usize)>) {
        let sc = score(f, &self.sales[i]);
        let worse = |a: &(f64, usize)| {
            a.0.total_cmp(&sc)
                .then(self.sales[i].sale_date.cmp(&self.sales[a.1].sale_date))
                .then(a.1.cmp(&i))
                .is_gt()
        };
        if best.len() < MAX_COMPS || best.last().is_some_and(worse) {
            let at = best.partition_point(|a| !worse(a));
            best.insert(at, (sc, i));
            best.truncate(MAX_COMPS);
        }
    }

    /// The ring search; `false` when it gave up for a full scan.
    fn ring_search(
        &self,
        f: &Facts,
        loc: (f64, f64),
        n: usize,
        best: &mut Vec<(f64, usize)>,
    ) -> bool {
        for &i in self.unlocated.iter().take_while(|&&i| i < n) {
            self.offer(f, i, best);
        }
        let (cy, cx) = cell(loc);
        let visit = |y: i64, x: i64, best: &mut Vec<(f64, usize)>| {
            if let Some(v) = self.cells.get(&(y, x)) {
                for &i in v.iter().take_while(|&&i| i < n) {
                    self.offer(f, i, best);
                }
            }
        };
        let Some((y0, x0, y1, x1)) = self.bbox else {
            return true;
        };
        let mut ring = 0i64;
        loop {
            // Every located sale visited: done.
            if ring > 0 && cy - ring < y0 && cy + ring > y1 && cx - ring < x0 && cx + ring > x1 {
                return true;
            }
            // More cells visited than the area files sales in: scoring them all is cheaper.
            let visited = (2 * ring + 1).saturating_mul(2 * ring + 1);
            if usize::try_from(visited).unwrap_or(usize::MAX) > 4 * self.cells.len() + 64 {
                return false;
            }
            if ring == 0 {
                visit(cy, cx, best);
            } else {
                for d in -ring..=ring {
                    visit(cy - ring, cx + d, best);
                    visit(cy + ring, cx + d, best);
                }
                for d in (1 - ring)..ring {
                    visit(cy + d, cx - ring, best);
                    visit(cy + d, cx + ring, best);
                }
            }
            // Every sale in a further ring is at least `ring` whole cells away; a cell is
            // narrowest east to west, at the latitude farthest from the equator it reaches.
            let far_lat = (loc.0.abs() + (ring + 1) as f64 * CELL_DEGREES).min(90.0);
            let cell_km = CELL_DEGREES * KM_PER_DEGREE * far_lat.to_radians().cos().clamp(0.0, 1.0);
            let floor = ring as f64 * cell_km;
            if best.len() == MAX_COMPS && best.last().is_some_and(|l| l.0 <= floor) {
                return true;
            }
            ring += 1;
        }
    }
}

fn usd(v: Decimal, places: u32) -> Money {
    let mut v = v.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    v.rescale(places);
    Money {
        amount: v.to_string(),
        currency: "USD".to_owned(),
    }
}

fn quarter(d: NaiveDate) -> (i32, u32) {
    (d.year(), (d.month() - 1) / 3 + 1)
}

/// The area's market index: for each quarter with sales, the median price per square foot of
/// the sales in the twelve months ending with it (that quarter and the three before), which
/// smooths a thin quarter.
pub fn index(sales: &[Sold]) -> BTreeMap<(i32, u32), Decimal> {
    let mut by: BTreeMap<(i32, u32), Vec<Decimal>> = BTreeMap::new();
    for s in sales.iter().filter(|s| s.area > 0) {
        by.entry(quarter(s.sale_date))
            .or_default()
            .push(s.price / Decimal::from(s.area));
    }
    let ordinal = |(y, q): (i32, u32)| i64::from(y) * 4 + i64::from(q);
    by.keys()
        .map(|&k| {
            let mut v: Vec<Decimal> = by
                .iter()
                .filter(|(q, _)| (0..4).contains(&(ordinal(k) - ordinal(**q))))
                .flat_map(|(_, v)| v.iter().copied())
                .collect();
            v.sort();
            let n = v.len();
            let m = if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / Decimal::TWO
            };
            (k, m)
        })
        .collect()
}

/// What each difference is worth, in dollars: a square foot of living area, a bedroom, a
/// bathroom, a year of age.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rates {
    /// A square foot of living area.
    pub area: Decimal,
    /// A bedroom.
    pub bedroom: Decimal,
    /// A bathroom.
    pub bathroom: Decimal,
    /// A year newer.
    pub year: Decimal,
    /// Fitted on the area's sales (else the fixed rules).
    pub fitted: bool,
}

/// Fewest sales the rates are fitted on.
pub const MIN_FIT_SALES: usize = 30;

impl Rates {
    /// Least squares of price on living area, bedrooms, bathrooms and year built over the
    /// sales that have them all (floating point; the rates are rounded to the cent). `None`
    /// with fewer than [`MIN_FIT_SALES`] or a degenerate fit.
    pub fn fit(sales: &[Sold]) -> Option<Rates> {
        use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
        let rows: Vec<([f64; 5], f64)> = sales
            .iter()
            .filter_map(|s| {
                Some((
                    [
                        1.0,
                        s.area as f64,
                        s.bedrooms? as f64,
                        s.baths_tenths? as f64 / 10.0,
                        s.year_built? as f64,
                    ],
                    s.price.to_f64()?,
                ))
            })
            .collect();
        if rows.len() < MIN_FIT_SALES {
            return None;
        }
        let mut a = [[0.0f64; 6]; 5];
        for (x, y) in &rows {
            for i in 0..5 {
                for j in 0..5 {
                    a[i][j] += x[i] * x[j];
                }
                a[i][5] += x[i] * y;
            }
        }
        for c in 0..5 {
            let p = (c..5).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
            a.swap(c, p);
            if a[c][c].abs() < 1e-9 {
                return None;
            }
            let pivot = a[c];
            for (r, row) in a.iter_mut().enumerate() {
                if r != c {
                    let f = row[c] / pivot[c];
                    for (v, p) in row.iter_mut().zip(&pivot).skip(c) {
                        *v -= f * p;
                    }
                }
            }
        }
        let beta = |i: usize| -> Option<Decimal> {
            let v = a[i][5] / a[i][i];
            v.is_finite()
                .then(|| Decimal::from_f64(v))
                .flatten()
                .map(|d| d.round_dp(2))
        };
        let area = beta(1)?;
        if area <= Decimal::ZERO {
            return None;
        }
        Some(Rates {
            area,
            bedroom: beta(2)?,
            bathroom: beta(3)?,
            year: beta(4)?,
            fitted: true,
        })
    }

    /// The fixed rules, from the area's price per square foot and median price: half the price
    /// per square foot, 3% of the median price a bedroom, 2% a bathroom, 0.3% a year.
    pub fn fixed(sales: &[Sold], per_sqft: Decimal) -> Rates {
        let mut prices: Vec<Decimal> = sales.iter().map(|s| s.price).collect();
        prices.sort();
        let median = prices.get(prices.len() / 2).copied().unwrap_or_default();
        let pct = |p: i64, scale: u32| median * Decimal::new(p, scale) / Decimal::ONE_HUNDRED;
        Rates {
            area: per_sqft / Decimal::TWO,
            bedroom: pct(3, 0),
            bathroom: pct(2, 0),
            year: pct(3, 1),
            fitted: false,
        }
    }
}

/// The index on a day: its quarter's, else the latest before it.
pub fn index_on(index: &BTreeMap<(i32, u32), Decimal>, day: NaiveDate) -> Option<Decimal> {
    index_at(index, quarter(day))
}

/// The index for a quarter: its own, else the latest before it.
fn index_at(index: &BTreeMap<(i32, u32), Decimal>, q: (i32, u32)) -> Option<Decimal> {
    index.range(..=q).next_back().map(|(_, v)| *v)
}

fn km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    12_742.0 * h.sqrt().asin()
}

/// The subject's facts, checked.
#[derive(Clone, Debug)]
pub struct Facts {
    /// Living area.
    pub area: i64,
    /// Bedrooms.
    pub bedrooms: Option<i64>,
    /// Bathrooms in tenths.
    pub baths_tenths: Option<i64>,
    /// Year built.
    pub year_built: Option<i64>,
    /// Lot.
    pub lot: Option<i64>,
    /// Coordinates.
    pub location: Option<(f64, f64)>,
    /// The day.
    pub as_of: NaiveDate,
}

fn score(f: &Facts, s: &Sold) -> f64 {
    let rel = |a: i64, b: i64| ((a - b).abs() as f64) / (a.max(b).max(1) as f64);
    let mut v = rel(f.area, s.area) * 4.0;
    if let (Some(a), Some(b)) = (f.bedrooms, s.bedrooms) {
        v += (a - b).abs() as f64 * 0.5;
    }
    if let (Some(a), Some(b)) = (f.baths_tenths, s.baths_tenths) {
        v += (a - b).abs() as f64 / 10.0 * 0.5;
    }
    if let (Some(a), Some(b)) = (f.year_built, s.year_built) {
        v += (a - b).abs() as f64 / 10.0 * 0.3;
    }
    v += (f.as_of - s.sale_date).num_days().max(0) as f64 / 365.0;
    if let (Some(a), Some(b)) = (f.location, s.location) {
        v += km(a, b);
    }
    v
}

/// Values `f` from `sales` (the area's, any day: those on or after the day are left out).
pub fn value(f: &Facts, sales: &[Sold]) -> Option<Valuation> {
    Market::new(sales.to_vec()).value(f)
}

impl Market {
    /// Values `f` from the sales before its day.
    pub fn value(&self, f: &Facts) -> Option<Valuation> {
        self.value_with(f, false)
    }

    /// As [`Market::value`]; `scan` scores every sale instead of searching the cells.
    pub fn value_with(&self, f: &Facts, scan: bool) -> Option<Valuation> {
        let day = self.day(f.as_of)?;
        Some(appraise(f, &day, &self.closest(f, scan)))
    }
}

fn appraise(f: &Facts, day: &Day, ranked: &[(f64, &Sold)]) -> Valuation {
    let (idx, now, rates) = (&day.index, day.now, day.rates);
    let pct = |p: &str| p.parse::<Decimal>().unwrap_or_default() / Decimal::ONE_HUNDRED;
    let mut comps = Vec::with_capacity(ranked.len());
    let mut weighted = Decimal::ZERO;
    let mut weights = Decimal::ZERO;
    let mut parts = Vec::new();
    for (sc, s) in ranked {
        let then = index_at(idx, quarter(s.sale_date)).unwrap_or(now);
        let mut adj = Vec::new();
        let factor = if then.is_zero() {
            Decimal::ONE
        } else {
            now / then
        };
        let timed = s.price * factor;
        adj.push((
            "time",
            timed - s.price,
            format!(
                "the area's price per square foot moved from {} to {} since the sale",
                usd(then, 2).amount,
                usd(now, 2).amount
            ),
        ));
        let how = if rates.fitted {
            "fitted on the area's earlier sales"
        } else {
            "the fixed rule"
        };
        let d_area = f.area - s.area;
        if d_area != 0 {
            adj.push((
                "living_area",
                rates.area * Decimal::from(d_area),
                format!(
                    "{d_area:+} square feet at {} a square foot ({how})",
                    usd(rates.area, 2).amount
                ),
            ));
        }
        if let (Some(a), Some(b)) = (f.bedrooms, s.bedrooms)
            && a != b
        {
            adj.push((
                "bedrooms",
                rates.bedroom * Decimal::from(a - b),
                format!(
                    "{:+} bedrooms at {} each ({how})",
                    a - b,
                    usd(rates.bedroom, 2).amount
                ),
            ));
        }
        if let (Some(a), Some(b)) = (f.baths_tenths, s.baths_tenths)
            && a != b
        {
            adj.push((
                "bathrooms",
                rates.bathroom * Decimal::new(a - b, 1),
                format!(
                    "{:+} bathrooms at {} each ({how})",
                    Decimal::new(a - b, 1),
                    usd(rates.bathroom, 2).amount
                ),
            ));
        }
        if let (Some(a), Some(b)) = (f.year_built, s.year_built)
            && a != b
        {
            let years = (a - b).clamp(-MAX_AGE_YEARS, MAX_AGE_YEARS);
            adj.push((
                "age",
                rates.year * Decimal::from(years),
                format!(
                    "built {} years {} at {} a year, counting at most {MAX_AGE_YEARS} ({how})",
                    (a - b).abs(),
                    if a > b { "later" } else { "earlier" },
                    usd(rates.year, 2).amount
                ),
            ));
        }
        if let (Some(a), Some(b)) = (f.lot, s.lot)
            && a != b
            && a.max(b) > 0
        {
            let rel = Decimal::from(a - b) / Decimal::from(a.max(b));
            adj.push((
                "lot",
                timed * pct("5") * rel,
                format!(
                    "a lot of {a} square feet against {b}: up to 5% of the price, in proportion"
                ),
            ));
        }
        let adjusted = s.price + adj.iter().map(|a| a.1).sum::<Decimal>();
        let weight =
            Decimal::ONE / (Decimal::ONE + Decimal::try_from(*sc).unwrap_or(Decimal::ONE_HUNDRED));
        weighted += adjusted * weight;
        weights += weight;
        parts.push(weight);
        comps.push(Comp {
            sale_id: s.id.clone(),
            address: s.address.clone(),
            sale_date: s.sale_date.format("%Y-%m-%d").to_string(),
            price: usd(s.price, 2),
            score: format!("{sc:.3}"),
            adjustments: adj
                .into_iter()
                .map(|(k, a, why)| Adjustment {
                    kind: k.to_owned(),
                    amount: usd(a, 2),
                    why,
                })
                .collect(),
            adjusted_price: usd(adjusted, 2),
            weight_percent: String::new(),
        });
    }
    for (c, w) in comps.iter_mut().zip(parts) {
        c.weight_percent = crate::deals::finance::percent_of(w, weights)
            .map(|p| p.to_string())
            .unwrap_or_default();
    }
    Valuation {
        as_of: f.as_of.format("%Y-%m-%d").to_string(),
        arv: usd(weighted / weights, 0),
        market_price_per_sqft: usd(now, 2),
        comps,
        model: None,
        model_unavailable: None,
    }
}

/// Checks a subject: its facts.
pub fn facts(s: &Subject, today: NaiveDate) -> Result<Facts> {
    let mut errors = Vec::new();
    if !(1..=1_000_000).contains(&s.living_area_sqft) {
        errors.push(crate::error::FieldError::new(
            "/living_area_sqft",
            "from 1 to 1,000,000",
        ));
    }
    let baths_tenths = s.bathrooms.as_ref().and_then(|b| {
        let b = b
            .to_string()
            .parse::<Decimal>()
            .unwrap_or(Decimal::NEGATIVE_ONE);
        if b.is_sign_negative() || b.scale() > 1 || b > Decimal::from(100) {
            errors.push(crate::error::FieldError::new(
                "/bathrooms",
                "from 0 to 100 with at most one decimal",
            ));
            None
        } else {
            (b * Decimal::TEN).trunc().try_into().ok()
        }
    });
    let location = match (s.latitude, s.longitude) {
        (Some(a), Some(b)) if a.abs() <= 90.0 && b.abs() <= 180.0 => Some((a, b)),
        (None, None) => None,
        _ => {
            errors.push(crate::error::FieldError::new(
                "/latitude",
                "latitude and longitude in decimal degrees, together",
            ));
            None
        }
    };
    let as_of = match s.as_of.as_deref() {
        None => today,
        Some(t) => match crate::deals::parse_day("/as_of", t) {
            Ok(d) => d,
            Err(Error::Invalid(mut e)) => {
                errors.append(&mut e);
                today
            }
            Err(e) => return Err(e),
        },
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(Facts {
        area: s.living_area_sqft,
        bedrooms: s.bedrooms,
        baths_tenths,
        year_built: s.year_built,
        lot: s.lot_size_sqft,
        location,
        as_of,
    })
}

/// An improvement a rehab budget line makes.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Upgrade {
    /// `bedroom_added`, `bathroom_added`, `living_area_added` or `condition_improved`.
    pub kind: String,
    /// For `living_area_added`: the square feet added.
    pub square_feet: Option<i64>,
    /// What the line costs (USD).
    pub cost: Money,
}

/// What upgrades to value, on which subject.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// The property as it is.
    pub subject: Subject,
    /// The rehab's lines (at most 20).
    pub upgrades: Vec<Upgrade>,
}

/// A rehab project's budget line, valued as an upgrade.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineUpgrade {
    /// The budget line.
    pub line_id: String,
    /// What it does: `bedroom_added`, `bathroom_added`, `living_area_added` or
    /// `condition_improved`.
    pub kind: String,
    /// For `living_area_added`: the square feet added.
    pub square_feet: Option<i64>,
}

/// Which of a rehab project's lines to value.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectUpgrades {
    /// The lines (at most 20).
    pub lines: Vec<LineUpgrade>,
    /// The valuation day (`YYYY-MM-DD`, default today).
    pub as_of: Option<String>,
}

/// One line's estimate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct UpgradeValue {
    /// The rehab budget line, when valued from a project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_id: Option<String>,
    /// The line's category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The upgrade.
    pub kind: String,
    /// Its cost.
    pub cost: Money,
    /// The ARV it adds on its own (null when the sales cannot tell).
    pub value_added: Option<Money>,
    /// (Value added − cost) / cost, percent.
    pub return_percent: Option<String>,
    /// Why a figure is null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// Upgrade scenarios: the ARV as it is, after every upgrade, and each line's value and return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct UpgradeScenarios {
    /// The ARV as it is.
    pub before: Money,
    /// The ARV after every upgrade the sales can value.
    pub after: Money,
    /// Each line.
    pub lines: Vec<UpgradeValue>,
}

/// Most upgrades one request values.
pub const MAX_UPGRADES: usize = 20;

fn with_upgrade(f: &Facts, u: &Upgrade) -> Option<Facts> {
    let mut g = f.clone();
    match u.kind.as_str() {
        "bedroom_added" => g.bedrooms = Some(f.bedrooms.unwrap_or(0) + 1),
        "bathroom_added" => g.baths_tenths = Some(f.baths_tenths.unwrap_or(0) + 10),
        "living_area_added" => g.area = f.area + u.square_feet.unwrap_or(0),
        _ => return None,
    }
    Some(g)
}

fn arv_of(v: &Valuation) -> Decimal {
    v.arv.amount.parse().unwrap_or_default()
}

/// Values `upgrades` on `f` from the market: each line's ARV added on its own, and all together.
/// A condition improvement cannot be valued from sales that carry no condition.
pub fn upgrades(
    f: &Facts,
    upgrades: &[Upgrade],
    market: &Market,
) -> Result<Option<UpgradeScenarios>> {
    let mut errors = Vec::new();
    if upgrades.is_empty() || upgrades.len() > MAX_UPGRADES {
        errors.push(crate::error::FieldError::new(
            "/upgrades",
            format!("from 1 to {MAX_UPGRADES} upgrades"),
        ));
    }
    let mut costs = Vec::with_capacity(upgrades.len());
    for (i, u) in upgrades.iter().enumerate() {
        if ![
            "bedroom_added",
            "bathroom_added",
            "living_area_added",
            "condition_improved",
        ]
        .contains(&u.kind.as_str())
        {
            errors.push(crate::error::FieldError::new(
                format!("/upgrades/{i}/kind"),
                "bedroom_added, bathroom_added, living_area_added or condition_improved",
            ));
        }
        if u.kind == "living_area_added"
            && !u.square_feet.is_some_and(|s| (1..=100_000).contains(&s))
        {
            errors.push(crate::error::FieldError::new(
                format!("/upgrades/{i}/square_feet"),
                "from 1 to 100,000",
            ));
        }
        costs.push(crate::deals::usd(
            &format!("/upgrades/{i}/cost"),
            &u.cost,
            &mut errors,
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let Some(base) = market.value(f) else {
        return Ok(None);
    };
    let before = arv_of(&base);
    let mut all = f.clone();
    let mut lines = Vec::with_capacity(upgrades.len());
    for (u, cents) in upgrades.iter().zip(costs) {
        let cost = Decimal::new(cents, 2);
        let (value_added, unavailable) = match with_upgrade(f, u).and_then(|g| market.value(&g)) {
            Some(v) => {
                all = with_upgrade(&all, u).unwrap_or(all);
                (Some(arv_of(&v) - before), None)
            }
            None => (
                None,
                Some("the sales carry no condition, so its value cannot be estimated".to_owned()),
            ),
        };
        lines.push(UpgradeValue {
            line_id: None,
            category: None,
            kind: u.kind.clone(),
            cost: usd(cost, 2),
            value_added: value_added.map(|v| usd(v, 0)),
            return_percent: value_added
                .and_then(|v| crate::deals::finance::percent_of(v - cost, cost))
                .map(|p| p.to_string()),
            unavailable,
        });
    }
    let after = market.value(&all).map_or(before, |v| arv_of(&v));
    Ok(Some(UpgradeScenarios {
        before: usd(before, 0),
        after: usd(after, 0),
        lines,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sold(id: &str, day: &str, price: i64, area: i64, beds: i64) -> Sold {
        Sold {
            id: id.into(),
            address: format!("{id} Elm St"),
            sale_date: day.parse().unwrap(),
            price: Decimal::from(price),
            area,
            lot: None,
            bedrooms: Some(beds),
            baths_tenths: Some(20),
            year_built: Some(2000),
            location: None,
        }
    }

    /// Prices made exactly from the features give back their rates.
    #[test]
    fn fitted_rates_recover_a_linear_market() {
        let mut sales = Vec::new();
        for i in 0..40i64 {
            let (area, beds, baths, year) = (
                1000 + 37 * i,
                2 + i % 3,
                10 + 5 * (i % 4),
                1950 + (i * 7) % 60,
            );
            let price =
                50_000 + 100 * area + 5_000 * beds + 8_000 * baths / 10 + 300 * (year - 1900);
            sales.push(Sold {
                id: i.to_string(),
                address: String::new(),
                sale_date: "2026-01-01".parse().unwrap(),
                price: Decimal::from(price),
                area,
                lot: None,
                bedrooms: Some(beds),
                baths_tenths: Some(baths),
                year_built: Some(year),
                location: None,
            });
        }
        let r = Rates::fit(&sales).unwrap();
        assert!(r.fitted);
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            (r.area, r.bedroom, r.bathroom, r.year),
            (d("100"), d("5000"), d("8000"), d("300"))
        );
        assert_eq!(Rates::fit(&sales[..10]), None, "too few sales");
    }

    #[test]
    fn no_comp_postdates_the_day_and_every_adjustment_is_shown() {
        let sales = [
            sold("a", "2026-01-10", 200_000, 2000, 3),
            sold("b", "2026-02-10", 210_000, 2000, 3),
            sold("c", "2026-04-10", 220_000, 2000, 4),
            sold("late", "2026-07-01", 900_000, 2000, 3),
        ];
        let f = Facts {
            area: 2100,
            bedrooms: Some(3),
            baths_tenths: Some(20),
            year_built: Some(2000),
            lot: None,
            location: None,
            as_of: "2026-06-30".parse().unwrap(),
        };
        let v = value(&f, &sales).unwrap();
        assert!(v.comps.iter().all(|c| c.sale_id != "late"));
        assert_eq!(v.comps.len(), 3);
        // Q1's index is the median of 100 and 105 = 102.50; Q2's, over the twelve months to it,
        // of 100, 105 and 110 = 105: the market price. Too few sales to fit rates: the fixed
        // rules.
        assert_eq!(v.market_price_per_sqft.amount, "105.00");
        let a = v.comps.iter().find(|c| c.sale_id == "a").unwrap();
        let kinds: Vec<&str> = a.adjustments.iter().map(|x| x.kind.as_str()).collect();
        assert_eq!(kinds, ["time", "living_area"]);
        // 200,000 × 105 / 102.5 = 204,878.05; +100 sq ft at 52.50 = 5,250.
        assert_eq!(a.adjustments[0].amount.amount, "4878.05");
        assert_eq!(a.adjustments[1].amount.amount, "5250.00");
        assert_eq!(a.adjusted_price.amount, "210128.05");
        assert!(a.adjustments[1].why.contains("the fixed rule"), "{a:?}");
        // c has one bedroom more than the subject: 3% of the median price (210,000) off.
        let c = v.comps.iter().find(|c| c.sale_id == "c").unwrap();
        assert!(
            c.adjustments
                .iter()
                .any(|x| x.kind == "bedrooms" && x.amount.amount == "-6300.00"),
            "{c:?}"
        );
        let total: Decimal = v
            .comps
            .iter()
            .map(|c| c.weight_percent.parse::<Decimal>().unwrap())
            .sum();
        assert!(
            (total - Decimal::ONE_HUNDRED).abs() <= Decimal::new(2, 2),
            "{total}"
        );
        assert!(
            value(
                &Facts {
                    as_of: "2026-01-01".parse().unwrap(),
                    ..f
                },
                &sales
            )
            .is_none()
        );
    }
}
