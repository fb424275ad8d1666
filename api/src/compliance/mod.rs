//! Compliance checks: whether a share transfer or a purchase would pass, with the chain's
//! reason code and a sentence a person understands.
//!
//! The code is the share token's own verdict (`canTransfer` or `canMint`, called at one block),
//! so it equals the contract's on every input by construction. The sentence is written from the
//! facts read at that same block (the registry's records, the token's holders and freezes, the
//! rules, the block's time), so it describes exactly what the contract judged.

mod explain;

use alloy::eips::BlockId;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider};
use propledger_contracts::{
    IdentityRegistry, PropertyShares, ReasonCode, ShareCompliance, ShareOffering, TestStablecoin,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::types::rfc3339;

pub use explain::{Facts, HolderFacts, LimitFacts, WalletFacts, sentence};

/// Share amounts have 18 decimals.
pub const SHARE_DECIMALS: u32 = 18;

/// A decimal amount of shares (`"10.5"`) in base units, exactly; more than 18 decimals, a
/// negative amount or anything not a number is refused.
pub fn share_units(pointer: &str, s: &str) -> Result<U256> {
    token_units(pointer, s, SHARE_DECIMALS)
}

/// A decimal amount in base units of a token with `decimals`, exactly.
pub fn token_units(pointer: &str, s: &str, decimals: u32) -> Result<U256> {
    let bad = || {
        Error::invalid(
            pointer,
            format!("a decimal amount with at most {decimals} decimal places, such as \"12.5\""),
        )
    };
    let s = s.trim();
    if s.is_empty() || s.len() > 100 {
        return Err(bad());
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > decimals as usize
    {
        return Err(bad());
    }
    let mut digits = String::with_capacity(int.len() + decimals as usize);
    digits.push_str(if int.is_empty() { "0" } else { int });
    digits.push_str(frac);
    digits.extend(std::iter::repeat_n('0', decimals as usize - frac.len()));
    U256::from_str_radix(&digits, 10).map_err(|_| bad())
}

/// Base units of a token with `decimals` as exact decimal text, trailing zeros trimmed.
pub fn units_text(units: U256, decimals: u32) -> String {
    let s = units.to_string();
    let d = decimals as usize;
    let (int, frac) = if s.len() > d {
        (s[..s.len() - d].to_owned(), s[s.len() - d..].to_owned())
    } else {
        ("0".to_owned(), format!("{s:0>d$}"))
    };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int
    } else {
        format!("{int}.{frac}")
    }
}

/// A transfer to check.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferCheck {
    /// The share token.
    #[schema(value_type = String)]
    pub token: Address,
    /// The sending wallet.
    #[schema(value_type = String)]
    pub from: Address,
    /// The receiving wallet.
    #[schema(value_type = String)]
    pub to: Address,
    /// Shares (decimal text, up to 18 decimals).
    pub amount: String,
}

/// A purchase to check.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseCheck {
    /// The offering.
    #[schema(value_type = String)]
    pub offering: Address,
    /// The buying wallet.
    #[schema(value_type = String)]
    pub wallet: Address,
    /// Shares (decimal text, up to 18 decimals).
    pub amount: String,
}

/// A check's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Verdict {
    /// Whether it would pass.
    pub allowed: bool,
    /// The share token's reason code (0 when the token allows it), as `canTransfer` or
    /// `canMint` returns it at `block_number`.
    pub code: u8,
    /// The code's stable name (`allowed`, `country_not_allowed`, ...), or for a purchase the
    /// offering's own refusal (`offering_closed`, `below_minimum_purchase`,
    /// `above_investor_limit`, `sold_out`) when the token would allow it.
    pub name: String,
    /// What it means here, for people.
    pub sentence: String,
    /// The block the verdict was judged at.
    pub block_number: u64,
    /// That block's time (RFC 3339).
    pub block_time: String,
}

async fn block(provider: &DynProvider, at: Option<u64>) -> Result<(u64, u64)> {
    let number = match at {
        Some(n) => n,
        None => provider.get_block_number().await.map_err(rpc)?,
    };
    let b = provider
        .get_block_by_number(number.into())
        .await
        .map_err(rpc)?
        .ok_or_else(|| Error::invalid("block", "no such block"))?;
    Ok((number, b.header.timestamp))
}

fn rpc(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("chain: {e}"))
}

