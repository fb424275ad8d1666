//! The learned valuation model (an automated valuation model, AVM): a random forest over an
//! area's sales, tuned by cross-validation, stored with its version and training metrics, and
//! used next to the comps estimate.
//!
//! - **Features**: living area, bedrooms, bathrooms, year built and lot size (a missing value
//!   is `-1`, which a tree separates on its own).
//! - **Target**: the price over the area's market index in the quarter of the sale (the same
//!   twelve-month median price per square foot the comps use), so the forest learns what a
//!   house is worth in square feet at the market's going rate and the index carries time. An
//!   estimate is the forest's output times the index on the valuation day.
//! - **Tuning**: a grid over the leaf size and the features tried at each split, scored by the
//!   mean absolute percentage error of five-fold cross-validation on the training sales alone
//!   (folds shuffled from a fixed seed); the best is refitted on all of them.
//!
//! The forest works in `f64`, as every such learner does; its estimate becomes an exact
//! decimal, rounded to the dollar, before anything else sees it.

use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use utoipa::ToSchema;

use crate::auth::Actor;
use crate::comps::{Facts, Sold};
use crate::db::{Db, Query, Tx};
use crate::error::{Error, Result};
use crate::types::{Money, now_ms, rfc3339};

/// The forest's type.
pub type Forest = RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// What the model is.
pub const KIND: &str = "random_forest";
/// The features, in order.
pub const FEATURES: [&str; 5] = [
    "living_area_sqft",
    "bedrooms",
    "bathrooms",
    "year_built",
    "lot_size_sqft",
];
/// Fewest sales a model is trained on.
pub const MIN_SALES: usize = 50;
/// Most sales a model is trained on (the latest).
pub const MAX_SALES: usize = 10_000;
/// Most bytes of JSON a stored model inflates to.
pub const MAX_STORED_JSON: u64 = 512 * 1024 * 1024;
/// Cross-validation folds.
pub const FOLDS: usize = 5;
/// Trees in each forest.
pub const TREES: usize = 100;
/// The seed of the folds and the forests: the same sales give the same model.
pub const SEED: u64 = 0x5eed_2013;
/// The grid: leaf sizes.
const LEAVES: [usize; 4] = [1, 3, 5, 10];
/// The grid: features tried at each split.
const SPLIT_FEATURES: [usize; 3] = [2, 3, 5];

/// A model's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Params {
    /// Trees in the forest.
    pub trees: usize,
    /// Fewest sales in a leaf.
    pub min_samples_leaf: usize,
    /// Features tried at each split.
    pub features_per_split: usize,
}

/// One setting the cross-validation tried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tried {
    /// The settings.
    pub params: Params,
    /// Its cross-validated mean absolute percentage error (percent).
    pub cv_mape_percent: String,
}

/// How a model was trained and how well it did on the sales it was trained on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Metrics {
    /// The sales it learned from.
    pub sales: u64,
    /// The first sale's day.
    pub first_sale: String,
    /// The last sale's day: the model values days after it only.
    pub last_sale: String,
    /// Cross-validation folds.
    pub folds: u32,
    /// The chosen settings' cross-validated mean absolute percentage error (percent).
    pub cv_mape_percent: String,
    /// The chosen settings' cross-validated median absolute error.
    pub cv_median_abs_error: Money,
    /// Every setting tried, in the grid's order.
    pub grid: Vec<Tried>,
    /// Time spent training, tuning included (milliseconds).
    pub training_ms: u64,
}

