//! A property's distribution waterfall: set a new version, read the current one and the
//! history.

use alloy::primitives::Address;
use alloy::sol_types::SolCall;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use propledger_contracts::PropertyTreasury;
use propledger_indexer::books::{FEE_LINE, PROMOTE_LINE};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::agent::simulate;
use crate::distributions::DistributionId;
use crate::outbox::Call;
use crate::types::{Money, now_ms, rfc3339};
use crate::waterfall::runs::{self, Run, RunStatus};

use crate::auth::Allowed;
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, Json};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::properties::PropertyId;
use crate::waterfall::{self, NewWaterfall, WaterfallVersion};

/// A property's waterfall: the current version and the earlier ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaterfallHistory {
    /// The version in force.
    pub current: WaterfallVersion,
    /// Every version, the latest first (at most 100).
    pub versions: Vec<WaterfallVersion>,
}

/// The property's waterfall and its history; 404 when none was set.
#[utoipa::path(get, path = "/v1/properties/{id}/waterfall", tag = "distributions",
    params(("id" = String, Path, description = "The property's id")),
    responses((status = 200, body = WaterfallHistory)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<WaterfallHistory>> {
    auth.require(Allowed::READ)?;
    let id = PropertyId::parse(&id)?;
    let versions = waterfall::versions(app.db().reader(), id).await?;
    let current = versions
        .first()
        .cloned()
        .ok_or(Error::NotFound("waterfall"))?;
    Ok(axum::Json(WaterfallHistory { current, versions }))
}

/// Sets the property's waterfall: its tiers in the order they take cash (each kind at most
/// once; a catch-up needs a later split with the same promote). Each change is a new version;
/// the earlier ones stay.
#[utoipa::path(put, path = "/v1/properties/{id}/waterfall", tag = "distributions",
    request_body = NewWaterfall,
    params(("id" = String, Path, description = "The property's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = WaterfallVersion)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn set(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewWaterfall>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let id = PropertyId::parse(&id)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "PUT",
        "/v1/properties/{id}/waterfall",
        idem.0,
        &[id.to_string().as_bytes(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let v = waterfall::set(w.tx(), &actor, id, &body.value).await?;
    let resource = format!("{id}@{}", v.version);
    Ok(w.finish(StatusCode::CREATED, &v, Some(resource)).await?)
}

/// What a distribution of `amount` on `on` would pay through the property's current
/// waterfall, tier by tier and investor by investor, from the books' flows (capital paid in
/// accrues the preferred return from its day; distributions paid before pay the accrued
/// preferred return first, then return capital). Nothing is recorded.
#[utoipa::path(post, path = "/v1/properties/{id}/waterfall/preview", tag = "distributions",
    request_body = waterfall::PreviewRequest,
    params(("id" = String, Path, description = "The property's id")),
    responses((status = 200, body = waterfall::Preview)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn preview(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    body: Json<waterfall::PreviewRequest>,
) -> ApiResult<axum::Json<waterfall::Preview>> {
    auth.require(Allowed::READ)?;
    let id = PropertyId::parse(&id)?;
    Ok(axum::Json(waterfall::preview(&app, id, &body.value).await?))
}

/// A distribution to run through the waterfall.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// The cash to distribute (USD).
    pub amount: Money,
    /// Its date, `YYYY-MM-DD`: accruals run to it (default the chain's date; not after it).
    pub on: Option<String>,
    /// The period's gross rent, for a management fee on it (USD; default none).
    pub gross_rent: Option<Money>,
    /// Days the holders have to claim (1 to 3650, default 90).
    pub claim_days: Option<u32>,
    /// A note for the investors' distribution (at most 500 characters).
    pub memo: Option<String>,
}

/// The property's distributions run through the waterfall, oldest first, settled first (a
/// run whose actions confirmed is characterized in the books and shown funded).
#[utoipa::path(get, path = "/v1/properties/{id}/waterfall/distributions", tag = "distributions",
    params(("id" = String, Path, description = "The property's id")),
    responses((status = 200, body = Vec<Run>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn runs(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<Run>>> {
    auth.require(Allowed::READ)?;
    let id = PropertyId::parse(&id)?;
    crate::properties::get(app.db().reader(), id).await?;
    Ok(axum::Json(runs::settle(&app, id).await?))
}

/// Runs a distribution through the property's waterfall, exactly as its preview shows: the
/// investors' share is funded through the distributor for the holders at the record date, the
/// management fee and the promote are paid to the sponsor's wallet, the reserve stays in the
/// treasury. Refused while an earlier run is in flight (409 `waterfall_run_pending`), without
/// a sponsor wallet when the sponsor is paid (409 `no_sponsor_wallet`), and when the treasury's
/// free funds fall short (409 `insufficient_funds`); nothing is recorded then.
#[utoipa::path(post, path = "/v1/properties/{id}/waterfall/distributions", tag = "distributions",
    request_body = NewRun,
    params(("id" = String, Path, description = "The property's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Run)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn fund(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    body: Json<NewRun>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let property = PropertyId::parse(&id)?;
    crate::properties::get(app.db().reader(), property).await?;
    let new = &body.value;
    let today = runs::chain_today(&app).await?;
    let inputs = waterfall::check_inputs(
        &new.amount,
        new.on.as_deref(),
        new.gross_rent.as_ref(),
        today,
    )?;
    if inputs.2 > today {
        return Err(Error::invalid("/on", format!("after the chain's date ({today})")).into());
    }
    let (_, days, memo) = {
        let probe = crate::distributions::NewDistribution {
            property: crate::tokenization::token_id(property).to_string(),
            amount: new.amount.clone(),
            claim_days: new.claim_days,
            memo: new.memo.clone(),
        };
        let (_, _, days, memo) = crate::distributions::check(&probe)?;
        ((), days, memo)
    };
    let earlier = runs::settle(&app, property).await?;
    // A replay answers before anything is checked again.
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/properties/{id}/waterfall/distributions",
        idem.0,
        &[id.as_bytes(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    if earlier.iter().any(|r| r.status == RunStatus::Declared) {
        return Err(Error::conflict(
            "waterfall_run_pending",
            "an earlier distribution through the waterfall is still being carried out",
        )
        .into());
    }
    let planned = waterfall::plan(app.db(), app.ledger()?, property, inputs, &earlier).await?;
    let token = crate::tokenization::token_id(property).to_string();
    let contracts = crate::distributions::contracts(app.db(), &token).await?;
    let decimals = crate::market::index_head(app.db())
        .await?
        .ok_or_else(|| Error::Unavailable("the index has not read the chain yet".to_owned()))?
        .decimals;
    let units = |c: u64| {
        crate::distributions::units_of_cents(i64::try_from(c).unwrap_or(i64::MAX), decimals)
    };
    let (investors, fee, promote) = (planned.investors(), planned.fee(), planned.promote());
    let version = &planned.version;
    let sponsor: Option<Address> = match (&version.sponsor, fee + promote) {
        (_, 0) => None,
        (Some(s), _) => Some(
            s.parse()
                .map_err(|_| Error::Corrupt("a sponsor wallet".into()))?,
        ),
        (None, _) => {
            return Err(Error::conflict(
                "no_sponsor_wallet",
                "this distribution pays the sponsor: set the waterfall's sponsor wallet first",
            )
            .into());
        }
    };
    let (available, _, _) = runs::treasury_state(&app, contracts.treasury, FEE_LINE).await?;
    let needed = units(investors)? + units(fee)? + units(promote)?;
    if needed > available {
        return Err(Error::conflict(
            "insufficient_funds",
            format!(
                "the treasury has {} free and this distribution pays out {} (units of the settlement token)",
                available, needed
            ),
        )
        .into());
    }
    let run_id = DistributionId::new();
    let reference = crate::distributions::reference_of(run_id);
    // The claim window runs on the chain's clock.
    let deadline = crate::distributions::deadline(runs::chain_now(&app).await?, days);
    let mut actions = Vec::new();
    let mut declared = None;
    if investors > 0 {
        let call = Call::new(
            contracts.treasury,
            PropertyTreasury::fundDistributionCall {
                amount: units(investors)?,
                claimDeadline: deadline,
                r#ref: reference,
            }
            .abi_encode(),
        );
        simulate(&app, "treasurer", &call).await?;
        let action_id = w
            .enqueue(
                "treasurer",
                "waterfall.fund",
                call,
                None,
                Some(("distribution", run_id.to_string())),
            )
            .await?;
        actions.push(action_id);
        declared = Some(crate::distributions::Declared {
            id: run_id,
            property: token.clone(),
            amount: crate::deals::money(i64::try_from(investors).unwrap_or(i64::MAX)),
            units: units(investors)?.to_string(),
            reference: crate::distributions::reference_text(run_id),
            claim_deadline: crate::distributions::deadline_text(deadline),
            memo,
            action_id,
            created_by: w.actor().reference(),
            created_at: rfc3339(now_ms()),
        });
    }
    let mut draw_refs = [None, None];
    for (i, (line, kind, cents)) in [(FEE_LINE, "fee", fee), (PROMOTE_LINE, "promote", promote)]
        .into_iter()
        .enumerate()
    {
        let (Some(to), true) = (sponsor, cents > 0) else {
            continue;
        };
        let (_, _, drawn) = runs::treasury_state(&app, contracts.treasury, line).await?;
        let budget = Call::new(
            contracts.treasury,
            PropertyTreasury::setBudgetLineCall {
                line,
                budget: drawn + units(cents)?,
            }
            .abi_encode(),
        );
        let set = w
            .enqueue(
                "treasurer",
                "waterfall.budget",
                budget,
                actions.last().copied(),
                Some(("waterfall_run", run_id.to_string())),
            )
            .await?;
        let invoice = runs::draw_reference(run_id, kind);
        let draw = Call::new(
            contracts.treasury,
            PropertyTreasury::releaseDrawCall {
                contractor: to,
                amount: units(cents)?,
                line,
                invoiceHash: invoice,
            }
            .abi_encode(),
        );
        let paid = w
            .enqueue(
                "treasurer",
                if kind == "fee" {
                    "waterfall.fee"
                } else {
                    "waterfall.promote"
                },
                draw,
                Some(set),
                Some(("waterfall_run", run_id.to_string())),
            )
            .await?;
        actions.extend([set, paid]);
        draw_refs[i] = Some(format!("{invoice:#x}"));
    }
    let m = |c: u64| crate::deals::money(i64::try_from(c).unwrap_or(i64::MAX));
    let o = &planned.outcome;
    let run = Run {
        id: run_id,
        property_id: property,
        seq: earlier.last().map_or(0, |r| r.seq) + 1,
        waterfall_version: version.version,
        on: planned.on.format("%Y-%m-%d").to_string(),
        cash: m(planned.cash),
        gross_rent: m(planned.gross_rent),
        standing: planned.standing(),
        tiers: planned.tiers(),
        investors: m(investors),
        management_fee: m(fee),
        promote: m(promote),
        reserve: m(planned.reserve()),
        pref_carried: m(o.pref_carried),
        fee_unpaid: m(o.fee_unpaid),
        undistributed: m(o.undistributed),
        reference: crate::distributions::reference_text(run_id),
        distribution_id: declared.as_ref().map(|d| d.id),
        sponsor: sponsor.map(|s| s.to_checksum(None)),
        fee_reference: draw_refs[0].clone(),
        promote_reference: draw_refs[1].clone(),
        status: if actions.is_empty() {
            RunStatus::Funded
        } else {
            RunStatus::Declared
        },
        actions,
        failure: None,
        record_block: None,
        entry_id: None,
        created_by: w.actor().reference(),
        created_at: rfc3339(now_ms()),
    };
    if let Some(d) = &declared {
        crate::distributions::store(w.tx(), d, deadline).await?;
    }
    runs::store(w.tx(), &run).await?;
    let resource = run.id.to_string();
    Ok(w.finish(StatusCode::ACCEPTED, &run, Some(resource)).await?)
}
