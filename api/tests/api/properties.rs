//! Properties through the router: the happy path, validation, not-found, hostile input, and
//! every search filter.

use axum::http::StatusCode;
use propledger_api::db::Engine;
use serde_json::{Value, json};

use crate::support::{TestApp, both_engines, property_body};

both_engines!(
    create_get_update,
    validation_names_each_field,
    hostile_input_is_4xx,
    search_filters,
    radius_and_bbox,
    pages_with_cursors,
    geographic_pages,
);

async fn create_get_update(engine: Engine) {
    let app = TestApp::new(engine).await;
    let key = app.key("operator").await;
    let created = app
        .post("/v1/properties")
        .token(&key)
        .json(&property_body(
            "Chicago",
            41.9288,
            -87.6605,
            "450000.00",
            1850,
        ))
        .send()
        .await;
    let p = created.expect(StatusCode::CREATED).json();
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.headers["location"].to_str().unwrap(),
        format!("/v1/properties/{id}")
    );
    assert_eq!(
        p["list_price"],
        json!({"amount": "450000.00", "currency": "USD"})
    );
    assert_eq!(p["bathrooms"], "2.5");
    assert_eq!(p["version"], 1);
    assert_eq!(p["address"]["city"], "Chicago");
    assert_eq!(p["market_data"]["comps"], 4);

    let got = app
        .get(&format!("/v1/properties/{id}"))
        .token(&key)
        .send()
        .await;
    assert_eq!(got.expect(StatusCode::OK).json(), p);
    assert_eq!(got.headers["etag"], "\"1\"");

    // A change at the right version applies; null clears; absent fields stay.
    let changed = app
        .patch(&format!("/v1/properties/{id}"))
        .token(&key)
        .header("if-match", "\"1\"")
        .json(&json!({"status": "under_contract", "arv": {"amount": "610000", "currency": "USD"}, "valuation_date": "2026-11-30", "mls_number": null}))
        .send()
        .await;
    let c = changed.expect(StatusCode::OK).json();
    assert_eq!(c["status"], "under_contract");
    assert_eq!(c["arv"]["amount"], "610000.00");
    assert_eq!(c["valuation_date"], "2026-11-30");
    assert!(c.get("mls_number").is_none());
    assert_eq!(c["square_feet"], 1850);
    assert_eq!(c["version"], 2);

    // A change based on the old version is refused, and changes nothing.
    let stale = app
        .patch(&format!("/v1/properties/{id}"))
        .token(&key)
        .header("if-match", "\"1\"")
        .json(&json!({"status": "sold"}))
        .send()
        .await;
    let prob = stale.problem(StatusCode::PRECONDITION_FAILED, "precondition-failed", None);
    assert_eq!(prob["current_version"], 2);
    let again = app
        .get(&format!("/v1/properties/{id}"))
        .token(&key)
        .send()
        .await;
    // The read after the change is the changed property (on SQLite, the first read was kept in
    // the process's cache, which the change's commit invalidated).
    assert_eq!(again.headers["etag"], "\"2\"");
    assert_eq!(again.json()["status"], "under_contract");
    // A commit by another process on the same database (here, a pool of its own) is seen at
    // once too: the cache watches the database's WAL index, not only this process's writes.
    let other = propledger_api::db::Db::connect(&app.url).await.unwrap();
    let mut tx = other.begin().await.unwrap();
    propledger_api::db::Query::new(
        "UPDATE api_properties SET doc = replace(doc, 'under_contract', 'sold') WHERE id = $1",
    )
    .bind(id.clone())
    .execute(tx.exec())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let seen = app
        .get(&format!("/v1/properties/{id}"))
        .token(&key)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(seen["status"], "sold");

    // Unknown ids, well-formed or not, are not found.
    for missing in [
        "/v1/properties/0190a000-0000-7000-8000-000000000000",
        "/v1/properties/not-an-id",
    ] {
        app.get(missing)
            .token(&key)
            .send()
            .await
            .problem(StatusCode::NOT_FOUND, "not-found", None);
    }
    app.patch("/v1/properties/0190a000-0000-7000-8000-000000000000")
        .token(&key)
        .json(&json!({"status": "sold"}))
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
}

