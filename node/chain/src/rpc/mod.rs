//! JSON-RPC over HTTP (POST) and WebSocket (GET upgrade) on one port, with limits on body
//! size, batch length and connections.
//!
//! - `jsonrpc`: framing, parameters and error codes (pure)
//! - `methods`: the `eth_*`, `net_*`, `web3_*` and dev methods
//! - `ws`: WebSocket connections and `eth_subscribe`

mod jsonrpc;
mod methods;
mod ws;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State, WebSocketUpgrade, rejection::BytesRejection},
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use tokio::sync::watch;

use jsonrpc::Error;

use super::{Limits, service::Shared};

/// What every handler can reach.
pub(crate) struct Rpc {
    pub(crate) shared: Arc<Shared>,
    pub(crate) limits: Limits,
    pub(crate) client_version: String,
    ws_connections: AtomicUsize,
    /// Bounds the requests handled at once; the rest wait their turn.
    in_flight: tokio::sync::Semaphore,
    /// Flips to true when the server stops; WebSocket connections close on it.
    stopping: watch::Receiver<bool>,
}

impl Rpc {
    pub(crate) fn new(
        shared: Arc<Shared>,
        limits: Limits,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        let max_concurrent = limits.max_concurrent_requests.max(1);
        Self {
            shared,
            limits,
            client_version: format!("propledger/v{}", env!("CARGO_PKG_VERSION")),
            ws_connections: AtomicUsize::new(0),
            in_flight: tokio::sync::Semaphore::new(max_concurrent),
            stopping,
        }
    }

    /// Answers a body (one call or a batch). `None` when every call was a notification.
    pub(crate) async fn handle_body(&self, body: &str, conn: Option<&ws::Conn>) -> Option<String> {
        // The semaphore is never closed, so acquiring only waits.
        let _permit = self.in_flight.acquire().await.ok();
        let parsed = match jsonrpc::parse_body(body, self.limits.max_batch_len) {
            Ok(p) => p,
            Err(e) => return Some(jsonrpc::error_response(&e)),
        };
        match parsed {
            jsonrpc::Body::Single(call) => {
                let mut out = String::new();
                self.answer(call, conn, &mut out).await.then_some(out)
            }
            jsonrpc::Body::Batch(calls) => {
                let mut out = String::from("[");
                let mut any = false;
                for call in calls {
                    let mut one = String::new();
                    if out.len() > self.limits.max_batch_response_bytes {
                        // Past the response budget every further call is refused, as geth does.
                        let id = match &call {
                            Ok(c) => c.id,
                            Err((id, _)) => *id,
                        };
                        let e = Error::Server {
                            code: -32003,
                            message: "response too large".to_owned(),
                        };
                        jsonrpc::write_response(&mut one, id, &Err(e));
                        out.push(',');
                        out.push_str(&one);
                        continue;
                    }
                    if self.answer(call, conn, &mut one).await {
                        if any {
                            out.push(',');
                        }
                        out.push_str(&one);
                        any = true;
                    }
                }
                out.push(']');
                any.then_some(out)
            }
        }
    }

    /// Answers one call into `out`; false for a notification (no answer).
    async fn answer(
        &self,
        call: jsonrpc::Parsed<'_>,
        conn: Option<&ws::Conn>,
        out: &mut String,
    ) -> bool {
        match call {
            Err((id, e)) => {
                jsonrpc::write_response(out, id, &Err(e));
                true
            }
            Ok(call) => {
                let result = match jsonrpc::Params::parse(call.params) {
                    Ok(params) => self.call(&call.method, params, conn).await,
                    Err(e) => Err(e),
                };
                match call.id {
                    Some(id) => {
                        jsonrpc::write_response(out, Some(id), &result);
                        true
                    }
                    None => false,
                }
            }
        }
    }
}

/// The HTTP and WebSocket routes (a router factory, so tests can drive it without a socket).
pub(crate) fn router(rpc: Arc<Rpc>) -> Router {
    let limit = rpc.limits.max_body_bytes;
    Router::new()
        .route("/", post(http).get(websocket).options(preflight))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::map_response(cors))
        .with_state(rpc)
}

/// Serves until `stop` resolves under the connection limits and timeouts of `server`, then
/// closes WebSocket connections and waits for in-flight HTTP requests.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    rpc: Arc<Rpc>,
    server: propledger_net::ServerLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    propledger_net::serve(listener, router(rpc), server, stop).await
}

async fn http(State(rpc): State<Arc<Rpc>>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            let e = if status == StatusCode::PAYLOAD_TOO_LARGE {
                Error::Server {
                    code: -32600,
                    message: format!(
                        "request body too large: limit {} bytes",
                        rpc.limits.max_body_bytes
                    ),
                }
            } else {
                Error::InvalidRequest
            };
            return json(status, jsonrpc::error_response(&e));
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return json(StatusCode::OK, jsonrpc::error_response(&Error::Parse));
    };
    match rpc.handle_body(text, None).await {
        Some(out) => json(StatusCode::OK, out),
        None => StatusCode::OK.into_response(),
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn websocket(State(rpc): State<Arc<Rpc>>, upgrade: WebSocketUpgrade) -> Response {
    let max = rpc.limits.max_ws_connections;
    if rpc.ws_connections.fetch_add(1, Ordering::SeqCst) >= max {
        rpc.ws_connections.fetch_sub(1, Ordering::SeqCst);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many websocket connections",
        )
            .into_response();
    }
    let limit = rpc.limits.max_body_bytes;
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move {
            ws::serve(rpc.clone(), socket).await;
            rpc.ws_connections.fetch_sub(1, Ordering::SeqCst);
        })
}

async fn preflight() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Browsers may call the node from any page, as with anvil and Hardhat.
async fn cors(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_str(
            &[Method::POST, Method::GET, Method::OPTIONS]
                .map(|m| m.to_string())
                .join(", "),
        )
        .unwrap_or_else(|_| HeaderValue::from_static("POST")),
    );
    response
}
