//! The books' entries with their postings, filtered and paged, and the books streamed out as
//! CSV or Beancount. Read through the ledger's API.

use std::collections::HashMap;
use std::io::Write;

use bytes::Bytes;
use chrono::NaiveDate;
use propledger_ledger::Ledger;
use propledger_ledger::core::{Account, AccountId, Direction, Entry, EntryId, EntryStatus};
use propledger_ledger::entry::{EntryFilter, SourceKind};
use propledger_ledger::export::{ExportOptions, ExportSink};
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::{account_fields, money, property_dim};
use crate::deals::costs::ledger_error;
use crate::error::{Error, Result};
use crate::types::{Money, Page, PageRequest};

/// One posting of an entry.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PostingView {
    /// The account's ledger id.
    pub account_id: i64,
    /// Its chart code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// The property whose books it is in (`prop-` and the deed token id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// The investor of a capital account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investor: Option<String>,
    /// The budget line of an improvements account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_line: Option<String>,
    /// `debit` or `credit`.
    pub direction: String,
    /// The amount.
    pub amount: Money,
}

/// An entry of the books.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EntryView {
    /// The ledger's id (entries are listed in id order).
    pub id: i64,
    /// The day it takes effect.
    pub effective_date: String,
    /// What it records.
    pub description: String,
    /// Where it comes from: `chain:<chain id>:<tx hash>:<log index>` or `operator:<ref>`.
    pub source: String,
    /// `pending` (a chain event not final yet), `posted` or `voided`.
    pub status: String,
    /// The entry this one reverses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverses: Option<i64>,
    /// Its place in the books' hash chain (posted entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_seq: Option<u64>,
    /// Its link in the hash chain (posted entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Its postings, debits and credits equal per currency.
    pub postings: Vec<PostingView>,
}

/// What an entry list selects; every filter given must hold.
#[derive(Clone, Debug, Default)]
pub struct EntryQuery {
    /// A property (API id or deed token id).
    pub property: Option<String>,
    /// A deal: its property's entries within the deal's life.
    pub deal: Option<crate::deals::Deal>,
    /// A ledger account id.
    pub account: Option<i64>,
    /// `chain` or `operator`.
    pub source: Option<String>,
    /// First effective day.
    pub from: Option<NaiveDate>,
    /// Last effective day.
    pub to: Option<NaiveDate>,
    /// `pending`, `posted` or `voided`.
    pub status: Option<String>,
}

/// A deal's life in the books: from its first day to the day it exited or died (open while it
/// runs).
pub(crate) fn deal_life(deal: &crate::deals::Deal) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let day = |t: &str| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok();
    let first = deal.transitions.first().and_then(|t| day(&t.on));
    let over = deal
        .transitions
        .iter()
        .rev()
        .find(|t| {
            matches!(
                t.to,
                crate::deals::DealStatus::Exited | crate::deals::DealStatus::Dead
            )
        })
        .and_then(|t| day(&t.on));
    (first, over)
}

fn filter_of(q: &EntryQuery) -> Result<EntryFilter> {
    let mut errors = Vec::new();
    let source = match q.source.as_deref() {
        None => None,
        Some("chain") => Some(SourceKind::Chain),
        Some("operator") => Some(SourceKind::Operator),
        Some(_) => {
            errors.push(crate::error::FieldError::new(
                "source",
                "expected chain or operator",
            ));
            None
        }
    };
    let status = match q.status.as_deref() {
        None => None,
        Some("pending") => Some(EntryStatus::Pending),
        Some("posted") => Some(EntryStatus::Posted),
        Some("voided") => Some(EntryStatus::Voided),
        Some(_) => {
            errors.push(crate::error::FieldError::new(
                "status",
                "expected pending, posted or voided",
            ));
            None
        }
    };
    if q.account.is_some_and(|a| a <= 0) {
        errors.push(crate::error::FieldError::new(
            "account",
            "not an account of the books",
        ));
    }
    let mut from = q.from;
    let mut to = q.to;
    let mut property = q.property.clone();
    if let Some(deal) = &q.deal {
        let deal_property = deal.property_id.to_string();
        match &property {
            Some(p) if property_dim(p)? != property_dim(&deal_property)? => {
                errors.push(crate::error::FieldError::new(
                    "deal",
                    "the deal is on another property",
                ));
            }
            _ => property = Some(deal_property),
        }
        let (first, over) = deal_life(deal);
        from = from.max(first);
        to = match (to, over) {
            (Some(t), Some(o)) => Some(t.min(o)),
            (t, o) => t.or(o),
        };
    }
    if let (Some(f), Some(t)) = (q.from, q.to)
        && f > t
    {
        errors.push(crate::error::FieldError::new("from", "after `to`"));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(EntryFilter {
        property: property.as_deref().map(property_dim).transpose()?,
        deal: None,
        account: q.account.map(AccountId::new),
        source,
        from,
        to,
        status,
    })
}

/// Accounts by id, read once per request.
struct Accounts<'l> {
    ledger: &'l Ledger,
    known: HashMap<AccountId, Account>,
}

