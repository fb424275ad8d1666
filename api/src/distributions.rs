//! Distributions: an operator declares one (an amount for a property), the outbox funds it
//! from the property's treasury, and the distributor pays each holder in proportion to their
//! shares at the record date (the block it was funded in). Holders claim with their own
//! wallet; what is left after the claim deadline is swept back to the treasury.
//!
//! The declaration is a row here and one outbox action (`treasury.fundDistribution`) whose
//! reference is the declaration's id, so the chain's `DistributionCreated` names it. Everything
//! after that (the record date, claims, what is unclaimed, the sweep) is read from the index
//! and the distributor, never kept apart from the chain.

use alloy::eips::BlockId;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::DynProvider;
use propledger_contracts::{Distributor, PropertyShares};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{Db, Exec, Query, Tx};
use crate::error::{Error, FieldError, Result};
use crate::market::{self, Amount as TokenAmount};
use crate::outbox::{self, ActionId};
use crate::properties::PropertyId;
use crate::types::{Money, Page, PageRequest, now_ms, rfc3339, typed_id};

typed_id!(
    /// A distribution's id.
    DistributionId,
    "distribution"
);

/// Longest memo.
pub const MEMO_MAX_LEN: usize = 500;
/// Longest claim window, days (ten years).
pub const MAX_CLAIM_DAYS: u32 = 3_650;
/// Claim window when the declaration does not say, days.
pub const DEFAULT_CLAIM_DAYS: u32 = 90;
/// Most wallets a register reads from the chain at once.
pub const MAX_REGISTER_HOLDERS: usize = 2_000;

/// A distribution to declare.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDistribution {
    /// The property: the API's property id or its deed token id.
    pub property: String,
    /// What to distribute (USD, paid in the settlement token from the property's treasury).
    pub amount: Money,
    /// Days holders have to claim (1 to 3,650; 90 when absent).
    pub claim_days: Option<u32>,
    /// A note.
    pub memo: Option<String>,
}

/// The contracts of a tokenized property.
#[derive(Clone, Copy, Debug)]
pub struct PropertyContracts {
    /// The share token.
    pub shares: Address,
    /// The treasury.
    pub treasury: Address,
    /// The distributor.
    pub distributor: Address,
}

/// A property's deed token id, from the API's property id or the token id itself.
pub fn deed_token_id(property: &str) -> Result<String> {
    match PropertyId::parse(property) {
        Ok(id) => Ok(crate::tokenization::token_id(id).to_string()),
        Err(_) => U256::from_str_radix(property, 10)
            .map(|n| n.to_string())
            .map_err(|_| Error::invalid("/property", "not a property id or deed token id")),
    }
}

/// The property's contracts, from the index; a 409 when it is not tokenized (or the index has
/// not seen it yet).
pub async fn contracts(db: &Db, token_id: &str) -> Result<PropertyContracts> {
    let found = market::registered(db, &["shares", "treasury", "distributor"]).await?;
    let of = |kind: &str| {
        found
            .iter()
            .find(|r| r.property_id == token_id && r.kind == kind)
            .map(|r| r.address)
    };
    match (of("shares"), of("treasury"), of("distributor")) {
        (Some(shares), Some(treasury), Some(distributor)) => Ok(PropertyContracts {
            shares,
            treasury,
            distributor,
        }),
        _ => Err(Error::conflict(
            "not_tokenized",
            "the property has no share token, treasury and distributor in the index",
        )),
    }
}

/// A declared distribution as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Declared {
    /// Its id.
    pub id: DistributionId,
    /// The property's deed token id.
    pub property: String,
    /// The amount declared.
    pub amount: Money,
    /// The amount in the settlement token's units.
    pub units: String,
    /// The reference the chain records (the id, as 32 bytes).
    pub reference: String,
    /// Holders may claim until then (RFC 3339).
    pub claim_deadline: String,
    /// A note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// The outbox action that funds it.
    pub action_id: ActionId,
    /// Who declared it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
}

/// What the chain says of a funded distribution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Funded {
    /// The distributor's number for it.
    pub distribution_number: u64,
    /// The record date: the block it was funded in, and that block's time (RFC 3339).
    pub record_block: u64,
    /// The record date's time.
    pub record_time: String,
    /// Shares outstanding at the record date.
    pub supply_at_record: TokenAmount,
    /// Funded.
    pub amount: TokenAmount,
    /// Paid out, or reserved for a frozen payee, so far.
    pub claimed: TokenAmount,
    /// Still held and not reserved (0 once swept).
    pub unclaimed: TokenAmount,
    /// Returned to the treasury after the deadline.
    pub swept: bool,
}

