//! Investors' capital accounts in a property's books, and what each is worth at the property's
//! last valuation.
//!
//! - **Contributed**: credits to the investor's capital account (purchases, capital received
//!   with shares bought from another investor).
//! - **Returned**: debits to it (refunds, capital given with shares transferred away,
//!   redemptions).
//! - **Distributed**: net debits to the investor's distributions account.
//! - **Balance**: contributed less returned less distributed.
//! - **Platform fees**: the investor's part of the fees the property was charged, in the same
//!   proportion as the current value.
//! - **Current value**: the investor's part of the property's net asset value, in proportion to
//!   their balance among all investors' positive balances. The net asset value is the real
//!   estate at its latest valuation (at book value, cost plus capitalized closing costs and
//!   improvements, when it has none) plus the other assets, less the liabilities, as of the
//!   day asked. Rounded half away from zero to the books' scale.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use propledger_ledger::Ledger;
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{AccountType, Direction};
use propledger_ledger::report::Scope;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use utoipa::ToSchema;

use super::property_dim;
use crate::db::Exec;
use crate::deals::costs::ledger_error;
use crate::error::{Error, Result};
use crate::properties::PropertyId;
use crate::types::Money;
use crate::valuations::{self, Valuation};

/// One investor's capital account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct CapitalAccountView {
    /// The investor (registry id in hex, or `wallet-0x…` for a wallet not in the registry).
    pub investor: String,
    /// Capital put in.
    pub contributed: Money,
    /// Capital given back (refunds, transfers away, redemptions).
    pub returned: Money,
    /// Distributions.
    pub distributed: Money,
    /// Contributed less returned less distributed.
    pub balance: Money,
    /// Net pending change (chain events not final yet).
    pub pending: Money,
    /// The investor's part of all positive balances, percent to four places.
    pub ownership_percent: String,
    /// That part of the property's net asset value.
    pub current_value: Money,
    /// That part of the platform fees the property was charged.
    pub platform_fees: Money,
}

/// A property's investor capital accounts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CapitalAccounts {
    /// The property.
    pub property: String,
    /// As of the end of this day (everything when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// The valuation the real estate is counted at; absent when the property has none (then
    /// it is counted at book value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valuation: Option<Valuation>,
    /// The real estate as counted.
    pub real_estate: Money,
    /// The real estate at book value.
    pub real_estate_at_book: Money,
    /// Assets other than the real estate (cash, receivables).
    pub other_assets: Money,
    /// Liabilities.
    pub liabilities: Money,
    /// Real estate plus other assets less liabilities.
    pub net_asset_value: Money,
    /// Platform fees charged to the property (on offering proceeds and distributions).
    pub platform_fees: Money,
    /// One account per investor, by investor.
    pub accounts: Vec<CapitalAccountView>,
}

fn shown(value: Decimal, scale: u32, currency: &str) -> Money {
    let mut v = value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    v.rescale(scale);
    Money {
        amount: v.to_string(),
        currency: currency.to_owned(),
    }
}

/// The API property a books name stands for: its id, or the property whose id a deed token id
/// is (tokenizing mints the deed with the property's id as a number).
pub fn api_property(property: &str) -> Option<PropertyId> {
    if let Ok(id) = PropertyId::parse(property) {
        return Some(id);
    }
    property
        .parse::<u128>()
        .ok()
        .and_then(|n| PropertyId::parse(&uuid::Uuid::from_u128(n).to_string()).ok())
}

#[derive(Default)]
struct Sums {
    contributed: Decimal,
    returned: Decimal,
    distributed: Decimal,
    pending: Decimal,
}

fn is_real_estate(code: &str) -> bool {
    [
        codes::PROPERTY_AT_COST,
        codes::CAPITALIZED_CLOSING_COSTS,
        codes::CAPITALIZED_IMPROVEMENTS,
    ]
    .contains(&code)
}

