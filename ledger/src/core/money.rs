//! Currencies, exact amounts and debit/credit direction.
//!
//! Amounts are held as an integer count of minor units at their currency's scale, so arithmetic
//! is exact integer arithmetic; `rust_decimal::Decimal` is the face they show outside. Every
//! amount fits a `Decimal` (at most 96 bits of mantissa), which is checked on every operation.

use std::fmt;
use std::str::FromStr;

use alloy_primitives::U256;
use rust_decimal::Decimal;

use crate::error::{Error, Result};

/// Largest scale a currency or asset may have: 18 (ether-like tokens), leaving room for ten
/// integer digits of headroom inside a `Decimal`'s 28 significant digits.
pub const MAX_SCALE: u32 = 18;

/// Largest magnitude, in minor units, an amount or balance may have: `Decimal`'s mantissa.
const MAX_MINOR: i128 = (1i128 << 96) - 1;

const CODE_MAX_LEN: usize = 24;

/// A currency or asset code: `USD`, `USDC`, `SHARE.OAK1`.
///
/// Two to 24 characters: an uppercase letter first, then uppercase letters, digits, `.`, `_`, or
/// `-`, ending in a letter or digit. This is also what Beancount accepts as a commodity, so exports
/// need no renaming.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CurrencyCode {
    len: u8,
    bytes: [u8; CODE_MAX_LEN],
}