/// A distribution with where it stands.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Distribution {
    /// The declaration.
    #[serde(flatten)]
    pub declared: Declared,
    /// `declared` (being funded), `failed` (the funding failed), `funded` (claims open),
    /// `closed` (the deadline passed) or `swept`.
    pub status: String,
    /// The funding action's status.
    pub action_status: String,
    /// Why the funding failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The chain's figures, once funded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funded: Option<Funded>,
}

/// The reference of a distribution: its id in the low 16 bytes of 32.
pub fn reference_of(id: DistributionId) -> B256 {
    crate::types::id_word(id.0)
}

/// Checks a declaration: (token id, cents, claim days, memo).
pub fn check(new: &NewDistribution) -> Result<(String, i64, u32, Option<String>)> {
    let mut errors = Vec::new();
    let token_id = match deed_token_id(&new.property) {
        Ok(t) => Some(t),
        Err(Error::Invalid(mut e)) => {
            errors.append(&mut e);
            None
        }
        Err(e) => return Err(e),
    };
    let cents = crate::deals::usd("/amount", &new.amount, &mut errors);
    if cents <= 0 && errors.iter().all(|e| !e.pointer.starts_with("/amount")) {
        errors.push(FieldError::new("/amount/amount", "must be more than zero"));
    }
    let days = new.claim_days.unwrap_or(DEFAULT_CLAIM_DAYS);
    if !(1..=MAX_CLAIM_DAYS).contains(&days) {
        errors.push(FieldError::new(
            "/claim_days",
            format!("must be 1 to {MAX_CLAIM_DAYS}"),
        ));
    }
    let memo = new.memo.as_deref().map(str::trim).filter(|m| !m.is_empty());
    if memo.is_some_and(|m| m.chars().count() > MEMO_MAX_LEN) {
        errors.push(FieldError::new(
            "/memo",
            format!("at most {MEMO_MAX_LEN} characters"),
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok((
        token_id.unwrap_or_default(),
        cents,
        days,
        memo.map(str::to_owned),
    ))
}

/// Cents as settlement-token units; refused when the token cannot hold cents exactly.
pub fn units_of_cents(cents: i64, decimals: u32) -> Result<U256> {
    let cents =
        U256::from(u64::try_from(cents).map_err(|_| Error::invalid("/amount", "negative"))?);
    if decimals >= 2 {
        Ok(cents * U256::from(10u64).pow(U256::from(decimals - 2)))
    } else {
        let div = U256::from(10u64).pow(U256::from(2 - decimals));
        if !(cents % div).is_zero() {
            return Err(Error::invalid(
                "/amount/amount",
                format!("the settlement token has {decimals} decimals"),
            ));
        }
        Ok(cents / div)
    }
}

/// Stores a declaration with its funding action.
pub async fn store(tx: &mut Tx, d: &Declared, deadline_s: u64) -> Result<()> {
    Query::new(
        "INSERT INTO api_distributions (id, property, reference, amount_minor, claim_deadline, \
         action_id, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(d.id.to_string())
    .bind(d.property.clone())
    .bind(d.reference.clone())
    .bind(
        crate::types::Currency::USD
            .minor_units("/amount/amount", &d.amount.amount)
            .unwrap_or(0),
    )
    .bind(i64::try_from(deadline_s).unwrap_or(i64::MAX))
    .bind(d.action_id.to_string())
    .bind(now_ms())
    .bind(
        serde_json::to_string(d)
            .map_err(|e| Error::Internal(format!("rendering a distribution: {e}")))?,
    )
    .execute(tx.exec())
    .await?;
    Ok(())
}

fn parse(doc: &str) -> Result<Declared> {
    serde_json::from_str(doc).map_err(|_| Error::Corrupt("a stored distribution".to_owned()))
}

/// One declaration.
pub async fn declared(exec: Exec<'_>, id: DistributionId) -> Result<Declared> {
    let row = Query::new("SELECT doc FROM api_distributions WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(exec)
        .await?
        .ok_or(Error::NotFound("distribution"))?;
    parse(&row.get::<String>("doc")?)
}

/// Declarations in the order they were made, of one property or all.
pub async fn list(db: &Db, token_id: Option<&str>, page: &PageRequest) -> Result<Page<Declared>> {
    let rows = Query::new(
        "SELECT doc FROM api_distributions WHERE id > $1 AND ($2 IS NULL OR property = $2) \
         ORDER BY id LIMIT $3",
    )
    .bind(page.after.clone().unwrap_or_default())
    .bind(token_id.map(str::to_owned))
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let items = rows
        .iter()
        .map(|r| parse(&r.get::<String>("doc")?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_probe(items, page, |d| d.id.to_string()))
}

/// The chain's record of a funded distribution, found in the index by its reference.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// The distributor's number.
    pub number: u64,
    /// The block it was funded in.
    pub block: u64,
    /// The checkpoint of balances at the record date.
    pub checkpoint: u32,
}

/// Finds the `DistributionCreated` event that names `reference`, if the index has it.
pub async fn record(db: &Db, distributor: Address, reference: &str) -> Result<Option<Record>> {
    let rows = Query::new(
        "SELECT block_number, decoded FROM idx_events WHERE address = $1 \
         AND event = 'DistributionCreated' ORDER BY block_number, log_index",
    )
    .bind(distributor.to_vec())
    .fetch_all(db.reader())
    .await?;
    for r in rows {
        let v: serde_json::Value = serde_json::from_str(&r.get::<String>("decoded")?)
            .map_err(|_| Error::Corrupt("an indexed event".to_owned()))?;
        if v["ref"].as_str() != Some(reference) {
            continue;
        }
        let num = |k: &str| {
            v[k].as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| Error::Corrupt(format!("an indexed distribution's {k}")))
        };
        return Ok(Some(Record {
            number: num("distributionId")?,
            block: u64::try_from(r.get::<i64>("block_number")?).unwrap_or(0),
            checkpoint: u32::try_from(num("checkpointId")?)
                .map_err(|_| Error::Corrupt("a checkpoint id".into()))?,
        }));
    }
    Ok(None)
}

fn chain_err(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("chain: {e}"))
}

fn time_text(s: u64) -> String {
    rfc3339(i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX))
}

/// A declaration with where it stands (from the outbox, the index and the distributor).
pub async fn status(
    db: &Db,
    provider: &DynProvider,
    decimals: u32,
    d: Declared,
    now_s: u64,
) -> Result<Distribution> {
    let action = outbox::get(db.reader(), d.action_id).await?;
    let action_status = serde_json::to_value(action.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut out = Distribution {
        declared: d,
        status: "declared".to_owned(),
        action_status: action_status.clone(),
        failure: action.failure.clone(),
        funded: None,
    };
    if action_status == "failed" {
        out.status = "failed".to_owned();
        return Ok(out);
    }
    if !market::index_exists(db).await? {
        return Ok(out);
    }
    let c = contracts(db, &out.declared.property).await?;
    let Some(rec) = record(db, c.distributor, &out.declared.reference).await? else {
        return Ok(out);
    };
    let dist = Distributor::new(c.distributor, provider)
        .distribution(U256::from(rec.number))
        .call()
        .await
        .map_err(chain_err)?;
    let unclaimed = if dist.swept {
        U256::ZERO
    } else {
        dist.amount - dist.claimed
    };
    out.status = if dist.swept {
        "swept"
    } else if now_s > dist.claimDeadline {
        "closed"
    } else {
        "funded"
    }
    .to_owned();
    out.funded = Some(Funded {
        distribution_number: rec.number,
        record_block: rec.block,
        record_time: time_text(dist.recordTime),
        supply_at_record: TokenAmount::of(dist.supplyAtRecord, crate::compliance::SHARE_DECIMALS),
        amount: TokenAmount::of(dist.amount, decimals),
        claimed: TokenAmount::of(dist.claimed, decimals),
        unclaimed: TokenAmount::of(unclaimed, decimals),
        swept: dist.swept,
    });
    Ok(out)
}

/// One holder's line of a distribution's register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RegisterLine {
    /// The wallet at the record date.
    pub holder: String,
    /// Its investor, when the wallet is one an investor added here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investor_id: Option<String>,
    /// Shares at the record date.
    pub shares: TokenAmount,
    /// What it is entitled to.
    pub entitlement: TokenAmount,
    /// `unclaimed`, `paid` or `withheld` (claimed while the payee is frozen).
    pub claim: String,
}

/// A distribution's register: every holder at the record date.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Register {
    /// The distribution.
    pub distribution: Distribution,
    /// One line per holder, by wallet.
    pub holders: Vec<RegisterLine>,
}

fn claim_text(state: u8) -> &'static str {
    match state {
        1 => "paid",
        2 => "withheld",
        _ => "unclaimed",
    }
}

