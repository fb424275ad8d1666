//! The audit log (admins and auditors).

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::page_type;
use crate::audit::{self, AuditEntry, AuditFilter, Outcome};
use crate::auth::Allowed;
use crate::http::extract::{Auth, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::types::PageRequest;

page_type!(
    /// A page of the audit log.
    AuditPage,
    AuditEntry
);

/// Filters and paging of the audit log.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
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
    /// Items per page (1 to 200, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The audit log in order: every write the API was asked for, with its actor, route, resource,
/// request id, status and outcome.
#[utoipa::path(get, path = "/v1/audit-log", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "auditor"]))))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<axum::Json<AuditPage>> {
    auth.require(Allowed::AUDIT)?;
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = AuditFilter {
        actor_id: q.actor_id,
        resource_id: q.resource_id,
        outcome: q.outcome,
        since: q.since,
        until: q.until,
    };
    Ok(axum::Json(
        audit::list(app.db(), &filter, &page).await?.into(),
    ))
}
