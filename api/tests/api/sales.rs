//! Property sales imported from CSV and RESO JSON, and the market trend they give: literal
//! medians on a small set, and on the real Grinnell, Iowa sales (Stat2Data's GrinnellHouses)
//! against medians computed independently (Python's `decimal`, in `scripts/sales-fixture`'s
//! virtualenv).

use axum::http::StatusCode;
use propledger_api::db::Engine;
use serde_json::{Value, json};

use crate::support::{TestApp, both_engines};

both_engines!(sales_imports_and_trends, comps_on_real_sales);

const GRINNELL: &str = include_str!("../fixtures/grinnell-houses.csv");

fn quarters(t: &Value) -> Vec<(String, u64, String)> {
    t["quarters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["quarter"].as_str().unwrap().to_owned(),
                q["sales"].as_u64().unwrap(),
                q["median_price_per_sqft"]["amount"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

async fn sales_imports_and_trends(engine: Engine) {
    let app = TestApp::new(engine).await;
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;
    let import = |content_type: &'static str, body: Vec<u8>| {
        let (app, op) = (&app, &op);
        async move {
            app.post("/v1/sales/imports")
                .token(op)
                .raw(content_type, body)
                .send()
                .await
        }
    };
    // Three sales in one quarter, one in the next: medians 100.00 (of 80, 100, 125) and 150.00.
    let csv = "address,city,region,sale_date,sale_price,living_area_sqft,bedrooms,bathrooms,year_built\n\
        1 Elm St,Springfield,IL,2026-01-10,120000.00,1500,3,2,1990\n\
        2 Elm St,Springfield,IL,2026-02-10,200000.00,2000,4,2.5,2001\n\
        3 Elm St,Springfield,IL,2026-03-10,250000.00,2000,4,3,2015\n\
        4 Elm St,Springfield,IL,2026-04-10,300000.00,2000,4,3,2018\n";
    let r = import("text/csv", csv.into())
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(
        (
            r["rows"].as_u64(),
            r["inserted"].as_u64(),
            r["duplicates"].as_u64()
        ),
        (Some(4), Some(4), Some(0)),
        "{r}"
    );
    // Again: every sale is a duplicate.
    let r = import("text/csv", csv.into())
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(
        (r["inserted"].as_u64(), r["duplicates"].as_u64()),
        (Some(0), Some(4)),
        "{r}"
    );
    let trend = |city: &'static str, region: &'static str| {
        let (app, auditor) = (&app, &auditor);
        async move {
            app.get(&format!("/v1/market/trends?city={city}&region={region}"))
                .token(auditor)
                .send()
                .await
                .expect(StatusCode::OK)
                .json()
        }
    };
    let t = trend("Springfield", "IL").await;
    assert_eq!(
        quarters(&t),
        [
            ("2026-Q1".into(), 3, "100.00".into()),
            ("2026-Q2".into(), 1, "150.00".into())
        ],
        "{t}"
    );

    // A bad import names each bad row and field, and stores nothing.
    let bad = "address,city,region,sale_date,sale_price\n5 Elm St,Springfield,IL,2026-05-01,99000\n,Springfield,IL,2026-05-32,free\n";
    let p = import("text/csv", bad.into()).await.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/rows/1/address"),
    );
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        ["/rows/1/address", "/rows/1/sale_date", "/rows/1/sale_price"],
        "{p}"
    );
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_sales").await, 4);
    import("text/csv", "address,colour\n".into()).await.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/header"),
    );
    import("text/plain", "x".into()).await.problem(
        StatusCode::BAD_REQUEST,
        "validation",
        Some("content-type"),
    );

    // RESO records.
    let reso = json!({"value": [
        {"UnparsedAddress": "9 Oak Ave", "City": "Springfield", "StateOrProvince": "IL",
         "CloseDate": "2026-04-20", "ClosePrice": 180000, "LivingArea": 1200,
         "BedroomsTotal": 3, "BathroomsTotalDecimal": 1.5, "YearBuilt": 1955,
         "PropertySubType": "SingleFamilyResidence", "Latitude": 39.78, "Longitude": -89.65}
    ]});
    let r = import("application/json", serde_json::to_vec(&reso).unwrap())
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(r["inserted"], 1, "{r}");
    // Q2 now has 150.00 and 150.00: still 150.00.
    assert_eq!(
        quarters(&trend("Springfield", "IL").await)[1],
        ("2026-Q2".into(), 2, "150.00".into())
    );
    let bad = json!({"value": [{"UnparsedAddress": "10 Oak Ave", "City": "Springfield", "StateOrProvince": "IL", "CloseDate": "2026-04-20"}]});
    import("application/json", serde_json::to_vec(&bad).unwrap())
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/rows/0/sale_price"),
        );

    // The real data set: 929 rows, of which 10 repeat a sale (same address, day and price) and
    // are counted as duplicates; 902 of the 919 sales have a living area, in 41 quarters.
    let r = import("text/csv", GRINNELL.into())
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(
        (r["inserted"].as_u64(), r["duplicates"].as_u64()),
        (Some(919), Some(10)),
        "{r}"
    );
    let t = trend("Grinnell", "IA").await;
    let q = quarters(&t);
    assert_eq!(q.len(), 41, "{t}");
    assert_eq!(q.iter().map(|x| x.1).sum::<u64>(), 902);
    for expected in [
        ("2006-Q1", 30, "80.29"),
        ("2008-Q3", 32, "82.67"),
        ("2010-Q2", 22, "79.87"),
        ("2014-Q4", 25, "102.74"),
    ] {
        assert!(
            q.contains(&(expected.0.to_owned(), expected.1, expected.2.to_owned())),
            "{expected:?} in {q:?}"
        );
    }
    // Operators import; auditors read.
    app.post("/v1/sales/imports")
        .token(&auditor)
        .raw("text/csv", csv)
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
}

