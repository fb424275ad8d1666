//! alloy JSON-RPC clients for `http://`, `https://`, `ws://` and `wss://` endpoints, over one
//! TLS configuration ([`crate::tls::client_config`]), for every reader and writer of the chain.
//!
//! HTTP goes through the node's own client ([`crate::http`]), not alloy's reqwest transport,
//! so that there is one TLS configuration (and one crypto provider) for every connection.
//! Credentials in the URL (`https://user:password@host/...`) go as HTTP basic authorization,
//! as alloy does; nothing here logs or reports the URL unmasked.

use std::{sync::Arc, task};

use alloy::{
    pubsub::{ConnectionHandle, PubSubConnect},
    rpc::{
        client::{ClientBuilder, RpcClient},
        json_rpc::{RequestPacket, ResponsePacket},
    },
    transports::{
        Authorization, TransportError, TransportErrorKind, TransportFut, TransportResult,
        ws::WsBackend,
    },
};
use http_body_util::BodyExt;
use hyper::{Uri, body::Bytes, header::HeaderValue};
use rustls::ClientConfig;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::{http, redact::redact_url};

/// Seconds between WebSocket keep-alive pings (alloy's default).
const WS_KEEPALIVE_SECS: u64 = 10;

/// A JSON-RPC client for `url` (`http`, `https`, `ws` or `wss`), with `tls` for the secure
/// schemes. WebSocket connections are opened here, and reopened by alloy when they drop.
pub async fn client(url: &str, tls: &Arc<ClientConfig>) -> Result<RpcClient, TransportError> {
    let parsed = url::Url::parse(url).map_err(|e| {
        TransportErrorKind::custom_str(&format!("invalid rpc url {}: {e}", redact_url(url)))
    })?;
    let local = alloy::transports::utils::guess_local_url(url);
    match parsed.scheme() {
        "http" | "https" => Ok(RpcClient::new(
            HttpTransport::new(&parsed, tls.clone())?,
            local,
        )),
        "ws" | "wss" => {
            ClientBuilder::default()
                .pubsub(WsTls {
                    url: url.to_owned(),
                    tls: tls.clone(),
                    local,
                })
                .await
        }
        other => Err(TransportErrorKind::custom_str(&format!(
            "rpc url {}: unsupported scheme {other:?} (http, https, ws or wss)",
            redact_url(url)
        ))),
    }
}

/// JSON-RPC over HTTP(S) through [`http::client`]: alloy's HTTP transport on the node's own
/// TLS configuration, answering as alloy's does (an error status with a JSON-RPC error in its
/// body is that error; another is an HTTP error).
#[derive(Clone)]
pub struct HttpTransport {
    client: http::Client,
    uri: Uri,
    authorization: Option<HeaderValue>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport").finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A transport for `url` (its credentials go as basic authorization).
    pub fn new(url: &url::Url, tls: Arc<ClientConfig>) -> Result<Self, TransportError> {
        let (uri, authorization) = http::endpoint(url).map_err(|e| {
            TransportErrorKind::custom_str(&format!("rpc url {}: {e}", redact_url(url.as_str())))
        })?;
        Ok(Self {
            client: http::client(tls),
            uri,
            authorization,
        })
    }

    async fn send(self, packet: RequestPacket) -> TransportResult<ResponsePacket> {
        let body = serde_json::to_vec(&packet).map_err(TransportError::ser_err)?;
        let mut request =
            hyper::Request::post(self.uri).header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(authorization) = self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization);
        }
        for (name, value) in packet.headers().iter() {
            request = request.header(name, value);
        }
        let request = request
            .body(http_body_util::Full::new(Bytes::from(body)))
            .map_err(TransportErrorKind::custom)?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(TransportErrorKind::custom)?;
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) if !status.is_success() => {
                return Err(TransportErrorKind::http_error(
                    status.as_u16(),
                    format!("<failed to read response body: {e}>"),
                ));
            }
            Err(e) => return Err(TransportErrorKind::custom(e)),
        };
        if !status.is_success() {
            return match serde_json::from_slice::<ResponsePacket>(&body) {
                Ok(packet) if packet.is_error() => Ok(packet),
                _ => Err(TransportErrorKind::http_error(
                    status.as_u16(),
                    String::from_utf8_lossy(&body).into_owned(),
                )),
            };
        }
        serde_json::from_slice(&body)
            .map_err(|e| TransportError::deser_err(e, String::from_utf8_lossy(&body)))
    }
}

impl tower_service::Service<RequestPacket> for HttpTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut task::Context<'_>) -> task::Poll<Result<(), Self::Error>> {
        // The pool opens connections as requests need them.
        task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, packet: RequestPacket) -> Self::Future {
        Box::pin(self.clone().send(packet))
    }
}

/// A WebSocket endpoint, connected with the node's TLS configuration.
#[derive(Clone)]
struct WsTls {
    url: String,
    tls: Arc<ClientConfig>,
    local: bool,
}

impl PubSubConnect for WsTls {
    fn is_local(&self) -> bool {
        self.local
    }

    async fn connect(&self) -> TransportResult<ConnectionHandle> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(TransportErrorKind::custom)?;
        if let Some(auth) = url::Url::parse(&self.url)
            .ok()
            .and_then(|u| Authorization::extract_from_url(&u))
        {
            let mut value = auth
                .to_string()
                .parse::<tokio_tungstenite::tungstenite::http::HeaderValue>()
                .map_err(TransportErrorKind::custom)?;
            value.set_sensitive(true);
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::header::AUTHORIZATION,
                value,
            );
        }
        let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            None,
            true,
            Some(tokio_tungstenite::Connector::Rustls(self.tls.clone())),
        )
        .await
        .map_err(TransportErrorKind::custom)?;
        let (handle, interface) = ConnectionHandle::new();
        WsBackend::from_socket(
            socket,
            interface,
            std::time::Duration::from_secs(WS_KEEPALIVE_SECS),
        )
        .spawn();
        Ok(handle)
    }
}
