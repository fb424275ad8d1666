//! Rehab projects (the seed plan's construction service): contractors, a project per deal with
//! budget lines mirrored on chain in the property's treasury, bids per line (an accepted one
//! commits the line), and draws: requested against a line with an invoice document, approved by
//! an operator, and released by the treasury through the outbox to the contractor's wallet. A
//! draw the line cannot cover, or for a contractor whose insurance has expired, is refused
//! before it reaches the chain. The indexer books each released draw from the chain (Dr
//! capitalized improvements of the line / Cr treasury cash, under the invoice's hash).
//!
//! USD, exact to the cent. Each row is stored whole (`doc`) beside the columns lookups need.

use alloy::primitives::{Address, B256};
use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Actor;
use crate::db::{Exec, Query, Tx};
use crate::deals::{self, DealId, day_field, money, usd};
use crate::documents::{self, DocumentId};
use crate::error::{Error, FieldError, Result};
use crate::outbox::ActionId;
use crate::properties::PropertyId;
use crate::types::{Money, now_ms, rfc3339, typed_id};

typed_id!(
    /// A contractor's id.
    ContractorId,
    "contractor"
);
typed_id!(
    /// A rehab project's id.
    ProjectId,
    "rehab project"
);
typed_id!(
    /// A budget line's id.
    LineId,
    "budget line"
);
typed_id!(
    /// A bid's id.
    BidId,
    "bid"
);
typed_id!(
    /// A draw's id.
    DrawId,
    "draw"
);

/// Longest text field.
pub const TEXT_MAX_LEN: usize = 200;
/// Longest scope of work or note.
pub const NOTE_MAX_LEN: usize = 2_000;

use crate::types::today_text as today;

fn text(pointer: &str, t: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let t = t.trim();
    if t.is_empty() || t.chars().count() > max {
        errors.push(FieldError::new(
            pointer,
            format!("must be 1 to {max} characters"),
        ));
    }
    t.to_owned()
}

fn positive(pointer: &str, m: &Money, errors: &mut Vec<FieldError>) -> i64 {
    let cents = usd(pointer, m, errors);
    if cents <= 0 && !errors.iter().any(|e| e.pointer.starts_with(pointer)) {
        errors.push(FieldError::new(
            format!("{pointer}/amount"),
            "must be more than zero",
        ));
    }
    cents
}

fn done(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

async fn load<T: DeserializeOwned>(
    exec: Exec<'_>,
    table: &'static str,
    id: &str,
    what: &'static str,
) -> Result<(T, i64)> {
    let sql = match table {
        "api_contractors" => {
            "SELECT doc, CAST(0 AS BIGINT) AS version FROM api_contractors WHERE id = $1"
        }
        "api_rehab_projects" => "SELECT doc, version FROM api_rehab_projects WHERE id = $1",
        "api_rehab_lines" => "SELECT doc, version FROM api_rehab_lines WHERE id = $1",
        "api_rehab_bids" => "SELECT doc, version FROM api_rehab_bids WHERE id = $1",
        _ => "SELECT doc, version FROM api_rehab_draws WHERE id = $1",
    };
    let row = Query::new(sql)
        .bind(id.to_owned())
        .fetch_optional(exec)
        .await?
        .ok_or(Error::NotFound(what))?;
    let doc: String = row.get("doc")?;
    let v = serde_json::from_str(&doc).map_err(|_| Error::Corrupt(format!("a stored {what}")))?;
    Ok((v, row.get("version")?))
}

fn render<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(format!("rendering: {e}")))
}

fn changed(n: u64, what: &str) -> Result<()> {
    if n == 1 {
        Ok(())
    } else {
        Err(Error::conflict(
            "changed_meanwhile",
            format!("the {what} changed meanwhile; read it again"),
        ))
    }
}

// ---- Contractors ----

/// A contractor to register.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContractor {
    /// The company.
    pub company: String,
    /// Its trade (general, roofing, plumbing, electrical, ...).
    pub trade: String,
    /// Who to talk to.
    pub contact_name: String,
    /// Their email.
    pub email: String,
    /// Their phone.
    pub phone: Option<String>,
    /// The license number.
    pub license_number: String,
    /// The day the license expires (`YYYY-MM-DD`).
    pub license_expires_on: String,
    /// The day the liability insurance expires (`YYYY-MM-DD`).
    pub insurance_expires_on: String,
    /// A rating, 1 to 5.
    pub rating: Option<u8>,
    /// The wallet draws are paid to.
    pub payout_wallet: String,
}

/// A contractor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Contractor {
    /// Its id.
    pub id: ContractorId,
    /// The company.
    pub company: String,
    /// Its trade.
    pub trade: String,
    /// Who to talk to.
    pub contact_name: String,
    /// Their email.
    pub email: String,
    /// Their phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The license number.
    pub license_number: String,
    /// The day the license expires.
    pub license_expires_on: String,
    /// The day the insurance expires.
    pub insurance_expires_on: String,
    /// A rating, 1 to 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// The wallet draws are paid to (checksummed).
    pub payout_wallet: String,
    /// Who registered it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
}

