//! Valuations: what a property was worth on a day, and on whose word (an appraisal, a broker's
//! opinion, an automated model, the operator, a sale). Appended, never changed; a property's
//! current value is its latest valuation (the latest day, then the latest recorded), which the
//! investor capital accounts and the deals' returns read. USD, exact to the cent.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Actor;
use crate::db::{Db, Exec, Query, Tx};
use crate::deals::{day_field, money, usd};
use crate::documents::{self, DocumentId};
use crate::error::{Error, FieldError, Result};
use crate::properties::{self, PropertyId};
use crate::types::{Money, Page, PageRequest, now_ms, rfc3339, typed_id};

typed_id!(
    /// A valuation's id.
    ValuationId,
    "valuation"
);

/// Longest note on a valuation.
pub const NOTE_MAX_LEN: usize = 500;

/// On whose word a value rests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValuationSource {
    /// A licensed appraiser's report.
    Appraisal,
    /// A broker's price opinion.
    BrokerOpinion,
    /// An automated valuation model.
    Automated,
    /// The operator's own estimate.
    Operator,
    /// The price the property sold for.
    Sale,
}

impl ValuationSource {
    fn as_str(self) -> &'static str {
        match self {
            ValuationSource::Appraisal => "appraisal",
            ValuationSource::BrokerOpinion => "broker_opinion",
            ValuationSource::Automated => "automated",
            ValuationSource::Operator => "operator",
            ValuationSource::Sale => "sale",
        }
    }
}

/// A valuation to record.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewValuation {
    /// What the property is worth (USD).
    pub value: Money,
    /// The day it is worth that (`YYYY-MM-DD`, not in the future).
    pub valued_on: String,
    /// On whose word.
    pub source: ValuationSource,
    /// A note (the appraiser, the method).
    pub note: Option<String>,
    /// The report, a document of the property.
    pub document_id: Option<String>,
}

/// A recorded valuation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Valuation {
    /// Its id.
    pub id: ValuationId,
    /// The property.
    pub property_id: PropertyId,
    /// What the property is worth.
    pub value: Money,
    /// The day it is worth that.
    pub valued_on: String,
    /// On whose word.
    pub source: ValuationSource,
    /// A note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<DocumentId>,
    /// Who recorded it.
    pub recorded_by: String,
    /// When (RFC 3339).
    pub recorded_at: String,
}

/// Records a valuation of `property`.
pub async fn record(
    tx: &mut Tx,
    actor: &Actor,
    property: PropertyId,
    new: &NewValuation,
) -> Result<Valuation> {
    // The property first: a valuation of no property is a 404 of the route.
    properties::get(tx.exec(), property).await?;
    let mut errors = Vec::new();
    let value = usd("/value", &new.value, &mut errors);
    if value <= 0 && errors.is_empty() {
        errors.push(FieldError::new("/value/amount", "must be more than zero"));
    }
    let valued_on = day_field("/valued_on", &new.valued_on, &mut errors);
    let today = crate::types::today_text();
    if !valued_on.is_empty() && valued_on > today {
        errors.push(FieldError::new("/valued_on", "in the future"));
    }
    let note = new.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > NOTE_MAX_LEN) {
        errors.push(FieldError::new(
            "/note",
            format!("at most {NOTE_MAX_LEN} characters"),
        ));
    }
    let document = match new.document_id.as_deref().map(DocumentId::parse) {
        None => None,
        Some(Ok(id)) => match documents::get(tx.exec(), id).await {
            Ok(d) if d.property_id == property => Some(id),
            Ok(_) | Err(Error::NotFound(_)) => {
                errors.push(FieldError::new(
                    "/document_id",
                    "not a document of this property",
                ));
                None
            }
            Err(e) => return Err(e),
        },
        Some(Err(_)) => {
            errors.push(FieldError::new("/document_id", "not a document id"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let now = now_ms();
    let v = Valuation {
        id: ValuationId::new(),
        property_id: property,
        value: money(value),
        valued_on,
        source: new.source,
        note: note.map(str::to_owned),
        document_id: document,
        recorded_by: actor.reference(),
        recorded_at: rfc3339(now),
    };
    let doc = serde_json::to_string(&v)
        .map_err(|e| Error::Internal(format!("rendering a valuation: {e}")))?;
    Query::new(
        "INSERT INTO api_valuations (id, property_id, valued_on, value_minor, source, \
         recorded_by, recorded_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(v.id.to_string())
    .bind(property.to_string())
    .bind(v.valued_on.clone())
    .bind(value)
    .bind(v.source.as_str())
    .bind(v.recorded_by.clone())
    .bind(now)
    .bind(doc)
    .execute(tx.exec())
    .await?;
    Ok(v)
}

fn parse(doc: &str) -> Result<Valuation> {
    serde_json::from_str(doc).map_err(|_| Error::Corrupt("a stored valuation".to_owned()))
}

/// The property's value as of the end of a day (today when `None`): its latest valuation on
/// or before it, if it has one.
pub async fn current(
    exec: Exec<'_>,
    property: PropertyId,
    as_of: Option<chrono::NaiveDate>,
) -> Result<Option<Valuation>> {
    Query::new(
        "SELECT doc FROM api_valuations WHERE property_id = $1 AND ($2 IS NULL OR valued_on <= $2) \
         ORDER BY valued_on DESC, id DESC LIMIT 1",
    )
    .bind(property.to_string())
    .bind(as_of.map(|d| d.format("%Y-%m-%d").to_string()))
    .fetch_optional(exec)
    .await?
    .map(|r| parse(&r.get::<String>("doc")?))
    .transpose()
}

/// The property's valuations in the order they were recorded.
pub async fn list(db: &Db, property: PropertyId, page: &PageRequest) -> Result<Page<Valuation>> {
    properties::get(db.reader(), property).await?;
    let rows = Query::new(
        "SELECT id, doc FROM api_valuations WHERE property_id = $1 AND id > $2 \
         ORDER BY id LIMIT $3",
    )
    .bind(property.to_string())
    .bind(page.after.clone().unwrap_or_default())
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let items = rows
        .iter()
        .map(|r| parse(&r.get::<String>("doc")?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_probe(items, page, |v| v.id.to_string()))
}
