//! JSON-RPC 2.0 framing, pure: parsing a body into calls (single or batch), positional
//! parameters, error objects with the standard codes, and writing responses.

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// JSON-RPC errors. Codes: -32700 parse error, -32600 invalid request, -32601 method not found,
/// -32602 invalid params, -32603 internal error, -32000..-32099 node errors (geth/anvil
/// wording), 3 execution reverted (with the revert data).
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Error {
    /// The body is not JSON.
    #[error("parse error")]
    Parse,
    /// JSON, but not a valid request object.
    #[error("invalid request")]
    InvalidRequest,
    /// An empty batch.
    #[error("empty batch")]
    EmptyBatch,
    /// A batch with more calls than allowed.
    #[error("batch too large")]
    BatchTooLarge,
    /// No such method.
    #[error("the method {0} does not exist/is not available")]
    MethodNotFound(String),
    /// Wrong parameters (the message says which, as geth's "invalid argument 0: ...").
    #[error("{0}")]
    InvalidParams(String),
    /// A failure inside the node, details logged, not sent.
    #[error("internal error")]
    Internal,
    /// Execution reverted; `data` is the revert output.
    #[error("{message}")]
    Reverted {
        /// "execution reverted" with the decoded reason, if any.
        message: String,
        /// Raw revert data, hex.
        data: String,
    },
    /// A node error with its code (the -32000 family).
    #[error("{message}")]
    Server {
        /// JSON-RPC error code.
        code: i64,
        /// Message.
        message: String,
    },
}

impl Error {
    /// The JSON-RPC error code.
    pub(crate) fn code(&self) -> i64 {
        match self {
            Self::Parse => -32700,
            Self::InvalidRequest | Self::EmptyBatch | Self::BatchTooLarge => -32600,
            Self::MethodNotFound(_) => -32601,
            Self::InvalidParams(_) => -32602,
            Self::Internal => -32603,
            Self::Reverted { .. } => 3,
            Self::Server { code, .. } => *code,
        }
    }

    /// A -32000 node error.
    pub(crate) fn server(message: impl Into<String>) -> Self {
        Self::Server {
            code: -32000,
            message: message.into(),
        }
    }

    /// Writes `{"code":..,"message":..[,"data":..]}`.
    fn write_object(&self, out: &mut String) {
        out.push_str("{\"code\":");
        out.push_str(&self.code().to_string());
        out.push_str(",\"message\":");
        out.push_str(
            &serde_json::to_string(&self.to_string()).unwrap_or_else(|_| "\"\"".to_owned()),
        );
        if let Self::Reverted { data, .. } = self {
            out.push_str(",\"data\":");
            out.push_str(&serde_json::to_string(data).unwrap_or_else(|_| "\"0x\"".to_owned()));
        }
        out.push('}');
    }
}

/// Result alias for method handlers.
pub(crate) type Result<T> = std::result::Result<T, Error>;

/// One call parsed from a body.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    /// The id as sent (number, string or null); `None` for a notification.
    pub(crate) id: Option<&'a RawValue>,
    pub(crate) method: String,
    pub(crate) params: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct Wire<'a> {
    // Present-but-null must stay distinct from absent (a notification).
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(default)]
    method: Option<String>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(default)]
    jsonrpc: Option<String>,
}

/// A call, or the error to answer an unparseable batch element with.
pub(crate) type Parsed<'a> = std::result::Result<Call<'a>, (Option<&'a RawValue>, Error)>;

/// A body: one call or a batch.
#[derive(Debug)]
pub(crate) enum Body<'a> {
    Single(Parsed<'a>),
    Batch(Vec<Parsed<'a>>),
}

fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<&'de RawValue>, D::Error> {
    <&RawValue as serde::Deserialize>::deserialize(d).map(Some)
}

fn parse_call(raw: &RawValue) -> Parsed<'_> {
    let wire: Wire<'_> = match serde_json::from_str(raw.get()) {
        Ok(w) => w,
        Err(_) => return Err((None, Error::InvalidRequest)),
    };
    let id = wire.id.filter(|id| valid_id(id));
    if wire.id.is_some() && id.is_none() {
        return Err((None, Error::InvalidRequest));
    }
    if wire.jsonrpc.as_deref().is_some_and(|v| v != "2.0") {
        return Err((id, Error::InvalidRequest));
    }
    match wire.method {
        Some(method) => Ok(Call {
            id,
            method,
            params: wire.params,
        }),
        None => Err((id, Error::InvalidRequest)),
    }
}

fn valid_id(id: &RawValue) -> bool {
    matches!(
        id.get().as_bytes().first(),
        Some(b'"' | b'-' | b'0'..=b'9' | b'n')
    )
}

/// Parses a body. Fails as a whole only for invalid JSON, an empty batch or a batch longer
/// than `max_batch`.
pub(crate) fn parse_body(body: &str, max_batch: usize) -> Result<Body<'_>> {
    let trimmed = body.trim_start();
    if trimmed.starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(body).map_err(|_| Error::Parse)?;
        if items.is_empty() {
            return Err(Error::EmptyBatch);
        }
        if items.len() > max_batch {
            return Err(Error::BatchTooLarge);
        }
        Ok(Body::Batch(items.into_iter().map(parse_call).collect()))
    } else {
        let raw: &RawValue = serde_json::from_str(body).map_err(|_| Error::Parse)?;
        if !raw.get().starts_with('{') {
            return Err(Error::InvalidRequest);
        }
        Ok(Body::Single(parse_call(raw)))
    }
}

