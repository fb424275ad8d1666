//! A real HTTP/1.1 JSON-RPC proxy on 127.0.0.1 that injects provider faults.
//!
//! It parses each request (request line, headers, `Content-Length` body) off a raw TCP
//! connection, decides from the current [`FaultPlan`] what to do, and either answers itself or
//! forwards the body to the upstream node and writes the node's answer back. Keep-alive
//! connections are served request after request.
//!
//! The plan is deterministic: requests are numbered in arrival order; every `fail_every`-th one
//! fails with a fault drawn from `faults` by a generator seeded with `seed`. Independently,
//! `eth_getLogs` requests spanning more than `max_logs_span` blocks get a provider-style range
//! error in the chosen [`RangeStyle`].

use alloy::transports::http::reqwest;
use serde_json::{Value, json};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::{JoinHandle, JoinSet},
};

use super::anvil::TestResult;

/// A failure injected instead of forwarding a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// HTTP 503 with a plain-text body.
    Http503,
    /// The connection is closed without an answer.
    Close,
    /// No answer for [`FaultPlan::delay`] (longer than the client's timeout), then a close.
    Delay,
    /// A JSON-RPC -32603 internal error.
    Internal,
}

impl Fault {
    /// Every kind.
    pub(crate) const ALL: [Fault; 4] = [Self::Http503, Self::Close, Self::Delay, Self::Internal];
}

/// How an `eth_getLogs` over too many blocks is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RangeStyle {
    /// The embedded chain's / geth-style "... Try with this block range [0x.., 0x..]." (-32005).
    TryRange,
    /// Alchemy's "Log response size exceeded ... this block range should work: [0x.., 0x..]".
    Alchemy,
    /// Infura's "query returned more than 10000 results" with `data: {from, to}`.
    InfuraData,
    /// "query returned more than 10000 results", no hint at all.
    ResultsNoHint,
    /// "block range is too wide", no hint.
    TooWide,
    /// "exceed maximum block range: N".
    MaxRange,
    /// "eth_getLogs is limited to a N range" (with a thousands separator).
    LimitedTo,
}

impl RangeStyle {
    /// Every style.
    pub(crate) const ALL: [RangeStyle; 7] = [
        Self::TryRange,
        Self::Alchemy,
        Self::InfuraData,
        Self::ResultsNoHint,
        Self::TooWide,
        Self::MaxRange,
        Self::LimitedTo,
    ];

