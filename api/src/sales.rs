//! Property sales: imported from CSV or RESO-style JSON (the MLS data standard's field names),
//! each row checked and a bad one named, kept for comparable sales and market trends.
//!
//! An import is all or nothing: one bad row refuses it, naming every bad row and field, and
//! nothing is stored. A sale already stored (same address, city, region, day and price) is
//! counted as a duplicate, so an import may be repeated.
//!
//! **Market trends**: per area (city and region) and calendar quarter, the number of sales and
//! the median price per square foot of living area, each sale's rounded to the cent (half away
//! from zero) and the median of an even count the mean of the middle two, rounded the same way.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{Db, Query, Tx};
use crate::error::{Error, FieldError, Result};
use crate::types::Money;

/// Most rows one import may hold.
pub const MAX_ROWS: usize = 10_000;
/// Most sales a trend reads.
pub const TREND_READ_MAX: i64 = 200_000;

/// One sale, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sale {
    /// Street address.
    pub address: String,
    /// City.
    pub city: String,
    /// State or region.
    pub region: String,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Latitude and longitude (decimal degrees, as given).
    pub location: Option<(String, String)>,
    /// The sale's day.
    pub sale_date: NaiveDate,
    /// The price in cents (USD).
    pub price_cents: i64,
    /// Living area.
    pub living_area_sqft: Option<i64>,
    /// Lot size.
    pub lot_size_sqft: Option<i64>,
    /// Bedrooms.
    pub bedrooms: Option<i64>,
    /// Bathrooms in tenths (2.5 is 25).
    pub bathrooms_tenths: Option<i64>,
    /// Year built.
    pub year_built: Option<i64>,
    /// `single_family`, `condo`, `townhouse`, `multi_family`, `land` or `other`.
    pub property_type: String,
    /// `good`, `average`, `poor` (or unknown).
    pub condition: Option<String>,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportResult {
    /// Rows read.
    pub rows: u64,
    /// Sales stored.
    pub inserted: u64,
    /// Sales already stored.
    pub duplicates: u64,
}

const TYPES: [&str; 6] = [
    "single_family",
    "condo",
    "townhouse",
    "multi_family",
    "land",
    "other",
];
const CONDITIONS: [&str; 3] = ["good", "average", "poor"];

/// A row's fields by our names, whatever the source called them.
type Fields = BTreeMap<&'static str, String>;

