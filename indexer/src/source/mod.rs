//! The chain side of the indexer: reads over HTTP JSON-RPC with retries, adaptive `eth_getLogs`
//! ranges and bounded concurrency.
//!
//! [`RpcSource`] wraps alloy's RPC client. Every request runs under a timeout and is retried
//! with exponential backoff and jitter when the failure is transient: transport errors
//! (connection refused/reset/closed, EOF, HTTP 5xx and 429), timeouts, JSON-RPC internal errors,
//! rate limits, and "header not found" for a block at or below the head. Other JSON-RPC errors
//! come back as [`SourceError::Rpc`]. With [`RetryPolicy::max_attempts`] `None` it retries
//! forever: the indexer must never skip a block.
//!
//! `eth_getLogs` ranges adapt: a provider's range error ("query returned more than 10000
//! results", "exceed maximum block range: 5000", Alchemy's "this block range should work:
//! [0x.., 0x..]", ...) shrinks the range to the suggestion it carries, or to half; each success
//! at the current range doubles it again, up to [`SourceConfig::max_range`]. The range is shared
//! by all clones of a source. A single block that still fails is an error, never a skipped block.

mod classify;
mod wire;

use std::{
    fmt,
    future::{Future, poll_fn},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{Address, B256, Bytes, U64},
    rpc::{
        client::RpcClient,
        json_rpc::{ErrorPayload, Id, RequestPacket, ResponsePacket, ResponsePayload, RpcRecv},
    },
    transports::{RpcError, TransportErrorKind, http::reqwest::Url},
};
use futures_util::{
    Stream, StreamExt,
    stream::{self, FuturesOrdered},
};
use serde_json::json;
use tokio::task::JoinHandle;
use tower::Service;

use classify::{Failure, Kind, RangeHint, classify, classify_payload};
use wire::{WireHeader, WireLog};

/// Most `eth_getBlockByNumber` calls in one JSON-RPC batch.
pub const HEADER_BATCH_SIZE: usize = 100;

/// How often a block at or below the head may come back as `null` before
/// [`SourceError::MissingBlock`] (load-balanced providers lag behind each other briefly).
const NULL_BLOCK_RETRIES: u32 = 5;

/// Consecutive client-side timeouts of one `eth_getLogs` window after which its range shrinks.
const LOGS_TIMEOUTS_BEFORE_SPLIT: u32 = 2;

/// A probe window of a [`RpcSource::log_chunks`] stream (its first, and the first after each
/// break) is the current span divided by this; the windows after it take twice as much each
/// until they take the whole span.
const FIRST_WINDOW_DIVISOR: u64 = 8;

/// Where and how to read the chain.
#[derive(Clone)]
pub struct SourceConfig {
    /// The JSON-RPC endpoint: `http(s)://` (`eth_getLogs` answers are then read by the
    /// source's own HTTP client) or `ws(s)://`. It may carry credentials (basic
    /// authorization in the URL, an API key in its path or query); the source never shows them.
    pub url: String,
    /// TLS for `https` and `wss` endpoints; `None` trusts Mozilla's roots
    /// ([`propledger_net::tls::client_config`]).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The first `eth_getLogs` span, in blocks (default 100); answers then size it (see
    /// `target_logs`).
    pub initial_range: u64,
    /// The largest `eth_getLogs` span ever asked for, in blocks (default 10,000).
    pub max_range: u64,
    /// `eth_getLogs` requests in flight during a backfill ([`RpcSource::log_chunks`], default 4).
    pub concurrency: usize,
    /// Logs one `eth_getLogs` answer should hold (default 8,000, under the 10,000 many
    /// providers allow): a denser answer shrinks the span in proportion, a sparse one lets it
    /// grow. Answers stay a few megabytes, and a backfill is read in enough pieces to overlap
    /// reading and storing.
    pub target_logs: usize,
    /// Largest `eth_getLogs` answer read, in bytes (default 64 MiB, some 100,000 logs): a
    /// longer one (announced, or as it arrives) is not read further and counts as a range
    /// error, so the range shrinks and is asked again. However a provider answers, no answer
    /// takes more memory than this.
    pub max_logs_body: usize,
    /// How long one request may take before it counts as failed (default 15 s).
    pub request_timeout: Duration,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
}

impl SourceConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            tls: None,
            initial_range: 100,
            max_range: 10_000,
            concurrency: 4,
            target_logs: 8_000,
            max_logs_body: 64 << 20,
            request_timeout: Duration::from_secs(15),
            retry: RetryPolicy::default(),
        }
    }
}

impl fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceConfig")
            .field("url", &propledger_net::redact_url(&self.url))
            .field("tls", &self.tls.is_some())
            .field("initial_range", &self.initial_range)
            .field("max_range", &self.max_range)
            .field("concurrency", &self.concurrency)
            .field("target_logs", &self.target_logs)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Exponential backoff with jitter between attempts of a failed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The pause after the first failure (default 100 ms); doubles with each further failure.
    pub initial_backoff: Duration,
    /// The longest pause (default 5 s).
    pub max_backoff: Duration,
    /// Attempts per request including the first (0 counts as 1); `None` retries forever (the
    /// default).
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_attempts: None,
        }
    }
}

impl RetryPolicy {
    /// The pause after `failures` failed attempts, before jitter: `initial_backoff ·
    /// 2^(failures-1)`, at most `max_backoff`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff)
    }
}

