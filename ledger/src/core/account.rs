//! Accounts: type, code, name, currency, dimensions and an optional balance limit.

use std::fmt;

use super::ids::{AccountCode, AccountId, DimValue};
use super::money::{Currency, Direction};
use crate::error::{Error, Result};

/// The five account types of double-entry bookkeeping.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum AccountType {
    /// What the property or platform owns: cash, the property, capitalized improvements.
    Asset,
    /// What it owes: payables, loans, distributions payable.
    Liability,
    /// Owners' claims: investor capital, distributions declared, retained earnings.
    Equity,
    /// Rent and other revenue.
    Income,
    /// Costs of the period.
    Expense,
}

impl AccountType {
    /// All five, in statement order.
    pub const ALL: [AccountType; 5] = [
        AccountType::Asset,
        AccountType::Liability,
        AccountType::Equity,
        AccountType::Income,
        AccountType::Expense,
    ];

    /// The side on which a balance of this type is normally carried.
    pub fn normal_side(self) -> Direction {
        match self {
            AccountType::Asset | AccountType::Expense => Direction::Debit,
            AccountType::Liability | AccountType::Equity | AccountType::Income => Direction::Credit,
        }
    }

    /// As stored: `asset`, `liability`, `equity`, `income`, `expense`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Asset => "asset",
            AccountType::Liability => "liability",
            AccountType::Equity => "equity",
            AccountType::Income => "income",
            AccountType::Expense => "expense",
        }
    }

    pub(crate) fn parse_stored(text: &str) -> Result<Self> {
        AccountType::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| Error::Corrupt(format!("account type {text:?}")))
    }
}

impl fmt::Display for AccountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A constraint on an account's balance, enforced atomically with every entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum BalanceLimit {
    /// Any balance is allowed.
    #[default]
    Unlimited,
    /// The balance on the account's normal side may not go below zero (a cash account may not be
    /// overdrawn). Pending entries that reduce the balance count against it at once; pending
    /// entries that increase it count only when posted.
    NonNegative,
}

impl BalanceLimit {
    /// As stored: `unlimited` or `non_negative`.
    pub fn as_str(self) -> &'static str {
        match self {
            BalanceLimit::Unlimited => "unlimited",
            BalanceLimit::NonNegative => "non_negative",
        }
    }

    pub(crate) fn parse_stored(text: &str) -> Result<Self> {
        match text {
            "unlimited" => Ok(BalanceLimit::Unlimited),
            "non_negative" => Ok(BalanceLimit::NonNegative),
            other => Err(Error::Corrupt(format!("balance limit {other:?}"))),
        }
    }
}

/// The dimensions that place an account in the business: property, deal, investor, budget line.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, PartialOrd, Ord)]
pub struct Dimensions {
    /// The property the account belongs to.
    pub property: Option<DimValue>,
    /// The deal (acquisition, refinance, sale) within the property.
    pub deal: Option<DimValue>,
    /// The investor, for capital and distribution accounts.
    pub investor: Option<DimValue>,
    /// The rehab budget line, for improvement and expense accounts.
    pub budget_line: Option<DimValue>,
}

impl Dimensions {
    /// Dimensions naming only a property.
    pub fn property(property: DimValue) -> Self {
        Dimensions {
            property: Some(property),
            ..Dimensions::default()
        }
    }

    /// With the deal set.
    pub fn with_deal(mut self, deal: DimValue) -> Self {
        self.deal = Some(deal);
        self
    }

    /// With the investor set.
    pub fn with_investor(mut self, investor: DimValue) -> Self {
        self.investor = Some(investor);
        self
    }

    /// With the budget line set.
    pub fn with_budget_line(mut self, line: DimValue) -> Self {
        self.budget_line = Some(line);
        self
    }
}

/// Longest account name, in characters.
pub const ACCOUNT_NAME_MAX_LEN: usize = 128;

