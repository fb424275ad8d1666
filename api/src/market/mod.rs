//! Offerings and holdings as the index and the chain show them.
//!
//! An offering's running totals (sold, raised, refunded, soft cap reached, final status) come
//! from the events the indexer stored, in the same database, with the block the index has
//! reached; its terms, which never change, come from the contract once. What one investor is
//! owed or holds comes from the contracts (exact at one block), since the events do not name the
//! investor a refunded wallet belonged to.

pub mod unsigned;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use alloy::eips::BlockId;
use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use propledger_contracts::ShareOffering;
use serde::Serialize;
use utoipa::ToSchema;

use crate::compliance::{SHARE_DECIMALS, units_text};
use crate::db::{Db, Engine, Query};
use crate::error::{Error, Result};
use crate::types::rfc3339;

/// An amount of a token, exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct Amount {
    /// Base units, as a decimal integer.
    pub units: String,
    /// The amount in whole tokens, as exact decimal text.
    pub amount: String,
}

impl Amount {
    /// `units` of a token with `decimals`.
    pub fn of(units: U256, decimals: u32) -> Amount {
        Amount {
            units: units.to_string(),
            amount: units_text(units, decimals),
        }
    }

    /// Share units.
    pub fn shares(units: U256) -> Amount {
        Amount::of(units, SHARE_DECIMALS)
    }
}

/// What the index knows of the chain: how far it has read and what the books are kept in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct IndexHead {
    /// The last block indexed.
    pub block: u64,
    /// The settlement token's currency code in the books.
    pub currency: String,
    /// The settlement token's decimals.
    pub decimals: u32,
}

fn int(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The index's head; `None` before the indexer has started (or where none runs).
pub async fn index_head(db: &Db) -> Result<Option<IndexHead>> {
    if !index_exists(db).await? {
        return Ok(None);
    }
    let row = Query::new("SELECT next_block, currency, token_decimals FROM idx_state WHERE id = 1")
        .fetch_optional(db.reader())
        .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some(IndexHead {
            block: int(r.get::<i64>("next_block")?).saturating_sub(1),
            currency: r.get("currency")?,
            decimals: u32::try_from(r.get::<i64>("token_decimals")?).unwrap_or(0),
        })),
    }
}

/// Whether the indexer's tables are in this database (an API may run where no indexer does).
pub(crate) async fn index_exists(db: &Db) -> Result<bool> {
    let catalog = match db.engine() {
        Engine::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'idx_state'"
        }
        Engine::Postgres => {
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM pg_catalog.pg_tables \
             WHERE tablename = 'idx_state' AND schemaname = ANY (current_schemas(false))"
        }
    };
    Ok(Query::new(catalog)
        .fetch_one(db.reader())
        .await?
        .get::<i64>("n")?
        != 0)
}

async fn need_head(db: &Db) -> Result<IndexHead> {
    index_head(db)
        .await?
        .ok_or_else(|| Error::Unavailable("the index has not read the chain yet".to_owned()))
}

/// A registered contract of a property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    /// The contract.
    pub address: Address,
    /// Its kind (`shares`, `offering`, ...).
    pub kind: String,
    /// The property (deed token id, decimal).
    pub property_id: String,
}

fn address_of(bytes: &[u8]) -> Result<Address> {
    (bytes.len() == 20)
        .then(|| Address::from_slice(bytes))
        .ok_or_else(|| Error::Corrupt("an indexed address".to_owned()))
}

