//! Investors' yearly tax statements, from the chain and the books.
//!
//! For one investor (their wallets) and one calendar year (UTC), across every property:
//! - **distributions** with a record date in the year: what the distributor owes each of the
//!   investor's wallets (its shares at the record date over the supply then, rounded down as the
//!   chain pays it, claimed or not), divided into **income** and **return of capital**. A
//!   distribution run through the waterfall divides as its tiers did (preferred return,
//!   catch-up and split are income; return of capital is capital), in proportion by the largest
//!   remainder. Any other distribution divides as the investors' standing gives it: the accrued
//!   preferred return first, then unreturned capital, then income. The investor's part of a
//!   run's management fee (in proportion to their shares) is shown as **fees**;
//! - **purchases**: shares received, from an offering (at its cost), on the share market (at
//!   the payment) or by transfer from another investor (cost not known to the platform: such a
//!   transfer's price is agreed off it);
//! - **disposals**: shares sold on the market, transferred to another investor or refunded,
//!   matched to purchases first in, first out for the cost basis; the proceeds of a sale are the
//!   payment less the trading fee, those of a refund its amount; those of a transfer are not
//!   known to the platform, so neither is its gain.
//!
//! Amounts are in the settlement token, exactly. The promote is the sponsor's, not an
//! investor's: the operator's export lists the sponsor's fee and promote payments of the year.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolEvent;
use chrono::{Datelike, NaiveDate};
use propledger_contracts::{PropertyShares, ShareSettlement};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::Query;
use crate::error::{Error, Result};
use crate::http::state::App;
use crate::market::Amount;
use crate::properties::PropertyId;
use crate::waterfall::{self, Waterfall, runs};

/// Most investors one export covers.
pub const EXPORT_MAX_INVESTORS: usize = 2_000;

/// One distribution on a statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TaxDistribution {
    /// The property (deed token id).
    pub property: String,
    /// The distributor's number for it.
    pub distribution_number: u64,
    /// The record date.
    pub record_date: String,
    /// Whether it ran through the property's waterfall.
    pub waterfall: bool,
    /// What the investor's wallets are owed.
    pub amount: Amount,
    /// Of it, income.
    pub income: Amount,
    /// Of it, capital returned.
    pub return_of_capital: Amount,
    /// The investor's part of the management fee the run paid.
    pub fees: Amount,
}

/// Shares received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Purchase {
    /// The property.
    pub property: String,
    /// The day.
    pub on: String,
    /// `offering`, `market` or `transfer`.
    pub how: String,
    /// Shares.
    pub shares: Amount,
    /// What they cost (unknown for a transfer).
    pub cost: Option<Amount>,
}

/// Shares given up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Disposal {
    /// The property.
    pub property: String,
    /// The day.
    pub on: String,
    /// `market` (a sale), `transfer` or `refund`.
    pub how: String,
    /// Shares.
    pub shares: Amount,
    /// Their cost, first in first out (unknown when a lot's is).
    pub cost_basis: Option<Amount>,
    /// What was received (a sale's payment less the fee, a refund's amount; unknown for a
    /// transfer).
    pub proceeds: Option<Amount>,
    /// Proceeds less cost basis, when both are known (negative: a loss).
    pub gain: Option<String>,
}

/// A statement's totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct TaxTotals {
    /// Distributions owed in the year.
    pub distributions: String,
    /// Of them, income.
    pub income: String,
    /// Of them, capital returned.
    pub return_of_capital: String,
    /// The investor's part of management fees.
    pub fees: String,
    /// Gains realized where known.
    pub realized_gain: String,
}

/// One investor's tax statement for a year.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TaxStatement {
    /// The investor.
    pub investor_id: String,
    /// The year.
    pub year: i32,
    /// The settlement token's amounts are in this currency.
    pub currency: String,
    /// Distributions with a record date in the year.
    pub distributions: Vec<TaxDistribution>,
    /// Shares received in the year.
    pub purchases: Vec<Purchase>,
    /// Shares given up in the year.
    pub disposals: Vec<Disposal>,
    /// Totals.
    pub totals: TaxTotals,
}

