//! Tokenizing a property: one launch transaction through the outbox, and its outcome.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use propledger_contracts::TestStablecoin;

use super::agent::simulate;
use crate::auth::Allowed;
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, Json};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::outbox::{self, Call, Status};
use crate::properties::{self, PropertyId};
use crate::tokenization::{self, Tokenization, TokenizationRequest};
use crate::types::{now_ms, rfc3339};

/// The settlement token's decimals, as the chain says.
async fn settlement_decimals(app: &App) -> ApiResult<u32> {
    let ctx = app.chain()?;
    let token = TestStablecoin::new(ctx.platform.settlement_token, &ctx.provider);
    let d = token
        .decimals()
        .call()
        .await
        .map_err(|e| Error::Unavailable(format!("reading the settlement token: {e}")))?;
    Ok(u32::from(d))
}

/// Tokenizes a property: mints its deed (recording a document's Keccak-256 and URI) and creates
/// its share token, compliance rules, treasury, distributor and first offering, all in one
/// transaction sent by the outbox. The launch is simulated first, so one the contracts would
/// refuse is answered at once (409) and nothing is recorded. A property is tokenized once; a
/// launch that failed may be asked for again.
#[utoipa::path(post, path = "/v1/properties/{id}/tokenization", tag = "properties",
    request_body = TokenizationRequest,
    params(("id" = String, Path, description = "The property's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Tokenization)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn create(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<TokenizationRequest>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let id = PropertyId::parse(&id)?;
    properties::get(app.db().reader(), id).await?;
    let chain = app.chain()?;
    let decimals = settlement_decimals(&app).await?;
    let prepared = tokenization::prepare(
        app.db(),
        app.blobs(),
        &chain.platform,
        decimals,
        &app.config().public_url,
        id,
        body.value,
    )
    .await?;
    let call = Call::new(prepared.call.to, prepared.call.data.to_vec());
    // Simulated unless the property already has a launch, which the write below either
    // replays (a retry with the same key) or refuses as a second tokenization: either answer
    // is better than the revert a second launch would give.
    if tokenization::launch_status(app.db(), id)
        .await?
        .is_none_or(|s| s == Status::Failed)
    {
        simulate(&app, "admin", &call).await?;
    }
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/properties/{id}/tokenization",
        idem.0,
        &[id.to_string().as_bytes(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let action = w
        .enqueue(
            "admin",
            "property.launch",
            call,
            None,
            Some(("property", id.to_string())),
        )
        .await?;
    let actor = w.actor().reference();
    tokenization::record(w.tx(), chain.chain_id, id, &prepared.launch, action, &actor).await?;
    let action = outbox::get(w.tx().exec(), action).await?;
    let view = Tokenization {
        property_id: id,
        status: Status::Queued,
        launch: prepared.launch,
        action,
        contracts: None,
        created_by: actor,
        created_at: rfc3339(now_ms()),
    };
    Ok(w.finish(StatusCode::ACCEPTED, &view, Some(id.to_string()))
        .await?)
}

/// A property's tokenization: its launch's status and, once confirmed, the contracts it created.
#[utoipa::path(get, path = "/v1/properties/{id}/tokenization", tag = "properties",
    params(("id" = String, Path, description = "The property's id")),
    responses((status = 200, body = Tokenization)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Tokenization>> {
    auth.require(Allowed::READ)?;
    let id = PropertyId::parse(&id)?;
    let chain = app.chain()?;
    Ok(axum::Json(
        tokenization::get(app.db(), &chain.provider, &chain.platform, id).await?,
    ))
}
