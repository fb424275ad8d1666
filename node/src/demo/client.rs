//! A small JSON client of the PropLedger API: bearer credentials, idempotency keys, multipart
//! uploads, and problem documents turned into errors that quote them.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, Uri};
use serde_json::Value;

/// Largest answer read (the demo reads reports, not exports).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An answer that was not a success: the status and the problem document (or the body's text).
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: {status}: {body}")]
pub struct Refused {
    /// The method.
    pub method: Method,
    /// The path.
    pub path: String,
    /// The status.
    pub status: StatusCode,
    /// The problem document (or `{"text": ...}` when the body was not JSON).
    pub body: Value,
}

impl Refused {
    /// The problem's stable `code`, when it has one.
    pub fn code(&self) -> Option<&str> {
        self.body["code"].as_str()
    }
}

/// The API at one base URL.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    http: propledger_net::http::Client,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish()
    }
}

/// One request being made.
#[derive(Debug)]
pub struct Call<'a> {
    client: &'a ApiClient,
    method: Method,
    path: String,
    token: Option<String>,
    idempotency: Option<String>,
    body: Option<(String, Vec<u8>)>,
}

impl ApiClient {
    /// A client of the API at `base` (`http://127.0.0.1:8080`); `https` uses `tls`.
    pub fn new(base: &str, tls: Arc<rustls::ClientConfig>) -> ApiClient {
        ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            http: propledger_net::http::client(tls),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request.
    pub fn call(&self, method: Method, path: impl Into<String>) -> Call<'_> {
        Call {
            client: self,
            method,
            path: path.into(),
            token: None,
            idempotency: None,
            body: None,
        }
    }

    /// A GET.
    pub fn get(&self, path: impl Into<String>) -> Call<'_> {
        self.call(Method::GET, path)
    }

    /// A POST.
    pub fn post(&self, path: impl Into<String>) -> Call<'_> {
        self.call(Method::POST, path)
    }

    /// A PUT.
    pub fn put(&self, path: impl Into<String>) -> Call<'_> {
        self.call(Method::PUT, path)
    }
}

impl Call<'_> {
    /// With a bearer credential.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// With an `Idempotency-Key`.
    pub fn idempotency(mut self, key: &str) -> Self {
        self.idempotency = Some(key.to_owned());
        self
    }

    /// With a JSON body.
    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(("application/json".to_owned(), body.to_string().into_bytes()));
        self
    }

    /// With a `multipart/form-data` body: text fields, and one file.
    pub fn multipart(mut self, fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> Self {
        let boundary = "propledger-demo-boundary-5c1e";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        let (filename, content_type, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.body = Some((format!("multipart/form-data; boundary={boundary}"), body));
        self
    }

    /// Sends it: the status and the JSON answer (`null` when empty); anything but a 2xx is a
    /// [`Refused`]. A 429 is retried after the wait it names (a few times, at most 30 s each).
    pub async fn send(self) -> anyhow::Result<(StatusCode, Value)> {
        let mut tries = 0;
        loop {
            match self.send_once().await {
                Err(e)
                    if tries < 5
                        && e.downcast_ref::<Refused>().is_some_and(|r| {
                            r.status == StatusCode::TOO_MANY_REQUESTS
                                && r.body["retry_after_s"].as_u64().is_some_and(|s| s <= 30)
                        }) =>
                {
                    tries += 1;
                    let wait = e
                        .downcast_ref::<Refused>()
                        .and_then(|r| r.body["retry_after_s"].as_u64())
                        .unwrap_or(1);
                    tokio::time::sleep(Duration::from_secs(wait.max(1))).await;
                }
                other => return other,
            }
        }
    }

    async fn send_once(&self) -> anyhow::Result<(StatusCode, Value)> {
        let uri: Uri = format!("{}{}", self.client.base, self.path).parse()?;
        let mut req = Request::builder().method(self.method.clone()).uri(uri);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(k) = &self.idempotency {
            req = req.header("idempotency-key", k);
        }
        let body = match &self.body {
            Some((content_type, bytes)) => {
                req = req.header("content-type", content_type);
                Bytes::from(bytes.clone())
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(body))?;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let res = self.client.http.request(req).await?;
            let status = res.status();
            let bytes = Limited::new(res.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
                .to_bytes();
            anyhow::Ok((status, bytes))
        })
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "{} {}: no answer in {REQUEST_TIMEOUT:?}",
                self.method,
                self.path
            )
        })?
        .map_err(|e| anyhow::anyhow!("{} {}: {e}", self.method, self.path))?;
        let (status, bytes) = answer;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| serde_json::json!({"text": String::from_utf8_lossy(&bytes)}))
        };
        if status.is_success() {
            Ok((status, value))
        } else {
            Err(Refused {
                method: self.method.clone(),
                path: self.path.clone(),
                status,
                body: value,
            }
            .into())
        }
    }

    /// Sends it and returns the JSON answer of a 2xx.
    pub async fn ok(self) -> anyhow::Result<Value> {
        Ok(self.send().await?.1)
    }
}