/// Registers a contractor.
pub async fn create_contractor(
    tx: &mut Tx,
    actor: &Actor,
    new: &NewContractor,
) -> Result<Contractor> {
    let mut e = Vec::new();
    let company = text("/company", &new.company, TEXT_MAX_LEN, &mut e);
    let trade = text("/trade", &new.trade, TEXT_MAX_LEN, &mut e);
    let contact_name = text("/contact_name", &new.contact_name, TEXT_MAX_LEN, &mut e);
    let email = text("/email", &new.email, TEXT_MAX_LEN, &mut e);
    if !email.contains('@') {
        e.push(FieldError::new("/email", "an email address"));
    }
    let phone = new.phone.as_deref().map(|p| text("/phone", p, 40, &mut e));
    let license_number = text("/license_number", &new.license_number, TEXT_MAX_LEN, &mut e);
    let license_expires_on = day_field("/license_expires_on", &new.license_expires_on, &mut e);
    let insurance_expires_on =
        day_field("/insurance_expires_on", &new.insurance_expires_on, &mut e);
    if new.rating.is_some_and(|r| !(1..=5).contains(&r)) {
        e.push(FieldError::new("/rating", "1 to 5"));
    }
    let wallet = match new.payout_wallet.parse::<Address>() {
        Ok(a) if !a.is_zero() => a.to_checksum(None),
        _ => {
            e.push(FieldError::new(
                "/payout_wallet",
                "an address (0x and 40 hex digits), not zero",
            ));
            String::new()
        }
    };
    done(e)?;
    let now = now_ms();
    let c = Contractor {
        id: ContractorId::new(),
        company,
        trade,
        contact_name,
        email,
        phone,
        license_number,
        license_expires_on,
        insurance_expires_on,
        rating: new.rating,
        payout_wallet: wallet,
        created_by: actor.reference(),
        created_at: rfc3339(now),
    };
    Query::new(
        "INSERT INTO api_contractors (id, company, created_at, doc) VALUES ($1, $2, $3, $4)",
    )
    .bind(c.id.to_string())
    .bind(c.company.clone())
    .bind(now)
    .bind(render(&c)?)
    .execute(tx.exec())
    .await?;
    Ok(c)
}

/// One contractor.
pub async fn contractor(exec: Exec<'_>, id: ContractorId) -> Result<Contractor> {
    Ok(load(exec, "api_contractors", &id.to_string(), "contractor")
        .await?
        .0)
}

/// Every contractor, by company (at most 1,000).
pub async fn contractors(exec: Exec<'_>) -> Result<Vec<Contractor>> {
    let rows = Query::new("SELECT doc FROM api_contractors ORDER BY company, id LIMIT 1000")
        .fetch_all(exec)
        .await?;
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.get::<String>("doc")?)
                .map_err(|_| Error::Corrupt("a stored contractor".into()))
        })
        .collect()
}

// ---- Projects and lines ----

/// A project to start on a deal.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// The deal.
    pub deal_id: String,
    /// The day work starts (`YYYY-MM-DD`).
    pub starts_on: Option<String>,
}

/// Where a project stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    /// Being planned.
    Planned,
    /// Work under way.
    InProgress,
    /// Done.
    Completed,
}

/// A rehab project as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Project {
    /// Its id.
    pub id: ProjectId,
    /// The deal.
    pub deal_id: DealId,
    /// The deal's property.
    pub property_id: PropertyId,
    /// Where it stands.
    pub status: ProjectStatus,
    /// The day work starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_on: Option<String>,
    /// The day it was completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_on: Option<String>,
    /// Budget moved between its lines, oldest first.
    #[serde(default)]
    pub change_orders: Vec<ChangeOrder>,
    /// Who started it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
}

/// Starts the rehab project of a deal (one per deal).
pub async fn create_project(tx: &mut Tx, actor: &Actor, new: &NewProject) -> Result<Project> {
    let mut e = Vec::new();
    let deal = DealId::parse(&new.deal_id).ok();
    if deal.is_none() {
        e.push(FieldError::new("/deal_id", "not a deal id"));
    }
    let starts_on = new
        .starts_on
        .as_deref()
        .map(|d| day_field("/starts_on", d, &mut e));
    done(e)?;
    let deal = deal.ok_or_else(|| Error::Internal("a checked deal".into()))?;
    let d = match deals::get(tx.exec(), deal).await {
        Ok(d) => d,
        Err(Error::NotFound(_)) => return Err(Error::invalid("/deal_id", "no such deal")),
        Err(e) => return Err(e),
    };
    let now = now_ms();
    let p = Project {
        id: ProjectId::new(),
        deal_id: deal,
        property_id: d.property_id,
        status: ProjectStatus::Planned,
        starts_on,
        completed_on: None,
        change_orders: Vec::new(),
        created_by: actor.reference(),
        created_at: rfc3339(now),
    };
    let inserted = Query::new(
        "INSERT INTO api_rehab_projects (id, deal_id, property_id, version, created_at, doc) \
         VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (deal_id) DO NOTHING",
    )
    .bind(p.id.to_string())
    .bind(deal.to_string())
    .bind(d.property_id.to_string())
    .bind(now)
    .bind(render(&p)?)
    .execute(tx.exec())
    .await?;
    if inserted == 0 {
        return Err(Error::conflict(
            "project_exists",
            "the deal already has its rehab project",
        ));
    }
    Ok(p)
}

/// Most projects listed for one property.
pub const PROJECTS_LISTED: i64 = 100;

/// `property`'s projects, oldest first (at most [`PROJECTS_LISTED`]).
pub async fn projects_of(exec: Exec<'_>, property: PropertyId) -> Result<Vec<Project>> {
    let rows = crate::db::Query::new(
        "SELECT doc FROM api_rehab_projects WHERE property_id = $1 ORDER BY created_at, id LIMIT $2",
    )
    .bind(property.to_string())
    .bind(PROJECTS_LISTED)
    .fetch_all(exec)
    .await?;
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.get::<String>("doc")?)
                .map_err(|_| Error::Corrupt("a stored rehab project".to_owned()))
        })
        .collect()
}

