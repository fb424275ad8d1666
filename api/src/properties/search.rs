//! The property search's parameters, as sent and as checked.

use serde::Deserialize;
use utoipa::IntoParams;

use super::geo::Location;
use super::model::{Address, PropertyStatus, PropertyType};
use crate::error::{Checks, Error, Result};
use crate::types::{Currency, PageRequest};

/// Largest radius of a radius search: 500 km.
pub const MAX_RADIUS_M: u32 = 500_000;

/// Search parameters of `GET /v1/properties`. All optional; given ones must all match.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PropertyQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this type.
    pub property_type: Option<String>,
    /// Only this city (any case).
    pub city: Option<String>,
    /// Only this postal code (spaces and dashes ignored).
    pub postal_code: Option<String>,
    /// Lowest list price (decimal text, in `currency`).
    pub min_price: Option<String>,
    /// Highest list price (decimal text, in `currency`).
    pub max_price: Option<String>,
    /// Currency of the price range (default USD).
    pub currency: Option<String>,
    /// Smallest living area, square feet.
    pub min_sqft: Option<String>,
    /// Largest living area, square feet.
    pub max_sqft: Option<String>,
    /// Centre of a radius search: `latitude,longitude`.
    pub near: Option<String>,
    /// Radius around `near`, metres (1 to 500,000).
    pub radius_m: Option<String>,
    /// A bounding box: `west,south,east,north` in degrees (GeoJSON order); west may exceed
    /// east across the antimeridian.
    pub bbox: Option<String>,
    /// Items per page (1 to 200, default 50).
    pub limit: Option<String>,
    /// Where to continue: the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A bounding box in degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundingBox {
    /// Western longitude.
    pub west: f64,
    /// Southern latitude.
    pub south: f64,
    /// Eastern longitude.
    pub east: f64,
    /// Northern latitude.
    pub north: f64,
}

/// A checked search.
#[derive(Clone, Debug)]
pub struct SearchRequest {
    pub(crate) status: Option<PropertyStatus>,
    pub(crate) property_type: Option<PropertyType>,
    pub(crate) city_key: Option<String>,
    pub(crate) postal_key: Option<String>,
    pub(crate) currency: Currency,
    pub(crate) min_price_minor: Option<i64>,
    pub(crate) max_price_minor: Option<i64>,
    pub(crate) min_sqft: Option<i64>,
    pub(crate) max_sqft: Option<i64>,
    pub(crate) near: Option<(Location, f64)>,
    pub(crate) bbox: Option<BoundingBox>,
    pub(crate) page: PageRequest,
}

fn numbers<const N: usize>(s: &str) -> Option<[f64; N]> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != N {
        return None;
    }
    let mut out = [0.0; N];
    for (o, p) in out.iter_mut().zip(parts) {
        // Only plain decimal numbers: no "inf", "nan" or exponents from a query string.
        if p.is_empty()
            || p.len() > 24
            || !p
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
        {
            return None;
        }
        *o = p.parse().ok()?;
    }
    Some(out)
}

fn integer(c: &mut Checks, name: &str, s: &Option<String>, max: i64) -> Option<i64> {
    let s = s.as_deref()?;
    match s.parse::<i64>() {
        Ok(v) if (0..=max).contains(&v) => Some(v),
        _ => {
            c.push(name, format!("a whole number from 0 to {max}"));
            None
        }
    }
}