/// A payment to the sponsor in the year.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SponsorPayment {
    /// The property.
    pub property: String,
    /// The run's date.
    pub on: String,
    /// `management_fee` or `promote`.
    pub kind: String,
    /// The amount (USD).
    pub amount: crate::types::Money,
    /// The sponsor's wallet.
    pub sponsor: Option<String>,
}

/// The operator's export for a year: every investor's statement and the sponsor's payments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TaxExport {
    /// The year.
    pub year: i32,
    /// Each investor's statement, by investor id.
    pub statements: Vec<TaxStatement>,
    /// Fees and promote paid to the sponsor.
    pub sponsor: Vec<SponsorPayment>,
}

fn chain_err(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("chain: {e}"))
}

fn decoded(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|_| Error::Corrupt("an indexed event".to_owned()))
}

fn u256_of(v: &serde_json::Value, key: &str) -> Result<U256> {
    v[key]
        .as_str()
        .and_then(|s| s.parse::<U256>().ok())
        .ok_or_else(|| Error::Corrupt(format!("an indexed event's {key}")))
}

/// A chain number in a smaller type, or an error naming it out of range.
fn fits<T: TryFrom<U256>>(v: U256) -> Result<T> {
    T::try_from(v).map_err(|_| Error::Corrupt(format!("a chain amount out of range: {v}")))
}

fn address_of(v: &serde_json::Value, key: &str) -> Result<Address> {
    v[key]
        .as_str()
        .and_then(|s| s.parse::<Address>().ok())
        .ok_or_else(|| Error::Corrupt(format!("an indexed event's {key}")))
}