/// A request to open an account. The code and dimensions together identify it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewAccount {
    /// Chart-of-accounts code.
    pub code: AccountCode,
    /// Human name, 1 to 128 characters without control characters.
    pub name: String,
    /// Account type.
    pub account_type: AccountType,
    /// Currency or asset every posting to it must be in.
    pub currency: Currency,
    /// Where it sits in the business.
    pub dimensions: Dimensions,
    /// Optional balance constraint.
    pub limit: BalanceLimit,
}

impl NewAccount {
    /// A new account without dimensions or limit; chain the `with_*` methods to add them.
    pub fn new(
        code: AccountCode,
        name: &str,
        account_type: AccountType,
        currency: Currency,
    ) -> Self {
        NewAccount {
            code,
            name: name.to_owned(),
            account_type,
            currency,
            dimensions: Dimensions::default(),
            limit: BalanceLimit::Unlimited,
        }
    }

    /// With these dimensions.
    pub fn with_dimensions(mut self, dimensions: Dimensions) -> Self {
        self.dimensions = dimensions;
        self
    }

    /// With this balance limit.
    pub fn with_limit(mut self, limit: BalanceLimit) -> Self {
        self.limit = limit;
        self
    }

    /// Checks the fields that the types do not already guarantee.
    pub fn validate(&self) -> Result<()> {
        let chars = self.name.chars().count();
        if chars == 0 || chars > ACCOUNT_NAME_MAX_LEN {
            return Err(Error::invalid(
                "account name",
                "must be 1 to 128 characters",
            ));
        }
        if self.name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "account name",
                "may not hold control characters",
            ));
        }
        Ok(())
    }
}

/// An account as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Account {
    /// Its id.
    pub id: AccountId,
    /// Chart-of-accounts code.
    pub code: AccountCode,
    /// Human name.
    pub name: String,
    /// Account type.
    pub account_type: AccountType,
    /// Currency or asset of all its postings.
    pub currency: Currency,
    /// Where it sits in the business.
    pub dimensions: Dimensions,
    /// Balance constraint.
    pub limit: BalanceLimit,
}

impl Account {
    /// True when this account has the same attributes as `new` (used to make opening
    /// idempotent).
    pub fn matches(&self, new: &NewAccount) -> bool {
        self.code == new.code
            && self.name == new.name
            && self.account_type == new.account_type
            && self.currency == new.currency
            && self.dimensions == new.dimensions
            && self.limit == new.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_sides() {
        assert_eq!(AccountType::Asset.normal_side(), Direction::Debit);
        assert_eq!(AccountType::Expense.normal_side(), Direction::Debit);
        assert_eq!(AccountType::Liability.normal_side(), Direction::Credit);
        assert_eq!(AccountType::Equity.normal_side(), Direction::Credit);
        assert_eq!(AccountType::Income.normal_side(), Direction::Credit);
    }

    #[test]
    fn stored_names_round_trip() {
        for t in AccountType::ALL {
            assert_eq!(AccountType::parse_stored(t.as_str()).unwrap(), t);
        }
        assert!(AccountType::parse_stored("cash").is_err());
        for l in [BalanceLimit::Unlimited, BalanceLimit::NonNegative] {
            assert_eq!(BalanceLimit::parse_stored(l.as_str()).unwrap(), l);
        }
    }

    #[test]
    fn names_are_checked() {
        let usd = Currency::parse("USD", 2).unwrap();
        let code = AccountCode::parse("1000").unwrap();
        assert!(
            NewAccount::new(code.clone(), "Cash", AccountType::Asset, usd)
                .validate()
                .is_ok()
        );
        assert!(
            NewAccount::new(code.clone(), "", AccountType::Asset, usd)
                .validate()
                .is_err()
        );
        assert!(
            NewAccount::new(code.clone(), "a\nb", AccountType::Asset, usd)
                .validate()
                .is_err()
        );
        assert!(
            NewAccount::new(code, &"x".repeat(129), AccountType::Asset, usd)
                .validate()
                .is_err()
        );
    }
}
