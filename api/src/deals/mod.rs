//! Deals: a property's acquisition and what is planned for it (strategy, price, closing
//! costs, financing, repairs, expected profit), and its pipeline status with every dated move.
//! Money is USD (the books' currency), exact to the cent.
//!
//! - [`pipeline`]: the statuses and the moves allowed between them (pure).
//! - [`costs`]: the purchase price and closing costs, booked as balanced ledger entries.
//! - [`finance`]: rates of return (IRR, dated XIRR, annualizing) and rounding, in exact
//!   decimals (pure).
//! - [`proforma`]: a deal's projection under stated assumptions, hold or flip (pure).
//! - [`returns`]: a deal's actual returns read from its property's books, beside what it
//!   expected.
//! - here: the deal's fields, their checks, and storage (`api_deals`, `api_deal_transitions`).

pub mod costs;
pub mod finance;
pub mod pipeline;
pub mod proforma;
pub mod realized;
pub mod returns;
pub mod sale;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use pipeline::DealStatus;

use crate::auth::Actor;
use crate::db::{Db, Exec, Query, Tx};
use crate::error::{Error, FieldError, Result};
use crate::properties::{self, PropertyId};
use crate::types::{Currency, Money, Page, PageRequest, now_ms, rfc3339, typed_id};

typed_id!(
    /// A deal's id.
    DealId,
    "deal"
);

/// Longest lender name.
pub const LENDER_MAX_LEN: usize = 200;
/// Longest loan term, months (50 years).
pub const TERM_MAX_MONTHS: i64 = 600;

/// How the property is to make money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Buy, rehab, sell.
    Flip,
    /// Buy and rent.
    Hold,
    /// Put under contract and assign the contract.
    Wholesale,
}

/// A loan financing the purchase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Financing {
    /// Who lends.
    pub lender: String,
    /// The amount lent.
    pub principal: Money,
    /// Yearly interest rate, percent, as decimal text (`"7.25"`), at most four decimals.
    #[schema(example = "7.25")]
    pub rate_percent: String,
    /// Term in months.
    pub term_months: i64,
}

/// A deal as written by an operator.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeal {
    /// The property bought.
    #[schema(value_type = String, format = Uuid)]
    pub property_id: String,
    /// How it is to make money.
    pub strategy: Strategy,
    /// The purchase price.
    pub purchase_price: Money,
    /// Closing costs expected (title, escrow, fees); zero when absent.
    pub closing_costs: Option<Money>,
    /// The loan, when the purchase is financed.
    pub financing: Option<Financing>,
    /// Repairs estimated; zero when absent.
    pub estimated_repairs: Option<Money>,
    /// The profit expected over the deal's life.
    pub expected_profit: Option<Money>,
    /// The day the lead was found (`YYYY-MM-DD`); today (UTC) when absent.
    pub found_on: Option<String>,
}

/// A move of the pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Transition {
    /// The status left (absent for the first, into `lead`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<DealStatus>,
    /// The status entered.
    pub to: DealStatus,
    /// The day it happened (`YYYY-MM-DD`).
    pub on: String,
    /// Who recorded it.
    pub by: String,
    /// When it was recorded.
    pub recorded_at: String,
}

/// Longest text of an offer's party, a note or a milestone's name.
pub const TEXT_MAX_LEN: usize = 200;

/// Which way an offer went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferDirection {
    /// Made by the platform (to buy, or to sell when exiting).
    Made,
    /// Received from a counterparty.
    Received,
}

/// An offer made or received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Offer {
    /// Made or received.
    pub direction: OfferDirection,
    /// The price offered.
    pub amount: Money,
    /// The counterparty.
    pub party: String,
    /// The day it was made (`YYYY-MM-DD`).
    pub on: String,
    /// A note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who recorded it.
    pub by: String,
    /// When it was recorded.
    pub recorded_at: String,
}

/// An offer to record.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOffer {
    /// Made or received.
    pub direction: OfferDirection,
    /// The price offered (USD).
    pub amount: Money,
    /// The counterparty.
    pub party: String,
    /// The day it was made (`YYYY-MM-DD`).
    pub on: String,
    /// A note.
    pub note: Option<String>,
}

/// A milestone of the deal's timeline (inspection, appraisal, financing approved, closing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Milestone {
    /// What it is.
    pub name: String,
    /// When it is due (`YYYY-MM-DD`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_on: Option<String>,
    /// When it was reached (`YYYY-MM-DD`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_on: Option<String>,
    /// Who recorded it.
    pub by: String,
    /// When it was recorded.
    pub recorded_at: String,
}

/// A milestone to record: at least one of its dates.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMilestone {
    /// What it is.
    pub name: String,
    /// When it is due (`YYYY-MM-DD`).
    pub due_on: Option<String>,
    /// When it was reached (`YYYY-MM-DD`).
    pub done_on: Option<String>,
}

