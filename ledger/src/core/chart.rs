//! The chart-of-accounts template every property starts from.
//!
//! Per-investor capital accounts and per-budget-line improvement accounts reuse a template code
//! with the investor or budget line added to their dimensions (see [`NewAccount::with_dimensions`]).

use super::account::{AccountType, BalanceLimit, Dimensions, NewAccount};
use super::ids::{AccountCode, DimValue};
use super::money::Currency;
use crate::error::Result;

/// Codes of the template accounts.
pub mod codes {
    /// Settlement-token funds held by the property treasury contract.
    pub const TREASURY_CASH: &str = "1000";
    /// Fiat operating cash.
    pub const OPERATING_CASH: &str = "1010";
    /// Settlement-token funds held by the property's distributor contract, awaiting claims.
    pub const DISTRIBUTOR_CASH: &str = "1020";
    /// Rent and other amounts owed to the property.
    pub const RECEIVABLES: &str = "1100";
    /// Purchase price of the property.
    pub const PROPERTY_AT_COST: &str = "1500";
    /// Closing costs added to the property's basis.
    pub const CAPITALIZED_CLOSING_COSTS: &str = "1510";
    /// Rehab spending capitalized into the property, one account per budget line.
    pub const CAPITALIZED_IMPROVEMENTS: &str = "1600";
    /// Invoices owed to contractors and vendors.
    pub const ACCOUNTS_PAYABLE: &str = "2000";
    /// Distributions declared and not yet claimed.
    pub const DISTRIBUTIONS_PAYABLE: &str = "2100";
    /// Tenants' security deposits.
    pub const SECURITY_DEPOSITS: &str = "2200";
    /// Platform fees the property owes the platform.
    pub const DUE_TO_PLATFORM: &str = "2300";
    /// Acquisition or rehab financing.
    pub const LOANS_PAYABLE: &str = "2500";
    /// Investors' contributed capital, one account per investor.
    pub const INVESTOR_CAPITAL: &str = "3000";
    /// Distributions declared to investors, one account per investor.
    pub const DISTRIBUTIONS: &str = "3100";
    /// Earnings of closed periods.
    pub const RETAINED_EARNINGS: &str = "3900";
    /// Rent.
    pub const RENTAL_INCOME: &str = "4000";
    /// Fees, interest and other income.
    pub const OTHER_INCOME: &str = "4100";
    /// Gain (a debit balance: loss) on the sale of the property.
    pub const GAIN_ON_SALE: &str = "4200";
    /// Repairs and maintenance not capitalized.
    pub const REPAIRS: &str = "5000";
    /// Property management fees.
    pub const MANAGEMENT_FEES: &str = "5100";
    /// Property taxes.
    pub const PROPERTY_TAXES: &str = "5200";
    /// Insurance.
    pub const INSURANCE: &str = "5300";
    /// Interest on loans.
    pub const INTEREST: &str = "5400";
    /// Utilities.
    pub const UTILITIES: &str = "5500";
    /// Homeowners' association dues.
    pub const HOA_DUES: &str = "5600";
    /// The platform's fees on offering proceeds and distributions.
    pub const PLATFORM_FEES: &str = "5700";
    /// The sponsor's promote (catch-up and split) paid out by a distribution waterfall.
    pub const SPONSOR_PROMOTE: &str = "5800";
    /// Expenses of no other account.
    pub const OTHER_EXPENSES: &str = "5900";
    /// The platform's own books: settlement-token funds the share market paid to the platform's
    /// fee recipient.
    pub const FEE_RECIPIENT_CASH: &str = "1050";
    /// The platform's own books: fees earned on share-market trades.
    pub const TRADING_FEES: &str = "4300";
}

/// One line of the template.
#[derive(Clone, Copy, Debug)]
pub struct TemplateLine {
    /// Account code.
    pub code: &'static str,
    /// Account name.
    pub name: &'static str,
    /// Account type.
    pub account_type: AccountType,
    /// Balance limit.
    pub limit: BalanceLimit,
}

const fn line(
    code: &'static str,
    name: &'static str,
    account_type: AccountType,
    limit: BalanceLimit,
) -> TemplateLine {
    TemplateLine {
        code,
        name,
        account_type,
        limit,
    }
}

use AccountType::{Asset, Equity, Expense, Income, Liability};
use BalanceLimit::{NonNegative, Unlimited};