/// Sales before this day train; those on or after it are valued.
const SPLIT: &str = "2013-01-01";

/// Mean absolute percentage error and median absolute error of estimates against prices.
fn errors(pairs: &[(f64, f64)]) -> (f64, f64) {
    let mape =
        pairs.iter().map(|(e, a)| (e - a).abs() / a).sum::<f64>() / pairs.len() as f64 * 100.0;
    let mut abs: Vec<f64> = pairs.iter().map(|(e, a)| (e - a).abs()).collect();
    abs.sort_by(f64::total_cmp);
    (mape, abs[abs.len() / 2])
}

/// Least squares by the normal equations (Gaussian elimination): the coefficients.
fn least_squares(x: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let k = x[0].len();
    let mut a = vec![vec![0.0; k + 1]; k];
    for (row, yv) in x.iter().zip(y) {
        for i in 0..k {
            for j in 0..k {
                a[i][j] += row[i] * row[j];
            }
            a[i][k] += row[i] * yv;
        }
    }
    for c in 0..k {
        let p = (c..k)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap();
        a.swap(c, p);
        let pivot = a[c].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != c {
                let f = row[c] / pivot[c];
                for (v, p) in row.iter_mut().zip(&pivot).skip(c) {
                    *v -= f * p;
                }
            }
        }
    }
    (0..k).map(|i| a[i][k] / a[i][i]).collect()
}

