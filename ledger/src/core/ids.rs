//! Typed ids and validated names: idempotency keys, sources, account codes and dimension values.

use std::fmt;
use std::str::FromStr;

use alloy_primitives::B256;

use crate::error::{Error, Result};

macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a raw id as stored.
            pub fn new(raw: i64) -> Self {
                $name(raw)
            }

            /// The raw id.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

entity_id!(
    /// Id of an account, assigned by the store.
    AccountId
);
entity_id!(
    /// Id of an entry, assigned by the store in recording order.
    EntryId
);

/// Longest idempotency key, in bytes.
pub const KEY_MAX_LEN: usize = 128;

/// A caller-supplied idempotency key: 1 to 128 printable ASCII characters without spaces.
///
/// Recording the same key twice with the same content returns the first entry; with different
/// content it is refused.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks and wraps a key.
    pub fn parse(key: &str) -> Result<Self> {
        if key.is_empty() || key.len() > KEY_MAX_LEN {
            return Err(Error::invalid(
                "idempotency key",
                "must be 1 to 128 characters",
            ));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "idempotency key",
                "may hold only printable ASCII without spaces",
            ));
        }
        Ok(IdempotencyKey(key.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl FromStr for IdempotencyKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Longest operator reference, in bytes.
pub const OPERATOR_REF_MAX_LEN: usize = 128;

/// Where an entry comes from.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Source {
    /// A chain event: `chain:<chain_id>:<tx_hash>:<log_index>`.
    Chain {
        /// EIP-155 chain id.
        chain_id: u64,
        /// Transaction hash.
        tx_hash: B256,
        /// Index of the log in its block.
        log_index: u64,
    },
    /// An operator reference (an invoice number, a closing statement): `operator:<ref>`.
    Operator(String),
}

impl Source {
    /// An operator reference: 1 to 128 printable ASCII characters without spaces.
    pub fn operator(reference: &str) -> Result<Self> {
        if reference.is_empty()
            || reference.len() > OPERATOR_REF_MAX_LEN
            || !reference.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::invalid(
                "operator reference",
                "must be 1 to 128 printable ASCII characters without spaces",
            ));
        }
        Ok(Source::Operator(reference.to_owned()))
    }

    /// A chain event.
    pub fn chain(chain_id: u64, tx_hash: B256, log_index: u64) -> Self {
        Source::Chain {
            chain_id,
            tx_hash,
            log_index,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Chain {
                chain_id,
                tx_hash,
                log_index,
            } => write!(f, "chain:{chain_id}:{tx_hash}:{log_index}"),
            Source::Operator(r) => write!(f, "operator:{r}"),
        }
    }
}

impl FromStr for Source {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "source",
                format!("{s:?}: expected chain:<chain_id>:<tx_hash>:<log_index> or operator:<ref>"),
            )
        };
        if let Some(reference) = s.strip_prefix("operator:") {
            return Source::operator(reference);
        }
        let rest = s.strip_prefix("chain:").ok_or_else(bad)?;
        let mut parts = rest.split(':');
        let (Some(chain_id), Some(tx_hash), Some(log_index), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(chain_id)
            || !digits(log_index)
            || tx_hash.len() != 66
            || !tx_hash.starts_with("0x")
            || !tx_hash[2..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(bad());
        }
        Ok(Source::Chain {
            chain_id: chain_id.parse().map_err(|_| bad())?,
            tx_hash: tx_hash.parse().map_err(|_| bad())?,
            log_index: log_index.parse().map_err(|_| bad())?,
        })
    }
}

/// Longest account code or dimension value, in bytes.
pub const NAME_PART_MAX_LEN: usize = 64;

fn check_name_part(field: &'static str, text: &str) -> Result<()> {
    if text.is_empty() || text.len() > NAME_PART_MAX_LEN {
        return Err(Error::invalid(
            field,
            format!("{text:?}: must be 1 to 64 characters"),
        ));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(Error::invalid(
            field,
            format!("{text:?}: may hold only letters, digits, '.', '_' and '-'"),
        ));
    }
    Ok(())
}

/// A code from a chart of accounts, such as `1000` or `3100`: 1 to 64 of `A-Za-z0-9._-`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct AccountCode(String);

impl AccountCode {
    /// Checks and wraps a code.
    pub fn parse(code: &str) -> Result<Self> {
        check_name_part("account code", code)?;
        Ok(AccountCode(code.to_owned()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A dimension value: a property, deal, investor or budget-line id (1 to 64 of `A-Za-z0-9._-`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct DimValue(String);

impl DimValue {
    /// Checks and wraps a value.
    pub fn parse(value: &str) -> Result<Self> {
        check_name_part("dimension value", value)?;
        Ok(DimValue(value.to_owned()))
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DimValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_and_bounded() {
        assert!(IdempotencyKey::parse("chain:1:0xab:3/entry").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(KEY_MAX_LEN)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(KEY_MAX_LEN + 1)).is_err());
    }

    #[test]
    fn sources_round_trip_through_text() {
        let chain = Source::chain(31337, B256::repeat_byte(0xab), 7);
        let text = chain.to_string();
        assert_eq!(text, format!("chain:31337:0x{}:7", "ab".repeat(32)));
        assert_eq!(text.parse::<Source>().unwrap(), chain);
        let op = Source::operator("INV-2024-001").unwrap();
        assert_eq!(op.to_string(), "operator:INV-2024-001");
        assert_eq!("operator:INV-2024-001".parse::<Source>().unwrap(), op);
        for bad in [
            "chain:1:0xab:1",
            "chain:x:0x0000000000000000000000000000000000000000000000000000000000000000:1",
            "chain:1:0x0000000000000000000000000000000000000000000000000000000000000000",
            "chain:1:0x00000000000000000000000000000000000000000000000000000000000000AB:1",
            "operator:",
            "operator:has space",
            "other:1",
        ] {
            assert!(bad.parse::<Source>().is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_and_dimensions_use_a_safe_alphabet() {
        assert!(AccountCode::parse("1000").is_ok());
        assert!(AccountCode::parse("1000 cash").is_err());
        assert!(DimValue::parse("oak-street_12.a").is_ok());
        assert!(DimValue::parse("").is_err());
        assert!(DimValue::parse("a/b").is_err());
    }
}