fn day_of(seconds: u64) -> NaiveDate {
    chrono::DateTime::from_timestamp(i64::try_from(seconds).unwrap_or(0), 0)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

fn signed_text(v: i128, decimals: u32) -> String {
    let units = U256::from(v.unsigned_abs());
    let text = crate::market::Amount::of(units, decimals).amount;
    if v < 0 { format!("-{text}") } else { text }
}

/// One property's contracts, as the index registered them.
struct PropertyContracts {
    token: String,
    shares: Address,
    distributor: Address,
    offerings: Vec<Address>,
}

async fn properties(app: &App) -> Result<Vec<PropertyContracts>> {
    let all = crate::market::registered(app.db(), &["shares", "distributor", "offering"]).await?;
    /// What the index registered for one property so far.
    #[derive(Default)]
    struct Found {
        shares: Option<Address>,
        distributor: Option<Address>,
        offerings: Vec<Address>,
    }
    let mut by: BTreeMap<String, Found> = BTreeMap::new();
    for c in all {
        let e = by.entry(c.property_id.clone()).or_default();
        match c.kind.as_str() {
            "shares" => e.shares = Some(c.address),
            "distributor" => e.distributor = Some(c.address),
            _ => e.offerings.push(c.address),
        }
    }
    Ok(by
        .into_iter()
        .filter_map(|(token, f)| {
            Some(PropertyContracts {
                token,
                shares: f.shares?,
                distributor: f.distributor?,
                offerings: f.offerings,
            })
        })
        .collect())
}

/// What a statement is made from, read once for any number of investors.
struct Year {
    year: i32,
    decimals: u32,
    properties: Vec<PropertyYear>,
}

/// One distribution of a property, with how it divides: (tier kind, weight) where the kind is
/// `income` or `capital`, and the management fee.
struct Dist {
    number: u64,
    checkpoint: u32,
    record: NaiveDate,
    amount: U256,
    supply: U256,
    waterfall: bool,
    parts: Vec<(bool, u128)>,
    fee: U256,
}

/// One share transfer.
struct ShareMove {
    tx: Vec<u8>,
    from: Address,
    to: Address,
    value: U256,
    on: NaiveDate,
}

struct PropertyYear {
    token: String,
    shares: Address,
    dists: Vec<Dist>,
    /// Every share transfer, in chain order.
    transfers: Vec<ShareMove>,
    /// Cost of the shares bought in a transaction, by its hash.
    costs: HashMap<Vec<u8>, U256>,
    /// Amount refunded in a transaction, by its hash.
    refunds: HashMap<Vec<u8>, U256>,
    /// The market's trades of these shares in a transaction, by its hash.
    trades: HashMap<Vec<u8>, Vec<Trade>>,
}

/// A trade settled on the share market.
#[derive(Clone, Copy)]
struct Trade {
    seller: Address,
    buyer: Address,
    amount: U256,
    payment: U256,
    fee: U256,
}

impl PropertyYear {
    /// The trade a transfer settled, if it was one.
    fn trade(&self, m: &ShareMove) -> Option<&Trade> {
        self.trades
            .get(&m.tx)?
            .iter()
            .find(|t| t.seller == m.from && t.buyer == m.to && t.amount == m.value)
    }
}

/// Every trade the share market settled, by share token and transaction.
async fn market_trades(app: &App) -> Result<HashMap<Address, HashMap<Vec<u8>, Vec<Trade>>>> {
    let mut out: HashMap<Address, HashMap<Vec<u8>, Vec<Trade>>> = HashMap::new();
    if app.chain()?.platform.settlement.is_none() {
        return Ok(out);
    }
    // Its own errors as they are: a chain that cannot answer (503) or too many events (409).
    let logs = crate::http::routes::trading::market_logs(app.chain()?).await?;
    for log in logs {
        if log.topics.first() != Some(&ShareSettlement::TradeSettled::SIGNATURE_HASH) {
            continue;
        }
        let data = alloy::primitives::LogData::new_unchecked(log.topics.clone(), log.data.clone());
        let e = ShareSettlement::TradeSettled::decode_log_data(&data)
            .map_err(|_| Error::Corrupt("a TradeSettled event".to_owned()))?;
        out.entry(e.token)
            .or_default()
            .entry(log.tx_hash.to_vec())
            .or_default()
            .push(Trade {
                seller: e.seller,
                buyer: e.buyer,
                amount: e.amount,
                payment: e.payment,
                fee: e.fee,
            });
    }
    Ok(out)
}

async fn block_day(
    app: &App,
    cache: &mut HashMap<u64, NaiveDate>,
    block: u64,
) -> Result<NaiveDate> {
    if let Some(d) = cache.get(&block) {
        return Ok(*d);
    }
    let b = app
        .chain()?
        .provider
        .get_block_by_number(block.into())
        .await
        .map_err(chain_err)?
        .ok_or_else(|| chain_err(format!("no block {block}")))?;
    let d = day_of(b.header.timestamp);
    cache.insert(block, d);
    Ok(d)
}

async fn events_of(app: &App, address: Address, names: &[&str]) -> Result<Vec<crate::db::Row>> {
    let list = names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT block_number, log_index, tx_hash, event, decoded FROM idx_events \
         WHERE address = $1 AND event IN ({list}) ORDER BY block_number, log_index"
    );
    Query::assembled(sql)
        .bind(address.to_vec())
        .fetch_all(app.db().reader())
        .await
}