/// The properties' contracts the index watches, of the given kinds, in registration order.
pub async fn registered(db: &Db, kinds: &[&str]) -> Result<Vec<Registered>> {
    if !index_exists(db).await? {
        return Ok(Vec::new());
    }
    let rows = Query::new(
        "SELECT address, kind, property_id FROM idx_contracts \
         WHERE property_id IS NOT NULL ORDER BY added_block, address",
    )
    .fetch_all(db.reader())
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let kind: String = r.get("kind")?;
        if kinds.contains(&kind.as_str()) {
            out.push(Registered {
                address: address_of(&r.get::<Vec<u8>>("address")?)?,
                kind,
                property_id: r.get::<Option<String>>("property_id")?.unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// The registered contract at `address`, if it is of `kind`.
pub async fn contract(db: &Db, address: Address, kind: &str) -> Result<Option<Registered>> {
    if !index_exists(db).await? {
        return Ok(None);
    }
    let row = Query::new("SELECT kind, property_id FROM idx_contracts WHERE address = $1")
        .bind(address.to_vec())
        .fetch_optional(db.reader())
        .await?;
    match row {
        Some(r) if r.get::<String>("kind")? == kind => Ok(Some(Registered {
            address,
            kind: kind.to_owned(),
            property_id: r.get::<Option<String>>("property_id")?.unwrap_or_default(),
        })),
        _ => Ok(None),
    }
}

/// An offering's fixed terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Terms {
    /// Settlement-token units per whole share.
    pub price_per_share: Amount,
    /// The smallest purchase, in shares.
    pub min_purchase: Amount,
    /// The most one investor may buy (0: no limit).
    pub max_per_investor: Amount,
    /// Shares on sale.
    pub shares_for_sale: Amount,
    /// What must be raised for the offering to succeed.
    pub soft_cap: Amount,
    /// When it opens (RFC 3339).
    pub opens_at: String,
    /// When it closes (RFC 3339, exclusive).
    pub closes_at: String,
    #[serde(skip)]
    pub(crate) start_s: u64,
    #[serde(skip)]
    pub(crate) end_s: u64,
    #[serde(skip)]
    pub(crate) min_units: U256,
    #[serde(skip)]
    pub(crate) sale_units: U256,
    #[serde(skip)]
    pub(crate) max_units: U256,
    #[serde(skip)]
    pub(crate) price_units: U256,
    #[serde(skip)]
    pub(crate) shares_token: Address,
}

/// Terms read once per offering (they never change).
#[derive(Clone, Default)]
pub struct TermsCache(Arc<Mutex<HashMap<Address, Terms>>>);

fn secs(s: u64) -> String {
    rfc3339(
        i64::try_from(s)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000),
    )
}

impl TermsCache {
    /// The terms of `offering`, read from the chain the first time.
    pub async fn get(
        &self,
        provider: &DynProvider,
        offering: Address,
        decimals: u32,
    ) -> Result<Terms> {
        if let Some(t) = self.0.lock().map_err(|_| poisoned())?.get(&offering) {
            return Ok(t.clone());
        }
        let o = ShareOffering::new(offering, provider);
        let chain = |e: alloy::contract::Error| Error::Unavailable(format!("chain: {e}"));
        let t = o
            .terms()
            .block(BlockId::latest())
            .call()
            .await
            .map_err(chain)?;
        let shares_token = o.shares().call().await.map_err(chain)?;
        let terms = Terms {
            price_per_share: Amount::of(t.pricePerShare, decimals),
            min_purchase: Amount::shares(t.minPurchase),
            max_per_investor: Amount::shares(t.maxPerInvestor),
            shares_for_sale: Amount::shares(t.sharesForSale),
            soft_cap: Amount::of(t.softCap, decimals),
            opens_at: secs(t.start),
            closes_at: secs(t.end),
            start_s: t.start,
            end_s: t.end,
            min_units: t.minPurchase,
            sale_units: t.sharesForSale,
            max_units: t.maxPerInvestor,
            price_units: t.pricePerShare,
            shares_token,
        };
        let mut map = self.0.lock().map_err(|_| poisoned())?;
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(offering, terms.clone());
        Ok(terms)
    }
}

fn poisoned() -> Error {
    Error::Internal("a lock was poisoned".to_owned())
}

/// Where an offering stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferingStatus {
    /// Before its opening time.
    Upcoming,
    /// Selling.
    Open,
    /// Its window has ended or it sold out; `finalize` has not been called.
    Ended,
    /// Finalized with its soft cap reached.
    Succeeded,
    /// Finalized below its soft cap, or cancelled: buyers are refunded.
    Failed,
}

/// An offering's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct OfferingState {
    /// The offering contract.
    pub address: String,
    /// The property (deed token id).
    pub property_id: String,
    /// The share token it sells.
    pub shares: String,
    /// Where it stands.
    pub status: OfferingStatus,
    /// Its terms.
    pub terms: Terms,
    /// Shares sold.
    pub sold: Amount,
    /// Settlement tokens raised.
    pub raised: Amount,
    /// Whether the soft cap was reached (buyers' money released to the treasury).
    pub soft_cap_reached: bool,
    /// Shares refunded (burned) after a failure.
    pub refunded_shares: Amount,
    /// Settlement tokens refunded.
    pub refunded: Amount,
    /// Refunds still owed to buyers (a failed offering's raised minus refunded).
    pub refunds_due: Amount,
    /// Purchases made.
    pub purchases: u64,
    /// The settlement token's currency code.
    pub currency: String,
    /// The last block the index had read.
    pub as_of_block: u64,
}

