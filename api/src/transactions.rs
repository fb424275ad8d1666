//! Rent and expenses: what a property received and paid, entered by operators or posted by a
//! recurring rent schedule, each booked as one balanced ledger entry. USD, exact to the cent.
//!
//! | category | paid through the bank | paid on chain |
//! |---|---|---|
//! | `rent` | Dr operating cash / Cr rental income | Dr other income / Cr rental income |
//! | an expense | Dr its expense account / Cr operating cash | refused (the treasury pays only rehab draws and distributions) |
//! | `treasury_transfer` | refused | Dr other income / Cr operating cash |
//!
//! A treasury transfer is cash moved from the property's bank account into its treasury (sale
//! proceeds or rent collected by the bank, to be paid out on chain): the operator deposits it
//! on chain under a reference and records the transfer under the same one. The indexer books
//! the deposit as other income; the transfer takes it back out of income and out of the
//! bank's cash, so the books show cash moved, not earned.
//!
//! Rent paid on chain is a deposit into the property's treasury, which the indexer books from
//! the chain as other income under the deposit's reference; the transaction recognizes it as
//! rent, so it names that reference. A bank transaction may name a reference too (a deposit of
//! the cash into the treasury, an invoice's hash): its entry then carries it, and the indexer's
//! reconciliation and the transaction's `matched` field pair it with the chain event that
//! carries the same one.
//!
//! The ledger entry is written first under a key made from the caller and their
//! `Idempotency-Key` (a schedule's month for a scheduled rent), then the row in the same
//! transaction as the response; a retry after a crash finds the entry and writes the row once.

use chrono::{Datelike, Months, NaiveDate};
use propledger_ledger::Ledger;
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{Amount, EntryDraft, IdempotencyKey, Source};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::Actor;
use crate::books::property_dim;
use crate::db::{Db, Exec, Query, Tx};
use crate::deals::costs::{books_currency, ledger_error};
use crate::deals::{day_field, money, usd};
use crate::documents::{self, DocumentId};
use crate::error::{Error, FieldError, Result};
use crate::fx::{self, Conversion, Converted};
use crate::properties::{self, PropertyId};
use crate::types::{Money, Page, PageRequest, now_ms, rfc3339, typed_id};

typed_id!(
    /// A transaction's id.
    TransactionId,
    "transaction"
);

typed_id!(
    /// A rent schedule's id.
    ScheduleId,
    "rent schedule"
);

/// Longest counterparty name.
pub const COUNTERPARTY_MAX_LEN: usize = 200;
/// Longest memo.
pub const MEMO_MAX_LEN: usize = 500;
/// Most scheduled rents one run posts.
pub const MAX_POSTED_PER_RUN: usize = 1_000;

/// What a transaction was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Rent received.
    Rent,
    /// Property management fees.
    Management,
    /// Property taxes.
    Taxes,
    /// Insurance.
    Insurance,
    /// Utilities.
    Utilities,
    /// Repairs and maintenance (not capitalized).
    Repairs,
    /// Homeowners' association dues.
    Hoa,
    /// Any other expense.
    Other,
    /// Cash moved from the bank into the treasury (paid on chain, with the deposit's
    /// reference): neither income nor expense.
    TreasuryTransfer,
}

impl Category {
    fn as_str(self) -> &'static str {
        match self {
            Category::Rent => "rent",
            Category::Management => "management",
            Category::Taxes => "taxes",
            Category::Insurance => "insurance",
            Category::Utilities => "utilities",
            Category::Repairs => "repairs",
            Category::Hoa => "hoa",
            Category::Other => "other",
            Category::TreasuryTransfer => "treasury_transfer",
        }
    }

    /// The income or expense account it books to.
    fn account(self) -> &'static str {
        match self {
            Category::Rent => codes::RENTAL_INCOME,
            Category::Management => codes::MANAGEMENT_FEES,
            Category::Taxes => codes::PROPERTY_TAXES,
            Category::Insurance => codes::INSURANCE,
            Category::Utilities => codes::UTILITIES,
            Category::Repairs => codes::REPAIRS,
            Category::Hoa => codes::HOA_DUES,
            Category::Other => codes::OTHER_EXPENSES,
            Category::TreasuryTransfer => codes::OPERATING_CASH,
        }
    }

    fn is_income(self) -> bool {
        self == Category::Rent
    }
}

/// How the money moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaidVia {
    /// Through the property's bank account (operating cash).
    #[default]
    Bank,
    /// Into the property's treasury on chain (rent only).
    Chain,
}

