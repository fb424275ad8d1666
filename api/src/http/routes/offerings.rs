//! Offerings (their state from the index; finalizing and cancelling through the outbox) and
//! share tokens' compliance rules (read from the chain; changed through the outbox).

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use propledger_contracts::{PropertyShares, ShareCompliance};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::agent::{one_action, share_token, simulate};
use crate::auth::Allowed;
use crate::compliance::{SHARE_DECIMALS, share_units, units_text};
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, Json};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::investors::country_numeric;
use crate::market::{self, OfferingState};
use crate::outbox::{self, Action, Call};
use crate::types::now_ms;

/// Every offering.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferingList {
    /// The offerings, in registration order.
    pub items: Vec<OfferingState>,
}

fn now_s() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

/// Every registered offering with its state (sold, raised, soft cap, refunds due) from the
/// index.
#[utoipa::path(get, path = "/v1/offerings", tag = "offerings",
    responses((status = 200, body = OfferingList)),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor", "investor"]))))]
pub async fn list(State(app): State<App>, auth: Auth) -> ApiResult<axum::Json<OfferingList>> {
    auth.require(Allowed::ANYONE)?;
    let ctx = app.chain()?;
    let items = market::offerings(app.db(), app.terms(), &ctx.provider, now_s()).await?;
    Ok(axum::Json(OfferingList { items }))
}

fn address(pointer: &str, s: &str) -> Result<Address, Error> {
    s.parse::<Address>()
        .map_err(|_| Error::invalid(pointer, "an address (0x and 40 hex digits)"))
}

/// One offering's state from the index.
#[utoipa::path(get, path = "/v1/offerings/{address}", tag = "offerings",
    params(("address" = String, Path, description = "The offering contract")),
    responses((status = 200, body = OfferingState)),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor", "investor"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(offering): Path<String>,
) -> ApiResult<axum::Json<OfferingState>> {
    auth.require(Allowed::ANYONE)?;
    let offering = address("address", &offering)?;
    let ctx = app.chain()?;
    Ok(axum::Json(
        market::offering_state(app.db(), app.terms(), &ctx.provider, offering, now_s()).await?,
    ))
}

/// An SVG response.
pub(crate) fn svg(body: String) -> Response {
    let mut r = axum::response::IntoResponse::into_response(body);
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("image/svg+xml"),
    );
    r
}

/// One offering's progress as a chart (SVG): shares sold of those for sale.
#[utoipa::path(get, path = "/v1/offerings/{address}/chart", tag = "offerings",
    params(("address" = String, Path, description = "The offering contract")),
    responses((status = 200, content_type = "image/svg+xml", body = String)),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor", "investor"]))))]
pub async fn chart(
    State(app): State<App>,
    auth: Auth,
    Path(offering): Path<String>,
) -> ApiResult<Response> {
    auth.require(Allowed::ANYONE)?;
    let offering = address("address", &offering)?;
    let ctx = app.chain()?;
    let s = market::offering_state(app.db(), app.terms(), &ctx.provider, offering, now_s()).await?;
    let sold = crate::charts::whole(&s.sold.amount);
    let max = crate::charts::whole(&s.terms.shares_for_sale.amount);
    Ok(svg(crate::charts::progress(
        &format!("Offering: {sold} of {max} shares sold"),
        "shares",
        sold,
        max,
    )?))
}

/// Kinds of a property's documents an offering shows investors (invoices, contracts and the
/// like stay with staff).
const OFFERING_KINDS: &[crate::documents::DocumentKind] = &[
    crate::documents::DocumentKind::Deed,
    crate::documents::DocumentKind::Title,
    crate::documents::DocumentKind::Inspection,
    crate::documents::DocumentKind::Appraisal,
    crate::documents::DocumentKind::Photo,
    crate::documents::DocumentKind::Insurance,
];

/// Most documents an offering lists.
const OFFERING_DOCUMENTS_MAX: u32 = 200;

