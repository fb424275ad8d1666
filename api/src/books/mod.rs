//! The books of a property as the API shows them: the chart of accounts with balances, the
//! trial balance, the balance sheet and the income statement for a period. Read through the
//! ledger's API (never its tables); amounts are exact decimal text with their currency.
//!
//! A property's books are named by the property: the API's property id, or a tokenized
//! property's deed token id (the charts the indexer opens), as [`property_dim`] maps them.

pub mod capital;
pub mod cashflow;
pub mod close;
pub mod entries;

use chrono::NaiveDate;
use propledger_ledger::Ledger;
use propledger_ledger::core::{Account, Amount};
use propledger_ledger::report::{self, Scope};
use serde::Serialize;
use utoipa::ToSchema;

use crate::deals::costs::ledger_error;
pub use crate::deals::costs::property_dim;
use crate::error::{Error, Result};
use crate::types::Money;

/// An amount as the API shows it.
pub(crate) fn money(a: Amount) -> Money {
    let mut v = a.value();
    v.rescale(a.currency().scale());
    Money {
        amount: v.to_string(),
        currency: a.currency().code().as_str().to_owned(),
    }
}

/// An account of a property's chart.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// The ledger's id.
    pub id: i64,
    /// Chart code (`1000` treasury cash, `3000` investor capital, ...).
    pub code: String,
    /// Its name.
    pub name: String,
    /// asset, liability, equity, income or expense.
    pub account_type: String,
    /// The investor (registry id in hex, or `wallet-0x…`) of a capital account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investor: Option<String>,
    /// The budget line of an improvements account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_line: Option<String>,
    /// Posted balance, on the account's normal side.
    pub posted: Money,
    /// Net pending change (chain events not final yet), on the normal side.
    pub pending: Money,
}

fn account_fields(a: &Account) -> (i64, String, String, String, Option<String>, Option<String>) {
    (
        a.id.get(),
        a.code.as_str().to_owned(),
        a.name.clone(),
        a.account_type.as_str().to_owned(),
        a.dimensions
            .investor
            .as_ref()
            .map(|d| d.as_str().to_owned()),
        a.dimensions
            .budget_line
            .as_ref()
            .map(|d| d.as_str().to_owned()),
    )
}

/// A property's accounts with their balances, by code.
pub async fn accounts(ledger: &Ledger, property: &str) -> Result<Vec<AccountView>> {
    let dim = property_dim(property)?;
    let found = ledger
        .accounts()
        .list(&propledger_ledger::account::AccountFilter {
            property: Some(dim),
            ..Default::default()
        })
        .await
        .map_err(ledger_error)?;
    if found.is_empty() {
        return Err(Error::NotFound("property's books"));
    }
    let mut out = Vec::with_capacity(found.len());
    for a in found {
        let b = ledger
            .accounts()
            .balance(a.id, None)
            .await
            .map_err(ledger_error)?;
        let (id, code, name, account_type, investor, budget_line) = account_fields(&a);
        out.push(AccountView {
            id,
            code,
            name,
            account_type,
            investor,
            budget_line,
            posted: money(b.posted().map_err(ledger_error)?),
            pending: money(b.pending().map_err(ledger_error)?),
        });
    }
    out.sort_by(|x, y| (&x.code, x.id).cmp(&(&y.code, y.id)));
    Ok(out)
}

/// One line of a trial balance: the net shows in the debit or the credit column.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrialBalanceLine {
    /// The account's code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// The investor of a capital account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investor: Option<String>,
    /// The budget line of an improvements account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_line: Option<String>,
    /// Posted net debit.
    pub debit: Money,
    /// Posted net credit.
    pub credit: Money,
    /// Pending net debit.
    pub pending_debit: Money,
    /// Pending net credit.
    pub pending_credit: Money,
}

/// Column totals of one currency.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrialBalanceTotal {
    /// Posted debits.
    pub debit: Money,
    /// Posted credits.
    pub credit: Money,
    /// Pending debits.
    pub pending_debit: Money,
    /// Pending credits.
    pub pending_credit: Money,
    /// Debits equal credits, posted and pending.
    pub balanced: bool,
}

/// A property's trial balance.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrialBalance {
    /// The property.
    pub property: String,
    /// As of the end of this day (everything when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// One line per account with activity, by code.
    pub lines: Vec<TrialBalanceLine>,
    /// Totals per currency.
    pub totals: Vec<TrialBalanceTotal>,
}

fn day(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%Y-%m-%d").to_string())
}

