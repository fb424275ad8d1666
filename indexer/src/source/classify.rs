//! Sorting failed requests into what to do next: retry, shrink the `eth_getLogs` range, shrink
//! the batch, or give up; and reading range hints out of provider error messages.

use alloy::{
    rpc::json_rpc::ErrorPayload,
    transports::{RpcError, TransportError, TransportErrorKind, http::reqwest},
};
use serde_json::value::RawValue;

use super::SourceError;

/// What kind of request failed; decides how provider messages are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Any request without special handling.
    Plain,
    /// `eth_getLogs`: range errors shrink the range.
    Logs,
    /// A JSON-RPC batch: "batch too large" shrinks the batch.
    Batch,
}

/// One failed attempt.
#[derive(Debug)]
pub(super) enum Failure {
    /// Worth retrying after a backoff.
    Transient(String),
    /// No answer within the request timeout.
    Timeout,
    /// "header not found" and the like: transient for a block at or below the head.
    BlockAhead {
        /// JSON-RPC error code.
        code: i64,
        /// The provider's message.
        message: String,
    },
    /// The `eth_getLogs` range was too large for the provider.
    Range {
        /// JSON-RPC error code (0 when the client gave up waiting).
        code: i64,
        /// The provider's message.
        message: String,
        /// What the provider suggested, if anything.
        hint: RangeHint,
    },
    /// The batch was too large for the provider.
    BatchTooLarge(String),
    /// Not worth retrying.
    Fatal(SourceError),
}

/// A range suggestion read out of a provider's error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RangeHint {
    /// An explicit block range that should work (`[0x10, 0x1f]`, or Infura's `data.from/to`).
    pub(super) range: Option<(u64, u64)>,
    /// The largest span the provider accepts ("exceed maximum block range: 5000").
    pub(super) max_span: Option<u64>,
}

impl RangeHint {
    /// The span to try next after `attempted` blocks starting at `from` failed: the hint when it
    /// is smaller, otherwise half. Always less than `attempted` (which must be at least 2), and
    /// at least 1.
    pub(super) fn next_span(&self, from: u64, attempted: u64) -> u64 {
        debug_assert!(attempted >= 2);
        let hinted = match (self.range, self.max_span) {
            (Some((a, b)), _) if b >= a && a == from => Some(b - a + 1),
            (Some((a, b)), _) if b >= a => Some(b - a + 1),
            (_, Some(max)) => Some(max),
            _ => None,
        };
        match hinted {
            Some(span) if span >= 1 && span < attempted => span,
            _ => (attempted / 2).max(1),
        }
    }
}

/// Sorts a transport-level failure of a request of kind `kind`.
pub(super) fn classify(err: TransportError, kind: Kind) -> Failure {
    match err {
        RpcError::ErrorResp(payload) => classify_payload(&payload, kind),
        RpcError::Transport(t) => classify_transport(t, kind),
        RpcError::NullResp => Failure::Fatal(SourceError::Decode(
            "the node answered null where a value was expected".to_owned(),
        )),
        RpcError::DeserError { err, text } => Failure::Fatal(SourceError::Decode(format!(
            "{err}: {}",
            truncate(&text, 300)
        ))),
        RpcError::SerError(e) => Failure::Fatal(SourceError::Decode(e.to_string())),
        other => Failure::Fatal(SourceError::Transport(other.to_string())),
    }
}

fn classify_transport(kind_err: TransportErrorKind, kind: Kind) -> Failure {
    if let Some(http) = kind_err.as_http_error() {
        let status = http.status;
        let body = truncate(&http.body, 300);
        return match status {
            408 | 425 | 429 | 500..=599 => Failure::Transient(format!("HTTP {status}: {body}")),
            413 if kind == Kind::Logs => Failure::Range {
                code: 0,
                message: format!("HTTP 413: {body}"),
                hint: RangeHint::default(),
            },
            413 if kind == Kind::Batch => Failure::BatchTooLarge(format!("HTTP 413: {body}")),
            _ => Failure::Fatal(SourceError::Http { status, body }),
        };
    }
    // A custom error shows as itself (its Display), but hides itself from its sources: walk
    // from it.
    let root: &(dyn std::error::Error + 'static) = match kind_err.as_custom() {
        Some(custom) => custom,
        None => &kind_err,
    };
    if kind_err.is_non_retryable() {
        return Failure::Fatal(SourceError::Transport(error_chain(root)));
    }
    let chain = error_chain(root);
    if let Some(tls) = tls_refusal(root) {
        // An untrusted certificate or a refused handshake stays so: no retry will help.
        return Failure::Fatal(SourceError::Tls(tls));
    }
    if kind_err
        .as_custom()
        .and_then(|e| e.downcast_ref::<reqwest::Error>())
        .is_some_and(reqwest::Error::is_builder)
    {
        return Failure::Fatal(SourceError::Transport(chain));
    }
    // Connection refused/reset/closed, EOF, DNS, a dropped backend, a missing batch answer:
    // all worth another try.
    Failure::Transient(chain)
}