impl Accounts<'_> {
    async fn get(&mut self, id: AccountId) -> Result<&Account> {
        if !self.known.contains_key(&id) {
            let a = self.ledger.accounts().get(id).await.map_err(ledger_error)?;
            self.known.insert(id, a);
        }
        self.known
            .get(&id)
            .ok_or_else(|| Error::Internal("an account just read".into()))
    }
}

async fn view(e: &Entry, accounts: &mut Accounts<'_>) -> Result<EntryView> {
    let mut postings = Vec::with_capacity(e.postings.len());
    for p in &e.postings {
        let a = accounts.get(p.account).await?;
        let (account_id, code, name, _, investor, budget_line) = account_fields(a);
        postings.push(PostingView {
            account_id,
            code,
            name,
            property: a
                .dimensions
                .property
                .as_ref()
                .map(|d| d.as_str().to_owned()),
            investor,
            budget_line,
            direction: match p.direction {
                Direction::Debit => "debit",
                Direction::Credit => "credit",
            }
            .to_owned(),
            amount: money(p.amount),
        });
    }
    Ok(EntryView {
        id: e.id.get(),
        effective_date: e.effective_date.format("%Y-%m-%d").to_string(),
        description: e.description.clone(),
        source: e.source.to_string(),
        status: e.status.as_str().to_owned(),
        reverses: e.reverses.map(EntryId::get),
        chain_seq: e.chain.map(|c| c.seq),
        hash: e.chain.map(|c| c.hash.to_string()),
        postings,
    })
}

/// A page of the entries `q` selects, in id order.
pub async fn list(ledger: &Ledger, q: &EntryQuery, page: &PageRequest) -> Result<Page<EntryView>> {
    let filter = filter_of(q)?;
    let after = page
        .after
        .as_deref()
        .map(|a| {
            a.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .map(EntryId::new)
                .ok_or_else(|| Error::invalid("cursor", "not a cursor this API issued"))
        })
        .transpose()?;
    let found = ledger
        .entries()
        .search(&filter, after, page.probe() as usize)
        .await
        .map_err(ledger_error)?;
    let mut accounts = Accounts {
        ledger,
        known: HashMap::new(),
    };
    let mut items = Vec::with_capacity(found.len());
    for e in &found {
        items.push(view(e, &mut accounts).await?);
    }
    Ok(Page::from_probe(items, page, |e| e.id.to_string()))
}

/// An export's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One row per posting.
    Csv,
    /// A Beancount file with a balance assertion per account.
    Beancount,
}

impl Format {
    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Beancount => "text/plain; charset=utf-8",
        }
    }

    /// The file name it is offered as.
    pub fn file_name(self, scope: &str) -> String {
        match self {
            Format::Csv => format!("{scope}.csv"),
            Format::Beancount => format!("{scope}.beancount"),
        }
    }
}

/// Bytes an export has written, sent to the response a page at a time.
struct ChannelSink {
    buf: Vec<u8>,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
}

impl Write for ChannelSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ExportSink for ChannelSink {
    async fn page_written(&mut self) -> propledger_ledger::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        // Waits while the client is behind; a client gone stops the export.
        self.tx.send(Ok(chunk)).await.map_err(|_| {
            propledger_ledger::Error::Export(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the client went away",
            ))
        })
    }
}

/// Pages in flight between an export and its client.
const EXPORT_CHANNEL_PAGES: usize = 4;

/// Starts exporting the books (one property's when `property` is set) and returns the stream
/// of its bytes. The export reads one snapshot; an error part way ends the stream with an error,
/// so the client sees a broken transfer rather than a short file. `permit` is held until the
/// export ends.
pub async fn export(
    ledger: Ledger,
    property: Option<&str>,
    format: Format,
    include_pending: bool,
    include_voided: bool,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<mpsc::Receiver<std::io::Result<Bytes>>> {
    let property = property.map(property_dim).transpose()?;
    if let Some(p) = &property {
        let found = ledger
            .accounts()
            .list(&propledger_ledger::account::AccountFilter {
                property: Some(p.clone()),
                ..Default::default()
            })
            .await
            .map_err(ledger_error)?;
        if found.is_empty() {
            return Err(Error::NotFound("property's books"));
        }
    }
    let options = ExportOptions {
        property,
        include_pending,
        include_voided,
    };
    let (tx, rx) = mpsc::channel(EXPORT_CHANNEL_PAGES);
    tokio::spawn(async move {
        let _permit = permit;
        let mut sink = ChannelSink {
            buf: Vec::new(),
            tx: tx.clone(),
        };
        let exports = ledger.exports();
        let done = match format {
            Format::Csv => exports.csv_to(&mut sink, options).await,
            Format::Beancount => exports.beancount_to(&mut sink, options).await,
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "a books export stopped");
            let _ = tx
                .send(Err(std::io::Error::other("the export failed")))
                .await;
        }
    });
    Ok(rx)
}