/// The comps estimate on real sales, split by date, against two baselines: the area's median
/// price per square foot (its last training quarter's) and a plain linear regression.
async fn comps_on_real_sales(engine: Engine) {
    use rust_decimal::prelude::ToPrimitive;
    let app = TestApp::new(engine).await;
    let op = app.key("operator").await;
    app.post("/v1/sales/imports")
        .token(&op)
        .raw("text/csv", GRINNELL)
        .send()
        .await
        .expect(StatusCode::CREATED);
    let sales = propledger_api::sales::area_sales(app.api.db(), "Grinnell", "IA")
        .await
        .unwrap();
    let split: chrono::NaiveDate = SPLIT.parse().unwrap();
    let (train, test): (Vec<_>, Vec<_>) = sales.iter().cloned().partition(|s| s.sale_date < split);
    assert!(
        train.len() > 500 && test.len() > 150,
        "{} {}",
        train.len(),
        test.len()
    );
    let f = |d: rust_decimal::Decimal| d.to_f64().unwrap();
    // The naive baseline: the last training quarter's median price per square foot.
    let index = propledger_api::comps::index(&train);
    let last = f(*index.values().next_back().unwrap());
    // The linear regression on area, bedrooms, bathrooms and age (missing values at the mean).
    let mean = |g: &dyn Fn(&propledger_api::comps::Sold) -> Option<i64>| {
        let v: Vec<i64> = train.iter().filter_map(g).collect();
        v.iter().sum::<i64>() as f64 / v.len() as f64
    };
    let (mb, mt, my) = (
        mean(&|s| s.bedrooms),
        mean(&|s| s.baths_tenths),
        mean(&|s| s.year_built),
    );
    let row = |s: &propledger_api::comps::Sold| {
        vec![
            1.0,
            s.area as f64,
            s.bedrooms.map_or(mb, |v| v as f64),
            s.baths_tenths.map_or(mt, |v| v as f64),
            s.year_built.map_or(my, |v| v as f64),
        ]
    };
    let beta = least_squares(
        &train.iter().map(row).collect::<Vec<_>>(),
        &train.iter().map(|s| f(s.price)).collect::<Vec<_>>(),
    );
    // The learned model, trained through the API on the sales before the split (tuned by
    // cross-validation on them alone), and the same training in the library to value every
    // later sale.
    let trained = app
        .post("/v1/valuations/models")
        .token(&op)
        .json(&json!({"city": "Grinnell", "region": "IA", "before": SPLIT}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    let (model, metrics) = propledger_api::avm::train(&train).unwrap();
    assert_eq!(trained["metrics"]["sales"], train.len() as u64);
    assert_eq!(
        trained["metrics"]["cv_mape_percent"].as_str().unwrap(),
        metrics.cv_mape_percent,
        "the same sales train the same model"
    );
    assert!(trained["metrics"]["last_sale"].as_str().unwrap() < SPLIT);
    assert_eq!(trained["version"], 1);
    assert_eq!(trained["kind"], "random_forest");
    assert_eq!(trained["metrics"]["grid"].as_array().unwrap().len(), 12);
    let level = propledger_api::comps::index_on(&index, split).unwrap();
    let (mut comps, mut naive, mut linear, mut learned) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for s in &test {
        let actual = f(s.price);
        let facts = propledger_api::comps::Facts {
            area: s.area,
            bedrooms: s.bedrooms,
            baths_tenths: s.baths_tenths,
            year_built: s.year_built,
            lot: s.lot,
            location: None,
            as_of: split,
        };
        let v = propledger_api::comps::value(&facts, &train).unwrap();
        // No comp postdates the subject's sale (nor the split).
        assert!(v.comps.iter().all(|c| c.sale_date.as_str() < SPLIT));
        let est = v.arv.amount.parse::<f64>().unwrap();
        comps.push((est, actual));
        learned.push((f(model.estimate(&facts, level).unwrap()), actual));
        naive.push((last * s.area as f64, actual));
        linear.push((
            row(s).iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>(),
            actual,
        ));
    }
    let (c, n, l, m) = (
        errors(&comps),
        errors(&naive),
        errors(&linear),
        errors(&learned),
    );
    println!(
        "valuation on {} later sales, trained on {} before {SPLIT}:",
        test.len(),
        train.len()
    );
    println!(
        "model: {:?}, cross-validated MAPE {}%, trained in {} ms, {} bytes stored",
        model.params,
        metrics.cv_mape_percent,
        metrics.training_ms,
        model.to_bytes().unwrap().len()
    );
    println!("| method | MAPE | median absolute error |");
    println!("|---|---:|---:|");
    for (name, (mape, mae)) in [
        ("comps", c),
        ("model (random forest)", m),
        ("median price per sq ft", n),
        ("linear regression", l),
    ] {
        println!("| {name} | {mape:.1}% | {mae:.0} |");
    }
    // Every method's error is finite and plausible; the comps beat both baselines on both
    // measures.
    for (mape, mae) in [c, m, n, l] {
        assert!(mape.is_finite() && mape > 1.0 && mae > 0.0, "{mape} {mae}");
    }
    // Upgrade scenarios on a 1,200 square foot house with three bedrooms and one bathroom.
    let auditor = app.key("auditor").await;
    let usd = |a: &str| json!({"amount": a, "currency": "USD"});
    let body = json!({
        "subject": {"city": "Grinnell", "region": "IA", "living_area_sqft": 1200, "bedrooms": 3,
                    "bathrooms": 1, "year_built": 1960, "as_of": SPLIT},
        "upgrades": [
            {"kind": "bathroom_added", "cost": usd("15000.00")},
            {"kind": "living_area_added", "square_feet": 300, "cost": usd("45000.00")},
            {"kind": "condition_improved", "cost": usd("10000.00")},
        ]
    });
    let up = app
        .post("/v1/valuations/upgrades")
        .token(&auditor)
        .json(&body)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let money = |v: &Value| v["amount"].as_str().unwrap().parse::<f64>().unwrap();
    let (before, after) = (money(&up["before"]), money(&up["after"]));
    let lines = up["lines"].as_array().unwrap();
    let (bath, area, condition) = (&lines[0], &lines[1], &lines[2]);
    // A bathroom and 300 square feet both add value; together they add more than either.
    assert!(
        money(&bath["value_added"]) > 0.0 && money(&area["value_added"]) > 0.0,
        "{up}"
    );
    assert!(
        after > before + money(&bath["value_added"]).max(money(&area["value_added"])),
        "{up}"
    );
    // The return is (value added - cost) / cost.
    let expected = (money(&bath["value_added"]) - 15000.0) / 15000.0 * 100.0;
    let got: f64 = bath["return_percent"].as_str().unwrap().parse().unwrap();
    assert!((got - expected).abs() < 0.01, "{up}");
    assert_eq!(condition["value_added"], Value::Null, "{up}");
    assert!(
        condition["unavailable"]
            .as_str()
            .unwrap()
            .contains("condition"),
        "{up}"
    );
    let bad =
        json!({"subject": body["subject"], "upgrades": [{"kind": "pool_added", "cost": usd("1")}]});
    app.post("/v1/valuations/upgrades")
        .token(&auditor)
        .json(&bad)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/upgrades/0/kind"),
        );
    // The figures themselves, so a change to the method shows: 113,118 as it is; a bathroom
    // adds 19,092 (27.28% on 15,000), 300 square feet add 23,512 (-47.75% on 45,000); both
    // together make 152,240.
    assert_eq!(
        (
            before,
            money(&bath["value_added"]),
            money(&area["value_added"]),
            after
        ),
        (113_118.0, 19_092.0, 23_512.0, 152_240.0),
        "{up}"
    );
    assert_eq!(area["return_percent"], "-47.75", "{up}");

    // The trend as a chart: a point per quarter, labelled.
    let svg = app
        .get("/v1/market/trends/chart?city=Grinnell&region=IA")
        .token(&auditor)
        .send()
        .await;
    assert_eq!(svg.status, StatusCode::OK);
    assert_eq!(svg.headers["content-type"], "image/svg+xml");
    let svg = String::from_utf8(svg.bytes).unwrap();
    assert!(
        svg.contains("Grinnell, IA: median price per square foot"),
        "{svg}"
    );
    assert_eq!(svg.matches("<circle").count(), 41, "a point per quarter");

    // The comps valuation shows the model's estimate next to its own, from the model that
    // learned only from sales before the day, and says why when there is none.
    let subject = &body["subject"];
    let v = app
        .post("/v1/valuations/comps")
        .token(&auditor)
        .json(subject)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let facts = propledger_api::comps::Facts {
        area: 1200,
        bedrooms: Some(3),
        baths_tenths: Some(10),
        year_built: Some(1960),
        lot: None,
        location: None,
        as_of: split,
    };
    assert_eq!(
        v["model"]["value"]["amount"],
        model.estimate(&facts, level).unwrap().to_string(),
        "{v}"
    );
    assert_eq!(v["model"]["model_id"], trained["id"], "{v}");
    let mut early = subject.clone();
    early["as_of"] = json!("2012-06-01");
    let v = app
        .post("/v1/valuations/comps")
        .token(&auditor)
        .json(&early)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(v["model"], Value::Null, "{v}");
    assert!(
        v["model_unavailable"]
            .as_str()
            .unwrap()
            .contains("before the valuation day"),
        "{v}"
    );
    // Retrained on every sale: version 2, listed first; the auditor reads but cannot train.
    let again = app
        .post("/v1/valuations/models")
        .token(&op)
        .json(&json!({"city": "grinnell", "region": "ia"}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(again["version"], 2);
    assert_eq!(again["metrics"]["sales"], sales.len() as u64);
    let listed = app
        .get("/v1/valuations/models?city=Grinnell&region=IA")
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let versions: Vec<i64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);
    app.post("/v1/valuations/models")
        .token(&auditor)
        .json(&json!({"city": "Grinnell", "region": "IA"}))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    let p = app
        .post("/v1/valuations/models")
        .token(&op)
        .json(&json!({"city": "Nowhere", "region": "IA"}))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "too_few_sales", "{p}");
    app.post("/v1/valuations/models")
        .token(&op)
        .json(&json!({"city": "Grinnell", "region": "IA", "before": "2013-13-01"}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/before"),
        );

    for (name, (mape, mae)) in [("the naive baseline", n), ("the linear regression", l)] {
        assert!(
            c.0 < mape && c.1 < mae,
            "comps {c:?} against {name} {:?}",
            (mape, mae)
        );
        assert!(
            m.0 < mape && m.1 < mae,
            "model {m:?} against {name} {:?}",
            (mape, mae)
        );
    }
}
