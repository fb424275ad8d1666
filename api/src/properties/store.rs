//! Storing, reading and searching properties.

use chrono::NaiveDate;

use super::geo::{Location, bounding_box, haversine_m};
use super::model::{Address, Fields, NewProperty, Property, PropertyId, PropertyUpdate};
use super::search::SearchRequest;
use crate::auth::Actor;
use crate::db::{Arg, Db, Exec, Query, Row, Tx};
use crate::error::{Error, Result};
use crate::types::{Currency, Money, Page, now_ms, rfc3339};

const COLUMNS: &str = "id, mls_number, line1, line2, city, region, postal_code, country, \
     property_type, status, currency, list_price_minor, arv_minor, valuation_date, square_feet, \
     bedrooms, bathrooms_tenths, year_built, lot_size_sqft, latitude, longitude, market_data, \
     version, created_by, created_at, updated_at";

fn from_row(row: &Row) -> Result<Property> {
    let corrupt = |what: &str| Error::Corrupt(format!("property {what}"));
    let currency = Currency::parse("currency", &row.get::<String>("currency")?)
        .map_err(|_| corrupt("currency"))?;
    let money = |v: Option<i64>| v.map(|m| Money::from_minor(currency, m));
    let location = match (
        row.get::<Option<f64>>("latitude")?,
        row.get::<Option<f64>>("longitude")?,
    ) {
        (Some(latitude), Some(longitude)) => Some(Location {
            latitude,
            longitude,
        }),
        _ => None,
    };
    let market_data = row
        .get::<Option<String>>("market_data")?
        .map(|t| serde_json::from_str(&t).map_err(|_| corrupt("market data")))
        .transpose()?;
    Ok(Property {
        id: PropertyId::stored(&row.get::<String>("id")?)?,
        mls_number: row.get("mls_number")?,
        address: Address {
            line1: row.get("line1")?,
            line2: row.get("line2")?,
            city: row.get("city")?,
            region: row.get("region")?,
            postal_code: row.get("postal_code")?,
            country: row.get("country")?,
        },
        property_type: row
            .get::<String>("property_type")?
            .parse()
            .map_err(|_| corrupt("type"))?,
        status: row
            .get::<String>("status")?
            .parse()
            .map_err(|_| corrupt("status"))?,
        currency: currency.code().to_owned(),
        list_price: money(row.get("list_price_minor")?),
        arv: money(row.get("arv_minor")?),
        valuation_date: row.get("valuation_date")?,
        square_feet: row.get("square_feet")?,
        bedrooms: row.get("bedrooms")?,
        bathrooms: row
            .get::<Option<i64>>("bathrooms_tenths")?
            .map(|t| format!("{}.{}", t / 10, t % 10)),
        year_built: row.get("year_built")?,
        lot_size_sqft: row.get("lot_size_sqft")?,
        location,
        market_data,
        version: row.get("version")?,
        created_by: row.get("created_by")?,
        created_at: rfc3339(row.get("created_at")?),
        updated_at: rfc3339(row.get("updated_at")?),
        distance_m: None,
    })
}

/// Binds a property's stored fields in `COLUMNS` order from `mls_number` to `market_data`.
fn bind_fields(mut q: Query, f: &Fields) -> Query {
    let date = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
    q = q
        .bind(f.mls_number.clone())
        .bind(f.address.line1.clone())
        .bind(f.address.line2.clone())
        .bind(f.address.city.clone())
        .bind(Address::city_key(&f.address.city))
        .bind(f.address.region.clone())
        .bind(f.address.postal_code.clone())
        .bind(Address::postal_key(&f.address.postal_code))
        .bind(f.address.country.clone())
        .bind(f.property_type.as_str())
        .bind(f.status.as_str())
        .bind(f.currency.code())
        .bind(f.list_price_minor)
        .bind(f.arv_minor)
        .bind(date(f.valuation_date))
        .bind(f.square_feet)
        .bind(f.bedrooms)
        .bind(f.bathrooms_tenths)
        .bind(f.year_built)
        .bind(f.lot_size_sqft)
        .bind(f.location.map(|l| l.latitude))
        .bind(f.location.map(|l| l.longitude))
        .bind(f.market_data.clone());
    q
}

/// Creates a property.
pub async fn create(tx: &mut Tx, actor: &Actor, new: NewProperty) -> Result<Property> {
    let fields = new.into_draft().check()?;
    let id = PropertyId::new();
    let now = now_ms();
    let q = Query::assembled(format!(
        "INSERT INTO api_properties (id, mls_number, line1, line2, city, city_key, region, \
         postal_code, postal_key, country, property_type, status, currency, list_price_minor, \
         arv_minor, valuation_date, square_feet, bedrooms, bathrooms_tenths, year_built, \
         lot_size_sqft, latitude, longitude, market_data, version, created_by, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18, $19, $20, $21, $22, $23, $24, 1, $25, $26, $26) RETURNING {COLUMNS}"
    ))
    .bind(id.to_string());
    let row = bind_fields(q, &fields)
        .bind(actor.reference())
        .bind(now)
        .fetch_one(tx.exec())
        .await?;
    from_row(&row)
}

