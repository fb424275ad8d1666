//! Reports: trial balance, balance sheet, income statement, rehab budget vs actual, investor
//! capital accounts. Posted and pending amounts are always reported apart.
//!
//! Each report reads one snapshot: account totals for the scope (from the running balances when
//! no date bounds are given, else summed from postings by effective date), then builds the report
//! with the pure functions at the bottom of this module.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::account::{PostingFilter, dated_totals, list_all, load_with_totals};
use crate::core::{
    Account, AccountId, AccountType, Amount, Currency, CurrencyCode, DimValue, Direction, Totals,
};
use crate::error::{Error, Result};
use crate::store::{Ledger, Tx};

/// Which accounts a report covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only this property's accounts.
    pub property: Option<DimValue>,
    /// Only this deal's accounts.
    pub deal: Option<DimValue>,
}

impl Scope {
    /// Every account.
    pub fn all() -> Self {
        Scope::default()
    }

    /// One property's accounts.
    pub fn property(property: DimValue) -> Self {
        Scope {
            property: Some(property),
            deal: None,
        }
    }

    /// With the deal set.
    pub fn with_deal(mut self, deal: DimValue) -> Self {
        self.deal = Some(deal);
        self
    }

    fn admits(&self, a: &Account) -> bool {
        self.property
            .as_ref()
            .is_none_or(|p| a.dimensions.property.as_ref() == Some(p))
            && self
                .deal
                .as_ref()
                .is_none_or(|d| a.dimensions.deal.as_ref() == Some(d))
    }
}

/// An account with its totals for the report's dates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountTotals {
    /// The account.
    pub account: Account,
    /// Its totals.
    pub totals: Totals,
}

/// A balance in trial-balance columns: the net shows in the debit or the credit column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns {
    /// Net debit balance (zero when the net is a credit).
    pub debit: Amount,
    /// Net credit balance (zero when the net is a debit).
    pub credit: Amount,
}

impl Columns {
    fn of(debits: Amount, credits: Amount) -> Result<Columns> {
        let net = debits.checked_sub(credits)?;
        let zero = Amount::zero(net.currency());
        Ok(if net.minor_units() >= 0 {
            Columns {
                debit: net,
                credit: zero,
            }
        } else {
            Columns {
                debit: zero,
                credit: net.negated(),
            }
        })
    }
}

/// One line of a trial balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrialBalanceLine {
    /// The account.
    pub account: Account,
    /// Posted balance.
    pub posted: Columns,
    /// Net pending change.
    pub pending: Columns,
}

/// Column totals of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnTotals {
    /// The currency.
    pub currency: Currency,
    /// Sum of the posted debit and credit columns.
    pub posted: Columns,
    /// Sum of the pending debit and credit columns.
    pub pending: Columns,
}

impl ColumnTotals {
    /// Debits equal credits, posted and pending.
    pub fn is_balanced(&self) -> bool {
        self.posted.debit == self.posted.credit && self.pending.debit == self.pending.credit
    }
}

/// A trial balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrialBalance {
    /// Balances as of the end of this day (everything when `None`).
    pub as_of: Option<NaiveDate>,
    /// One line per account with any activity, by code.
    pub lines: Vec<TrialBalanceLine>,
    /// Column totals per currency.
    pub totals: Vec<ColumnTotals>,
}

/// One line of a statement: an account's balance on its normal side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    /// The account.
    pub account: Account,
    /// Posted balance (or period activity), on the account's normal side.
    pub posted: Amount,
    /// Net pending change, on the normal side.
    pub pending: Amount,
}

/// Balance sheet totals of one currency (posted amounts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BalanceSheetTotals {
    /// The currency.
    pub currency: Currency,
    /// Total assets.
    pub assets: Amount,
    /// Total liabilities.
    pub liabilities: Amount,
    /// Total equity accounts.
    pub equity: Amount,
    /// Income less expenses not yet closed to equity.
    pub current_earnings: Amount,
}

impl BalanceSheetTotals {
    /// Assets equal liabilities plus equity plus current earnings.
    pub fn is_balanced(&self) -> bool {
        self.liabilities
            .checked_add(self.equity)
            .and_then(|x| x.checked_add(self.current_earnings))
            .is_ok_and(|rhs| rhs == self.assets)
    }
}

