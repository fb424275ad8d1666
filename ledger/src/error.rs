//! The crate's one error type.
//!
//! Every way a request can be refused is its own variant, so callers (the API, the indexer) can map
//! them to stable problem codes without parsing messages. Errors about an entry name its
//! idempotency key, which also says which entry of a batch was refused.

use crate::core::{AccountId, CurrencyCode, EntryId, EntryStatus, IdempotencyKey};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the ledger can refuse or fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field failed validation (length, alphabet, format); `field` names it.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field that was refused, e.g. `currency code`.
        field: &'static str,
        /// Why, in a few words.
        reason: String,
    },
    /// A currency's scale is larger than the ledger supports.
    #[error("currency {currency}: scale {scale} exceeds the maximum of {max}")]
    ScaleTooLarge {
        /// The currency being defined.
        currency: CurrencyCode,
        /// The requested scale.
        scale: u32,
        /// The largest supported scale.
        max: u32,
    },
    /// An amount has more decimal places than its currency allows.
    #[error("amount {value} has more than {scale} decimal places allowed for {currency}")]
    ScaleOverflow {
        /// The refused value as given.
        value: String,
        /// The currency of the amount.
        currency: CurrencyCode,
        /// The currency's scale.
        scale: u32,
    },
    /// An amount or a sum of amounts is too large to be held exactly.
    #[error("amount out of range for {currency}")]
    AmountOutOfRange {
        /// The currency of the amount.
        currency: CurrencyCode,
    },
    /// An on-chain integer amount cannot be expressed exactly at the currency's scale.
    #[error(
        "token amount {raw} with {token_decimals} decimals is not exact at scale {scale} of {currency}"
    )]
    InexactConversion {
        /// The raw on-chain integer.
        raw: String,
        /// The token's decimals.
        token_decimals: u8,
        /// The target currency.
        currency: CurrencyCode,
        /// The target currency's scale.
        scale: u32,
    },
    /// A currency code is already defined with a different scale.
    #[error("currency {currency} is defined with scale {existing}, not {requested}")]
    CurrencyScaleConflict {
        /// The currency.
        currency: CurrencyCode,
        /// The scale on record.
        existing: u32,
        /// The scale asked for.
        requested: u32,
    },
    /// Two amounts of different currencies were combined, or a posting's currency is not its
    /// account's currency.
    #[error("currency mismatch: expected {expected}, found {found}")]
    CurrencyMismatch {
        /// The entry concerned, if the mismatch is in a posting.
        key: Option<IdempotencyKey>,
        /// The account concerned, if any.
        account: Option<AccountId>,
        /// The currency required.
        expected: CurrencyCode,
        /// The currency given.
        found: CurrencyCode,
    },
    /// An entry has fewer than two postings.
    #[error("entry {key}: needs at least two postings, has {count}")]
    TooFewPostings {
        /// The entry.
        key: IdempotencyKey,
        /// How many postings it has.
        count: usize,
    },
    /// An entry has more postings than the ledger accepts in one entry.
    #[error("entry {key}: {count} postings exceed the limit of {max}")]
    TooManyPostings {
        /// The entry.
        key: IdempotencyKey,
        /// How many postings it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A posting amount is zero or negative; the direction carries the sign.
    #[error("entry {key}: posting amounts must be positive")]
    NonPositiveAmount {
        /// The entry.
        key: IdempotencyKey,
    },
    /// Debits and credits of an entry differ in some currency.
    #[error("entry {key}: unbalanced in {currency}: debits {debits}, credits {credits}")]
    Unbalanced {
        /// The entry.
        key: IdempotencyKey,
        /// The currency that does not balance.
        currency: CurrencyCode,
        /// Sum of debits in that currency.
        debits: String,
        /// Sum of credits in that currency.
        credits: String,
    },
    /// A posting names an account that does not exist.
    #[error("unknown account {account}")]
    UnknownAccount {
        /// The entry, if the account was named by a posting.
        key: Option<IdempotencyKey>,
        /// The missing account.
        account: AccountId,
    },
    /// An account with the same code and dimensions exists with different attributes.
    #[error("account {code} already exists as {existing} with different attributes")]
    AccountConflict {
        /// The account code.
        code: String,
        /// The id of the existing account.
        existing: AccountId,
    },
    /// An entry would take an account with a non-negative limit below zero.
    #[error("entry {key}: account {account} would go negative (available {available})")]
    NegativeBalance {
        /// The entry that was refused.
        key: IdempotencyKey,
        /// The account whose limit would be broken.
        account: AccountId,
        /// The balance that would result, on the account's normal side.
        available: String,
    },
    /// The idempotency key was used before for an entry with different content.
    #[error("idempotency key {key} was already used for a different entry ({existing})")]
    IdempotencyConflict {
        /// The reused key.
        key: IdempotencyKey,
        /// The entry recorded under that key.
        existing: EntryId,
    },
    /// No entry has this id.
    #[error("unknown entry {0}")]
    UnknownEntry(EntryId),
    /// No entry was recorded under this idempotency key.
    #[error("no entry is recorded under key {0}")]
    UnknownKey(IdempotencyKey),
    /// A finality change was asked for an entry that is no longer pending.
    #[error("entry {entry} is {status}, not pending")]
    NotPending {
        /// The entry.
        entry: EntryId,
        /// Its current status.
        status: EntryStatus,
    },
    /// A reversal was asked for an entry that is not posted.
    #[error("entry {entry} is {status}; only posted entries can be reversed")]
    NotPosted {
        /// The entry.
        entry: EntryId,
        /// Its current status.
        status: EntryStatus,
    },
    /// The entry was already reversed by another entry.
    #[error("entry {entry} was already reversed by entry {reversal}")]
    AlreadyReversed {
        /// The original entry.
        entry: EntryId,
        /// The reversing entry on record.
        reversal: EntryId,
    },
    /// An entry claims to reverse another but does not mirror its postings, or is not posted.
    #[error("entry {key}: not a valid reversal of entry {original}: {reason}")]
    InvalidReversal {
        /// The reversing entry.
        key: IdempotencyKey,
        /// The entry it claims to reverse.
        original: EntryId,
        /// What is wrong.
        reason: &'static str,
    },
    /// A batch holds more entries than the limit.
    #[error("batch of {count} entries exceeds the limit of {max}")]
    BatchTooLarge {
        /// Entries in the batch.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A guard of a [`crate::unit::UnitOfWork`] changed no row: the state it expected
    /// (a checkpoint, a version) was moved by another writer, so nothing was applied.
    #[error("guard {index} of the changes matched no row; another writer moved on")]
    GuardFailed {
        /// Position of the guard among the changes' statements.
        index: usize,
    },
    /// A unit of work's hook refused or failed with an error of its caller's own; nothing was
    /// applied.
    #[error("a hook of the unit of work failed")]
    Hook(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A lock file beside a SQLite database could not be opened or locked.
    #[error("lock file {path}: {source}")]
    LockFile {
        /// The lock file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Stored data does not decode (a hand-edited row, or a schema from a newer version).
    #[error("corrupt ledger data: {0}")]
    Corrupt(String),
    /// The database failed or refused a statement for a reason not mapped above.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Writing an export to its output failed.
    #[error("writing the export failed")]
    Export(#[from] std::io::Error),
}

impl Error {
    /// Whether the database refused a statement for a unique key already taken.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Error::Database(sqlx::Error::Database(db))
            if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