/// The error and its sources, joined: reqwest hides the useful part ("connection refused") in
/// the source chain. reqwest quotes the request's URL, credentials and API key included: it is
/// shown masked.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = match e.downcast_ref::<reqwest::Error>() {
            Some(r) => masked(r),
            None => e.to_string(),
        };
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

/// A reqwest error's text with its URL masked.
fn masked(e: &reqwest::Error) -> String {
    let text = e.to_string();
    match e.url() {
        Some(url) => text.replace(url.as_str(), &propledger_net::redact_url(url.as_str())),
        None => text,
    }
}

/// The TLS error in `err`'s sources, if the failure is one: rustls's own error, either as a
/// source or inside an I/O error (which hides what it wraps from the source chain).
fn tls_refusal(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(tls) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls.to_string());
        }
        next = e.source();
    }
    None
}

/// Sorts a JSON-RPC error object.
pub(super) fn classify_payload(payload: &ErrorPayload, kind: Kind) -> Failure {
    let code = payload.code;
    let message = payload.message.to_string();
    let lower = message.to_ascii_lowercase();
    let data = payload.data.as_deref();

    if is_rate_limit(code, &lower) {
        return Failure::Transient(format!("rate limited ({code}): {message}"));
    }
    // Before the range check: geth's "block range extends beyond current head block" and
    // "invalid block range params" (from a replica behind the head) are about the head, not
    // about the size of the range.
    if is_block_ahead(&lower) {
        return Failure::BlockAhead { code, message };
    }
    if kind == Kind::Logs && is_range_error(&lower) {
        let hint = parse_hint(&lower, data);
        return Failure::Range {
            code,
            message,
            hint,
        };
    }
    if kind == Kind::Batch && is_batch_too_large(&lower) {
        return Failure::BatchTooLarge(format!("({code}) {message}"));
    }
    if code == -32603 || is_transient_message(&lower) {
        return Failure::Transient(format!("({code}) {message}"));
    }
    Failure::Fatal(SourceError::Rpc { code, message })
}

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

fn is_rate_limit(code: i64, lower: &str) -> bool {
    code == 429
        || contains_any(
            lower,
            &[
                "rate limit",
                "rate-limit",
                "ratelimit",
                "rate exceeded",
                "request rate",
                "too many requests",
                "exceeded the quota",
                "quota exceeded",
                "compute units",
                "capacity exceeded",
                "throughput",
                "daily request count",
                "request limit",
                "limit reached",
            ],
        )
}

/// Messages providers use when an `eth_getLogs` range is too large (by blocks or by results).
pub(super) fn is_range_error(lower: &str) -> bool {
    (lower.contains("more than") && lower.contains("result"))
        || contains_any(
            lower,
            &[
                "block range",
                "range too large",
                "range is too large",
                "range too wide",
                "range is too wide",
                "range limit",
                "blocks range",
                "exceed maximum block",
                "exceeds max block",
                "max block range",
                "maximum block range",
                "limit exceeded",
                "response size",
                "response is too big",
                "response too big",
                "response too large",
                "too many logs",
                "too many results",
                "query timeout",
                "query returned more than",
                "is limited to",
                "range of",
                "max is",
                "logs matched",
            ],
        )
}

fn is_batch_too_large(lower: &str) -> bool {
    (lower.contains("batch")
        && contains_any(
            lower,
            &[
                "too large",
                "too many",
                "too big",
                "exceed",
                "limit",
                "maximum",
            ],
        ))
        || contains_any(lower, &["response too large", "response is too large"])
}

fn is_block_ahead(lower: &str) -> bool {
    contains_any(
        lower,
        &[
            "header not found",
            "unknown block",
            "block not found",
            "could not find block",
            "beyond current head",
            "after last accepted block",
            "requested block number is greater",
            "invalid block range params",
        ],
    )
}

fn is_transient_message(lower: &str) -> bool {
    contains_any(
        lower,
        &[
            "internal error",
            "timeout",
            "timed out",
            "temporarily",
            "try again",
            "unavailable",
            "overloaded",
            "busy",
            "bad gateway",
            "gateway",
            "upstream",
            "connection reset",
            "connection refused",
            "service unavailable",
            "no healthy",
        ],
    )
}

