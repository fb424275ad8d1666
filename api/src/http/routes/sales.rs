//! Property sales: imports from CSV or RESO JSON, and an area's market trend.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Allowed;
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::write::{Begun, Write};
use crate::sales::{self, ImportResult, ResoImport, Trend};

/// Imports property sales: `text/csv` with a header row (`address, city, region, sale_date,
/// sale_price` required; `postal_code, latitude, longitude, living_area_sqft, lot_size_sqft,
/// bedrooms, bathrooms, year_built, property_type, condition` optional), or `application/json`
/// as RESO records (`{"value": [{"UnparsedAddress", "City", "StateOrProvince", "CloseDate",
/// "ClosePrice", "LivingArea", ...}]}`). At most 10,000 rows. A bad row refuses the import,
/// naming each bad row and field (`/rows/{i}/{field}`), and nothing is stored; a sale already
/// stored is counted as a duplicate.
#[utoipa::path(post, path = "/v1/sales/imports", tag = "valuations",
    request_body(content(
        (String = "text/csv"),
        (ResoImport = "application/json"),
    )),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = ImportResult)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn import(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (rows, source) = match kind.as_str() {
        "text/csv" => (sales::parse_csv(&body)?, "csv"),
        "application/json" => {
            let reso: ResoImport = serde_json::from_slice(&body)
                .map_err(|e| Error::invalid("/value", format!("not RESO JSON: {e}")))?;
            (sales::parse_reso(&reso)?, "reso")
        }
        _ => {
            return Err(Error::invalid(
                "content-type",
                "text/csv or application/json (RESO records)",
            )
            .into());
        }
    };
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/sales/imports",
        idem.0,
        &[&body],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let result = sales::store(w.tx(), &rows, source).await?;
    Ok(w.finish(StatusCode::CREATED, &result, None).await?)
}

/// An area.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Area {
    /// The city.
    pub city: String,
    /// The state or region.
    pub region: String,
}

/// An area's market trend: by calendar quarter, the sales with a living area and their median
/// price per square foot.
#[utoipa::path(get, path = "/v1/market/trends", tag = "valuations", params(Area),
    responses((status = 200, body = Trend)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn trends(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<Area>,
) -> ApiResult<axum::Json<Trend>> {
    auth.require(Allowed::READ)?;
    Ok(axum::Json(
        sales::trend(app.db(), &q.city, &q.region).await?,
    ))
}

/// An after-repair value from comparable sales in the subject's area that closed before the
/// valuation day: the comps closest to the subject, each adjusted for time (the area's market
/// index), living area, bedrooms, bathrooms, age and lot, every adjustment explained, and
/// their weighted result. 409 `no_comps` when the area has no sale before the day.
#[utoipa::path(post, path = "/v1/valuations/comps", tag = "valuations",
    request_body = crate::comps::Subject,
    responses((status = 200, body = crate::comps::Valuation)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn comps(
    State(app): State<App>,
    auth: Auth,
    body: crate::http::extract::Json<crate::comps::Subject>,
) -> ApiResult<axum::Json<crate::comps::Valuation>> {
    auth.require(Allowed::READ)?;
    let s = &body.value;
    let facts = crate::comps::facts(s, chrono::Utc::now().date_naive())?;
    let sales = sales::area_sales(app.db(), &s.city, &s.region).await?;
    crate::comps::value(&facts, &sales)
        .map(axum::Json)
        .ok_or_else(|| {
            Error::conflict(
                "no_comps",
                "the area has no sale with a living area before the valuation day",
            )
            .into()
        })
}

/// Upgrade scenarios for a rehab: the ARV as it is, after every upgrade (bedroom added,
/// bathroom added, living area added), and each line's value added on its own and return on
/// its cost, from comparable sales as `/v1/valuations/comps` finds them. A condition
/// improvement is listed without a value: the sales carry no condition.
#[utoipa::path(post, path = "/v1/valuations/upgrades", tag = "valuations",
    request_body = crate::comps::UpgradeRequest,
    responses((status = 200, body = crate::comps::UpgradeScenarios)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn upgrades(
    State(app): State<App>,
    auth: Auth,
    body: crate::http::extract::Json<crate::comps::UpgradeRequest>,
) -> ApiResult<axum::Json<crate::comps::UpgradeScenarios>> {
    auth.require(Allowed::READ)?;
    let r = &body.value;
    let facts = crate::comps::facts(&r.subject, chrono::Utc::now().date_naive())?;
    let sales = sales::area_sales(app.db(), &r.subject.city, &r.subject.region).await?;
    crate::comps::upgrades(&facts, &r.upgrades, &sales)?
        .map(axum::Json)
        .ok_or_else(|| {
            Error::conflict(
                "no_comps",
                "the area has no sale with a living area before the valuation day",
            )
            .into()
        })
}