/// The header fields the indexer needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// The parent's hash.
    pub parent_hash: B256,
    /// Unix timestamp, in seconds.
    pub timestamp: u64,
}

/// A mined log as `eth_getLogs` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawLog {
    /// Number of the block that holds it.
    pub block_number: u64,
    /// Hash of that block.
    pub block_hash: B256,
    /// That block's timestamp when the node includes it (`blockTimestamp`, newer nodes).
    pub block_timestamp: Option<u64>,
    /// The transaction that emitted it.
    pub tx_hash: B256,
    /// The transaction's index in the block.
    pub tx_index: u64,
    /// The log's index in the block.
    pub log_index: u64,
    /// The emitting contract.
    pub address: Address,
    /// Topics, the event signature first.
    pub topics: Vec<B256>,
    /// Non-indexed data.
    pub data: Bytes,
}

/// The logs of a contiguous block range, as yielded by [`RpcSource::log_chunks`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogChunk {
    /// First block, inclusive.
    pub from: u64,
    /// Last block, inclusive.
    pub to: u64,
    /// Every matching log in `from..=to`, sorted by (block number, log index).
    pub logs: Vec<RawLog>,
}

/// Counters of a source (shared by its clones).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// HTTP requests sent, retries included (a batch counts once).
    pub requests: u64,
    /// Attempts repeated after a transient failure.
    pub retries: u64,
    /// Times an `eth_getLogs` range was shrunk after a range error.
    pub range_splits: u64,
    /// The current `eth_getLogs` span, in blocks.
    pub current_range: u64,
}

/// Failures of chain reads.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The node answered with a JSON-RPC error that retrying will not fix.
    #[error("JSON-RPC error {code}: {message}")]
    Rpc {
        /// The JSON-RPC error code.
        code: i64,
        /// The node's message.
        message: String,
    },
    /// Transient failures went on for `attempts` attempts ([`RetryPolicy::max_attempts`]).
    #[error("gave up after {attempts} attempts; last error: {last}")]
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The node does not have this block.
    #[error("block {0} is missing")]
    MissingBlock(u64),
    /// A range reaches past the chain's head.
    #[error("block {requested} is beyond the head {head}")]
    BeyondHead {
        /// The requested block.
        requested: u64,
        /// The node's head.
        head: u64,
    },
    /// The endpoint serves another chain than expected.
    #[error("the endpoint serves chain {actual}, expected {expected}")]
    ChainIdMismatch {
        /// The expected chain id.
        expected: u64,
        /// The endpoint's chain id.
        actual: u64,
    },
    /// An answer did not have the expected shape.
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// An HTTP status that retrying will not fix (401, 403, 404, ...).
    #[error("HTTP status {status}: {body}")]
    Http {
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// A transport failure that retrying will not fix.
    #[error("transport error: {0}")]
    Transport(String),
    /// The TLS handshake with the endpoint failed (an untrusted certificate, say): retrying
    /// will not fix it.
    #[error("TLS with the endpoint failed: {0}")]
    Tls(String),
    /// The configuration is unusable.
    #[error("invalid source configuration: {0}")]
    Config(String),
}