async fn read_year(app: &App, year: i32) -> Result<Year> {
    let decimals = crate::market::index_head(app.db())
        .await?
        .ok_or_else(|| Error::Unavailable("the index has not read the chain yet".to_owned()))?
        .decimals;
    let units =
        |c: u64| crate::distributions::units_of_cents(i64::try_from(c).unwrap_or(0), decimals);
    let mut days = HashMap::new();
    let mut out = Vec::new();
    let mut trades = market_trades(app).await?;
    for p in properties(app).await? {
        let property = p
            .token
            .parse::<u128>()
            .ok()
            .map(|n| PropertyId(uuid::Uuid::from_u128(n)));
        let runs = match property {
            Some(id) => runs::list(app.db().reader(), id).await?,
            None => Vec::new(),
        };
        let by_ref: HashMap<String, &runs::Run> = runs
            .iter()
            .filter(|r| r.status != runs::RunStatus::Failed)
            .map(|r| (r.reference.to_ascii_lowercase(), r))
            .collect();
        // Plain distributions divide as the standing gives them.
        let plain = match property {
            Some(id) => plain_parts(app, id, &runs).await?,
            None => HashMap::new(),
        };
        let mut dists = Vec::new();
        for r in events_of(app, p.distributor, &["DistributionCreated"]).await? {
            let v = decoded(&r.get::<String>("decoded")?)?;
            let record = day_of(fits(u256_of(&v, "recordTime")?)?);
            if record.year() != year {
                continue;
            }
            let reference = v["ref"].as_str().unwrap_or_default().to_ascii_lowercase();
            let (waterfall, parts, fee) = match by_ref.get(&reference) {
                Some(run) => {
                    let parts = run
                        .investor_tiers()?
                        .into_iter()
                        .map(|(t, c)| Ok((t != "return_of_capital", fits::<u128>(units(c)?)?)))
                        .collect::<Result<Vec<_>>>()?;
                    let fee = crate::types::Currency::USD
                        .minor_units("/fee", &run.management_fee.amount)
                        .map_err(|_| Error::Corrupt("a run's fee".into()))?;
                    (true, parts, units(u64::try_from(fee).unwrap_or(0))?)
                }
                None => {
                    let (income, capital) = plain.get(&reference).copied().unwrap_or((1, 0));
                    (
                        false,
                        vec![(true, u128::from(income)), (false, u128::from(capital))],
                        U256::ZERO,
                    )
                }
            };
            dists.push(Dist {
                number: fits(u256_of(&v, "distributionId")?)?,
                checkpoint: fits(u256_of(&v, "checkpointId")?)?,
                record,
                amount: u256_of(&v, "amount")?,
                supply: u256_of(&v, "supplyAtRecord")?,
                waterfall,
                parts,
                fee,
            });
        }
        let mut transfers = Vec::new();
        for r in events_of(app, p.shares, &["Transfer"]).await? {
            let v = decoded(&r.get::<String>("decoded")?)?;
            let block = u64::try_from(r.get::<i64>("block_number")?).unwrap_or(0);
            transfers.push(ShareMove {
                tx: r.get::<Vec<u8>>("tx_hash")?,
                from: address_of(&v, "from")?,
                to: address_of(&v, "to")?,
                value: u256_of(&v, "value")?,
                on: block_day(app, &mut days, block).await?,
            });
        }
        let (mut costs, mut refunds) = (HashMap::new(), HashMap::new());
        for o in &p.offerings {
            for r in events_of(app, *o, &["SharesPurchased", "PurchaseRefunded"]).await? {
                let v = decoded(&r.get::<String>("decoded")?)?;
                let tx = r.get::<Vec<u8>>("tx_hash")?;
                if r.get::<String>("event")? == "SharesPurchased" {
                    *costs.entry(tx).or_insert(U256::ZERO) += u256_of(&v, "cost")?;
                } else {
                    *refunds.entry(tx).or_insert(U256::ZERO) += u256_of(&v, "amount")?;
                }
            }
        }
        out.push(PropertyYear {
            token: p.token,
            shares: p.shares,
            dists,
            transfers,
            costs,
            refunds,
            trades: trades.remove(&p.shares).unwrap_or_default(),
        });
    }
    Ok(Year {
        year,
        decimals,
        properties: out,
    })
}

/// How each plain distribution of `property` divided, (income, capital) cents by reference.
async fn plain_parts(
    app: &App,
    property: PropertyId,
    runs: &[runs::Run],
) -> Result<HashMap<String, (u64, u64)>> {
    let ledger = app.ledger()?;
    let w = crate::waterfall::versions(app.db().reader(), property)
        .await?
        .into_iter()
        .next()
        .map_or(Waterfall { tiers: Vec::new() }, |v| v.waterfall());
    let events = waterfall::events(app.db(), ledger, property, runs).await?;
    let Some(start) = events.first().map(|e| e.0) else {
        return Ok(HashMap::new());
    };
    let (_, parts) = waterfall::replay_detailed(&w, &events, start)?;
    let ours: HashSet<String> = runs
        .iter()
        .filter(|r| r.status != runs::RunStatus::Failed)
        .map(|r| r.reference.to_ascii_lowercase())
        .collect();
    let plain: Vec<String> = waterfall::funded_distributions(app.db(), ledger, property)
        .await?
        .into_iter()
        .map(|(_, r, _)| r)
        .filter(|r| !ours.contains(r))
        .collect();
    debug_assert_eq!(plain.len(), parts.len());
    Ok(plain.into_iter().zip(parts).collect())
}

