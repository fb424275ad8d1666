//! Amounts in a currency other than USD. The books are kept in USD (the settlement stablecoin
//! at par, fiat items as paid), so an amount in another currency is booked only with an
//! explicit conversion: the rate (USD per unit of the currency) and where it comes from. The
//! USD figure is the amount times the rate, rounded to the cent half away from zero; the
//! original amount and the conversion are kept with the record and written in the entry's
//! description, so nothing is mixed silently. A USD amount takes no conversion.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, FieldError};
use crate::types::{Currency, Money};

/// Most decimal places of a rate.
pub const RATE_MAX_PLACES: u32 = 10;
/// Longest source of a rate.
pub const SOURCE_MAX_LEN: usize = 200;

/// How an amount in another currency is turned into USD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// USD per one unit of the amount's currency (a decimal above zero, at most ten places,
    /// e.g. `"1.0850"` for EUR).
    #[schema(example = "1.0850")]
    pub rate: String,
    /// Where the rate comes from (the bank's confirmation, a reference rate and its day).
    pub source: String,
}

/// The record of a converted amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Converted {
    /// The amount as given, in its own currency.
    pub original: Money,
    /// The conversion applied.
    pub conversion: Conversion,
}

impl Converted {
    /// The words the entry's description carries.
    pub fn describe(&self) -> String {
        format!(
            "{} {} at {} USD each ({})",
            self.original.currency,
            self.original.amount,
            self.conversion.rate,
            self.conversion.source
        )
    }
}