fn text(pointer: &str, t: &str, errors: &mut Vec<FieldError>) -> String {
    let t = t.trim();
    if t.is_empty() || t.chars().count() > TEXT_MAX_LEN {
        errors.push(FieldError::new(
            pointer,
            format!("must be 1 to {TEXT_MAX_LEN} characters"),
        ));
    }
    t.to_owned()
}

pub(crate) fn day_field(pointer: &str, t: &str, errors: &mut Vec<FieldError>) -> String {
    match parse_day(pointer, t) {
        Ok(d) => d.format("%Y-%m-%d").to_string(),
        Err(Error::Invalid(mut e)) => {
            errors.append(&mut e);
            String::new()
        }
        Err(_) => String::new(),
    }
}

/// Records an offer on a deal.
pub async fn add_offer(tx: &mut Tx, actor: &Actor, id: DealId, new: &NewOffer) -> Result<Deal> {
    let mut errors = Vec::new();
    let amount = usd("/amount", &new.amount, &mut errors);
    let party = text("/party", &new.party, &mut errors);
    let on = day_field("/on", &new.on, &mut errors);
    let note = new.note.as_deref().map(|n| text("/note", n, &mut errors));
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let now = now_ms();
    let offer = Offer {
        direction: new.direction,
        amount: money(amount),
        party,
        on,
        note,
        by: actor.reference(),
        recorded_at: rfc3339(now),
    };
    change(tx, id, now, |d| {
        d.offers.push(offer);
        Ok(())
    })
    .await
}

