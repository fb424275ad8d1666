//! Distributions run through a property's waterfall: planned from the books, then carried out
//! on chain and characterized in the books.
//!
//! A run pays out in up to three ways, each an outbox action of the treasurer's:
//! - the investors' share is funded through the property's distributor
//!   (`treasury.fundDistribution`), for holders to claim in proportion to their shares at the
//!   record date, as any distribution;
//! - the management fee and the promote go to the sponsor's wallet as draws on the waterfall's
//!   own budget lines ([`propledger_indexer::books::FEE_LINE`] and
//!   [`propledger_indexer::books::PROMOTE_LINE`]), whose budget is raised by the amount first;
//!   the indexer books them as management fees and sponsor promote;
//! - the reserve stays in the treasury.
//!
//! Once every action is confirmed and the index has the distribution, the run is settled: an
//! entry characterizes the investors' share in the books, moving it from Distributions (3100)
//! to sub-accounts of 3100 by tier (preferred return, return of capital, profit share), and the
//! run counts as funded. The next run starts from the standing the runs before it left; while
//! one is in flight no other starts.

use alloy::eips::BlockId;
use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::Provider;
use chrono::NaiveDate;
use propledger_contracts::PropertyShares;
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{
    AccountCode, AccountType, Amount, DimValue, Dimensions, EntryDraft, IdempotencyKey, NewAccount,
    Source,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Event, Holding, Standing, TierShown};
use crate::db::{Db, Exec, Query, Tx};
use crate::deals::costs::{books_currency, ledger_error, property_dim};
use crate::distributions::{self, DistributionId};
use crate::error::{Error, Result};
use crate::http::state::App;
use crate::outbox::{self, ActionId};
use crate::properties::PropertyId;
use crate::types::Money;

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Its actions are queued or in flight.
    Declared,
    /// Carried out on chain and characterized in the books.
    Funded,
    /// An action failed; it counts for nothing.
    Failed,
}

impl RunStatus {
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Declared => "declared",
            RunStatus::Funded => "funded",
            RunStatus::Failed => "failed",
        }
    }
}

/// A distribution run through the waterfall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Run {
    /// The run's id (also the investors' distribution's, when it has one).
    pub id: DistributionId,
    /// The property.
    pub property_id: PropertyId,
    /// Its number among the property's runs, from 1.
    pub seq: i64,
    /// The waterfall version it ran.
    pub waterfall_version: i64,
    /// Its date: accruals run to it.
    pub on: String,
    /// The cash distributed.
    pub cash: Money,
    /// The period's gross rent (for a fee on it).
    pub gross_rent: Money,
    /// The standing it started from.
    pub standing: Standing,
    /// Each tier.
    pub tiers: Vec<TierShown>,
    /// Funded through the distributor for the holders at the record date.
    pub investors: Money,
    /// Paid to the sponsor's wallet as the management fee.
    pub management_fee: Money,
    /// Paid to the sponsor's wallet as promote.
    pub promote: Money,
    /// Kept back in the reserve.
    pub reserve: Money,
    /// Preferred return left unpaid, carried on.
    pub pref_carried: Money,
    /// Management fee owed and not paid.
    pub fee_unpaid: Money,
    /// Cash no tier took.
    pub undistributed: Money,
    /// The investors' distribution's on-chain reference.
    pub reference: String,
    /// The investors' distribution (none when they get nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_id: Option<DistributionId>,
    /// The sponsor's wallet (when the sponsor is paid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsor: Option<String>,
    /// The fee draw's reference (its invoice hash on chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_reference: Option<String>,
    /// The promote draw's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_reference: Option<String>,
    /// The outbox actions carrying it out, in order.
    pub actions: Vec<ActionId>,
    /// Where it stands.
    pub status: RunStatus,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The block the investors' distribution was funded in (its record date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_block: Option<u64>,
    /// The books' entry characterizing the investors' share by tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<i64>,
    /// Who ran it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
}

fn cents(pointer: &str, m: &Money) -> Result<u64> {
    let c = crate::types::Currency::USD
        .minor_units(pointer, &m.amount)
        .map_err(|_| Error::Corrupt(format!("a run's {pointer}")))?;
    u64::try_from(c).map_err(|_| Error::Corrupt(format!("a run's {pointer}")))
}

