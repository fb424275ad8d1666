//! Closing a property's books at its wind-up: one entry, dated the closing day, that brings every
//! income and expense account to zero and allocates the net income to the investors' capital
//! accounts, and likewise closes the distributions booked to the property (not to an investor)
//! into them, each in proportion to the investors' positive capital balances that day (cut to
//! the books' scale, the last investor taking the remainder so the parts add up exactly). The
//! capital accounts then hold what each investor has left in the property.

use chrono::NaiveDate;
use propledger_ledger::Ledger;
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{
    AccountId, AccountType, Amount, Direction, EntryDraft, IdempotencyKey, Source,
};
use propledger_ledger::report::Scope;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::cashflow::spread;
use super::property_dim;
use crate::deals::costs::ledger_error;
use crate::error::{Error, Result};

/// The closing of a property's books.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Closing {
    /// The property.
    pub property: String,
    /// The closing day.
    pub as_of: String,
    /// The closing entry.
    pub entry_id: i64,
    /// Net income closed into the capital accounts (negative: a loss).
    pub net_income: String,
    /// Distributions closed into the capital accounts.
    pub distributions: String,
}

/// Closes the property's books as of the end of `as_of` (see the module). Closing the same day
/// again answers with the same entry; books with nothing to close are a 409.
pub async fn close(ledger: &Ledger, property: &str, as_of: NaiveDate) -> Result<Closing> {
    let dim = property_dim(property)?;
    let totals = ledger
        .reports()
        .totals(&Scope::property(dim.clone()), None, Some(as_of))
        .await
        .map_err(ledger_error)?;
    let Some(first) = totals.first() else {
        return Err(Error::NotFound("property's books"));
    };
    let currency = first.account.currency;
    let scale = currency.scale();
    let shown = |v: Decimal| {
        let mut v = v;
        v.rescale(scale);
        v.to_string()
    };
    let day = as_of.format("%Y-%m-%d").to_string();
    let key = IdempotencyKey::parse(&format!("close:{}:{day}", dim.as_str()))
        .map_err(|_| Error::Internal("a closing's key".into()))?;
    if let Some(done) = ledger.entries().by_key(&key).await.map_err(ledger_error)? {
        // Closed already that day: the closing on record.
        let (mut net_income, mut distributions) = (Decimal::ZERO, Decimal::ZERO);
        for p in &done.postings {
            let a = ledger
                .accounts()
                .get(p.account)
                .await
                .map_err(ledger_error)?;
            let signed = match p.direction {
                Direction::Debit => p.amount.value(),
                Direction::Credit => -p.amount.value(),
            };
            match a.account_type {
                AccountType::Income | AccountType::Expense => net_income += signed,
                AccountType::Equity
                    if a.code.as_str() == codes::DISTRIBUTIONS
                        && a.dimensions.investor.is_none() =>
                {
                    distributions -= signed;
                }
                _ => {}
            }
        }
        return Ok(Closing {
            property: property.to_owned(),
            as_of: day,
            entry_id: done.id.get(),
            net_income: shown(net_income),
            distributions: shown(distributions),
        });
    }
    let amount = |v: Decimal| Amount::new(v, currency).map_err(ledger_error);
    let mut postings: Vec<(AccountId, Direction, Amount)> = Vec::new();
    let (mut net_income, mut distributions) = (Decimal::ZERO, Decimal::ZERO);
    let mut investors: Vec<(AccountId, Decimal)> = Vec::new();
    for t in &totals {
        let a = &t.account;
        let debit = t
            .totals
            .posted(Direction::Debit)
            .map_err(ledger_error)?
            .value();
        match a.account_type {
            AccountType::Income | AccountType::Expense if !debit.is_zero() => {
                // Bring it to zero: a debit balance is credited, a credit one debited.
                net_income -= debit;
                let side = if debit > Decimal::ZERO {
                    Direction::Credit
                } else {
                    Direction::Debit
                };
                postings.push((a.id, side, amount(debit.abs())?));
            }
            AccountType::Equity
                if a.code.as_str() == codes::DISTRIBUTIONS
                    && a.dimensions.investor.is_none()
                    && debit > Decimal::ZERO =>
            {
                distributions += debit;
                postings.push((a.id, Direction::Credit, amount(debit)?));
            }
            // A credit balance: the investor's capital.
            AccountType::Equity
                if a.code.as_str() == codes::INVESTOR_CAPITAL
                    && a.dimensions.investor.is_some()
                    && debit < Decimal::ZERO =>
            {
                investors.push((a.id, -debit));
            }
            _ => {}
        }
    }
    if postings.is_empty() {
        return Err(Error::conflict(
            "nothing_to_close",
            "the books have no income, expense or distribution to close that day",
        ));
    }
    if investors.is_empty() {
        return Err(Error::conflict(
            "no_investors",
            "no investor holds capital in the property: nothing to allocate to",
        ));
    }
    let weights: Vec<Decimal> = investors.iter().map(|(_, w)| *w).collect();
    // What the investors receive: the net income, less the distributions closed.
    let allocated = net_income - distributions;
    for ((account, _), part) in investors.iter().zip(spread(allocated, &weights, scale)) {
        if part > Decimal::ZERO {
            postings.push((*account, Direction::Credit, amount(part)?));
        } else if part < Decimal::ZERO {
            postings.push((*account, Direction::Debit, amount(-part)?));
        }
    }
    let source = Source::operator(&format!("close-{}-{day}", dim.as_str()))
        .map_err(|_| Error::Internal("a closing's reference".into()))?;
    let mut draft = EntryDraft::builder(key, as_of, source).description(&format!(
        "Books closed on {day}: net income and distributions to capital"
    ));
    for (account, direction, a) in postings {
        draft = draft.posting(account, direction, a);
    }
    let receipt = ledger
        .entries()
        .record(draft.build().map_err(ledger_error)?)
        .await
        .map_err(|e| match e {
            propledger_ledger::Error::IdempotencyConflict { .. } => Error::conflict(
                "already_closed",
                format!("the books were closed on {day} with other figures"),
            ),
            other => ledger_error(other),
        })?;
    Ok(Closing {
        property: property.to_owned(),
        as_of: day,
        entry_id: receipt.id.get(),
        net_income: shown(net_income),
        distributions: shown(distributions),
    })
}