/// Reads a range suggestion out of a lower-cased message and the error's data.
pub(super) fn parse_hint(lower: &str, data: Option<&RawValue>) -> RangeHint {
    let range = bracket_range(lower).or_else(|| data.and_then(data_range));
    let max_span = if range.is_none() {
        max_span(lower)
    } else {
        None
    };
    RangeHint { range, max_span }
}

/// `[0x10, 0x1f]` (or decimal) in the message.
fn bracket_range(lower: &str) -> Option<(u64, u64)> {
    let mut rest = lower;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let close = after.find(']')?;
        let inner = &after[..close];
        let mut parts = inner.split(',').map(str::trim);
        if let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next())
            && let (Some(a), Some(b)) = (parse_number(a), parse_number(b))
            && a <= b
        {
            return Some((a, b));
        }
        rest = &after[close + 1..];
    }
    None
}

/// Infura's `data: {"from": "0x..", "to": "0x.."}`.
fn data_range(data: &RawValue) -> Option<(u64, u64)> {
    let value: serde_json::Value = serde_json::from_str(data.get()).ok()?;
    let number = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => parse_number(s.trim()),
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    };
    let from = number(value.get("from")?)?;
    let to = number(value.get("to")?)?;
    (from <= to).then_some((from, to))
}

/// A hex (`0x`) or decimal number.
fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The largest block span a message names: "exceed maximum block range: 5000", "max is 1k
/// blocks", "limited to a 10,000 range". Messages about result counts name no span.
fn max_span(lower: &str) -> Option<u64> {
    if lower.contains("result") || lower.contains("response size") || lower.contains("logs") {
        // "more than 10000 results", "cap of 10k logs": a result count, not a span. ("eth_getlogs"
        // itself is not a count, so look past it.)
        let without = lower.replace("eth_getlogs", "");
        if without.contains("result")
            || without.contains("response size")
            || without.contains("logs")
        {
            return None;
        }
    }
    let tokens = number_tokens(lower);
    let after_keyword = tokens.iter().find(|(pos, _)| {
        let before = &lower[pos.saturating_sub(24)..*pos];
        contains_any(
            before,
            &[
                "max", "limit", "up to", "most", "range", "exceed", "allowed",
            ],
        )
    });
    match (after_keyword, tokens.as_slice()) {
        (Some((_, n)), _) => Some(*n),
        (None, [(_, n)]) => Some(*n),
        _ => None,
    }
    .filter(|n| *n > 0)
}