/// One project.
pub async fn project(exec: Exec<'_>, id: ProjectId) -> Result<Project> {
    Ok(
        load(exec, "api_rehab_projects", &id.to_string(), "rehab project")
            .await?
            .0,
    )
}

/// A budget line to add.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLine {
    /// What it pays for (roof, kitchen, electrical, ...).
    pub category: String,
    /// Its budget (USD).
    pub budget: Money,
}

/// A budget line as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Line {
    /// Its id.
    pub id: LineId,
    /// The project.
    pub project_id: ProjectId,
    /// What it pays for.
    pub category: String,
    /// Its budget.
    pub budget: Money,
    /// The accepted bid's amount, once one is accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed: Option<Money>,
    /// The line's id in the treasury (32 bytes), and the books' budget-line dimension.
    pub chain_line: String,
    /// The outbox actions that set its budget on chain, in order.
    pub budget_actions: Vec<ActionId>,
    /// Percent complete, as last reported.
    #[serde(default)]
    pub percent_complete: u8,
    /// Progress reports, oldest first.
    #[serde(default)]
    pub progress: Vec<Progress>,
    /// Who added it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
}

/// A progress report on a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    /// Percent complete (0 to 100).
    pub percent_complete: u8,
    /// Notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Photos, documents of the property.
    pub photo_document_ids: Vec<DocumentId>,
    /// Who reported it.
    pub reported_by: String,
    /// When (RFC 3339).
    pub reported_at: String,
}

/// A progress report to add.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProgress {
    /// Percent complete (0 to 100).
    pub percent_complete: u8,
    /// Notes.
    pub notes: Option<String>,
    /// Photos, documents of the property (at most 20).
    #[serde(default)]
    pub photo_document_ids: Vec<String>,
}

/// Most photos on one progress report.
pub const MAX_PHOTOS: usize = 20;

/// Adds a progress report to a line.
pub async fn add_progress(
    tx: &mut Tx,
    actor: &Actor,
    line_id: LineId,
    new: &NewProgress,
) -> Result<Line> {
    let (mut l, version) = line(tx.exec(), line_id).await?;
    let p = project(tx.exec(), l.project_id).await?;
    let mut e = Vec::new();
    if new.percent_complete > 100 {
        e.push(FieldError::new("/percent_complete", "0 to 100"));
    }
    let notes = new
        .notes
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(|n| text("/notes", n, NOTE_MAX_LEN, &mut e));
    if new.photo_document_ids.len() > MAX_PHOTOS {
        e.push(FieldError::new(
            "/photo_document_ids",
            format!("at most {MAX_PHOTOS}"),
        ));
    }
    let mut photos = Vec::new();
    for (i, id) in new.photo_document_ids.iter().enumerate() {
        let pointer = format!("/photo_document_ids/{i}");
        match DocumentId::parse(id) {
            Ok(id) => match documents::get(tx.exec(), id).await {
                Ok(d) if d.property_id == p.property_id => photos.push(id),
                Ok(_) | Err(Error::NotFound(_)) => {
                    e.push(FieldError::new(pointer, "not a document of the property"));
                }
                Err(err) => return Err(err),
            },
            Err(_) => e.push(FieldError::new(pointer, "not a document id")),
        }
    }
    done(e)?;
    l.percent_complete = new.percent_complete;
    l.progress.push(Progress {
        percent_complete: new.percent_complete,
        notes,
        photo_document_ids: photos,
        reported_by: actor.reference(),
        reported_at: rfc3339(now_ms()),
    });
    save_line(tx, &l, version).await?;
    Ok(l)
}

/// A change order to make: budget moved from one line of a project to another.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChangeOrder {
    /// The line giving budget.
    pub from_line: String,
    /// The line receiving it.
    pub to_line: String,
    /// How much (USD).
    pub amount: Money,
    /// Why.
    pub reason: String,
}

/// A change order made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChangeOrder {
    /// The line that gave budget.
    pub from_line: LineId,
    /// The line that received it.
    pub to_line: LineId,
    /// How much.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// The outbox actions setting both budgets on chain.
    pub actions: Vec<ActionId>,
    /// Who made it.
    pub made_by: String,
    /// When (RFC 3339).
    pub made_at: String,
}

/// A checked change order: both lines with their versions, the cents moved, the reason, and
/// the new budgets (from, to) in cents.
pub struct CheckedOrder {
    /// The line giving budget, and its version.
    pub from: (Line, i64),
    /// The line receiving it, and its version.
    pub to: (Line, i64),
    /// Cents moved.
    pub cents: i64,
    /// Why.
    pub reason: String,
    /// The new budgets (from, to), in cents.
    pub budgets: (i64, i64),
}