/// The wallets that ever received shares of `shares` up to `block`, from the index.
pub(crate) async fn receivers(db: &Db, shares: Address, block: u64) -> Result<Vec<Address>> {
    let rows = Query::new(
        "SELECT decoded FROM idx_events WHERE address = $1 AND event = 'Transfer' \
         AND block_number <= $2 ORDER BY block_number, log_index",
    )
    .bind(shares.to_vec())
    .bind(i64::try_from(block).unwrap_or(i64::MAX))
    .fetch_all(db.reader())
    .await?;
    let mut out = std::collections::BTreeSet::new();
    for r in rows {
        let v: serde_json::Value = serde_json::from_str(&r.get::<String>("decoded")?)
            .map_err(|_| Error::Corrupt("an indexed event".to_owned()))?;
        let to = v["to"]
            .as_str()
            .and_then(|s| s.parse::<Address>().ok())
            .ok_or_else(|| Error::Corrupt("an indexed transfer's recipient".to_owned()))?;
        if !to.is_zero() {
            out.insert(to);
        }
    }
    if out.len() > MAX_REGISTER_HOLDERS {
        return Err(Error::Unavailable(format!(
            "the register has more than {MAX_REGISTER_HOLDERS} wallets to read"
        )));
    }
    Ok(out.into_iter().collect())
}