impl CurrencyCode {
    /// Checks and wraps a code.
    pub fn parse(code: &str) -> Result<Self> {
        let b = code.as_bytes();
        let fail = |reason: &str| {
            Err(Error::invalid(
                "currency code",
                format!("{code:?}: {reason}"),
            ))
        };
        if b.len() < 2 || b.len() > CODE_MAX_LEN {
            return fail("must be 2 to 24 characters");
        }
        if !b[0].is_ascii_uppercase() {
            return fail("must start with an uppercase letter");
        }
        let last = b[b.len() - 1];
        if !(last.is_ascii_uppercase() || last.is_ascii_digit()) {
            return fail("must end with an uppercase letter or digit");
        }
        if !b.iter().all(|c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        }) {
            return fail("may hold only A-Z, 0-9, '.', '_' and '-'");
        }
        let mut bytes = [0u8; CODE_MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        Ok(CurrencyCode {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored (checked in `parse`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl FromStr for CurrencyCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// A currency or asset with the scale its amounts are kept at (`USD` at 2, `USDC` at 6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Currency {
    code: CurrencyCode,
    scale: u32,
}

impl Currency {
    /// A currency with its scale; refuses a scale above [`MAX_SCALE`].
    pub fn new(code: CurrencyCode, scale: u32) -> Result<Self> {
        if scale > MAX_SCALE {
            return Err(Error::ScaleTooLarge {
                currency: code,
                scale,
                max: MAX_SCALE,
            });
        }
        Ok(Currency { code, scale })
    }

    /// Parses the code and checks the scale.
    pub fn parse(code: &str, scale: u32) -> Result<Self> {
        Self::new(CurrencyCode::parse(code)?, scale)
    }

    /// The code.
    pub fn code(&self) -> CurrencyCode {
        self.code
    }

    /// Decimal places kept for amounts of this currency.
    pub fn scale(&self) -> u32 {
        self.scale
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.code, self.scale)
    }
}

/// An exact amount of one currency, possibly negative (balances), held at the currency's scale.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Amount {
    minor: i128,
    currency: Currency,
}

impl Amount {
    /// The exact amount `value` of `currency`; refused when `value` has more decimal places than
    /// the currency's scale (never rounded).
    pub fn new(value: Decimal, currency: Currency) -> Result<Self> {
        let scale = currency.scale;
        let normalized = value.normalize();
        if normalized.scale() > scale {
            return Err(Error::ScaleOverflow {
                value: value.to_string(),
                currency: currency.code,
                scale,
            });
        }
        // normalized = m / 10^s with s <= scale, so minor = m * 10^(scale - s), exact if it fits.
        let factor = 10i128.pow(scale - normalized.scale());
        let minor = normalized
            .mantissa()
            .checked_mul(factor)
            .ok_or(Error::AmountOutOfRange {
                currency: currency.code,
            })?;
        Self::from_minor(minor, currency)
    }

    /// Parses decimal text such as `"1250.50"` exactly.
    pub fn parse(text: &str, currency: Currency) -> Result<Self> {
        let value = Decimal::from_str_exact(text.trim())
            .map_err(|e| Error::invalid("amount", format!("{text:?}: {e}")))?;
        Self::new(value, currency)
    }

    /// The amount of `minor` units (`10^-scale` each) of `currency`.
    pub fn from_minor(minor: i128, currency: Currency) -> Result<Self> {
        if minor.unsigned_abs() > MAX_MINOR as u128 {
            return Err(Error::AmountOutOfRange {
                currency: currency.code,
            });
        }
        Ok(Amount { minor, currency })
    }

    /// Zero of `currency`.
    pub fn zero(currency: Currency) -> Self {
        Amount { minor: 0, currency }
    }

    /// Converts an on-chain integer amount of a token with `token_decimals` decimals, exactly.
    ///
    /// Refused with [`Error::InexactConversion`] when digits below the currency's scale would be
    /// dropped, and with [`Error::AmountOutOfRange`] when the value is too large.
    pub fn from_token_units(raw: U256, token_decimals: u8, currency: Currency) -> Result<Self> {
        let scale = currency.scale;
        let decimals = u32::from(token_decimals);
        let out_of_range = || Error::AmountOutOfRange {
            currency: currency.code,
        };
        let minor_u256 = if decimals >= scale {
            let divisor = pow10_u256(decimals - scale).ok_or_else(out_of_range)?;
            let (quotient, remainder) = raw.div_rem(divisor);
            if !remainder.is_zero() {
                return Err(Error::InexactConversion {
                    raw: raw.to_string(),
                    token_decimals,
                    currency: currency.code,
                    scale,
                });
            }
            quotient
        } else {
            let factor = pow10_u256(scale - decimals).ok_or_else(out_of_range)?;
            raw.checked_mul(factor).ok_or_else(out_of_range)?
        };
        let minor = u128::try_from(minor_u256).map_err(|_| out_of_range())?;
        let minor = i128::try_from(minor).map_err(|_| out_of_range())?;
        Self::from_minor(minor, currency)
    }

    /// The on-chain integer for this amount in a token with `token_decimals` decimals; refused
    /// when negative or when the token has fewer decimals than the amount needs.
    pub fn to_token_units(&self, token_decimals: u8) -> Result<U256> {
        let scale = self.currency.scale;
        let decimals = u32::from(token_decimals);
        if self.minor < 0 {
            return Err(Error::invalid(
                "token amount",
                "negative amounts have no token units",
            ));
        }
        let minor = U256::from(self.minor as u128);
        let out_of_range = || Error::AmountOutOfRange {
            currency: self.currency.code,
        };
        if decimals >= scale {
            let factor = pow10_u256(decimals - scale).ok_or_else(out_of_range)?;
            minor.checked_mul(factor).ok_or_else(out_of_range)
        } else {
            let divisor = pow10_u256(scale - decimals).ok_or_else(out_of_range)?;
            let (quotient, remainder) = minor.div_rem(divisor);
            if !remainder.is_zero() {
                return Err(Error::InexactConversion {
                    raw: self.to_string(),
                    token_decimals,
                    currency: self.currency.code,
                    scale,
                });
            }
            Ok(quotient)
        }
    }

    /// The same value at another scale of the same currency code; refused with
    /// [`Error::ScaleOverflow`] when that would drop digits.
    pub fn rescaled(self, to: Currency) -> Result<Amount> {
        if to.code != self.currency.code {
            return Err(Error::CurrencyMismatch {
                key: None,
                account: None,
                expected: to.code,
                found: self.currency.code,
            });
        }
        let (from_scale, to_scale) = (self.currency.scale, to.scale);
        if to_scale >= from_scale {
            let minor = self
                .minor
                .checked_mul(10i128.pow(to_scale - from_scale))
                .ok_or(Error::AmountOutOfRange { currency: to.code })?;
            return Amount::from_minor(minor, to);
        }
        let divisor = 10i128.pow(from_scale - to_scale);
        if self.minor % divisor != 0 {
            return Err(Error::ScaleOverflow {
                value: self.value().to_string(),
                currency: to.code,
                scale: to_scale,
            });
        }
        Amount::from_minor(self.minor / divisor, to)
    }

    /// The value as a `Decimal` with exactly the currency's scale.
    pub fn value(&self) -> Decimal {
        // `from_minor` bounds `minor` to the mantissa range and the scale to MAX_SCALE.
        Decimal::from_i128_with_scale(self.minor, self.currency.scale)
    }

    /// The value in minor units.
    pub fn minor_units(&self) -> i128 {
        self.minor
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// True when zero.
    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// True when strictly positive.
    pub fn is_positive(&self) -> bool {
        self.minor > 0
    }

    /// `self + other`, refused across currencies or out of range.
    pub fn checked_add(self, other: Amount) -> Result<Amount> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(Error::AmountOutOfRange {
                currency: self.currency.code,
            })?;
        Self::from_minor(minor, self.currency)
    }

    /// `self - other`, refused across currencies or out of range.
    pub fn checked_sub(self, other: Amount) -> Result<Amount> {
        self.checked_add(other.negated())
    }

    /// `-self` (always representable: the range is symmetric).
    pub fn negated(self) -> Amount {
        Amount {
            minor: -self.minor,
            currency: self.currency,
        }
    }

    fn same_currency(&self, other: &Amount) -> Result<()> {
        if self.currency != other.currency {
            return Err(Error::CurrencyMismatch {
                key: None,
                account: None,
                expected: self.currency.code,
                found: other.currency.code,
            });
        }
        Ok(())
    }

    /// The canonical text form kept in storage: the decimal value at exactly the currency's
    /// scale, e.g. `"-12.50"`.
    pub fn to_storage_text(&self) -> String {
        self.value().to_string()
    }

    /// Reads the storage form back; the text must carry exactly the currency's scale.
    pub(crate) fn from_storage_text(text: &str, currency: Currency) -> Result<Amount> {
        let value = Decimal::from_str_exact(text)
            .map_err(|e| Error::Corrupt(format!("stored amount {text:?}: {e}")))?;
        if value.scale() != currency.scale {
            return Err(Error::Corrupt(format!(
                "stored amount {text:?} is not at scale {} of {}",
                currency.scale, currency.code
            )));
        }
        Amount::from_minor(value.mantissa(), currency)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value(), self.currency.code)
    }
}

fn pow10_u256(exp: u32) -> Option<U256> {
    let mut acc = U256::from(1u8);
    for _ in 0..exp {
        acc = acc.checked_mul(U256::from(10u8))?;
    }
    Some(acc)
}

/// Which side of an account a posting goes to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Direction {
    /// Left side: increases assets and expenses.
    Debit,
    /// Right side: increases liabilities, equity and income.
    Credit,
}