/// Decimal numbers in the text with their byte offsets: `10,000` and `1k`/`2K` count, hex does not.
fn number_tokens(lower: &str) -> Vec<(usize, u64)> {
    let bytes = lower.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if bytes[i].is_ascii_digit() && starts_word {
            let start = i;
            let mut digits = String::new();
            while i < bytes.len()
                && (bytes[i].is_ascii_digit()
                    || (bytes[i] == b','
                        && i + 1 < bytes.len()
                        && bytes[i + 1].is_ascii_digit()
                        && !digits.is_empty()))
            {
                if bytes[i] != b',' {
                    digits.push(bytes[i] as char);
                }
                i += 1;
            }
            if i < bytes.len() && bytes[i] == b'x' {
                // Hex: skip it whole.
                while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                continue;
            }
            let multiplier = match bytes.get(i) {
                Some(b'k') if !bytes.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) => {
                    i += 1;
                    1_000
                }
                Some(b'm') if !bytes.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) => {
                    i += 1;
                    1_000_000
                }
                _ => 1,
            };
            if let Ok(n) = digits.parse::<u64>() {
                out.push((start, n.saturating_mul(multiplier)));
            }
        } else {
            i += 1;
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn payload(code: i64, message: &str, data: Option<&str>) -> ErrorPayload {
        ErrorPayload {
            code,
            message: Cow::Owned(message.to_owned()),
            data: data.map(|d| RawValue::from_string(d.to_owned()).unwrap()),
        }
    }

    fn range_hint(code: i64, message: &str, data: Option<&str>) -> RangeHint {
        match classify_payload(&payload(code, message, data), Kind::Logs) {
            Failure::Range { hint, .. } => hint,
            other => panic!("{message:?} is not a range error: {other:?}"),
        }
    }

    #[test]
    fn range_messages_and_hints() {
        let none = RangeHint::default();
        let span = |n| RangeHint {
            range: None,
            max_span: Some(n),
        };
        let range = |a, b| RangeHint {
            range: Some((a, b)),
            max_span: None,
        };
        let cases: &[(i64, &str, Option<&str>, RangeHint)] = &[
            (-32005, "query returned more than 10000 results", None, none),
            (
                -32005,
                "query returned more than 10000 results",
                Some(r#"{"from":"0x10","to":"0x1f"}"#),
                range(16, 31),
            ),
            (
                -32005,
                "query returned more than 10000 results. Try with this block range [0x10, 0x1f].",
                None,
                range(16, 31),
            ),
            (
                -32602,
                "query exceeds max block range 100000",
                None,
                span(100_000),
            ),
            (
                -32602,
                "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response. Based on your parameters, this block range should work: [0x3e8, 0x7cf]",
                None,
                range(1000, 1999),
            ),
            (-32000, "exceed maximum block range: 5000", None, span(5000)),
            (-32000, "block range is too wide", None, none),
            (-32000, "block range too large", None, none),
            (
                -32000,
                "range too large, max is 1k blocks",
                None,
                span(1000),
            ),
            (-32000, "max is 1k blocks", None, span(1000)),
            (-32005, "limit exceeded", None, none),
            (-32000, "response size exceeded", None, none),
            (-32000, "response is too big", None, none),
            (-32000, "query timeout exceeded", None, none),
            (
                -32000,
                "eth_getLogs is limited to a 10,000 range",
                None,
                span(10_000),
            ),
        ];
        for (code, message, data, expected) in cases {
            assert_eq!(range_hint(*code, message, *data), *expected, "{message:?}");
        }
    }

    #[test]
    fn next_span_always_shrinks() {
        let hint = RangeHint {
            range: Some((10, 19)),
            max_span: None,
        };
        assert_eq!(hint.next_span(10, 100), 10);
        assert_eq!(hint.next_span(10, 5), 2, "a hint not smaller halves");
        let none = RangeHint::default();
        assert_eq!(none.next_span(0, 2), 1);
        assert_eq!(none.next_span(0, 3), 1);
        assert_eq!(none.next_span(0, 2000), 1000);
        let max = RangeHint {
            range: None,
            max_span: Some(5000),
        };
        assert_eq!(max.next_span(0, 10_000), 5000);
        assert_eq!(max.next_span(0, 5000), 2500);
    }

    #[test]
    fn other_errors() {
        let kind =
            |code, message: &str, kind| classify_payload(&payload(code, message, None), kind);
        assert!(matches!(
            kind(-32603, "internal error", Kind::Plain),
            Failure::Transient(_)
        ));
        assert!(matches!(
            kind(
                -32005,
                "daily request count exceeded, request rate limited",
                Kind::Logs
            ),
            Failure::Transient(_)
        ));
        assert!(matches!(
            kind(-32000, "header not found", Kind::Plain),
            Failure::BlockAhead { .. }
        ));
        for message in [
            "block range extends beyond current head block",
            "invalid block range params",
            "unknown block",
        ] {
            assert!(
                matches!(
                    kind(-32000, message, Kind::Logs),
                    Failure::BlockAhead { .. }
                ),
                "{message}"
            );
        }
        assert!(matches!(
            kind(-32007, "daily request limit reached", Kind::Logs),
            Failure::Transient(_)
        ));
        assert!(matches!(
            kind(
                -32601,
                "the method eth_foo does not exist/is not available",
                Kind::Plain
            ),
            Failure::Fatal(SourceError::Rpc { code: -32601, .. })
        ));
        assert!(matches!(
            kind(-32000, "execution reverted", Kind::Plain),
            Failure::Fatal(SourceError::Rpc { .. })
        ));
        assert!(matches!(
            kind(-32600, "batch too large", Kind::Batch),
            Failure::BatchTooLarge(_)
        ));
        // A range message outside eth_getLogs is not a range error.
        assert!(matches!(
            kind(-32000, "block range too large", Kind::Plain),
            Failure::Fatal(_)
        ));
    }

    #[test]
    fn http_statuses() {
        let http = |status| {
            classify(
                TransportErrorKind::http_error(status, "x".into()),
                Kind::Plain,
            )
        };
        assert!(matches!(http(503), Failure::Transient(_)));
        assert!(matches!(http(429), Failure::Transient(_)));
        assert!(matches!(http(502), Failure::Transient(_)));
        assert!(matches!(
            http(401),
            Failure::Fatal(SourceError::Http { status: 401, .. })
        ));
        assert!(matches!(
            classify(
                TransportErrorKind::custom_str("connection closed"),
                Kind::Plain
            ),
            Failure::Transient(_)
        ));
    }
}