/// A lot: shares and their cost (unknown: `None`).
struct Lot {
    shares: U256,
    cost: Option<U256>,
}

fn statement_of(
    app_year: &Year,
    investor_id: &str,
    wallets: &HashSet<Address>,
    shares_of: &HashMap<(usize, u64, Address), U256>,
) -> Result<TaxStatement> {
    let d = app_year.decimals;
    let amt = |u: U256| Amount::of(u, d);
    let mut distributions = Vec::new();
    let (mut total, mut income_t, mut capital_t, mut fees_t) =
        (U256::ZERO, U256::ZERO, U256::ZERO, U256::ZERO);
    let mut purchases = Vec::new();
    let mut disposals = Vec::new();
    let mut gain_t: i128 = 0;
    for (pi, p) in app_year.properties.iter().enumerate() {
        for dist in &p.dists {
            let held: U256 = wallets
                .iter()
                .map(|w| {
                    shares_of
                        .get(&(pi, dist.number, *w))
                        .copied()
                        .unwrap_or(U256::ZERO)
                })
                .sum();
            if held.is_zero() || dist.supply.is_zero() {
                continue;
            }
            // Each wallet is paid on its own, rounded down, as the distributor pays it.
            let owed: U256 = wallets
                .iter()
                .map(|w| {
                    let s = shares_of
                        .get(&(pi, dist.number, *w))
                        .copied()
                        .unwrap_or(U256::ZERO);
                    dist.amount * s / dist.supply
                })
                .sum();
            let weights: Vec<u128> = dist.parts.iter().map(|(_, w)| *w).collect();
            let owed_wide: u128 = fits(owed)?;
            let split = waterfall::allocate_wide(owed_wide, &weights);
            let income: u128 = dist
                .parts
                .iter()
                .zip(&split)
                .filter(|(p, _)| p.0)
                .map(|(_, v)| *v)
                .sum();
            let capital = owed_wide - income;
            let fee = dist.fee * held / dist.supply;
            total += owed;
            income_t += U256::from(income);
            capital_t += U256::from(capital);
            fees_t += fee;
            distributions.push(TaxDistribution {
                property: p.token.clone(),
                distribution_number: dist.number,
                record_date: dist.record.format("%Y-%m-%d").to_string(),
                waterfall: dist.waterfall,
                amount: amt(owed),
                income: amt(U256::from(income)),
                return_of_capital: amt(U256::from(capital)),
                fees: amt(fee),
            });
        }
        // Lots, first in first out, over the whole history; the year's shown.
        let mut lots: VecDeque<Lot> = VecDeque::new();
        for m in &p.transfers {
            let ShareMove {
                tx,
                from,
                to,
                value,
                on,
            } = m;
            let (ours_from, ours_to) = (wallets.contains(from), wallets.contains(to));
            if ours_from == ours_to {
                continue;
            }
            let in_year = on.year() == app_year.year;
            let day = on.format("%Y-%m-%d").to_string();
            if ours_to {
                let (how, cost) = if from.is_zero() {
                    ("offering", p.costs.get(tx).copied())
                } else if let Some(t) = p.trade(m) {
                    ("market", Some(t.payment))
                } else {
                    ("transfer", None)
                };
                lots.push_back(Lot {
                    shares: *value,
                    cost,
                });
                if in_year {
                    purchases.push(Purchase {
                        property: p.token.clone(),
                        on: day,
                        how: how.to_owned(),
                        shares: Amount::shares(*value),
                        cost: cost.map(amt),
                    });
                }
                continue;
            }
            let mut left = *value;
            let mut basis = Some(U256::ZERO);
            while !left.is_zero() {
                let Some(lot) = lots.front_mut() else {
                    basis = None;
                    break;
                };
                let take = left.min(lot.shares);
                let part = lot.cost.map(|c| c * take / lot.shares);
                basis = basis.zip(part).map(|(b, p)| b + p);
                lot.cost = lot.cost.zip(part).map(|(c, p)| c - p);
                lot.shares -= take;
                left -= take;
                if lot.shares.is_zero() {
                    lots.pop_front();
                }
            }
            let (how, proceeds) = if to.is_zero() {
                ("refund", p.refunds.get(tx).copied())
            } else if let Some(t) = p.trade(m) {
                ("market", Some(t.payment - t.fee))
            } else {
                ("transfer", None)
            };
            if in_year {
                let gain = basis.zip(proceeds).map(|(b, p)| {
                    let g = i128::try_from(p).unwrap_or(i128::MAX)
                        - i128::try_from(b).unwrap_or(i128::MAX);
                    gain_t += g;
                    signed_text(g, d)
                });
                disposals.push(Disposal {
                    property: p.token.clone(),
                    on: day,
                    how: how.to_owned(),
                    shares: Amount::shares(*value),
                    cost_basis: basis.map(amt),
                    proceeds: proceeds.map(amt),
                    gain,
                });
            }
        }
    }
    Ok(TaxStatement {
        investor_id: investor_id.to_owned(),
        year: app_year.year,
        currency: crate::deals::costs::BOOKS_CURRENCY.to_owned(),
        distributions,
        purchases,
        disposals,
        totals: TaxTotals {
            distributions: amt(total).amount,
            income: amt(income_t).amount,
            return_of_capital: amt(capital_t).amount,
            fees: amt(fees_t).amount,
            realized_gain: signed_text(gain_t, d),
        },
    })
}