impl Direction {
    /// `"debit"` or `"credit"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Debit => "debit",
            Direction::Credit => "credit",
        }
    }

    /// The other side.
    pub fn opposite(self) -> Direction {
        match self {
            Direction::Debit => Direction::Credit,
            Direction::Credit => Direction::Debit,
        }
    }

    pub(crate) fn parse_stored(text: &str) -> Result<Direction> {
        match text {
            "debit" => Ok(Direction::Debit),
            "credit" => Ok(Direction::Credit),
            other => Err(Error::Corrupt(format!("direction {other:?}"))),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn usd() -> Currency {
        Currency::parse("USD", 2).unwrap()
    }

    fn usdc() -> Currency {
        Currency::parse("USDC", 6).unwrap()
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn currency_codes_follow_the_commodity_alphabet() {
        for ok in ["USD", "USDC", "SHARE.OAK1", "X-1", "AB", "ETH_2"] {
            assert!(CurrencyCode::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "U",
            "usd",
            "1USD",
            "USD-",
            "US D",
            "ÜSD",
            "ABCDEFGHIJKLMNOPQRSTUVWXY",
        ] {
            assert!(
                matches!(CurrencyCode::parse(bad), Err(Error::InvalidInput { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn scale_is_bounded() {
        assert!(Currency::parse("WEI", 18).is_ok());
        assert!(matches!(
            Currency::parse("WEI", 19),
            Err(Error::ScaleTooLarge { scale: 19, .. })
        ));
    }

    #[test]
    fn amounts_are_exact_at_the_currency_scale() {
        let a = Amount::new(dec("12.5"), usd()).unwrap();
        assert_eq!(a.minor_units(), 1250);
        assert_eq!(a.to_storage_text(), "12.50");
        assert_eq!(a.to_string(), "12.50 USD");
        // Trailing zeros beyond the scale are not precision.
        assert_eq!(
            Amount::new(dec("12.5000"), usd()).unwrap().minor_units(),
            1250
        );
        assert!(matches!(
            Amount::new(dec("1.005"), usd()),
            Err(Error::ScaleOverflow { scale: 2, .. })
        ));
        assert!(matches!(
            Amount::parse("0.1234567", usdc()),
            Err(Error::ScaleOverflow { .. })
        ));
    }

    #[test]
    fn storage_text_round_trips() {
        for text in ["0.00", "-12.50", "792281625142643375935439503.35"] {
            let a = Amount::from_storage_text(text, usd()).unwrap();
            assert_eq!(a.to_storage_text(), text);
        }
        assert!(Amount::from_storage_text("1.5", usd()).is_err());
        assert!(Amount::from_storage_text("abc", usd()).is_err());
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = Amount::from_minor(MAX_MINOR, usd()).unwrap();
        let cent = Amount::from_minor(1, usd()).unwrap();
        assert!(matches!(
            max.checked_add(cent),
            Err(Error::AmountOutOfRange { .. })
        ));
        assert!(Amount::from_minor(MAX_MINOR + 1, usd()).is_err());
        assert_eq!(max.checked_sub(max).unwrap(), Amount::zero(usd()));
        assert!(matches!(
            cent.checked_add(Amount::from_minor(1, usdc()).unwrap()),
            Err(Error::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn token_units_convert_exactly_or_not_at_all() {
        // 1.5 USDC on chain (6 decimals) into a 6-decimal asset and a 2-decimal currency.
        let raw = U256::from(1_500_000u64);
        assert_eq!(
            Amount::from_token_units(raw, 6, usdc())
                .unwrap()
                .to_storage_text(),
            "1.500000"
        );
        assert_eq!(
            Amount::from_token_units(raw, 6, usd())
                .unwrap()
                .to_storage_text(),
            "1.50"
        );
        // 1.500001 has a digit below cents: refused, not rounded.
        assert!(matches!(
            Amount::from_token_units(U256::from(1_500_001u64), 6, usd()),
            Err(Error::InexactConversion { .. })
        ));
        // Fewer token decimals than the scale scales up.
        assert_eq!(
            Amount::from_token_units(U256::from(3u8), 0, usd())
                .unwrap()
                .minor_units(),
            300
        );
        // Too large for the range.
        assert!(matches!(
            Amount::from_token_units(U256::MAX, 18, Currency::parse("WEI", 18).unwrap()),
            Err(Error::AmountOutOfRange { .. })
        ));
        assert!(
            Amount::from_token_units(U256::from(1u8), 0, Currency::parse("WEI", 18).unwrap())
                .is_ok()
        );
    }

    #[test]
    fn token_units_round_trip() {
        let a = Amount::parse("1234.56", usd()).unwrap();
        let raw = a.to_token_units(6).unwrap();
        assert_eq!(raw, U256::from(1_234_560_000u64));
        assert_eq!(Amount::from_token_units(raw, 6, usd()).unwrap(), a);
        assert!(matches!(
            a.to_token_units(1),
            Err(Error::InexactConversion { .. })
        ));
        assert!(a.negated().to_token_units(6).is_err());
    }
}