/// The trial balance of a property as of the end of a day.
pub async fn trial_balance(
    ledger: &Ledger,
    property: &str,
    as_of: Option<NaiveDate>,
) -> Result<TrialBalance> {
    let tb = ledger
        .reports()
        .trial_balance(&Scope::property(property_dim(property)?), as_of)
        .await
        .map_err(ledger_error)?;
    Ok(TrialBalance {
        property: property.to_owned(),
        as_of: day(tb.as_of),
        lines: tb
            .lines
            .iter()
            .map(|l| {
                let (_, code, name, _, investor, budget_line) = account_fields(&l.account);
                TrialBalanceLine {
                    code,
                    name,
                    investor,
                    budget_line,
                    debit: money(l.posted.debit),
                    credit: money(l.posted.credit),
                    pending_debit: money(l.pending.debit),
                    pending_credit: money(l.pending.credit),
                }
            })
            .collect(),
        totals: tb
            .totals
            .iter()
            .map(|t| TrialBalanceTotal {
                debit: money(t.posted.debit),
                credit: money(t.posted.credit),
                pending_debit: money(t.pending.debit),
                pending_credit: money(t.pending.credit),
                balanced: t.is_balanced(),
            })
            .collect(),
    })
}

/// A line of a statement: an account's balance on its normal side.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StatementLine {
    /// The account's code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// The investor of a capital account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investor: Option<String>,
    /// The budget line of an improvements account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_line: Option<String>,
    /// Posted balance.
    pub posted: Money,
    /// Net pending change.
    pub pending: Money,
}

fn statement_lines(lines: &[report::StatementLine]) -> Vec<StatementLine> {
    lines
        .iter()
        .map(|l| {
            let (_, code, name, _, investor, budget_line) = account_fields(&l.account);
            StatementLine {
                code,
                name,
                investor,
                budget_line,
                posted: money(l.posted),
                pending: money(l.pending),
            }
        })
        .collect()
}

/// Balance sheet totals of one currency (posted).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BalanceSheetTotal {
    /// Assets.
    pub assets: Money,
    /// Liabilities.
    pub liabilities: Money,
    /// Equity accounts.
    pub equity: Money,
    /// Income less expenses not closed into equity.
    pub current_earnings: Money,
    /// Assets equal liabilities, equity and current earnings.
    pub balanced: bool,
}

/// A property's balance sheet.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BalanceSheet {
    /// The property.
    pub property: String,
    /// As of the end of this day (everything when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Asset accounts.
    pub assets: Vec<StatementLine>,
    /// Liability accounts.
    pub liabilities: Vec<StatementLine>,
    /// Equity accounts.
    pub equity: Vec<StatementLine>,
    /// Totals per currency.
    pub totals: Vec<BalanceSheetTotal>,
}

/// The balance sheet of a property as of the end of a day.
pub async fn balance_sheet(
    ledger: &Ledger,
    property: &str,
    as_of: Option<NaiveDate>,
) -> Result<BalanceSheet> {
    let bs = ledger
        .reports()
        .balance_sheet(&Scope::property(property_dim(property)?), as_of)
        .await
        .map_err(ledger_error)?;
    Ok(BalanceSheet {
        property: property.to_owned(),
        as_of: day(bs.as_of),
        assets: statement_lines(&bs.assets),
        liabilities: statement_lines(&bs.liabilities),
        equity: statement_lines(&bs.equity),
        totals: bs
            .totals
            .iter()
            .map(|t| BalanceSheetTotal {
                assets: money(t.assets),
                liabilities: money(t.liabilities),
                equity: money(t.equity),
                current_earnings: money(t.current_earnings),
                balanced: t.is_balanced(),
            })
            .collect(),
    })
}

/// Income statement totals of one currency (posted).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IncomeTotal {
    /// Income.
    pub income: Money,
    /// Expenses.
    pub expenses: Money,
    /// Income less expenses.
    pub net_income: Money,
}

/// A property's income statement for a period.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IncomeStatement {
    /// The property.
    pub property: String,
    /// First day (open when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day (open when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Income accounts.
    pub income: Vec<StatementLine>,
    /// Expense accounts.
    pub expenses: Vec<StatementLine>,
    /// Totals per currency.
    pub totals: Vec<IncomeTotal>,
}

/// The income statement of a property for effective dates `from..=to`.
pub async fn income_statement(
    ledger: &Ledger,
    property: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<IncomeStatement> {
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(Error::invalid("from", "after `to`"));
    }
    let is = ledger
        .reports()
        .income_statement(&Scope::property(property_dim(property)?), from, to)
        .await
        .map_err(ledger_error)?;
    Ok(IncomeStatement {
        property: property.to_owned(),
        from: day(is.from),
        to: day(is.to),
        income: statement_lines(&is.income),
        expenses: statement_lines(&is.expenses),
        totals: is
            .totals
            .iter()
            .map(|t| IncomeTotal {
                income: money(t.income),
                expenses: money(t.expenses),
                net_income: money(t.net_income),
            })
            .collect(),
    })
}