/// A rent or expense to record.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransaction {
    /// What it was for.
    pub category: Category,
    /// How much: USD, or another currency with its `conversion`.
    pub amount: Money,
    /// Required for an amount in another currency than USD: the rate to USD and its source.
    pub conversion: Option<Conversion>,
    /// The day it was received or paid (`YYYY-MM-DD`, not in the future).
    pub occurred_on: String,
    /// The tenant or vendor.
    pub counterparty: String,
    /// Through the bank (default) or on chain.
    #[serde(default)]
    pub paid_via: PaidVia,
    /// The chain event's reference it matches (`0x` and 64 hex digits): required for rent paid on
    /// chain (the treasury deposit's reference).
    pub reference: Option<String>,
    /// The receipt or invoice, a document of the property.
    pub receipt_document_id: Option<String>,
    /// A note.
    pub memo: Option<String>,
}

/// The chain event a transaction's reference matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChainMatch {
    /// The ledger key of the entry the indexer booked from it.
    pub entry_key: String,
    /// Its block.
    pub block: u64,
}

/// A recorded rent or expense.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Transaction {
    /// Its id.
    pub id: TransactionId,
    /// The property.
    pub property_id: PropertyId,
    /// What it was for.
    pub category: Category,
    /// `income`, `expense` or `transfer` (a treasury transfer).
    pub kind: String,
    /// How much, in USD (as booked).
    pub amount: Money,
    /// The amount as given in another currency, and the conversion that made it USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted_from: Option<Converted>,
    /// The day it was received or paid.
    pub occurred_on: String,
    /// The tenant or vendor.
    pub counterparty: String,
    /// Through the bank or on chain.
    pub paid_via: PaidVia,
    /// The chain reference it matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_document_id: Option<DocumentId>,
    /// A note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// The rent schedule that posted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<ScheduleId>,
    /// The ledger entry.
    pub entry_id: i64,
    /// The chain event its reference matches, once the indexer has booked one (read when
    /// shown, never stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<ChainMatch>,
    /// Who recorded it (`schedule:<id>` for a scheduled rent).
    pub recorded_by: String,
    /// When (RFC 3339).
    pub recorded_at: String,
}

fn text_field(
    pointer: &str,
    text: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > max {
        errors.push(FieldError::new(
            pointer,
            format!("must be 1 to {max} characters"),
        ));
        return None;
    }
    Some(t.to_owned())
}