impl PropertyQuery {
    /// Checks every parameter, collecting all errors.
    pub fn check(&self) -> Result<SearchRequest> {
        let mut c = Checks::new();
        let status = self
            .status
            .as_deref()
            .and_then(|s| c.take(s.parse::<PropertyStatus>().map_err(|e| rename(e, "status"))));
        let property_type = self.property_type.as_deref().and_then(|s| {
            c.take(
                s.parse::<PropertyType>()
                    .map_err(|e| rename(e, "property_type")),
            )
        });
        let city_key = self.city.as_deref().map(Address::city_key);
        if city_key
            .as_ref()
            .is_some_and(|k| k.is_empty() || k.len() > 100)
        {
            c.push("city", "1 to 100 characters");
        }
        let postal_key = self.postal_code.as_deref().map(Address::postal_key);
        if postal_key
            .as_ref()
            .is_some_and(|k| k.is_empty() || k.len() > 16)
        {
            c.push("postal_code", "1 to 16 letters or digits");
        }
        let currency = match &self.currency {
            Some(code) => c.take(Currency::parse("currency", code)),
            None => Some(Currency::USD),
        };
        let (min_price_minor, max_price_minor) = match currency {
            Some(cur) => (
                self.min_price
                    .as_deref()
                    .and_then(|p| c.take(cur.minor_units("min_price", p))),
                self.max_price
                    .as_deref()
                    .and_then(|p| c.take(cur.minor_units("max_price", p))),
            ),
            None => (None, None),
        };
        if let (Some(lo), Some(hi)) = (min_price_minor, max_price_minor)
            && lo > hi
        {
            c.push("min_price", "must not exceed max_price");
        }
        let min_sqft = integer(&mut c, "min_sqft", &self.min_sqft, 10_000_000);
        let max_sqft = integer(&mut c, "max_sqft", &self.max_sqft, 10_000_000);
        if let (Some(lo), Some(hi)) = (min_sqft, max_sqft)
            && lo > hi
        {
            c.push("min_sqft", "must not exceed max_sqft");
        }
        let near = match (&self.near, &self.radius_m) {
            (None, None) => None,
            (Some(_), None) => {
                c.push("radius_m", "required with near");
                None
            }
            (None, Some(_)) => {
                c.push("near", "required with radius_m");
                None
            }
            (Some(p), Some(r)) => {
                let center = match numbers::<2>(p) {
                    Some([latitude, longitude]) => c.take(
                        Location {
                            latitude,
                            longitude,
                        }
                        .check("near")
                        .map_err(|_| {
                            Error::invalid("near", "latitude -90 to 90, longitude -180 to 180")
                        }),
                    ),
                    None => {
                        c.push("near", "expected latitude,longitude in degrees");
                        None
                    }
                };
                let radius = match r.parse::<u32>() {
                    Ok(v) if (1..=MAX_RADIUS_M).contains(&v) => Some(f64::from(v)),
                    _ => {
                        c.push(
                            "radius_m",
                            format!("a whole number of metres from 1 to {MAX_RADIUS_M}"),
                        );
                        None
                    }
                };
                center.zip(radius)
            }
        };
        let bbox = self.bbox.as_deref().and_then(|b| match numbers::<4>(b) {
            Some([west, south, east, north])
                if (-180.0..=180.0).contains(&west)
                    && (-180.0..=180.0).contains(&east)
                    && (-90.0..=90.0).contains(&south)
                    && (-90.0..=90.0).contains(&north)
                    && south <= north =>
            {
                Some(BoundingBox {
                    west,
                    south,
                    east,
                    north,
                })
            }
            _ => {
                c.push(
                    "bbox",
                    "expected west,south,east,north in degrees, with south <= north",
                );
                None
            }
        });
        let limit = match self.limit.as_deref().map(str::parse::<u32>) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(_)) => {
                c.push("limit", "a whole number from 1 to 200");
                None
            }
        };
        let page = c.take(PageRequest::parse(limit, self.cursor.as_deref()));
        c.finish()?;
        Ok(SearchRequest {
            status,
            property_type,
            city_key,
            postal_key,
            currency: currency.unwrap_or(Currency::USD),
            min_price_minor,
            max_price_minor,
            min_sqft,
            max_sqft,
            near,
            bbox,
            page: page.unwrap_or_default(),
        })
    }
}

/// An error of a parsed value, named after the query parameter it came from.
fn rename(e: Error, name: &str) -> Error {
    match e {
        Error::Invalid(errors) => Error::Invalid(
            errors
                .into_iter()
                .map(|e| crate::error::FieldError::new(name, e.detail))
                .collect(),
        ),
        other => other,
    }
}
