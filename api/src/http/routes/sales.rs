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

/// An area's market trend as a chart (SVG): the median price per square foot by quarter.
#[utoipa::path(get, path = "/v1/market/trends/chart", tag = "valuations", params(Area),
    responses((status = 200, content_type = "image/svg+xml", body = String)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn trends_chart(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<Area>,
) -> ApiResult<Response> {
    auth.require(Allowed::READ)?;
    let t = sales::trend(app.db(), &q.city, &q.region).await?;
    let points: Vec<(String, i64)> = t
        .quarters
        .iter()
        .map(|x| {
            (
                x.quarter.clone(),
                crate::charts::cents(&x.median_price_per_sqft.amount),
            )
        })
        .collect();
    Ok(super::offerings::svg(crate::charts::trend(
        &format!("{}, {}: median price per square foot", t.city, t.region),
        &points,
    )?))
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
    let market = sales::market(app.db(), &app.inner.markets, &s.city, &s.region).await?;
    // The first valuation of a day derives the area's index and rates: off the async threads.
    let (m, f) = (market.clone(), facts.clone());
    let v = tokio::task::spawn_blocking(move || m.value(&f))
        .await
        .map_err(|e| Error::Internal(format!("valuing: {e}")))?;
    let mut v = v.ok_or_else(|| {
        Error::conflict(
            "no_comps",
            "the area has no sale with a living area before the valuation day",
        )
    })?;
    match crate::avm::usable(app.db(), &app.inner.models, &s.city, &s.region, facts.as_of).await? {
        None => {
            v.model_unavailable = Some(
                "no model of the area learned only from sales before the valuation day; \
                 train one with POST /v1/valuations/models"
                    .to_owned(),
            );
        }
        Some((info, model)) => {
            let level = market.level(facts.as_of);
            match level.and_then(|l| model.estimate(&facts, l)) {
                Some(value) => {
                    v.model = Some(crate::avm::Estimate {
                        model_id: info.id,
                        version: info.version,
                        last_sale: info.metrics.last_sale,
                        value: crate::comps::dollars(value),
                    });
                }
                None => {
                    v.model_unavailable =
                        Some("the model gave no estimate for this subject".to_owned());
                }
            }
        }
    }
    Ok(axum::Json(v))
}

/// Upgrade scenarios for a rehab project's budget lines: the deal's property is the subject
/// (its area, living area, rooms, age, lot and location, as recorded), each named line says
/// which upgrade it makes, and its cost is its accepted bid, else its budget. Answers as
/// `/v1/valuations/upgrades`, each line with its id and category. 409 `no_living_area` when
/// the property has no living area recorded, `no_comps` when its area has no earlier sale.
#[utoipa::path(post, path = "/v1/rehab-projects/{id}/upgrade-scenarios", tag = "valuations",
    params(("id" = String, Path, description = "The project's id")),
    request_body = crate::comps::ProjectUpgrades,
    responses((status = 200, body = crate::comps::UpgradeScenarios)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn project_upgrades(
    State(app): State<App>,
    auth: Auth,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: crate::http::extract::Json<crate::comps::ProjectUpgrades>,
) -> ApiResult<axum::Json<crate::comps::UpgradeScenarios>> {
    auth.require(Allowed::READ)?;
    let db = app.db();
    let project = crate::rehab::project(db.reader(), crate::rehab::ProjectId::parse(&id)?).await?;
    let property = crate::properties::get(db.reader(), project.property_id).await?;
    let lines = crate::rehab::lines(db.reader(), project.id).await?;
    let req = &body.value;
    let mut errors = Vec::new();
    let mut ups = Vec::with_capacity(req.lines.len());
    let mut named = Vec::with_capacity(req.lines.len());
    for (i, l) in req.lines.iter().enumerate() {
        match lines.iter().find(|x| x.id.to_string() == l.line_id) {
            None => errors.push(crate::error::FieldError::new(
                format!("/lines/{i}/line_id"),
                "not a budget line of this project",
            )),
            Some(line) => {
                ups.push(crate::comps::Upgrade {
                    kind: l.kind.clone(),
                    square_feet: l.square_feet,
                    cost: line
                        .committed
                        .clone()
                        .unwrap_or_else(|| line.budget.clone()),
                });
                named.push((line.id.to_string(), line.category.clone()));
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors).into());
    }
    let area = property.square_feet.ok_or_else(|| {
        Error::conflict(
            "no_living_area",
            "the property has no living area recorded (square_feet)",
        )
    })?;
    let subject = crate::comps::Subject {
        city: property.address.city.clone(),
        region: property.address.region.clone().unwrap_or_default(),
        living_area_sqft: area,
        bedrooms: property.bedrooms,
        bathrooms: property
            .bathrooms
            .as_deref()
            .and_then(|b| serde_json::from_str::<serde_json::Number>(b).ok()),
        year_built: property.year_built,
        lot_size_sqft: property.lot_size_sqft,
        latitude: property.location.as_ref().map(|l| l.latitude),
        longitude: property.location.as_ref().map(|l| l.longitude),
        as_of: req.as_of.clone(),
    };
    let facts = crate::comps::facts(&subject, chrono::Utc::now().date_naive())?;
    let market = sales::market(db, &app.inner.markets, &subject.city, &subject.region).await?;
    let scenarios =
        tokio::task::spawn_blocking(move || crate::comps::upgrades(&facts, &ups, &market))
            .await
            .map_err(|e| Error::Internal(format!("valuing: {e}")))?
            .map_err(|e| match e {
                Error::Invalid(v) => Error::Invalid(
                    v.into_iter()
                        .map(|mut f| {
                            f.pointer = f.pointer.replacen("/upgrades", "/lines", 1);
                            f
                        })
                        .collect(),
                ),
                e => e,
            })?;
    let mut scenarios = scenarios.ok_or_else(|| {
        Error::conflict(
            "no_comps",
            "the area has no sale with a living area before the valuation day",
        )
    })?;
    for (line, (id, category)) in scenarios.lines.iter_mut().zip(named) {
        line.line_id = Some(id);
        line.category = Some(category);
    }
    Ok(axum::Json(scenarios))
}

/// Trains the area's next valuation model (a random forest, tuned by five-fold
/// cross-validation on the sales it learns from) on its sales with a living area, before
/// `before` when given, and stores it with its settings and training metrics. The comps
/// valuation shows the latest model that learned only from sales before its day. One training
/// runs at a time (429 while another does); 409 `too_few_sales` under 50 sales.
#[utoipa::path(post, path = "/v1/valuations/models", tag = "valuations",
    request_body = crate::avm::TrainRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = crate::avm::ModelInfo)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn train(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: crate::http::extract::Json<crate::avm::TrainRequest>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let req = &body.value;
    let mut errors = Vec::new();
    for (field, v) in [("/city", &req.city), ("/region", &req.region)] {
        if v.trim().is_empty() || v.chars().count() > 100 {
            errors.push(crate::error::FieldError::new(field, "1 to 100 characters"));
        }
    }
    let before = match req.before.as_deref() {
        None => None,
        Some(t) => match crate::deals::parse_day("/before", t) {
            Ok(d) => Some(d),
            Err(Error::Invalid(mut e)) => {
                errors.append(&mut e);
                None
            }
            Err(e) => return Err(e.into()),
        },
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors).into());
    }
    let permit = app
        .inner
        .trainings
        .clone()
        .try_acquire_owned()
        .map_err(|_| Error::RateLimited { retry_after_s: 10 })?;
    let mut sales = sales::area_sales(app.db(), &req.city, &req.region).await?;
    if let Some(d) = before {
        sales.retain(|s| s.sale_date < d);
    }
    let (model, metrics) = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        crate::avm::train(&sales)
    })
    .await
    .map_err(|e| Error::Internal(format!("training a model: {e}")))?
    .map_err(|e| match e {
        crate::avm::TrainError::TooFewSales(why) => Error::conflict("too_few_sales", why),
        crate::avm::TrainError::Failed(why) => Error::Internal(format!("training a model: {why}")),
    })?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/valuations/models",
        idem.0,
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let actor = w.actor().clone();
    let info = crate::avm::store(w.tx(), &actor, req, &model, &metrics).await?;
    let id = info.id.to_string();
    Ok(w.finish(StatusCode::CREATED, &info, Some(id)).await?)
}

/// The area's valuation models, the latest first (at most 100), each with its settings and
/// training metrics.
#[utoipa::path(get, path = "/v1/valuations/models", tag = "valuations", params(Area),
    responses((status = 200, body = Vec<crate::avm::ModelInfo>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn models(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<Area>,
) -> ApiResult<axum::Json<Vec<crate::avm::ModelInfo>>> {
    auth.require(Allowed::READ)?;
    Ok(axum::Json(
        crate::avm::list(app.db(), &q.city, &q.region).await?,
    ))
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
    let market = sales::market(
        app.db(),
        &app.inner.markets,
        &r.subject.city,
        &r.subject.region,
    )
    .await?;
    let ups = r.upgrades.clone();
    tokio::task::spawn_blocking(move || crate::comps::upgrades(&facts, &ups, &market))
        .await
        .map_err(|e| Error::Internal(format!("valuing: {e}")))??
        .map(axum::Json)
        .ok_or_else(|| {
            Error::conflict(
                "no_comps",
                "the area has no sale with a living area before the valuation day",
            )
            .into()
        })
}
