//! A deal's acquisition and closing costs, booked in the property's books through the ledger's
//! API: each is one balanced entry (Dr property at cost or capitalized closing costs / Cr
//! operating cash or the loan that paid it), exact to the books' minor unit.
//!
//! The ledger holds the record: an entry's operator reference names the deal and the kind of
//! cost (`deal<deal id, 32 hex>-<kind>-<hash>`), so a deal's costs are read back from the books.
//! Its key is made from the caller and their `Idempotency-Key`, so a retry books nothing twice.

use propledger_ledger::Ledger;
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{Amount, DimValue, EntryDraft, IdempotencyKey, Source};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{Deal, parse_day};
use crate::books::money as money_of;
use crate::error::{Error, Result};
use crate::types::Money;

/// The books' currency code: the settlement stablecoin and fiat items alike are USD.
pub const BOOKS_CURRENCY: &str = "USD";
/// Longest memo of a cost.
pub const MEMO_MAX_LEN: usize = 200;

/// What a cost paid for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CostKind {
    /// The purchase price (property at cost).
    Purchase,
    /// Closing costs (capitalized into the property's basis).
    Closing,
}

impl CostKind {
    fn as_str(self) -> &'static str {
        match self {
            CostKind::Purchase => "purchase",
            CostKind::Closing => "closing",
        }
    }

    fn account(self) -> &'static str {
        match self {
            CostKind::Purchase => codes::PROPERTY_AT_COST,
            CostKind::Closing => codes::CAPITALIZED_CLOSING_COSTS,
        }
    }
}

/// What paid a cost (or that it is owed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaidFrom {
    /// The property's operating (bank) cash.
    #[default]
    Cash,
    /// The property's treasury (the settlement token the offering raised).
    Treasury,
    /// The deal's loan (loans payable).
    Loan,
    /// Not paid yet (accounts payable).
    Payable,
}

impl PaidFrom {
    fn account(self) -> &'static str {
        match self {
            PaidFrom::Cash => codes::OPERATING_CASH,
            PaidFrom::Treasury => codes::TREASURY_CASH,
            PaidFrom::Loan => codes::LOANS_PAYABLE,
            PaidFrom::Payable => codes::ACCOUNTS_PAYABLE,
        }
    }
}

/// A cost to book.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCost {
    /// What it paid for.
    pub kind: CostKind,
    /// How much: USD, or another currency with its `conversion`.
    pub amount: Money,
    /// Required for an amount in another currency than USD: the rate to USD and its source
    /// (the entry is booked in USD, its description naming the original amount and the rate).
    pub conversion: Option<crate::fx::Conversion>,
    /// The day it was paid (`YYYY-MM-DD`): the entry's effective date.
    pub paid_on: String,
    /// What paid it (default `cash`).
    #[serde(default)]
    pub paid_from: PaidFrom,
    /// A note for the entry's description.
    pub memo: Option<String>,
}

/// A cost as booked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Cost {
    /// The ledger entry.
    pub entry_id: i64,
    /// What it paid for.
    pub kind: CostKind,
    /// How much.
    pub amount: Money,
    /// The entry's status (`posted`; `voided` or reversed ones are listed too).
    pub status: String,
}

/// The books' dimension of a property: `prop-` and its deed token id, as the indexer names the
/// charts it opens. The API's property id names the same books: tokenizing a property mints
/// its deed with its id as a number ([`crate::tokenization::token_id`]), so the costs booked
/// before and the chain's events after land in one chart.
pub fn property_dim(property: &str) -> Result<DimValue> {
    let number = match uuid::Uuid::try_parse(property) {
        Ok(id) => crate::tokenization::token_id(crate::properties::PropertyId(id)).to_string(),
        Err(_) => property.to_owned(),
    };
    DimValue::parse(&format!("prop-{number}"))
        .map_err(|_| Error::invalid("property", "not a property of the books"))
}

/// The books' USD: the scale the ledger keeps it at (the settlement token's decimals, set when
/// the indexer opens the first property's books).
pub(crate) async fn books_currency(ledger: &Ledger) -> Result<propledger_ledger::core::Currency> {
    ledger
        .accounts()
        .currencies()
        .await
        .map_err(ledger_error)?
        .into_iter()
        .find(|c| c.code().as_str() == BOOKS_CURRENCY)
        .ok_or_else(|| {
            Error::Unavailable(
                "the books' currency is not set yet (the indexer sets it with the first property)"
                    .to_owned(),
            )
        })
}

/// A ledger failure as the API shows it.
pub(crate) fn ledger_error(e: propledger_ledger::Error) -> Error {
    match e {
        propledger_ledger::Error::IdempotencyConflict { .. } => Error::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key booked another entry",
        ),
        propledger_ledger::Error::NegativeBalance { .. } => Error::conflict(
            "insufficient_funds",
            "the account paying would go below zero; nothing was booked",
        ),
        propledger_ledger::Error::Database(e) => Error::Database(e),
        other => Error::Internal(format!("the ledger: {other}")),
    }
}