/// The documents an offering shows: its property's deed, title, inspection, appraisal, photos
/// and insurance.
async fn offering_documents(
    app: &App,
    offering: Address,
) -> ApiResult<Vec<crate::documents::Document>> {
    let Some(c) = market::contract(app.db(), offering, "offering").await? else {
        return Err(Error::NotFound("offering").into());
    };
    let Ok(token) = c.property_id.parse::<u128>() else {
        return Ok(Vec::new());
    };
    let property = crate::properties::PropertyId(uuid::Uuid::from_u128(token));
    let page = crate::types::PageRequest::parse(Some(OFFERING_DOCUMENTS_MAX), None)?;
    Ok(crate::documents::list(app.db(), property, &page)
        .await?
        .items
        .into_iter()
        .filter(|d| OFFERING_KINDS.contains(&d.kind))
        .map(|mut d| {
            d.content_url = format!(
                "/v1/offerings/{}/documents/{}/content",
                offering.to_checksum(None),
                d.id
            );
            d
        })
        .collect())
}

/// The documents an offering shows investors: its property's deed, title, inspection,
/// appraisal, photos and insurance, each with the hash it was stored under.
#[utoipa::path(get, path = "/v1/offerings/{address}/documents", tag = "offerings",
    params(("address" = String, Path, description = "The offering contract")),
    responses((status = 200, body = Vec<crate::documents::Document>)),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor", "investor"]))))]
pub async fn documents(
    State(app): State<App>,
    auth: Auth,
    Path(offering): Path<String>,
) -> ApiResult<axum::Json<Vec<crate::documents::Document>>> {
    auth.require(Allowed::ANYONE)?;
    let offering = address("address", &offering)?;
    Ok(axum::Json(offering_documents(&app, offering).await?))
}

/// One of an offering's documents, as an attachment.
#[utoipa::path(get, path = "/v1/offerings/{address}/documents/{id}/content", tag = "offerings",
    params(("address" = String, Path, description = "The offering contract"),
        ("id" = String, Path, description = "The document's id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream")),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor", "investor"]))))]
