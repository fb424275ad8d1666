//! Operations on many investors at once: importing a register and freezing. Each request
//! reports one outcome per investor, in the order sent, and queues the registry's batch calls
//! (`registerInvestors`, `setInvestorsFrozen`) of at most 200 investors each through the outbox;
//! the request as a whole is idempotent (with an `Idempotency-Key`, a replay answers the first
//! response; without one, repeating it changes nothing more).

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolCall;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use propledger_contracts::{IdentityRegistry, PropertyShares, ReasonCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::agent::{reason_of, share_token, simulate};
use crate::auth::Allowed;
use crate::compliance::share_units;
use crate::error::{Checks, Error, FieldError};
use crate::http::extract::{Auth, Ctx, Idem, Json};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::investors::{self, ApplicationStatus, Imported, InvestorId, Registration};
use crate::outbox::{self, Action, Call};

/// Freezing or unfreezing many investors with one reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFreeze {
    /// The investors' ids (1 to 1,000, each once).
    pub investor_ids: Vec<String>,
    /// Freeze (`true`) or unfreeze (`false`).
    pub frozen: bool,
    /// Why (kept in the audit log).
    pub reason: String,
}

/// One investor's outcome in a bulk operation.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkOutcome {
    /// The id as sent.
    pub investor_id: String,
    /// `queued` (in one of the actions), `not_found`, `not_approved` or `invalid` (not an id).
    pub outcome: String,
}

/// What a bulk freeze did: one outcome per investor, in the order sent, and the actions.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkFreezeResult {
    /// One per investor.
    pub items: Vec<BulkOutcome>,
    /// One `setInvestorsFrozen` per 200 investors queued, sent in order.
    pub actions: Vec<Action>,
}

/// Most investors one bulk request may name.
pub const BULK_MAX: usize = 1000;
/// Most investors one registry transaction takes (`IdentityRegistry.MAX_BATCH`).
pub const REGISTRY_BATCH: usize = 200;

/// Freezes or unfreezes many investors on every share token, in batches of 200 per registry
/// transaction through the outbox. Investors that cannot be frozen (unknown, not approved) are
/// reported and skipped; the request as a whole is idempotent with an `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/investors/freezes", tag = "investors", request_body = BulkFreeze,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = BulkFreezeResult)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn freeze_investors(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<BulkFreeze>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let b = &body.value;
    reason_of("/reason", &b.reason)?;
    if b.investor_ids.is_empty() || b.investor_ids.len() > BULK_MAX {
        return Err(Error::invalid("/investor_ids", format!("1 to {BULK_MAX} ids")).into());
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut items = Vec::with_capacity(b.investor_ids.len());
    let mut ids: Vec<B256> = Vec::new();
    for (i, raw) in b.investor_ids.iter().enumerate() {
        if !seen.insert(raw.as_str()) {
            return Err(Error::invalid(format!("/investor_ids/{i}"), "named twice").into());
        }
        let outcome = match InvestorId::parse(raw) {
            Err(_) => "invalid",
            Ok(id) => match investors::read(app.db(), id).await {
                Err(Error::NotFound(_)) => "not_found",
                Err(e) => return Err(e.into()),
                Ok(inv) if inv.status != ApplicationStatus::Approved => "not_approved",
                Ok(inv) => {
                    ids.push(B256::from(investors::registry_id(&inv)?));
                    "queued"
                }
            },
        };
        items.push(BulkOutcome {
            investor_id: raw.clone(),
            outcome: outcome.to_owned(),
        });
    }
    let registry = app.chain()?.platform.identity_registry.address;
    let calls: Vec<Call> = ids
        .chunks(REGISTRY_BATCH)
        .map(|chunk| {
            Call::new(
                registry,
                IdentityRegistry::setInvestorsFrozenCall {
                    investorIds: chunk.to_vec(),
                    frozen: b.frozen,
                }
                .abi_encode(),
            )
        })
        .collect();
    if let Some(first) = calls.first() {
        simulate(&app, "registrar", first).await?;
    }
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/investors/freezes",
        idem.0,
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let kind = if b.frozen {
        "identity.freeze_many"
    } else {
        "identity.unfreeze_many"
    };
    let mut actions = Vec::new();
    let mut after = None;
    for call in calls {
        let id = w.enqueue("registrar", kind, call, after, None).await?;
        after = Some(id);
        actions.push(outbox::get(w.tx().exec(), id).await?);
    }
    Ok(w.finish(
        StatusCode::ACCEPTED,
        &BulkFreezeResult { items, actions },
        None,
    )
    .await?)
}