impl Run {
    /// What the run did to the investors' standing, for [`super::replay`].
    pub fn event(&self) -> Result<Event> {
        Ok(Event::Run {
            tiers: self
                .tiers
                .iter()
                .map(|t| {
                    Ok((
                        t.tier.clone(),
                        // The reserve's part is the tier's whole amount (it is neither party's).
                        if t.tier == "reserve" {
                            cents("amount", &t.amount)?
                        } else {
                            cents("sponsor", &t.sponsor)?
                        },
                        cents("investors", &t.investors)?,
                    ))
                })
                .collect::<Result<_>>()?,
            pref_carried: cents("pref_carried", &self.pref_carried)?,
        })
    }

    /// (tier, cents to investors) of the tiers that paid investors.
    pub fn investor_tiers(&self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for t in &self.tiers {
            let c = cents("investors", &t.investors)?;
            if c > 0 {
                out.push((t.tier.clone(), c));
            }
        }
        Ok(out)
    }

    /// Cents of the investors' share.
    pub fn investor_cents(&self) -> Result<u64> {
        cents("investors", &self.investors)
    }

    /// The run's date.
    pub fn day(&self) -> Result<NaiveDate> {
        crate::deals::parse_day("/on", &self.on)
    }
}

/// Most runs read for one property.
pub const RUNS_MAX: i64 = 10_000;

/// `property`'s runs, oldest first.
pub async fn list(exec: Exec<'_>, property: PropertyId) -> Result<Vec<Run>> {
    let rows = Query::new(
        "SELECT doc, status FROM api_waterfall_runs WHERE property_id = $1 ORDER BY seq LIMIT $2",
    )
    .bind(property.to_string())
    .bind(RUNS_MAX)
    .fetch_all(exec)
    .await?;
    rows.iter().map(parse).collect()
}

fn parse(r: &crate::db::Row) -> Result<Run> {
    let mut run: Run = serde_json::from_str(&r.get::<String>("doc")?)
        .map_err(|_| Error::Corrupt("a stored waterfall run".to_owned()))?;
    run.status = match r.get::<String>("status")?.as_str() {
        "declared" => RunStatus::Declared,
        "funded" => RunStatus::Funded,
        "failed" => RunStatus::Failed,
        _ => return Err(Error::Corrupt("a waterfall run's status".to_owned())),
    };
    Ok(run)
}

/// Every funded run of every property, oldest first (for the tax statements).
pub async fn all_funded(exec: Exec<'_>) -> Result<Vec<Run>> {
    let rows = Query::new(
        "SELECT doc, status FROM api_waterfall_runs WHERE status = 'funded' \
         ORDER BY created_at, seq LIMIT $1",
    )
    .bind(RUNS_MAX)
    .fetch_all(exec)
    .await?;
    rows.iter().map(parse).collect()
}

/// Stores a new run as the property's next; a run stored meanwhile is a 409.
pub async fn store(tx: &mut Tx, run: &Run) -> Result<()> {
    let doc =
        serde_json::to_string(run).map_err(|e| Error::Internal(format!("rendering a run: {e}")))?;
    let inserted = Query::new(
        "INSERT INTO api_waterfall_runs (property_id, seq, id, status, doc, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(run.property_id.to_string())
    .bind(run.seq)
    .bind(run.id.to_string())
    .bind(run.status.as_str())
    .bind(doc)
    .bind(crate::types::now_ms())
    .execute(tx.exec())
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if crate::db::is_unique_violation(&e) => Err(Error::conflict(
            "waterfall_run_pending",
            "another distribution ran through the waterfall meanwhile; preview again",
        )),
        Err(e) => Err(e),
    }
}

async fn update(db: &Db, run: &Run) -> Result<()> {
    let doc =
        serde_json::to_string(run).map_err(|e| Error::Internal(format!("rendering a run: {e}")))?;
    let mut tx = db.begin().await?;
    Query::new(
        "UPDATE api_waterfall_runs SET status = $1, doc = $2 WHERE id = $3 AND status = 'declared'",
    )
    .bind(run.status.as_str())
    .bind(doc)
    .bind(run.id.to_string())
    .execute(tx.exec())
    .await?;
    tx.commit().await
}

