//! Sentences for reason codes, written from the facts the token judged.

use alloy::primitives::{Address, U256};
use chrono::DateTime;
use propledger_contracts::ReasonCode;

use super::{SHARE_DECIMALS, units_text};

/// What the token knows of one wallet at the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolderFacts {
    /// Shares the wallet holds.
    pub balance: U256,
    /// The investor its shares are attributed to (0: none).
    pub attributed_no: u64,
    /// The whole wallet is frozen on this token.
    pub frozen: bool,
    /// Shares frozen in the wallet.
    pub frozen_tokens: U256,
    /// What the attributed investor holds across wallets.
    pub investor_holding: U256,
}

/// What the registry and the token know of one wallet at the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletFacts {
    /// The wallet.
    pub wallet: Address,
    /// The investor the wallet belongs to now (0: not registered).
    pub registered_no: u64,
    /// The investor's ISO 3166-1 numeric country.
    pub country: u16,
    /// The investor is accredited.
    pub accredited: bool,
    /// The investor is frozen in the registry.
    pub investor_frozen: bool,
    /// Registered and KYC not expired.
    pub verified: bool,
    /// When the investor's KYC expires (Unix seconds; 0 when unknown).
    pub kyc_expiry_s: u64,
    /// The token's record of the wallet.
    pub holder: HolderFacts,
    /// What the investor the wallet belongs to now holds across wallets.
    pub registered_holding: U256,
}

/// Everything a sentence may cite, read at one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The block's time, Unix seconds.
    pub block_time_s: u64,
    /// The token is paused.
    pub paused: bool,
    /// Investors holding shares.
    pub investor_count: u32,
    /// Only accredited investors may hold.
    pub accredited_only: bool,
    /// Only listed countries may hold.
    pub countries_restricted: bool,
    /// The recipient's country is listed.
    pub country_allowed: bool,
    /// The investor cap (0: none).
    pub max_investors: u32,
    /// Transfers are locked until then (Unix seconds).
    pub lockup_until_s: u64,
    /// The most one investor may hold (0: no cap).
    pub max_balance: U256,
    /// The smallest non-zero holding (0: none set).
    pub min_holding: U256,
    /// The amount asked for.
    pub amount: U256,
    /// The sender (none for a purchase).
    pub sender: Option<WalletFacts>,
    /// The recipient.
    pub recipient: WalletFacts,
    /// The limits' facts, read when the code is one of theirs (14 to 18).
    pub limits: Option<LimitFacts>,
}

/// What the compliance's limits knew at the block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitFacts {
    /// The daily volume limit per investor (0: none).
    pub daily_volume: U256,
    /// The monthly volume limit per investor (0: none).
    pub monthly_volume: U256,
    /// The supply cap (0: none).
    pub max_supply: U256,
    /// The token's total supply.
    pub total_supply: U256,
    /// What the sender's investor has transferred today and this month.
    pub sender_today: U256,
    /// See `sender_today`.
    pub sender_month: U256,
    /// The sender investor's country and its jurisdiction group.
    pub sender_country: u16,
    /// See `sender_country`.
    pub sender_group: u8,
    /// The recipient's jurisdiction group.
    pub recipient_group: u8,
    /// The recipient country's investor cap and its investors holding.
    pub country_cap: u32,
    /// See `country_cap`.
    pub country_investors: u32,
}

fn shares(u: U256) -> String {
    format!("{} shares", units_text(u, SHARE_DECIMALS))
}

