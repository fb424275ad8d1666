//! The audit log: every write the API was asked for, who asked, what it touched, when, under
//! which request id, and how it ended. Append-only (the schema refuses updates and deletes).
//!
//! A write that succeeds records its row in the same transaction as its change, so the log and
//! the data never disagree; a refused or failed write records its row on its own afterwards
//! (it changed nothing).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Actor, ActorKind};
use crate::db::{Db, Exec, Query, Row};
use crate::error::{Error, Result};
use crate::types::{Page, PageRequest, now_ms, parse_time, rfc3339};

/// How a write ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It happened (2xx).
    Succeeded,
    /// The API refused it (4xx); nothing changed.
    Refused,
    /// It failed (5xx); nothing changed.
    Failed,
}

impl Outcome {
    /// The outcome of a response status.
    pub fn of_status(status: u16) -> Outcome {
        match status {
            200..=399 => Outcome::Succeeded,
            400..=499 => Outcome::Refused,
            _ => Outcome::Failed,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Outcome> {
        Ok(match s {
            "succeeded" => Outcome::Succeeded,
            "refused" => Outcome::Refused,
            "failed" => Outcome::Failed,
            other => return Err(Error::Corrupt(format!("audit outcome {other:?}"))),
        })
    }
}

/// One write to record.
#[derive(Clone, Debug)]
pub struct Record<'a> {
    /// The request's id.
    pub request_id: &'a str,
    /// Who asked.
    pub actor: &'a Actor,
    /// The HTTP method.
    pub method: &'a str,
    /// The route's template (`/v1/properties/{id}`), or a command's name.
    pub route: &'a str,
    /// The resource written, when there is one.
    pub resource_id: Option<&'a str>,
    /// The response's status.
    pub status: u16,
}

/// Appends a row.
pub async fn append(exec: Exec<'_>, rec: &Record<'_>) -> Result<()> {
    Query::new(
        "INSERT INTO api_audit_log (at, request_id, actor_kind, actor_id, actor_name, method, route, \
         resource_id, status, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(now_ms())
    .bind(rec.request_id)
    .bind(rec.actor.kind.as_str())
    .bind(rec.actor.id.clone())
    .bind(rec.actor.name.clone())
    .bind(rec.method)
    .bind(rec.route)
    .bind(rec.resource_id)
    .bind(i64::from(rec.status))
    .bind(Outcome::of_status(rec.status).as_str())
    .execute(exec)
    .await?;
    Ok(())
}

/// A row of the audit log.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Position in the log (increasing).
    pub seq: i64,
    /// When (RFC 3339).
    pub at: String,
    /// The request's id (also in the `x-request-id` response header and the node's log).
    pub request_id: String,
    /// The kind of actor.
    pub actor_kind: ActorKind,
    /// The user's or key's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// The user's or key's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The route's template.
    pub route: String,
    /// The resource written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// The response's status.
    pub status: u16,
    /// How it ended.
    pub outcome: Outcome,
}

fn entry_from(row: &Row) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: row.get("seq")?,
        at: rfc3339(row.get("at")?),
        request_id: row.get("request_id")?,
        actor_kind: ActorKind::parse(&row.get::<String>("actor_kind")?)?,
        actor_id: row.get("actor_id")?,
        actor_name: row.get("actor_name")?,
        method: row.get("method")?,
        route: row.get("route")?,
        resource_id: row.get("resource_id")?,
        status: u16::try_from(row.get::<i64>("status")?)
            .map_err(|_| Error::Corrupt("audit status".to_owned()))?,
        outcome: Outcome::parse(&row.get::<String>("outcome")?)?,
    })
}

/// Filters of the audit log.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only this actor's writes (a user's or key's id).
    pub actor_id: Option<String>,
    /// Only writes to this resource.
    pub resource_id: Option<String>,
    /// Only writes with this outcome.
    pub outcome: Option<Outcome>,
    /// Only writes at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only writes before this time (RFC 3339).
    pub until: Option<String>,
}

/// The log in order, filtered.
pub async fn list(db: &Db, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEntry>> {
    let after: i64 = match &page.after {
        Some(a) => a
            .parse()
            .map_err(|_| Error::invalid("cursor", "not a cursor this API issued"))?,
        None => 0,
    };
    let since = filter
        .since
        .as_deref()
        .map(|s| parse_time("since", s))
        .transpose()?;
    let until = filter
        .until
        .as_deref()
        .map(|s| parse_time("until", s))
        .transpose()?;
    let rows = Query::new(
        "SELECT seq, at, request_id, actor_kind, actor_id, actor_name, method, route, resource_id, \
         status, outcome FROM api_audit_log \
         WHERE seq > $1 AND ($2 IS NULL OR actor_id = $2) AND ($3 IS NULL OR resource_id = $3) \
         AND ($4 IS NULL OR outcome = $4) AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) \
         ORDER BY seq LIMIT $7",
    )
    .bind(after)
    .bind(filter.actor_id.clone())
    .bind(filter.resource_id.clone())
    .bind(filter.outcome.map(|o| o.as_str()))
    .bind(since)
    .bind(until)
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let entries = rows.iter().map(entry_from).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_probe(entries, page, |e| e.seq.to_string()))
}
