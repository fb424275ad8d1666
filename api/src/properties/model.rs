//! A property's fields, their rules, and the shapes the API reads and writes.

use std::str::FromStr;

use chrono::{Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::geo::Location;
use crate::error::{Checks, Error, Result};
use crate::types::{Currency, Money, Patch, typed_id};

typed_id!(
    /// A property's id.
    PropertyId,
    "property"
);

/// Most bytes of a property's market data, as JSON.
pub const MAX_MARKET_DATA_BYTES: usize = 16 * 1024;

/// What kind of building.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    /// A detached house.
    SingleFamily,
    /// Two or more units.
    MultiFamily,
    /// A condominium unit.
    Condo,
    /// A townhouse.
    Townhouse,
    /// A manufactured home.
    Manufactured,
    /// Commercial premises.
    Commercial,
    /// Residential and commercial together.
    MixedUse,
    /// A plot without a building.
    Land,
}

/// Where a property stands in the platform's life of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropertyStatus {
    /// Being looked at.
    Prospect,
    /// An offer was accepted; not yet closed.
    UnderContract,
    /// Owned by the platform's entity.
    Owned,
    /// Being renovated.
    Rehab,
    /// Let to tenants.
    Rented,
    /// Offered for sale.
    Listed,
    /// Sold.
    Sold,
    /// No longer followed.
    Archived,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            /// As stored and shown.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),* }
            }
        }
        impl FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<$ty> {
                match s {
                    $($text => Ok($ty::$variant),)*
                    _ => Err(Error::invalid(
                        stringify!($ty),
                        format!("expected one of {}", [$($text),*].join(", ")),
                    )),
                }
            }
        }
    };
}

text_enum!(PropertyType {
    SingleFamily => "single_family",
    MultiFamily => "multi_family",
    Condo => "condo",
    Townhouse => "townhouse",
    Manufactured => "manufactured",
    Commercial => "commercial",
    MixedUse => "mixed_use",
    Land => "land",
});

text_enum!(PropertyStatus {
    Prospect => "prospect",
    UnderContract => "under_contract",
    Owned => "owned",
    Rehab => "rehab",
    Rented => "rented",
    Listed => "listed",
    Sold => "sold",
    Archived => "archived",
});

/// A postal address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street and number.
    #[schema(example = "1420 W Wrightwood Ave")]
    pub line1: String,
    /// Unit, floor, building.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// City.
    #[schema(example = "Chicago")]
    pub city: String,
    /// State, province or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "IL")]
    pub region: Option<String>,
    /// Postal code.
    #[schema(example = "60614")]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    #[schema(example = "US")]
    pub country: String,
}

fn check_text(checks: &mut Checks, pointer: &str, s: &str, max: usize) {
    if s.trim().is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        checks.push(pointer, format!("1 to {max} printable characters"));
    }
}

impl Address {
    fn check(&self, checks: &mut Checks, pointer: &str) {
        check_text(checks, &format!("{pointer}/line1"), &self.line1, 200);
        if let Some(l2) = &self.line2 {
            check_text(checks, &format!("{pointer}/line2"), l2, 200);
        }
        check_text(checks, &format!("{pointer}/city"), &self.city, 100);
        if let Some(r) = &self.region {
            check_text(checks, &format!("{pointer}/region"), r, 100);
        }
        let pc = &self.postal_code;
        if pc.trim().is_empty()
            || pc.len() > 16
            || !pc
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
        {
            checks.push(
                format!("{pointer}/postal_code"),
                "1 to 16 letters, digits, spaces or '-'",
            );
        }
        if self.country.len() != 2 || !self.country.bytes().all(|b| b.is_ascii_uppercase()) {
            checks.push(
                format!("{pointer}/country"),
                "an ISO 3166-1 alpha-2 code in capitals, such as US",
            );
        }
    }

    /// The city as searched: trimmed and lowercase.
    pub fn city_key(city: &str) -> String {
        city.trim().to_lowercase()
    }

    /// The postal code as searched: capitals, without spaces and dashes.
    pub fn postal_key(code: &str) -> String {
        code.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect()
    }
}