/// A trained model.
#[derive(Serialize, Deserialize)]
pub struct Model {
    /// Its settings.
    pub params: Params,
    /// The forest.
    pub forest: Forest,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn opt(v: Option<i64>) -> f64 {
    v.map_or(-1.0, |v| v as f64)
}

fn row(
    area: i64,
    beds: Option<i64>,
    baths: Option<i64>,
    year: Option<i64>,
    lot: Option<i64>,
) -> [f64; 5] {
    [area as f64, opt(beds), opt(baths), opt(year), opt(lot)]
}

/// A sale's features.
pub fn features(s: &Sold) -> [f64; 5] {
    row(s.area, s.bedrooms, s.baths_tenths, s.year_built, s.lot)
}

/// A subject's features.
pub fn subject_features(f: &Facts) -> [f64; 5] {
    row(f.area, f.bedrooms, f.baths_tenths, f.year_built, f.lot)
}

fn matrix(rows: &[[f64; 5]]) -> std::result::Result<DenseMatrix<f64>, String> {
    DenseMatrix::new(
        rows.len(),
        5,
        rows.iter().flatten().copied().collect(),
        false,
    )
    .map_err(|e| e.to_string())
}

fn fit(rows: &[[f64; 5]], y: &[f64], p: Params) -> std::result::Result<Forest, String> {
    Forest::fit(
        &matrix(rows)?,
        &y.to_vec(),
        RandomForestRegressorParameters::default()
            .with_n_trees(p.trees)
            .with_min_samples_leaf(p.min_samples_leaf)
            .with_m(p.features_per_split)
            .with_seed(SEED),
    )
    .map_err(|e| e.to_string())
}

fn predict(forest: &Forest, rows: &[[f64; 5]]) -> std::result::Result<Vec<f64>, String> {
    forest.predict(&matrix(rows)?).map_err(|e| e.to_string())
}

/// A deterministic shuffle (SplitMix64 driving Fisher–Yates).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = usize::try_from(next() % (i as u64 + 1)).unwrap_or(0);
        v.swap(i, j);
    }
    v
}

fn percent(v: f64) -> String {
    Decimal::from_f64(v * 100.0)
        .map(|d| d.round_dp(2).to_string())
        .unwrap_or_default()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Why a model was not trained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrainError {
    /// The area has fewer than [`MIN_SALES`] sales to learn from (the caller's to fix).
    TooFewSales(String),
    /// The learner failed (a fault, not the caller's).
    Failed(String),
}

impl From<String> for TrainError {
    fn from(e: String) -> Self {
        TrainError::Failed(e)
    }
}

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainError::TooFewSales(s) | TrainError::Failed(s) => f.write_str(s),
        }
    }
}