/// A contract call failed: the address is not what the request says it is.
fn not_a(what: &'static str, pointer: &'static str) -> impl Fn(alloy::contract::Error) -> Error {
    move |e| match e {
        alloy::contract::Error::TransportError(t)
            if !matches!(t, alloy::transports::RpcError::ErrorResp(_)) =>
        {
            rpc(t)
        }
        _ => Error::invalid(pointer, format!("not a {what} of this platform")),
    }
}

async fn wallet_facts(
    registry: &IdentityRegistry::IdentityRegistryInstance<&DynProvider>,
    shares: &PropertyShares::PropertySharesInstance<&DynProvider>,
    wallet: Address,
    at: BlockId,
) -> Result<WalletFacts> {
    let status = registry
        .walletStatus(wallet)
        .block(at)
        .call()
        .await
        .map_err(not_a("registry", "token"))?;
    let id: B256 = registry
        .investorOf(wallet)
        .block(at)
        .call()
        .await
        .map_err(not_a("registry", "token"))?;
    let kyc_expiry = if id.is_zero() {
        0
    } else {
        registry
            .investor(id)
            .block(at)
            .call()
            .await
            .map_err(not_a("registry", "token"))?
            .kycExpiry
    };
    let holder = shares
        .holder(wallet)
        .block(at)
        .call()
        .await
        .map_err(not_a("share token", "token"))?;
    let frozen_tokens = shares
        .getFrozenTokens(wallet)
        .block(at)
        .call()
        .await
        .map_err(not_a("share token", "token"))?;
    let holding = if holder.investorNo == 0 {
        U256::ZERO
    } else {
        shares
            .investorBalance(holder.investorNo)
            .block(at)
            .call()
            .await
            .map_err(not_a("share token", "token"))?
    };
    let recipient_holding = if status.investorNo == 0 || status.investorNo == holder.investorNo {
        holding
    } else {
        shares
            .investorBalance(status.investorNo)
            .block(at)
            .call()
            .await
            .map_err(not_a("share token", "token"))?
    };
    Ok(WalletFacts {
        wallet,
        registered_no: status.investorNo,
        country: status.country,
        accredited: status.accredited,
        investor_frozen: status.frozen,
        verified: status.verified,
        kyc_expiry_s: kyc_expiry,
        holder: HolderFacts {
            balance: U256::from(holder.balance),
            attributed_no: holder.investorNo,
            frozen: holder.frozen,
            frozen_tokens,
            investor_holding: holding,
        },
        registered_holding: recipient_holding,
    })
}

/// The limits' facts at a block. A token whose compliance predates the limits has none.
async fn limit_facts(
    registry: &IdentityRegistry::IdentityRegistryInstance<&DynProvider>,
    shares: &PropertyShares::PropertySharesInstance<&DynProvider>,
    compliance: &ShareCompliance::ShareComplianceInstance<&DynProvider>,
    sender_no: u64,
    recipient_country: u16,
    b: BlockId,
) -> Result<Option<LimitFacts>> {
    let Ok(limits) = compliance.limits().block(b).call().await else {
        return Ok(None);
    };
    let c = |e| not_a("share token", "token")(e);
    let (today, month) = if sender_no == 0 {
        (U256::ZERO, U256::ZERO)
    } else {
        let v = compliance
            .volumeOf(sender_no)
            .block(b)
            .call()
            .await
            .map_err(c)?;
        (v.today, v.thisMonth)
    };
    let sender_country = if sender_no == 0 {
        0
    } else {
        let id = registry
            .investorIdOf(sender_no)
            .block(b)
            .call()
            .await
            .map_err(c)?;
        registry
            .investor(id)
            .block(b)
            .call()
            .await
            .map_err(c)?
            .country
    };
    let sender = compliance
        .countryRules(sender_country)
        .block(b)
        .call()
        .await
        .map_err(c)?;
    let recipient = compliance
        .countryRules(recipient_country)
        .block(b)
        .call()
        .await
        .map_err(c)?;
    Ok(Some(LimitFacts {
        daily_volume: U256::from(limits.dailyVolume),
        monthly_volume: U256::from(limits.monthlyVolume),
        max_supply: U256::from(limits.maxSupply),
        total_supply: shares.totalSupply().block(b).call().await.map_err(c)?,
        sender_today: today,
        sender_month: month,
        sender_country,
        sender_group: sender.group,
        recipient_group: recipient.group,
        country_cap: recipient.cap,
        country_investors: recipient.investors,
    }))
}