/// A property as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Property {
    /// The property's id.
    pub id: PropertyId,
    /// The listing's MLS number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mls_number: Option<String>,
    /// Where it is.
    pub address: Address,
    /// What kind of building.
    pub property_type: PropertyType,
    /// Where it stands.
    pub status: PropertyStatus,
    /// The currency of its prices.
    pub currency: String,
    /// The asking price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_price: Option<Money>,
    /// The after-repair value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arv: Option<Money>,
    /// When the after-repair value was estimated (YYYY-MM-DD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valuation_date: Option<String>,
    /// Living area, square feet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub square_feet: Option<i64>,
    /// Bedrooms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrooms: Option<i64>,
    /// Bathrooms, in halves or tenths as listed (decimal text, e.g. `"2.5"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bathrooms: Option<String>,
    /// Year built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year_built: Option<i64>,
    /// Lot size, square feet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot_size_sqft: Option<i64>,
    /// Where it is on the map.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Market data as given (comparables, rents, trends): any JSON object up to 16 KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub market_data: Option<serde_json::Value>,
    /// Increases with every change; send it back in `If-Match` to update safely.
    pub version: i64,
    /// Who created it.
    pub created_by: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// Metres from the point of a radius search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<u64>,
}

/// A number of bathrooms as given: a JSON number or decimal text.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Bathrooms {
    /// As a number (`2.5`).
    Number(serde_json::Number),
    /// As text (`"2.5"`).
    Text(String),
}

impl Bathrooms {
    /// Tenths of a bathroom.
    fn tenths(&self, pointer: &str) -> Result<i64> {
        let text = match self {
            Bathrooms::Number(n) => n.to_string(),
            Bathrooms::Text(t) => t.clone(),
        };
        let bad = || {
            Error::invalid(
                pointer,
                "a number from 0 to 100 with at most one decimal place",
            )
        };
        let d = Decimal::from_str(&text).map_err(|_| bad())?;
        if d.is_sign_negative() || d.scale() > 1 || d > Decimal::from(100) {
            return Err(bad());
        }
        i64::try_from((d * Decimal::from(10)).trunc()).map_err(|_| bad())
    }
}

/// The fields of a new property.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProperty {
    /// The listing's MLS number.
    #[serde(default)]
    pub mls_number: Option<String>,
    /// Where it is.
    pub address: Address,
    /// What kind of building.
    pub property_type: PropertyType,
    /// Where it stands (default `prospect`).
    #[serde(default)]
    pub status: Option<PropertyStatus>,
    /// The asking price.
    #[serde(default)]
    pub list_price: Option<Money>,
    /// The after-repair value.
    #[serde(default)]
    pub arv: Option<Money>,
    /// When the after-repair value was estimated (YYYY-MM-DD).
    #[serde(default)]
    pub valuation_date: Option<String>,
    /// Living area, square feet.
    #[serde(default)]
    pub square_feet: Option<i64>,
    /// Bedrooms.
    #[serde(default)]
    pub bedrooms: Option<i64>,
    /// Bathrooms (`2.5` or `"2.5"`).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2.5")]
    pub bathrooms: Option<Bathrooms>,
    /// Year built.
    #[serde(default)]
    pub year_built: Option<i64>,
    /// Lot size, square feet.
    #[serde(default)]
    pub lot_size_sqft: Option<i64>,
    /// Where it is on the map.
    #[serde(default)]
    pub location: Option<Location>,
    /// Market data: a JSON object up to 16 KiB.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub market_data: Option<serde_json::Value>,
}