/// Trains a model on `sales` (the latest [`MAX_SALES`] with a living area): the grid scored by
/// cross-validation, the best refitted on them all.
pub fn train(sales: &[Sold]) -> std::result::Result<(Model, Metrics), TrainError> {
    let started = Instant::now();
    let mut sales: Vec<&Sold> = sales.iter().filter(|s| s.area > 0).collect();
    sales.sort_by(|a, b| a.sale_date.cmp(&b.sale_date).then(a.id.cmp(&b.id)));
    if sales.len() > MAX_SALES {
        sales.drain(..sales.len() - MAX_SALES);
    }
    if sales.len() < MIN_SALES {
        return Err(TrainError::TooFewSales(format!(
            "the area has {} sales with a living area; a model needs at least {MIN_SALES}",
            sales.len()
        )));
    }
    let owned: Vec<Sold> = sales.iter().map(|s| (*s).clone()).collect();
    let index = crate::comps::index(&owned);
    let level = |s: &Sold| -> f64 {
        crate::comps::index_on(&index, s.sale_date)
            .and_then(|d| d.to_f64())
            .unwrap_or(0.0)
    };
    let rows: Vec<[f64; 5]> = owned.iter().map(features).collect();
    let levels: Vec<f64> = owned.iter().map(level).collect();
    let prices: Vec<f64> = owned
        .iter()
        .map(|s| s.price.to_f64().unwrap_or(0.0))
        .collect();
    let target: Vec<f64> = prices
        .iter()
        .zip(&levels)
        .map(|(p, l)| if *l > 0.0 { p / l } else { 0.0 })
        .collect();
    let order = shuffled(owned.len(), SEED);
    let fold_of: Vec<usize> = {
        let mut f = vec![0; owned.len()];
        for (k, &i) in order.iter().enumerate() {
            f[i] = k % FOLDS;
        }
        f
    };
    let mut grid = Vec::new();
    let mut best: Option<(f64, f64, Params)> = None;
    for leaf in LEAVES {
        for m in SPLIT_FEATURES {
            let p = Params {
                trees: TREES,
                min_samples_leaf: leaf,
                features_per_split: m,
            };
            let (mut pct, mut abs) = (Vec::new(), Vec::new());
            for k in 0..FOLDS {
                let (mut tr, mut ty, mut te) = (Vec::new(), Vec::new(), Vec::new());
                for i in 0..owned.len() {
                    if fold_of[i] == k {
                        te.push(i);
                    } else {
                        tr.push(rows[i]);
                        ty.push(target[i]);
                    }
                }
                let forest = fit(&tr, &ty, p)?;
                let te_rows: Vec<[f64; 5]> = te.iter().map(|&i| rows[i]).collect();
                for (&i, est) in te.iter().zip(predict(&forest, &te_rows)?) {
                    let err = (est * levels[i] - prices[i]).abs();
                    pct.push(err / prices[i]);
                    abs.push(err);
                }
            }
            let mape = pct.iter().sum::<f64>() / pct.len() as f64;
            grid.push(Tried {
                params: p,
                cv_mape_percent: percent(mape),
            });
            if best.is_none_or(|(b, _, _)| mape < b) {
                best = Some((mape, median(abs), p));
            }
        }
    }
    let (mape, mae, params) = best.ok_or_else(|| "no setting was tried".to_owned())?;
    let forest = fit(&rows, &target, params)?;
    let day = |s: &Sold| s.sale_date.format("%Y-%m-%d").to_string();
    let metrics = Metrics {
        sales: owned.len() as u64,
        first_sale: owned.first().map(day).unwrap_or_default(),
        last_sale: owned.last().map(day).unwrap_or_default(),
        folds: FOLDS as u32,
        cv_mape_percent: percent(mape),
        cv_median_abs_error: Money {
            amount: Decimal::from_f64(mae)
                .map(|d| d.round_dp(0).to_string())
                .unwrap_or_default(),
            currency: "USD".to_owned(),
        },
        grid,
        training_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    Ok((Model { params, forest }, metrics))
}

impl Model {
    /// The model's estimate for `f` when the market's price per square foot is `level`, to the
    /// dollar; `None` when the forest cannot say.
    pub fn estimate(&self, f: &Facts, level: Decimal) -> Option<Decimal> {
        let out = predict(&self.forest, &[subject_features(f)]).ok()?;
        let v = Decimal::from_f64(*out.first()?)?;
        let v = (v * level).round_dp(0);
        (v > Decimal::ZERO).then_some(v)
    }

    /// The model as stored: its JSON, gzip-compressed (a forest's JSON repeats itself, and
    /// compresses several times over).
    pub fn to_bytes(&self) -> std::result::Result<Vec<u8>, String> {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        serde_json::to_writer(&mut z, self).map_err(|e| e.to_string())?;
        z.flush().map_err(|e| e.to_string())?;
        z.finish().map_err(|e| e.to_string())
    }

    /// A stored model (at most [`MAX_STORED_JSON`] bytes of JSON once inflated).
    pub fn from_bytes(b: &[u8]) -> std::result::Result<Model, String> {
        use std::io::Read;
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(b)
            .take(MAX_STORED_JSON + 1)
            .read_to_end(&mut json)
            .map_err(|e| e.to_string())?;
        if json.len() as u64 > MAX_STORED_JSON {
            return Err("a stored model larger than any the API writes".to_owned());
        }
        serde_json::from_slice(&json).map_err(|e| e.to_string())
    }
}

/// The valuation day's bound: a model values only days after its last sale.
pub fn usable_on(last_sale: NaiveDate, day: NaiveDate) -> bool {
    last_sale < day
}

crate::types::typed_id!(
    /// A stored model's id.
    ModelId,
    "valuation model"
);

/// A stored model, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModelInfo {
    /// Its id.
    pub id: ModelId,
    /// The area's city.
    pub city: String,
    /// The area's region.
    pub region: String,
    /// Its version in the area: 1, 2, …
    pub version: i64,
    /// `random_forest`.
    pub kind: String,
    /// The features, in order.
    pub features: Vec<String>,
    /// Only sales before this day were learned from, when asked.
    pub trained_before: Option<String>,
    /// The settings cross-validation chose.
    pub params: Params,
    /// How it was trained and how well it did.
    pub metrics: Metrics,
    /// Who trained it.
    pub trained_by: String,
    /// When (RFC 3339).
    pub trained_at: String,
}

