//! The auditor's checks against the chain (admins and auditors): a property's on-chain
//! history, its cap table at a block, the ledger's own checks, and the books reconciled with
//! the chain. The whole-books checks run one at a time (another is a 429).

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Allowed;
use crate::chain_audit::{self, CapTableView, EventPage, LedgerCheck, Verification};
use crate::error::Error;
use crate::http::extract::{Auth, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;

/// Paging of a property's history.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Events per page (1 to 500, default 100).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The property's on-chain history as the node stored it: every event of its share token,
/// treasury, distributor and offerings, and the deed's events about its token, in chain order,
/// each with block number and hash, transaction hash and index, log index, and its decoded
/// fields.
#[utoipa::path(get, path = "/v1/audit/properties/{id}/events", tag = "audit",
    params(("id" = String, Path, description = "The property's id or deed token id"), EventsQuery),
    responses((status = 200, body = EventPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "auditor"]))))]
pub async fn events(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<axum::Json<EventPage>> {
    auth.require(Allowed::AUDIT)?;
    let deed = app.chain()?.platform.deed.address;
    Ok(axum::Json(
        chain_audit::events(
            app.db(),
            &id,
            deed,
            q.cursor.as_deref(),
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}

/// The block an audit view is read at.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtBlock {
    /// The block (the last indexed one by default).
    pub block: Option<u64>,
}

/// The property's cap table at a block, from its indexed `Transfer` events, checked against
/// the chain's `balanceOf` and `totalSupply` at that block (`differences` lists where they
/// disagree).
#[utoipa::path(get, path = "/v1/audit/properties/{id}/cap-table", tag = "audit",
    params(("id" = String, Path, description = "The property's id or deed token id"), AtBlock),
    responses((status = 200, body = CapTableView)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "auditor"]))))]
pub async fn cap_table(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<AtBlock>,
) -> ApiResult<axum::Json<CapTableView>> {
    auth.require(Allowed::AUDIT)?;
    let source = chain_audit::source(app.chain()?.source.as_ref()).await?;
    let block = match q.block {
        Some(b) => b,
        None => chain_audit::last_indexed(app.db()).await?,
    };
    Ok(axum::Json(
        chain_audit::cap_table(app.db(), app.ledger()?, &id, block, Some(&source)).await?,
    ))
}

fn one_at_a_time(app: &App) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
    Ok(app
        .inner
        .audits
        .clone()
        .try_acquire_owned()
        .map_err(|_| Error::RateLimited { retry_after_s: 5 })?)
}

/// The ledger's own checks: every posted entry's hash and chain link recomputed (the first
/// break named), and every balance recomputed from its postings.
#[utoipa::path(get, path = "/v1/audit/ledger", tag = "audit",
    responses((status = 200, body = LedgerCheck)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "auditor"]))))]
pub async fn ledger(State(app): State<App>, auth: Auth) -> ApiResult<axum::Json<LedgerCheck>> {
    auth.require(Allowed::AUDIT)?;
    let _permit = one_at_a_time(&app)?;
    Ok(axum::Json(chain_audit::ledger_check(app.ledger()?).await?))
}

/// The books reconciled with the chain at a block (the shape of
/// `propledger_indexer::audit::Reconciliation`, with `paid_off_chain`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ReconciliationDoc(serde_json::Value);

/// The books reconciled with the chain at a block: treasury and distributor cash against the
/// settlement token's balances, every cap table against the chain, and every chain event
/// carrying a reference against the operator's record of it (an entry with that reference, a
/// released draw, a declared distribution); draws paid through the bank are listed apart.
/// `clean` says whether everything agrees.
#[utoipa::path(get, path = "/v1/audit/reconciliation", tag = "audit", params(AtBlock),
    responses((status = 200, body = ReconciliationDoc)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "auditor"]))))]
pub async fn reconciliation(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<AtBlock>,
) -> ApiResult<axum::Json<chain_audit::ReconciliationView>> {
    auth.require(Allowed::AUDIT)?;
    let chain = app.chain()?;
    let source = chain_audit::source(chain.source.as_ref()).await?;
    let _permit = one_at_a_time(&app)?;
    Ok(axum::Json(
        chain_audit::reconciliation(
            app.db(),
            app.ledger()?,
            source,
            chain.platform.settlement_token,
            q.block,
        )
        .await?,
    ))
}

/// What to verify, and against which endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVerification {
    /// The property (its id or deed token id).
    pub property: String,
    /// A JSON-RPC endpoint of the same chain, one on the node's allowlist
    /// (`--audit-rpc-allow`).
    pub rpc_url: String,
}

/// Re-reads a property's history from a JSON-RPC endpoint the auditor names (one on the node's
/// allowlist; the node reads no other) and compares it with what the node stored and booked:
/// events missing, extra or changed, and entries whose source names no event on chain or whose
/// amounts are not their event's. Up to the index's last block; at most 120 s, 200,000 events
/// and 16 MiB per `eth_getLogs` answer. Runs one at a time per replica with the other
/// whole-books checks.
#[utoipa::path(post, path = "/v1/audit/verifications", tag = "audit",
    request_body = NewVerification,
    responses((status = 200, body = Verification)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "auditor"]))))]