/// Records a milestone on a deal.
pub async fn add_milestone(
    tx: &mut Tx,
    actor: &Actor,
    id: DealId,
    new: &NewMilestone,
) -> Result<Deal> {
    let mut errors = Vec::new();
    let name = text("/name", &new.name, &mut errors);
    let due_on = new
        .due_on
        .as_deref()
        .map(|d| day_field("/due_on", d, &mut errors));
    let done_on = new
        .done_on
        .as_deref()
        .map(|d| day_field("/done_on", d, &mut errors));
    if due_on.is_none() && done_on.is_none() {
        errors.push(FieldError::new(
            "/due_on",
            "give a due date, a done date or both",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let now = now_ms();
    let milestone = Milestone {
        name,
        due_on,
        done_on,
        by: actor.reference(),
        recorded_at: rfc3339(now),
    };
    change(tx, id, now, |d| {
        d.milestones.push(milestone);
        Ok(())
    })
    .await
}

/// Applies `f` to the stored deal and writes it at the next version (a concurrent change is a
/// conflict).
pub(crate) async fn change(
    tx: &mut Tx,
    id: DealId,
    now: i64,
    f: impl FnOnce(&mut Deal) -> Result<()>,
) -> Result<Deal> {
    let mut deal = get(tx.exec(), id).await?;
    f(&mut deal)?;
    deal.version += 1;
    deal.updated_at = rfc3339(now);
    let changed = Query::new(
        "UPDATE api_deals SET status = $1, version = $2, updated_at = $3, doc = $4 \
         WHERE id = $5 AND version = $6",
    )
    .bind(deal.status.as_str())
    .bind(deal.version)
    .bind(now)
    .bind(render(&deal)?)
    .bind(id.to_string())
    .bind(deal.version - 1)
    .execute(tx.exec())
    .await?;
    if changed == 0 {
        return Err(Error::conflict(
            "deal_changed",
            "the deal changed meanwhile; read it again",
        ));
    }
    Ok(deal)
}

/// A request to move a deal.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// The status to move to.
    pub to: DealStatus,
    /// The day it happened (`YYYY-MM-DD`); today (UTC) when absent.
    pub on: Option<String>,
}

/// A deal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Deal {
    /// Its id.
    pub id: DealId,
    /// The property.
    pub property_id: PropertyId,
    /// How it is to make money.
    pub strategy: Strategy,
    /// Where it stands.
    pub status: DealStatus,
    /// The purchase price.
    pub purchase_price: Money,
    /// Closing costs expected.
    pub closing_costs: Money,
    /// The loan, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub financing: Option<Financing>,
    /// Repairs estimated.
    pub estimated_repairs: Money,
    /// The profit expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_profit: Option<Money>,
    /// Every move of the pipeline, oldest first.
    pub transitions: Vec<Transition>,
    /// Offers made and received, oldest first.
    #[serde(default)]
    pub offers: Vec<Offer>,
    /// The timeline of milestones, as recorded.
    #[serde(default)]
    pub milestones: Vec<Milestone>,
    /// The sale that ended the deal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale: Option<sale::Sale>,
    /// Changes so far.
    pub version: i64,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// Minor units (cents) of a USD amount, or why not.
pub(crate) fn usd(pointer: &str, m: &Money, errors: &mut Vec<FieldError>) -> i64 {
    if m.currency != Currency::USD.code() {
        errors.push(FieldError::new(
            format!("{pointer}/currency"),
            "deals are kept in USD, the books' currency",
        ));
        return 0;
    }
    match Currency::USD.minor_units(&format!("{pointer}/amount"), &m.amount) {
        Ok(v) => v,
        Err(Error::Invalid(mut e)) => {
            errors.append(&mut e);
            0
        }
        Err(_) => 0,
    }
}

pub(crate) fn money(minor: i64) -> Money {
    Money::from_minor(Currency::USD, minor)
}

/// Parses a day (`YYYY-MM-DD`).
pub fn parse_day(pointer: &str, text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Error::invalid(pointer, "expected a date such as 2026-12-01"))
}

impl NewDeal {
    /// Checks every field; the errors name each bad one. Amounts come back normalized.
    fn check(&self) -> Result<(PropertyId, NewDeal)> {
        let mut errors = Vec::new();
        let property = PropertyId::parse(&self.property_id)
            .map_err(|_| Error::invalid("/property_id", "not a property id"));
        let price = usd("/purchase_price", &self.purchase_price, &mut errors);
        let zero = money(0);
        let closing = usd(
            "/closing_costs",
            self.closing_costs.as_ref().unwrap_or(&zero),
            &mut errors,
        );
        let repairs = usd(
            "/estimated_repairs",
            self.estimated_repairs.as_ref().unwrap_or(&zero),
            &mut errors,
        );
        let profit = self
            .expected_profit
            .as_ref()
            .map(|p| usd("/expected_profit", p, &mut errors));
        let found_on = self
            .found_on
            .as_deref()
            .map(|d| day_field("/found_on", d, &mut errors));
        let financing = self.financing.as_ref().map(|f| {
            let lender = f.lender.trim();
            if lender.is_empty() || lender.chars().count() > LENDER_MAX_LEN {
                errors.push(FieldError::new(
                    "/financing/lender",
                    format!("must be 1 to {LENDER_MAX_LEN} characters"),
                ));
            }
            let principal = usd("/financing/principal", &f.principal, &mut errors);
            let rate = f.rate_percent.parse::<Decimal>().ok().filter(|r| {
                !r.is_sign_negative() && *r <= Decimal::from(100) && r.scale() <= 4
            });
            if rate.is_none() {
                errors.push(FieldError::new(
                    "/financing/rate_percent",
                    "expected a percentage from 0 to 100 with at most four decimals, such as \"7.25\"",
                ));
            }
            if !(1..=TERM_MAX_MONTHS).contains(&f.term_months) {
                errors.push(FieldError::new(
                    "/financing/term_months",
                    format!("must be 1 to {TERM_MAX_MONTHS}"),
                ));
            }
            Financing {
                lender: lender.to_owned(),
                principal: money(principal),
                rate_percent: rate.map(|r| r.normalize().to_string()).unwrap_or_default(),
                term_months: f.term_months,
            }
        });
        let property = match property {
            Ok(p) => Some(p),
            Err(Error::Invalid(mut e)) => {
                errors.append(&mut e);
                None
            }
            Err(e) => return Err(e),
        };
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let property = property.ok_or_else(|| Error::Internal("no property".into()))?;
        Ok((
            property,
            NewDeal {
                property_id: property.to_string(),
                strategy: self.strategy,
                purchase_price: money(price),
                closing_costs: Some(money(closing)),
                financing,
                estimated_repairs: Some(money(repairs)),
                expected_profit: profit.map(money),
                found_on,
            },
        ))
    }
}

fn render(d: &Deal) -> Result<String> {
    serde_json::to_string(d).map_err(|e| Error::Internal(format!("rendering a deal: {e}")))
}

fn parse(doc: &str) -> Result<Deal> {
    serde_json::from_str(doc).map_err(|_| Error::Corrupt("a stored deal".to_owned()))
}

/// Creates a deal on a property, as a `lead` found on its `found_on` day (today by default).
pub async fn create(tx: &mut Tx, actor: &Actor, new: &NewDeal) -> Result<Deal> {
    let (property, new) = new.check()?;
    // The property must exist (a 422 naming the field, not a 404 of the route).
    match properties::get(tx.exec(), property).await {
        Ok(_) => {}
        Err(Error::NotFound(_)) => return Err(Error::invalid("/property_id", "no such property")),
        Err(e) => return Err(e),
    }
    let id = DealId::new();
    let now = now_ms();
    let by = actor.reference();
    let found_on = new.found_on.clone().unwrap_or_else(|| {
        chrono::Utc::now()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string()
    });
    let deal = Deal {
        id,
        property_id: property,
        strategy: new.strategy,
        status: DealStatus::Lead,
        purchase_price: new.purchase_price,
        closing_costs: new.closing_costs.unwrap_or_else(|| money(0)),
        financing: new.financing,
        estimated_repairs: new.estimated_repairs.unwrap_or_else(|| money(0)),
        expected_profit: new.expected_profit,
        transitions: vec![Transition {
            from: None,
            to: DealStatus::Lead,
            on: found_on.clone(),
            by: by.clone(),
            recorded_at: rfc3339(now),
        }],
        offers: Vec::new(),
        milestones: Vec::new(),
        sale: None,
        version: 1,
        created_by: by.clone(),
        created_at: rfc3339(now),
        updated_at: rfc3339(now),
    };
    Query::new(
        "INSERT INTO api_deals (id, property_id, status, version, created_by, created_at, \
         updated_at, doc) VALUES ($1, $2, $3, 1, $4, $5, $5, $6)",
    )
    .bind(id.to_string())
    .bind(property.to_string())
    .bind(DealStatus::Lead.as_str())
    .bind(by.clone())
    .bind(now)
    .bind(render(&deal)?)
    .execute(tx.exec())
    .await?;
    insert_transition(tx, id, 1, None, DealStatus::Lead, &found_on, &by, now).await?;
    Ok(deal)
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_transition(
    tx: &mut Tx,
    id: DealId,
    seq: i64,
    from: Option<DealStatus>,
    to: DealStatus,
    on: &str,
    by: &str,
    at: i64,
) -> Result<()> {
    Query::new(
        "INSERT INTO api_deal_transitions (deal_id, seq, from_status, to_status, effective_on, \
         recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.to_string())
    .bind(seq)
    .bind(from.map(|f| f.as_str()))
    .bind(to.as_str())
    .bind(on.to_owned())
    .bind(by.to_owned())
    .bind(at)
    .execute(tx.exec())
    .await?;
    Ok(())
}

/// One deal.
pub async fn get(exec: Exec<'_>, id: DealId) -> Result<Deal> {
    let row = Query::new("SELECT doc FROM api_deals WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(exec)
        .await?
        .ok_or(Error::NotFound("deal"))?;
    parse(&row.get::<String>("doc")?)
}

/// Moves a deal along its pipeline. A move the pipeline does not allow is a conflict naming
/// the current status; the move's day may not be before the last move's.
pub async fn transition(
    tx: &mut Tx,
    actor: &Actor,
    id: DealId,
    req: &TransitionRequest,
) -> Result<Deal> {
    let on = match &req.on {
        Some(text) => parse_day("/on", text)?,
        None => chrono::Utc::now().date_naive(),
    };
    let deal = get(tx.exec(), id).await?;
    let current = deal.status;
    if !current.may_move_to(req.to) {
        let allowed: Vec<&str> = current.next().iter().map(|s| s.as_str()).collect();
        return Err(Error::conflict(
            "deal_status",
            format!(
                "the deal is {}; it cannot move to {} (allowed: {})",
                current.as_str(),
                req.to.as_str(),
                if allowed.is_empty() {
                    "none, the deal is over".to_owned()
                } else {
                    allowed.join(", ")
                }
            ),
        ));
    }
    let on_text = on.format("%Y-%m-%d").to_string();
    if let Some(last) = deal.transitions.last()
        && on_text < last.on
    {
        return Err(Error::invalid(
            "/on",
            format!("before the last move, on {}", last.on),
        ));
    }
    let now = now_ms();
    let by = actor.reference();
    let to = req.to;
    let (text, who) = (on_text.clone(), by.clone());
    let deal = change(tx, id, now, move |d| {
        d.status = to;
        d.transitions.push(Transition {
            from: Some(current),
            to,
            on: text,
            by: who,
            recorded_at: rfc3339(now),
        });
        Ok(())
    })
    .await?;
    let seq = i64::try_from(deal.transitions.len()).unwrap_or(i64::MAX);
    insert_transition(tx, id, seq, Some(current), req.to, &on_text, &by, now).await?;
    Ok(deal)
}

/// Deals in creation order, optionally of one property or in one status.
pub async fn list(
    db: &Db,
    property: Option<PropertyId>,
    status: Option<DealStatus>,
    page: &PageRequest,
) -> Result<Page<Deal>> {
    let rows = Query::new(
        "SELECT id, doc FROM api_deals WHERE id > $1 AND ($2 IS NULL OR property_id = $2) \
         AND ($3 IS NULL OR status = $3) ORDER BY id LIMIT $4",
    )
    .bind(page.after.clone().unwrap_or_default())
    .bind(property.map(|p| p.to_string()))
    .bind(status.map(|s| s.as_str()))
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let items = rows
        .iter()
        .map(|r| parse(&r.get::<String>("doc")?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_probe(items, page, |d| d.id.to_string()))
}