/// Each wallet's shares at each distribution's record date, for `wallets`.
async fn holdings(
    app: &App,
    y: &Year,
    wallets: &HashSet<Address>,
) -> Result<HashMap<(usize, u64, Address), U256>> {
    let provider = &app.chain()?.provider;
    let mut out = HashMap::new();
    for (pi, p) in y.properties.iter().enumerate() {
        if p.dists.is_empty() {
            continue;
        }
        let received: HashSet<Address> = p.transfers.iter().map(|t| t.to).collect();
        let shares = PropertyShares::new(p.shares, provider);
        for dist in &p.dists {
            for w in wallets.iter().filter(|w| received.contains(*w)) {
                let held = shares
                    .balanceOfAt(*w, dist.checkpoint)
                    .call()
                    .await
                    .map_err(chain_err)?;
                if !held.is_zero() {
                    out.insert((pi, dist.number, *w), held);
                }
            }
        }
    }
    Ok(out)
}

/// The year asked for: from 1970 to 9999.
pub fn check_year(year: i32) -> Result<i32> {
    if (1970..=9999).contains(&year) {
        Ok(year)
    } else {
        Err(Error::invalid("year", "a year from 1970 to 9999"))
    }
}

/// The wallets of each investor (API id), by investor.
async fn wallets_by_investor(app: &App) -> Result<BTreeMap<String, HashSet<Address>>> {
    let rows = Query::new("SELECT wallet, investor_id FROM api_investor_wallets")
        .fetch_all(app.db().reader())
        .await?;
    let mut out: BTreeMap<String, HashSet<Address>> = BTreeMap::new();
    for r in rows {
        let w: Address = r
            .get::<String>("wallet")?
            .parse()
            .map_err(|_| Error::Corrupt("an investor's wallet".into()))?;
        out.entry(r.get::<String>("investor_id")?)
            .or_default()
            .insert(w);
    }
    Ok(out)
}

/// `investor_id`'s statement for `year` (404 for an investor the API does not know).
pub async fn statement(app: &App, investor_id: &str, year: i32) -> Result<TaxStatement> {
    let year = check_year(year)?;
    let wallets = wallets_by_investor(app)
        .await?
        .remove(investor_id)
        .ok_or(Error::NotFound("investor"))?;
    of_wallets(app, investor_id, &wallets, year).await
}

