//! A property's and the portfolio's performance over the twelve months to a day.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::analytics::{self, Portfolio, PropertyAnalytics};
use crate::auth::Allowed;
use crate::error::Error;
use crate::http::extract::{Auth, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::properties::PropertyId;

/// The period's last day.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// The last day of the twelve months (`YYYY-MM-DD`, default today).
    pub as_of: Option<String>,
}

fn day(q: &AsOf) -> Result<chrono::NaiveDate, Error> {
    match q.as_of.as_deref() {
        None => Ok(chrono::Utc::now().date_naive()),
        Some(t) => crate::deals::parse_day("as_of", t)
            .map_err(|_| Error::invalid("as_of", "expected a date such as 2026-12-01")),
    }
}

/// A property's NOI, cap rate, cash-on-cash, IRR and equity multiple, occupancy, each rehab
/// project's budget variance and each investor's figures, over the twelve months to `as_of`.
#[utoipa::path(get, path = "/v1/properties/{id}/analytics", tag = "properties",
    params(("id" = String, Path, description = "The property's id"), AsOf),
    responses((status = 200, body = PropertyAnalytics)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn property(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> ApiResult<axum::Json<PropertyAnalytics>> {
    auth.require(Allowed::READ)?;
    let to = day(&q)?;
    let id = PropertyId::parse(&id)?;
    Ok(axum::Json(
        analytics::property(app.db(), app.ledger()?, id, to).await?,
    ))
}

/// A property's twelve months as a chart (SVG): operating income, operating expenses and NOI,
/// and the investors' capital contributed and distributions received, in whole dollars.
#[utoipa::path(get, path = "/v1/properties/{id}/analytics/chart", tag = "properties",
    params(("id" = String, Path, description = "The property's id"), AsOf),
    responses((status = 200, content_type = "image/svg+xml", body = String)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn property_chart(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> ApiResult<axum::response::Response> {
    auth.require(Allowed::READ)?;
    let to = day(&q)?;
    let id = PropertyId::parse(&id)?;
    let a = analytics::property(app.db(), app.ledger()?, id, to).await?;
    let signed = |m: &crate::types::Money| {
        use rust_decimal::prelude::ToPrimitive;
        m.amount
            .parse::<rust_decimal::Decimal>()
            .ok()
            .and_then(|d| d.trunc().to_i64())
            .unwrap_or(0)
    };
    let sum = |f: fn(&analytics::InvestorFigures) -> &crate::types::Money| {
        a.investors.iter().map(|i| signed(f(i))).sum::<i64>()
    };
    let bars = vec![
        ("Income".to_owned(), signed(&a.operating_income)),
        ("Expenses".to_owned(), signed(&a.operating_expenses)),
        ("NOI".to_owned(), signed(&a.noi)),
        ("Contributed".to_owned(), sum(|i| &i.contributed)),
        ("Distributed".to_owned(), sum(|i| &i.distributed)),
    ];
    Ok(super::offerings::svg(crate::charts::figures(
        &format!("{} to {}", a.from, a.to),
        &bars,
    )?))
}

/// Every property's analytics and the portfolio's NOI, value, cap rate and equity multiple
/// (at most 200 properties).
#[utoipa::path(get, path = "/v1/analytics", tag = "properties", params(AsOf),
    responses((status = 200, body = Portfolio)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn portfolio(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<AsOf>,
) -> ApiResult<axum::Json<Portfolio>> {
    auth.require(Allowed::READ)?;
    let to = day(&q)?;
    Ok(axum::Json(
        analytics::portfolio(app.db(), app.ledger()?, to).await?,
    ))
}
