//! Errors as RFC 9457 problem documents.
//!
//! A handler's error becomes an [`ApiError`] response carrying the [`Problem`] in its
//! extensions; the `render` middleware (which knows the request id) writes the body, adds the
//! request id, and logs the cause of server errors, which clients never see. Problem types are
//! stable relative URIs (`/problems/<slug>`) that the node serves as a page describing them.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Error, FieldError};

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document (RFC 9457).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// The problem type: a stable URI reference (`/problems/<slug>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the type.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// The request's id, to quote when asking about it (also in `x-request-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A stable code for the kind of conflict or refusal, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// The fields that are wrong, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The resource's current version, for a failed `If-Match`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
    /// For a merge conflict: the sections both sides changed (by key).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// Seconds to wait before retrying, for rate limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

/// Every problem type the API uses: slug, title and what it means (served at
/// `/problems/<slug>`).
pub const TYPES: &[(&str, &str, &str)] = &[
    (
        "validation",
        "Invalid request",
        "One or more fields or parameters are invalid; `errors` names each with a JSON pointer (body fields) or the parameter's name, and says why. Nothing was changed.",
    ),
    (
        "malformed-request",
        "Malformed request",
        "The request could not be read: the body is not valid JSON or multipart, a header is malformed, or the body ended early. Nothing was changed.",
    ),
    (
        "unauthenticated",
        "Not signed in",
        "The request has no bearer credential, or its credential is unknown, expired or revoked. Send `Authorization: Bearer <token>` with a session token or an API key.",
    ),
    (
        "forbidden",
        "Forbidden",
        "The credential is valid, but its role may not do this. Nothing was changed.",
    ),
    (
        "not-found",
        "Not found",
        "No such resource, or no such route.",
    ),
    (
        "method-not-allowed",
        "Method not allowed",
        "The route exists but not with this HTTP method.",
    ),
    (
        "conflict",
        "Conflict",
        "The request conflicts with the current state (a name in use, an Idempotency-Key reused for another request, a concurrent change); `code` says which. Nothing was changed.",
    ),
    (
        "precondition-failed",
        "Precondition failed",
        "If-Match named a version the resource no longer has; `current_version` gives the one it has. Read it again and retry.",
    ),
    (
        "payload-too-large",
        "Payload too large",
        "The body is larger than the route accepts. Nothing was changed.",
    ),
    (
        "unsupported-media-type",
        "Unsupported media type",
        "The body's Content-Type is not one the route takes (JSON routes take application/json; uploads take multipart/form-data).",
    ),
    (
        "rate-limited",
        "Too many requests",
        "This caller sent too many requests; `retry_after_s` and the Retry-After header say when to try again.",
    ),
    (
        "timeout",
        "Request timed out",
        "The request took longer than the server allows and was abandoned; it may or may not have taken effect (retry with the same Idempotency-Key to be sure).",
    ),
    (
        "unavailable",
        "Service unavailable",
        "A dependency (the database or the chain) does not answer. Retry later.",
    ),
    (
        "code-mismatch",
        "Deployed code differs",
        "The platform contracts on chain, or the ones this node was built with, differ from the code recorded when they were deployed (`code: code_mismatch`; `detail` names each contract). The node serves reads but records no chain action until an operator restarts it with `--accept-deployed-code`. Nothing was changed.",
    ),
    (
        "internal",
        "Internal error",
        "The server failed. Nothing about the cause is shown; the request id identifies it in the server's log.",
    ),
];

/// The title of a problem type.
fn title_of(slug: &str) -> &'static str {
    TYPES
        .iter()
        .find(|(s, ..)| *s == slug)
        .map_or("Error", |(_, t, _)| t)
}

impl Problem {
    /// A problem of a type, with a detail.
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("/problems/{slug}"),
            title: title_of(slug),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: None,
            code: None,
            errors: Vec::new(),
            current_version: None,
            conflicts: Vec::new(),
            retry_after_s: None,
        }
    }

    /// The problem for an error, and whether it is the server's fault (its cause is logged).
    pub fn from_error(e: &Error) -> Problem {
        match e {
            Error::Invalid(errors) => {
                // Body fields are JSON pointers; query parameters and headers are names.
                let body = errors.iter().all(|f| f.pointer.starts_with('/'));
                let status = if body {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::BAD_REQUEST
                };
                let mut p = Problem::new(status, "validation", e.to_string());
                p.errors = errors.clone();
                p
            }
            Error::Malformed(why) => {
                Problem::new(StatusCode::BAD_REQUEST, "malformed-request", why.clone())
            }
            Error::NotFound(what) => Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("no such {what}"),
            ),
            Error::Conflict { code, detail } => {
                let mut p = Problem::new(StatusCode::CONFLICT, "conflict", detail.clone());
                p.code = Some(code);
                p
            }
            Error::MergeConflict { current, sections } => {
                let mut p = Problem::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!(
                        "the edit and the changes made since the version it was based on both \
                         changed {}; read version {current}, redo the edit on it and retry",
                        sections.join(", ")
                    ),
                );
                p.code = Some("merge_conflict");
                p.current_version = Some(*current);
                p.conflicts = sections.clone();
                p
            }
            Error::PreconditionFailed { current } => {
                let mut p = Problem::new(
                    StatusCode::PRECONDITION_FAILED,
                    "precondition-failed",
                    format!("the resource is at version {current}"),
                );
                p.current_version = Some(*current);
                p
            }
            Error::Unauthenticated(why) => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", *why)
            }
            Error::Forbidden(why) => Problem::new(StatusCode::FORBIDDEN, "forbidden", why.clone()),
            Error::RateLimited { retry_after_s } => {
                let mut p = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    format!("too many requests; retry after {retry_after_s} s"),
                );
                p.retry_after_s = Some(*retry_after_s);
                p
            }
            Error::PayloadTooLarge { limit_bytes } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                format!("the body is larger than this route's limit of {limit_bytes} bytes"),
            ),
            Error::UnsupportedMediaType(why) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                why.clone(),
            ),
            Error::Unavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "a dependency of the API does not answer; retry later",
            ),
            Error::ChainWritesHeld(why) => {
                let mut p = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "code-mismatch",
                    why.clone(),
                );
                p.code = Some("code_mismatch");
                p
            }
            Error::Database(sqlx::Error::PoolTimedOut) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is busy; retry later",
            ),
            Error::Config(_)
            | Error::Database(_)
            | Error::Migrate(_)
            | Error::Io(_)
            | Error::Corrupt(_)
            | Error::Internal(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the server failed; quote the request id to its operator",
            ),
        }
    }

    /// The response for this problem (its body as it stands; the `render` middleware adds the
    /// request id).
    pub fn into_response_with(self, cause: Option<Arc<Error>>) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after_s;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"propledger\""),
            );
        }
        if let Some(s) = retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp.extensions_mut().insert(Rendered {
            problem: Arc::new(self),
            cause,
        });
        resp
    }
}

/// A problem response's document and cause, for the `render` middleware.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The document.
    pub problem: Arc<Problem>,
    /// The error behind it (logged for server errors).
    pub cause: Option<Arc<Error>>,
}

/// An error a handler returns.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        Problem::from_error(&self.0).into_response_with(Some(Arc::new(self.0)))
    }
}

/// A handler's result.
pub type ApiResult<T> = std::result::Result<T, ApiError>;