/// A balance sheet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceSheet {
    /// As of the end of this day (everything when `None`).
    pub as_of: Option<NaiveDate>,
    /// Asset accounts.
    pub assets: Vec<StatementLine>,
    /// Liability accounts.
    pub liabilities: Vec<StatementLine>,
    /// Equity accounts.
    pub equity: Vec<StatementLine>,
    /// Totals per currency.
    pub totals: Vec<BalanceSheetTotals>,
}

/// Income statement totals of one currency (posted amounts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncomeTotals {
    /// The currency.
    pub currency: Currency,
    /// Total income.
    pub income: Amount,
    /// Total expenses.
    pub expenses: Amount,
    /// Income less expenses.
    pub net_income: Amount,
}

/// An income statement for a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomeStatement {
    /// First day (open when `None`).
    pub from: Option<NaiveDate>,
    /// Last day (open when `None`).
    pub to: Option<NaiveDate>,
    /// Income accounts with their activity in the period.
    pub income: Vec<StatementLine>,
    /// Expense accounts with their activity in the period.
    pub expenses: Vec<StatementLine>,
    /// Totals per currency.
    pub totals: Vec<IncomeTotals>,
}

/// One rehab budget line against its spending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetLineReport {
    /// The budget line.
    pub budget_line: DimValue,
    /// The budget (latest revision), if one was set.
    pub budget: Option<Amount>,
    /// Posted spending: net debits to asset and expense accounts of the line.
    pub actual: Amount,
    /// Pending spending.
    pub pending: Amount,
    /// Budget less posted spending (when there is a budget).
    pub remaining: Option<Amount>,
}

/// One investor's capital account in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapitalAccount {
    /// The investor.
    pub investor: DimValue,
    /// The currency.
    pub currency: Currency,
    /// Posted credits to the investor's equity accounts (contributions).
    pub contributed: Amount,
    /// Posted debits to them (distributions, refunds).
    pub distributed: Amount,
    /// Contributed less distributed.
    pub balance: Amount,
    /// Net pending change.
    pub pending: Amount,
}

/// Reports of a [`Ledger`].
#[derive(Clone, Copy, Debug)]
pub struct Reports<'a> {
    ledger: &'a Ledger,
}

impl<'a> Reports<'a> {
    pub(crate) fn new(ledger: &'a Ledger) -> Self {
        Reports { ledger }
    }