/// What to train a model on.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainRequest {
    /// The area's city.
    pub city: String,
    /// The area's region.
    pub region: String,
    /// Learn only from sales before this day (`YYYY-MM-DD`); default every sale.
    pub before: Option<String>,
}

/// The model's estimate next to the comps'.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Estimate {
    /// The model.
    pub model_id: ModelId,
    /// Its version.
    pub version: i64,
    /// Its last sale's day.
    pub last_sale: String,
    /// The estimate, to the dollar.
    pub value: Money,
}

/// Most models [`list`] returns.
pub const LIST_MAX: i64 = 100;

/// Stores a trained model as the area's next version.
pub async fn store(
    tx: &mut Tx,
    actor: &Actor,
    req: &TrainRequest,
    model: &Model,
    metrics: &Metrics,
) -> Result<ModelInfo> {
    let key = crate::sales::area_key(&req.city, &req.region);
    let version: i64 = Query::new(
        "SELECT COALESCE(MAX(version), 0) + 1 AS v FROM api_valuation_models WHERE area_key = $1",
    )
    .bind(key.clone())
    .fetch_one(tx.exec())
    .await?
    .get("v")?;
    let now = now_ms();
    let info = ModelInfo {
        id: ModelId::new(),
        city: req.city.clone(),
        region: req.region.clone(),
        version,
        kind: KIND.to_owned(),
        features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
        trained_before: req.before.clone(),
        params: model.params,
        metrics: metrics.clone(),
        trained_by: actor.reference(),
        trained_at: rfc3339(now),
    };
    let doc = serde_json::to_string(&info)
        .map_err(|e| Error::Internal(format!("rendering a model: {e}")))?;
    let body = model.to_bytes().map_err(Error::Internal)?;
    Query::new(
        "INSERT INTO api_valuation_models (id, area_key, version, last_sale, created_at, doc, model) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(info.id.to_string())
    .bind(key)
    .bind(version)
    .bind(metrics.last_sale.clone())
    .bind(now)
    .bind(doc)
    .bind(body)
    .execute(tx.exec())
    .await?;
    Ok(info)
}

fn parse(doc: &str) -> Result<ModelInfo> {
    serde_json::from_str(doc).map_err(|_| Error::Corrupt("a stored valuation model".to_owned()))
}

/// The area's models, the latest first.
pub async fn list(db: &Db, city: &str, region: &str) -> Result<Vec<ModelInfo>> {
    Query::new(
        "SELECT doc FROM api_valuation_models WHERE area_key = $1 ORDER BY version DESC LIMIT $2",
    )
    .bind(crate::sales::area_key(city, region))
    .bind(LIST_MAX)
    .fetch_all(db.reader())
    .await?
    .iter()
    .map(|r| parse(&r.get::<String>("doc")?))
    .collect()
}

/// Trained models kept in memory, by id (a stored model never changes).
#[derive(Debug, Default)]
pub struct ModelCache {
    models: std::sync::Mutex<Vec<(ModelId, Arc<Model>)>>,
}

/// Most models the cache holds.
const CACHE_MAX: usize = 8;

impl ModelCache {
    fn get(&self, id: ModelId) -> Option<Arc<Model>> {
        let m = self
            .models
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.iter().find(|(k, _)| *k == id).map(|(_, v)| v.clone())
    }

    fn put(&self, id: ModelId, model: Arc<Model>) {
        let mut m = self
            .models
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() >= CACHE_MAX {
            m.remove(0);
        }
        m.push((id, model));
    }
}

/// The area's latest model that learned only from sales before `day`, loaded.
pub async fn usable(
    db: &Db,
    cache: &ModelCache,
    city: &str,
    region: &str,
    day: NaiveDate,
) -> Result<Option<(ModelInfo, Arc<Model>)>> {
    let Some(row) = Query::new(
        "SELECT id, doc FROM api_valuation_models WHERE area_key = $1 AND last_sale < $2 \
         ORDER BY version DESC LIMIT 1",
    )
    .bind(crate::sales::area_key(city, region))
    .bind(day.format("%Y-%m-%d").to_string())
    .fetch_optional(db.reader())
    .await?
    else {
        return Ok(None);
    };
    let info = parse(&row.get::<String>("doc")?)?;
    if let Some(m) = cache.get(info.id) {
        return Ok(Some((info, m)));
    }
    let body: Vec<u8> = Query::new("SELECT model FROM api_valuation_models WHERE id = $1")
        .bind(info.id.to_string())
        .fetch_one(db.reader())
        .await?
        .get("model")?;
    let model = tokio::task::spawn_blocking(move || Model::from_bytes(&body))
        .await
        .map_err(|e| Error::Internal(format!("loading a model: {e}")))?
        .map_err(|_| Error::Corrupt("a stored valuation model".to_owned()))?;
    let model = Arc::new(model);
    cache.put(info.id, model.clone());
    Ok(Some((info, model)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market(n: i64) -> Vec<Sold> {
        (0..n)
            .map(|i| {
                let area = 900 + (i * 37) % 1600;
                let beds = 2 + i % 3;
                Sold {
                    id: format!("{i:04}"),
                    address: String::new(),
                    sale_date: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()
                        + chrono::Days::new(u64::try_from(i * 3).unwrap()),
                    price: Decimal::from(20_000 + 100 * area + 7_000 * beds),
                    area,
                    lot: None,
                    bedrooms: Some(beds),
                    baths_tenths: Some(10 + 5 * (i % 3)),
                    year_built: Some(1950 + i % 60),
                    location: None,
                }
            })
            .collect()
    }

    #[test]
    fn the_same_sales_give_the_same_model_and_it_learns_them() {
        let sales = market(200);
        let (a, ma) = train(&sales).unwrap();
        let (b, mb) = train(&sales).unwrap();
        assert_eq!(a.params, b.params);
        assert_eq!(ma.cv_mape_percent, mb.cv_mape_percent);
        assert_eq!(ma.grid.len(), LEAVES.len() * SPLIT_FEATURES.len());
        assert_eq!((ma.sales, ma.first_sale.as_str()), (200, "2020-01-01"));
        // A smooth market: cross-validated error within a few percent.
        let cv: Decimal = ma.cv_mape_percent.parse().unwrap();
        assert!(cv < Decimal::from(10), "{cv}");
        let back = Model::from_bytes(&a.to_bytes().unwrap()).unwrap();
        let f = Facts {
            area: 1500,
            bedrooms: Some(3),
            baths_tenths: Some(15),
            year_built: Some(1990),
            lot: None,
            location: None,
            as_of: "2022-01-01".parse().unwrap(),
        };
        let level = Decimal::from(100);
        assert_eq!(a.estimate(&f, level), back.estimate(&f, level));
        assert!(a.estimate(&f, level).is_some());
    }

    #[test]
    fn too_few_sales_are_refused() {
        let e = train(&market(20)).unwrap_err();
        assert!(
            matches!(&e, TrainError::TooFewSales(m) if m.contains("at least 50")),
            "{e}"
        );
    }

    #[test]
    fn the_shuffle_is_a_permutation() {
        let mut v = shuffled(100, 7);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