/// Checks one row's fields; errors name `/rows/{i}/{field}`.
fn check(i: usize, f: &Fields, errors: &mut Vec<FieldError>) -> Option<Sale> {
    let before = errors.len();
    let ptr = |field: &str| format!("/rows/{i}/{field}");
    let text = |k: &str| {
        f.get(k)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let required = |k: &'static str, errors: &mut Vec<FieldError>| {
        let v = text(k);
        if v.is_none() {
            errors.push(FieldError::new(ptr(k), "required"));
        }
        v.unwrap_or_default()
    };
    let address = required("address", errors);
    let city = required("city", errors);
    let region = required("region", errors);
    let date_text = required("sale_date", errors);
    let price_text = required("sale_price", errors);
    for (k, v) in [("address", &address), ("city", &city), ("region", &region)] {
        if v.chars().count() > 200 {
            errors.push(FieldError::new(ptr(k), "at most 200 characters"));
        }
    }
    let sale_date = NaiveDate::parse_from_str(&date_text, "%Y-%m-%d").ok();
    if sale_date.is_none() && !date_text.is_empty() {
        errors.push(FieldError::new(
            ptr("sale_date"),
            "expected a day such as 2026-03-31",
        ));
    }
    let price_cents = price_text
        .parse::<Decimal>()
        .ok()
        .filter(|d| d.is_sign_positive() && !d.is_zero() && d.scale() <= 2)
        .and_then(|d| (d * Decimal::ONE_HUNDRED).trunc().try_into().ok());
    if price_cents.is_none() && !price_text.is_empty() {
        errors.push(FieldError::new(
            ptr("sale_price"),
            "expected a positive amount in USD with at most 2 decimals",
        ));
    }
    let int = |k: &'static str, lo: i64, hi: i64, errors: &mut Vec<FieldError>| -> Option<i64> {
        let v = text(k)?;
        match v.parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) => Some(n),
            _ => {
                errors.push(FieldError::new(
                    ptr(k),
                    format!("a whole number from {lo} to {hi}"),
                ));
                None
            }
        }
    };
    let living_area_sqft = int("living_area_sqft", 1, 1_000_000, errors);
    let lot_size_sqft = int("lot_size_sqft", 0, 1_000_000_000, errors);
    let bedrooms = int("bedrooms", 0, 100, errors);
    let year_built = int("year_built", 1600, 2100, errors);
    let bathrooms_tenths = text("bathrooms").and_then(|v| {
        match v
            .parse::<Decimal>()
            .ok()
            .filter(|d| !d.is_sign_negative() && d.scale() <= 1 && *d <= Decimal::from(100))
        {
            Some(d) => (d * Decimal::TEN).trunc().try_into().ok(),
            None => {
                errors.push(FieldError::new(
                    ptr("bathrooms"),
                    "a number from 0 to 100 with at most one decimal",
                ));
                None
            }
        }
    });
    let property_type = text("property_type").unwrap_or_else(|| "single_family".to_owned());
    if !TYPES.contains(&property_type.as_str()) {
        errors.push(FieldError::new(
            ptr("property_type"),
            format!("one of {}", TYPES.join(", ")),
        ));
    }
    let condition = text("condition");
    if condition
        .as_deref()
        .is_some_and(|c| !CONDITIONS.contains(&c))
    {
        errors.push(FieldError::new(
            ptr("condition"),
            format!("one of {}", CONDITIONS.join(", ")),
        ));
    }
    let location = match (text("latitude"), text("longitude")) {
        (None, None) => None,
        (Some(la), Some(lo)) => {
            let ok = |s: &str, m: i64| {
                s.parse::<Decimal>()
                    .ok()
                    .is_some_and(|d| d.abs() <= Decimal::from(m))
            };
            if !ok(&la, 90) || !ok(&lo, 180) {
                errors.push(FieldError::new(
                    ptr("latitude"),
                    "latitude and longitude in decimal degrees",
                ));
            }
            Some((la, lo))
        }
        _ => {
            errors.push(FieldError::new(
                ptr("latitude"),
                "latitude and longitude go together",
            ));
            None
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(Sale {
        address,
        city,
        region,
        postal_code: text("postal_code"),
        location,
        sale_date: sale_date?,
        price_cents: price_cents?,
        living_area_sqft,
        lot_size_sqft,
        bedrooms,
        bathrooms_tenths,
        year_built,
        property_type,
        condition,
    })
}

const CSV_FIELDS: [&str; 15] = [
    "address",
    "city",
    "region",
    "postal_code",
    "latitude",
    "longitude",
    "sale_date",
    "sale_price",
    "living_area_sqft",
    "lot_size_sqft",
    "bedrooms",
    "bathrooms",
    "year_built",
    "property_type",
    "condition",
];

fn too_many() -> Error {
    Error::invalid("/rows", format!("at most {MAX_ROWS} rows per import"))
}

/// Rows of a CSV import: a header naming the columns ([`CSV_FIELDS`]; others refused).
pub fn parse_csv(body: &[u8]) -> Result<Vec<Sale>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::invalid("/header", format!("not CSV: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut columns = Vec::with_capacity(header.len());
    for h in &header {
        match CSV_FIELDS.iter().find(|f| **f == h.as_str()) {
            Some(f) => columns.push(*f),
            None => {
                return Err(Error::invalid(
                    "/header",
                    format!(
                        "unknown column {h:?}; the columns are {}",
                        CSV_FIELDS.join(", ")
                    ),
                ));
            }
        }
    }
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        if i >= MAX_ROWS {
            return Err(too_many());
        }
        let record =
            record.map_err(|e| Error::invalid(format!("/rows/{i}"), format!("not CSV: {e}")))?;
        let fields: Fields = columns
            .iter()
            .copied()
            .zip(record.iter().map(str::to_owned))
            .collect();
        if let Some(s) = check(i, &fields, &mut errors) {
            out.push(s);
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(out)
}

/// One sale in RESO Data Dictionary names (as an MLS's Web API serves `Property` records).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ResoSale {
    /// The street address.
    pub unparsed_address: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or province.
    pub state_or_province: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Latitude.
    #[schema(value_type = Option<f64>)]
    pub latitude: Option<serde_json::Number>,
    /// Longitude.
    #[schema(value_type = Option<f64>)]
    pub longitude: Option<serde_json::Number>,
    /// The closing day.
    pub close_date: Option<String>,
    /// The closing price.
    #[schema(value_type = Option<f64>)]
    pub close_price: Option<serde_json::Number>,
    /// Living area (square feet).
    #[schema(value_type = Option<f64>)]
    pub living_area: Option<serde_json::Number>,
    /// Lot size in square feet.
    #[schema(value_type = Option<f64>)]
    pub lot_size_square_feet: Option<serde_json::Number>,
    /// Bedrooms.
    #[schema(value_type = Option<f64>)]
    pub bedrooms_total: Option<serde_json::Number>,
    /// Bathrooms (decimal).
    #[schema(value_type = Option<f64>)]
    pub bathrooms_total_decimal: Option<serde_json::Number>,
    /// Year built.
    #[schema(value_type = Option<f64>)]
    pub year_built: Option<serde_json::Number>,
    /// `Residential` sub-type: `SingleFamilyResidence`, `Condominium`, `Townhouse`, `Duplex`...
    pub property_sub_type: Option<String>,
}

/// A RESO JSON import: `{"value": [ ... ]}`, as an OData response carries records.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct ResoImport {
    /// The sales.
    pub value: Vec<ResoSale>,
}

/// Rows of a RESO import.
pub fn parse_reso(body: &ResoImport) -> Result<Vec<Sale>> {
    if body.value.len() > MAX_ROWS {
        return Err(too_many());
    }
    let n = |v: &Option<serde_json::Number>| v.as_ref().map(|n| n.to_string()).unwrap_or_default();
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, r) in body.value.iter().enumerate() {
        let sub = r.property_sub_type.as_deref().map(|t| match t {
            "SingleFamilyResidence" => "single_family",
            "Condominium" => "condo",
            "Townhouse" => "townhouse",
            "Duplex" | "Triplex" | "Quadruplex" => "multi_family",
            "UnimprovedLand" => "land",
            _ => "other",
        });
        let mut f: Fields = BTreeMap::new();
        f.insert("address", r.unparsed_address.clone().unwrap_or_default());
        f.insert("city", r.city.clone().unwrap_or_default());
        f.insert("region", r.state_or_province.clone().unwrap_or_default());
        f.insert("postal_code", r.postal_code.clone().unwrap_or_default());
        f.insert("latitude", n(&r.latitude));
        f.insert("longitude", n(&r.longitude));
        f.insert("sale_date", r.close_date.clone().unwrap_or_default());
        f.insert("sale_price", n(&r.close_price));
        f.insert("living_area_sqft", n(&r.living_area));
        f.insert("lot_size_sqft", n(&r.lot_size_square_feet));
        f.insert("bedrooms", n(&r.bedrooms_total));
        f.insert("bathrooms", n(&r.bathrooms_total_decimal));
        f.insert("year_built", n(&r.year_built));
        f.insert("property_type", sub.unwrap_or("single_family").to_owned());
        if let Some(s) = check(i, &f, &mut errors) {
            out.push(s);
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(out)
}

/// The key an area's sales and models are stored under: its city and region, lower case.
pub fn area_key(city: &str, region: &str) -> String {
    format!(
        "{}|{}",
        city.trim().to_lowercase(),
        region.trim().to_lowercase()
    )
}

/// Stores `sales` (a sale already stored counts as a duplicate).
pub async fn store(tx: &mut Tx, sales: &[Sale], source: &str) -> Result<ImportResult> {
    let now = crate::types::now_ms();
    let mut inserted = 0;
    let mut changed = std::collections::BTreeSet::new();
    for s in sales {
        let n = Query::new(
            "INSERT INTO api_sales (id, address, city, region, area_key, postal_code, latitude, longitude, \
             sale_date, price_minor, living_area_sqft, lot_size_sqft, bedrooms, bathrooms_tenths, \
             year_built, property_type, condition, source, imported_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
             ON CONFLICT (address, area_key, sale_date, price_minor) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(s.address.clone())
        .bind(s.city.clone())
        .bind(s.region.clone())
        .bind(area_key(&s.city, &s.region))
        .bind(s.postal_code.clone())
        .bind(s.location.as_ref().map(|l| l.0.clone()))
        .bind(s.location.as_ref().map(|l| l.1.clone()))
        .bind(s.sale_date.format("%Y-%m-%d").to_string())
        .bind(s.price_cents)
        .bind(s.living_area_sqft)
        .bind(s.lot_size_sqft)
        .bind(s.bedrooms)
        .bind(s.bathrooms_tenths)
        .bind(s.year_built)
        .bind(s.property_type.clone())
        .bind(s.condition.clone())
        .bind(source.to_owned())
        .bind(now)
        .execute(tx.exec())
        .await?;
        inserted += n;
        if n > 0 {
            changed.insert(area_key(&s.city, &s.region));
        }
    }
    for key in changed {
        Query::new(
            "INSERT INTO api_sales_areas (area_key, generation) VALUES ($1, 1) \
             ON CONFLICT (area_key) DO UPDATE SET generation = api_sales_areas.generation + 1",
        )
        .bind(key)
        .execute(tx.exec())
        .await?;
    }
    let rows = u64::try_from(sales.len()).unwrap_or(u64::MAX);
    Ok(ImportResult {
        rows,
        inserted,
        duplicates: rows - inserted,
    })
}

/// One quarter of an area's market.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Quarter {
    /// `YYYY-Qn`.
    pub quarter: String,
    /// Sales with a living area.
    pub sales: u64,
    /// Their median price per square foot.
    pub median_price_per_sqft: Money,
}

/// An area's market trend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Trend {
    /// The city.
    pub city: String,
    /// The region.
    pub region: String,
    /// Each quarter with sales, oldest first.
    pub quarters: Vec<Quarter>,
}

fn cents(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The median of sorted values, as the module says.
pub fn median(sorted: &[Decimal]) -> Option<Decimal> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some(cents((sorted[n / 2 - 1] + sorted[n / 2]) / Decimal::TWO)),
    }
}

