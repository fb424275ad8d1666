//! The API's middleware: each request's context and per-client rate limit, the rendering of
//! problem documents, and the observation of every routed request (metrics, and the audit-log
//! row of a write the handler did not record itself: refused, failed or replayed).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::extract::{RequestContext, bearer};
use super::problem::{ApiError, PROBLEM_JSON, Rendered};
use super::state::App;
use crate::audit::{self, Record};
use crate::auth::Actor;
use crate::error::Error;

/// The header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Gives the request its context: its id and the client's address.
pub async fn context(mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let client_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let ctx = Arc::new(RequestContext::new(request_id, client_ip));
    req.extensions_mut().insert(ctx);
    next.run(req).await
}

/// Writes problem documents with the request id, and logs the cause of server errors (which
/// the client never sees).
pub async fn render(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    let Some(rendered) = resp.extensions_mut().remove::<Rendered>() else {
        return resp;
    };
    let mut problem = (*rendered.problem).clone();
    if problem.status >= 500 {
        match &rendered.cause {
            Some(cause) => tracing::error!(
                request_id = request_id.as_deref().unwrap_or(""),
                %method, path, error = %cause, debug = ?cause, "request failed"
            ),
            None => tracing::error!(
                request_id = request_id.as_deref().unwrap_or(""),
                %method, path, detail = %problem.detail, "request failed"
            ),
        }
    } else {
        tracing::debug!(
            request_id = request_id.as_deref().unwrap_or(""),
            %method, path, status = problem.status, detail = %problem.detail, "request refused"
        );
    }
    problem.request_id = request_id;
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let (mut parts, _) = resp.into_parts();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Applies the per-client and per-credential rate limits to a routed request, then observes it:
/// its metrics, and the audit row of a write the handler did not record in its own transaction
/// (refused, failed or replayed; not a rate-limited one, which the handler never saw).
pub async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let _in_flight = app.inner.metrics.start();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let ctx = req.extensions().get::<Arc<RequestContext>>().cloned();
    let limiter = &app.inner.limiter;
    let client_ip = ctx
        .as_ref()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.client_ip);
    let limited = limiter
        .client(client_ip)
        .and_then(|()| match bearer(req.headers()) {
            Ok(Some(token)) => limiter.credential(token),
            _ => Ok(()),
        });
    if let Err(e) = limited {
        let resp = ApiError(e).into_response();
        app.inner.metrics.observe(
            method.as_str(),
            &route,
            resp.status().as_u16(),
            started.elapsed(),
        );
        return resp;
    }
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    app.inner
        .metrics
        .observe(method.as_str(), &route, status, started.elapsed());
    if let Some(ctx) = ctx
        && is_write(&method)
        && !ctx.audited()
    {
        let actor = ctx.actor().unwrap_or_else(|| Actor::anonymous(None));
        let write = async {
            let mut tx = app.db().begin().await?;
            audit::append(
                tx.exec(),
                &Record {
                    request_id: &ctx.request_id,
                    actor: &actor,
                    method: method.as_str(),
                    route: &route,
                    resource_id: None,
                    status,
                },
            )
            .await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        };
        if let Err(e) = write.await {
            tracing::error!(request_id = %ctx.request_id, error = %e, "recording a write in the audit log failed");
        }
    }
    resp
}