/// Reads everything the sentence for `code` needs, at one block.
#[allow(clippy::too_many_arguments)]
async fn facts(
    provider: &DynProvider,
    token: Address,
    from: Option<Address>,
    to: Address,
    amount: U256,
    at: u64,
    time: u64,
    code: u8,
) -> Result<Facts> {
    let b = BlockId::number(at);
    let shares = PropertyShares::new(token, provider);
    let registry_addr = shares
        .registry()
        .block(b)
        .call()
        .await
        .map_err(not_a("share token", "token"))?;
    let compliance_addr = shares
        .compliance()
        .block(b)
        .call()
        .await
        .map_err(not_a("share token", "token"))?;
    let registry = IdentityRegistry::new(registry_addr, provider);
    let compliance = ShareCompliance::new(compliance_addr, provider);
    let rules = compliance
        .rules()
        .block(b)
        .call()
        .await
        .map_err(not_a("share token", "token"))?;
    let recipient = wallet_facts(&registry, &shares, to, b).await?;
    let sender = match from {
        Some(f) => Some(wallet_facts(&registry, &shares, f, b).await?),
        None => None,
    };
    let country_allowed = compliance
        .isCountryAllowed(recipient.country)
        .block(b)
        .call()
        .await
        .map_err(not_a("share token", "token"))?;
    let limits = if code >= ReasonCode::JurisdictionMismatch.code() {
        let sender_no = sender.as_ref().map_or(0, |s| s.holder.attributed_no);
        limit_facts(
            &registry,
            &shares,
            &compliance,
            sender_no,
            recipient.country,
            b,
        )
        .await?
    } else {
        None
    };
    Ok(Facts {
        block_time_s: time,
        paused: shares
            .paused()
            .block(b)
            .call()
            .await
            .map_err(not_a("share token", "token"))?,
        investor_count: shares
            .investorCount()
            .block(b)
            .call()
            .await
            .map_err(not_a("share token", "token"))?,
        accredited_only: rules.accreditedOnly,
        countries_restricted: rules.countriesRestricted,
        country_allowed,
        max_investors: rules.maxInvestors,
        lockup_until_s: rules.lockupUntil,
        max_balance: U256::from(rules.maxBalancePerInvestor),
        min_holding: U256::from(rules.minHolding),
        amount,
        sender,
        recipient,
        limits,
    })
}

/// Checks a transfer at `at` (default: the latest block).
pub async fn check_transfer(
    provider: &DynProvider,
    req: &TransferCheck,
    at: Option<u64>,
) -> Result<Verdict> {
    let amount = share_units("/amount", &req.amount)?;
    let (number, time) = block(provider, at).await?;
    let shares = PropertyShares::new(req.token, provider);
    let code = shares
        .canTransfer(req.from, req.to, amount)
        .block(BlockId::number(number))
        .call()
        .await
        .map_err(not_a("share token", "/token"))?;
    let facts = facts(
        provider,
        req.token,
        Some(req.from),
        req.to,
        amount,
        number,
        time,
        code,
    )
    .await?;
    verdict(code, &facts, number, time)
}

fn verdict(code: u8, facts: &Facts, number: u64, time: u64) -> Result<Verdict> {
    let reason = ReasonCode::try_from(code).map_err(|_| {
        Error::Internal(format!("the token returned an unknown reason code {code}"))
    })?;
    Ok(Verdict {
        allowed: code == 0,
        code,
        name: reason.as_str().to_owned(),
        sentence: sentence(reason, facts),
        block_number: number,
        block_time: rfc3339(i64::try_from(time).unwrap_or(i64::MAX).saturating_mul(1000)),
    })
}