/// The RPC client of `config.url`: at once for `http(s)`; for `ws(s)`, once the connection
/// is open, retried like a request (so with `max_attempts: None` it waits for the endpoint).
async fn connect_client(
    config: &SourceConfig,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<RpcClient, SourceError> {
    let mut failures = 0u32;
    loop {
        match propledger_net::rpc::client(&config.url, tls).await {
            Ok(client) => return Ok(client),
            Err(e) => {
                let stop = match classify(e, Kind::Plain) {
                    Failure::Fatal(e) => return Err(e),
                    other => other,
                };
                failures += 1;
                if config
                    .retry
                    .max_attempts
                    .is_some_and(|max| failures >= max.max(1))
                {
                    return Err(SourceError::Exhausted {
                        attempts: failures,
                        last: format!("{stop:?}"),
                    });
                }
                tokio::time::sleep(config.retry.backoff(failures)).await;
            }
        }
    }
}

/// How a retried request ended when it did not succeed.
enum Stop {
    /// An `eth_getLogs` range error: shrink and ask again.
    Range {
        code: i64,
        message: String,
        hint: RangeHint,
    },
    /// The batch is too large: shrink it.
    BatchTooLarge(String),
    /// "header not found" for a block past the head.
    BeyondHead { code: i64, message: String },
    /// Give up.
    Error(SourceError),
}

impl Stop {
    fn into_error(self) -> SourceError {
        match self {
            Self::Range { code, message, .. } | Self::BeyondHead { code, message } => {
                SourceError::Rpc { code, message }
            }
            Self::BatchTooLarge(message) => SourceError::Rpc {
                code: -32600,
                message,
            },
            Self::Error(e) => e,
        }
    }
}

/// What a request is, for retries and classification.
#[derive(Clone, Copy)]
struct Ctx {
    what: &'static str,
    kind: Kind,
    /// The highest block the request names ("header not found" is transient up to the head).
    block: Option<u64>,
    /// The span of an `eth_getLogs` request (repeated timeouts shrink it).
    logs_span: Option<u64>,
}

impl Ctx {
    const fn plain(what: &'static str) -> Self {
        Self {
            what,
            kind: Kind::Plain,
            block: None,
            logs_span: None,
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    range_splits: AtomicU64,
}

struct Inner {
    client: RpcClient,
    /// For an `http(s)` endpoint, the HTTP client of `eth_getLogs` requests, whose answers are
    /// read straight from the body into logs (see [`RpcSource::logs_once`]). Its connections
    /// acknowledge what they read at once (see [`propledger_net::http`]). A `ws(s)` endpoint
    /// reads logs through `client`.
    logs_http: Option<LogsHttp>,
    config: SourceConfig,
    chain_id: u64,
    /// The `eth_getLogs` span to ask for next.
    range: AtomicU64,
    /// The `eth_getBlockByNumber` batch size to use next.
    batch_size: AtomicUsize,
    /// The head the node reported last (it may go back after a reorg or on another replica).
    known_head: AtomicU64,
    /// State of the jitter generator.
    rng: AtomicU64,
    counters: Counters,
    /// Buffers `eth_getLogs` answers are read into, kept for the next answers: reading
    /// megabytes into fresh memory each time costs the kernel as much again in zeroed pages.
    bodies: std::sync::Mutex<Vec<Vec<u8>>>,
}

/// The `eth_getLogs` client of an `http(s)` endpoint.
struct LogsHttp {
    client: propledger_net::http::Client,
    /// The endpoint without the credentials of its URL...
    uri: hyper::Uri,
    /// ...which go as basic authorization, as the RPC client sends them.
    authorization: Option<hyper::header::HeaderValue>,
}

/// An `eth_getLogs` answer's bytes, whose buffer goes back to `pool` (cleared) when dropped,
/// while the pool holds fewer than `keep` and the buffer is not one of a rare huge answer.
struct BodyBuffer<'a> {
    bytes: Vec<u8>,
    pool: &'a std::sync::Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

/// The largest buffer kept for reuse.
const KEPT_BODY_MAX: usize = 64 << 20;

impl Drop for BodyBuffer<'_> {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.bytes);
        if bytes.capacity() > KEPT_BODY_MAX {
            return;
        }
        bytes.clear();
        if let Ok(mut kept) = self.pool.lock()
            && kept.len() < self.keep
        {
            kept.push(bytes);
        }
    }
}

/// A JSON-RPC chain reader. Cheap to clone; clones share the connection pool, the adaptive
/// range and the counters.
#[derive(Clone)]
pub struct RpcSource {
    inner: Arc<Inner>,
}

impl fmt::Debug for RpcSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcSource")
            .field("url", &propledger_net::redact_url(&self.inner.config.url))
            .field("chain_id", &self.inner.chain_id)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl RpcSource {
    /// Connects to `config.url` and reads its chain id, retrying like every request (so with
    /// `max_attempts: None` it waits for the endpoint to come up).
    ///
    /// Zero ranges and concurrency count as 1; an `initial_range` above `max_range` starts at
    /// `max_range`.
    pub async fn connect(config: SourceConfig) -> Result<Self, SourceError> {
        let shown = propledger_net::redact_url(&config.url);
        let url: Url = config
            .url
            .parse()
            .map_err(|e| SourceError::Config(format!("invalid URL {shown}: {e}")))?;
        let http = match url.scheme() {
            "http" | "https" => true,
            "ws" | "wss" => false,
            _ => {
                return Err(SourceError::Config(format!(
                    "{shown} is not an http(s) or ws(s) URL"
                )));
            }
        };
        let mut config = config;
        config.max_range = config.max_range.max(1);
        config.initial_range = config.initial_range.clamp(1, config.max_range);
        config.concurrency = config.concurrency.max(1);
        let tls = match &config.tls {
            Some(tls) => tls.clone(),
            None => propledger_net::tls::client_config(&[])
                .map_err(|e| SourceError::Config(e.to_string()))?,
        };
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed);
        let logs_http = if http {
            let (uri, authorization) = propledger_net::http::endpoint(&url)
                .map_err(|e| SourceError::Config(format!("invalid URL {shown}: {e}")))?;
            Some(LogsHttp {
                client: propledger_net::http::client(tls.clone()),
                uri,
                authorization,
            })
        } else {
            None
        };
        let client = connect_client(&config, &tls).await?;
        let mut source = Self {
            inner: Arc::new(Inner {
                client,
                logs_http,
                range: AtomicU64::new(config.initial_range),
                batch_size: AtomicUsize::new(HEADER_BATCH_SIZE),
                known_head: AtomicU64::new(0),
                rng: AtomicU64::new(seed),
                counters: Counters::default(),
                bodies: std::sync::Mutex::new(Vec::new()),
                chain_id: 0,
                config,
            }),
        };
        let chain_id: U64 = source
            .request("eth_chainId", json!([]), Ctx::plain("eth_chainId"))
            .await
            .map_err(Stop::into_error)?;
        // Still the only handle: set the chain id in place.
        if let Some(inner) = Arc::get_mut(&mut source.inner) {
            inner.chain_id = chain_id.to();
        }
        Ok(source)
    }

    /// The endpoint's chain id, read at [`connect`](Self::connect).
    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    /// Fails with [`SourceError::ChainIdMismatch`] unless the endpoint serves chain `expected`.
    pub fn ensure_chain_id(&self, expected: u64) -> Result<(), SourceError> {
        match self.chain_id() {
            actual if actual == expected => Ok(()),
            actual => Err(SourceError::ChainIdMismatch { expected, actual }),
        }
    }

    /// The configuration in effect (after clamping).
    pub fn config(&self) -> &SourceConfig {
        &self.inner.config
    }

    /// The latest block number (`eth_blockNumber`).
    pub async fn head(&self) -> Result<u64, SourceError> {
        let head: U64 = self
            .request("eth_blockNumber", json!([]), Ctx::plain("eth_blockNumber"))
            .await
            .map_err(Stop::into_error)?;
        let head = head.to();
        self.inner.known_head.store(head, Ordering::Relaxed);
        Ok(head)
    }

    /// The header of block `number`, or `None` if the node does not have it (yet).
    pub async fn header(&self, number: u64) -> Result<Option<BlockHeader>, SourceError> {
        let ctx = Ctx {
            block: Some(number),
            ..Ctx::plain("eth_getBlockByNumber")
        };
        let found: Option<WireHeader> = match self
            .request(
                "eth_getBlockByNumber",
                json!([U64::from(number), false]),
                ctx,
            )
            .await
        {
            Ok(found) => found,
            Err(Stop::BeyondHead { .. }) => None,
            Err(stop) => return Err(stop.into_error()),
        };
        let header = found.map(WireHeader::into_header);
        check_header_number(header.as_ref(), number)?;
        Ok(header)
    }

    /// The headers of blocks `from..=to`, in order, fetched in JSON-RPC batches of at most
    /// [`HEADER_BATCH_SIZE`] (fewer when the provider limits batches). Every block is there, or
    /// the call fails with [`SourceError::MissingBlock`] naming the first missing one.
    pub async fn headers(&self, from: u64, to: u64) -> Result<Vec<BlockHeader>, SourceError> {
        if from > to {
            return Ok(Vec::new());
        }
        let total = usize::try_from(to - from + 1).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(total.min(HEADER_BATCH_SIZE * 10));
        let mut next = from;
        let mut null_retries = 0;
        loop {
            let size = self.inner.batch_size.load(Ordering::Relaxed).max(1) as u64;
            let end = next.saturating_add(size - 1).min(to);
            let ctx = Ctx {
                what: "eth_getBlockByNumber batch",
                kind: Kind::Batch,
                block: Some(end),
                logs_span: None,
            };
            let batch = if size == 1 {
                // A provider that takes no batches at all: plain requests.
                self.request(
                    "eth_getBlockByNumber",
                    json!([U64::from(next), false]),
                    Ctx {
                        kind: Kind::Plain,
                        ..ctx
                    },
                )
                .await
                .map(|h: Option<WireHeader>| vec![h])
            } else {
                self.request_batch_headers(next, end, ctx).await
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(Stop::BatchTooLarge(message)) if size > 1 => {
                    let smaller = (size / 2) as usize;
                    self.inner.batch_size.fetch_min(smaller, Ordering::Relaxed);
                    tracing::debug!(%message, batch_size = smaller, "shrinking header batches");
                    continue;
                }
                Err(Stop::BeyondHead { .. }) => {
                    return Err(SourceError::MissingBlock(
                        self.first_missing(next, end).await,
                    ));
                }
                Err(stop) => return Err(stop.into_error()),
            };
            if let Some(pos) = batch.iter().position(Option::is_none) {
                let missing = next + pos as u64;
                // Lagging replicas behind a load balancer answer null for a moment; a block
                // past the head is simply missing.
                let head = self.inner.known_head.load(Ordering::Relaxed);
                let head = if missing > head {
                    self.head().await?
                } else {
                    head
                };
                if missing > head || null_retries >= NULL_BLOCK_RETRIES {
                    return Err(SourceError::MissingBlock(missing));
                }
                null_retries += 1;
                self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.jittered(null_retries)).await;
                continue;
            }
            for (i, header) in batch.into_iter().enumerate() {
                let header = header.map(WireHeader::into_header);
                check_header_number(header.as_ref(), next + i as u64)?;
                out.extend(header);
            }
            if end == to {
                return Ok(out);
            }
            next = end + 1;
        }
    }

    /// The first block of `from..=to` the node lacks (for a "header not found" batch).
    async fn first_missing(&self, from: u64, to: u64) -> u64 {
        let head = self
            .head()
            .await
            .unwrap_or(self.inner.known_head.load(Ordering::Relaxed));
        head.saturating_add(1).clamp(from, to)
    }

    /// Every log of `addresses` in blocks `from..=to`, sorted by (block number, log index).
    /// An empty `addresses` matches every contract, as in `eth_getLogs`.
    ///
    /// The range is split into requests of the current adaptive span; a range error shrinks
    /// the span (to the provider's hint, or half) and asks again from the same block. `to`
    /// must not be past the head ([`SourceError::BeyondHead`]), so that nodes that clip the
    /// range to their head cannot leave a silent gap; it is checked against the head this
    /// source saw last, asking the node when `to` is above it.
    pub async fn logs(
        &self,
        from: u64,
        to: u64,
        addresses: &[Address],
    ) -> Result<Vec<RawLog>, SourceError> {
        self.logs_spanned(from, to, addresses, None).await
    }

    /// As [`RpcSource::logs`], for contracts known to emit few logs: requests start at the
    /// largest span ([`SourceConfig::max_range`]) and shrink on range errors as usual, but what
    /// they return teaches the shared span nothing.
    pub async fn sparse_logs(
        &self,
        from: u64,
        to: u64,
        addresses: &[Address],
    ) -> Result<Vec<RawLog>, SourceError> {
        let widest = self.inner.config.max_range.max(1);
        self.logs_spanned(from, to, addresses, Some(widest)).await
    }

    /// [`RpcSource::logs`] with requests of the shared adaptive span, or (`fixed`) of a span of
    /// their own that only range errors change.
    async fn logs_spanned(
        &self,
        from: u64,
        to: u64,
        addresses: &[Address],
        fixed: Option<u64>,
    ) -> Result<Vec<RawLog>, SourceError> {
        if from > to {
            return Ok(Vec::new());
        }
        self.ensure_not_beyond_head(to).await?;
        let mut out = Vec::new();
        let mut cursor = from;
        // The largest span this call may try at `cursor`: strictly decreasing on range errors
        // even while other requests grow the shared range, so a call always ends.
        let mut cap = fixed.unwrap_or(u64::MAX);
        loop {
            let span = match fixed {
                Some(_) => cap.max(1),
                None => self.current_range().min(cap).max(1),
            };
            let end = cursor.saturating_add(span - 1).min(to);
            let attempted = end - cursor + 1;
            match self.logs_window(cursor, end, addresses).await {
                Ok(mut logs) => {
                    if fixed.is_none() {
                        self.adapt_range(attempted, logs.len());
                        cap = cap.saturating_mul(2);
                    }
                    out.append(&mut logs);
                    if end == to {
                        break;
                    }
                    cursor = end + 1;
                }
                Err(Stop::Range {
                    code,
                    message,
                    hint,
                }) => {
                    if attempted == 1 {
                        return Err(SourceError::Rpc {
                            code,
                            message: format!("block {cursor} alone: {message}"),
                        });
                    }
                    let next = hint.next_span(cursor, attempted);
                    cap = next;
                    if fixed.is_none() {
                        self.inner.range.fetch_min(next, Ordering::Relaxed);
                    }
                    self.inner
                        .counters
                        .range_splits
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        from = cursor,
                        to = end,
                        next_span = next,
                        %message,
                        "eth_getLogs range too large; shrinking"
                    );
                }
                Err(stop) => return Err(stop.into_error()),
            }
        }
        // In chain order, each log once: the indexer stores what it is given. Nodes answer in
        // order; an answer that is not is put in order, and one that repeats a log is refused.
        let position = |l: &RawLog| (l.block_number, l.log_index);
        out.sort_by_key(position);
        if let Some(pair) = out.windows(2).find(|w| position(&w[0]) == position(&w[1])) {
            return Err(SourceError::Decode(format!(
                "eth_getLogs for blocks {from}..={to} gave log {} of block {} twice",
                pair[1].log_index, pair[1].block_number
            )));
        }
        Ok(out)
    }

    /// A backfill of `from..=to`: up to [`SourceConfig::concurrency`] windows of the current
    /// adaptive span fetched at once, yielded in block order, contiguous, covering the range
    /// exactly. After an error the stream ends. Dropping the stream cancels what is in flight.
    pub fn log_chunks(
        &self,
        from: u64,
        to: u64,
        addresses: Vec<Address>,
    ) -> impl Stream<Item = Result<LogChunk, SourceError>> + Send + 'static {
        self.log_chunks_with_breaks(from, to, addresses, Vec::new())
    }

    /// As [`RpcSource::log_chunks`], where the density of logs may change at each block of
    /// `breaks` (a contract joining the set, say): no window crosses one, and the span is
    /// learned again from there, as at the start of the stream.
    pub fn log_chunks_with_breaks(
        &self,
        from: u64,
        to: u64,
        addresses: Vec<Address>,
        mut breaks: Vec<u64>,
    ) -> impl Stream<Item = Result<LogChunk, SourceError>> + Send + 'static {
        struct State {
            source: RpcSource,
            addresses: Arc<[Address]>,
            next: Option<u64>,
            to: u64,
            breaks: std::collections::VecDeque<u64>,
            /// The last block of a probe window in flight; nothing more is asked for until it
            /// is answered.
            probe: Option<u64>,
            /// Windows asked for since the last probe.
            since_probe: u32,
            in_flight: FuturesOrdered<AbortOnDrop>,
            done: bool,
        }
        breaks.sort_unstable();
        breaks.dedup();
        breaks.retain(|b| *b > from && *b <= to);
        let state = State {
            source: self.clone(),
            addresses: addresses.into(),
            next: (from <= to).then_some(from),
            to,
            breaks: breaks.into(),
            probe: None,
            since_probe: 0,
            in_flight: FuturesOrdered::new(),
            done: false,
        };
        let concurrency = self.inner.config.concurrency.max(1);
        stream::unfold(state, move |mut st| async move {
            if st.done {
                return None;
            }
            while st.in_flight.len() < concurrency && st.probe.is_none() {
                let Some(start) = st.next else { break };
                // The first window, and the first after a break, is a probe: small and alone.
                // Whatever consumes the stream starts on it early, and its density sizes the
                // windows read next, several at a time.
                let at_break = st.breaks.front() == Some(&start);
                if at_break {
                    st.breaks.pop_front();
                    st.source.reset_range();
                }
                let probe = start == from || at_break;
                if probe {
                    st.since_probe = 0;
                }
                // The windows after a probe grow from a quarter of the span to all of it: the
                // first ones are answered early, and no window waits for several full ones
                // asked for at the same moment.
                let divisor = FIRST_WINDOW_DIVISOR
                    .checked_shr(st.since_probe)
                    .unwrap_or(0)
                    .max(1);
                let span = (st.source.current_range() / divisor).max(1);
                st.since_probe = st.since_probe.saturating_add(1);
                let mut end = start.saturating_add(span - 1).min(st.to);
                if let Some(&b) = st.breaks.front() {
                    end = end.min(b - 1);
                }
                st.next = (end < st.to).then(|| end + 1);
                if probe {
                    st.probe = Some(end);
                }
                let (source, addresses) = (st.source.clone(), st.addresses.clone());
                st.in_flight.push_back(AbortOnDrop(tokio::spawn(async move {
                    let logs = source.logs(start, end, &addresses).await?;
                    Ok(LogChunk {
                        from: start,
                        to: end,
                        logs,
                    })
                })));
            }
            let item = st.in_flight.next().await?;
            match &item {
                Ok(chunk) if st.probe == Some(chunk.to) => st.probe = None,
                Ok(_) => {}
                Err(_) => {
                    st.done = true;
                    st.in_flight = FuturesOrdered::new();
                }
            }
            Some((item, st))
        })
    }

    /// `eth_call` of `data` to `to` against the state after block `block`.
    pub async fn call(&self, block: u64, to: Address, data: Bytes) -> Result<Bytes, SourceError> {
        let ctx = Ctx {
            block: Some(block),
            ..Ctx::plain("eth_call")
        };
        self.request(
            "eth_call",
            // Both spellings of the calldata: older nodes read only `data`.
            json!([{ "to": to, "input": &data, "data": &data }, U64::from(block)]),
            ctx,
        )
        .await
        .map_err(Stop::into_error)
    }

    /// Any other JSON-RPC request, retried like the rest; the answer as JSON.
    pub async fn request_raw(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, SourceError> {
        self.request(method, params, Ctx::plain(method))
            .await
            .map_err(Stop::into_error)
    }

    /// The counters.
    pub fn stats(&self) -> SourceStats {
        let c = &self.inner.counters;
        SourceStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            range_splits: c.range_splits.load(Ordering::Relaxed),
            current_range: self.current_range(),
        }
    }

    fn current_range(&self) -> u64 {
        self.inner.range.load(Ordering::Relaxed)
    }

    /// Forgets the `eth_getLogs` span learned so far and starts again from
    /// [`SourceConfig::initial_range`]: for when the set of addresses read changes, and with it
    /// how many logs a block holds.
    pub fn reset_range(&self) {
        self.inner
            .range
            .store(self.inner.config.initial_range, Ordering::Relaxed);
    }

    /// After a success at `attempted` blocks returning `returned` logs: when that density would
    /// put more than the target in a window of the current span, shrink the span to fit it;
    /// well below the target, double the span if that was a full window.
    fn adapt_range(&self, attempted: u64, returned: usize) {
        let target = self.inner.config.target_logs.max(1) as u64;
        let returned = returned as u64;
        // The span that would hold about `target` logs at the density just seen; a smaller
        // one than the current span (a dense answer, or a short window dense enough that a
        // full one would be too large) takes over.
        let fitting = (attempted.saturating_mul(target) / returned.max(1)).max(1);
        if returned > 0 && fitting < self.current_range() {
            self.inner.range.fetch_min(fitting, Ordering::Relaxed);
            return;
        }
        if returned.saturating_mul(2) > target {
            return;
        }
        let max = self.inner.config.max_range;
        let _ = self
            .inner
            .range
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
                (attempted >= current && current < max).then(|| current.saturating_mul(2).min(max))
            });
    }

    async fn ensure_not_beyond_head(&self, to: u64) -> Result<(), SourceError> {
        if to <= self.inner.known_head.load(Ordering::Relaxed) {
            return Ok(());
        }
        let head = self.head().await?;
        if to > head {
            return Err(SourceError::BeyondHead {
                requested: to,
                head,
            });
        }
        Ok(())
    }

    /// One `eth_getLogs` over `from..=to` (retried on transient failures).
    async fn logs_window(
        &self,
        from: u64,
        to: u64,
        addresses: &[Address],
    ) -> Result<Vec<RawLog>, Stop> {
        let mut filter = json!({ "fromBlock": U64::from(from), "toBlock": U64::from(to) });
        if !addresses.is_empty() {
            filter["address"] = json!(addresses);
        }
        let ctx = Ctx {
            what: "eth_getLogs",
            kind: Kind::Logs,
            block: Some(to),
            logs_span: Some(to - from + 1),
        };
        let wire: Vec<WireLog> = match &self.inner.logs_http {
            Some(http) => {
                let body = serde_json::to_vec(&json!({
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "eth_getLogs",
                    "params": [filter],
                }))
                .map_err(|e| Stop::Error(SourceError::Decode(e.to_string())))?;
                self.retrying(ctx, || self.logs_once(http, &body)).await?
            }
            None => self.request("eth_getLogs", json!([filter]), ctx).await?,
        };
        let mut logs = Vec::with_capacity(wire.len());
        for log in wire {
            let log = log.into_raw().map_err(Stop::Error)?;
            if log.block_number < from || log.block_number > to {
                return Err(Stop::Error(SourceError::Decode(format!(
                    "eth_getLogs for blocks {from}..={to} returned a log of block {}",
                    log.block_number
                ))));
            }
            logs.push(log);
        }
        Ok(logs)
    }

    /// One `eth_getLogs` request (`body`, a JSON-RPC request), its answer read straight from
    /// the response body. Going through the RPC client would copy every answer twice more (the
    /// whole `result` as raw JSON, then the logs out of it): megabytes per answer in a
    /// backfill. Failures are sorted as the client's are.
    async fn logs_once(&self, http: &LogsHttp, body: &[u8]) -> Result<Vec<WireLog>, Failure> {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            result: Option<Vec<WireLog>>,
            #[serde(default)]
            error: Option<ErrorPayload>,
        }
        use http_body_util::BodyExt;
        let mut request = hyper::Request::post(http.uri.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(authorization) = &http.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization.clone());
        }
        let request = request
            .body(http_body_util::Full::new(
                hyper::body::Bytes::copy_from_slice(body),
            ))
            .map_err(|e| Failure::Fatal(SourceError::Transport(e.to_string())))?;
        let response = http
            .client
            .request(request)
            .await
            .map_err(|e| classify(TransportErrorKind::custom(e), Kind::Logs))?;
        let status = response.status();
        let transport = |e: hyper::Error| classify(TransportErrorKind::custom(e), Kind::Logs);
        let mut bytes = self.body_buffer();
        let announced = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let limit = self.inner.config.max_logs_body.max(1);
        let too_long = |len: usize| Failure::Range {
            code: 0,
            message: format!("an answer of {len} bytes or more, over the limit of {limit}"),
            hint: RangeHint::default(),
        };
        if let Some(len) = announced {
            if len > limit {
                return Err(too_long(len));
            }
            bytes.reserve(len.min(KEPT_BODY_MAX));
        }
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        let len = bytes.len().saturating_add(data.len());
                        if len > limit {
                            // Dropping the body closes the connection: the rest is not read.
                            return Err(too_long(len));
                        }
                        bytes.extend_from_slice(data);
                    }
                }
                Err(e) if !status.is_success() => {
                    let body = format!("<failed to read response body: {e}>");
                    return Err(classify(
                        TransportErrorKind::http_error(status.as_u16(), body),
                        Kind::Logs,
                    ));
                }
                Err(e) => return Err(transport(e)),
            }
        }
        let bytes = BodyBuffer {
            bytes,
            pool: &self.inner.bodies,
            keep: self.inner.config.concurrency.max(1),
        };
        let answer = serde_json::from_slice::<Answer>(&bytes.bytes);
        if !status.is_success() {
            // An error status that carries a JSON-RPC error is read as that error.
            return Err(match answer {
                Ok(Answer {
                    error: Some(error), ..
                }) => classify_payload(&error, Kind::Logs),
                _ => classify(
                    TransportErrorKind::http_error(
                        status.as_u16(),
                        String::from_utf8_lossy(&bytes.bytes).into_owned(),
                    ),
                    Kind::Logs,
                ),
            });
        }
        match answer {
            Ok(Answer {
                error: Some(error), ..
            }) => Err(classify_payload(&error, Kind::Logs)),
            Ok(Answer {
                result: Some(logs), ..
            }) => Ok(logs),
            Ok(_) => Err(classify(RpcError::NullResp, Kind::Logs)),
            Err(e) => Err(classify(
                RpcError::deser_err(e, String::from_utf8_lossy(&bytes.bytes)),
                Kind::Logs,
            )),
        }
    }

    /// An empty buffer for an `eth_getLogs` answer: one kept from an earlier answer when there
    /// is one.
    fn body_buffer(&self) -> Vec<u8> {
        self.inner
            .bodies
            .lock()
            .ok()
            .and_then(|mut kept| kept.pop())
            .unwrap_or_default()
    }

    /// One JSON-RPC request, retried.
    async fn request<R: RpcRecv>(
        &self,
        method: &'static str,
        params: serde_json::Value,
        ctx: Ctx,
    ) -> Result<R, Stop> {
        self.retrying(ctx, || {
            let call = self.inner.client.request::<_, R>(method, params.clone());
            async move { call.await.map_err(|e| classify(e, ctx.kind)) }
        })
        .await
    }

    /// `eth_getBlockByNumber` for `from..=to` in one batch, retried.
    async fn request_batch_headers(
        &self,
        from: u64,
        to: u64,
        ctx: Ctx,
    ) -> Result<Vec<Option<WireHeader>>, Stop> {
        self.retrying(ctx, || self.batch_once(from, to)).await
    }

    async fn batch_once(&self, from: u64, to: u64) -> Result<Vec<Option<WireHeader>>, Failure> {
        let client = &self.inner.client;
        let mut packet = RequestPacket::with_capacity((to - from + 1) as usize);
        let mut ids: Vec<Id> = Vec::new();
        for n in from..=to {
            let request = client
                .make_request("eth_getBlockByNumber", (U64::from(n), false))
                .serialize()
                .map_err(|e| Failure::Fatal(SourceError::Decode(e.to_string())))?;
            ids.push(request.id().clone());
            packet.push(request);
        }
        let mut transport = client.transport().clone();
        poll_fn(|cx| transport.poll_ready(cx))
            .await
            .map_err(|e| classify(e, Kind::Batch))?;
        let response = transport
            .call(packet)
            .await
            .map_err(|e| classify(e, Kind::Batch))?;
        let mut answers = match response {
            ResponsePacket::Batch(answers) => answers,
            // One answer to a whole batch: an error about the batch itself.
            ResponsePacket::Single(single) => {
                return Err(match single.payload {
                    ResponsePayload::Failure(e) => classify_payload(&e, Kind::Batch),
                    ResponsePayload::Success(_) => Failure::Transient(
                        "a batch request got a single, successful answer".to_owned(),
                    ),
                });
            }
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(pos) = answers.iter().position(|a| a.id == id) else {
                return Err(Failure::Transient(format!(
                    "the batch answer lacks request {id}"
                )));
            };
            match answers.swap_remove(pos).payload {
                ResponsePayload::Success(raw) => {
                    let header: Option<WireHeader> = serde_json::from_str(raw.get())
                        .map_err(|e| Failure::Fatal(SourceError::Decode(e.to_string())))?;
                    out.push(header);
                }
                ResponsePayload::Failure(e) => return Err(classify_payload(&e, Kind::Batch)),
            }
        }
        Ok(out)
    }

    /// Runs `attempt` until it succeeds, retrying transient failures with backoff.
    async fn retrying<T, F, Fut>(&self, ctx: Ctx, mut attempt: F) -> Result<T, Stop>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let timeout = self.inner.config.request_timeout;
        let max_attempts = self.inner.config.retry.max_attempts.map(|m| m.max(1));
        let mut attempts = 0u32;
        let mut timeouts_in_row = 0u32;
        loop {
            attempts += 1;
            self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = tokio::time::timeout(timeout, attempt())
                .await
                .unwrap_or(Err(Failure::Timeout));
            let failure = match outcome {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            if !matches!(failure, Failure::Timeout) {
                timeouts_in_row = 0;
            }
            let last = match failure {
                Failure::Transient(message) => message,
                Failure::Timeout => {
                    timeouts_in_row += 1;
                    if let Some(span) = ctx.logs_span
                        && span > 1
                        && timeouts_in_row >= LOGS_TIMEOUTS_BEFORE_SPLIT
                    {
                        return Err(Stop::Range {
                            code: 0,
                            message: format!(
                                "no answer within {timeout:?}, {timeouts_in_row} times in a row"
                            ),
                            hint: RangeHint::default(),
                        });
                    }
                    format!("{}: no answer within {timeout:?}", ctx.what)
                }
                Failure::BlockAhead { code, message } => match ctx.block {
                    Some(block) if !self.at_or_below_head(block).await => {
                        return Err(Stop::BeyondHead { code, message });
                    }
                    _ => format!("({code}) {message}"),
                },
                Failure::Range {
                    code,
                    message,
                    hint,
                } => {
                    return Err(Stop::Range {
                        code,
                        message,
                        hint,
                    });
                }
                Failure::BatchTooLarge(message) => return Err(Stop::BatchTooLarge(message)),
                Failure::Fatal(error) => return Err(Stop::Error(error)),
            };
            if max_attempts.is_some_and(|max| attempts >= max) {
                return Err(Stop::Error(SourceError::Exhausted { attempts, last }));
            }
            self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            let pause = self.jittered(attempts);
            tracing::debug!(what = ctx.what, attempts, ?pause, error = %last, "retrying");
            tokio::time::sleep(pause).await;
        }
    }

    /// Whether `block` is at or below the head, asking the node once if the known head is
    /// lower. When the node cannot be asked, assume so (the caller retries).
    async fn at_or_below_head(&self, block: u64) -> bool {
        if block <= self.inner.known_head.load(Ordering::Relaxed) {
            return true;
        }
        let call = self
            .inner
            .client
            .request::<_, U64>("eth_blockNumber", json!([]));
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(self.inner.config.request_timeout, call).await {
            Ok(Ok(head)) => {
                let head = head.to();
                self.inner.known_head.store(head, Ordering::Relaxed);
                block <= head
            }
            _ => true,
        }
    }

    /// The backoff after `failures` failures, with jitter: uniform in [½, 1] of it.
    fn jittered(&self, failures: u32) -> Duration {
        let base = self.inner.config.retry.backoff(failures);
        let r = splitmix64(
            self.inner
                .rng
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed),
        );
        let fraction = 0.5 + (r >> 11) as f64 / (1u64 << 53) as f64 / 2.0;
        base.mul_f64(fraction)
    }
}

fn check_header_number(header: Option<&BlockHeader>, expected: u64) -> Result<(), SourceError> {
    match header {
        Some(h) if h.number != expected => Err(SourceError::Decode(format!(
            "asked for block {expected}, got block {}",
            h.number
        ))),
        _ => Ok(()),
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A spawned chunk fetch, aborted when dropped.
struct AbortOnDrop(JoinHandle<Result<LogChunk, SourceError>>);

impl Future for AbortOnDrop {
    type Output = Result<LogChunk, SourceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(SourceError::Transport(format!(
                "the log fetch task was cancelled: {e}"
            ))),
        })
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
