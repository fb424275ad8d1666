//! Investors' yearly tax statements: their own, one investor's for staff, and every
//! investor's for the operator's export; as JSON or CSV.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::distributions::my_wallets;
use crate::auth::Allowed;
use crate::error::Error;
use crate::http::extract::{Auth, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::tax::{self, CSV_HEADER, TaxExport, TaxStatement};

/// The format asked for.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

fn wants_csv(q: &FormatQuery) -> Result<bool, Error> {
    match q.format.as_deref() {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(Error::invalid("format", "expected json or csv")),
    }
}

fn year_of(text: &str) -> Result<i32, Error> {
    text.parse::<i32>()
        .ok()
        .and_then(|y| tax::check_year(y).ok())
        .ok_or_else(|| Error::invalid("year", "a year from 1970 to 9999"))
}

fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn csv(statements: &[TaxStatement], name: &str) -> Response {
    let mut rows = Vec::new();
    for s in statements {
        tax::csv_rows(s, &mut rows);
    }
    let mut out = CSV_HEADER.join(",");
    out.push('\n');
    for r in rows {
        let r: Vec<String> = r.iter().map(|f| field(f)).collect();
        out.push_str(&r.join(","));
        out.push('\n');
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        out,
    )
        .into_response()
}

fn answer(s: TaxStatement, csv_wanted: bool) -> Response {
    if csv_wanted {
        let name = format!("tax-{}-{}", s.investor_id, s.year);
        csv(&[s], &name)
    } else {
        axum::Json(s).into_response()
    }
}

/// The signed-in investor's tax statement for a calendar year (UTC): the distributions with a
/// record date in it, divided into income and return of capital, their part of the
/// management fees, and the shares bought and given up with their cost basis (first in, first
/// out). `format=csv` gives one row per line and a total row.
#[utoipa::path(get, path = "/v1/me/tax-statements/{year}", tag = "investors",
    params(("year" = i32, Path, description = "The calendar year"), FormatQuery),
    responses((status = 200, body = TaxStatement), (status = 200, content_type = "text/csv", body = String)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn mine(
    State(app): State<App>,
    auth: Auth,
    Path(year): Path<String>,
    Query(q): Query<FormatQuery>,
) -> ApiResult<Response> {
    let csv_wanted = wants_csv(&q)?;
    let year = year_of(&year)?;
    let wallets: HashSet<_> = my_wallets(&app, &auth).await?.into_iter().collect();
    let first = wallets
        .iter()
        .min()
        .map(|w| w.to_checksum(None))
        .unwrap_or_default();
    let label =
        crate::db::Query::new("SELECT investor_id FROM api_investor_wallets WHERE wallet = $1")
            .bind(first.clone())
            .fetch_optional(app.db().reader())
            .await?
            .map(|r| r.get::<String>("investor_id"))
            .transpose()?
            .unwrap_or(first);
    let s = tax::of_wallets(&app, &label, &wallets, year).await?;
    Ok(answer(s, csv_wanted))
}

/// An investor's tax statement for a calendar year, as the investor sees it.
#[utoipa::path(get, path = "/v1/investors/{id}/tax-statements/{year}", tag = "investors",
    params(("id" = String, Path, description = "The investor's id"),
        ("year" = i32, Path, description = "The calendar year"), FormatQuery),
    responses((status = 200, body = TaxStatement), (status = 200, content_type = "text/csv", body = String)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn of_investor(
    State(app): State<App>,
    auth: Auth,
    Path((id, year)): Path<(String, String)>,
    Query(q): Query<FormatQuery>,
) -> ApiResult<Response> {
    auth.require(Allowed::READ)?;
    let csv_wanted = wants_csv(&q)?;
    let year = year_of(&year)?;
    let s = tax::statement(&app, &id, year).await?;
    Ok(answer(s, csv_wanted))
}

/// Every investor's tax statement for a calendar year (those with anything to report), and
/// the management fees and promote paid to the sponsor: the operator's export. At most 2,000
/// investors.
#[utoipa::path(get, path = "/v1/tax-statements/{year}", tag = "investors",
    params(("year" = i32, Path, description = "The calendar year"), FormatQuery),
    responses((status = 200, body = TaxExport), (status = 200, content_type = "text/csv", body = String)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn export(
    State(app): State<App>,
    auth: Auth,
    Path(year): Path<String>,
    Query(q): Query<FormatQuery>,
) -> ApiResult<Response> {
    auth.require(Allowed::READ)?;
    let csv_wanted = wants_csv(&q)?;
    let year = year_of(&year)?;
    let e = tax::export(&app, year).await?;
    if csv_wanted {
        Ok(csv(&e.statements, &format!("tax-{year}")))
    } else {
        Ok(axum::Json::<TaxExport>(e).into_response())
    }
}
