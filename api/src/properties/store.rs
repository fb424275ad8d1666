//! Storing, reading and searching properties.

use std::sync::Arc;

use chrono::NaiveDate;

use super::geo::{Location, bounding_box, haversine_m};
use super::model::{Address, Fields, NewProperty, Property, PropertyId, PropertyUpdate};
use super::search::SearchRequest;
use crate::auth::Actor;
use crate::db::{Arg, Db, Exec, Query, Tx};
use crate::error::{Error, Result};
use crate::types::{Money, Page, now_ms, rfc3339};

/// The columns a search needs besides the filters: the id, the point, and the rendered view.
/// What a search reads to choose its hits: the location index covers all three, so a
/// geographic search never reads the rows it leaves out.
const SEARCH_COLUMNS: &str = "id, latitude, longitude";

/// What the conditions of a search may name, for the window of rows read in id order.
const WINDOW_COLUMNS: &str = "id, status, property_type, city_key, postal_key, currency, \
     list_price_minor, square_feet, latitude, longitude";

/// The property as the API shows it, from its checked fields.
fn view(
    id: PropertyId,
    f: &Fields,
    version: i64,
    created_by: &str,
    created_at: i64,
    updated_at: i64,
) -> Property {
    let money = |v: Option<i64>| v.map(|m| Money::from_minor(f.currency, m));
    Property {
        id,
        mls_number: f.mls_number.clone(),
        address: f.address.clone(),
        property_type: f.property_type,
        status: f.status,
        currency: f.currency.code().to_owned(),
        list_price: money(f.list_price_minor),
        arv: money(f.arv_minor),
        valuation_date: f.valuation_date.map(|d| d.format("%Y-%m-%d").to_string()),
        square_feet: f.square_feet,
        bedrooms: f.bedrooms,
        bathrooms: f.bathrooms_tenths.map(|t| format!("{}.{}", t / 10, t % 10)),
        year_built: f.year_built,
        lot_size_sqft: f.lot_size_sqft,
        location: f.location,
        market_data: f
            .market_data
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok()),
        version,
        created_by: created_by.to_owned(),
        created_at: rfc3339(created_at),
        updated_at: rfc3339(updated_at),
        distance_m: None,
    }
}

fn render(p: &Property) -> Result<String> {
    serde_json::to_string(p).map_err(|e| Error::Internal(format!("rendering a property: {e}")))
}

fn parse(doc: &str) -> Result<Property> {
    serde_json::from_str(doc).map_err(|_| Error::Corrupt("a stored property view".to_owned()))
}

/// Binds a property's stored fields, from `mls_number` to `market_data`, in the order the
/// insert and the update name them.
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
    let property = view(id, &fields, 1, &actor.reference(), now, now);
    let q = Query::new(
        "INSERT INTO api_properties (id, mls_number, line1, line2, city, city_key, region, \
         postal_code, postal_key, country, property_type, status, currency, list_price_minor, \
         arv_minor, valuation_date, square_feet, bedrooms, bathrooms_tenths, year_built, \
         lot_size_sqft, latitude, longitude, market_data, version, created_by, created_at, \
         updated_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18, $19, $20, $21, $22, $23, $24, 1, $25, $26, $26, $27)",
    )
    .bind(id.to_string());
    bind_fields(q, &fields)
        .bind(actor.reference())
        .bind(now)
        .bind(render(&property)?)
        .execute(tx.exec())
        .await?;
    Ok(property)
}

/// One property.
pub async fn get(exec: Exec<'_>, id: PropertyId) -> Result<Property> {
    parse(&get_raw(exec, id).await?.0)
}

/// Properties read lately, as rendered JSON with their version, for a single-node SQLite
/// deployment, where this process is the only writer: each SQLite read crosses to the driver's
/// worker thread and back, which costs more than the rest of `GET /v1/properties/{id}`.
///
/// An entry is tagged with the generation current when its read began; a committed change to
/// any property raises the generation ([`PropertyCache::changed`], called after the commit), so
/// a read that raced the change is never served. Off for PostgreSQL, where other processes
/// write. Bounded by bytes: when full it starts again empty.
#[derive(Debug, Default)]
pub struct PropertyCache {
    /// The database's change watch; `None`: no cache.
    watch: Option<Arc<crate::db::ChangeWatch>>,
    generation: std::sync::atomic::AtomicU64,
    entries: std::sync::Mutex<Entries>,
}

/// The cache's bytes held, and its entries: each property's generation, rendered JSON and
/// version.
type Entries = (
    usize,
    std::collections::HashMap<PropertyId, (Tag, Arc<str>, i64)>,
);

/// When an entry was read: this process's generation and the database's change token.
type Tag = (u64, crate::db::ChangeToken);

/// Most bytes of rendered properties the cache holds.
const CACHE_MAX_BYTES: usize = 32 * 1024 * 1024;

