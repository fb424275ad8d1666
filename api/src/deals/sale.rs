//! The sale that ends a deal: the proceeds booked against the property's cost basis (the gain
//! or loss on sale, a loan paid off from the proceeds), the deed moved to the buyer through the
//! outbox when the property is tokenized, and the deal moved to `exited` on the day of sale.
//! The final distribution, the redemption of the shares and the closing of the books follow
//! through their own routes.

use propledger_ledger::Ledger;
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{AccountId, Amount, Direction, EntryDraft, IdempotencyKey, Source};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::costs::{books_currency, ledger_error, property_dim};
use super::{Deal, DealStatus, day_field, money, usd};
use crate::error::{Error, FieldError, Result};
use crate::outbox::ActionId;
use crate::types::Money;

/// A sale to record.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSale {
    /// The price (USD).
    pub price: Money,
    /// Commissions, transfer taxes and other costs of selling (USD).
    pub selling_costs: Money,
    /// The loan paid off from the proceeds (USD; none when absent).
    pub loan_payoff: Option<Money>,
    /// The buyer.
    pub buyer: String,
    /// The wallet the deed goes to (the buyer's or its custodian's); required when the property
    /// is tokenized.
    pub deed_to: Option<String>,
    /// The day of closing (`YYYY-MM-DD`).
    pub sold_on: String,
}

/// A recorded sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Sale {
    /// The price.
    pub price: Money,
    /// The costs of selling.
    pub selling_costs: Money,
    /// The loan paid off from the proceeds.
    pub loan_payoff: Money,
    /// The property's cost basis taken off the books.
    pub basis: Money,
    /// Price less selling costs less basis (negative: a loss).
    pub gain: Money,
    /// The buyer.
    pub buyer: String,
    /// The wallet the deed went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deed_to: Option<String>,
    /// The outbox action moving the deed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deed_action: Option<ActionId>,
    /// The day of closing.
    pub sold_on: String,
    /// The ledger entry of the proceeds.
    pub entry_id: i64,
}

/// The checked fields of a sale.
pub struct Checked {
    /// Price, selling costs and loan payoff in cents.
    pub cents: (i64, i64, i64),
    /// The buyer.
    pub buyer: String,
    /// The deed's recipient.
    pub deed_to: Option<alloy::primitives::Address>,
    /// The day of closing.
    pub sold_on: chrono::NaiveDate,
}

/// Checks a sale of `deal`: the deal may exit, and the fields are sound.
pub fn check(deal: &Deal, new: &NewSale) -> Result<Checked> {
    if !deal.status.may_move_to(DealStatus::Exited) {
        return Err(Error::conflict(
            "deal_status",
            format!(
                "the deal is {}; only a listed or stabilized deal (or one under contract, a \
                 wholesale) is sold",
                deal.status.as_str()
            ),
        ));
    }
    let mut e = Vec::new();
    let price = usd("/price", &new.price, &mut e);
    let costs = usd("/selling_costs", &new.selling_costs, &mut e);
    let payoff = new
        .loan_payoff
        .as_ref()
        .map_or(0, |m| usd("/loan_payoff", m, &mut e));
    if e.is_empty() && price <= 0 {
        e.push(FieldError::new("/price/amount", "must be more than zero"));
    }
    if e.is_empty() && costs + payoff > price {
        e.push(FieldError::new(
            "/selling_costs/amount",
            "the costs and the loan payoff are more than the price",
        ));
    }
    let buyer = new.buyer.trim();
    if buyer.is_empty() || buyer.chars().count() > 200 {
        e.push(FieldError::new("/buyer", "must be 1 to 200 characters"));
    }
    let deed_to = match new.deed_to.as_deref() {
        None => None,
        Some(s) => match s.parse::<alloy::primitives::Address>() {
            Ok(a) if !a.is_zero() => Some(a),
            _ => {
                e.push(FieldError::new(
                    "/deed_to",
                    "an address (0x and 40 hex digits), not zero",
                ));
                None
            }
        },
    };
    let sold_on = day_field("/sold_on", &new.sold_on, &mut e);
    if let Some(last) = deal.transitions.last()
        && !sold_on.is_empty()
        && sold_on < last.on
    {
        e.push(FieldError::new(
            "/sold_on",
            format!("before the deal's last move, on {}", last.on),
        ));
    }
    if !e.is_empty() {
        return Err(Error::Invalid(e));
    }
    Ok(Checked {
        cents: (price, costs, payoff),
        buyer: buyer.to_owned(),
        deed_to,
        sold_on: chrono::NaiveDate::parse_from_str(&sold_on, "%Y-%m-%d")
            .map_err(|_| Error::Internal("a checked day".into()))?,
    })
}

