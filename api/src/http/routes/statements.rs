//! An investor's statement: their capital account in each property's books, what each is worth
//! at the property's last valuation, and the distributions received and still claimable, as
//! JSON or CSV.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use propledger_ledger::account::AccountFilter;
use propledger_ledger::core::DimValue;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::distributions::{my_wallets, of_wallets};
use super::investors::wallet_of;
use crate::books::capital::capital_accounts;
use crate::deals::parse_day;
use crate::error::Error;
use crate::http::extract::{Auth, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::investors;

/// What statement to make.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// As of the end of this day (`YYYY-MM-DD`); everything when absent. Distributions are as
    /// the chain stands now.
    pub as_of: Option<String>,
}

/// One property of a statement. Amounts are USD at the books' scale.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct PropertyStatement {
    /// The property's deed token id.
    pub property: String,
    /// Capital put in.
    pub contributed: String,
    /// Capital given back (refunds, capital given with shares transferred away, redemptions).
    pub returned: String,
    /// Distributions booked to the capital account.
    pub distributed: String,
    /// Contributed less returned less distributed.
    pub balance: String,
    /// Part of the investors' capital, percent.
    pub ownership_percent: String,
    /// That part of the property's net asset value at its last valuation.
    pub current_value: String,
    /// Distributions paid to the investor's wallets.
    pub distributions_received: String,
    /// Distributions the investor's wallets may still claim.
    pub distributions_claimable: String,
    /// The investor's part of the platform fees charged to the property.
    pub platform_fees: String,
}

/// An investor's statement.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Statement {
    /// The investor, when the wallet is an investor's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investor_id: Option<String>,
    /// The wallets it covers.
    pub wallets: Vec<String>,
    /// As of the end of this day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// The currency of every amount.
    pub currency: String,
    /// One line per property, by property.
    pub properties: Vec<PropertyStatement>,
    /// The sums over the properties (ownership is left empty).
    pub totals: PropertyStatement,
}

#[derive(Default, Clone, Copy)]
struct Sums {
    contributed: Decimal,
    returned: Decimal,
    distributed: Decimal,
    percent: Decimal,
    value: Decimal,
    received: Decimal,
    claimable: Decimal,
    fees: Decimal,
}

fn num(text: &str) -> ApiResult<Decimal> {
    text.parse::<Decimal>()
        .map_err(|_| Error::Corrupt(format!("an amount {text:?}")).into())
}

fn shown(v: Decimal, scale: u32) -> String {
    let mut v = v;
    v.rescale(scale);
    v.to_string()
}

fn line(property: String, s: &Sums, scale: u32, percent: bool) -> PropertyStatement {
    PropertyStatement {
        property,
        contributed: shown(s.contributed, scale),
        returned: shown(s.returned, scale),
        distributed: shown(s.distributed, scale),
        balance: shown(s.contributed - s.returned - s.distributed, scale),
        ownership_percent: if percent {
            shown(s.percent, 4)
        } else {
            String::new()
        },
        current_value: shown(s.value, scale),
        distributions_received: shown(s.received, scale),
        distributions_claimable: shown(s.claimable, scale),
        platform_fees: shown(s.fees, scale),
    }
}