/// The market trend of `city`, `region`.
pub async fn trend(db: &Db, city: &str, region: &str) -> Result<Trend> {
    let rows = Query::new(
        "SELECT sale_date, price_minor, living_area_sqft FROM api_sales \
         WHERE area_key = $1 AND living_area_sqft IS NOT NULL LIMIT $2",
    )
    .bind(area_key(city, region))
    .bind(TREND_READ_MAX)
    .fetch_all(db.reader())
    .await?;
    let mut by: BTreeMap<(i32, u32), Vec<Decimal>> = BTreeMap::new();
    for r in rows {
        let day = NaiveDate::parse_from_str(&r.get::<String>("sale_date")?, "%Y-%m-%d")
            .map_err(|_| Error::Corrupt("a sale's day".to_owned()))?;
        let area: i64 = r.get("living_area_sqft")?;
        if area <= 0 {
            continue;
        }
        let price = Decimal::new(r.get::<i64>("price_minor")?, 2);
        by.entry((day.year(), (day.month() - 1) / 3 + 1))
            .or_default()
            .push(cents(price / Decimal::from(area)));
    }
    let quarters = by
        .into_iter()
        .filter_map(|((y, q), mut v)| {
            v.sort();
            let m = median(&v)?;
            let mut m = m;
            m.rescale(2);
            Some(Quarter {
                quarter: format!("{y}-Q{q}"),
                sales: u64::try_from(v.len()).unwrap_or(0),
                median_price_per_sqft: Money {
                    amount: m.to_string(),
                    currency: "USD".to_owned(),
                },
            })
        })
        .collect();
    Ok(Trend {
        city: city.to_owned(),
        region: region.to_owned(),
        quarters,
    })
}