/// The statement of `wallets` (one investor's, named `label`) for `year`.
pub async fn of_wallets(
    app: &App,
    label: &str,
    wallets: &HashSet<Address>,
    year: i32,
) -> Result<TaxStatement> {
    let year = check_year(year)?;
    let investor_id = label;
    let y = read_year(app, year).await?;
    let held = holdings(app, &y, wallets).await?;
    statement_of(&y, investor_id, wallets, &held)
}

/// Every investor's statement for `year` and the sponsor's payments.
pub async fn export(app: &App, year: i32) -> Result<TaxExport> {
    let year = check_year(year)?;
    let all = wallets_by_investor(app).await?;
    if all.len() > EXPORT_MAX_INVESTORS {
        return Err(Error::conflict(
            "too_many_investors",
            format!("more than {EXPORT_MAX_INVESTORS} investors to export"),
        ));
    }
    let y = read_year(app, year).await?;
    let everyone: HashSet<Address> = all.values().flatten().copied().collect();
    let held = holdings(app, &y, &everyone).await?;
    let mut statements = Vec::with_capacity(all.len());
    for (id, w) in &all {
        let s = statement_of(&y, id, w, &held)?;
        if !(s.distributions.is_empty() && s.purchases.is_empty() && s.disposals.is_empty()) {
            statements.push(s);
        }
    }
    let mut sponsor = Vec::new();
    for r in runs::all_funded(app.db().reader()).await? {
        if r.day()?.year() != year {
            continue;
        }
        for (kind, m) in [
            ("management_fee", &r.management_fee),
            ("promote", &r.promote),
        ] {
            if m.amount.trim_start_matches(['0', '.']).is_empty() {
                continue;
            }
            sponsor.push(SponsorPayment {
                property: crate::tokenization::token_id(r.property_id).to_string(),
                on: r.on.clone(),
                kind: kind.to_owned(),
                amount: m.clone(),
                sponsor: r.sponsor.clone(),
            });
        }
    }
    Ok(TaxExport {
        year,
        statements,
        sponsor,
    })
}

/// A statement's rows as CSV: one row per distribution, purchase and disposal, then totals.
pub fn csv_rows(s: &TaxStatement, out: &mut Vec<Vec<String>>) {
    let o = |a: &Option<Amount>| a.as_ref().map(|a| a.amount.clone()).unwrap_or_default();
    for d in &s.distributions {
        out.push(vec![
            s.investor_id.clone(),
            s.year.to_string(),
            "distribution".into(),
            d.property.clone(),
            d.record_date.clone(),
            d.distribution_number.to_string(),
            String::new(),
            d.amount.amount.clone(),
            d.income.amount.clone(),
            d.return_of_capital.amount.clone(),
            d.fees.amount.clone(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    for p in &s.purchases {
        out.push(vec![
            s.investor_id.clone(),
            s.year.to_string(),
            format!("purchase ({})", p.how),
            p.property.clone(),
            p.on.clone(),
            String::new(),
            p.shares.amount.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            o(&p.cost),
            String::new(),
            String::new(),
        ]);
    }
    for d in &s.disposals {
        out.push(vec![
            s.investor_id.clone(),
            s.year.to_string(),
            format!("disposal ({})", d.how),
            d.property.clone(),
            d.on.clone(),
            String::new(),
            d.shares.amount.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            o(&d.cost_basis),
            o(&d.proceeds),
            d.gain.clone().unwrap_or_default(),
        ]);
    }
    let t = &s.totals;
    out.push(vec![
        s.investor_id.clone(),
        s.year.to_string(),
        "total".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        t.distributions.clone(),
        t.income.clone(),
        t.return_of_capital.clone(),
        t.fees.clone(),
        String::new(),
        String::new(),
        t.realized_gain.clone(),
    ]);
}

/// The CSV header of [`csv_rows`].
pub const CSV_HEADER: [&str; 14] = [
    "investor_id",
    "year",
    "line",
    "property",
    "date",
    "distribution",
    "shares",
    "amount",
    "income",
    "return_of_capital",
    "fees",
    "cost",
    "proceeds",
    "gain",
];