impl PropertyCache {
    /// A cache over a SQLite database's change watch; `None` (PostgreSQL): none.
    pub fn new(watch: Option<Arc<crate::db::ChangeWatch>>) -> PropertyCache {
        PropertyCache {
            watch,
            ..Default::default()
        }
    }

    /// Notes a committed change to a property.
    pub fn changed(&self) {
        if self.watch.is_some() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One property as its rendered JSON and its version, from the cache when it holds the
    /// current generation's, else read.
    pub async fn get(&self, exec: Exec<'_>, id: PropertyId) -> Result<(Arc<str>, i64)> {
        // The tag is taken before the read: a commit after it changes the token.
        let tag = self.watch.as_ref().and_then(|w| {
            let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
            w.token().map(|t| (generation, t))
        });
        let Some(tag) = tag else {
            let (doc, version) = get_raw(exec, id).await?;
            return Ok((doc.into(), version));
        };
        if let Some((t, doc, version)) = self.lock().1.get(&id)
            && *t == tag
        {
            return Ok((doc.clone(), *version));
        }
        let (doc, version) = get_raw(exec, id).await?;
        let doc: Arc<str> = doc.into();
        let mut e = self.lock();
        if e.0 + doc.len() > CACHE_MAX_BYTES {
            e.1.clear();
            e.0 = 0;
        }
        e.0 += doc.len();
        if let Some(old) = e.1.insert(id, (tag, doc.clone(), version)) {
            e.0 -= old.1.len();
        }
        Ok((doc, version))
    }
}

/// One property as its rendered JSON, and its version.
pub async fn get_raw(exec: Exec<'_>, id: PropertyId) -> Result<(String, i64)> {
    let row = Query::new("SELECT doc, version FROM api_properties WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(exec)
        .await?
        .ok_or(Error::NotFound("property"))?;
    Ok((row.get("doc")?, row.get("version")?))
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
    let now = now_ms();
    let created_at = chrono::DateTime::parse_from_rfc3339(&current.created_at)
        .map(|t| t.timestamp_millis())
        .map_err(|_| Error::Corrupt("a stored creation time".to_owned()))?;
    let property = view(
        id,
        &fields,
        current.version + 1,
        &current.created_by,
        created_at,
        now,
    );
    let q = Query::new(
        "UPDATE api_properties SET mls_number = $1, line1 = $2, line2 = $3, city = $4, \
         city_key = $5, region = $6, postal_code = $7, postal_key = $8, country = $9, \
         property_type = $10, status = $11, currency = $12, list_price_minor = $13, \
         arv_minor = $14, valuation_date = $15, square_feet = $16, bedrooms = $17, \
         bathrooms_tenths = $18, year_built = $19, lot_size_sqft = $20, latitude = $21, \
         longitude = $22, market_data = $23, version = version + 1, updated_at = $24, doc = $25 \
         WHERE id = $26 AND version = $27",
    );
    let changed = bind_fields(q, &fields)
        .bind(now)
        .bind(render(&property)?)
        .bind(id.to_string())
        .bind(current.version)
        .execute(tx.exec())
        .await?;
    if changed != 1 {
        return Err(Error::conflict(
            "concurrent_update",
            "the property changed while this update ran; read it again and retry",
        ));
    }
    Ok(property)
}

/// A search's hit: the rendered property and its distance from the search's point.
#[derive(Clone, Debug)]
pub struct Hit {
    id: String,
    doc: String,
    distance_m: Option<u64>,
}

impl Hit {
    /// The property's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The property, parsed.
    pub fn property(&self) -> Result<Property> {
        let mut p = parse(&self.doc)?;
        p.distance_m = self.distance_m;
        Ok(p)
    }
}

/// A page of hits as the API's JSON (`{"items": [...], "next_cursor": ...}`), written from the
/// stored views without parsing them again.
pub fn render_page(page: &Page<Hit>) -> Vec<u8> {
    let size: usize = page.items.iter().map(|h| h.doc.len() + 24).sum();
    let mut out = Vec::with_capacity(size + 64);
    out.extend_from_slice(b"{\"items\":[");
    for (i, h) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match (h.distance_m, h.doc.strip_suffix('}')) {
            (Some(d), Some(body)) => {
                out.extend_from_slice(body.as_bytes());
                out.extend_from_slice(format!(",\"distance_m\":{d}}}").as_bytes());
            }
            _ => out.extend_from_slice(h.doc.as_bytes()),
        }
    }
    out.push(b']');
    if let Some(c) = &page.next_cursor {
        out.extend_from_slice(b",\"next_cursor\":");
        out.extend_from_slice(serde_json::to_string(c).unwrap_or_default().as_bytes());
    }
    out.push(b'}');
    out
}

/// Most rows read per round while filtering a radius search by exact distance.
const RADIUS_BATCH_MAX: i64 = 2_000;

/// Properties matching a search, in creation order.
pub async fn search(db: &Db, req: &SearchRequest) -> Result<Page<Hit>> {
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
    // The hits are chosen first, from ids and locations only; then the rendered views of the
    // page's hits (and of no other row) are read.
    let mut found: Vec<(String, Option<u64>)> = Vec::with_capacity(limit + 1);
    // Whether a row the conditions matched is a hit: within the circle of a radius search.
    let keep = |row: &crate::db::Row| -> Result<Option<Option<u64>>> {
        let Some((center, radius)) = req.near else {
            return Ok(Some(None));
        };
        let (Some(latitude), Some(longitude)) = (
            row.get::<Option<f64>>("latitude")?,
            row.get::<Option<f64>>("longitude")?,
        ) else {
            return Ok(None);
        };
        let d = haversine_m(
            center,
            Location {
                latitude,
                longitude,
            },
        );
        Ok((d <= radius).then(|| Some(d.round() as u64)))
    };
    if req.near.is_some() || req.bbox.is_some() {
        // The next rows in id order first, each marked whether it matches. Where matches are
        // dense (a search over the area the properties are in) they hold the page, which is
        // cheaper than the location index's every match sorted by id; where matches are
        // sparse, the rounds below continue after them through the index.
        let window = req.page.probe();
        let mut q = w.query.clone();
        q.push(after.clone());
        let after_n = q.binds();
        q.push(window);
        let window_n = q.binds();
        let text = format!(
            "SELECT id, latitude, longitude, CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT) AS hit \
             FROM (SELECT {WINDOW_COLUMNS} FROM api_properties WHERE id > ${after_n} \
             ORDER BY id LIMIT ${window_n}) AS w ORDER BY id",
            w.conditions.join(" AND ")
        );
        let rows = q.with_text(text).fetch_all(db.reader()).await?;
        for row in &rows {
            after = row.get("id")?;
            if row.get::<i64>("hit")? == 1
                && let Some(distance_m) = keep(row)?
            {
                found.push((after.clone(), distance_m));
                if found.len() > limit {
                    break;
                }
            }
        }
        if found.len() > limit || (rows.len() as i64) < window {
            let hits = with_views(db, found).await?;
            return Ok(Page::from_probe(hits, &req.page, |h| h.id.clone()));
        }
    }
    // A radius search reads the bounding box's rows and keeps those within the circle: a page's
    // worth first (most of a box is inside its circle), then twice as many each round.
    let mut batch = req.page.probe();
    loop {
        let mut round = w.query.clone();
        round.push(after.clone());
        let mut text = format!(
            "SELECT {SEARCH_COLUMNS} FROM api_properties WHERE id > ${}",
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
            let id: String = row.get("id")?;
            after.clone_from(&id);
            let Some(distance_m) = keep(row)? else {
                continue;
            };
            found.push((id, distance_m));
            if found.len() > limit {
                break;
            }
        }
        if found.len() > limit || (n as i64) < batch {
            break;
        }
        batch = (batch * 2).min(RADIUS_BATCH_MAX);
    }
    let hits = with_views(db, found).await?;
    Ok(Page::from_probe(hits, &req.page, |h| h.id.clone()))
}

/// The rendered views of the chosen hits, in their order.
async fn with_views(db: &Db, chosen: Vec<(String, Option<u64>)>) -> Result<Vec<Hit>> {
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    // One row holding every view (id, unit separator, view; record separator between them):
    // a row each would cost the driver a hand-off each. Neither separator occurs in an id or
    // in JSON text, where control characters are escaped.
    let all = match db.engine() {
        crate::db::Engine::Sqlite => "group_concat(id || char(31) || doc, char(30) ORDER BY id)",
        crate::db::Engine::Postgres => "string_agg(id || chr(31) || doc, chr(30) ORDER BY id)",
    };
    let mut q = Query::default();
    let mut text = format!("SELECT {all} AS docs FROM api_properties WHERE id IN (");
    for (i, (id, _)) in chosen.iter().enumerate() {
        q.push(id.clone());
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!("${}", q.binds()));
    }
    text.push(')');
    let joined: Option<String> = q
        .with_text(text)
        .fetch_one(db.reader())
        .await?
        .get("docs")?;
    let joined = joined.unwrap_or_default();
    let mut docs = std::collections::HashMap::with_capacity(chosen.len());
    for record in joined.split('\u{1e}') {
        let (id, doc) = record
            .split_once('\u{1f}')
            .ok_or_else(|| Error::Corrupt("a property's stored view".to_owned()))?;
        docs.insert(id, doc);
    }
    chosen
        .into_iter()
        .map(|(id, distance_m)| {
            // A property is never deleted, so a chosen one is still there.
            let doc = docs
                .remove(id.as_str())
                .ok_or_else(|| Error::Corrupt(format!("property {id} vanished during a search")))?
                .to_owned();
            Ok(Hit {
                id,
                doc,
                distance_m,
            })
        })
        .collect()
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