    /// Account totals in `scope` over effective dates `from..=to` (open ends when `None`).
    pub async fn totals(
        &self,
        scope: &Scope,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<AccountTotals>> {
        let mut tx = self.ledger.read().await?;
        totals_in(&mut tx, scope, from, to).await
    }

    /// Trial balance as of the end of `as_of`.
    pub async fn trial_balance(
        &self,
        scope: &Scope,
        as_of: Option<NaiveDate>,
    ) -> Result<TrialBalance> {
        let totals = self.totals(scope, None, as_of).await?;
        trial_balance(totals, as_of)
    }

    /// Balance sheet as of the end of `as_of`.
    pub async fn balance_sheet(
        &self,
        scope: &Scope,
        as_of: Option<NaiveDate>,
    ) -> Result<BalanceSheet> {
        let totals = self.totals(scope, None, as_of).await?;
        balance_sheet(totals, as_of)
    }

    /// Income statement for effective dates `from..=to`.
    pub async fn income_statement(
        &self,
        scope: &Scope,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<IncomeStatement> {
        let totals = self.totals(scope, from, to).await?;
        income_statement(totals, from, to)
    }

    /// Rehab budget against actual spending, by budget line, for a property.
    pub async fn budget_vs_actual(&self, property: &DimValue) -> Result<Vec<BudgetLineReport>> {
        let mut tx = self.ledger.read().await?;
        let totals = totals_in(&mut tx, &Scope::property(property.clone()), None, None).await?;
        let budgets = crate::budget::current_in(&mut tx, property).await?;
        budget_vs_actual(totals, budgets)
    }

    /// Investors' capital accounts in `scope`.
    pub async fn investor_capital(&self, scope: &Scope) -> Result<Vec<CapitalAccount>> {
        let totals = self.totals(scope, None, None).await?;
        investor_capital(totals)
    }
}

async fn totals_in(
    tx: &mut Tx,
    scope: &Scope,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<AccountTotals>> {
    let accounts: Vec<Account> = list_all(tx)
        .await?
        .into_iter()
        .filter(|a| scope.admits(a))
        .collect();
    if from.is_none() && to.is_none() {
        let ids: Vec<AccountId> = accounts.iter().map(|a| a.id).collect();
        let stored = load_with_totals(tx, &ids).await?;
        return accounts
            .into_iter()
            .map(|account| {
                let totals = stored
                    .get(&account.id)
                    .map(|(_, t)| *t)
                    .ok_or_else(|| Error::Corrupt(format!("no balance row for {}", account.id)))?;
                Ok(AccountTotals { account, totals })
            })
            .collect();
    }
    let filter = PostingFilter {
        property: scope.property.clone(),
        deal: scope.deal.clone(),
        from,
        to,
        ..PostingFilter::default()
    };
    let mut totals = dated_totals(tx, &filter, &accounts).await?;
    Ok(accounts
        .into_iter()
        .map(|account| {
            let t = totals
                .remove(&account.id)
                .unwrap_or_else(|| Totals::zero(account.currency));
            AccountTotals { account, totals: t }
        })
        .collect())
}

fn is_quiet(t: &Totals) -> bool {
    t.posted_debits.is_zero()
        && t.posted_credits.is_zero()
        && t.pending_debits.is_zero()
        && t.pending_credits.is_zero()
}

fn sorted(mut totals: Vec<AccountTotals>) -> Vec<AccountTotals> {
    totals.retain(|t| !is_quiet(&t.totals));
    totals.sort_by(|a, b| (&a.account.code, a.account.id).cmp(&(&b.account.code, b.account.id)));
    totals
}

/// Builds a trial balance from account totals.
pub fn trial_balance(totals: Vec<AccountTotals>, as_of: Option<NaiveDate>) -> Result<TrialBalance> {
    let mut lines = Vec::new();
    let mut sums: BTreeMap<CurrencyCode, ColumnTotals> = BTreeMap::new();
    for AccountTotals { account, totals: t } in sorted(totals) {
        let posted = Columns::of(t.posted_debits, t.posted_credits)?;
        let pending = Columns::of(t.pending_debits, t.pending_credits)?;
        let zero = Amount::zero(account.currency);
        let sum = sums.entry(account.currency.code()).or_insert(ColumnTotals {
            currency: account.currency,
            posted: Columns {
                debit: zero,
                credit: zero,
            },
            pending: Columns {
                debit: zero,
                credit: zero,
            },
        });
        sum.posted.debit = sum.posted.debit.checked_add(posted.debit)?;
        sum.posted.credit = sum.posted.credit.checked_add(posted.credit)?;
        sum.pending.debit = sum.pending.debit.checked_add(pending.debit)?;
        sum.pending.credit = sum.pending.credit.checked_add(pending.credit)?;
        lines.push(TrialBalanceLine {
            account,
            posted,
            pending,
        });
    }
    Ok(TrialBalance {
        as_of,
        lines,
        totals: sums.into_values().collect(),
    })
}

fn statement_line(account: Account, t: &Totals) -> Result<StatementLine> {
    let side = account.account_type.normal_side();
    Ok(StatementLine {
        posted: t.posted(side)?,
        pending: t.pending(side)?,
        account,
    })
}

/// Builds a balance sheet from account totals.
pub fn balance_sheet(totals: Vec<AccountTotals>, as_of: Option<NaiveDate>) -> Result<BalanceSheet> {
    let mut sheet = BalanceSheet {
        as_of,
        assets: Vec::new(),
        liabilities: Vec::new(),
        equity: Vec::new(),
        totals: Vec::new(),
    };
    let mut sums: BTreeMap<CurrencyCode, BalanceSheetTotals> = BTreeMap::new();
    for AccountTotals { account, totals: t } in sorted(totals) {
        let currency = account.currency;
        let zero = Amount::zero(currency);
        let sum = sums.entry(currency.code()).or_insert(BalanceSheetTotals {
            currency,
            assets: zero,
            liabilities: zero,
            equity: zero,
            current_earnings: zero,
        });
        let line = statement_line(account, &t)?;
        match line.account.account_type {
            AccountType::Asset => {
                sum.assets = sum.assets.checked_add(line.posted)?;
                sheet.assets.push(line);
            }
            AccountType::Liability => {
                sum.liabilities = sum.liabilities.checked_add(line.posted)?;
                sheet.liabilities.push(line);
            }
            AccountType::Equity => {
                sum.equity = sum.equity.checked_add(line.posted)?;
                sheet.equity.push(line);
            }
            AccountType::Income => {
                sum.current_earnings = sum.current_earnings.checked_add(line.posted)?;
            }
            AccountType::Expense => {
                sum.current_earnings = sum.current_earnings.checked_sub(line.posted)?;
            }
        }
    }
    sheet.totals = sums.into_values().collect();
    Ok(sheet)
}

/// Builds an income statement from account totals over the period.
pub fn income_statement(
    totals: Vec<AccountTotals>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<IncomeStatement> {
    let mut statement = IncomeStatement {
        from,
        to,
        income: Vec::new(),
        expenses: Vec::new(),
        totals: Vec::new(),
    };
    let mut sums: BTreeMap<CurrencyCode, IncomeTotals> = BTreeMap::new();
    for AccountTotals { account, totals: t } in sorted(totals) {
        let currency = account.currency;
        let zero = Amount::zero(currency);
        let kind = account.account_type;
        if !matches!(kind, AccountType::Income | AccountType::Expense) {
            continue;
        }
        let sum = sums.entry(currency.code()).or_insert(IncomeTotals {
            currency,
            income: zero,
            expenses: zero,
            net_income: zero,
        });
        let line = statement_line(account, &t)?;
        if kind == AccountType::Income {
            sum.income = sum.income.checked_add(line.posted)?;
            statement.income.push(line);
        } else {
            sum.expenses = sum.expenses.checked_add(line.posted)?;
            statement.expenses.push(line);
        }
        sum.net_income = sum.income.checked_sub(sum.expenses)?;
    }
    statement.totals = sums.into_values().collect();
    Ok(statement)
}

/// Builds budget against actual from a property's account totals and its current budgets.
pub fn budget_vs_actual(
    totals: Vec<AccountTotals>,
    budgets: Vec<(DimValue, Amount)>,
) -> Result<Vec<BudgetLineReport>> {
    let mut lines: BTreeMap<DimValue, BudgetLineReport> = BTreeMap::new();
    for (line, amount) in budgets {
        let zero = Amount::zero(amount.currency());
        lines.insert(
            line.clone(),
            BudgetLineReport {
                budget_line: line,
                budget: Some(amount),
                actual: zero,
                pending: zero,
                remaining: None,
            },
        );
    }
    for AccountTotals { account, totals: t } in totals {
        let Some(line) = account.dimensions.budget_line.clone() else {
            continue;
        };
        if !matches!(
            account.account_type,
            AccountType::Asset | AccountType::Expense
        ) {
            continue;
        }
        let zero = Amount::zero(account.currency);
        let entry = lines.entry(line.clone()).or_insert(BudgetLineReport {
            budget_line: line,
            budget: None,
            actual: zero,
            pending: zero,
            remaining: None,
        });
        entry.actual = entry.actual.checked_add(t.posted(Direction::Debit)?)?;
        entry.pending = entry.pending.checked_add(t.pending(Direction::Debit)?)?;
    }
    lines
        .into_values()
        .map(|mut l| {
            l.remaining = l.budget.map(|b| b.checked_sub(l.actual)).transpose()?;
            Ok(l)
        })
        .collect()
}

/// Builds investors' capital accounts from account totals: every equity account with an
/// investor dimension counts toward that investor.
pub fn investor_capital(totals: Vec<AccountTotals>) -> Result<Vec<CapitalAccount>> {
    let mut out: BTreeMap<(DimValue, CurrencyCode), CapitalAccount> = BTreeMap::new();
    for AccountTotals { account, totals: t } in totals {
        let Some(investor) = account.dimensions.investor.clone() else {
            continue;
        };
        if account.account_type != AccountType::Equity {
            continue;
        }
        let currency = account.currency;
        let zero = Amount::zero(currency);
        let c = out
            .entry((investor.clone(), currency.code()))
            .or_insert(CapitalAccount {
                investor,
                currency,
                contributed: zero,
                distributed: zero,
                balance: zero,
                pending: zero,
            });
        c.contributed = c.contributed.checked_add(t.posted_credits)?;
        c.distributed = c.distributed.checked_add(t.posted_debits)?;
        c.balance = c.contributed.checked_sub(c.distributed)?;
        c.pending = c.pending.checked_add(t.pending(Direction::Credit)?)?;
    }
    Ok(out.into_values().collect())
}