/// The draw reference of a run's fee (`kind` `fee`) or promote (`promote`).
pub fn draw_reference(id: DistributionId, kind: &str) -> B256 {
    let mut b = distributions::reference_of(id).to_vec();
    b.extend_from_slice(kind.as_bytes());
    keccak256(b)
}

/// The holders of `property`'s shares now, the supply and the settlement token's decimals;
/// `None` before the property is tokenized or without a chain.
pub async fn holders_now(
    app: &App,
    property: PropertyId,
) -> Result<Option<(Vec<Holding>, U256, u32)>> {
    let (Ok(ctx), Some(head)) = (app.chain(), crate::market::index_head(app.db()).await?) else {
        return Ok(None);
    };
    let token = crate::tokenization::token_id(property).to_string();
    let Some(shares) = crate::market::registered(app.db(), &["shares"])
        .await?
        .into_iter()
        .find(|c| c.property_id == token)
    else {
        return Ok(None);
    };
    let wallets = distributions::receivers(app.db(), shares.address, u64::MAX).await?;
    let investors = distributions::investors_of(app.db()).await?;
    let contract = PropertyShares::new(shares.address, &ctx.provider);
    let at = BlockId::latest();
    let chain = |e: alloy::contract::Error| Error::Unavailable(format!("chain: {e}"));
    let supply = contract
        .totalSupply()
        .block(at)
        .call()
        .await
        .map_err(chain)?;
    let mut out = Vec::with_capacity(wallets.len());
    for w in wallets {
        let held = contract
            .balanceOf(w)
            .block(at)
            .call()
            .await
            .map_err(chain)?;
        let wallet = w.to_checksum(None);
        out.push((w, investors.get(&wallet).cloned(), held));
    }
    Ok(Some((out, supply, head.decimals)))
}

/// The chain's date now (its latest block's), by which a run's date is bounded.
pub async fn chain_today(app: &App) -> Result<NaiveDate> {
    let now = chain_now(app).await?;
    chrono::DateTime::from_timestamp(i64::try_from(now).unwrap_or(i64::MAX), 0)
        .map(|t| t.date_naive())
        .ok_or_else(|| Error::Unavailable("chain: a block time out of range".to_owned()))
}

/// The chain's time now: its latest block's, in seconds.
pub async fn chain_now(app: &App) -> Result<u64> {
    let ctx = app.chain()?;
    let block = ctx
        .provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(|e| Error::Unavailable(format!("chain: {e}")))?
        .ok_or_else(|| Error::Unavailable("chain: no latest block".to_owned()))?;
    Ok(block.header.timestamp)
}

/// Settles `property`'s runs in flight: a run whose actions all confirmed and whose
/// distribution the index has is characterized in the books and marked funded; one with a
/// failed action is marked failed. Safe to run anywhere and again (the entry's key is the
/// run's).
pub async fn settle(app: &App, property: PropertyId) -> Result<Vec<Run>> {
    let mut runs = list(app.db().reader(), property).await?;
    for run in runs.iter_mut().filter(|r| r.status == RunStatus::Declared) {
        let mut done = true;
        for a in &run.actions {
            let action = outbox::get(app.db().reader(), *a).await?;
            match action.status {
                outbox::Status::Failed => {
                    run.status = RunStatus::Failed;
                    run.failure = Some(format!(
                        "{} failed: {}",
                        action.kind,
                        action.failure.unwrap_or_default()
                    ));
                }
                outbox::Status::Confirmed => {}
                _ => done = false,
            }
        }
        if run.status == RunStatus::Failed {
            update(app.db(), run).await?;
            continue;
        }
        if !done {
            continue;
        }
        if run.distribution_id.is_some() {
            let token = crate::tokenization::token_id(property).to_string();
            let c = distributions::contracts(app.db(), &token).await?;
            let Some(rec) = distributions::record(app.db(), c.distributor, &run.reference).await?
            else {
                continue;
            };
            run.record_block = Some(rec.block);
            run.entry_id = book(app.ledger()?, run).await?;
        }
        run.status = RunStatus::Funded;
        update(app.db(), run).await?;
    }
    Ok(runs)
}

