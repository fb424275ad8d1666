//! The HTTP/1.1 client of JSON-RPC endpoints: pooled connections, plain or TLS
//! ([`crate::tls`]), whose reads acknowledge at once.
//!
//! Linux delays the acknowledgement of data it receives (by up to 40 ms) on a connection
//! that looks like request and answer traffic, hoping to send it with the next request. A
//! server that leaves Nagle's algorithm on (anvil does) holds back the last part of a large
//! answer until what it sent before is acknowledged. Together they stall an answer near its end
//! until the timer fires: 40 ms of nothing, often on the one request a backfill waits for.
//! Setting `TCP_QUICKACK` after each read that returned data sends the acknowledgement at once.
//! On `https` connections TLS runs over the same acknowledging socket, so every read of
//! encrypted records sets it too.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use hyper::{Uri, body::Bytes, header::HeaderValue};
use hyper_util::{
    client::legacy::connect::{Connected, Connection, HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, client::TlsStream};
use tower_service::Service;

/// The client: HTTP/1.1 over [`Connector`] connections, kept in a pool.
pub type Client = hyper_util::client::legacy::Client<Connector, http_body_util::Full<Bytes>>;

/// A new [`Client`]; `https` endpoints use `tls`.
pub fn client(tls: Arc<ClientConfig>) -> Client {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    // `https` URIs reach this connector too; it adds TLS itself.
    http.enforce_http(false);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(Connector {
        http,
        tls: TlsConnector::from(tls),
    })
}

/// Where requests to `url` go (the URL without its credentials) and the basic authorization
/// they carry (from the URL's credentials, as alloy's and browsers' clients send them). An
/// error names what is wrong without quoting the URL.
pub fn endpoint(url: &url::Url) -> Result<(Uri, Option<HeaderValue>), String> {
    let authorization = alloy::transports::Authorization::extract_from_url(url)
        .map(|auth| {
            let mut value = HeaderValue::from_str(&auth.to_string())
                .map_err(|_| "the URL's credentials are not valid in a header".to_owned())?;
            value.set_sensitive(true);
            Ok::<_, String>(value)
        })
        .transpose()?;
    let mut bare = url.clone();
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    let uri = bare
        .as_str()
        .parse()
        .map_err(|e| format!("not a valid request target: {e}"))?;
    Ok((uri, authorization))
}

/// hyper's TCP connector, its connections wrapped in [`QuickAck`] and, for `https`, in TLS.
#[derive(Clone)]
pub struct Connector {
    http: HttpConnector,
    tls: TlsConnector,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Service<Uri> for Connector {
    type Response = TokioIo<Conn>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let secure = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned());
        let tls = self.tls.clone();
        let connecting = self.http.call(uri);
        Box::pin(async move {
            let plain = QuickAck(connecting.await?.into_inner());
            if !secure {
                return Ok(TokioIo::new(Conn::Plain(plain)));
            }
            let host = host.ok_or("an https URL without a host")?;
            let name = ServerName::try_from(host)?;
            let stream = tls.connect(name, plain).await?;
            Ok(TokioIo::new(Conn::Tls(Box::new(stream))))
        })
    }
}

/// A connection of the client.
pub enum Conn {
    /// Plain HTTP.
    Plain(QuickAck),
    /// HTTP over TLS.
    Tls(Box<TlsStream<QuickAck>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        match self {
            Conn::Plain(s) => s.0.connected(),
            Conn::Tls(s) => s.get_ref().0.0.connected(),
        }
    }
}

/// A TCP stream that acknowledges what it has read at once.
pub struct QuickAck(TcpStream);

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            // Not sticky: the kernel goes back to delaying, so it is set again on every read.
            // A failure only costs the delay this avoids.
            let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}