/// The USD value of `amount` (at `pointer`) with its `conversion` (at `conversion_pointer`),
/// and the record of the conversion when there is one. Problems are pushed to `errors` (then
/// the value is `None`): an unknown currency, an amount not in its currency's minor units or
/// not above zero, a USD amount with a conversion, another currency's without one, a bad rate
/// or source, and a conversion that rounds to nothing.
pub fn to_usd(
    pointer: &str,
    amount: &Money,
    conversion: Option<&Conversion>,
    conversion_pointer: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(Decimal, Option<Converted>)> {
    let before = errors.len();
    let currency = match Currency::parse(&format!("{pointer}/currency"), &amount.currency) {
        Ok(c) => Some(c),
        Err(Error::Invalid(mut e)) => {
            errors.append(&mut e);
            None
        }
        Err(_) => None,
    };
    let minor =
        currency.and_then(
            |c| match c.minor_units(&format!("{pointer}/amount"), &amount.amount) {
                Ok(v) if v > 0 => Some((c, v)),
                Ok(_) => {
                    errors.push(FieldError::new(
                        format!("{pointer}/amount"),
                        "must be more than zero",
                    ));
                    None
                }
                Err(Error::Invalid(mut e)) => {
                    errors.append(&mut e);
                    None
                }
                Err(_) => None,
            },
        );
    let is_usd = amount.currency == Currency::USD.code();
    match (is_usd, conversion) {
        (true, Some(_)) => errors.push(FieldError::new(
            conversion_pointer,
            "only an amount in another currency than USD is converted",
        )),
        (false, None) if currency.is_some() => errors.push(FieldError::new(
            conversion_pointer,
            format!(
                "required for an amount in {}: the books are in USD, so give the rate and its source",
                amount.currency
            ),
        )),
        _ => {}
    }
    let rate = conversion.filter(|_| !is_usd).and_then(|c| {
        let source = c.source.trim();
        if source.is_empty() || source.chars().count() > SOURCE_MAX_LEN {
            errors.push(FieldError::new(
                format!("{conversion_pointer}/source"),
                format!("must be 1 to {SOURCE_MAX_LEN} characters"),
            ));
        }
        let rate = c
            .rate
            .parse::<Decimal>()
            .ok()
            .filter(|r| c.rate.len() <= 30 && r.scale() <= RATE_MAX_PLACES)
            .filter(|r| r.is_sign_positive() && !r.is_zero() && *r < Decimal::from(1_000_000));
        if rate.is_none() {
            errors.push(FieldError::new(
                format!("{conversion_pointer}/rate"),
                format!(
                    "expected a decimal above zero and below 1000000 with at most {RATE_MAX_PLACES} places"
                ),
            ));
        }
        rate
    });
    if errors.len() > before {
        return None;
    }
    let (c, minor) = minor?;
    let value = Decimal::new(minor, c.scale());
    if is_usd {
        return Some((value, None));
    }
    let rate = rate?;
    let Some(usd) = value.checked_mul(rate) else {
        errors.push(FieldError::new(
            format!("{pointer}/amount"),
            "too large to convert at this rate",
        ));
        return None;
    };
    let usd = usd.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    if usd <= Decimal::ZERO {
        errors.push(FieldError::new(
            format!("{conversion_pointer}/rate"),
            "converts the amount to less than a cent",
        ));
        return None;
    }
    let conversion = conversion?;
    Some((
        usd,
        Some(Converted {
            original: Money {
                amount: value.to_string(),
                currency: c.code().to_owned(),
            },
            conversion: Conversion {
                rate: rate.normalize().to_string(),
                source: conversion.source.trim().to_owned(),
            },
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(amount: &str, currency: &str) -> Money {
        Money {
            amount: amount.to_owned(),
            currency: currency.to_owned(),
        }
    }

    fn conv(rate: &str) -> Conversion {
        Conversion {
            rate: rate.to_owned(),
            source: "ECB reference rate".to_owned(),
        }
    }

    #[test]
    fn usd_is_taken_as_it_is_and_takes_no_conversion() {
        let mut e = Vec::new();
        let (v, c) = to_usd("/amount", &m("12.50", "USD"), None, "/conversion", &mut e).unwrap();
        assert_eq!((v.to_string().as_str(), c), ("12.50", None));
        assert!(
            to_usd(
                "/amount",
                &m("12.50", "USD"),
                Some(&conv("1")),
                "/conversion",
                &mut e
            )
            .is_none()
        );
        assert_eq!(e[0].pointer, "/conversion");
    }

    #[test]
    fn another_currency_converts_at_the_rate_rounded_half_away_from_zero() {
        let mut e = Vec::new();
        // 1,000.05 EUR at 1.085 = 1,085.05425 -> 1,085.05.
        let (v, c) = to_usd(
            "/amount",
            &m("1000.05", "EUR"),
            Some(&conv("1.0850")),
            "/conversion",
            &mut e,
        )
        .unwrap();
        assert_eq!(v.to_string(), "1085.05");
        let c = c.unwrap();
        assert_eq!(c.conversion.rate, "1.085");
        assert_eq!(
            c.describe(),
            "EUR 1000.05 at 1.085 USD each (ECB reference rate)"
        );
        // 150 JPY at 0.0067 = 1.005 -> 1.01 (half away from zero).
        let (v, _) = to_usd(
            "/amount",
            &m("150", "JPY"),
            Some(&conv("0.0067")),
            "/conversion",
            &mut e,
        )
        .unwrap();
        assert_eq!(v.to_string(), "1.01");
        assert!(e.is_empty());
    }

    #[test]
    fn every_bad_part_is_named() {
        let mut e = Vec::new();
        assert!(to_usd("/amount", &m("10.00", "EUR"), None, "/conversion", &mut e).is_none());
        assert_eq!(e[0].pointer, "/conversion");
        let mut e = Vec::new();
        let bad = Conversion {
            rate: "-1".to_owned(),
            source: " ".to_owned(),
        };
        assert!(to_usd("/amount", &m("10.00", "EUR"), Some(&bad), "/c", &mut e).is_none());
        let pointers: Vec<&str> = e.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(pointers, ["/c/source", "/c/rate"]);
        let mut e = Vec::new();
        assert!(
            to_usd(
                "/amount",
                &m("10.001", "EUR"),
                Some(&conv("1")),
                "/c",
                &mut e
            )
            .is_none()
        );
        assert_eq!(e[0].pointer, "/amount/amount");
        let mut e = Vec::new();
        assert!(to_usd("/amount", &m("10", "XYZ"), None, "/c", &mut e).is_none());
        assert_eq!(e[0].pointer, "/amount/currency");
        // An amount the rate would carry past what a decimal holds.
        let mut e = Vec::new();
        let huge = format!("{}.00", "9".repeat(26));
        assert!(
            to_usd(
                "/amount",
                &m(&huge, "EUR"),
                Some(&conv("999999")),
                "/c",
                &mut e
            )
            .is_none()
        );
        assert!(!e.is_empty(), "named, not dropped");
        let mut e = Vec::new();
        assert!(
            to_usd(
                "/amount",
                &m("0.01", "EUR"),
                Some(&conv("0.1")),
                "/c",
                &mut e
            )
            .is_none()
        );
        assert_eq!(e[0].pointer, "/c/rate");
    }
}