/// Checks a change order: two lines of the project, and the giving line keeps at least what
/// it has drawn or been asked to draw.
pub async fn check_change_order(
    exec_db: &crate::db::Db,
    project_id: ProjectId,
    new: &NewChangeOrder,
) -> Result<CheckedOrder> {
    let mut e = Vec::new();
    let cents = positive("/amount", &new.amount, &mut e);
    let reason = text("/reason", &new.reason, NOTE_MAX_LEN, &mut e);
    let from = LineId::parse(&new.from_line).ok();
    let to = LineId::parse(&new.to_line).ok();
    if from.is_none() {
        e.push(FieldError::new("/from_line", "not a line id"));
    }
    if to.is_none() {
        e.push(FieldError::new("/to_line", "not a line id"));
    }
    if from.is_some() && from == to {
        e.push(FieldError::new("/to_line", "the same line as from_line"));
    }
    done(e)?;
    let (Some(from), Some(to)) = (from, to) else {
        return Err(Error::Internal("checked lines".into()));
    };
    let mut lines = Vec::new();
    for (pointer, id) in [("/from_line", from), ("/to_line", to)] {
        match line(exec_db.reader(), id).await {
            Ok((l, v)) if l.project_id == project_id => lines.push((l, v)),
            Ok(_) | Err(Error::NotFound(_)) => {
                return Err(Error::invalid(pointer, "not a line of this project"));
            }
            Err(err) => return Err(err),
        }
    }
    let to_line = lines
        .pop()
        .ok_or_else(|| Error::Internal("two lines".into()))?;
    let from_line = lines
        .pop()
        .ok_or_else(|| Error::Internal("two lines".into()))?;
    let from_budget = cents_of(&from_line.0.budget)? - cents;
    let drawn = drawn_cents(exec_db.reader(), from).await?;
    if from_budget < drawn {
        return Err(Error::conflict(
            "below_drawn",
            format!(
                "the line would keep {}, less than the {} drawn or asked for",
                money(from_budget).amount,
                money(drawn).amount
            ),
        ));
    }
    let to_budget = cents_of(&to_line.0.budget)? + cents;
    Ok(CheckedOrder {
        from: from_line,
        to: to_line,
        cents,
        reason,
        budgets: (from_budget, to_budget),
    })
}

/// Applies a checked change order whose chain actions are recorded: both lines' budgets, and
/// the order in the project.
pub async fn apply_change_order(
    tx: &mut Tx,
    actor: &Actor,
    project_id: ProjectId,
    order: CheckedOrder,
    actions: Vec<ActionId>,
) -> Result<ChangeOrder> {
    let CheckedOrder {
        from: (mut from, from_version),
        to: (mut to, to_version),
        cents,
        reason,
        budgets,
    } = order;
    from.budget = money(budgets.0);
    to.budget = money(budgets.1);
    if let Some(a) = actions.first() {
        from.budget_actions.push(*a);
    }
    if let Some(a) = actions.get(1) {
        to.budget_actions.push(*a);
    }
    save_line(tx, &from, from_version).await?;
    save_line(tx, &to, to_version).await?;
    let (mut p, version): (Project, i64) = load(
        tx.exec(),
        "api_rehab_projects",
        &project_id.to_string(),
        "rehab project",
    )
    .await?;
    let order = ChangeOrder {
        from_line: from.id,
        to_line: to.id,
        amount: money(cents),
        reason,
        actions,
        made_by: actor.reference(),
        made_at: rfc3339(now_ms()),
    };
    p.change_orders.push(order.clone());
    let n = Query::new(
        "UPDATE api_rehab_projects SET version = $1, doc = $2 WHERE id = $3 AND version = $4",
    )
    .bind(version + 1)
    .bind(render(&p)?)
    .bind(project_id.to_string())
    .bind(version)
    .execute(tx.exec())
    .await?;
    changed(n, "rehab project")?;
    Ok(order)
}

fn cents_of(m: &Money) -> Result<i64> {
    crate::types::Currency::USD.minor_units("/amount/amount", &m.amount)
}

/// The treasury's id of a line: the line's id in the low 16 bytes of 32.
pub fn chain_line(id: LineId) -> B256 {
    crate::types::id_word(id.0)
}

/// Checks a new line: (category, budget in cents).
pub fn check_line(new: &NewLine) -> Result<(String, i64)> {
    let mut e = Vec::new();
    let category = text("/category", &new.category, TEXT_MAX_LEN, &mut e);
    let budget = positive("/budget", &new.budget, &mut e);
    done(e)?;
    Ok((category, budget))
}

/// Stores a line whose budget-setting action is already recorded.
pub async fn insert_line(tx: &mut Tx, line: &Line) -> Result<()> {
    Query::new(
        "INSERT INTO api_rehab_lines (id, project_id, chain_line, version, created_at, doc) \
         VALUES ($1, $2, $3, 1, $4, $5)",
    )
    .bind(line.id.to_string())
    .bind(line.project_id.to_string())
    .bind(line.chain_line.clone())
    .bind(now_ms())
    .bind(render(line)?)
    .execute(tx.exec())
    .await?;
    Ok(())
}

/// One line.
pub async fn line(exec: Exec<'_>, id: LineId) -> Result<(Line, i64)> {
    load(exec, "api_rehab_lines", &id.to_string(), "budget line").await
}

/// A project's lines in the order they were added.
pub async fn lines(exec: Exec<'_>, project: ProjectId) -> Result<Vec<Line>> {
    let rows =
        Query::new("SELECT doc FROM api_rehab_lines WHERE project_id = $1 ORDER BY id LIMIT 1000")
            .bind(project.to_string())
            .fetch_all(exec)
            .await?;
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.get::<String>("doc")?)
                .map_err(|_| Error::Corrupt("a stored budget line".into()))
        })
        .collect()
}

async fn save_line(tx: &mut Tx, line: &Line, version: i64) -> Result<()> {
    let n = Query::new(
        "UPDATE api_rehab_lines SET version = $1, doc = $2 WHERE id = $3 AND version = $4",
    )
    .bind(version + 1)
    .bind(render(line)?)
    .bind(line.id.to_string())
    .bind(version)
    .execute(tx.exec())
    .await?;
    changed(n, "budget line")
}