/// The investors of wallets, by checksummed wallet.
pub(crate) async fn investors_of(db: &Db) -> Result<std::collections::HashMap<String, String>> {
    let rows = Query::new("SELECT wallet, investor_id FROM api_investor_wallets")
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| Ok((r.get::<String>("wallet")?, r.get::<String>("investor_id")?)))
        .collect()
}

/// The register of a funded distribution: each holder's shares at the record date, what it is
/// entitled to and whether it claimed, read from the distributor at the latest block.
pub async fn register(
    db: &Db,
    provider: &DynProvider,
    decimals: u32,
    dist: Distribution,
    only: Option<&[Address]>,
) -> Result<Register> {
    let Some(f) = &dist.funded else {
        return Err(Error::conflict(
            "not_funded",
            "the distribution is not funded yet: it has no record date",
        ));
    };
    let c = contracts(db, &dist.declared.property).await?;
    let rec = record(db, c.distributor, &dist.declared.reference)
        .await?
        .ok_or_else(|| Error::Internal("a funded distribution's record".into()))?;
    let wallets = match only {
        Some(w) => w.to_vec(),
        None => receivers(db, c.shares, f.record_block).await?,
    };
    let investors = investors_of(db).await?;
    let distributor = Distributor::new(c.distributor, provider);
    let shares = PropertyShares::new(c.shares, provider);
    let at = BlockId::latest();
    let id = U256::from(rec.number);
    let mut holders = Vec::new();
    for w in wallets {
        let held = shares
            .balanceOfAt(w, rec.checkpoint)
            .block(at)
            .call()
            .await
            .map_err(chain_err)?;
        if held.is_zero() {
            continue;
        }
        let entitled = distributor
            .entitlement(id, w)
            .block(at)
            .call()
            .await
            .map_err(chain_err)?;
        let state = distributor
            .claimState(id, w)
            .block(at)
            .call()
            .await
            .map_err(chain_err)?;
        let wallet = w.to_checksum(None);
        holders.push(RegisterLine {
            investor_id: investors.get(&wallet).cloned(),
            holder: wallet,
            shares: TokenAmount::of(held, crate::compliance::SHARE_DECIMALS),
            entitlement: TokenAmount::of(entitled, decimals),
            claim: claim_text(state).to_owned(),
        });
    }
    Ok(Register {
        distribution: dist,
        holders,
    })
}

/// The contracts and number of a funded distribution, for a claim.
pub async fn claim_target(db: &Db, d: &Declared) -> Result<(Address, u64)> {
    let c = contracts(db, &d.property).await?;
    let rec = record(db, c.distributor, &d.reference)
        .await?
        .ok_or_else(|| {
            Error::conflict(
                "not_funded",
                "the distribution is not funded yet: nothing to claim",
            )
        })?;
    Ok((c.distributor, rec.number))
}

/// The declaration's deadline in seconds, from its claim window.
pub fn deadline(now_s: u64, days: u32) -> u64 {
    now_s.saturating_add(u64::from(days) * 86_400)
}

/// A declaration's reference text.
pub fn reference_text(id: DistributionId) -> String {
    format!("{:#x}", reference_of(id))
}

/// The deadline's text.
pub fn deadline_text(s: u64) -> String {
    time_text(s)
}
