//! Liveness, readiness, metrics, the OpenAPI document, its docs page, and the pages that
//! describe each problem type.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::error::Error;
use crate::http::problem::{ApiResult, TYPES};
use crate::http::state::App;

/// How long a readiness or metrics probe waits for the database or the chain.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is up.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health)),
    extensions(("x-roles" = json!([]))))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// One dependency's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// Whether it is fine.
    pub ok: bool,
    /// What is wrong, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Readiness: the database, the chain and the indexer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// The database answers.
    pub database: Check,
    /// The chain answers (absent when the API runs without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<Check>,
    /// The chain's latest block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_block: Option<u64>,
    /// The next block the indexer reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexer_next_block: Option<u64>,
    /// Blocks the indexer is behind the head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexer_lag_blocks: Option<u64>,
    /// Whether chain actions are accepted (absent when the API writes to no chain). They are
    /// held, with the reason, while the deployed contracts' code differs from the deployment
    /// record, until the node is restarted with `--accept-deployed-code`; reads go on, so the
    /// node stays ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_writes: Option<Check>,
}

fn check(r: Result<(), String>) -> Check {
    match r {
        Ok(()) => Check {
            ok: true,
            error: None,
        },
        Err(e) => Check {
            ok: false,
            error: Some(e),
        },
    }
}

/// The chain's head and the indexer's next block, updating the metrics.
async fn chain_state(app: &App) -> Option<Result<(u64, Option<u64>), String>> {
    let chain = app.inner.chain.clone()?;
    let probe = async {
        let head = chain.head().await?;
        let indexed = chain.indexed().await?;
        Ok::<_, String>((head, indexed))
    };
    let r = match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(r) => r,
        Err(_) => Err("the chain did not answer in time".to_owned()),
    };
    if let Ok((head, indexed)) = &r {
        app.inner.metrics.chain(*head, *indexed);
    }
    Some(r)
}

/// Reads each signing key's balance into the metrics, warning in the log when one is low.
async fn signer_balances(app: &App) {
    let Ok(ctx) = app.chain() else { return };
    let low_wei = app.config().low_balance_wei;
    for (role, address) in &ctx.signers {
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            alloy::providers::Provider::get_balance(&ctx.provider, *address),
        )
        .await;
        if let Ok(Ok(wei)) = read {
            let gwei = u64::try_from(wei / alloy::primitives::U256::from(1_000_000_000u64))
                .unwrap_or(u64::MAX);
            let low = wei < low_wei;
            if low {
                tracing::warn!(%role, %address, %wei, "a signing key is low on gas money");
            }
            app.inner
                .metrics
                .signer(role, &address.to_checksum(None), gwei, low);
        }
    }
}

/// Readiness: ready when the database and the chain answer and the indexer is within the
/// configured lag of the head (503 otherwise, with what is wrong).
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)),
    extensions(("x-roles" = json!([]))))]
pub async fn readyz(State(app): State<App>) -> Response {
    let db = match tokio::time::timeout(PROBE_TIMEOUT, app.db().ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the database does not answer: {e}")),
        Err(_) => Err("the database did not answer in time".to_owned()),
    };
    let mut ready = db.is_ok();
    let mut r = Readiness {
        status: "ready",
        database: check(db),
        chain: None,
        head_block: None,
        indexer_next_block: None,
        indexer_lag_blocks: None,
        chain_writes: app.chain().ok().map(|_| {
            check(match app.chain_writes_held() {
                Some(reason) => Err(reason.to_owned()),
                None => Ok(()),
            })
        }),
    };
    if let Some(state) = chain_state(&app).await {
        match state {
            Ok((head, indexed)) => {
                r.chain = Some(check(Ok(())));
                r.head_block = Some(head);
                r.indexer_next_block = indexed;
                let lag = indexed.map(|next| head.saturating_add(1).saturating_sub(next));
                r.indexer_lag_blocks = lag;
                if lag.is_none_or(|l| l > app.config().max_ready_lag_blocks) {
                    ready = false;
                }
            }
            Err(e) => {
                r.chain = Some(check(Err(e)));
                ready = false;
            }
        }
    }
    let status = if ready {
        StatusCode::OK
    } else {
        r.status = "not_ready";
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(r)).into_response()
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Metrics", content_type = "application/openmetrics-text")),
    extensions(("x-roles" = json!([]))))]
pub async fn metrics(State(app): State<App>) -> Response {
    let _ = chain_state(&app).await;
    signer_balances(&app).await;
    let mut resp = app.inner.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

/// The OpenAPI 3.1 document of this API.
pub async fn openapi(State(doc): State<Arc<String>>) -> Response {
    let mut resp = doc.as_str().to_owned().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PropLedger API</title>
<link rel="stylesheet" href="/v1/docs/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="/v1/docs/swagger-ui-bundle.js"></script>
<script src="/v1/docs/init.js"></script>
</body>
</html>
"#;

const DOCS_INIT: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/v1/openapi.json",
    dom_id: "#docs",
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: true
  });
});
"##;

fn static_asset(body: &'static [u8], content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The interactive docs page (Swagger UI, served from the node itself).
pub async fn docs() -> Response {
    let mut resp = static_asset(DOCS_HTML.as_bytes(), "text/html; charset=utf-8");
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    resp
}

/// The web app's page policy: its own script and styles only, no inline code, no other
/// origin (the wallet extension talks to the chain itself), never framed.
const APP_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The web app investors and staff use (built from `web/` by `scripts/build-web`).
pub async fn web_app() -> Response {
    let mut resp = static_asset(
        include_bytes!("../../../assets/app/index.html"),
        "text/html; charset=utf-8",
    );
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(APP_CSP),
    );
    // The page changes with each release: revalidate it; its assets are named by the page.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// A file of the web app.
pub async fn web_asset(Path(name): Path<String>) -> ApiResult<Response> {
    let mut resp = match name.as_str() {
        "app.js" => static_asset(
            include_bytes!("../../../assets/app/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "app.css" => static_asset(
            include_bytes!("../../../assets/app/app.css"),
            "text/css; charset=utf-8",
        ),
        _ => return Err(Error::NotFound("file").into()),
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// A file of the docs page.
pub async fn docs_asset(Path(name): Path<String>) -> ApiResult<Response> {
    Ok(match name.as_str() {
        "swagger-ui-bundle.js" => static_asset(
            include_bytes!("../../../assets/swagger-ui/swagger-ui-bundle.js"),
            "text/javascript; charset=utf-8",
        ),
        "swagger-ui.css" => static_asset(
            include_bytes!("../../../assets/swagger-ui/swagger-ui.css"),
            "text/css; charset=utf-8",
        ),
        "init.js" => static_asset(DOCS_INIT.as_bytes(), "text/javascript; charset=utf-8"),
        _ => return Err(Error::NotFound("file").into()),
    })
}

/// A page describing a problem type.
pub async fn problem_type(Path(slug): Path<String>) -> ApiResult<Response> {
    let (slug, title, meaning) = TYPES
        .iter()
        .find(|(s, ..)| *s == slug)
        .ok_or(Error::NotFound("problem type"))?;
    Ok(axum::Json(json!({
        "type": format!("/problems/{slug}"),
        "title": title,
        "description": meaning,
    }))
    .into_response())
}