/// Areas whose sales a process keeps in memory.
const MARKETS_KEPT: usize = 8;

/// Areas' sales kept in memory, ready to value from, each with the generation it was read at.
#[derive(Debug, Default)]
pub struct MarketCache {
    markets: std::sync::Mutex<Vec<(String, i64, std::sync::Arc<crate::comps::Market>)>>,
}

/// The area's market: from memory while its sales are unchanged (one indexed read checks),
/// else read again.
pub async fn market(
    db: &Db,
    cache: &MarketCache,
    city: &str,
    region: &str,
) -> Result<std::sync::Arc<crate::comps::Market>> {
    let key = area_key(city, region);
    let generation: i64 = Query::new("SELECT generation FROM api_sales_areas WHERE area_key = $1")
        .bind(key.clone())
        .fetch_optional(db.reader())
        .await?
        .map(|r| r.get::<i64>("generation"))
        .transpose()?
        .unwrap_or(0);
    let lock = || {
        cache
            .markets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some((_, _, m)) = lock()
        .iter()
        .find(|(k, g, _)| *k == key && *g == generation)
    {
        return Ok(m.clone());
    }
    let sales = area_sales(db, city, region).await?;
    let market = tokio::task::spawn_blocking(move || crate::comps::Market::new(sales))
        .await
        .map_err(|e| Error::Internal(format!("reading an area's sales: {e}")))?;
    let market = std::sync::Arc::new(market);
    let mut kept = lock();
    kept.retain(|(k, _, _)| *k != key);
    if kept.len() >= MARKETS_KEPT {
        kept.remove(0);
    }
    kept.push((key, generation, market.clone()));
    Ok(market)
}

/// The area's sales with a living area, as the comps read them: the latest
/// [`TREND_READ_MAX`], oldest first.
pub async fn area_sales(db: &Db, city: &str, region: &str) -> Result<Vec<crate::comps::Sold>> {
    let rows = Query::new(
        "SELECT id, address, sale_date, price_minor, living_area_sqft, lot_size_sqft, bedrooms, \
         bathrooms_tenths, year_built, latitude, longitude FROM api_sales \
         WHERE area_key = $1 AND living_area_sqft IS NOT NULL \
         ORDER BY sale_date DESC, id DESC LIMIT $2",
    )
    .bind(area_key(city, region))
    .bind(TREND_READ_MAX)
    .fetch_all(db.reader())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let coord = |k: &str| -> Result<Option<f64>> {
            Ok(r.get::<Option<String>>(k)?
                .and_then(|t| t.parse::<f64>().ok()))
        };
        out.push(crate::comps::Sold {
            id: r.get("id")?,
            address: r.get("address")?,
            sale_date: NaiveDate::parse_from_str(&r.get::<String>("sale_date")?, "%Y-%m-%d")
                .map_err(|_| Error::Corrupt("a sale's day".to_owned()))?,
            price: Decimal::new(r.get::<i64>("price_minor")?, 2),
            area: r.get("living_area_sqft")?,
            lot: r.get("lot_size_sqft")?,
            bedrooms: r.get("bedrooms")?,
            baths_tenths: r.get("bathrooms_tenths")?,
            year_built: r.get("year_built")?,
            location: coord("latitude")?.zip(coord("longitude")?),
        });
    }
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_row_and_field_is_named() {
        let csv = b"address,city,region,sale_date,sale_price,living_area_sqft,bathrooms\n\
            1 Main St,Grinnell,IA,2010-05-01,120000.00,1500,2.5\n\
            ,Grinnell,IA,2010-13-01,-5,0,2.55\n";
        let Err(Error::Invalid(errors)) = parse_csv(csv) else {
            panic!("accepted")
        };
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/rows/1/address",
                "/rows/1/sale_date",
                "/rows/1/sale_price",
                "/rows/1/living_area_sqft",
                "/rows/1/bathrooms"
            ]
        );
        let ok = parse_csv(
            b"address,city,region,sale_date,sale_price,living_area_sqft,bathrooms\n1 Main St,Grinnell,IA,2010-05-01,120000.00,1500,2.5\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(
            (ok[0].price_cents, ok[0].bathrooms_tenths),
            (12_000_000, Some(25))
        );
        assert!(parse_csv(b"address,colour\n").is_err());
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(median(&[d("1.00"), d("2.00"), d("9.00")]), Some(d("2.00")));
        assert_eq!(median(&[d("1.00"), d("2.01")]), Some(d("1.51")));
        assert_eq!(median(&[]), None);
    }
}