/// The template, in code order. Cash accounts may not go negative.
pub const PROPERTY_TEMPLATE: &[TemplateLine] = &[
    line(
        codes::TREASURY_CASH,
        "Treasury cash (on-chain)",
        Asset,
        NonNegative,
    ),
    line(codes::OPERATING_CASH, "Operating cash", Asset, NonNegative),
    line(
        codes::DISTRIBUTOR_CASH,
        "Distributor cash (on-chain)",
        Asset,
        NonNegative,
    ),
    line(codes::RECEIVABLES, "Receivables", Asset, Unlimited),
    line(
        codes::PROPERTY_AT_COST,
        "Property at cost",
        Asset,
        Unlimited,
    ),
    line(
        codes::CAPITALIZED_CLOSING_COSTS,
        "Capitalized closing costs",
        Asset,
        Unlimited,
    ),
    line(
        codes::CAPITALIZED_IMPROVEMENTS,
        "Capitalized improvements",
        Asset,
        Unlimited,
    ),
    line(
        codes::ACCOUNTS_PAYABLE,
        "Accounts payable",
        Liability,
        Unlimited,
    ),
    line(
        codes::DISTRIBUTIONS_PAYABLE,
        "Distributions payable",
        Liability,
        Unlimited,
    ),
    line(
        codes::SECURITY_DEPOSITS,
        "Security deposits",
        Liability,
        Unlimited,
    ),
    line(
        codes::DUE_TO_PLATFORM,
        "Due to platform",
        Liability,
        Unlimited,
    ),
    line(codes::LOANS_PAYABLE, "Loans payable", Liability, Unlimited),
    line(
        codes::INVESTOR_CAPITAL,
        "Investor capital",
        Equity,
        Unlimited,
    ),
    line(codes::DISTRIBUTIONS, "Distributions", Equity, Unlimited),
    line(
        codes::RETAINED_EARNINGS,
        "Retained earnings",
        Equity,
        Unlimited,
    ),
    line(codes::RENTAL_INCOME, "Rental income", Income, Unlimited),
    line(codes::OTHER_INCOME, "Other income", Income, Unlimited),
    line(codes::GAIN_ON_SALE, "Gain on sale", Income, Unlimited),
    line(
        codes::REPAIRS,
        "Repairs and maintenance",
        Expense,
        Unlimited,
    ),
    line(
        codes::MANAGEMENT_FEES,
        "Management fees",
        Expense,
        Unlimited,
    ),
    line(codes::PROPERTY_TAXES, "Property taxes", Expense, Unlimited),
    line(codes::INSURANCE, "Insurance", Expense, Unlimited),
    line(codes::INTEREST, "Interest", Expense, Unlimited),
    line(codes::UTILITIES, "Utilities", Expense, Unlimited),
    line(codes::HOA_DUES, "HOA dues", Expense, Unlimited),
    line(codes::PLATFORM_FEES, "Platform fees", Expense, Unlimited),
    line(
        codes::SPONSOR_PROMOTE,
        "Sponsor promote",
        Expense,
        Unlimited,
    ),
    line(codes::OTHER_EXPENSES, "Other expenses", Expense, Unlimited),
];

/// The platform's own chart (kept under the property dimension the indexer gives the
/// platform): what the share market's trading fees brought in.
pub const PLATFORM_TEMPLATE: &[TemplateLine] = &[
    line(
        codes::FEE_RECIPIENT_CASH,
        "Fee recipient's funds (on-chain)",
        Asset,
        NonNegative,
    ),
    line(codes::TRADING_FEES, "Trading fees", Income, Unlimited),
];

/// The template's accounts for one property, all in `currency`.
pub fn property_chart(property: &DimValue, currency: Currency) -> Result<Vec<NewAccount>> {
    chart_of(PROPERTY_TEMPLATE, property, currency)
}

/// The platform's chart, under the dimension `platform`, all in `currency`.
pub fn platform_chart(platform: &DimValue, currency: Currency) -> Result<Vec<NewAccount>> {
    chart_of(PLATFORM_TEMPLATE, platform, currency)
}

fn chart_of(
    template: &[TemplateLine],
    property: &DimValue,
    currency: Currency,
) -> Result<Vec<NewAccount>> {
    template
        .iter()
        .map(|l| {
            Ok(NewAccount::new(
                AccountCode::parse(l.code)?,
                l.name,
                l.account_type,
                currency,
            )
            .with_dimensions(Dimensions::property(property.clone()))
            .with_limit(l.limit))
        })
        .collect()
}

/// The template line for `code` (of the property or the platform template), if it is one.
pub fn template_line(code: &str) -> Option<&'static TemplateLine> {
    PROPERTY_TEMPLATE
        .iter()
        .chain(PLATFORM_TEMPLATE)
        .find(|l| l.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_valid_and_unique() {
        let usd = Currency::parse("USD", 2).unwrap();
        let chart = property_chart(&DimValue::parse("oak-1").unwrap(), usd).unwrap();
        assert_eq!(chart.len(), PROPERTY_TEMPLATE.len());
        let mut codes: Vec<_> = chart.iter().map(|a| a.code.clone()).collect();
        codes.dedup();
        assert_eq!(codes.len(), chart.len(), "codes are sorted and unique");
        for a in &chart {
            a.validate().unwrap();
        }
        // Every type is represented, so every report has something to show.
        for t in AccountType::ALL {
            assert!(chart.iter().any(|a| a.account_type == t), "{t}");
        }
        assert_eq!(template_line("1000").unwrap().limit, NonNegative);
        let platform = platform_chart(&DimValue::parse("prop-platform").unwrap(), usd).unwrap();
        assert!(
            platform
                .iter()
                .all(|a| a.validate().is_ok() && template_line(a.code.as_str()).is_some())
        );
        assert!(
            platform
                .iter()
                .all(|a| chart.iter().all(|b| b.code != a.code)),
            "the platform's codes are not a property's"
        );
        assert!(template_line("9999").is_none());
    }
}