/// The capital accounts of a property's investors as of the end of `as_of`.
pub async fn capital_accounts(
    ledger: &Ledger,
    exec: Exec<'_>,
    property: &str,
    as_of: Option<NaiveDate>,
) -> Result<CapitalAccounts> {
    let dim = property_dim(property)?;
    let totals = ledger
        .reports()
        .totals(&Scope::property(dim), None, as_of)
        .await
        .map_err(ledger_error)?;
    let Some(first) = totals.first() else {
        return Err(Error::NotFound("property's books"));
    };
    let currency = first.account.currency;
    if totals.iter().any(|t| t.account.currency != currency) {
        return Err(Error::Internal(
            "a property's books in more than one currency".into(),
        ));
    }
    let scale = currency.scale();
    let code = currency.code().as_str().to_owned();

    let mut investors: BTreeMap<String, Sums> = BTreeMap::new();
    let (mut book, mut other, mut liabilities) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut fees = Decimal::ZERO;
    for t in &totals {
        let a = &t.account;
        let net_debit = t.totals.posted(Direction::Debit).map_err(ledger_error)?;
        if a.code.as_str() == codes::PLATFORM_FEES {
            fees += net_debit.value();
        }
        match a.account_type {
            AccountType::Asset if is_real_estate(a.code.as_str()) => book += net_debit.value(),
            AccountType::Asset => other += net_debit.value(),
            AccountType::Liability => liabilities -= net_debit.value(),
            _ => {}
        }
        let Some(investor) = &a.dimensions.investor else {
            continue;
        };
        if a.account_type != AccountType::Equity {
            continue;
        }
        let s = investors.entry(investor.as_str().to_owned()).or_default();
        match a.code.as_str() {
            codes::DISTRIBUTIONS => s.distributed += net_debit.value(),
            _ => {
                s.contributed += t.totals.posted_credits.value();
                s.returned += t.totals.posted_debits.value();
            }
        }
        s.pending += t
            .totals
            .pending(Direction::Credit)
            .map_err(ledger_error)?
            .value();
    }

    let valuation = match api_property(property) {
        Some(id) => valuations::current(exec, id, as_of).await?,
        None => None,
    };
    let real_estate = match &valuation {
        Some(v) => v
            .value
            .amount
            .parse::<Decimal>()
            .map_err(|_| Error::Corrupt("a stored valuation's value".into()))?,
        None => book,
    };
    let nav = real_estate + other - liabilities;
    let balance = |s: &Sums| s.contributed - s.returned - s.distributed;
    let total: Decimal = investors
        .values()
        .map(balance)
        .filter(|b| b.is_sign_positive())
        .sum();
    let accounts = investors
        .iter()
        .map(|(investor, s)| {
            let b = balance(s);
            let owns = !total.is_zero() && b.is_sign_positive();
            let (percent, value, fee) = if owns {
                (
                    b * Decimal::ONE_HUNDRED / total,
                    nav * b / total,
                    fees * b / total,
                )
            } else {
                (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO)
            };
            let percent = percent.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
            CapitalAccountView {
                investor: investor.clone(),
                contributed: shown(s.contributed, scale, &code),
                returned: shown(s.returned, scale, &code),
                distributed: shown(s.distributed, scale, &code),
                balance: shown(b, scale, &code),
                pending: shown(s.pending, scale, &code),
                ownership_percent: percent.to_string(),
                current_value: shown(value, scale, &code),
                platform_fees: shown(fee, scale, &code),
            }
        })
        .collect();
    Ok(CapitalAccounts {
        property: property.to_owned(),
        as_of: as_of.map(|d| d.format("%Y-%m-%d").to_string()),
        valuation,
        real_estate: shown(real_estate, scale, &code),
        real_estate_at_book: shown(book, scale, &code),
        other_assets: shown(other, scale, &code),
        liabilities: shown(liabilities, scale, &code),
        net_asset_value: shown(nav, scale, &code),
        platform_fees: shown(fees, scale, &code),
        accounts,
    })
}
