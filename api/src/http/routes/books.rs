//! The books of a property: accounts with balances, trial balance, balance sheet, income
//! statement. Read-only, for every staff role (an auditor reads everything).

use axum::extract::{Path, State};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Allowed;
use crate::books::{self, AccountView, BalanceSheet, IncomeStatement, TrialBalance};
use crate::deals::parse_day;
use crate::http::extract::{Auth, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;

/// A day of the books.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// As of the end of this day (`YYYY-MM-DD`); everything when absent.
    pub as_of: Option<String>,
}

/// A period of the books.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// First day (`YYYY-MM-DD`), open when absent.
    pub from: Option<String>,
    /// Last day (`YYYY-MM-DD`), open when absent.
    pub to: Option<String>,
}

fn day(name: &str, text: Option<&str>) -> crate::error::Result<Option<NaiveDate>> {
    text.map(|t| {
        parse_day(name, t)
            .map_err(|_| crate::error::Error::invalid(name, "expected a date such as 2026-12-01"))
    })
    .transpose()
}

/// The property's accounts (its chart, investor capital and budget-line accounts) with posted
/// and pending balances, by code. `{property}` is the API's property id or a tokenized
/// property's deed token id.
#[utoipa::path(get, path = "/v1/books/{property}/accounts", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)")),
    responses((status = 200, body = Vec<AccountView>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn accounts(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
) -> ApiResult<axum::Json<Vec<AccountView>>> {
    auth.require(Allowed::READ)?;
    Ok(axum::Json(books::accounts(app.ledger()?, &property).await?))
}

/// The property's trial balance as of the end of a day.
#[utoipa::path(get, path = "/v1/books/{property}/trial-balance", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)"), AsOf),
    responses((status = 200, body = TrialBalance)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn trial_balance(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
    Query(q): Query<AsOf>,
) -> ApiResult<axum::Json<TrialBalance>> {
    auth.require(Allowed::READ)?;
    let as_of = day("as_of", q.as_of.as_deref())?;
    Ok(axum::Json(
        books::trial_balance(app.ledger()?, &property, as_of).await?,
    ))
}

/// The property's balance sheet as of the end of a day.
#[utoipa::path(get, path = "/v1/books/{property}/balance-sheet", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)"), AsOf),
    responses((status = 200, body = BalanceSheet)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn balance_sheet(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
    Query(q): Query<AsOf>,
) -> ApiResult<axum::Json<BalanceSheet>> {
    auth.require(Allowed::READ)?;
    let as_of = day("as_of", q.as_of.as_deref())?;
    Ok(axum::Json(
        books::balance_sheet(app.ledger()?, &property, as_of).await?,
    ))
}

/// The property's income statement for a period.
#[utoipa::path(get, path = "/v1/books/{property}/income-statement", tag = "books",
    params(("property" = String, Path, description = "The property (API id or deed token id)"), Period),
    responses((status = 200, body = IncomeStatement)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn income_statement(
    State(app): State<App>,
    auth: Auth,
    Path(property): Path<String>,
    Query(q): Query<Period>,
) -> ApiResult<axum::Json<IncomeStatement>> {
    auth.require(Allowed::READ)?;
    let from = day("from", q.from.as_deref())?;
    let to = day("to", q.to.as_deref())?;
    Ok(axum::Json(
        books::income_statement(app.ledger()?, &property, from, to).await?,
    ))
}