    /// The error object refusing `from..=to` when at most `max` blocks are allowed.
    fn error(self, from: u64, max: u64) -> Value {
        let fit = from + max - 1;
        match self {
            Self::TryRange => json!({
                "code": -32005,
                "message": format!(
                    "query returned more than 10000 results. Try with this block range [{from:#x}, {fit:#x}]."
                ),
            }),
            Self::Alchemy => json!({
                "code": -32602,
                "message": format!(
                    "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response. Based on your parameters, this block range should work: [{from:#x}, {fit:#x}]"
                ),
            }),
            Self::InfuraData => json!({
                "code": -32005,
                "message": "query returned more than 10000 results",
                "data": { "from": format!("{from:#x}"), "to": format!("{fit:#x}") },
            }),
            Self::ResultsNoHint => json!({
                "code": -32005,
                "message": "query returned more than 10000 results",
            }),
            Self::TooWide => json!({ "code": -32000, "message": "block range is too wide" }),
            Self::MaxRange => json!({
                "code": -32000,
                "message": format!("exceed maximum block range: {max}"),
            }),
            Self::LimitedTo => json!({
                "code": -32000,
                "message": format!("eth_getLogs is limited to a {} range", thousands(max)),
            }),
        }
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What the proxy does to the requests passing through.
#[derive(Clone, Debug)]
pub(crate) struct FaultPlan {
    /// `eth_getLogs` spanning more blocks than this is refused.
    pub(crate) max_logs_span: Option<u64>,
    /// How it is refused.
    pub(crate) range_style: RangeStyle,
    /// Every k-th request (counting all) fails.
    pub(crate) fail_every: Option<u64>,
    /// The kinds of failure to draw from.
    pub(crate) faults: Vec<Fault>,
    /// Seed of the draw.
    pub(crate) seed: u64,
    /// How long a [`Fault::Delay`] holds the request.
    pub(crate) delay: Duration,
    /// Answers to `eth_getLogs` with logs give their first log twice, as a faulty provider
    /// might.
    pub(crate) repeat_a_log: bool,
    /// Answers to `eth_getLogs` give their logs in reverse order.
    pub(crate) reverse_logs: bool,
}

impl Default for FaultPlan {
    /// Forward everything.
    fn default() -> Self {
        Self {
            max_logs_span: None,
            range_style: RangeStyle::TryRange,
            fail_every: None,
            faults: Fault::ALL.to_vec(),
            seed: 1,
            delay: Duration::from_secs(2),
            repeat_a_log: false,
            reverse_logs: false,
        }
    }
}

/// What the proxy did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FaultCounts {
    /// Requests received.
    pub(crate) requests: u64,
    /// Requests forwarded upstream.
    pub(crate) forwarded: u64,
    /// `eth_getLogs` refused for their range.
    pub(crate) range_errors: u64,
    /// HTTP 503 answers.
    pub(crate) http_503: u64,
    /// Connections closed without an answer.
    pub(crate) closed: u64,
    /// Requests held past the client's timeout.
    pub(crate) delayed: u64,
    /// -32603 answers.
    pub(crate) internal: u64,
}

impl FaultCounts {
    /// How many times `fault` was injected.
    pub(crate) fn of(&self, fault: Fault) -> u64 {
        match fault {
            Fault::Http503 => self.http_503,
            Fault::Close => self.closed,
            Fault::Delay => self.delayed,
            Fault::Internal => self.internal,
        }
    }
}

struct State {
    plan: FaultPlan,
    rng: u64,
    counts: FaultCounts,
}

/// What to do with one request.
enum Action {
    Inject(Fault, Duration),
    RangeError(Value),
    Forward,
}

impl State {
    fn decide(&mut self, body: &Value) -> Action {
        self.counts.requests += 1;
        let n = self.counts.requests;
        if let Some(k) = self.plan.fail_every
            && k > 0
            && n.is_multiple_of(k)
            && !self.plan.faults.is_empty()
        {
            self.rng = splitmix64(self.rng);
            let fault = self.plan.faults[(self.rng % self.plan.faults.len() as u64) as usize];
            match fault {
                Fault::Http503 => self.counts.http_503 += 1,
                Fault::Close => self.counts.closed += 1,
                Fault::Delay => self.counts.delayed += 1,
                Fault::Internal => self.counts.internal += 1,
            }
            return Action::Inject(fault, self.plan.delay);
        }
        if let Some(max) = self.plan.max_logs_span
            && let Some((from, to)) = logs_range(body)
            && to >= from
            && to - from + 1 > max
        {
            self.counts.range_errors += 1;
            let error = self.plan.range_style.error(from, max);
            return Action::RangeError(json!({
                "jsonrpc": "2.0",
                "id": body.get("id").cloned().unwrap_or(Value::Null),
                "error": error,
            }));
        }
        self.counts.forwarded += 1;
        Action::Forward
    }
}

/// `fromBlock`/`toBlock` of a single `eth_getLogs` request with numeric bounds.
fn logs_range(body: &Value) -> Option<(u64, u64)> {
    if body.get("method")?.as_str()? != "eth_getLogs" {
        return None;
    }
    let filter = body.get("params")?.get(0)?;
    let number = |key: &str| {
        let s = filter.get(key)?.as_str()?;
        u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
    };
    Some((number("fromBlock")?, number("toBlock")?))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A running proxy; stops (with every connection) on drop.
pub(crate) struct FaultProxy {
    /// The proxy's endpoint.
    pub(crate) url: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` that forwards everything until a plan is set.
    pub(crate) async fn start(upstream: &str) -> TestResult<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State {
            plan: FaultPlan::default(),
            rng: 1,
            counts: FaultCounts::default(),
        }));
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            state: state.clone(),
        });
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        connections.spawn(serve(stream, shared.clone()));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Self { url, state, task })
    }

    /// Replaces the plan (and reseeds the draw); counters keep counting.
    pub(crate) fn set_plan(&self, plan: FaultPlan) {
        let mut state = self.state.lock().expect("proxy state");
        state.rng = plan.seed;
        state.plan = plan;
    }

    /// What the proxy did so far.
    pub(crate) fn counts(&self) -> FaultCounts {
        self.state.lock().expect("proxy state").counts
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    state: Arc<Mutex<State>>,
}

/// One HTTP request off the wire.
struct Request {
    body: Vec<u8>,
    close: bool,
}

/// Serves one connection until it closes or a fault closes it.
async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::with_capacity(8 * 1024);
    loop {
        let request = match read_request(&mut stream, &mut buf).await {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        let json: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let action = shared.state.lock().expect("proxy state").decide(&json);
        let (status, body) = match action {
            Action::Inject(Fault::Close, _) => return,
            Action::Inject(Fault::Delay, delay) => {
                tokio::time::sleep(delay).await;
                return;
            }
            Action::Inject(Fault::Http503, _) => (503, b"service unavailable".to_vec()),
            Action::Inject(Fault::Internal, _) => (200, internal_error(&json).to_string().into()),
            Action::RangeError(error) => (200, error.to_string().into_bytes()),
            Action::Forward => {
                let (repeat, reverse) = {
                    let plan = &shared.state.lock().expect("proxy state").plan;
                    let logs = logs_range(&json).is_some();
                    (plan.repeat_a_log && logs, plan.reverse_logs && logs)
                };
                match forward(&shared, request.body).await {
                    Ok((status, body)) if repeat || reverse => {
                        (status, rewrite_logs(body, repeat, reverse))
                    }
                    Ok(answer) => answer,
                    Err(e) => (502, format!("upstream failed: {e}").into_bytes()),
                }
            }
        };
        if write_response(&mut stream, status, &body, request.close)
            .await
            .is_err()
            || request.close
        {
            return;
        }
    }
}

/// `body`, an `eth_getLogs` answer, with its first log given twice (`repeat`) and its logs in
/// reverse order (`reverse`); unchanged without logs.
fn rewrite_logs(body: Vec<u8>, repeat: bool, reverse: bool) -> Vec<u8> {
    let Ok(mut answer) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    let Some(logs) = answer.get_mut("result").and_then(Value::as_array_mut) else {
        return body;
    };
    if let (true, Some(first)) = (repeat, logs.first().cloned()) {
        logs.insert(1, first);
    }
    if reverse {
        logs.reverse();
    }
    answer.to_string().into_bytes()
}

/// A -32603 answer to every call of the request (single or batch).
fn internal_error(request: &Value) -> Value {
    let error = |id: &Value| {
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": { "code": -32603, "message": "internal error" },
        })
    };
    match request {
        Value::Array(calls) => Value::Array(
            calls
                .iter()
                .map(|c| error(c.get("id").unwrap_or(&Value::Null)))
                .collect(),
        ),
        single => error(single.get("id").unwrap_or(&Value::Null)),
    }
}

async fn forward(shared: &Shared, body: Vec<u8>) -> Result<(u16, Vec<u8>), reqwest::Error> {
    let response = shared
        .client
        .post(&shared.upstream)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.bytes().await?.to_vec()))
}

/// Reads one request; `None` when the client closed the connection between requests.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Request>> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > 64 * 1024 {
            return Err(invalid("request head too large"));
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(invalid("connection closed inside a request"))
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| invalid("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (method, _target, version) = (parts.next(), parts.next(), parts.next());
    if method != Some("POST") || !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(invalid("not an HTTP/1.x POST"));
    }
    let mut content_length = 0usize;
    let mut close = version == Some("HTTP/1.0");
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => {
                content_length = value.parse().map_err(|_| invalid("bad content-length"))?;
            }
            "connection" => close = value.eq_ignore_ascii_case("close"),
            "transfer-encoding" => return Err(invalid("chunked requests are not supported")),
            _ => {}
        }
    }
    let body_start = head_end + 4;
    while buf.len() < body_start + content_length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(invalid("connection closed inside a body"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[body_start..body_start + content_length].to_vec();
    buf.drain(..body_start + content_length);
    Ok(Some(Request { body, close }))
}

async fn write_response(
    stream: &mut TcpStream,
    status: u16,
    body: &[u8],
    close: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let content_type = if status == 200 {
        "application/json"
    } else {
        "text/plain"
    };
    let connection = if close { "close" } else { "keep-alive" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: {connection}\r\n\r\n",
        body.len()
    );
    // One write: a head and a body in separate segments would wait on delayed ACKs.
    let mut response = head.into_bytes();
    response.extend_from_slice(body);
    stream.write_all(&response).await?;
    stream.flush().await
}