/// One property.
pub async fn get(exec: Exec<'_>, id: PropertyId) -> Result<Property> {
    let row = Query::assembled(format!(
        "SELECT {COLUMNS} FROM api_properties WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(exec)
    .await?
    .ok_or(Error::NotFound("property"))?;
    from_row(&row)
}

/// Applies a change; with `if_match`, only at that version.
pub async fn update(
    tx: &mut Tx,
    id: PropertyId,
    change: PropertyUpdate,
    if_match: Option<i64>,
) -> Result<Property> {
    let current = get(tx.exec(), id).await?;
    if let Some(v) = if_match
        && v != current.version
    {
        return Err(Error::PreconditionFailed {
            current: current.version,
        });
    }
    let fields = change.apply_to(&current).check()?;
    let q = Query::assembled(format!(
        "UPDATE api_properties SET mls_number = $1, line1 = $2, line2 = $3, city = $4, \
         city_key = $5, region = $6, postal_code = $7, postal_key = $8, country = $9, \
         property_type = $10, status = $11, currency = $12, list_price_minor = $13, \
         arv_minor = $14, valuation_date = $15, square_feet = $16, bedrooms = $17, \
         bathrooms_tenths = $18, year_built = $19, lot_size_sqft = $20, latitude = $21, \
         longitude = $22, market_data = $23, version = version + 1, updated_at = $24 \
         WHERE id = $25 AND version = $26 RETURNING {COLUMNS}"
    ));
    let row = bind_fields(q, &fields)
        .bind(now_ms())
        .bind(id.to_string())
        .bind(current.version)
        .fetch_optional(tx.exec())
        .await?
        .ok_or_else(|| {
            Error::conflict(
                "concurrent_update",
                "the property changed while this update ran; read it again and retry",
            )
        })?;
    from_row(&row)
}

/// Most rows read per round while filtering a radius search by exact distance.
const RADIUS_BATCH_MAX: i64 = 2_000;

/// Properties matching a search, in creation order.
pub async fn search(db: &Db, req: &SearchRequest) -> Result<Page<Property>> {
    let mut w = Where::default();
    if let Some(s) = req.status {
        w.add("status = ?", s.as_str());
    }
    if let Some(t) = req.property_type {
        w.add("property_type = ?", t.as_str());
    }
    if let Some(city) = &req.city_key {
        w.add("city_key = ?", city.as_str());
    }
    if let Some(pc) = &req.postal_key {
        w.add("postal_key = ?", pc.as_str());
    }
    if req.min_price_minor.is_some() || req.max_price_minor.is_some() {
        w.add("currency = ?", req.currency.code());
    }
    if let Some(v) = req.min_price_minor {
        w.add("list_price_minor >= ?", v);
    }
    if let Some(v) = req.max_price_minor {
        w.add("list_price_minor <= ?", v);
    }
    if let Some(v) = req.min_sqft {
        w.add("square_feet >= ?", v);
    }
    if let Some(v) = req.max_sqft {
        w.add("square_feet <= ?", v);
    }
    if let Some(b) = &req.bbox {
        w.add("latitude >= ?", b.south);
        w.add("latitude <= ?", b.north);
        if b.west <= b.east {
            w.add("longitude >= ?", b.west);
            w.add("longitude <= ?", b.east);
        } else {
            // The box crosses the antimeridian.
            w.add2("(longitude >= ? OR longitude <= ?)", b.west, b.east);
        }
    }
    if let Some((center, radius)) = req.near {
        let ((south, north), lon) = bounding_box(center, radius);
        w.add("latitude >= ?", south);
        w.add("latitude <= ?", north);
        if let Some((west, east)) = lon {
            w.add("longitude >= ?", west);
            w.add("longitude <= ?", east);
        }
    }
    let limit = req.page.limit as usize;
    let mut after = req.page.after.clone().unwrap_or_default();
    let mut found: Vec<Property> = Vec::with_capacity(limit + 1);
    // A radius search reads the bounding box's rows and keeps those within the circle: a page's
    // worth first (most of a box is inside its circle), then twice as many each round.
    let mut batch = req.page.probe();
    loop {
        let mut round = w.query.clone();
        round.push(after.clone());
        let mut text = format!(
            "SELECT {COLUMNS} FROM api_properties WHERE id > ${}",
            round.binds()
        );
        for c in &w.conditions {
            text.push_str(" AND ");
            text.push_str(c);
        }
        round.push(batch);
        text.push_str(&format!(" ORDER BY id LIMIT ${}", round.binds()));
        let rows = round.with_text(text).fetch_all(db.reader()).await?;
        let n = rows.len();
        for row in &rows {
            let mut p = from_row(row)?;
            after = p.id.to_string();
            if let Some((center, radius)) = req.near {
                let Some(loc) = p.location else { continue };
                let d = haversine_m(center, loc);
                if d > radius {
                    continue;
                }
                p.distance_m = Some(d.round() as u64);
            }
            found.push(p);
            if found.len() > limit {
                break;
            }
        }
        if found.len() > limit || (n as i64) < batch {
            break;
        }
        batch = (batch * 2).min(RADIUS_BATCH_MAX);
    }
    Ok(Page::from_probe(found, &req.page, |p| p.id.to_string()))
}

/// The conditions of a search and their binds, numbered as they are added.
#[derive(Default)]
struct Where {
    query: Query,
    conditions: Vec<String>,
}

impl Where {
    /// A condition with one `?` for `arg`.
    fn add(&mut self, condition: &str, arg: impl Into<Arg>) {
        self.query.push(arg);
        let n = self.query.binds();
        self.conditions
            .push(condition.replace('?', &format!("${n}")));
    }

    /// A condition with two `?`s, for `a` then `b`.
    fn add2(&mut self, condition: &str, a: impl Into<Arg>, b: impl Into<Arg>) {
        self.query.push(a);
        let first = format!("${}", self.query.binds());
        self.query.push(b);
        let second = format!("${}", self.query.binds());
        self.conditions
            .push(condition.replacen('?', &first, 1).replacen('?', &second, 1));
    }
}
