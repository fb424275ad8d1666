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
    Ok(super::offerings::svg(figures_chart(&a)?))
}

/// The twelve months' income, expenses and NOI, and the investors' capital paid in and
/// distributions, as bars of whole dollars.
fn figures_chart(a: &PropertyAnalytics) -> Result<String, Error> {
    // Whole dollars, toward zero (a loss stays negative).
    let signed = |m: &crate::types::Money| crate::charts::cents(&m.amount) / 100;
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
    crate::charts::figures(&format!("{} to {}", a.from, a.to), &bars)
}

/// A property's performance statement as a PDF: the twelve months' figures, each rehab
/// project's budget variance, each investor's capital and IRR, the chart of
/// `/v1/properties/{id}/analytics/chart`, and the area's market trend when it has sales.
#[utoipa::path(get, path = "/v1/properties/{id}/analytics/statement", tag = "properties",
    params(("id" = String, Path, description = "The property's id"), AsOf),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn property_statement(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> ApiResult<axum::response::Response> {
    use crate::pdf::Block;
    auth.require(Allowed::READ)?;
    let to = day(&q)?;
    let id = PropertyId::parse(&id)?;
    let property = crate::properties::get(app.db().reader(), id).await?;
    let a = analytics::property(app.db(), app.ledger()?, id, to).await?;
    let money = |m: &crate::types::Money| format!("{} {}", m.amount, m.currency);
    let or_why = |v: &Option<String>, name: &str, unit: &str| match v {
        Some(v) => format!("{v}{unit}"),
        None => format!(
            "none ({})",
            a.unavailable
                .get(name)
                .map_or("not available", String::as_str)
        ),
    };
    let mut figures = vec![
        ("Operating income".to_owned(), money(&a.operating_income)),
        (
            "Operating expenses".to_owned(),
            money(&a.operating_expenses),
        ),
        ("Net operating income".to_owned(), money(&a.noi)),
    ];
    if let Some(v) = &a.value {
        figures.push(("Value".to_owned(), money(v)));
    }
    figures.extend([
        (
            "Cap rate".to_owned(),
            or_why(&a.cap_rate_percent, "cap_rate_percent", "%"),
        ),
        (
            "Cash-on-cash".to_owned(),
            or_why(&a.cash_on_cash_percent, "cash_on_cash_percent", "%"),
        ),
        ("IRR".to_owned(), or_why(&a.irr_percent, "irr_percent", "%")),
        (
            "Equity multiple".to_owned(),
            or_why(&a.equity_multiple, "equity_multiple", ""),
        ),
        ("Occupancy".to_owned(), format!("{}%", a.occupancy_percent)),
    ]);
    let mut blocks = vec![
        Block::Heading("The twelve months".to_owned()),
        Block::Rows(figures),
        Block::Chart(figures_chart(&a)?),
    ];
    if !a.budget.is_empty() {
        blocks.push(Block::Heading("Rehab budgets".to_owned()));
        for b in &a.budget {
            blocks.push(Block::Rows(vec![
                (format!("Project {}", b.project_id), String::new()),
                ("  Budget".to_owned(), money(&b.budget)),
                ("  Committed".to_owned(), money(&b.committed)),
                ("  Drawn".to_owned(), money(&b.drawn)),
                (
                    "  Variance".to_owned(),
                    format!(
                        "{}{}",
                        money(&b.variance),
                        b.variance_percent
                            .as_ref()
                            .map(|p| format!(" ({p}%)"))
                            .unwrap_or_default()
                    ),
                ),
            ]));
        }
    }
    if !a.investors.is_empty() {
        blocks.push(Block::Heading("Investors".to_owned()));
        for i in &a.investors {
            blocks.push(Block::Rows(vec![
                (format!("Investor {}", i.investor), String::new()),
                ("  Capital paid in".to_owned(), money(&i.contributed)),
                ("  Distributions".to_owned(), money(&i.distributed)),
                (
                    "  IRR".to_owned(),
                    i.irr_percent
                        .as_ref()
                        .map_or("none".to_owned(), |p| format!("{p}%")),
                ),
            ]));
        }
    }
    let region = property.address.region.clone().unwrap_or_default();
    let trend = crate::sales::trend(app.db(), &property.address.city, &region).await?;
    if !trend.quarters.is_empty() {
        blocks.push(Block::Heading("The area's market".to_owned()));
        let points: Vec<(String, i64)> = trend
            .quarters
            .iter()
            .map(|x| {
                (
                    x.quarter.clone(),
                    crate::charts::cents(&x.median_price_per_sqft.amount),
                )
            })
            .collect();
        blocks.push(Block::Chart(crate::charts::trend(
            &format!(
                "{}, {}: median price per square foot",
                trend.city, trend.region
            ),
            &points,
        )?));
    }
    let statement = crate::pdf::Statement {
        title: "Performance statement".to_owned(),
        subtitle: format!(
            "{}, {} · {} to {}",
            property.address.line1, property.address.city, a.from, a.to
        ),
        blocks,
    };
    pdf_response(statement, &format!("performance-{id}-{}", a.to)).await
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

/// The portfolio's statement as a PDF: its NOI, value, cap rate and equity multiple, each
/// property's, and a chart of each property's NOI (labelled by the first part of its id).
#[utoipa::path(get, path = "/v1/analytics/statement", tag = "properties", params(AsOf),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn portfolio_statement(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<AsOf>,
) -> ApiResult<axum::response::Response> {
    use crate::pdf::Block;
    auth.require(Allowed::READ)?;
    let to = day(&q)?;
    let p = analytics::portfolio(app.db(), app.ledger()?, to).await?;
    let money = |m: &crate::types::Money| format!("{} {}", m.amount, m.currency);
    let pct = |v: &Option<String>| v.as_ref().map_or("none".to_owned(), |v| format!("{v}%"));
    let mut blocks = vec![
        Block::Heading("The portfolio".to_owned()),
        Block::Rows(vec![
            ("Properties".to_owned(), p.properties.to_string()),
            ("Net operating income".to_owned(), money(&p.noi)),
            ("Value".to_owned(), money(&p.value)),
            ("Cap rate".to_owned(), pct(&p.cap_rate_percent)),
            (
                "Equity multiple".to_owned(),
                p.equity_multiple
                    .clone()
                    .unwrap_or_else(|| "none".to_owned()),
            ),
        ]),
    ];
    if !p.items.is_empty() {
        let bars: Vec<(String, i64)> = p
            .items
            .iter()
            .take(20)
            .map(|a| {
                (
                    a.property_id.to_string().chars().take(8).collect(),
                    crate::charts::cents(&a.noi.amount) / 100,
                )
            })
            .collect();
        blocks.push(Block::Chart(crate::charts::figures(
            "Each property's NOI",
            &bars,
        )?));
        blocks.push(Block::Heading("Properties".to_owned()));
        for a in &p.items {
            blocks.push(Block::Rows(vec![
                (format!("Property {}", a.property_id), String::new()),
                ("  Net operating income".to_owned(), money(&a.noi)),
                (
                    "  Value".to_owned(),
                    a.value.as_ref().map_or("none".to_owned(), money),
                ),
                ("  Cap rate".to_owned(), pct(&a.cap_rate_percent)),
                (
                    "  Occupancy".to_owned(),
                    format!("{}%", a.occupancy_percent),
                ),
            ]));
        }
    }
    let statement = crate::pdf::Statement {
        title: "Portfolio statement".to_owned(),
        subtitle: format!("The twelve months to {}", p.to),
        blocks,
    };
    pdf_response(statement, &format!("portfolio-{}", p.to)).await
}

/// A rendered statement, as an inline PDF named `name`.
async fn pdf_response(
    statement: crate::pdf::Statement,
    name: &str,
) -> ApiResult<axum::response::Response> {
    let pdf = tokio::task::spawn_blocking(move || crate::pdf::render(&statement))
        .await
        .map_err(|e| Error::Internal(format!("writing a PDF: {e}")))??;
    let mut r = axum::response::IntoResponse::into_response(pdf);
    let headers = r.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("inline; filename=\"{name}.pdf\"")) {
        headers.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
