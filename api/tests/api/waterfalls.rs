//! A property's distribution waterfall: versions set by operators, validated, kept.

use axum::http::{Method, StatusCode};
use propledger_api::db::Engine;
use serde_json::{Value, json};

use crate::support::{TestApp, both_engines, property_body};

both_engines!(waterfall_versions);

fn put<'a>(
    app: &'a TestApp,
    token: &str,
    property: &str,
    body: &Value,
) -> crate::support::Call<'a> {
    app.call(Method::PUT, &format!("/v1/properties/{property}/waterfall"))
        .token(token)
        .json(body)
}

async fn waterfall_versions(engine: Engine) {
    let app = TestApp::new(engine).await;
    let op = app.key("operator").await;
    let property = app
        .post("/v1/properties")
        .token(&op)
        .json(&property_body("Chicago", 41.9, -87.6, "250000.00", 1400))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/properties/{property}/waterfall");
    app.get(&path)
        .token(&op)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
    // Previews read the books.
    let ledger = propledger_ledger::Ledger::connect(&app.url).await.unwrap();
    app.api.attach_ledger(ledger).unwrap();
    let preview = |body: Value| {
        app.post(&format!("{path}/preview"))
            .token(&op)
            .json(&body)
            .send()
    };
    let usd = |a: &str| json!({"amount": a, "currency": "USD"});
    preview(json!({"amount": usd("100.00")})).await.problem(
        StatusCode::NOT_FOUND,
        "not-found",
        None,
    );

    // Refused, naming the field, and nothing recorded.
    for (body, field) in [
        (json!({"tiers": []}), "/tiers"),
        (
            json!({"tiers": [{"kind": "catch_up", "sponsor_bps": 10000, "promote_bps": 2000}]}),
            "/tiers/0",
        ),
        (
            json!({"tiers": [{"kind": "split", "promote_bps": 10001}]}),
            "/tiers/0/promote_bps",
        ),
        (
            json!({"tiers": [{"kind": "return_of_capital"}, {"kind": "return_of_capital"}]}),
            "/tiers/1",
        ),
        (
            json!({"tiers": [{"kind": "reserve", "target": {"amount": "-1.00", "currency": "USD"}}]}),
            "/tiers/0/target/amount",
        ),
        (
            json!({"tiers": [{"kind": "reserve", "target": {"amount": "10.00", "currency": "EUR"}}]}),
            "/tiers/0/target/currency",
        ),
    ] {
        put(&app, &op, &property, &body).send().await.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some(field),
        );
    }
    put(&app, &op, &property, &json!({"tiers": [{"kind": "bonus"}]}))
        .send()
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_waterfalls").await,
        0
    );

    // Two versions; the first stays.
    let first = json!({"tiers": [
        {"kind": "reserve", "target": {"amount": "5000.00", "currency": "USD"}},
        {"kind": "management_fee", "bps": 500, "basis": "gross_rent"},
        {"kind": "preferred_return", "rate_bps": 800, "accrual": "simple"},
        {"kind": "return_of_capital"},
        {"kind": "catch_up", "sponsor_bps": 10000, "promote_bps": 2000},
        {"kind": "split", "promote_bps": 2000},
    ]});
    let v1 = put(&app, &op, &property, &first)
        .header("idempotency-key", "waterfall-1")
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["tiers"], first["tiers"]);
    // A retry with the same key answers the same version.
    let again = put(&app, &op, &property, &first)
        .header("idempotency-key", "waterfall-1")
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(again, v1);
    let second = json!({"tiers": [
        {"kind": "preferred_return", "rate_bps": 700, "accrual": "compounding"},
        {"kind": "return_of_capital"},
        {"kind": "split", "promote_bps": 3000},
    ]});
    let v2 = put(&app, &op, &property, &second)
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(v2["version"], 2);
    let h = app
        .get(&path)
        .token(&op)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(h["current"], v2);
    assert_eq!(h["versions"], json!([v2, v1]));

    // Previews: every bad field named; with no investors in the books, nothing to pay them.
    for (body, field) in [
        (json!({"amount": usd("0")}), "/amount/amount"),
        (
            json!({"amount": {"amount": "5", "currency": "EUR"}}),
            "/amount/currency",
        ),
        (json!({"amount": usd("5"), "on": "someday"}), "/on"),
        (
            json!({"amount": usd("5"), "gross_rent": usd("-1")}),
            "/gross_rent/amount",
        ),
    ] {
        preview(body)
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some(field));
    }
    let p = preview(json!({"amount": usd("100.00"), "on": "2030-01-01"}))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(p["waterfall_version"], 2, "{p}");
    assert_eq!(p["tiers"][0]["tier"], "preferred_return", "{p}");
    assert_eq!(p["tiers"][0]["amount"]["amount"], "0.00", "{p}");
    // The promote's 30 goes to the sponsor; with nobody to share the other 70, it stays.
    assert_eq!(p["tiers"][2]["amount"]["amount"], "30.00", "{p}");
    assert_eq!(p["tiers"][2]["sponsor"]["amount"], "30.00", "{p}");
    assert_eq!(p["tiers"][2]["investors"]["amount"], "0.00", "{p}");
    assert_eq!(p["undistributed"]["amount"], "70.00", "{p}");
    assert_eq!(p["holders"], json!([]), "{p}");
    // A sponsor wallet must be one.
    put(
        &app,
        &op,
        &property,
        &json!({"tiers": [{"kind": "return_of_capital"}], "sponsor": "0x12"}),
    )
    .send()
    .await
    .problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/sponsor"),
    );

    // Another property's, and no property.
    put(&app, &op, "01a24f73-0000-7000-8000-000000000000", &second)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
}
