//! The HTTP layer: routes, extractors, authentication, problem documents, idempotent writes,
//! limits, metrics and the OpenAPI document, over the resource modules.
//!
//! Every route is registered through utoipa's `OpenApiRouter`, so the OpenAPI document is
//! made from the handlers themselves and cannot list a route that does not exist (or miss one
//! that does). Each operation carries `x-roles`, the staff roles that may call it (empty: no
//! credential needed).

pub mod extract;
pub mod layers;
pub mod limits;
pub mod metrics;
pub mod problem;
pub mod routes;
pub mod state;
pub mod upload;
pub mod write;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::problem::{ApiError, Problem};
use self::routes::{
    agent, analytics, audit, auth, books, bulk, business_documents, chain_audit, compliance, deals,
    distributions, documents, investors, keys, me, network, offerings, properties, rehab, sales,
    statements, system, tax, tokenization, trading, transactions, users, valuations, waterfalls,
};
use self::state::App;
use crate::error::Error;

/// Largest JSON body any route takes.
pub const MAX_JSON_BODY_BYTES: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PropLedger API",
        version = "1",
        description = "Properties, documents, staff accounts and the audit log of a PropLedger node. \
            Credentials travel as `Authorization: Bearer <token>` (a `pls_` session token from \
            `POST /v1/auth/sessions`, or a `plk_` API key). Errors are RFC 9457 problem \
            documents (`application/problem+json`) whose `type` is described at `/problems/<slug>`. \
            Lists are paged with `limit` and `cursor` (`next_cursor` of the previous page). \
            Creating POSTs take an `Idempotency-Key` header: a retry with the same key gets the \
            first response; the same key with another body is a 409. Money is decimal text with \
            its currency, never a number.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "auth", description = "Signing in and out"),
        (name = "users", description = "Staff users"),
        (name = "api-keys", description = "API keys for services and scripts"),
        (name = "audit", description = "The audit log of every write"),
        (name = "properties", description = "Properties"),
        (name = "documents", description = "Documents attached to properties"),
        (name = "business-documents", description = "SOPs, business plans, policies, deal memos and statement templates: versions, diffs, approvals, publication proofs, rendering and search"),
        (name = "deals", description = "Deals: acquisitions, their pipeline, pro-formas and returns"),
        (name = "books", description = "A property's books: accounts, trial balance, statements"),
        (name = "investors", description = "Investors: applications, review, and their own data"),
        (name = "offerings", description = "Share offerings: state, finalizing, cancelling"),
        (name = "compliance", description = "Whether a transfer or purchase would pass, and why"),
        (name = "market", description = "Secondary trading: the share market's orders and trades, and the transactions an investor signs to trade"),
        (name = "system", description = "Health, readiness and metrics"),
    ),
    components(schemas(Problem))
)]
struct ApiDoc;