// ---- Bids ----

/// A bid to record.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBid {
    /// The contractor bidding.
    pub contractor_id: String,
    /// Its price (USD).
    pub amount: Money,
    /// The work it covers.
    pub scope: String,
    /// The last day it holds (`YYYY-MM-DD`).
    pub valid_until: String,
}

/// Where a bid stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BidStatus {
    /// Not decided.
    Open,
    /// Accepted: it commits the line.
    Accepted,
    /// Another bid was accepted.
    Rejected,
}

impl BidStatus {
    fn as_str(self) -> &'static str {
        match self {
            BidStatus::Open => "open",
            BidStatus::Accepted => "accepted",
            BidStatus::Rejected => "rejected",
        }
    }
}

/// A bid on a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Bid {
    /// Its id.
    pub id: BidId,
    /// The line.
    pub line_id: LineId,
    /// The contractor.
    pub contractor_id: ContractorId,
    /// Its price.
    pub amount: Money,
    /// The work it covers.
    pub scope: String,
    /// The last day it holds.
    pub valid_until: String,
    /// Where it stands.
    pub status: BidStatus,
    /// Who recorded it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
}

/// Records a bid on a line.
pub async fn add_bid(tx: &mut Tx, actor: &Actor, line_id: LineId, new: &NewBid) -> Result<Bid> {
    line(tx.exec(), line_id).await?;
    let mut e = Vec::new();
    let amount = positive("/amount", &new.amount, &mut e);
    let scope = text("/scope", &new.scope, NOTE_MAX_LEN, &mut e);
    let valid_until = day_field("/valid_until", &new.valid_until, &mut e);
    let contractor_id = ContractorId::parse(&new.contractor_id).ok();
    if contractor_id.is_none() {
        e.push(FieldError::new("/contractor_id", "not a contractor id"));
    }
    done(e)?;
    let contractor_id = contractor_id.ok_or_else(|| Error::Internal("checked".into()))?;
    if let Err(Error::NotFound(_)) = contractor(tx.exec(), contractor_id).await {
        return Err(Error::invalid("/contractor_id", "no such contractor"));
    }
    let now = now_ms();
    let b = Bid {
        id: BidId::new(),
        line_id,
        contractor_id,
        amount: money(amount),
        scope,
        valid_until,
        status: BidStatus::Open,
        created_by: actor.reference(),
        created_at: rfc3339(now),
    };
    Query::new(
        "INSERT INTO api_rehab_bids (id, line_id, status, version, created_at, doc) \
         VALUES ($1, $2, 'open', 1, $3, $4)",
    )
    .bind(b.id.to_string())
    .bind(line_id.to_string())
    .bind(now)
    .bind(render(&b)?)
    .execute(tx.exec())
    .await?;
    Ok(b)
}

/// A line's bids, cheapest first.
pub async fn bids(exec: Exec<'_>, line_id: LineId) -> Result<Vec<Bid>> {
    let rows =
        Query::new("SELECT doc FROM api_rehab_bids WHERE line_id = $1 ORDER BY id LIMIT 1000")
            .bind(line_id.to_string())
            .fetch_all(exec)
            .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            serde_json::from_str::<Bid>(&r.get::<String>("doc")?)
                .map_err(|_| Error::Corrupt("a stored bid".into()))
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort_by_key(|b| {
        (
            crate::types::Currency::USD
                .minor_units("/amount", &b.amount.amount)
                .unwrap_or(i64::MAX),
            b.id,
        )
    });
    Ok(out)
}

/// Accepts an open bid that still holds: the line is committed at its amount, and the line's
/// other open bids are rejected.
pub async fn accept_bid(tx: &mut Tx, id: BidId) -> Result<Bid> {
    let (mut bid, version): (Bid, i64) =
        load(tx.exec(), "api_rehab_bids", &id.to_string(), "bid").await?;
    if bid.status != BidStatus::Open {
        return Err(Error::conflict(
            "bid_status",
            format!(
                "the bid is {}; only an open bid is accepted",
                bid.status.as_str()
            ),
        ));
    }
    if bid.valid_until < today() {
        return Err(Error::conflict(
            "bid_expired",
            format!("the bid held until {}", bid.valid_until),
        ));
    }
    let (mut l, line_version) = line(tx.exec(), bid.line_id).await?;
    if l.committed.is_some() {
        return Err(Error::conflict(
            "line_committed",
            "the line has an accepted bid already",
        ));
    }
    for other in bids(tx.exec(), bid.line_id).await? {
        if other.id == id || other.status != BidStatus::Open {
            continue;
        }
        set_bid(tx, other, BidStatus::Rejected).await?;
    }
    bid.status = BidStatus::Accepted;
    let n = Query::new(
        "UPDATE api_rehab_bids SET status = 'accepted', version = $1, doc = $2 \
         WHERE id = $3 AND version = $4",
    )
    .bind(version + 1)
    .bind(render(&bid)?)
    .bind(id.to_string())
    .bind(version)
    .execute(tx.exec())
    .await?;
    changed(n, "bid")?;
    l.committed = Some(bid.amount.clone());
    save_line(tx, &l, line_version).await?;
    Ok(bid)
}

async fn set_bid(tx: &mut Tx, mut bid: Bid, status: BidStatus) -> Result<()> {
    bid.status = status;
    Query::new(
        "UPDATE api_rehab_bids SET status = $1, version = version + 1, doc = $2 WHERE id = $3",
    )
    .bind(status.as_str())
    .bind(render(&bid)?)
    .bind(bid.id.to_string())
    .execute(tx.exec())
    .await?;
    Ok(())
}

