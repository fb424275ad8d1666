//! The HTTP client of `eth_getLogs` requests: pooled HTTP/1.1 connections whose reads
//! acknowledge at once.
//!
//! Linux delays the acknowledgement of data it receives (by up to 40 ms) on a connection
//! that looks like request and answer traffic, hoping to send it with the next request. A
//! server that leaves Nagle's algorithm on (anvil does) holds back the last part of a large
//! answer until what it sent before is acknowledged. Together they stall an answer near its end
//! until the timer fires: 40 ms of nothing, often on the one request a backfill waits for.
//! Setting `TCP_QUICKACK` after each read that returned data sends the acknowledgement at once.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tower::Service;

/// The client: HTTP/1.1 over [`QuickAckConnector`] connections, kept in a pool.
pub(super) type LogsClient = Client<QuickAckConnector, http_body_util::Full<Bytes>>;

/// A new [`LogsClient`].
pub(super) fn client() -> LogsClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(QuickAckConnector(http))
}

/// hyper's TCP connector, its connections wrapped in [`QuickAck`].
#[derive(Clone)]
pub(super) struct QuickAckConnector(HttpConnector);

impl Service<Uri> for QuickAckConnector {
    type Response = TokioIo<QuickAck>;
    type Error = <HttpConnector as Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            Ok(TokioIo::new(QuickAck(io.into_inner())))
        })
    }
}

/// A TCP stream that acknowledges what it has read at once.
pub(super) struct QuickAck(TcpStream);

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

impl Connection for QuickAck {
    fn connected(&self) -> Connected {
        self.0.connected()
    }
}