/// Settles every property's runs in flight (see [`settle`]); how many became funded or
/// failed.
pub async fn settle_all(app: &App) -> Result<usize> {
    let rows = Query::new(
        "SELECT DISTINCT property_id FROM api_waterfall_runs WHERE status = 'declared' LIMIT 100",
    )
    .fetch_all(app.db().reader())
    .await?;
    let mut n = 0;
    for r in rows {
        let id = PropertyId::parse(&r.get::<String>("property_id")?)?;
        let before = list(app.db().reader(), id).await?;
        let after = settle(app, id).await?;
        n += before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.status != a.status)
            .count();
    }
    Ok(n)
}

/// The Distributions (3100) sub-account a tier's part of the investors' share is kept in.
fn tier_line(tier: &str) -> &'static str {
    match tier {
        "preferred_return" => "waterfall-preferred-return",
        "return_of_capital" => "waterfall-return-of-capital",
        _ => "waterfall-profit-share",
    }
}

/// Books the entry moving a run's investors' share from Distributions to its tiers'
/// sub-accounts (by the largest remainder, in the books' unit).
async fn book(ledger: &propledger_ledger::Ledger, run: &Run) -> Result<Option<i64>> {
    let tiers = run.investor_tiers()?;
    let total = run.investor_cents()?;
    if total == 0 {
        return Ok(None);
    }
    let currency = books_currency(ledger).await?;
    let dim = property_dim(&run.property_id.to_string())?;
    let chart = ledger
        .accounts()
        .open_property_chart(&dim, currency)
        .await
        .map_err(ledger_error)?;
    let plain = chart
        .iter()
        .find(|a| {
            a.code.as_str() == codes::DISTRIBUTIONS
                && a.dimensions.investor.is_none()
                && a.dimensions.budget_line.is_none()
        })
        .map(|a| a.id)
        .ok_or_else(|| Error::Internal("no distributions account in the chart".into()))?;
    let amount = |c: u64| {
        Amount::new(
            Decimal::new(i64::try_from(c).unwrap_or(i64::MAX), 2),
            currency,
        )
        .map_err(ledger_error)
    };
    let key = IdempotencyKey::parse(&format!("waterfall:{}", run.id))
        .map_err(|_| Error::Internal("a run's key".into()))?;
    let source = Source::operator(&format!("waterfall-{}", run.id.0.simple()))
        .map_err(|_| Error::Internal("a run's reference".into()))?;
    let day = run.day()?;
    let mut draft = EntryDraft::builder(key, day, source).description(&format!(
        "Distribution {} through the waterfall (version {}), by tier",
        run.id, run.waterfall_version
    ));
    // One sub-account per tier kind; a catch-up and a split are both profit share.
    let mut by_line: std::collections::BTreeMap<&'static str, u64> = Default::default();
    for (tier, c) in &tiers {
        *by_line.entry(tier_line(tier)).or_default() += c;
    }
    for (line, c) in by_line {
        let account = ledger
            .accounts()
            .open(
                NewAccount::new(
                    AccountCode::parse(codes::DISTRIBUTIONS).map_err(ledger_error)?,
                    &format!(
                        "Distributions: {}",
                        line.trim_start_matches("waterfall-").replace('-', " ")
                    ),
                    AccountType::Equity,
                    currency,
                )
                .with_dimensions(Dimensions {
                    budget_line: Some(DimValue::parse(line).map_err(ledger_error)?),
                    ..Dimensions::property(dim.clone())
                }),
            )
            .await
            .map_err(ledger_error)?;
        draft = draft.debit(account.id, amount(c)?);
    }
    let draft = draft
        .credit(plain, amount(total)?)
        .build()
        .map_err(ledger_error)?;
    let receipt = ledger.entries().record(draft).await.map_err(ledger_error)?;
    Ok(Some(receipt.id.get()))
}

/// The treasury's free funds and a budget line's (budget, drawn), in units.
pub async fn treasury_state(
    app: &App,
    treasury: Address,
    line: B256,
) -> Result<(U256, U256, U256)> {
    let ctx = app.chain()?;
    let t = propledger_contracts::PropertyTreasury::new(treasury, &ctx.provider);
    let chain = |e: alloy::contract::Error| Error::Unavailable(format!("chain: {e}"));
    let available = t.available().call().await.map_err(chain)?;
    let b = t.budgetLine(line).call().await.map_err(chain)?;
    Ok((available, U256::from(b.budget), U256::from(b.drawn)))
}