fn deal_ref(deal: &Deal) -> String {
    format!("deal{}", deal.id.0.simple())
}

/// Books a cost of `deal`. `seed` identifies the request (caller and `Idempotency-Key`): the
/// same seed books the same entry once.
pub async fn book(ledger: &Ledger, deal: &Deal, new: &NewCost, seed: &str) -> Result<Cost> {
    let mut errors = Vec::new();
    let mut converted = None;
    let value =
        if new.amount.currency == BOOKS_CURRENCY {
            if new.conversion.is_some() {
                errors.push(crate::error::FieldError::new(
                    "/conversion",
                    "only an amount in another currency than USD is converted",
                ));
            }
            let value =
                new.amount.amount.parse::<Decimal>().ok().filter(|v| {
                    v.is_sign_positive() && !v.is_zero() && new.amount.amount.len() <= 40
                });
            if value.is_none() {
                errors.push(crate::error::FieldError::new(
                    "/amount/amount",
                    "expected a positive decimal amount such as \"1250.00\"",
                ));
            }
            value
        } else {
            crate::fx::to_usd(
                "/amount",
                &new.amount,
                new.conversion.as_ref(),
                "/conversion",
                &mut errors,
            )
            .map(|(usd, c)| {
                converted = c;
                usd
            })
        };
    let date = match parse_day("/paid_on", &new.paid_on) {
        Ok(d) => Some(d),
        Err(Error::Invalid(mut e)) => {
            errors.append(&mut e);
            None
        }
        Err(e) => return Err(e),
    };
    let memo = new.memo.as_deref().map(str::trim).filter(|m| !m.is_empty());
    if memo.is_some_and(|m| m.chars().count() > MEMO_MAX_LEN) {
        errors.push(crate::error::FieldError::new(
            "/memo",
            format!("at most {MEMO_MAX_LEN} characters"),
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let (Some(value), Some(date)) = (value, date) else {
        return Err(Error::Internal("checked fields missing".into()));
    };
    let currency = books_currency(ledger).await?;
    let amount = Amount::new(value, currency).map_err(|_| {
        Error::invalid(
            "/amount/amount",
            format!("the books keep USD to {} decimal places", currency.scale()),
        )
    })?;
    let dim = property_dim(&deal.property_id.to_string())?;
    let chart = ledger
        .accounts()
        .open_property_chart(&dim, currency)
        .await
        .map_err(ledger_error)?;
    let account = |code: &str| {
        chart
            .iter()
            .find(|a| {
                a.code.as_str() == code
                    && a.dimensions.investor.is_none()
                    && a.dimensions.budget_line.is_none()
            })
            .map(|a| a.id)
            .ok_or_else(|| Error::Internal(format!("no account {code} in the chart")))
    };
    let (debit, credit) = (
        account(new.kind.account())?,
        account(new.paid_from.account())?,
    );
    let hash = hex::encode(&Sha256::digest(seed.as_bytes())[..8]);
    let key = IdempotencyKey::parse(&format!("deal:{}:{hash}", deal.id))
        .map_err(|_| Error::Internal("a cost's key".into()))?;
    let source = Source::operator(&format!("{}-{}-{hash}", deal_ref(deal), new.kind.as_str()))
        .map_err(|_| Error::Internal("a cost's reference".into()))?;
    let what = match new.kind {
        CostKind::Purchase => "Purchase price",
        CostKind::Closing => "Closing costs",
    };
    let what = match &converted {
        Some(c) => format!("{what} of deal {}, {}", deal.id, c.describe()),
        None => format!("{what} of deal {}", deal.id),
    };
    let description = match memo {
        Some(m) => format!("{what}: {m}"),
        None => what,
    };
    let draft = EntryDraft::builder(key, date, source)
        .description(&description)
        .debit(debit, amount)
        .credit(credit, amount)
        .build()
        .map_err(ledger_error)?;
    let receipt = ledger.entries().record(draft).await.map_err(ledger_error)?;
    Ok(Cost {
        entry_id: receipt.id.get(),
        kind: new.kind,
        amount: money_of(amount),
        status: receipt.status.as_str().to_owned(),
    })
}

/// The costs booked for `deal`, oldest first.
pub async fn list(ledger: &Ledger, deal: &Deal) -> Result<Vec<Cost>> {
    let prefix = deal_ref(deal);
    let found = ledger
        .entries()
        .with_operator_reference(&prefix)
        .await
        .map_err(ledger_error)?;
    let mut out = Vec::with_capacity(found.len());
    for e in found {
        let Source::Operator(reference) = &e.source else {
            continue;
        };
        let kind = match reference
            .strip_prefix(&prefix)
            .and_then(|r| r.split('-').nth(1))
        {
            Some("purchase") => CostKind::Purchase,
            Some("closing") => CostKind::Closing,
            _ => continue,
        };
        out.push(Cost {
            entry_id: e.id.get(),
            kind,
            amount: money_of(e.amount),
            status: e.status.as_str().to_owned(),
        });
    }
    Ok(out)
}