pub async fn verify(
    State(app): State<App>,
    auth: Auth,
    body: crate::http::extract::Json<NewVerification>,
) -> ApiResult<axum::Json<Verification>> {
    auth.require(Allowed::AUDIT)?;
    let body = body.value;
    if !chain_audit::allowed_endpoint(&body.rpc_url, &app.config().audit_rpc_allowlist) {
        return Err(Error::invalid(
            "/rpc_url",
            "not on the node's allowlist of audit endpoints (--audit-rpc-allow)",
        )
        .into());
    }
    let chain = app.chain()?;
    let mut config = propledger_indexer::source::SourceConfig::new(body.rpc_url.trim());
    config.tls = chain.source.as_ref().and_then(|s| s.tls.clone());
    config.max_logs_body = chain_audit::VERIFY_MAX_LOGS_BODY;
    let _permit = one_at_a_time(&app)?;
    let deed = chain.platform.deed.address;
    let run = async {
        let source = propledger_indexer::source::RpcSource::connect(config)
            .await
            .map_err(|e| Error::Unavailable(format!("the endpoint: {e}")))?;
        chain_audit::verify(app.db(), app.ledger()?, &source, deed, &body.property).await
    };
    let mut report = tokio::time::timeout(chain_audit::VERIFY_TIMEOUT, run)
        .await
        .map_err(|_| {
            Error::Unavailable(format!(
                "the verification took longer than {} s",
                chain_audit::VERIFY_TIMEOUT.as_secs()
            ))
        })??;
    report.rpc_url = propledger_net::redact_url(body.rpc_url.trim());
    Ok(axum::Json(report))
}

/// Every anchor of the books' head the chain recorded (read from the chain, not the database),
/// each checked against the hash the books hold for that entry now; entries after the last
/// anchor are the unanchored tail.
#[utoipa::path(get, path = "/v1/audit/anchors", tag = "audit",
    responses((status = 200, body = crate::anchors::AnchorCheck)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "auditor"]))))]
pub async fn anchors(
    State(app): State<App>,
    auth: Auth,
) -> ApiResult<axum::Json<crate::anchors::AnchorCheck>> {
    auth.require(Allowed::AUDIT)?;
    let chain = app.chain()?;
    let source = chain_audit::source(chain.source.as_ref()).await?;
    Ok(axum::Json(
        crate::anchors::check(chain, &source, app.ledger()?).await?,
    ))
}

/// What asking for an anchor did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnchorAsked {
    /// Whether an anchor of the books' head is queued (false: the chain's last anchor already
    /// covers it, or no entry is posted yet).
    pub queued: bool,
    /// The anchor queued (or found queued) for the head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<crate::anchors::Queued>,
}

/// Anchors the books' head on chain now, through the outbox (the admin's key): 202 with the
/// action, or 200 with `queued: false` when the chain's last anchor already covers the head.
#[utoipa::path(post, path = "/v1/audit/anchors", tag = "audit",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = AnchorAsked)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin"]))))]
pub async fn anchor(
    State(app): State<App>,
    ctx: crate::http::extract::Ctx,
    auth: Auth,
    idem: crate::http::extract::Idem,
) -> ApiResult<axum::response::Response> {
    use crate::http::write::{Begun, Write};
    let p = auth.require(Allowed::ADMIN)?;
    let chain = app.writable_chain()?.clone();
    let ledger = app.ledger()?.clone();
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/audit/anchors",
        idem.0,
        &[],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let queued = crate::anchors::queue(w.tx(), &chain, &ledger, &actor).await?;
    if queued.is_some() {
        w.note_enqueued();
    }
    let status = if queued.is_some() {
        axum::http::StatusCode::ACCEPTED
    } else {
        axum::http::StatusCode::OK
    };
    let resource = queued.as_ref().map(|q| q.entries.to_string());
    let body = AnchorAsked {
        queued: queued.is_some(),
        anchor: queued,
    };
    Ok(w.finish(status, &body, resource).await?)
}

/// What the anomaly checks look at.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnomalyQuery {
    /// Only this property's draws (its id); the writes are always the whole platform's.
    pub property: Option<String>,
    /// How far above its accepted bid a line may be drawn, in percent (0 to 1000, default 10).
    pub tolerance_pct: Option<i64>,
    /// Business hours in UTC, `8-18` by default; `0-24` is around the clock, every day.
    pub hours: Option<String>,
}

/// The books' anomaly checks, each flag explained: draws far above their line's accepted bid,
/// duplicate invoices, the same amount to the same contractor within days, payments to a wallet
/// the contractor was never paid to (or another contractor's), and writes of money outside
/// business hours.
#[utoipa::path(get, path = "/v1/audit/anomalies", tag = "audit", params(AnomalyQuery),
    responses((status = 200, body = Vec<crate::anomalies::Anomaly>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "auditor"]))))]
pub async fn anomalies(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<AnomalyQuery>,
) -> ApiResult<axum::Json<Vec<crate::anomalies::Anomaly>>> {
    auth.require(Allowed::AUDIT)?;
    let property = q
        .property
        .as_deref()
        .map(|p| {
            crate::properties::PropertyId::parse(p)
                .map_err(|_| Error::invalid("property", "a property's id"))
        })
        .transpose()?;
    let tolerance_pct = q.tolerance_pct.unwrap_or(10);
    if !(0..=1000).contains(&tolerance_pct) {
        return Err(Error::invalid("tolerance_pct", "from 0 to 1000").into());
    }
    let hours = match q.hours.as_deref() {
        None => (8, 18),
        Some(h) => h
            .split_once('-')
            .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
            .filter(|(a, b)| a < b && *b <= 24)
            .ok_or_else(|| Error::invalid("hours", "two hours such as 8-18, the first earlier"))?,
    };
    Ok(axum::Json(
        crate::anomalies::run(
            app.db(),
            crate::anomalies::Checks {
                property,
                tolerance_pct,
                hours,
            },
        )
        .await?,
    ))
}