/// A change to a property: absent fields stay, `null` clears an optional field.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyUpdate {
    /// The listing's MLS number.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub mls_number: Patch<String>,
    /// Where it is (replaced whole).
    #[serde(default)]
    pub address: Option<Address>,
    /// What kind of building.
    #[serde(default)]
    pub property_type: Option<PropertyType>,
    /// Where it stands.
    #[serde(default)]
    pub status: Option<PropertyStatus>,
    /// The asking price.
    #[serde(default)]
    #[schema(value_type = Option<Money>)]
    pub list_price: Patch<Money>,
    /// The after-repair value.
    #[serde(default)]
    #[schema(value_type = Option<Money>)]
    pub arv: Patch<Money>,
    /// When the after-repair value was estimated.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub valuation_date: Patch<String>,
    /// Living area, square feet.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub square_feet: Patch<i64>,
    /// Bedrooms.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub bedrooms: Patch<i64>,
    /// Bathrooms.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2.5")]
    pub bathrooms: Patch<Bathrooms>,
    /// Year built.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub year_built: Patch<i64>,
    /// Lot size, square feet.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub lot_size_sqft: Patch<i64>,
    /// Where it is on the map.
    #[serde(default)]
    #[schema(value_type = Option<Location>)]
    pub location: Patch<Location>,
    /// Market data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub market_data: Patch<serde_json::Value>,
}

/// A property's fields checked and in stored form.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fields {
    pub(crate) mls_number: Option<String>,
    pub(crate) address: Address,
    pub(crate) property_type: PropertyType,
    pub(crate) status: PropertyStatus,
    pub(crate) currency: Currency,
    pub(crate) list_price_minor: Option<i64>,
    pub(crate) arv_minor: Option<i64>,
    pub(crate) valuation_date: Option<NaiveDate>,
    pub(crate) square_feet: Option<i64>,
    pub(crate) bedrooms: Option<i64>,
    pub(crate) bathrooms_tenths: Option<i64>,
    pub(crate) year_built: Option<i64>,
    pub(crate) lot_size_sqft: Option<i64>,
    pub(crate) location: Option<Location>,
    pub(crate) market_data: Option<String>,
}

/// The raw, unchecked values a property will have (after a patch, or as created).
pub(crate) struct Draft {
    pub(crate) mls_number: Option<String>,
    pub(crate) address: Address,
    pub(crate) property_type: PropertyType,
    pub(crate) status: PropertyStatus,
    pub(crate) list_price: Option<Money>,
    pub(crate) arv: Option<Money>,
    pub(crate) valuation_date: Option<String>,
    pub(crate) square_feet: Option<i64>,
    pub(crate) bedrooms: Option<i64>,
    pub(crate) bathrooms: Option<Bathrooms>,
    pub(crate) year_built: Option<i64>,
    pub(crate) lot_size_sqft: Option<i64>,
    pub(crate) location: Option<Location>,
    pub(crate) market_data: Option<serde_json::Value>,
}

fn check_range(checks: &mut Checks, pointer: &str, v: Option<i64>, min: i64, max: i64) {
    if let Some(v) = v
        && !(min..=max).contains(&v)
    {
        checks.push(pointer, format!("must be between {min} and {max}"));
    }
}