async fn validation_names_each_field(engine: Engine) {
    let app = TestApp::new(engine).await;
    let key = app.key("operator").await;
    let base = property_body("Chicago", 41.9, -87.6, "450000.00", 1850);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"address": {"line1": ""}}), "/address/line1"),
        (json!({"address": {"city": "   "}}), "/address/city"),
        (
            json!({"address": {"postal_code": "606<14"}}),
            "/address/postal_code",
        ),
        (json!({"address": {"country": "usa"}}), "/address/country"),
        (
            json!({"list_price": {"amount": "450000.001", "currency": "USD"}}),
            "/list_price/amount",
        ),
        (
            json!({"list_price": {"amount": "-5", "currency": "USD"}}),
            "/list_price/amount",
        ),
        (
            json!({"list_price": {"amount": "abc", "currency": "USD"}}),
            "/list_price/amount",
        ),
        (
            json!({"list_price": {"amount": "10", "currency": "XXX"}}),
            "/list_price/currency",
        ),
        (
            json!({"arv": {"amount": "10", "currency": "EUR"}}),
            "/arv/currency",
        ),
        (json!({"square_feet": 0}), "/square_feet"),
        (json!({"bedrooms": 5000}), "/bedrooms"),
        (json!({"bathrooms": "2.25"}), "/bathrooms"),
        (json!({"year_built": 1200}), "/year_built"),
        (
            json!({"location": {"latitude": 91.0, "longitude": 0.0}}),
            "/location/latitude",
        ),
        (
            json!({"location": {"latitude": 0.0, "longitude": -181.0}}),
            "/location/longitude",
        ),
        (json!({"market_data": [1, 2]}), "/market_data"),
        (json!({"mls_number": "MLS 1<2>"}), "/mls_number"),
        (
            json!({"valuation_date": "2026-13-01", "arv": {"amount": "1", "currency": "USD"}}),
            "/valuation_date",
        ),
    ];
    for (change, field) in cases {
        let mut body = base.clone();
        merge(&mut body, &change);
        let r = app
            .post("/v1/properties")
            .token(&key)
            .json(&body)
            .send()
            .await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some(field));
    }
    // Several bad fields are reported together.
    let mut body = base.clone();
    merge(
        &mut body,
        &json!({"square_feet": -1, "address": {"country": "x"}}),
    );
    let p = app
        .post("/v1/properties")
        .token(&key)
        .json(&body)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/square_feet"),
        );
    assert!(p["errors"].as_array().unwrap().len() >= 2, "{p}");
    // Nothing was created by any of them.
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_properties").await,
        0
    );
}