/// Writes a response object.
pub(crate) fn write_response(
    out: &mut String,
    id: Option<&RawValue>,
    result: &std::result::Result<Box<RawValue>, Error>,
) {
    out.push_str("{\"jsonrpc\":\"2.0\",\"id\":");
    out.push_str(id.map_or("null", |i| i.get()));
    match result {
        Ok(v) => {
            out.push_str(",\"result\":");
            out.push_str(v.get());
        }
        Err(e) => {
            out.push_str(",\"error\":");
            e.write_object(out);
        }
    }
    out.push('}');
}

/// A complete error response with a null id.
pub(crate) fn error_response(e: &Error) -> String {
    let mut out = String::new();
    write_response(&mut out, None, &Err(e.clone()));
    out
}

/// Positional parameters.
#[derive(Debug)]
pub(crate) struct Params<'a> {
    items: Vec<&'a RawValue>,
}

impl<'a> Params<'a> {
    /// Parses `params`: absent or null means none; an array is positional; anything else is
    /// refused.
    pub(crate) fn parse(raw: Option<&'a RawValue>) -> Result<Self> {
        let Some(raw) = raw else {
            return Ok(Self { items: Vec::new() });
        };
        if raw.get() == "null" {
            return Ok(Self { items: Vec::new() });
        }
        let items: Vec<&RawValue> = serde_json::from_str(raw.get())
            .map_err(|_| Error::InvalidParams("params must be an array".to_owned()))?;
        Ok(Self { items })
    }

    /// Refuses more than `n` parameters.
    pub(crate) fn at_most(&self, n: usize) -> Result<()> {
        if self.items.len() > n {
            return Err(Error::InvalidParams(format!(
                "too many arguments, want at most {n}"
            )));
        }
        Ok(())
    }

    /// A required parameter.
    pub(crate) fn required<T: DeserializeOwned>(&self, i: usize) -> Result<T> {
        match self.items.get(i) {
            None => Err(Error::InvalidParams(format!(
                "missing value for required argument {i}"
            ))),
            Some(raw) => serde_json::from_str(raw.get())
                .map_err(|e| Error::InvalidParams(format!("invalid argument {i}: {e}"))),
        }
    }

    /// An optional parameter (absent or null gives `None`).
    pub(crate) fn optional<T: DeserializeOwned>(&self, i: usize) -> Result<Option<T>> {
        match self.items.get(i) {
            None => Ok(None),
            Some(raw) if raw.get() == "null" => Ok(None),
            Some(raw) => serde_json::from_str(raw.get())
                .map(Some)
                .map_err(|e| Error::InvalidParams(format!("invalid argument {i}: {e}"))),
        }
    }
}

/// Serializes a result.
pub(crate) fn to_raw<T: serde::Serialize + ?Sized>(v: &T) -> Result<Box<RawValue>> {
    serde_json::value::to_raw_value(v).map_err(|e| {
        tracing::error!(error = %e, "serializing a response failed");
        Error::Internal
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respond(
        id: Option<&RawValue>,
        r: std::result::Result<Box<RawValue>, Error>,
    ) -> serde_json::Value {
        let mut out = String::new();
        write_response(&mut out, id, &r);
        serde_json::from_str(&out).expect("valid json")
    }

    #[test]
    fn single_batch_and_broken_bodies() {
        assert!(matches!(parse_body("nope", 10), Err(Error::Parse)));
        assert!(matches!(parse_body("[]", 10), Err(Error::EmptyBatch)));
        assert!(matches!(
            parse_body("[1,2,3]", 2),
            Err(Error::BatchTooLarge)
        ));
        assert!(matches!(parse_body("42", 2), Err(Error::InvalidRequest)));
        let Ok(Body::Single(Ok(call))) =
            parse_body(r#"{"jsonrpc":"2.0","id":7,"method":"eth_chainId"}"#, 10)
        else {
            panic!("single call");
        };
        assert_eq!(call.method, "eth_chainId");
        assert_eq!(call.id.map(|i| i.get()), Some("7"));
        let Ok(Body::Batch(calls)) = parse_body(
            r#"[{"jsonrpc":"2.0","id":"a","method":"m","params":[1]}, 5, {"id":1}]"#,
            10,
        ) else {
            panic!("batch");
        };
        assert!(calls[0].is_ok());
        assert!(matches!(calls[1], Err((None, Error::InvalidRequest))));
        assert!(matches!(&calls[2], Err((Some(id), Error::InvalidRequest)) if id.get() == "1"));
    }

    #[test]
    fn responses_carry_codes_and_revert_data() {
        let id = RawValue::from_string("3".to_owned()).expect("raw");
        let v = respond(Some(&id), Ok(to_raw("0x1").expect("raw")));
        assert_eq!(v["result"], "0x1");
        assert_eq!(v["id"], 3);
        let v = respond(
            None,
            Err(Error::Reverted {
                message: "execution reverted: no".to_owned(),
                data: "0x08c379a0".to_owned(),
            }),
        );
        assert_eq!(v["error"]["code"], 3);
        assert_eq!(v["error"]["data"], "0x08c379a0");
        assert_eq!(v["id"], serde_json::Value::Null);
        let v = respond(None, Err(Error::MethodNotFound("x_y".to_owned())));
        assert_eq!(v["error"]["code"], -32601);
    }

    #[test]
    fn params_are_positional_with_optional_tail() {
        let raw = RawValue::from_string(r#"["0x1", null]"#.to_owned()).expect("raw");
        let p = Params::parse(Some(&raw)).expect("params");
        assert_eq!(p.required::<String>(0).expect("first"), "0x1");
        assert_eq!(p.optional::<String>(1).expect("second"), None);
        assert_eq!(p.optional::<String>(2).expect("third"), None);
        assert!(p.required::<u64>(0).is_err());
        assert!(p.at_most(1).is_err());
        let obj = RawValue::from_string(r#"{"a":1}"#.to_owned()).expect("raw");
        assert!(Params::parse(Some(&obj)).is_err());
    }
}