/// Every documented route, with its handler; the upload route gets its own body limit.
fn documented(app: &App) -> OpenApiRouter<App> {
    let upload_limit = usize::try_from(app.config().max_document_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    let uploads = OpenApiRouter::new()
        .routes(routes!(documents::upload, documents::list))
        .routes(routes!(investors::add_document))
        .routes(routes!(business_documents::attach))
        .layer(DefaultBodyLimit::max(upload_limit));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::sign_in))
        .routes(routes!(auth::whoami, auth::sign_out))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update))
        .routes(routes!(users::revoke_sessions))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::get, keys::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(chain_audit::events))
        .routes(routes!(chain_audit::cap_table))
        .routes(routes!(chain_audit::ledger))
        .routes(routes!(chain_audit::reconciliation))
        .routes(routes!(chain_audit::verify))
        .routes(routes!(chain_audit::anchors, chain_audit::anchor))
        .routes(routes!(properties::search, properties::create))
        .routes(routes!(properties::get, properties::update))
        .routes(routes!(tokenization::create, tokenization::get))
        .routes(routes!(deals::list, deals::create))
        .routes(routes!(deals::get))
        .routes(routes!(deals::transition))
        .routes(routes!(deals::costs, deals::book_cost))
        .routes(routes!(deals::add_offer))
        .routes(routes!(deals::add_milestone))
        .routes(routes!(deals::sell))
        .routes(routes!(deals::redeem))
        .routes(routes!(deals::pro_forma))
        .routes(routes!(deals::returns))
        .routes(routes!(valuations::list, valuations::record))
        .routes(routes!(distributions::list, distributions::declare))
        .routes(routes!(distributions::get))
        .routes(routes!(distributions::register))
        .routes(routes!(distributions::push))
        .routes(routes!(distributions::mine))
        .routes(routes!(statements::statement))
        .routes(routes!(rehab::contractors, rehab::create_contractor))
        .routes(routes!(rehab::contractor))
        .routes(routes!(rehab::create_project, rehab::projects))
        .routes(routes!(rehab::project))
        .routes(routes!(rehab::project_chart))
        .routes(routes!(rehab::add_line))
        .routes(routes!(rehab::add_bid))
        .routes(routes!(rehab::accept_bid))
        .routes(routes!(rehab::request_draw))
        .routes(routes!(rehab::approve_draw))
        .routes(routes!(rehab::release_draw))
        .routes(routes!(rehab::pay_draw_by_bank))
        .routes(routes!(rehab::add_progress))
        .routes(routes!(rehab::change_order))
        .routes(routes!(distributions::claim))
        .routes(routes!(transactions::list, transactions::record))
        .routes(routes!(
            transactions::schedules,
            transactions::create_schedule
        ))
        .routes(routes!(books::accounts))
        .routes(routes!(books::list_entries))
        .routes(routes!(books::capital_accounts))
        .routes(routes!(books::cash_flow))
        .routes(routes!(books::cash_chart))
        .routes(routes!(chain_audit::anomalies))
        .routes(routes!(analytics::property))
        .routes(routes!(analytics::property_chart))
        .routes(routes!(analytics::property_statement))
        .routes(routes!(analytics::portfolio))
        .routes(routes!(analytics::portfolio_statement))
        .routes(routes!(sales::import))
        .routes(routes!(sales::trends))
        .routes(routes!(sales::comps))
        .routes(routes!(sales::trends_chart))
        .routes(routes!(sales::train, sales::models))
        .routes(routes!(sales::project_upgrades))
        .routes(routes!(sales::upgrades))
        .routes(routes!(books::fees, books::set_fees))
        .routes(routes!(books::close))
        .routes(routes!(books::export))
        .routes(routes!(books::trial_balance))
        .routes(routes!(books::balance_sheet))
        .routes(routes!(books::income_statement))
        .routes(routes!(documents::get))
        .routes(routes!(documents::content))
        .routes(routes!(system::healthz))
        .routes(routes!(waterfalls::get, waterfalls::set))
        .routes(routes!(waterfalls::preview))
        .routes(routes!(waterfalls::runs, waterfalls::fund))
        .routes(routes!(tax::mine))
        .routes(routes!(tax::of_investor))
        .routes(routes!(tax::export))
        .routes(routes!(network::network))
        .routes(routes!(network::grant))
        .routes(routes!(network::faucet))
        .routes(routes!(system::readyz))
        .routes(routes!(system::metrics))
        .routes(routes!(investors::nonce))
        .routes(routes!(investors::verify))
        .routes(routes!(me::me))
        .routes(routes!(me::purchase))
        .routes(routes!(me::transfer))
        .routes(routes!(me::refund))
        .routes(routes!(agent::add_wallet))
        .routes(routes!(agent::remove_wallet))
        .routes(routes!(agent::freeze_investor))
        .routes(routes!(bulk::freeze_investors))
        .routes(routes!(bulk::register_investors))
        .routes(routes!(bulk::issue_shares))
        .routes(routes!(agent::token_freeze))
        .routes(routes!(agent::recover))
        .routes(routes!(agent::forced_transfer))
        .routes(routes!(offerings::list))
        .routes(routes!(offerings::get))
        .routes(routes!(offerings::chart))
        .routes(routes!(offerings::documents))
        .routes(routes!(offerings::document_content))
        .routes(routes!(offerings::finalize))
        .routes(routes!(offerings::cancel))
        .routes(routes!(offerings::rules, offerings::set_rules))
        .routes(routes!(investors::apply))
        .routes(routes!(investors::list))
        .routes(routes!(investors::get))
        .routes(routes!(investors::approve))
        .routes(routes!(investors::reject))
        .routes(routes!(investors::action))
        .routes(routes!(compliance::check))
        .routes(routes!(trading::orders))
        .routes(routes!(trading::trades))
        .routes(routes!(trading::place))
        .routes(routes!(trading::take))
        .routes(routes!(trading::cancel))
        .routes(routes!(trading::my_trades))
        .routes(routes!(trading::set_approval))
        .routes(routes!(trading::approvals))
        .routes(routes!(trading::decide))
        .routes(routes!(
            business_documents::list,
            business_documents::create
        ))
        .routes(routes!(business_documents::search))
        .routes(routes!(business_documents::templates))
        .routes(routes!(business_documents::get, business_documents::edit))
        .routes(routes!(business_documents::rollback))
        .routes(routes!(business_documents::permissions))
        .routes(routes!(business_documents::submit))
        .routes(routes!(business_documents::decide))
        .routes(routes!(business_documents::publish))
        .routes(routes!(business_documents::archive))
        .routes(routes!(business_documents::versions))
        .routes(routes!(business_documents::version))
        .routes(routes!(business_documents::diff))
        .routes(routes!(business_documents::history))
        .routes(routes!(business_documents::render))
        .routes(routes!(business_documents::proof))
        .routes(routes!(business_documents::verify))
        .routes(routes!(business_documents::attachment))
        .merge(uploads)
}

