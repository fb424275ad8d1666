//! An axum router served over HTTP/1.1 with limits on what clients may hold: a cap on open
//! connections, and timeouts for clients that send a request's headers or body too slowly or
//! keep an idle connection open.
//!
//! Each connection is in one of three phases, and a watchdog closes it when it stays too long
//! in either waiting phase:
//! - **headers**: from the moment the connection is accepted, or the first byte of a request
//!   after an idle spell, until the request's headers are complete: at most
//!   [`ServerLimits::header_read_timeout`];
//! - **busy**: a request is being handled and answered; its body must arrive within
//!   [`ServerLimits::body_read_timeout`] of its headers (reading it fails after that, and the
//!   connection closes once the answer is sent);
//! - **idle**: between the end of an answer and the first byte of the next request, at most
//!   [`ServerLimits::keep_alive_timeout`].
//!
//! Each request carries the client's address as axum's `ConnectInfo<SocketAddr>`.
//!
//! Connections beyond [`ServerLimits::max_connections`] wait in the kernel's accept queue
//! until one closes, so the process never holds more sockets than the cap. An upgraded
//! connection (WebSocket) keeps its place under the cap until it closes.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body};
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    task::JoinSet,
    time::{Instant, Sleep},
};

/// Limits on the clients of a server. The defaults suit a JSON-RPC or REST endpoint reached
/// over the internet; tests shorten the timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Most connections open at once (default 1,024); more wait to be accepted.
    pub max_connections: usize,
    /// Time a request's headers may take, from the connection's start or the request's first
    /// byte (default 10 s).
    pub header_read_timeout: Duration,
    /// Time a connection may sit idle between requests (default 30 s).
    pub keep_alive_timeout: Duration,
    /// Time a request's body may take after its headers (default 30 s).
    pub body_read_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 1_024,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown` resolves; then stops
/// accepting, lets requests in progress finish, closes idle connections and returns once
/// every connection is closed (upgraded ones end on their own).
pub async fn serve<F>(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, say: pause rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(
            stream,
            peer,
            permit,
            router.clone(),
            limits.clone(),
            closing_rx.clone(),
        ));
    }
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Errors of one incoming connection, not of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

const HEADERS: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// The phase of one connection and when it began, shared by its socket, its service and its
/// watchdog.
#[derive(Debug)]
struct Activity {
    start: Instant,
    phase: AtomicU8,
    /// Milliseconds after `start` when the phase began.
    since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            phase: AtomicU8::new(HEADERS),
            since_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn enter(&self, phase: u8) {
        self.since_ms.store(self.now_ms(), Ordering::Release);
        self.phase.store(phase, Ordering::Release);
    }

    /// Bytes arrived: an idle connection starts a request.
    fn on_read(&self) {
        if self.phase.load(Ordering::Acquire) == IDLE {
            self.enter(HEADERS);
        }
    }

    /// When the current phase runs out, and whether running out closes the connection.
    fn deadline(&self, limits: &ServerLimits) -> (Instant, bool) {
        let phase = self.phase.load(Ordering::Acquire);
        let since = self.start + Duration::from_millis(self.since_ms.load(Ordering::Acquire));
        match phase {
            HEADERS => (since + limits.header_read_timeout, true),
            IDLE => (since + limits.keep_alive_timeout, true),
            // A busy connection is bounded by its body timeout and by the handler; look again
            // later.
            _ => (
                Instant::now() + limits.header_read_timeout.max(limits.keep_alive_timeout),
                false,
            ),
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    router: Router,
    limits: ServerLimits,
    mut closing: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        stream,
        activity: activity.clone(),
        _permit: permit,
    });
    let body_timeout = limits.body_read_timeout;
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            activity.enter(BUSY);
            let done = RequestDone(activity.clone());
            let mut router = router.clone();
            let mut request = request.map(|body| Body::new(TimedBody::new(body, body_timeout)));
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            async move {
                let response = tower_call(&mut router, request).await;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| Body::new(Finishing { body, _done: done })),
                )
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let (deadline, _) = activity.deadline(&limits);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = closing.wait_for(|c| *c), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(deadline) => {
                // The phase may have moved on while this slept.
                let (deadline, closes) = activity.deadline(&limits);
                if closes && deadline <= Instant::now() {
                    // Nothing is in flight: dropping the connection closes the socket.
                    return;
                }
            }
        }
    }
}

/// Calls the router (always ready: its error type is `Infallible`).
async fn tower_call(
    router: &mut Router,
    request: hyper::Request<Body>,
) -> axum::response::Response {
    use tower_service::Service;
    match router.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Marks the end of a request's answer (sent or abandoned) when dropped.
struct RequestDone(Arc<Activity>);

impl Drop for RequestDone {
    fn drop(&mut self) {
        self.0.enter(IDLE);
    }
}

/// An answer's body that ends the busy phase once hyper is done with it.
struct Finishing {
    body: Body,
    _done: RequestDone,
}

impl hyper::body::Body for Finishing {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that fails once its deadline passes.
struct TimedBody {
    body: Incoming,
    deadline: Pin<Box<Sleep>>,
}

impl TimedBody {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Self {
            body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

/// The error a body read past its deadline gives.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimeout;

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket: notes reads for the watchdog and holds the connection's place under
/// the cap until it is dropped.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