async fn hostile_input_is_4xx(engine: Engine) {
    let app = TestApp::new(engine).await;
    let key = app.key("operator").await;
    let base = property_body("Chicago", 41.9, -87.6, "450000.00", 1850);
    // Malformed JSON.
    app.post("/v1/properties")
        .token(&key)
        .raw("application/json", "{\"address\": ")
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "malformed-request", None);
    // Not JSON at all.
    app.post("/v1/properties")
        .token(&key)
        .raw("text/plain", "hello")
        .send()
        .await
        .problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            None,
        );
    // Wrong types, huge numbers, unknown fields, money as a float.
    let typed: Vec<(Value, &str)> = vec![
        (json!({"square_feet": "big"}), "/square_feet"),
        (json!({"bedrooms": 1e300}), "/bedrooms"),
        (json!({"property_type": "castle"}), "/property_type"),
        (
            json!({"list_price": {"amount": 450000.5, "currency": "USD"}}),
            "/list_price/amount",
        ),
        (
            json!({"list_price": {"amount": "1e30", "currency": "USD"}}),
            "/list_price/amount",
        ),
        (
            json!({"list_price": {"amount": "99999999999999999999999", "currency": "USD"}}),
            "/list_price/amount",
        ),
        (
            json!({"location": {"latitude": "north", "longitude": 0}}),
            "/location/latitude",
        ),
        (json!({"surprise": true}), "/"),
    ];
    for (change, field) in typed {
        let mut body = base.clone();
        merge(&mut body, &change);
        let r = app
            .post("/v1/properties")
            .token(&key)
            .json(&body)
            .send()
            .await;
        assert!(r.status.is_client_error(), "{change}: {}", r.status);
        r.problem(
            r.status,
            if r.status == StatusCode::BAD_REQUEST {
                "malformed-request"
            } else {
                "validation"
            },
            None,
        );
        if r.status == StatusCode::UNPROCESSABLE_ENTITY && field != "/" {
            r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some(field));
        }
    }
    // Integers past 64 bits.
    let body = base.to_string().replace(
        "\"square_feet\":1850",
        "\"square_feet\":99999999999999999999999",
    );
    assert!(body.contains("99999999999999999999999"));
    app.post("/v1/properties")
        .token(&key)
        .raw("application/json", body)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/square_feet"),
        );
    // A body over the limit.
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    app.post("/v1/properties")
        .token(&key)
        .raw("application/json", huge)
        .send()
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", None);
    // Bad search parameters are 400s naming the parameter.
    for (q, param) in [
        ("near=91,0&radius_m=10", "near"),
        ("near=abc&radius_m=10", "near"),
        ("near=41,-87&radius_m=0", "radius_m"),
        ("near=41,-87&radius_m=9999999999", "radius_m"),
        ("near=41,-87", "radius_m"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=-87,42,-86,41", "bbox"),
        ("bbox=nan,1,2,3", "bbox"),
        ("min_price=-1", "min_price"),
        ("min_price=10&max_price=5", "min_price"),
        ("min_sqft=abc", "min_sqft"),
        ("status=gone", "status"),
        ("property_type=castle", "property_type"),
        ("currency=ZZZ", "currency"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("limit=x", "limit"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("cursor=%%%", "cursor"),
    ] {
        app.get(&format!("/v1/properties?{q}"))
            .token(&key)
            .send()
            .await
            .problem(StatusCode::BAD_REQUEST, "validation", Some(param));
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_properties").await,
        0
    );
}

/// Deep-merges `change` into `into`.
fn merge(into: &mut Value, change: &Value) {
    match (into, change) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

async fn create(app: &TestApp, key: &str, body: Value) -> String {
    let r = app
        .post("/v1/properties")
        .token(key)
        .json(&body)
        .send()
        .await;
    r.expect(StatusCode::CREATED).json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn ids(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let r = app
        .get(&format!("/v1/properties?{query}"))
        .token(key)
        .send()
        .await;
    r.expect(StatusCode::OK).json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn search_filters(engine: Engine) {
    let app = TestApp::new(engine).await;
    let key = app.key("operator").await;
    let mut a = property_body("Chicago", 41.9, -87.6, "300000.00", 1200);
    a["status"] = json!("owned");
    let mut b = property_body("Chicago", 41.8, -87.7, "550000.00", 2400);
    b["property_type"] = json!("multi_family");
    b["address"]["postal_code"] = json!("60622");
    let mut c = property_body("Evanston", 42.04, -87.68, "725000.00", 3100);
    c["address"]["postal_code"] = json!("60201");
    let mut d = property_body("Toronto", 43.65, -79.38, "900000.00", 2000);
    d["list_price"] = json!({"amount": "900000.00", "currency": "CAD"});
    d["address"]["country"] = json!("CA");
    d["address"]["postal_code"] = json!("M5V 2T6");
    let (a, b, c, d) = (
        create(&app, &key, a).await,
        create(&app, &key, b).await,
        create(&app, &key, c).await,
        create(&app, &key, d).await,
    );
    assert_eq!(
        ids(&app, &key, "").await,
        vec![a.clone(), b.clone(), c.clone(), d.clone()]
    );
    assert_eq!(ids(&app, &key, "status=owned").await, vec![a.clone()]);
    assert_eq!(
        ids(&app, &key, "property_type=multi_family").await,
        vec![b.clone()]
    );
    assert_eq!(
        ids(&app, &key, "city=CHICAGO").await,
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        ids(&app, &key, "postal_code=m5v-2t6").await,
        vec![d.clone()]
    );
    assert_eq!(
        ids(&app, &key, "min_price=400000&max_price=725000").await,
        vec![b.clone(), c.clone()]
    );
    assert_eq!(
        ids(&app, &key, "min_price=400000&currency=CAD").await,
        vec![d.clone()]
    );
    assert_eq!(
        ids(&app, &key, "min_sqft=2000&max_sqft=2400").await,
        vec![b.clone(), d.clone()]
    );
    assert_eq!(
        ids(&app, &key, "city=chicago&min_sqft=2000").await,
        vec![b.clone()]
    );
    assert!(ids(&app, &key, "city=nowhere").await.is_empty());
}

async fn radius_and_bbox(engine: Engine) {
    let app = TestApp::new(engine).await;
    let key = app.key("operator").await;
    // Points due north of a centre at known distances (1 degree of latitude ~ 111.2 km).
    let center = (41.0, -87.0);
    let mut made = Vec::new();
    for km in [0.5f64, 5.0, 20.0, 60.0] {
        let lat = center.0 + km / 111.195;
        made.push(
            create(
                &app,
                &key,
                property_body("Testville", lat, center.1, "100000.00", 1000),
            )
            .await,
        );
    }
    let mut far_east = property_body("Fiji", -17.7, 179.9, "100000.00", 1000);
    far_east["address"]["country"] = json!("FJ");
    let fiji = create(&app, &key, far_east).await;
    let mut far_west = property_body("Samoa", -13.8, -179.9, "100000.00", 1000);
    far_west["address"]["country"] = json!("WS");
    let samoa = create(&app, &key, far_west).await;

    let near = |r: u32| format!("near={},{}&radius_m={r}", center.0, center.1);
    assert_eq!(ids(&app, &key, &near(1_000)).await, made[..1].to_vec());
    assert_eq!(ids(&app, &key, &near(25_000)).await, made[..3].to_vec());
    assert_eq!(ids(&app, &key, &near(100_000)).await, made[..4].to_vec());
    let r = app
        .get(&format!("/v1/properties?{}", near(25_000)))
        .token(&key)
        .send()
        .await;
    let items = r.json()["items"].as_array().unwrap().clone();
    let d: Vec<u64> = items
        .iter()
        .map(|p| p["distance_m"].as_u64().unwrap())
        .collect();
    assert!(
        (490..=510).contains(&d[0])
            && (4_950..=5_050).contains(&d[1])
            && (19_900..=20_100).contains(&d[2]),
        "{d:?}"
    );
    // A radius across the antimeridian finds both sides.
    assert_eq!(
        ids(&app, &key, "near=-15.5,180&radius_m=400000").await,
        vec![fiji.clone(), samoa.clone()]
    );
    // Bounding boxes, including one across the antimeridian (west > east).
    assert_eq!(
        ids(&app, &key, "bbox=-87.1,40.9,-86.9,41.2").await,
        made[..3].to_vec()
    );
    assert_eq!(
        ids(&app, &key, "bbox=179,-20,-179,-10").await,
        vec![fiji, samoa]
    );
    // Combined with another filter.
    assert!(
        ids(&app, &key, &format!("{}&status=sold", near(100_000)))
            .await
            .is_empty()
    );
}

/// Geographic searches paged through, where matches are dense in creation order and where
/// they are sparse (a few rows among many others): every page in order, nothing skipped or
/// repeated, against the matches worked out here.
async fn geographic_pages(engine: Engine) {
    let app = TestApp::new(engine).await;
    let key = app.key("operator").await;
    // One in seven properties is in Springfield (about 39.8, -89.6), the rest in Chicago; the
    // Springfield ones alternate between 1 km and 40 km from the centre.
    let mut near_1km = Vec::new();
    let mut springfield = Vec::new();
    for i in 0..70 {
        let (lat, city) = if i % 7 == 3 {
            let km = if springfield.len() % 2 == 0 {
                1.0
            } else {
                40.0
            };
            (39.8 + km / 111.195, "Springfield")
        } else {
            (41.9 + f64::from(i) * 0.0001, "Chicago")
        };
        let lon = if city == "Springfield" { -89.6 } else { -87.6 };
        let id = create(&app, &key, property_body(city, lat, lon, "100000.00", 1000)).await;
        if city == "Springfield" {
            if springfield.len() % 2 == 0 {
                near_1km.push(id.clone());
            }
            springfield.push(id);
        }
    }
    let all_pages = |query: String| {
        let app = &app;
        let key = &key;
        async move {
            let mut out = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let q = match &cursor {
                    Some(c) => format!("{query}&cursor={c}"),
                    None => query.clone(),
                };
                let page = app
                    .get(&format!("/v1/properties?{q}"))
                    .token(key)
                    .send()
                    .await
                    .expect(StatusCode::OK)
                    .json();
                for p in page["items"].as_array().unwrap() {
                    out.push(p["id"].as_str().unwrap().to_owned());
                }
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => return out,
                }
            }
        }
    };
    for limit in [1, 2, 3, 50] {
        assert_eq!(
            all_pages(format!("near=39.8,-89.6&radius_m=5000&limit={limit}")).await,
            near_1km,
            "sparse radius, limit {limit}"
        );
        assert_eq!(
            all_pages(format!("bbox=-89.7,39.7,-89.5,40.3&limit={limit}")).await,
            springfield,
            "sparse box, limit {limit}"
        );
        let chicago = all_pages(format!("near=41.9,-87.6&radius_m=20000&limit={limit}")).await;
        assert_eq!(chicago.len(), 60, "dense radius, limit {limit}");
        let mut sorted = chicago.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted, chicago,
            "dense radius in creation order, limit {limit}"
        );
    }
}

async fn pages_with_cursors(engine: Engine) {
    let app = TestApp::new(engine).await;
    let key = app.key("operator").await;
    let mut all = Vec::new();
    for i in 0..7 {
        all.push(
            create(
                &app,
                &key,
                property_body(
                    "Chicago",
                    41.9 + f64::from(i) * 0.001,
                    -87.6,
                    "100000.00",
                    1000,
                ),
            )
            .await,
        );
    }
    // A radius search pages too.
    for query in ["", "near=41.9,-87.6&radius_m=5000&"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = match &cursor {
                Some(c) => format!("{query}limit=3&cursor={c}"),
                None => format!("{query}limit=3"),
            };
            let page = app
                .get(&format!("/v1/properties?{q}"))
                .token(&key)
                .send()
                .await
                .json();
            for p in page["items"].as_array().unwrap() {
                seen.push(p["id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, all, "query {query:?}");
    }
}