/// Importing a register: many investors, each with what compliance verified and a wallet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRegistration {
    /// The investors (1 to 1,000, each wallet once).
    pub investors: Vec<Registration>,
}

/// One investor's outcome in an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationOutcome {
    /// The wallet as sent.
    pub wallet: String,
    /// `created` (a new investor), `updated` (the wallet's investor, approved and updated),
    /// `invalid` (see `errors`), `rejected` (the wallet's investor was rejected: nothing done)
    /// or `wallet_taken` (the registry links the wallet to an investor this platform does not
    /// know as its owner: nothing done).
    pub outcome: String,
    /// The investor, when created or updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investor_id: Option<String>,
    /// What is wrong with an invalid item (pointers into the request).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// What an import did: one outcome per investor, in the order sent, and the actions.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkRegistrationResult {
    /// One per investor.
    pub items: Vec<RegistrationOutcome>,
    /// One `registerInvestors` per 200 investors queued, sent in order.
    pub actions: Vec<Action>,
}

/// An item that passed its checks, with the registry id it will have.
struct Planned {
    index: usize,
    checked: investors::CheckedRegistration,
    registry_id: [u8; 32],
}

fn registrations(planned: &[(&Planned, &Registration)]) -> Vec<IdentityRegistry::Registration> {
    planned
        .iter()
        .map(|(p, r)| IdentityRegistry::Registration {
            investorId: B256::from(p.registry_id),
            country: p.checked.country,
            accredited: r.accredited,
            kycExpiry: investors::kyc_expiry_s(p.checked.kyc_expires_on).unwrap_or(0),
            wallet: p.checked.wallet,
        })
        .collect()
}

fn batch_calls(registry: Address, items: &[IdentityRegistry::Registration]) -> Vec<Call> {
    items
        .chunks(REGISTRY_BATCH)
        .map(|chunk| {
            Call::new(
                registry,
                IdentityRegistry::registerInvestorsCall {
                    items: chunk.to_vec(),
                }
                .abi_encode(),
            )
        })
        .collect()
}