/// The OpenAPI document, as served at `/v1/openapi.json`.
pub fn openapi(app: &App) -> utoipa::openapi::OpenApi {
    let (_, doc) = documented(app).split_for_parts();
    finish_document(doc)
}

/// Adds the bearer scheme and the problem responses every operation may give.
fn finish_document(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                problem::PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    let common: [(&str, &str, &str); 8] = [
        (
            "Invalid",
            "400",
            "A parameter is invalid or the request is malformed",
        ),
        ("Unauthenticated", "401", "No valid credential"),
        ("Forbidden", "403", "The credential's role may not do this"),
        ("NotFound", "404", "No such resource"),
        (
            "Conflict",
            "409",
            "The request conflicts with the current state",
        ),
        ("Unprocessable", "422", "A field of the body is invalid"),
        ("RateLimited", "429", "Too many requests"),
        ("ServerError", "500", "The server failed"),
    ];
    for (name, _, description) in common {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(problem(description)));
    }
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let public = op.security.is_none();
            for (name, status, _) in common {
                if public && matches!(status, "401" | "403") {
                    continue;
                }
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| {
                        RefOr::Ref(Ref::new(format!("#/components/responses/{name}")))
                    });
            }
        }
    }
    doc
}

async fn timed_out(e: tower::BoxError) -> Response {
    if e.is::<tower::timeout::error::Elapsed>() {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long and was abandoned",
        )
        .into_response_with(None)
    } else {
        ApiError(Error::Internal(e.to_string())).into_response()
    }
}

async fn not_found() -> Response {
    ApiError(Error::NotFound("route")).into_response()
}

async fn method_not_allowed() -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "the route does not take this method",
    )
    .into_response_with(None)
}

/// The API's router with all its middleware.
pub fn router(app: App) -> Router {
    let (routes, doc) = documented(&app).split_for_parts();
    let doc = Arc::new(serde_json::to_string(&finish_document(doc)).unwrap_or_default());
    let docs = Router::new()
        .route("/v1/openapi.json", get(system::openapi))
        .with_state(doc);
    let request_id = HeaderName::from_static(layers::REQUEST_ID);
    let timeout = app.config().request_timeout;
    routes
        .route("/", get(system::web_app))
        .route("/app/{name}", get(system::web_asset))
        .route("/v1/docs", get(system::docs))
        .route("/v1/docs/{name}", get(system::docs_asset))
        .route("/problems/{slug}", get(system::problem_type))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            layers::observe,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .with_state(app.clone())
        .merge(docs)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(
                    |req: &axum::http::Request<axum::body::Body>| {
                        let id = req
                            .headers()
                            .get(layers::REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                    },
                ))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(axum::middleware::from_fn(layers::render))
                .layer(CatchPanicLayer::custom(|_| {
                    Problem::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "the server failed; quote the request id to its operator",
                    )
                    .into_response_with(None)
                }))
                .layer(HandleErrorLayer::new(timed_out))
                .layer(tower::timeout::TimeoutLayer::new(timeout.max(Duration::from_millis(1))))
                .layer(axum::middleware::from_fn(layers::context)),
        )
}