fn date(s: u64) -> String {
    DateTime::from_timestamp(i64::try_from(s).unwrap_or(i64::MAX), 0).map_or_else(
        || s.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

fn day(s: u64) -> String {
    DateTime::from_timestamp(i64::try_from(s).unwrap_or(i64::MAX), 0)
        .map_or_else(|| s.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

fn country(numeric: u16) -> String {
    celes::Country::from_value(usize::from(numeric))
        .map_or_else(|_| format!("country {numeric}"), |c| c.long_name.to_owned())
}

/// The sentence for a reason code.
pub fn sentence(code: ReasonCode, f: &Facts) -> String {
    let r = &f.recipient;
    let to = r.wallet.to_checksum(None);
    let from = f
        .sender
        .as_ref()
        .map(|s| s.wallet.to_checksum(None))
        .unwrap_or_default();
    match code {
        ReasonCode::Allowed => match &f.sender {
            Some(_) => format!("{from} may send {} to {to}", shares(f.amount)),
            None => format!("{to} may receive {}", shares(f.amount)),
        },
        ReasonCode::Paused => "the token is paused by its transfer agent".to_owned(),
        ReasonCode::SenderFrozen => match &f.sender {
            Some(s) if s.holder.frozen => format!("the sending wallet {from} is frozen on this token"),
            Some(_) => "the sender's investor is frozen in the identity registry".to_owned(),
            None => "the sender is frozen".to_owned(),
        },
        ReasonCode::RecipientFrozen => {
            if r.holder.frozen {
                format!("the receiving wallet {to} is frozen on this token")
            } else {
                "the recipient's investor is frozen in the identity registry".to_owned()
            }
        }
        ReasonCode::RecipientNotVerified => {
            if r.registered_no == 0 {
                format!("the wallet {to} is not registered with an investor")
            } else if !r.verified && r.kyc_expiry_s != 0 && r.kyc_expiry_s <= f.block_time_s {
                format!("the recipient's KYC expired on {}", day(r.kyc_expiry_s))
            } else if r.holder.balance != U256::ZERO && r.holder.attributed_no != r.registered_no {
                format!("the wallet {to} still holds shares attributed to another investor")
            } else {
                "the recipient's identity is not verified".to_owned()
            }
        }
        ReasonCode::InsufficientBalance => match &f.sender {
            Some(s) => format!(
                "the sender holds {}, less than the {} asked",
                shares(s.holder.balance),
                units_text(f.amount, SHARE_DECIMALS)
            ),
            None => "the sender holds too few shares".to_owned(),
        },
        ReasonCode::InsufficientUnfrozenBalance => match &f.sender {
            Some(s) => format!(
                "{} of the sender's {} are frozen; {} may move",
                shares(s.holder.frozen_tokens),
                shares(s.holder.balance),
                shares(s.holder.balance.saturating_sub(s.holder.frozen_tokens))
            ),
            None => "too many of the sender's shares are frozen".to_owned(),
        },
        ReasonCode::CountryNotAllowed => format!(
            "the recipient's country, {}, is not among this offering's allowed countries",
            country(r.country)
        ),
        ReasonCode::NotAccredited => {
            "this offering is for accredited investors only, and the recipient is not accredited".to_owned()
        }
        ReasonCode::LockupActive => format!("transfers are locked until {}", date(f.lockup_until_s)),
        ReasonCode::MaxInvestorsReached => format!(
            "the token has reached its cap of {} investors, and the recipient would be a new one",
            f.max_investors
        ),
        ReasonCode::MaxBalanceExceeded => format!(
            "the recipient's holding would be {}, above the cap of {} per investor",
            shares(r.registered_holding.saturating_add(f.amount)),
            units_text(f.max_balance, SHARE_DECIMALS)
        ),
        ReasonCode::BelowMinHolding => {
            let min = if f.min_holding.is_zero() {
                U256::from(10u64).pow(U256::from(SHARE_DECIMALS))
            } else {
                f.min_holding
            };
            let recipient_after = r.registered_holding.saturating_add(f.amount);
            match &f.sender {
                Some(s) if recipient_after >= min => format!(
                    "the sender would keep {}, below the minimum holding of {} (sell all or keep at least that)",
                    shares(s.holder.investor_holding.saturating_sub(f.amount)),
                    shares(min)
                ),
                _ if f.min_holding.is_zero() => format!(
                    "a new investor must receive at least one whole share; {} would give {}",
                    units_text(f.amount, SHARE_DECIMALS),
                    shares(recipient_after)
                ),
                _ => format!(
                    "the recipient's holding would be {}, below the minimum holding of {}",
                    shares(recipient_after),
                    shares(min)
                ),
            }
        }
        ReasonCode::OfferingUnsettled => {
            "these shares were bought in an offering that has not reached its soft cap; they cannot leave their investor until it does (or until they are refunded)".to_owned()
        }
        ReasonCode::JurisdictionMismatch
        | ReasonCode::DailyLimitExceeded
        | ReasonCode::MonthlyLimitExceeded
        | ReasonCode::CountryCapReached
        | ReasonCode::SupplyCapExceeded => limit_sentence(code, f),
    }
}

fn limit_sentence(code: ReasonCode, f: &Facts) -> String {
    let Some(l) = &f.limits else {
        return code.message().to_owned();
    };
    let volume = |spent: U256, limit: U256, period: &str| {
        format!(
            "the sender's investor has transferred {} to other investors {period} (UTC); {} more would exceed the limit of {} ({} may still move {period})",
            shares(spent),
            units_text(f.amount, SHARE_DECIMALS),
            shares(limit),
            shares(limit.saturating_sub(spent))
        )
    };
    match code {
        ReasonCode::JurisdictionMismatch => format!(
            "transfers are allowed only within one jurisdiction group: the sender's country, {}, is in group {}, and the recipient's, {}, in group {}",
            country(l.sender_country),
            l.sender_group,
            country(f.recipient.country),
            l.recipient_group
        ),
        ReasonCode::DailyLimitExceeded => volume(l.sender_today, l.daily_volume, "today"),
        ReasonCode::MonthlyLimitExceeded => volume(l.sender_month, l.monthly_volume, "this month"),
        ReasonCode::CountryCapReached => format!(
            "{} has reached its cap of {} investors in this token, and the recipient would be a new one",
            country(f.recipient.country),
            l.country_cap
        ),
        _ => format!(
            "the supply would be {}, above the cap of {} ({} may still be issued)",
            shares(l.total_supply.saturating_add(f.amount)),
            shares(l.max_supply),
            shares(l.max_supply.saturating_sub(l.total_supply))
        ),
    }
}