/// Books the sale: Dr operating cash (the proceeds less the payoff), Dr loans payable (the
/// payoff), Cr every cost-basis account its balance, and the difference to gain on sale.
/// `seed` identifies the request: the same seed books one entry. Returns (entry id, basis,
/// gain) in the books' currency.
pub async fn book(
    ledger: &Ledger,
    deal: &Deal,
    c: &Checked,
    seed: &str,
) -> Result<(i64, Decimal, Decimal)> {
    let hash = hex::encode(&Sha256::digest(seed.as_bytes())[..8]);
    let key = IdempotencyKey::parse(&format!("sale:{}:{hash}", deal.id))
        .map_err(|_| Error::Internal("a sale's key".into()))?;
    if let Some(done) = ledger.entries().by_key(&key).await.map_err(ledger_error)? {
        // Booked already (a retry after the request failed part way): the basis is what it
        // credited to the cost-basis accounts, the gain what it put on gain on sale.
        let (mut basis, mut gain) = (Decimal::ZERO, Decimal::ZERO);
        for p in &done.postings {
            let a = ledger
                .accounts()
                .get(p.account)
                .await
                .map_err(ledger_error)?;
            let credit = match p.direction {
                Direction::Credit => p.amount.value(),
                Direction::Debit => -p.amount.value(),
            };
            match a.code.as_str() {
                codes::PROPERTY_AT_COST
                | codes::CAPITALIZED_CLOSING_COSTS
                | codes::CAPITALIZED_IMPROVEMENTS => basis += credit,
                codes::GAIN_ON_SALE => gain += credit,
                _ => {}
            }
        }
        return Ok((done.id.get(), basis, gain));
    }
    let currency = books_currency(ledger).await?;
    let amount = |cents: i64| {
        Amount::new(Decimal::new(cents, 2), currency)
            .map_err(|_| Error::Internal("an amount in cents".into()))
    };
    let dim = property_dim(&deal.property_id.to_string())?;
    let chart = ledger
        .accounts()
        .open_property_chart(&dim, currency)
        .await
        .map_err(ledger_error)?;
    let all = ledger
        .accounts()
        .list(&propledger_ledger::account::AccountFilter {
            property: Some(dim),
            ..Default::default()
        })
        .await
        .map_err(ledger_error)?;
    let plain = |code: &str| -> Result<AccountId> {
        chart
            .iter()
            .find(|a| {
                a.code.as_str() == code
                    && a.dimensions.investor.is_none()
                    && a.dimensions.budget_line.is_none()
                    && a.dimensions.deal.is_none()
            })
            .map(|a| a.id)
            .ok_or_else(|| Error::Internal(format!("no account {code} in the chart")))
    };
    let (price, costs, payoff) = c.cents;
    let net = amount(price - costs)?;
    let mut postings: Vec<(AccountId, Direction, Amount)> = Vec::new();
    let mut basis = Amount::zero(currency);
    for a in all.iter().filter(|a| {
        [
            codes::PROPERTY_AT_COST,
            codes::CAPITALIZED_CLOSING_COSTS,
            codes::CAPITALIZED_IMPROVEMENTS,
        ]
        .contains(&a.code.as_str())
    }) {
        let b = ledger
            .accounts()
            .balance(a.id, None)
            .await
            .map_err(ledger_error)?
            .posted()
            .map_err(ledger_error)?;
        if b.is_zero() {
            continue;
        }
        if !b.is_positive() {
            return Err(Error::Corrupt(format!(
                "account {} has a credit balance",
                a.id
            )));
        }
        basis = basis.checked_add(b).map_err(ledger_error)?;
        postings.push((a.id, Direction::Credit, b));
    }
    if payoff > 0 {
        let loans = ledger
            .accounts()
            .balance(plain(codes::LOANS_PAYABLE)?, None)
            .await
            .map_err(ledger_error)?
            .posted()
            .map_err(ledger_error)?;
        if amount(payoff)?.value() > loans.value() {
            return Err(Error::invalid(
                "/loan_payoff/amount",
                format!("more than the loans payable, {}", loans.value()),
            ));
        }
        postings.push((
            plain(codes::LOANS_PAYABLE)?,
            Direction::Debit,
            amount(payoff)?,
        ));
    }
    if price - costs - payoff > 0 {
        postings.push((
            plain(codes::OPERATING_CASH)?,
            Direction::Debit,
            amount(price - costs - payoff)?,
        ));
    }
    let gain = net.checked_sub(basis).map_err(ledger_error)?;
    if gain.is_positive() {
        postings.push((plain(codes::GAIN_ON_SALE)?, Direction::Credit, gain));
    } else if !gain.is_zero() {
        postings.push((
            plain(codes::GAIN_ON_SALE)?,
            Direction::Debit,
            gain.negated(),
        ));
    }
    let source = Source::operator(&format!("deal{}-sale-{hash}", deal.id.0.simple()))
        .map_err(|_| Error::Internal("a sale's reference".into()))?;
    let mut draft = EntryDraft::builder(key, c.sold_on, source)
        .description(&format!("Sale of the property to {}", c.buyer));
    for (account, direction, a) in postings {
        draft = draft.posting(account, direction, a);
    }
    let receipt = ledger
        .entries()
        .record(draft.build().map_err(ledger_error)?)
        .await
        .map_err(ledger_error)?;
    Ok((receipt.id.get(), basis.value(), gain.value()))
}

/// The sale as the deal keeps it.
pub fn record(
    c: &Checked,
    entry_id: i64,
    basis: Decimal,
    gain: Decimal,
    deed_action: Option<ActionId>,
) -> Sale {
    let (price, costs, payoff) = c.cents;
    let dollars = |d: Decimal| {
        let mut d = d.round_dp(2);
        d.rescale(2);
        Money {
            amount: d.to_string(),
            currency: "USD".to_owned(),
        }
    };
    Sale {
        price: money(price),
        selling_costs: money(costs),
        loan_payoff: money(payoff),
        basis: dollars(basis),
        gain: dollars(gain),
        buyer: c.buyer.clone(),
        deed_to: c.deed_to.map(|a| a.to_checksum(None)),
        deed_action,
        sold_on: c.sold_on.format("%Y-%m-%d").to_string(),
        entry_id,
    }
}
