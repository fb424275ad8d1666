//! Value types every resource shares: money, times, ids, cursors and pages.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A stored time (Unix milliseconds) as RFC 3339 text, UTC, to the millisecond.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time given as a query parameter or field.
pub fn parse_time(pointer: &str, s: &str) -> Result<i64> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            Error::invalid(
                pointer,
                "expected an RFC 3339 time such as 2026-01-31T12:00:00Z",
            )
        })
}

/// A currency the API accepts, with the number of decimal places its amounts carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    scale: u32,
}

/// ISO 4217 currencies accepted for prices and values, with their minor-unit scale.
const CURRENCIES: &[(&str, u32)] = &[
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("CHF", 2),
    ("NZD", 2),
    ("SGD", 2),
    ("HKD", 2),
    ("SEK", 2),
    ("NOK", 2),
    ("DKK", 2),
    ("MXN", 2),
    ("JPY", 0),
];

impl Currency {
    /// US dollars.
    pub const USD: Currency = Currency {
        code: "USD",
        scale: 2,
    };

    /// A currency by its ISO 4217 code.
    pub fn parse(pointer: &str, code: &str) -> Result<Currency> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|&(code, scale)| Currency { code, scale })
            .ok_or_else(|| {
                Error::invalid(
                    pointer,
                    format!(
                        "unknown currency {code:?}; accepted: {}",
                        CURRENCIES
                            .iter()
                            .map(|(c, _)| *c)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    /// The ISO 4217 code.
    pub fn code(self) -> &'static str {
        self.code
    }

    /// Decimal places.
    pub fn scale(self) -> u32 {
        self.scale
    }

    /// An amount in this currency from its decimal text: at most `scale` decimal places, not
    /// negative, and small enough to count in minor units as a 64-bit integer.
    pub fn minor_units(self, pointer: &str, amount: &str) -> Result<i64> {
        let bad = |why: &str| Error::invalid(pointer, why.to_owned());
        if amount.is_empty() || amount.len() > 40 {
            return Err(bad("expected a decimal amount such as \"1250.00\""));
        }
        let d = Decimal::from_str(amount)
            .map_err(|_| bad("expected a decimal amount such as \"1250.00\""))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(bad("must not be negative"));
        }
        if d.scale() > self.scale {
            return Err(Error::invalid(
                pointer,
                format!(
                    "{} amounts have at most {} decimal places",
                    self.code, self.scale
                ),
            ));
        }
        let minor = d
            .checked_mul(Decimal::from(10i64.pow(self.scale)))
            .and_then(|m| i64::try_from(m.trunc()).ok())
            .ok_or_else(|| bad("amount too large"))?;
        Ok(minor)
    }

    /// The decimal text of an amount in minor units, with exactly `scale` decimals.
    pub fn format(self, minor: i64) -> String {
        let mut d = Decimal::from_i128_with_scale(i128::from(minor), self.scale);
        d.rescale(self.scale);
        d.to_string()
    }
}

/// An amount of money: exact decimal text and its currency. Never a float.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Decimal text with at most the currency's decimal places, e.g. `"450000.00"`.
    #[schema(example = "450000.00")]
    pub amount: String,
    /// ISO 4217 code, e.g. `USD`.
    #[schema(example = "USD")]
    pub currency: String,
}

impl Money {
    /// Money from minor units.
    pub fn from_minor(currency: Currency, minor: i64) -> Money {
        Money {
            amount: currency.format(minor),
            currency: currency.code().to_owned(),
        }
    }
}

/// Declares a typed id: a UUIDv7 shown as text.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new id, ordered by creation time.
            pub fn new() -> Self {
                $name(uuid::Uuid::now_v7())
            }

            /// Parses an id from a path or field; anything else is "not found".
            pub fn parse(s: &str) -> $crate::error::Result<Self> {
                uuid::Uuid::try_parse(s)
                    .map($name)
                    .map_err(|_| $crate::error::Error::NotFound($what))
            }

            /// Reads an id stored by the API.
            pub fn stored(s: &str) -> $crate::error::Result<Self> {
                uuid::Uuid::try_parse(s)
                    .map($name)
                    .map_err(|_| $crate::error::Error::Corrupt(format!("bad {} id {s:?}", $what)))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}
pub(crate) use typed_id;

/// Most items a page may hold.
pub const MAX_PAGE: u32 = 200;
/// Items per page when the request does not say.
pub const DEFAULT_PAGE: u32 = 50;

/// Where a list continues: the last item's sort key, opaque to clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(pub String);

impl Cursor {
    /// Encodes the sort key of the last item returned.
    pub fn after(key: impl fmt::Display) -> Cursor {
        Cursor(URL_SAFE_NO_PAD.encode(format!("v1:{key}")))
    }

    /// Decodes a cursor a client sent back; anything not made by [`Cursor::after`] is refused.
    pub fn decode(s: &str) -> Result<String> {
        let bad = || Error::invalid("cursor", "not a cursor this API issued");
        if s.len() > 256 {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        text.strip_prefix("v1:")
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .ok_or_else(bad)
    }
}

/// Paging parameters of a list request.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    /// Items wanted (1..=[`MAX_PAGE`]).
    pub limit: u32,
    /// The sort key to continue after.
    pub after: Option<String>,
}

impl PageRequest {
    /// Checks `limit` and decodes `cursor`.
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<PageRequest> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let after = cursor.map(Cursor::decode).transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// `limit + 1`, the rows to read to know whether another page follows.
    pub fn probe(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of a list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from `limit + 1` rows read: the extra row only says that more follow.
    pub fn from_probe(mut items: Vec<T>, req: &PageRequest, key: impl Fn(&T) -> String) -> Page<T> {
        let more = items.len() > req.limit as usize;
        items.truncate(req.limit as usize);
        let next_cursor = if more {
            items.last().map(|last| Cursor::after(key(last)).0)
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

/// A partial update of an optional field: absent leaves it, `null` clears it, a value sets it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Patch<T> {
    /// Not in the request.
    #[default]
    Keep,
    /// `null`.
    Clear,
    /// A new value.
    Set(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            Some(v) => Patch::Set(v),
            None => Patch::Clear,
        })
    }
}

impl<T> Patch<T> {
    /// Applies the patch to a current value.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Keep => current,
            Patch::Clear => None,
            Patch::Set(v) => Some(v),
        }
    }
}

/// A 128-bit id as a 32-byte word (in its low 16 bytes), as the contracts name records the API
/// made (a distribution's reference, a budget line).
pub fn id_word(id: uuid::Uuid) -> alloy_primitives::B256 {
    let mut b = [0u8; 32];
    b[16..].copy_from_slice(id.as_bytes());
    alloy_primitives::B256::from(b)
}

/// Today (UTC) as `YYYY-MM-DD`.
pub fn today_text() -> String {
    chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}
