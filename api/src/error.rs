//! The API's one error type. Resource modules return it; the HTTP layer turns each variant into
//! a problem document (`http::problem`) and logs the causes it does not show.

use std::fmt;

/// The API's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with one field of a request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer to the field (`/address/city`), or the query parameter's name.
    pub pointer: String,
    /// What is wrong with it, in a sentence.
    pub detail: String,
}

impl FieldError {
    /// A field error.
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pointer, self.detail)
    }
}

/// Everything the API refuses or fails at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request's content is invalid; each field says why.
    #[error("invalid request: {}", list(.0))]
    Invalid(Vec<FieldError>),
    /// The request could not be read (malformed JSON, a bad header).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// No such resource (or the caller may not know it exists).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the resource's state (a taken name, an idempotency key
    /// reused with another body).
    #[error("conflict: {detail}")]
    Conflict {
        /// A stable code for the kind of conflict.
        code: &'static str,
        /// A sentence for people.
        detail: String,
    },
    /// An edit based on an older version changed sections that were changed since.
    #[error("conflict: the edit and the changes since its base overlap in {sections:?}")]
    MergeConflict {
        /// The current version.
        current: i64,
        /// The sections (by key) both changed; `title` and `variable:<name>` for those.
        sections: Vec<String>,
    },
    /// `If-Match` named another version than the current one.
    #[error("precondition failed: the resource is at version {current}")]
    PreconditionFailed {
        /// The current version.
        current: i64,
    },
    /// No credential, or one that is not (or no longer) valid.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// The credential is valid but its role may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Too many requests from this caller.
    #[error("rate limited; retry after {retry_after_s} s")]
    RateLimited {
        /// Seconds until a request would be let through.
        retry_after_s: u64,
    },
    /// The body is larger than the route accepts.
    #[error("payload too large: the limit is {limit_bytes} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit_bytes: u64,
    },
    /// The body's media type is not one the route takes.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// A dependency (the database, the chain) does not answer.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The node holds chain actions back: the deployed contracts' code differs from its
    /// deployment record, and an operator has not accepted it yet.
    #[error("chain actions held: {0}")]
    ChainWritesHeld(String),
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// A database error.
    #[error("database")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migrations")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file operation failed.
    #[error("i/o")]
    Io(#[from] std::io::Error),
    /// Data in the database is not what the API wrote (a bug or outside tampering).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A task failed (panicked or was cancelled).
    #[error("internal: {0}")]
    Internal(String),
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// One invalid field.
    pub fn invalid(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(pointer, detail)])
    }

    /// A conflict.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            detail: detail.into(),
        }
    }
}

/// Collects field errors while validating a request, so a client hears about every bad field
/// at once.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// No errors yet.
    pub fn new() -> Self {
        Checks::default()
    }

    /// Records an error.
    pub fn push(&mut self, pointer: impl Into<String>, detail: impl Into<String>) {
        self.0.push(FieldError::new(pointer, detail));
    }

    /// Keeps the value of a check, recording its error.
    pub fn take<T>(&mut self, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(Error::Invalid(errors)) => {
                self.0.extend(errors);
                None
            }
            Err(other) => {
                self.0.push(FieldError::new("", other.to_string()));
                None
            }
        }
    }

    /// `Ok` when nothing was recorded.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}