pub async fn document_content(
    State(app): State<App>,
    auth: Auth,
    Path((offering, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    auth.require(Allowed::ANYONE)?;
    let offering = address("address", &offering)?;
    let id = crate::documents::DocumentId::parse(&id)?;
    let doc = offering_documents(&app, offering)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or(Error::NotFound("document"))?;
    super::documents::stream(&app, &doc).await
}

#[allow(clippy::too_many_arguments)]
async fn offering_action(
    app: App,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    offering: String,
    route: &'static str,
    kind: &str,
    data: Vec<u8>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let offering = address("address", &offering)?;
    if market::contract(app.db(), offering, "offering")
        .await?
        .is_none()
    {
        return Err(Error::NotFound("offering").into());
    }
    one_action(
        &app,
        &ctx,
        p.actor(),
        idem.0,
        route,
        &[offering.as_slice()],
        "treasurer",
        kind,
        Call::new(offering, data),
        ("offering", offering.to_checksum(None)),
    )
    .await
}

/// Finalizes an offering whose window has ended or that sold out: it succeeds if its soft cap
/// was reached, else fails and buyers may be refunded.
#[utoipa::path(post, path = "/v1/offerings/{address}/finalize", tag = "offerings",
    params(("address" = String, Path, description = "The offering contract"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Action)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn finalize(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(offering): Path<String>,
) -> ApiResult<Response> {
    let data = propledger_contracts::ShareOffering::finalizeCall {}.abi_encode();
    offering_action(
        app,
        ctx,
        auth,
        idem,
        offering,
        "/v1/offerings/{address}/finalize",
        "offering.finalize",
        data,
    )
    .await
}

/// Cancels an open offering below its soft cap; buyers may then be refunded.
#[utoipa::path(post, path = "/v1/offerings/{address}/cancel", tag = "offerings",
    params(("address" = String, Path, description = "The offering contract"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = Action)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn cancel(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(offering): Path<String>,
) -> ApiResult<Response> {
    let data = propledger_contracts::ShareOffering::cancelCall {}.abi_encode();
    offering_action(
        app,
        ctx,
        auth,
        idem,
        offering,
        "/v1/offerings/{address}/cancel",
        "offering.cancel",
        data,
    )
    .await
}

/// A share token's compliance rules.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Only accredited investors may hold.
    pub accredited_only: bool,
    /// Only investors of `allowed_countries` may hold (otherwise every country may).
    pub countries_restricted: bool,
    /// ISO 3166-1 alpha-2 codes allowed when restricted.
    pub allowed_countries: Vec<String>,
    /// The most investors holding at once (0: no cap).
    pub max_investors: u32,
    /// Holders may not transfer before this time (RFC 3339; absent: no lock-up).
    pub lockup_until: Option<String>,
    /// The most shares one investor may hold ("0": no cap).
    pub max_balance_per_investor: String,
    /// The smallest non-zero holding ("0": one whole share for a new investor).
    pub min_holding: String,
    /// The most shares the supply may reach by issuance ("0": no cap).
    #[serde(default = "zero")]
    pub max_supply: String,
    /// The most shares one investor may transfer to other investors per UTC day ("0": no limit).
    #[serde(default = "zero")]
    pub daily_transfer_limit: String,
    /// The same per UTC calendar month ("0": no limit).
    #[serde(default = "zero")]
    pub monthly_transfer_limit: String,
    /// Investor caps per country (ISO 3166-1 alpha-2 to the most investors from there); a
    /// country left out has no cap of its own.
    #[serde(default)]
    pub country_caps: BTreeMap<String, u32>,
    /// Jurisdiction groups per country (alpha-2 to a group number, 1 to 255); a country left
    /// out is in group 0.
    #[serde(default)]
    pub jurisdiction_groups: BTreeMap<String, u8>,
    /// Investors may transfer only to investors whose country is in the same group.
    #[serde(default)]
    pub jurisdiction_groups_enforced: bool,
    /// The block the rules were read at (ignored when changing them).
    #[serde(default, skip_deserializing)]
    pub block_number: u64,
}

fn zero() -> String {
    "0".to_owned()
}

/// A per-country setting of `compliance` now (countries set to 0 left out), from its `event`s
/// in the index: `CountryCapSet` (`cap`) or `JurisdictionGroupSet` (`group`).
async fn per_country(
    app: &App,
    compliance: Address,
    event: &str,
    field: &str,
) -> ApiResult<BTreeMap<u16, u32>> {
    let rows = crate::db::Query::new(
        "SELECT decoded FROM idx_events WHERE address = $1 AND event = $2 \
         ORDER BY block_number, log_index",
    )
    .bind(compliance.to_vec())
    .bind(event.to_owned())
    .fetch_all(app.db().reader())
    .await?;
    let mut map = BTreeMap::new();
    for r in rows {
        let v: serde_json::Value = serde_json::from_str(&r.get::<String>("decoded")?)
            .map_err(|_| Error::Corrupt("an indexed event".to_owned()))?;
        let number = |k: &str| {
            v[k].as_str()
                .and_then(|s| s.parse::<u32>().ok())
                .or_else(|| v[k].as_u64().and_then(|n| u32::try_from(n).ok()))
                .ok_or_else(|| Error::Corrupt(format!("an indexed {event}")))
        };
        let c = u16::try_from(number("country")?)
            .map_err(|_| Error::Corrupt(format!("an indexed {event}")))?;
        match number(field)? {
            0 => map.remove(&c),
            n => map.insert(c, n),
        };
    }
    Ok(map)
}

/// The per-country calls that turn `current` into `wanted`, in batches the contract accepts.
fn country_calls<T: Copy>(
    current: &BTreeMap<u16, u32>,
    wanted: &BTreeMap<u16, u32>,
    value: impl Fn(u32) -> T,
    call: impl Fn(Vec<u16>, Vec<T>) -> Vec<u8>,
) -> Vec<Vec<u8>> {
    let changed: Vec<(u16, u32)> = current
        .keys()
        .chain(wanted.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter_map(|c| {
            let w = wanted.get(c).copied().unwrap_or(0);
            (current.get(c).copied().unwrap_or(0) != w).then_some((*c, w))
        })
        .collect();
    changed
        .chunks(256)
        .map(|chunk| {
            call(
                chunk.iter().map(|(c, _)| *c).collect(),
                chunk.iter().map(|(_, v)| value(*v)).collect(),
            )
        })
        .collect()
}

/// The countries of `compliance` allowed now, from its `CountryAllowed` events in the index.
async fn allowed_countries(app: &App, compliance: Address) -> ApiResult<BTreeSet<u16>> {
    let rows = crate::db::Query::new(
        "SELECT decoded FROM idx_events WHERE address = $1 AND event = 'CountryAllowed' \
         ORDER BY block_number, log_index",
    )
    .bind(compliance.to_vec())
    .fetch_all(app.db().reader())
    .await?;
    let mut set = BTreeSet::new();
    for r in rows {
        let v: serde_json::Value = serde_json::from_str(&r.get::<String>("decoded")?)
            .map_err(|_| Error::Corrupt("an indexed event".to_owned()))?;
        let c = v["country"]
            .as_str()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| Error::Corrupt("an indexed country".to_owned()))?;
        if v["allowed"].as_bool() == Some(true) {
            set.insert(c);
        } else {
            set.remove(&c);
        }
    }
    Ok(set)
}

fn alpha2(numeric: u16) -> String {
    celes::Country::from_value(usize::from(numeric))
        .map_or_else(|_| numeric.to_string(), |c| c.alpha2.to_owned())
}

async fn compliance_of(app: &App, token: Address) -> ApiResult<Address> {
    let ctx = app.chain()?;
    PropertyShares::new(token, &ctx.provider)
        .compliance()
        .call()
        .await
        .map_err(|e| Error::Unavailable(format!("chain: {e}")).into())
}

/// A share token's compliance rules, read from the chain (countries from the index).
#[utoipa::path(get, path = "/v1/tokens/{token}/rules", tag = "compliance",
    params(("token" = String, Path, description = "The share token")),
    responses((status = 200, body = Rules)),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn rules(
    State(app): State<App>,
    auth: Auth,
    Path(token): Path<String>,
) -> ApiResult<axum::Json<Rules>> {
    auth.require(Allowed::STAFF)?;
    let token = share_token(&app, &token).await?;
    let ctx = app.chain()?;
    let compliance = compliance_of(&app, token).await?;
    let block = alloy::providers::Provider::get_block_number(&ctx.provider)
        .await
        .map_err(|e| Error::Unavailable(format!("chain: {e}")))?;
    let r = ShareCompliance::new(compliance, &ctx.provider)
        .rules()
        .block(block.into())
        .call()
        .await
        .map_err(|e| Error::Unavailable(format!("chain: {e}")))?;
    // A compliance created before the limits existed has none.
    let limits = ShareCompliance::new(compliance, &ctx.provider)
        .limits()
        .block(block.into())
        .call()
        .await
        .ok();
    let shares_text = |v: U256| units_text(v, SHARE_DECIMALS);
    let alpha = |m: BTreeMap<u16, u32>| m.into_iter().map(|(c, v)| (alpha2(c), v)).collect();
    let country_caps = alpha(per_country(&app, compliance, "CountryCapSet", "cap").await?);
    let jurisdiction_groups: BTreeMap<String, u32> =
        alpha(per_country(&app, compliance, "JurisdictionGroupSet", "group").await?);
    Ok(axum::Json(Rules {
        accredited_only: r.accreditedOnly,
        countries_restricted: r.countriesRestricted,
        allowed_countries: allowed_countries(&app, compliance)
            .await?
            .into_iter()
            .map(alpha2)
            .collect(),
        max_investors: r.maxInvestors,
        lockup_until: (r.lockupUntil != 0).then(|| {
            crate::types::rfc3339(
                i64::try_from(r.lockupUntil)
                    .unwrap_or(0)
                    .saturating_mul(1000),
            )
        }),
        max_balance_per_investor: units_text(U256::from(r.maxBalancePerInvestor), SHARE_DECIMALS),
        min_holding: units_text(U256::from(r.minHolding), SHARE_DECIMALS),
        max_supply: shares_text(
            limits
                .as_ref()
                .map_or(U256::ZERO, |l| U256::from(l.maxSupply)),
        ),
        daily_transfer_limit: shares_text(
            limits
                .as_ref()
                .map_or(U256::ZERO, |l| U256::from(l.dailyVolume)),
        ),
        monthly_transfer_limit: shares_text(
            limits
                .as_ref()
                .map_or(U256::ZERO, |l| U256::from(l.monthlyVolume)),
        ),
        country_caps,
        jurisdiction_groups: jurisdiction_groups
            .into_iter()
            .map(|(c, g)| (c, u8::try_from(g).unwrap_or(u8::MAX)))
            .collect(),
        jurisdiction_groups_enforced: limits.is_some_and(|l| l.groupsEnforced),
        block_number: block,
    }))
}

fn u128_shares(pointer: &str, s: &str) -> Result<u128, Error> {
    let v = share_units(pointer, s)?;
    u128::try_from(v).map_err(|_| Error::invalid(pointer, "too large"))
}

/// The change: the rules action, and one action per set of countries allowed or disallowed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesChange {
    /// The actions, in the order they are sent.
    pub actions: Vec<Action>,
}

/// Replaces a share token's compliance rules (and its allowed countries), through the outbox
/// with the rules key.
#[utoipa::path(put, path = "/v1/tokens/{token}/rules", tag = "compliance", request_body = Rules,
    params(("token" = String, Path, description = "The share token"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 202, body = RulesChange)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn set_rules(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(token): Path<String>,
    body: Json<Rules>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let token = share_token(&app, &token).await?;
    let b = &body.value;
    let mut wanted = BTreeSet::new();
    for (i, c) in b.allowed_countries.iter().enumerate() {
        wanted.insert(country_numeric(&format!("/allowed_countries/{i}"), c)?);
    }
    let lockup = match &b.lockup_until {
        None => 0,
        Some(t) => u64::try_from(crate::types::parse_time("/lockup_until", t)? / 1000)
            .map_err(|_| Error::invalid("/lockup_until", "before 1970"))?,
    };
    let max_balance = u128_shares("/max_balance_per_investor", &b.max_balance_per_investor)?;
    let min_holding = u128_shares("/min_holding", &b.min_holding)?;
    if max_balance != 0 && min_holding > max_balance {
        return Err(
            Error::invalid("/min_holding", "must not be above max_balance_per_investor").into(),
        );
    }
    let max_supply = u128_shares("/max_supply", &b.max_supply)?;
    let u96 = |pointer: &str, s: &str| {
        let v = share_units(pointer, s)?;
        if v >= U256::from(1u8) << 96 {
            return Err(Error::invalid(
                pointer,
                "too large (at most 79228162514 shares)",
            ));
        }
        Ok(alloy::primitives::Uint::<96, 2>::from(v.to::<u128>()))
    };
    let daily = u96("/daily_transfer_limit", &b.daily_transfer_limit)?;
    let monthly = u96("/monthly_transfer_limit", &b.monthly_transfer_limit)?;
    let mut caps = BTreeMap::new();
    for (c, cap) in &b.country_caps {
        caps.insert(country_numeric(&format!("/country_caps/{c}"), c)?, *cap);
    }
    let mut groups = BTreeMap::new();
    for (c, g) in &b.jurisdiction_groups {
        groups.insert(
            country_numeric(&format!("/jurisdiction_groups/{c}"), c)?,
            u32::from(*g),
        );
    }
    let compliance = compliance_of(&app, token).await?;
    let current = allowed_countries(&app, compliance).await?;
    let rules = ShareCompliance::setRulesCall {
        rules_: ShareCompliance::Rules {
            accreditedOnly: b.accredited_only,
            countriesRestricted: b.countries_restricted,
            maxInvestors: b.max_investors,
            lockupUntil: lockup,
            maxBalancePerInvestor: max_balance,
            minHolding: min_holding,
        },
    }
    .abi_encode();
    let mut calls = vec![("compliance.set_rules", Call::new(compliance, rules))];
    let add: Vec<u16> = wanted.difference(&current).copied().collect();
    let remove: Vec<u16> = current.difference(&wanted).copied().collect();
    for (list, allowed) in [(add, true), (remove, false)] {
        if !list.is_empty() {
            calls.push((
                "compliance.set_countries",
                Call::new(
                    compliance,
                    ShareCompliance::setCountriesCall {
                        countries: list,
                        allowed,
                    }
                    .abi_encode(),
                ),
            ));
        }
    }
    let limits = ShareCompliance::Limits {
        dailyVolume: daily,
        monthlyVolume: monthly,
        groupsEnforced: b.jurisdiction_groups_enforced,
        maxSupply: max_supply,
    };
    let has_limits = ShareCompliance::new(compliance, &app.chain()?.provider)
        .limits()
        .call()
        .await
        .ok();
    let current_caps = per_country(&app, compliance, "CountryCapSet", "cap").await?;
    let current_groups = per_country(&app, compliance, "JurisdictionGroupSet", "group").await?;
    let limit_calls: Vec<(&str, Vec<u8>)> = std::iter::empty()
        .chain(has_limits.as_ref().is_none_or(|l| *l != limits).then(|| {
            (
                "compliance.set_limits",
                ShareCompliance::setLimitsCall {
                    limits_: limits.clone(),
                }
                .abi_encode(),
            )
        }))
        .chain(
            country_calls(
                &current_caps,
                &caps,
                |v| v,
                |countries, caps| {
                    ShareCompliance::setCountryCapsCall { countries, caps }.abi_encode()
                },
            )
            .into_iter()
            .map(|c| ("compliance.set_country_caps", c)),
        )
        .chain(
            country_calls(
                &current_groups,
                &groups,
                |v| u8::try_from(v).unwrap_or(u8::MAX),
                |countries, groups| {
                    ShareCompliance::setJurisdictionGroupsCall { countries, groups }.abi_encode()
                },
            )
            .into_iter()
            .map(|c| ("compliance.set_jurisdiction_groups", c)),
        )
        .collect();
    if has_limits.is_none() && !limit_calls.is_empty() {
        let none = ShareCompliance::Limits {
            dailyVolume: Default::default(),
            monthlyVolume: Default::default(),
            groupsEnforced: false,
            maxSupply: 0,
        };
        // The first field that asks for a limit the old rule set cannot keep.
        let set = [
            ("/max_supply", limits.maxSupply != none.maxSupply),
            (
                "/daily_transfer_limit",
                limits.dailyVolume != none.dailyVolume,
            ),
            (
                "/monthly_transfer_limit",
                limits.monthlyVolume != none.monthlyVolume,
            ),
            ("/jurisdiction_groups_enforced", limits.groupsEnforced),
            ("/country_caps", !caps.is_empty()),
            ("/jurisdiction_groups", !groups.is_empty()),
        ]
        .into_iter()
        .find(|(_, asked)| *asked);
        if let Some((pointer, _)) = set {
            return Err(Error::invalid(
                pointer,
                "this token's compliance predates the limits (supply cap, transfer limits, country caps, jurisdiction groups); it takes the other rules only",
            )
            .into());
        }
    }
    if has_limits.is_some() {
        for (kind, data) in limit_calls {
            calls.push((kind, Call::new(compliance, data)));
        }
    }
    for (_, call) in &calls {
        simulate(&app, "rules", call).await?;
    }
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "PUT",
        "/v1/tokens/{token}/rules",
        idem.0,
        &[token.as_slice(), &body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let resource = token.to_checksum(None);
    let mut ids = Vec::new();
    let mut after = None;
    for (kind, call) in calls {
        let id = w
            .enqueue(
                "rules",
                kind,
                call,
                after,
                Some(("token", resource.clone())),
            )
            .await?;
        after = Some(id);
        ids.push(id);
    }
    let mut actions = Vec::new();
    for id in ids {
        actions.push(outbox::get(w.tx().exec(), id).await?);
    }
    Ok(w.finish(
        StatusCode::ACCEPTED,
        &RulesChange { actions },
        Some(resource),
    )
    .await?)
}