// ---- Draws ----

/// A draw to request.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDraw {
    /// The contractor paid.
    pub contractor_id: String,
    /// How much (USD).
    pub amount: Money,
    /// The invoice, a document of the property: its SHA-256 is the invoice hash on chain.
    pub invoice_document_id: String,
}

/// Where a draw stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DrawStatus {
    /// Requested; waiting for an operator's approval.
    Requested,
    /// Approved; waiting to be released.
    Approved,
    /// Released through the outbox (its action says when it is confirmed).
    Released,
    /// Paid to the contractor through the property's bank account instead (booked by the
    /// operator under the invoice's hash).
    PaidOffChain,
}

impl DrawStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DrawStatus::Requested => "requested",
            DrawStatus::Approved => "approved",
            DrawStatus::Released => "released",
            DrawStatus::PaidOffChain => "paid_off_chain",
        }
    }
}

/// A draw against a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Draw {
    /// Its id.
    pub id: DrawId,
    /// The line.
    pub line_id: LineId,
    /// The contractor.
    pub contractor_id: ContractorId,
    /// The wallet it is paid to.
    pub payout_wallet: String,
    /// How much.
    pub amount: Money,
    /// The invoice.
    pub invoice_document_id: DocumentId,
    /// The invoice's SHA-256 (0x and 64 hex digits): the reference on chain.
    pub invoice_hash: String,
    /// Where it stands.
    pub status: DrawStatus,
    /// Who requested it.
    pub requested_by: String,
    /// Who approved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The outbox action releasing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<ActionId>,
    /// Paid through the bank: the day and the ledger entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_payment: Option<BankPayment>,
    /// When it was requested (RFC 3339).
    pub created_at: String,
}

fn cents(m: &Money) -> Result<i64> {
    crate::types::Currency::USD.minor_units("/amount/amount", &m.amount)
}

/// What a line has drawn or has asked to draw (every draw of it, whatever its status).
async fn drawn_cents(exec: Exec<'_>, line_id: LineId) -> Result<i64> {
    let row = Query::new(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS n FROM api_rehab_draws \
         WHERE line_id = $1",
    )
    .bind(line_id.to_string())
    .fetch_one(exec)
    .await?;
    row.get::<i64>("n")
}

fn insured(c: &Contractor) -> Result<()> {
    let today = today();
    if c.insurance_expires_on < today {
        return Err(Error::conflict(
            "insurance_expired",
            format!(
                "{}'s insurance expired on {}; no draw is paid to it",
                c.company, c.insurance_expires_on
            ),
        ));
    }
    if c.license_expires_on < today {
        return Err(Error::conflict(
            "license_expired",
            format!(
                "{}'s license expired on {}",
                c.company, c.license_expires_on
            ),
        ));
    }
    Ok(())
}

/// Requests a draw against a line. Refused when the line's budget cannot cover it together
/// with its earlier draws, or when the contractor's insurance or license has expired.
pub async fn request_draw(
    tx: &mut Tx,
    actor: &Actor,
    line_id: LineId,
    new: &NewDraw,
) -> Result<Draw> {
    let (l, _) = line(tx.exec(), line_id).await?;
    let p = project(tx.exec(), l.project_id).await?;
    let mut e = Vec::new();
    let amount = positive("/amount", &new.amount, &mut e);
    let contractor_id = ContractorId::parse(&new.contractor_id).ok();
    if contractor_id.is_none() {
        e.push(FieldError::new("/contractor_id", "not a contractor id"));
    }
    let invoice = DocumentId::parse(&new.invoice_document_id).ok();
    let doc = match invoice {
        Some(id) => match documents::get(tx.exec(), id).await {
            Ok(d) if d.property_id == p.property_id => Some(d),
            Ok(_) | Err(Error::NotFound(_)) => {
                e.push(FieldError::new(
                    "/invoice_document_id",
                    "not a document of the project's property",
                ));
                None
            }
            Err(err) => return Err(err),
        },
        None => {
            e.push(FieldError::new("/invoice_document_id", "not a document id"));
            None
        }
    };
    done(e)?;
    let (Some(contractor_id), Some(doc)) = (contractor_id, doc) else {
        return Err(Error::Internal("checked fields missing".into()));
    };
    let c = match contractor(tx.exec(), contractor_id).await {
        Ok(c) => c,
        Err(Error::NotFound(_)) => {
            return Err(Error::invalid("/contractor_id", "no such contractor"));
        }
        Err(err) => return Err(err),
    };
    insured(&c)?;
    let budget = cents(&l.budget)?;
    let drawn = drawn_cents(tx.exec(), line_id).await?;
    if drawn + amount > budget {
        return Err(Error::conflict(
            "over_budget",
            format!(
                "the line's budget is {}, {} of it drawn or asked for; {} more is over it",
                l.budget.amount,
                money(drawn).amount,
                money(amount).amount
            ),
        ));
    }
    let hash = documents::sha256_of(&doc)?;
    let now = now_ms();
    let d = Draw {
        id: DrawId::new(),
        line_id,
        contractor_id,
        payout_wallet: c.payout_wallet.clone(),
        amount: money(amount),
        invoice_document_id: doc.id,
        invoice_hash: format!("0x{}", hex::encode(hash)),
        status: DrawStatus::Requested,
        requested_by: actor.reference(),
        approved_by: None,
        action_id: None,
        bank_payment: None,
        created_at: rfc3339(now),
    };
    Query::new(
        "INSERT INTO api_rehab_draws (id, line_id, status, amount_minor, version, created_at, doc) \
         VALUES ($1, $2, 'requested', $3, 1, $4, $5)",
    )
    .bind(d.id.to_string())
    .bind(line_id.to_string())
    .bind(amount)
    .bind(now)
    .bind(render(&d)?)
    .execute(tx.exec())
    .await?;
    Ok(d)
}