fn is_reference(r: &str) -> bool {
    r.len() == 66 && r.starts_with("0x") && r[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

use crate::types::today_text as today;

/// The checked fields of a transaction.
struct Checked {
    category: Category,
    cents: i64,
    converted: Option<Converted>,
    day: NaiveDate,
    counterparty: String,
    paid_via: PaidVia,
    reference: Option<String>,
    receipt: Option<DocumentId>,
    memo: Option<String>,
}

async fn check(exec: Exec<'_>, property: PropertyId, new: &NewTransaction) -> Result<Checked> {
    let mut errors = Vec::new();
    let (cents, converted) = match fx::to_usd(
        "/amount",
        &new.amount,
        new.conversion.as_ref(),
        "/conversion",
        &mut errors,
    ) {
        Some((usd, converted)) => match i64::try_from(usd * Decimal::ONE_HUNDRED) {
            Ok(cents) => (cents, converted),
            Err(_) => {
                errors.push(FieldError::new("/amount/amount", "too large"));
                (0, None)
            }
        },
        None => (0, None),
    };
    let day = day_field("/occurred_on", &new.occurred_on, &mut errors);
    if !day.is_empty() && day > today() {
        errors.push(FieldError::new("/occurred_on", "in the future"));
    }
    let counterparty = text_field(
        "/counterparty",
        &new.counterparty,
        COUNTERPARTY_MAX_LEN,
        &mut errors,
    );
    let memo = new
        .memo
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .and_then(|m| text_field("/memo", m, MEMO_MAX_LEN, &mut errors));
    let reference = new.reference.as_deref().map(str::to_ascii_lowercase);
    if reference.as_deref().is_some_and(|r| !is_reference(r)) {
        errors.push(FieldError::new(
            "/reference",
            "expected 0x and 64 hex digits",
        ));
    }
    if new.category == Category::TreasuryTransfer {
        if new.paid_via != PaidVia::Chain {
            errors.push(FieldError::new(
                "/paid_via",
                "a treasury transfer is paid on chain: a deposit into the treasury",
            ));
        } else if reference.is_none() {
            errors.push(FieldError::new(
                "/reference",
                "required for a treasury transfer: the treasury deposit's reference",
            ));
        }
    } else if new.paid_via == PaidVia::Chain {
        if !new.category.is_income() {
            errors.push(FieldError::new(
                "/paid_via",
                "only rent is paid on chain (the treasury pays rehab draws and distributions)",
            ));
        } else if reference.is_none() {
            errors.push(FieldError::new(
                "/reference",
                "required for rent paid on chain: the treasury deposit's reference",
            ));
        }
    }
    let receipt = match new.receipt_document_id.as_deref().map(DocumentId::parse) {
        None => None,
        Some(Ok(id)) => match documents::get(exec, id).await {
            Ok(d) if d.property_id == property => Some(id),
            Ok(_) | Err(Error::NotFound(_)) => {
                errors.push(FieldError::new(
                    "/receipt_document_id",
                    "not a document of this property",
                ));
                None
            }
            Err(e) => return Err(e),
        },
        Some(Err(_)) => {
            errors.push(FieldError::new("/receipt_document_id", "not a document id"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(Checked {
        category: new.category,
        cents,
        converted,
        day: NaiveDate::parse_from_str(&day, "%Y-%m-%d")
            .map_err(|_| Error::Internal("a checked day".into()))?,
        counterparty: counterparty.unwrap_or_default(),
        paid_via: new.paid_via,
        reference,
        receipt,
        memo,
    })
}

/// Books one transaction's entry; returns its id.
async fn book(
    ledger: &Ledger,
    property: PropertyId,
    t: &Checked,
    key: IdempotencyKey,
    source: Source,
) -> Result<i64> {
    let currency = books_currency(ledger).await?;
    let amount = Amount::new(Decimal::new(t.cents, 2), currency)
        .map_err(|_| Error::invalid("/amount/amount", "more decimals than the books keep"))?;
    let dim = property_dim(&property.to_string())?;
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
                    && a.dimensions.deal.is_none()
            })
            .map(|a| a.id)
            .ok_or_else(|| Error::Internal(format!("no account {code} in the chart")))
    };
    let (debit, credit) = match (t.category.is_income(), t.paid_via) {
        _ if t.category == Category::TreasuryTransfer => (
            account(codes::OTHER_INCOME)?,
            account(codes::OPERATING_CASH)?,
        ),
        (true, PaidVia::Bank) => (
            account(codes::OPERATING_CASH)?,
            account(t.category.account())?,
        ),
        (true, PaidVia::Chain) => (
            account(codes::OTHER_INCOME)?,
            account(t.category.account())?,
        ),
        (false, _) => (
            account(t.category.account())?,
            account(codes::OPERATING_CASH)?,
        ),
    };
    let what = if t.category == Category::TreasuryTransfer {
        format!(
            "Cash moved from the bank to the treasury ({})",
            t.counterparty
        )
    } else if t.category.is_income() {
        format!("Rent from {}", t.counterparty)
    } else {
        format!("{} paid to {}", t.category.as_str(), t.counterparty)
    };
    let what = match &t.converted {
        Some(c) => format!("{what}, {}", c.describe()),
        None => what,
    };
    let description = match &t.memo {
        Some(m) => format!("{what}: {m}"),
        None => what,
    };
    let draft = EntryDraft::builder(key, t.day, source)
        .description(&description)
        .debit(debit, amount)
        .credit(credit, amount)
        .build()
        .map_err(ledger_error)?;
    let receipt = ledger.entries().record(draft).await.map_err(ledger_error)?;
    Ok(receipt.id.get())
}

fn source_for(reference: Option<&str>, fallback: &str) -> Result<Source> {
    Source::operator(reference.unwrap_or(fallback))
        .map_err(|_| Error::Internal("a transaction's reference".into()))
}

fn render(t: &Transaction) -> Result<String> {
    serde_json::to_string(t).map_err(|e| Error::Internal(format!("rendering a transaction: {e}")))
}

fn parse(doc: &str) -> Result<Transaction> {
    serde_json::from_str(doc).map_err(|_| Error::Corrupt("a stored transaction".to_owned()))
}

/// Stores a booked transaction's row once per entry; returns the row on record.
pub async fn store(tx: &mut Tx, t: &Transaction, schedule_seq: Option<i64>) -> Result<Transaction> {
    Query::new(
        "INSERT INTO api_transactions (id, property_id, category, occurred_on, entry_id, \
         reference, schedule_id, schedule_seq, recorded_at, doc) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (entry_id) DO NOTHING",
    )
    .bind(t.id.to_string())
    .bind(t.property_id.to_string())
    .bind(t.category.as_str())
    .bind(t.occurred_on.clone())
    .bind(t.entry_id)
    .bind(t.reference.clone())
    .bind(t.schedule_id.map(|s| s.to_string()))
    .bind(schedule_seq)
    .bind(now_ms())
    .bind(render(t)?)
    .execute(tx.exec())
    .await?;
    let row = Query::new("SELECT doc FROM api_transactions WHERE entry_id = $1")
        .bind(t.entry_id)
        .fetch_one(tx.exec())
        .await?;
    parse(&row.get::<String>("doc")?)
}

/// Books a rent or an expense of `property` and returns its row, to [`store`] with the
/// response. `seed` identifies the request (caller and `Idempotency-Key`): the same seed books
/// one entry. The ledger writes in a transaction of its own, so this runs outside any other.
pub async fn book_new(
    ledger: &Ledger,
    db: &Db,
    actor: &Actor,
    property: PropertyId,
    new: &NewTransaction,
    seed: &str,
) -> Result<Transaction> {
    properties::get(db.reader(), property).await?;
    let t = check(db.reader(), property, new).await?;
    let hash = hex::encode(&Sha256::digest(seed.as_bytes())[..8]);
    let key = IdempotencyKey::parse(&format!("txn:{property}:{hash}"))
        .map_err(|_| Error::Internal("a transaction's key".into()))?;
    let source = source_for(t.reference.as_deref(), &format!("txn{hash}"))?;
    let entry_id = book(ledger, property, &t, key, source).await?;
    let row = Transaction {
        id: TransactionId::new(),
        property_id: property,
        category: t.category,
        kind: kind(t.category),
        amount: money(t.cents),
        converted_from: t.converted,
        occurred_on: t.day.format("%Y-%m-%d").to_string(),
        counterparty: t.counterparty,
        paid_via: t.paid_via,
        reference: t.reference,
        receipt_document_id: t.receipt,
        memo: t.memo,
        schedule_id: None,
        entry_id,
        matched: None,
        recorded_by: actor.reference(),
        recorded_at: rfc3339(now_ms()),
    };
    Ok(row)
}

fn kind(c: Category) -> String {
    match c {
        Category::TreasuryTransfer => "transfer",
        c if c.is_income() => "income",
        _ => "expense",
    }
    .to_owned()
}

/// Filters of the transaction list.
#[derive(Clone, Debug, Default)]
pub struct TransactionFilter {
    /// Only this category.
    pub category: Option<Category>,
    /// From this day.
    pub from: Option<NaiveDate>,
    /// To this day.
    pub to: Option<NaiveDate>,
}

/// The property's transactions in the order they were recorded, each with the chain event its
/// reference matches.
pub async fn list(
    db: &Db,
    property: PropertyId,
    filter: &TransactionFilter,
    page: &PageRequest,
) -> Result<Page<Transaction>> {
    properties::get(db.reader(), property).await?;
    let day = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
    let rows = Query::new(
        "SELECT doc FROM api_transactions WHERE property_id = $1 AND id > $2 \
         AND ($3 IS NULL OR category = $3) AND ($4 IS NULL OR occurred_on >= $4) \
         AND ($5 IS NULL OR occurred_on <= $5) ORDER BY id LIMIT $6",
    )
    .bind(property.to_string())
    .bind(page.after.clone().unwrap_or_default())
    .bind(filter.category.map(Category::as_str))
    .bind(day(filter.from))
    .bind(day(filter.to))
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let mut items = rows
        .iter()
        .map(|r| parse(&r.get::<String>("doc")?))
        .collect::<Result<Vec<_>>>()?;
    if crate::market::index_exists(db).await? {
        for t in items.iter_mut() {
            if let Some(reference) = &t.reference {
                t.matched = Query::new(
                    "SELECT entry_key, block_number FROM idx_bookings \
                     WHERE reference = $1 AND status <> 'retracted' ORDER BY block_number LIMIT 1",
                )
                .bind(reference.clone())
                .fetch_optional(db.reader())
                .await?
                .map(|r| {
                    Ok::<_, Error>(ChainMatch {
                        entry_key: r.get("entry_key")?,
                        block: u64::try_from(r.get::<i64>("block_number")?).unwrap_or(0),
                    })
                })
                .transpose()?;
            }
        }
    }
    Ok(Page::from_probe(items, page, |t| t.id.to_string()))
}

/// A recurring rent to set up.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRentSchedule {
    /// The monthly rent (USD).
    pub amount: Money,
    /// The day of the month it is due (1 to 28).
    pub day_of_month: u32,
    /// The first day it may fall due (`YYYY-MM-DD`): the first rent is due on the first
    /// `day_of_month` on or after it.
    pub starts_on: String,
    /// The last day it may fall due (`YYYY-MM-DD`); open when absent.
    pub ends_on: Option<String>,
    /// The tenant.
    pub tenant: String,
    /// A note for every posting.
    pub memo: Option<String>,
}

/// A recurring rent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RentSchedule {
    /// Its id.
    pub id: ScheduleId,
    /// The property.
    pub property_id: PropertyId,
    /// The monthly rent.
    pub amount: Money,
    /// The day of the month it is due.
    pub day_of_month: u32,
    /// The first day it may fall due.
    pub starts_on: String,
    /// The last day it may fall due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_on: Option<String>,
    /// The tenant.
    pub tenant: String,
    /// A note for every posting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// Rents posted so far.
    pub posted: i64,
    /// The day the next rent is due; absent once the schedule is over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_due: Option<String>,
    /// Who set it up.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
}

/// The first `day` of a month on or after `from`.
fn first_due(from: NaiveDate, day: u32) -> Option<NaiveDate> {
    let this = NaiveDate::from_ymd_opt(from.year(), from.month(), day)?;
    if this >= from {
        Some(this)
    } else {
        this.checked_add_months(Months::new(1))
    }
}

fn within(due: NaiveDate, ends_on: Option<&str>) -> bool {
    ends_on.is_none_or(|e| due.format("%Y-%m-%d").to_string().as_str() <= e)
}

/// Sets up a recurring rent on `property`.
pub async fn create_schedule(
    tx: &mut Tx,
    actor: &Actor,
    property: PropertyId,
    new: &NewRentSchedule,
) -> Result<RentSchedule> {
    properties::get(tx.exec(), property).await?;
    let mut errors = Vec::new();
    let cents = usd("/amount", &new.amount, &mut errors);
    if cents <= 0 && errors.is_empty() {
        errors.push(FieldError::new("/amount/amount", "must be more than zero"));
    }
    if !(1..=28).contains(&new.day_of_month) {
        errors.push(FieldError::new(
            "/day_of_month",
            "must be 1 to 28 (every month has it)",
        ));
    }
    let starts_on = day_field("/starts_on", &new.starts_on, &mut errors);
    let ends_on = new
        .ends_on
        .as_deref()
        .map(|e| day_field("/ends_on", e, &mut errors));
    if let Some(e) = &ends_on
        && !e.is_empty()
        && !starts_on.is_empty()
        && *e < starts_on
    {
        errors.push(FieldError::new("/ends_on", "before starts_on"));
    }
    let tenant = text_field("/tenant", &new.tenant, COUNTERPARTY_MAX_LEN, &mut errors);
    let memo = new
        .memo
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .and_then(|m| text_field("/memo", m, MEMO_MAX_LEN, &mut errors));
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let start = NaiveDate::parse_from_str(&starts_on, "%Y-%m-%d")
        .map_err(|_| Error::Internal("a checked day".into()))?;
    let next_due = first_due(start, new.day_of_month)
        .filter(|d| within(*d, ends_on.as_deref()))
        .map(|d| d.format("%Y-%m-%d").to_string());
    let now = now_ms();
    let s = RentSchedule {
        id: ScheduleId::new(),
        property_id: property,
        amount: money(cents),
        day_of_month: new.day_of_month,
        starts_on,
        ends_on,
        tenant: tenant.unwrap_or_default(),
        memo,
        posted: 0,
        next_due,
        created_by: actor.reference(),
        created_at: rfc3339(now),
    };
    Query::new(
        "INSERT INTO api_rent_schedules (id, property_id, amount_minor, next_seq, next_due, \
         ends_on, version, created_at, doc) VALUES ($1, $2, $3, 0, $4, $5, 1, $6, $7)",
    )
    .bind(s.id.to_string())
    .bind(property.to_string())
    .bind(cents)
    .bind(s.next_due.clone())
    .bind(s.ends_on.clone())
    .bind(now)
    .bind(render_schedule(&s)?)
    .execute(tx.exec())
    .await?;
    Ok(s)
}

fn render_schedule(s: &RentSchedule) -> Result<String> {
    serde_json::to_string(s).map_err(|e| Error::Internal(format!("rendering a schedule: {e}")))
}

fn parse_schedule(doc: &str) -> Result<RentSchedule> {
    serde_json::from_str(doc).map_err(|_| Error::Corrupt("a stored rent schedule".to_owned()))
}

/// The property's rent schedules in the order they were set up.
pub async fn schedules(
    db: &Db,
    property: PropertyId,
    page: &PageRequest,
) -> Result<Page<RentSchedule>> {
    properties::get(db.reader(), property).await?;
    let rows = Query::new(
        "SELECT doc FROM api_rent_schedules WHERE property_id = $1 AND id > $2 \
         ORDER BY id LIMIT $3",
    )
    .bind(property.to_string())
    .bind(page.after.clone().unwrap_or_default())
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let items = rows
        .iter()
        .map(|r| parse_schedule(&r.get::<String>("doc")?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_probe(items, page, |s| s.id.to_string()))
}

/// Posts every scheduled rent due on or before `today` (at most [`MAX_POSTED_PER_RUN`]), each
/// once whatever runs it at the same time: the ledger key names the schedule and the month, the
/// row is unique per schedule and month, and a schedule moves on only from the month it was
/// read at. Returns how many were posted.
pub async fn post_due(db: &Db, ledger: &Ledger, today: NaiveDate) -> Result<usize> {
    let today_text = today.format("%Y-%m-%d").to_string();
    let mut posted = 0;
    while posted < MAX_POSTED_PER_RUN {
        let due = Query::new(
            "SELECT doc, next_seq FROM api_rent_schedules \
             WHERE next_due IS NOT NULL AND next_due <= $1 ORDER BY next_due, id LIMIT 50",
        )
        .bind(today_text.clone())
        .fetch_all(db.reader())
        .await?;
        if due.is_empty() {
            break;
        }
        for row in due {
            let mut s = parse_schedule(&row.get::<String>("doc")?)?;
            let seq: i64 = row.get("next_seq")?;
            let Some(due_on) = s.next_due.clone() else {
                continue;
            };
            let day = NaiveDate::parse_from_str(&due_on, "%Y-%m-%d")
                .map_err(|_| Error::Corrupt("a schedule's next day".into()))?;
            let cents =
                crate::types::Currency::USD.minor_units("/amount/amount", &s.amount.amount)?;
            let checked = Checked {
                category: Category::Rent,
                cents,
                converted: None,
                day,
                counterparty: s.tenant.clone(),
                paid_via: PaidVia::Bank,
                reference: None,
                receipt: None,
                memo: s.memo.clone(),
            };
            let tag = format!("{}-{seq}", s.id.0.simple());
            let key = IdempotencyKey::parse(&format!("rent:{tag}"))
                .map_err(|_| Error::Internal("a scheduled rent's key".into()))?;
            let entry_id = book(
                ledger,
                s.property_id,
                &checked,
                key,
                source_for(None, &format!("rent{tag}"))?,
            )
            .await?;
            let row = Transaction {
                id: TransactionId::new(),
                property_id: s.property_id,
                category: Category::Rent,
                kind: kind(Category::Rent),
                amount: s.amount.clone(),
                converted_from: None,
                occurred_on: due_on.clone(),
                counterparty: s.tenant.clone(),
                paid_via: PaidVia::Bank,
                reference: None,
                receipt_document_id: None,
                memo: s.memo.clone(),
                schedule_id: Some(s.id),
                entry_id,
                matched: None,
                recorded_by: format!("schedule:{}", s.id),
                recorded_at: rfc3339(now_ms()),
            };
            s.posted = seq + 1;
            s.next_due = day
                .checked_add_months(Months::new(1))
                .filter(|d| within(*d, s.ends_on.as_deref()))
                .map(|d| d.format("%Y-%m-%d").to_string());
            let mut tx = db.begin().await?;
            store(&mut tx, &row, Some(seq)).await?;
            let moved = Query::new(
                "UPDATE api_rent_schedules SET next_seq = $1, next_due = $2, \
                 version = version + 1, doc = $3 WHERE id = $4 AND next_seq = $5",
            )
            .bind(seq + 1)
            .bind(s.next_due.clone())
            .bind(render_schedule(&s)?)
            .bind(s.id.to_string())
            .bind(seq)
            .execute(tx.exec())
            .await?;
            if moved == 1 {
                tx.commit().await?;
                posted += 1;
            }
            // Otherwise another runner posted this month first (its entry is the same one).
        }
    }
    Ok(posted)
}