/// Checks a purchase at `at` (default: the latest block) in the order `ShareOffering.buy`
/// judges it: the offering's window, its minimum, the shares left, the buyer's settlement
/// tokens (balance and allowance for the price), the share token's verdict on minting to the
/// wallet (`code`), then the per-investor limit. `name` is the first refusal. With
/// `assume_approved` the allowance is taken as given (an approval sent just before).
pub async fn check_purchase(
    provider: &DynProvider,
    req: &PurchaseCheck,
    at: Option<u64>,
    assume_approved: bool,
) -> Result<Verdict> {
    let amount = share_units("/amount", &req.amount)?;
    let (number, time) = block(provider, at).await?;
    let b = BlockId::number(number);
    let offering = ShareOffering::new(req.offering, provider);
    let token = offering
        .shares()
        .block(b)
        .call()
        .await
        .map_err(not_a("offering", "/offering"))?;
    let shares = PropertyShares::new(token, provider);
    let code = shares
        .canMint(req.wallet, amount)
        .block(b)
        .call()
        .await
        .map_err(not_a("share token", "/offering"))?;
    let facts = facts(
        provider, token, None, req.wallet, amount, number, time, code,
    )
    .await?;
    let mut v = verdict(code, &facts, number, time)?;
    let o = |e| not_a("offering", "/offering")(e);
    let terms = offering.terms().block(b).call().await.map_err(o)?;
    let status = offering.status().block(b).call().await.map_err(o)?;
    let sold = offering.sharesSold().block(b).call().await.map_err(o)?;
    let left = terms.sharesForSale.saturating_sub(sold);
    let shares_text = |u: U256| units_text(u, SHARE_DECIMALS);
    let mut refusal = if status != 0 || time < terms.start || time >= terms.end {
        Some((
            "offering_closed",
            if status == 0 && time < terms.start {
                format!(
                    "the offering opens at {}",
                    rfc3339(i64::try_from(terms.start).unwrap_or(0).saturating_mul(1000))
                )
            } else {
                "the offering is closed".to_owned()
            },
        ))
    } else if amount.is_zero() || amount < terms.minPurchase {
        Some((
            "below_minimum_purchase",
            format!(
                "the smallest purchase is {} shares",
                shares_text(terms.minPurchase)
            ),
        ))
    } else if amount > left {
        Some((
            "sold_out",
            format!("only {} shares are left", shares_text(left)),
        ))
    } else {
        None
    };
    if refusal.is_none() {
        let cost = offering.quote(amount).block(b).call().await.map_err(o)?;
        // The settlement token is an ERC-20; the test stablecoin's binding reads any.
        let usd = TestStablecoin::new(
            offering
                .settlementToken()
                .block(b)
                .call()
                .await
                .map_err(o)?,
            provider,
        );
        let balance = usd.balanceOf(req.wallet).block(b).call().await.map_err(o)?;
        let allowance = usd
            .allowance(req.wallet, req.offering)
            .block(b)
            .call()
            .await
            .map_err(o)?;
        // `transferFrom` spends the allowance before it moves the balance.
        if allowance < cost && !assume_approved {
            refusal = Some((
                "allowance_too_low",
                format!(
                    "the wallet has approved the offering to take {} base units of the settlement token; the purchase costs {} (approve first)",
                    allowance, cost
                ),
            ));
        } else if balance < cost {
            refusal = Some((
                "insufficient_funds",
                format!(
                    "the purchase costs {} base units of the settlement token; the wallet holds {}",
                    cost, balance
                ),
            ));
        }
    }
    if refusal.is_none() && code == 0 {
        let bought = if facts.recipient.registered_no == 0 {
            U256::ZERO
        } else {
            offering
                .boughtByInvestor(facts.recipient.registered_no)
                .block(b)
                .call()
                .await
                .map_err(o)?
        };
        if !terms.maxPerInvestor.is_zero() && amount > terms.maxPerInvestor.saturating_sub(bought) {
            refusal = Some((
                "above_investor_limit",
                format!(
                    "an investor may buy at most {} shares in this offering; this investor may buy {} more",
                    shares_text(terms.maxPerInvestor),
                    shares_text(terms.maxPerInvestor.saturating_sub(bought))
                ),
            ));
        }
    }
    if let Some((name, sentence)) = refusal {
        v.allowed = false;
        v.name = name.to_owned();
        v.sentence = sentence;
    }
    Ok(v)
}

/// Whether a code judges the receiving wallet (its registry record, country, holding).
pub fn about_recipient(code: u8) -> bool {
    matches!(
        ReasonCode::try_from(code),
        Ok(ReasonCode::RecipientFrozen
            | ReasonCode::RecipientNotVerified
            | ReasonCode::CountryNotAllowed
            | ReasonCode::NotAccredited
            | ReasonCode::MaxBalanceExceeded
            | ReasonCode::CountryCapReached)
    )
}

/// The code's standard description, without the facts behind it.
pub fn standard_sentence(code: u8) -> String {
    ReasonCode::try_from(code).map_or_else(
        |_| format!("reason code {code}"),
        |r| r.message().to_owned(),
    )
}