/// One draw with its version.
pub async fn draw(exec: Exec<'_>, id: DrawId) -> Result<(Draw, i64)> {
    load(exec, "api_rehab_draws", &id.to_string(), "draw").await
}

/// Stores a draw's new status.
pub async fn save_draw(tx: &mut Tx, d: &Draw, version: i64) -> Result<()> {
    let n = Query::new(
        "UPDATE api_rehab_draws SET status = $1, version = $2, doc = $3 \
         WHERE id = $4 AND version = $5",
    )
    .bind(d.status.as_str())
    .bind(version + 1)
    .bind(render(d)?)
    .bind(d.id.to_string())
    .bind(version)
    .execute(tx.exec())
    .await?;
    changed(n, "draw")
}

/// Approves a requested draw; the one who requested it may not approve it.
pub async fn approve_draw(tx: &mut Tx, actor: &Actor, id: DrawId) -> Result<Draw> {
    let (mut d, version) = draw(tx.exec(), id).await?;
    if d.status != DrawStatus::Requested {
        return Err(Error::conflict(
            "draw_status",
            format!(
                "the draw is {}; only a requested draw is approved",
                d.status.as_str()
            ),
        ));
    }
    if d.requested_by == actor.reference() {
        return Err(Error::conflict(
            "same_person",
            "a draw is approved by someone other than who requested it",
        ));
    }
    let c = contractor(tx.exec(), d.contractor_id).await?;
    insured(&c)?;
    d.status = DrawStatus::Approved;
    d.approved_by = Some(actor.reference());
    save_draw(tx, &d, version).await?;
    Ok(d)
}

/// A draw paid through the bank.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BankPayment {
    /// The day it was paid.
    pub paid_on: String,
    /// The ledger entry: Dr the line's capitalized improvements / Cr operating cash, under the
    /// invoice's hash.
    pub entry_id: i64,
    /// Who recorded it.
    pub recorded_by: String,
}

/// How an approved draw was paid through the bank.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBankPayment {
    /// The day it was paid (`YYYY-MM-DD`, not in the future).
    pub paid_on: String,
}

/// The draw as paid through the bank, after its entry is booked: refused unless it is
/// approved (a retry of the same payment finds it paid with the same entry).
pub async fn mark_paid_off_chain(
    tx: &mut Tx,
    actor: &Actor,
    id: DrawId,
    paid_on: NaiveDate,
    entry_id: i64,
) -> Result<Draw> {
    let (mut d, version) = draw(tx.exec(), id).await?;
    if let Some(b) = &d.bank_payment
        && b.entry_id == entry_id
    {
        return Ok(d);
    }
    if d.status != DrawStatus::Approved {
        return Err(Error::conflict(
            "draw_status",
            format!(
                "the draw is {}; only an approved draw is paid",
                d.status.as_str()
            ),
        ));
    }
    d.status = DrawStatus::PaidOffChain;
    d.bank_payment = Some(BankPayment {
        paid_on: day_text(paid_on),
        entry_id,
        recorded_by: actor.reference(),
    });
    save_draw(tx, &d, version).await?;
    Ok(d)
}

/// Books an approved draw paid through the bank: Dr the line's capitalized improvements / Cr
/// operating cash, under the invoice's hash (so the reconciliation knows the invoice), keyed by
/// the caller's `Idempotency-Key`. Returns the entry's id; a 409 `insufficient_funds` when the
/// bank's cash cannot pay it.
pub async fn book_bank_payment(
    ledger: &propledger_ledger::Ledger,
    property: crate::properties::PropertyId,
    line: &Line,
    d: &Draw,
    paid_on: NaiveDate,
    key_seed: &str,
) -> Result<i64> {
    use crate::deals::costs::{books_currency, ledger_error};
    use propledger_ledger::core::chart::{codes, template_line};
    use propledger_ledger::core::{
        AccountCode, Amount, Dimensions, EntryDraft, NewAccount, Source,
    };
    let currency = books_currency(ledger).await?;
    let amount = Amount::new(rust_decimal::Decimal::new(cents(&d.amount)?, 2), currency)
        .map_err(|_| Error::Internal("a draw's amount in the books".into()))?;
    let dim = crate::books::property_dim(&property.to_string())?;
    let accounts = ledger.accounts();
    let chart = accounts
        .open_property_chart(&dim, currency)
        .await
        .map_err(ledger_error)?;
    let cash = chart
        .iter()
        .find(|a| {
            a.code.as_str() == codes::OPERATING_CASH
                && a.dimensions.investor.is_none()
                && a.dimensions.budget_line.is_none()
                && a.dimensions.deal.is_none()
        })
        .map(|a| a.id)
        .ok_or_else(|| Error::Internal("no operating cash in the chart".into()))?;
    // The line's improvements account, opened as the indexer opens it.
    let template = template_line(codes::CAPITALIZED_IMPROVEMENTS)
        .ok_or_else(|| Error::Internal("no improvements in the chart".into()))?;
    let line_hex = line.chain_line.trim_start_matches("0x");
    let improvements = accounts
        .open(
            NewAccount::new(
                AccountCode::parse(codes::CAPITALIZED_IMPROVEMENTS).map_err(ledger_error)?,
                template.name,
                template.account_type,
                currency,
            )
            .with_dimensions(
                Dimensions::property(dim).with_budget_line(
                    propledger_ledger::core::DimValue::parse(line_hex)
                        .map_err(|_| Error::Internal("a budget line's dimension".into()))?,
                ),
            )
            .with_limit(template.limit),
        )
        .await
        .map_err(ledger_error)?;
    let key = bank_payment_key(d.id, key_seed)?;
    let source = Source::operator(&d.invoice_hash)
        .map_err(|_| Error::Internal("an invoice hash as a reference".into()))?;
    let draft = EntryDraft::builder(key, paid_on, source)
        .description(&format!(
            "Rehab draw {} paid through the bank to {}",
            d.id, d.payout_wallet
        ))
        .debit(improvements.id, amount)
        .credit(cash, amount)
        .build()
        .map_err(ledger_error)?;
    let receipt = ledger.entries().record(draft).await.map_err(ledger_error)?;
    Ok(receipt.id.get())
}