impl Draft {
    /// Checks every field, collecting all errors, and converts to stored form.
    pub(crate) fn check(self) -> Result<Fields> {
        let mut c = Checks::new();
        if let Some(mls) = &self.mls_number
            && (mls.is_empty()
                || mls.len() > 50
                || !mls
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_./".contains(ch)))
        {
            c.push(
                "/mls_number",
                "1 to 50 letters, digits, '-', '_', '.' or '/'",
            );
        }
        self.address.check(&mut c, "/address");
        // Every price of a property is in one currency: the one its prices name (USD if none).
        let named: Vec<&str> = [&self.list_price, &self.arv]
            .into_iter()
            .flatten()
            .map(|m| m.currency.as_str())
            .collect();
        let currency = match named.first() {
            None => Some(Currency::USD),
            Some(code) => {
                if named.iter().any(|n| n != code) {
                    c.push("/arv/currency", "must be the list price's currency");
                }
                c.take(Currency::parse("/list_price/currency", code).map_err(|_| {
                    Error::invalid(
                        if self.list_price.is_some() {
                            "/list_price/currency"
                        } else {
                            "/arv/currency"
                        },
                        format!("unknown currency {code:?}"),
                    )
                }))
            }
        };
        let minor = |c: &mut Checks, pointer: &str, m: &Option<Money>| -> Option<i64> {
            let (Some(m), Some(cur)) = (m, currency) else {
                return None;
            };
            c.take(cur.minor_units(pointer, &m.amount))
        };
        let list_price_minor = minor(&mut c, "/list_price/amount", &self.list_price);
        let arv_minor = minor(&mut c, "/arv/amount", &self.arv);
        let valuation_date = self.valuation_date.as_deref().and_then(|d| {
            let parsed = NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
            if parsed.is_none() {
                c.push("/valuation_date", "a date as YYYY-MM-DD");
            }
            parsed
        });
        if valuation_date.is_some() && self.arv.is_none() {
            c.push("/valuation_date", "only with an arv");
        }
        check_range(&mut c, "/square_feet", self.square_feet, 1, 10_000_000);
        check_range(&mut c, "/bedrooms", self.bedrooms, 0, 1_000);
        let next_year = i64::from(Utc::now().year()) + 5;
        check_range(&mut c, "/year_built", self.year_built, 1600, next_year);
        check_range(
            &mut c,
            "/lot_size_sqft",
            self.lot_size_sqft,
            1,
            1_000_000_000_000,
        );
        let bathrooms_tenths = self
            .bathrooms
            .as_ref()
            .and_then(|b| c.take(b.tenths("/bathrooms")));
        let location = self.location.and_then(|l| c.take(l.check("/location")));
        let market_data = match &self.market_data {
            None => None,
            Some(v) if !v.is_object() => {
                c.push("/market_data", "must be a JSON object");
                None
            }
            Some(v) => {
                let text = v.to_string();
                if text.len() > MAX_MARKET_DATA_BYTES {
                    c.push(
                        "/market_data",
                        format!("at most {MAX_MARKET_DATA_BYTES} bytes of JSON"),
                    );
                }
                Some(text)
            }
        };
        c.finish()?;
        Ok(Fields {
            mls_number: self.mls_number,
            address: Address {
                line1: self.address.line1.trim().to_owned(),
                line2: self.address.line2.map(|s| s.trim().to_owned()),
                city: self.address.city.trim().to_owned(),
                region: self.address.region.map(|s| s.trim().to_owned()),
                postal_code: self.address.postal_code.trim().to_owned(),
                country: self.address.country,
            },
            property_type: self.property_type,
            status: self.status,
            currency: currency.unwrap_or(Currency::USD),
            list_price_minor,
            arv_minor,
            valuation_date,
            square_feet: self.square_feet,
            bedrooms: self.bedrooms,
            bathrooms_tenths,
            year_built: self.year_built,
            lot_size_sqft: self.lot_size_sqft,
            location,
            market_data,
        })
    }
}

impl NewProperty {
    pub(crate) fn into_draft(self) -> Draft {
        Draft {
            mls_number: self.mls_number,
            address: self.address,
            property_type: self.property_type,
            status: self.status.unwrap_or(PropertyStatus::Prospect),
            list_price: self.list_price,
            arv: self.arv,
            valuation_date: self.valuation_date,
            square_feet: self.square_feet,
            bedrooms: self.bedrooms,
            bathrooms: self.bathrooms,
            year_built: self.year_built,
            lot_size_sqft: self.lot_size_sqft,
            location: self.location,
            market_data: self.market_data,
        }
    }
}

impl PropertyUpdate {
    /// The property after this change, unchecked.
    pub(crate) fn apply_to(self, current: &Property) -> Draft {
        let bathrooms = current.bathrooms.clone().map(Bathrooms::Text);
        Draft {
            mls_number: self.mls_number.apply(current.mls_number.clone()),
            address: self.address.unwrap_or_else(|| current.address.clone()),
            property_type: self.property_type.unwrap_or(current.property_type),
            status: self.status.unwrap_or(current.status),
            list_price: self.list_price.apply(current.list_price.clone()),
            arv: self.arv.apply(current.arv.clone()),
            valuation_date: self.valuation_date.apply(current.valuation_date.clone()),
            square_feet: self.square_feet.apply(current.square_feet),
            bedrooms: self.bedrooms.apply(current.bedrooms),
            bathrooms: self.bathrooms.apply(bathrooms),
            year_built: self.year_built.apply(current.year_built),
            lot_size_sqft: self.lot_size_sqft.apply(current.lot_size_sqft),
            location: self.location.apply(current.location),
            market_data: self.market_data.apply(current.market_data.clone()),
        }
    }
}