/// Registers or updates many investors (an import from another register): each is approved
/// with what compliance verified and registered on chain with its wallet, 200 a registry
/// transaction through the outbox. A wallet already an investor's updates that investor; an
/// item that cannot be done is reported and skipped, never the request.
#[utoipa::path(post, path = "/v1/investors/registrations", tag = "investors", request_body = BulkRegistration,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = BulkRegistrationResult)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn register_investors(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<BulkRegistration>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let items = &body.value.investors;
    if items.is_empty() || items.len() > BULK_MAX {
        return Err(Error::invalid("/investors", format!("1 to {BULK_MAX} investors")).into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, r) in items.iter().enumerate() {
        if let Ok(w) = r.wallet.parse::<Address>()
            && !seen.insert(w)
        {
            return Err(Error::invalid(format!("/investors/{i}/wallet"), "named twice").into());
        }
    }
    let registry = app.chain()?.platform.identity_registry.address;
    // What each item would do, read before anything is written.
    let mut outcomes: Vec<RegistrationOutcome> = items
        .iter()
        .map(|r| RegistrationOutcome {
            wallet: r.wallet.clone(),
            outcome: String::new(),
            investor_id: None,
            errors: Vec::new(),
        })
        .collect();
    let mut planned = Vec::new();
    for (i, r) in items.iter().enumerate() {
        let checked = match r.check() {
            Ok(c) => c,
            Err(Error::Invalid(errors)) => {
                outcomes[i].outcome = "invalid".to_owned();
                outcomes[i].errors = errors
                    .into_iter()
                    .map(|e| FieldError::new(format!("/investors/{i}{}", e.pointer), e.detail))
                    .collect();
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let owner = investors::of_wallet(app.db(), &checked.wallet.to_checksum(None)).await?;
        let registry_id = match &owner {
            Some(inv) if inv.status == ApplicationStatus::Rejected => {
                outcomes[i].outcome = "rejected".to_owned();
                outcomes[i].investor_id = Some(inv.id.to_string());
                continue;
            }
            Some(inv) => investors::registry_id(inv)?,
            None => crate::auth::secret::random_bytes::<32>()?,
        };
        planned.push(Planned {
            index: i,
            checked,
            registry_id,
        });
    }
    // The registry's answer for each planned item, from a simulation of its batch.
    let pairs: Vec<(&Planned, &Registration)> =
        planned.iter().map(|p| (p, &items[p.index])).collect();
    let mut chain_ok = vec![true; planned.len()];
    for (n, call) in batch_calls(registry, &registrations(&pairs))
        .iter()
        .enumerate()
    {
        let out = simulate(&app, "registrar", call).await?;
        let codes =
            IdentityRegistry::registerInvestorsCall::abi_decode_returns(&out).map_err(|_| {
                Error::Unavailable("the registry answered an unexpected result".to_owned())
            })?;
        for (k, code) in codes.into_iter().enumerate() {
            let at = n * REGISTRY_BATCH + k;
            if code != IDENTITY_DONE
                && let Some(ok) = chain_ok.get_mut(at)
            {
                *ok = false;
                outcomes[planned[at].index].outcome = if code == IDENTITY_WALLET_TAKEN {
                    "wallet_taken"
                } else {
                    "invalid"
                }
                .to_owned();
            }
        }
    }
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/investors/registrations",
        idem.0,
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let by = w.actor().reference();
    let mut done = Vec::new();
    for (mut p, ok) in planned.into_iter().zip(chain_ok) {
        if !ok {
            continue;
        }
        let o = &mut outcomes[p.index];
        let (outcome, inv) =
            match investors::import(w.tx(), &by, &items[p.index], &p.checked, p.registry_id).await?
            {
                Imported::Created(inv) => ("created", inv),
                Imported::Updated(inv) => ("updated", inv),
                Imported::Rejected(id) => {
                    o.outcome = "rejected".to_owned();
                    o.investor_id = Some(id.to_string());
                    continue;
                }
            };
        o.outcome = outcome.to_owned();
        o.investor_id = Some(inv.id.to_string());
        // The investor's id as stored (another request may have made the wallet's investor
        // since the simulation).
        p.registry_id = investors::registry_id(&inv)?;
        done.push(p);
    }
    let refs: Vec<(&Planned, &Registration)> = done.iter().map(|p| (p, &items[p.index])).collect();
    let mut actions = Vec::new();
    let mut after = None;
    for call in batch_calls(registry, &registrations(&refs)) {
        let id = w
            .enqueue("registrar", "identity.register_many", call, after, None)
            .await?;
        after = Some(id);
        actions.push(outbox::get(w.tx().exec(), id).await?);
    }
    Ok(w.finish(
        StatusCode::ACCEPTED,
        &BulkRegistrationResult {
            items: outcomes,
            actions,
        },
        None,
    )
    .await?)
}

/// `IdentityRegistry.DONE`.
const IDENTITY_DONE: u8 = 0;
/// `IdentityRegistry.WALLET_TAKEN`.
const IDENTITY_WALLET_TAKEN: u8 = 2;

/// Issuing shares to many wallets (a migration from another register).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkIssue {
    /// The holders (1 to 1,000, each wallet once).
    pub holders: Vec<IssueItem>,
    /// Why (kept in the audit log), such as the register migrated from.
    pub reason: String,
}

/// Shares for one wallet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueItem {
    /// The wallet (its investor registered).
    pub wallet: String,
    /// Shares (decimal, more than zero).
    pub shares: String,
}

/// One holder's outcome in an issue.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssueOutcome {
    /// The wallet as sent.
    pub wallet: String,
    /// `queued` (in one of the actions; the token checks it again when the action runs),
    /// `refused` (the token's compliance refuses it now: see `reason`) or `invalid` (see
    /// `errors`).
    pub outcome: String,
    /// Why the token refuses it: the reason code's slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What is wrong with an invalid item (pointers into the request).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// What an issue did: one outcome per holder, in the order sent, and the actions.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkIssueResult {
    /// One per holder.
    pub items: Vec<IssueOutcome>,
    /// One `issueMany` per 100 holders queued, sent in order.
    pub actions: Vec<Action>,
}

/// Most wallets one token transaction issues to (`PropertyShares.MAX_ISSUE`).
pub const ISSUE_BATCH: usize = 100;

fn issue_calls(token: Address, items: &[(Address, U256)]) -> Vec<Call> {
    items
        .chunks(ISSUE_BATCH)
        .map(|chunk| {
            let (to, amounts) = chunk.iter().copied().unzip();
            Call::new(
                token,
                PropertyShares::issueManyCall { to, amounts }.abi_encode(),
            )
        })
        .collect()
}