/// The ledger key of a draw's bank payment made under `key_seed` (the caller and their
/// `Idempotency-Key`).
pub fn bank_payment_key(
    id: DrawId,
    key_seed: &str,
) -> Result<propledger_ledger::core::IdempotencyKey> {
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(key_seed.as_bytes())[..8]);
    propledger_ledger::core::IdempotencyKey::parse(&format!("draw:{id}:{hash}"))
        .map_err(|_| Error::Internal("a draw payment's key".into()))
}

/// Reverses a bank payment's entry whose draw could not be marked paid (it was released
/// meanwhile), on the day it was booked.
pub async fn unbook_bank_payment(
    ledger: &propledger_ledger::Ledger,
    entry_id: i64,
    id: DrawId,
    paid_on: NaiveDate,
) -> Result<()> {
    use crate::deals::costs::ledger_error;
    use propledger_ledger::core::{EntryId, IdempotencyKey, Source};
    let key = IdempotencyKey::parse(&format!("draw-undo:{id}:{entry_id}"))
        .map_err(|_| Error::Internal("a reversal's key".into()))?;
    let source = Source::operator(&format!("draw{}-undo", id.0.simple()))
        .map_err(|_| Error::Internal("a reversal's source".into()))?;
    ledger
        .entries()
        .reverse(
            EntryId::new(entry_id),
            key,
            paid_on,
            "Bank payment of a draw released meanwhile, taken back",
            source,
        )
        .await
        .map_err(ledger_error)?;
    Ok(())
}

/// A project's draws in the order they were requested.
pub async fn draws_of(exec: Exec<'_>, project: ProjectId) -> Result<Vec<Draw>> {
    let rows = Query::new(
        "SELECT d.doc FROM api_rehab_draws d JOIN api_rehab_lines l ON l.id = d.line_id \
         WHERE l.project_id = $1 ORDER BY d.id LIMIT 5000",
    )
    .bind(project.to_string())
    .fetch_all(exec)
    .await?;
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.get::<String>("doc")?)
                .map_err(|_| Error::Corrupt("a stored draw".into()))
        })
        .collect()
}

/// One line's figures.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LineSummary {
    /// The line.
    #[serde(flatten)]
    pub line: Line,
    /// Its bids, cheapest first.
    pub bids: Vec<Bid>,
    /// Draws paid (released on chain or paid through the bank).
    pub drawn: Money,
    /// Draws requested or approved, not paid yet.
    pub pending_draws: Money,
    /// Budget less drawn and pending draws.
    pub remaining: Money,
}

/// A project with its lines' budget, committed, drawn and remaining amounts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProjectView {
    /// The project.
    #[serde(flatten)]
    pub project: Project,
    /// Its lines.
    pub lines: Vec<LineSummary>,
    /// Its draws.
    pub draws: Vec<Draw>,
    /// Sum of the budgets.
    pub budget: Money,
    /// Sum of the accepted bids.
    pub committed: Money,
    /// Sum of the paid draws.
    pub drawn: Money,
    /// Budget less drawn and pending draws.
    pub remaining: Money,
}

/// A project with every figure.
pub async fn view(exec_db: &crate::db::Db, id: ProjectId) -> Result<ProjectView> {
    let p = project(exec_db.reader(), id).await?;
    let lines = lines(exec_db.reader(), id).await?;
    let draws = draws_of(exec_db.reader(), id).await?;
    let (mut budget, mut committed, mut drawn, mut remaining) = (0i64, 0i64, 0i64, 0i64);
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let b = cents(&l.budget)?;
        let c = l.committed.as_ref().map(cents).transpose()?.unwrap_or(0);
        let (mut released, mut pending) = (0i64, 0i64);
        for d in draws.iter().filter(|d| d.line_id == l.id) {
            if matches!(d.status, DrawStatus::Released | DrawStatus::PaidOffChain) {
                released += cents(&d.amount)?;
            } else {
                pending += cents(&d.amount)?;
            }
        }
        budget += b;
        committed += c;
        drawn += released;
        remaining += b - released - pending;
        out.push(LineSummary {
            bids: bids(exec_db.reader(), l.id).await?,
            line: l,
            drawn: money(released),
            pending_draws: money(pending),
            remaining: money(b - released - pending),
        });
    }
    Ok(ProjectView {
        project: p,
        lines: out,
        draws,
        budget: money(budget),
        committed: money(committed),
        drawn: money(drawn),
        remaining: money(remaining),
    })
}

/// The day text of a date.
pub fn day_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}