/// Quotes a CSV field when needed.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The signed-in investor's statement: per property, their capital account (contributed,
/// returned, distributed, balance), its part of the net asset value at the last valuation, the
/// distributions paid to their wallets and still claimable, and their part of the platform
/// fees; with totals. `format=csv`
/// gives one row per property and a total row.
#[utoipa::path(get, path = "/v1/me/statements", tag = "investors", params(StatementQuery),
    responses((status = 200, body = Statement), (status = 200, content_type = "text/csv", body = String)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn statement(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<StatementQuery>,
) -> ApiResult<Response> {
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(Error::invalid("format", "expected json or csv").into()),
    };
    let as_of = q
        .as_of
        .as_deref()
        .map(|t| {
            parse_day("as_of", t)
                .map_err(|_| Error::invalid("as_of", "expected a date such as 2026-12-01"))
        })
        .transpose()?;
    let session = wallet_of(&auth)?
        .parse::<alloy::primitives::Address>()
        .map_err(|_| Error::Corrupt("a session's wallet".to_owned()))?
        .to_checksum(None);
    let wallets = my_wallets(&app, &auth).await?;
    let investor = investors::of_wallet(app.db(), &session).await?;
    // The investor's capital accounts: under their registry id, and any under a wallet of
    // theirs that no investor held when it was booked.
    let mut dims: Vec<String> = wallets.iter().map(|w| format!("wallet-{w:#x}")).collect();
    if let Some(inv) = &investor {
        dims.push(hex::encode(investors::registry_id(inv)?));
    }
    let ledger = app.ledger()?;
    let mut properties = BTreeSet::new();
    for d in &dims {
        let Ok(dim) = DimValue::parse(d) else {
            continue;
        };
        let found = ledger
            .accounts()
            .list(&AccountFilter {
                investor: Some(dim),
                ..AccountFilter::default()
            })
            .await
            .map_err(crate::deals::costs::ledger_error)?;
        for a in found {
            if let Some(p) = a.dimensions.property {
                properties.insert(p.as_str().trim_start_matches("prop-").to_owned());
            }
        }
    }
    let mut sums: BTreeMap<String, Sums> = BTreeMap::new();
    let mut scale = 2;
    for p in &properties {
        let accounts = capital_accounts(ledger, app.db().reader(), p, as_of).await?;
        let s = sums.entry(p.clone()).or_default();
        for a in accounts
            .accounts
            .iter()
            .filter(|a| dims.contains(&a.investor))
        {
            scale =
                u32::try_from(a.balance.amount.split('.').nth(1).map_or(0, str::len)).unwrap_or(2);
            s.contributed += num(&a.contributed.amount)?;
            s.returned += num(&a.returned.amount)?;
            s.distributed += num(&a.distributed.amount)?;
            s.percent += num(&a.ownership_percent)?;
            s.value += num(&a.current_value.amount)?;
            s.fees += num(&a.platform_fees.amount)?;
        }
    }
    if app.chain().is_ok() && crate::market::index_exists(app.db()).await? {
        for d in of_wallets(&app, &wallets).await? {
            let s = sums
                .entry(d.distribution.declared.property.clone())
                .or_default();
            s.received += num(&d.received.amount)?;
            s.claimable += num(&d.claimable.amount)?;
        }
    }
    let mut total = Sums::default();
    let mut lines = Vec::with_capacity(sums.len());
    for (p, s) in &sums {
        total.contributed += s.contributed;
        total.returned += s.returned;
        total.distributed += s.distributed;
        total.value += s.value;
        total.received += s.received;
        total.claimable += s.claimable;
        total.fees += s.fees;
        lines.push(line(p.clone(), s, scale, true));
    }
    let statement = Statement {
        investor_id: investor.as_ref().map(|i| i.id.to_string()),
        wallets: wallets.iter().map(|w| w.to_checksum(None)).collect(),
        as_of: as_of.map(|d| d.format("%Y-%m-%d").to_string()),
        currency: "USD".to_owned(),
        properties: lines,
        totals: line("total".to_owned(), &total, scale, false),
    };
    if !csv {
        return Ok(axum::Json(statement).into_response());
    }
    let mut out = String::from(
        "property,contributed,returned,distributed,balance,ownership_percent,current_value,\
         distributions_received,distributions_claimable,platform_fees,currency\n",
    );
    for l in statement.properties.iter().chain([&statement.totals]) {
        let fields = [
            &l.property,
            &l.contributed,
            &l.returned,
            &l.distributed,
            &l.balance,
            &l.ownership_percent,
            &l.current_value,
            &l.distributions_received,
            &l.distributions_claimable,
            &l.platform_fees,
            &statement.currency,
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"statement.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}