/// Issues shares to many wallets of registered investors (the transfer agent's `issueMany`,
/// 100 wallets a transaction through the outbox), as a migration from another register does.
/// Each holder is checked against the token's compliance first: one it refuses is reported
/// with the reason and left out. An `Idempotency-Key` is required, since repeating an issue
/// would issue again.
#[utoipa::path(post, path = "/v1/tokens/{token}/issuances", tag = "compliance", request_body = BulkIssue,
    params(("token" = String, Path, description = "The share token"),
        ("Idempotency-Key" = String, Header, description = "Required: a retry answers the first response")),
    responses((status = 202, body = BulkIssueResult)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn issue_shares(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(token): Path<String>,
    body: Json<BulkIssue>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let token = share_token(&app, &token).await?;
    let b = &body.value;
    reason_of("/reason", &b.reason)?;
    let Some(key) = idem.0 else {
        return Err(Error::invalid(
            "Idempotency-Key",
            "required: repeating an issue would issue the shares again",
        )
        .into());
    };
    if b.holders.is_empty() || b.holders.len() > BULK_MAX {
        return Err(Error::invalid("/holders", format!("1 to {BULK_MAX} holders")).into());
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut items = Vec::with_capacity(b.holders.len());
    let mut valid: Vec<(usize, Address, U256)> = Vec::new();
    for (i, h) in b.holders.iter().enumerate() {
        let mut c = Checks::new();
        let wallet = match h.wallet.parse::<Address>() {
            Ok(w) if !w.is_zero() => Some(w),
            _ => {
                c.push(
                    format!("/holders/{i}/wallet"),
                    "an address (0x and 40 hex digits), not zero",
                );
                None
            }
        };
        let shares = c.take(
            share_units(&format!("/holders/{i}/shares"), &h.shares).and_then(|v| {
                if v.is_zero() {
                    Err(Error::invalid(
                        format!("/holders/{i}/shares"),
                        "must be more than zero",
                    ))
                } else {
                    Ok(v)
                }
            }),
        );
        if let Some(w) = wallet
            && !seen.insert(w)
        {
            return Err(Error::invalid(format!("/holders/{i}/wallet"), "named twice").into());
        }
        let mut item = IssueOutcome {
            wallet: h.wallet.clone(),
            outcome: "queued".to_owned(),
            reason: None,
            errors: Vec::new(),
        };
        match (wallet, shares, c.finish()) {
            (Some(w), Some(s), Ok(())) => valid.push((i, w, s)),
            (_, _, Err(Error::Invalid(errors))) => {
                item.outcome = "invalid".to_owned();
                item.errors = errors;
            }
            (_, _, r) => {
                return Err(r
                    .err()
                    .unwrap_or_else(|| Error::Internal("an item lost a field".to_owned()))
                    .into());
            }
        }
        items.push(item);
    }
    // The token's answer for each, from a simulation of its batch.
    let pairs: Vec<(Address, U256)> = valid.iter().map(|&(_, w, s)| (w, s)).collect();
    let mut issue: Vec<(Address, U256)> = Vec::new();
    for (n, call) in issue_calls(token, &pairs).iter().enumerate() {
        let out = simulate(&app, "agent", call).await?;
        let codes = PropertyShares::issueManyCall::abi_decode_returns(&out).map_err(|_| {
            Error::Unavailable("the token answered an unexpected result".to_owned())
        })?;
        for (k, code) in codes.into_iter().enumerate() {
            let Some(&(i, w, s)) = valid.get(n * ISSUE_BATCH + k) else {
                continue;
            };
            if code == 0 {
                issue.push((w, s));
            } else {
                items[i].outcome = "refused".to_owned();
                items[i].reason = Some(
                    ReasonCode::try_from(code)
                        .map_or_else(|_| format!("code_{code}"), |r| r.as_str().to_owned()),
                );
            }
        }
    }
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/tokens/{token}/issuances",
        Some(key),
        &[token.as_slice(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let mut actions = Vec::new();
    let mut after = None;
    for call in issue_calls(token, &issue) {
        let id = w
            .enqueue(
                "agent",
                "shares.issue_many",
                call,
                after,
                Some(("token", token.to_checksum(None))),
            )
            .await?;
        after = Some(id);
        actions.push(outbox::get(w.tx().exec(), id).await?);
    }
    Ok(w.finish(
        StatusCode::ACCEPTED,
        &BulkIssueResult { items, actions },
        None,
    )
    .await?)
}