fn field_u256(v: &serde_json::Value, name: &str) -> Result<U256> {
    v[name]
        .as_str()
        .and_then(|s| U256::from_str_radix(s, 10).ok())
        .ok_or_else(|| Error::Corrupt(format!("an indexed event's {name}")))
}

/// An offering's state from the index, at `now_s` for the time-based status.
pub async fn offering_state(
    db: &Db,
    terms: &TermsCache,
    provider: &DynProvider,
    offering: Address,
    now_s: u64,
) -> Result<OfferingState> {
    let reg = contract(db, offering, "offering")
        .await?
        .ok_or(Error::NotFound("offering"))?;
    let head = need_head(db).await?;
    let t = terms.get(provider, offering, head.decimals).await?;
    let rows = Query::new(
        "SELECT event, decoded FROM idx_events WHERE address = $1 AND event IN \
         ('SharesPurchased', 'SoftCapReached', 'OfferingFinalized', 'PurchaseRefunded') \
         ORDER BY block_number, log_index",
    )
    .bind(offering.to_vec())
    .fetch_all(db.reader())
    .await?;
    let (mut sold, mut raised, mut ref_shares, mut refunded) =
        (U256::ZERO, U256::ZERO, U256::ZERO, U256::ZERO);
    let (mut cap, mut purchases, mut finalized) = (false, 0u64, None);
    for r in rows {
        let event: String = r.get("event")?;
        let v: serde_json::Value = serde_json::from_str(&r.get::<String>("decoded")?)
            .map_err(|_| Error::Corrupt("an indexed event".to_owned()))?;
        match event.as_str() {
            "SharesPurchased" => {
                sold += field_u256(&v, "shares")?;
                raised += field_u256(&v, "cost")?;
                purchases += 1;
            }
            "SoftCapReached" => cap = true,
            "PurchaseRefunded" => {
                ref_shares += field_u256(&v, "shares")?;
                refunded += field_u256(&v, "amount")?;
            }
            "OfferingFinalized" => {
                finalized = Some(field_u256(&v, "status")?);
            }
            _ => {}
        }
    }
    let status = match finalized {
        Some(s) if s == U256::from(1u8) => OfferingStatus::Succeeded,
        Some(_) => OfferingStatus::Failed,
        None if now_s < t.start_s => OfferingStatus::Upcoming,
        None if now_s >= t.end_s || sold >= t.sale_units => OfferingStatus::Ended,
        None => OfferingStatus::Open,
    };
    let due = if status == OfferingStatus::Failed {
        raised.saturating_sub(refunded)
    } else {
        U256::ZERO
    };
    Ok(OfferingState {
        address: offering.to_checksum(None),
        property_id: reg.property_id,
        shares: t.shares_token.to_checksum(None),
        status,
        terms: t,
        sold: Amount::shares(sold),
        raised: Amount::of(raised, head.decimals),
        soft_cap_reached: cap,
        refunded_shares: Amount::shares(ref_shares),
        refunded: Amount::of(refunded, head.decimals),
        refunds_due: Amount::of(due, head.decimals),
        purchases,
        currency: head.currency,
        as_of_block: head.block,
    })
}

/// Every registered offering's state.
pub async fn offerings(
    db: &Db,
    terms: &TermsCache,
    provider: &DynProvider,
    now_s: u64,
) -> Result<Vec<OfferingState>> {
    let mut out = Vec::new();
    for r in registered(db, &["offering"]).await? {
        out.push(offering_state(db, terms, provider, r.address, now_s).await?);
    }
    Ok(out)
}

/// The offerings of each property's share token, by share token.
pub fn by_token(states: &[OfferingState]) -> BTreeMap<String, Vec<&OfferingState>> {
    let mut m: BTreeMap<String, Vec<&OfferingState>> = BTreeMap::new();
    for s in states {
        m.entry(s.shares.clone()).or_default().push(s);
    }
    m
}
