//! What handlers take from a request: its context (id, client, caller), the caller's
//! principal, a JSON body whose errors name the field, query parameters, `Idempotency-Key` and
//! `If-Match`.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::problem::ApiError;
use super::state::App;
use crate::auth::{self, Actor, Principal};
use crate::error::Error;
use crate::idempotency::IdempotencyKey;

/// What the API knows of a request beyond its content, shared by the middleware and the
/// handler: its id, the client's address, and (once known) who is calling.
#[derive(Debug)]
pub struct RequestContext {
    /// The request's id (`x-request-id`).
    pub request_id: String,
    /// The client's address.
    pub client_ip: IpAddr,
    /// The caller, once the handler has identified them (recorded with refused writes too).
    actor: Mutex<Option<Actor>>,
    /// Whether the handler recorded the write in the audit log itself.
    audited: Mutex<bool>,
}

impl RequestContext {
    /// A context for a request.
    pub fn new(request_id: String, client_ip: IpAddr) -> Self {
        RequestContext {
            request_id,
            client_ip,
            actor: Mutex::new(None),
            audited: Mutex::new(false),
        }
    }

    /// Records who is calling.
    pub fn set_actor(&self, actor: Actor) {
        if let Ok(mut a) = self.actor.lock() {
            *a = Some(actor);
        }
    }

    /// Who is calling, if known.
    pub fn actor(&self) -> Option<Actor> {
        self.actor.lock().ok().and_then(|a| a.clone())
    }

    /// Marks the write as recorded in the audit log.
    pub fn mark_audited(&self) {
        if let Ok(mut a) = self.audited.lock() {
            *a = true;
        }
    }

    /// Whether the handler recorded the write itself.
    pub fn audited(&self) -> bool {
        self.audited.lock().map(|a| *a).unwrap_or(false)
    }
}

/// The request's context.
#[derive(Clone, Debug)]
pub struct Ctx(pub Arc<RequestContext>);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<RequestContext>>()
            .cloned()
            .map(Ctx)
            .ok_or_else(|| ApiError(Error::Internal("a request without its context".to_owned())))
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Error::Unauthenticated("the Authorization header is not text"))?;
    let (scheme, token) = value.split_once(' ').ok_or(Error::Unauthenticated(
        "expected Authorization: Bearer <token>",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() || token.len() > 512 {
        return Err(Error::Unauthenticated(
            "expected Authorization: Bearer <token>",
        ));
    }
    Ok(Some(token.trim()))
}

/// The authenticated caller: refuses the request (401) without a valid credential.
#[derive(Clone, Debug)]
pub struct Auth(pub Principal);

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)?.ok_or(Error::Unauthenticated(
            "this route needs Authorization: Bearer <token>",
        ))?;
        let principal = app.authenticate(token).await?;
        if let Some(ctx) = parts.extensions.get::<Arc<RequestContext>>() {
            ctx.set_actor(principal.actor());
        }
        Ok(Auth(principal))
    }
}

impl Auth {
    /// Refuses the call unless the caller's role is allowed.
    pub fn require(&self, allowed: auth::Allowed) -> Result<&Principal, ApiError> {
        self.0.require(allowed)?;
        Ok(&self.0)
    }
}

/// A JSON body, read up to the route's limit; errors name the field (`/address/city`).
#[derive(Debug)]
pub struct Json<T> {
    /// The value.
    pub value: T,
    /// The body as sent (for idempotency fingerprints).
    pub raw: Bytes,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json")
                    || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError(Error::UnsupportedMediaType(
                "send the body as Content-Type: application/json".to_owned(),
            )));
        }
        let raw = Bytes::from_request(req, state).await.map_err(|rejection| {
            use axum::extract::rejection::BytesRejection;
            match rejection {
                BytesRejection::FailedToBufferBody(e) if e.body_text().contains("length limit") => {
                    ApiError(Error::PayloadTooLarge {
                        limit_bytes: super::MAX_JSON_BODY_BYTES as u64,
                    })
                }
                other => ApiError(Error::Malformed(format!(
                    "reading the body: {}",
                    other.body_text()
                ))),
            }
        })?;
        let value = parse_json(&raw)?;
        Ok(Json { value, raw })
    }
}

/// Parses a JSON body, naming the field of a type error.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(raw);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let pointer = pointer_of(e.path());
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            Error::Malformed(format!(
                "the body is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ))
        } else {
            Error::invalid(pointer, data_error(&inner))
        }
    })
}

/// A serde path as a JSON pointer.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => {}
        }
    }
    if out.is_empty() { "/".to_owned() } else { out }
}

/// serde_json's message for a data error, without its position suffix.
fn data_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Query parameters; an unreadable query string is a 400 naming the parameter.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let name = e.path().to_string();
                ApiError(Error::invalid(
                    if name == "." {
                        "query".to_owned()
                    } else {
                        name
                    },
                    e.into_inner().to_string(),
                ))
            })
    }
}

/// The `Idempotency-Key` header, if sent.
#[derive(Clone, Debug)]
pub struct Idem(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for Idem {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get("idempotency-key") {
            None => Ok(Idem(None)),
            Some(v) => {
                let s = v
                    .to_str()
                    .map_err(|_| Error::invalid("Idempotency-Key", "must be visible ASCII"))?;
                Ok(Idem(Some(IdempotencyKey::parse(s)?)))
            }
        }
    }
}

/// The `If-Match` header as a version (`"3"` or `W/"3"`), if sent.
#[derive(Clone, Copy, Debug)]
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let bad = || ApiError(Error::invalid("If-Match", "expected an ETag such as \"3\""));
        let s = v.to_str().map_err(|_| bad())?.trim();
        let s = s.strip_prefix("W/").unwrap_or(s);
        let s = s
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .ok_or_else(bad)?;
        s.parse().map(|v| IfMatch(Some(v))).map_err(|_| bad())
    }
}
