//! The books' anomaly checks over real records on the embedded chain: quiet on a clean rehab,
//! then each planted case flagged and explained.

use alloy::primitives::{Address, B256};
use axum::http::StatusCode;
use propledger_api::db::Engine;
use serde_json::{Value, json};

use crate::chainapp::ChainApp;
use crate::rehab::deposit;
use crate::support::both_engines;
use crate::tokenization::{property_with_deed, tokenization_body};

both_engines!(planted_anomalies_are_flagged);

fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

async fn post(w: &ChainApp, token: &str, path: &str, body: Value) -> Value {
    let r = w.app.post(path).token(token).json(&body).send().await;
    assert!(
        r.status.is_success(),
        "{path}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.bytes)
    );
    r.json()
}

async fn planted_anomalies_are_flagged(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    let app = &w.app;
    let op = app.key("operator").await;
    let second = app.key("operator").await;
    let auditor = app.key("auditor").await;
    let (property, document) = property_with_deed(app, &op).await;
    let t = post(
        &w,
        &op,
        &format!("/v1/properties/{property}/tokenization"),
        tokenization_body(&document),
    )
    .await;
    assert_eq!(
        w.settled(&[t["action"].clone()]).await[0]["status"],
        "confirmed"
    );
    w.caught_up().await;
    let t = app
        .get(&format!("/v1/properties/{property}/tokenization"))
        .token(&op)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let treasury: Address = t["contracts"]["treasury"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    w.outbox_idle().await;
    deposit(&w, treasury, 50_000_000_000, B256::ZERO).await;

    let deal = post(
        &w,
        &op,
        "/v1/deals",
        json!({"property_id": property, "strategy": "flip", "purchase_price": usd("150000")}),
    )
    .await;
    let project = post(
        &w,
        &op,
        "/v1/rehab-projects",
        json!({"deal_id": deal["id"]}),
    )
    .await;
    let line = post(
        &w,
        &op,
        &format!(
            "/v1/rehab-projects/{}/lines",
            project["id"].as_str().unwrap()
        ),
        json!({"category": "roof", "budget": usd("10000")}),
    )
    .await;
    let budget: Vec<Value> = line["budget_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| json!({"id": a}))
        .collect();
    w.settled(&budget).await;
    let line = line["id"].as_str().unwrap().to_owned();
    let contractor = |company: &str, wallet: u8| {
        json!({"company": company, "trade": "roofing", "contact_name": "Sam", "email": "sam@example.com",
               "license_number": "L-1", "license_expires_on": "2099-01-01", "insurance_expires_on": "2099-01-01",
               "rating": 4, "payout_wallet": Address::repeat_byte(wallet)})
    };
    let acme =
        post(&w, &op, "/v1/contractors", contractor("Acme Roofing", 0xa1)).await["id"].clone();
    let bid = post(&w, &op, &format!("/v1/rehab-lines/{line}/bids"),
        json!({"contractor_id": acme, "amount": usd("5000"), "scope": "roof", "valid_until": "2099-01-01"})).await;
    post(
        &w,
        &op,
        &format!("/v1/rehab-bids/{}/accept", bid["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    let invoice = w
        .app
        .post(&format!("/v1/properties/{property}/documents"))
        .token(&op)
        .multipart(
            &[("kind", "invoice")],
            Some(("invoice-1.pdf", "application/pdf", b"%PDF invoice 1")),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .clone();
    // A draw requested, approved by another operator, and released.
    let pay = |amount: &'static str| {
        let (w, op, second, line, acme, invoice) = (&w, &op, &second, &line, &acme, &invoice);
        async move {
            let d = post(w, op, &format!("/v1/rehab-lines/{line}/draws"),
                json!({"contractor_id": acme, "amount": usd(amount), "invoice_document_id": invoice})).await;
            let id = d["id"].as_str().unwrap().to_owned();
            post(
                w,
                second,
                &format!("/v1/rehab-draws/{id}/approve"),
                json!({}),
            )
            .await;
            let r = post(w, op, &format!("/v1/rehab-draws/{id}/release"), json!({})).await;
            assert_eq!(
                w.settled(&[json!({"id": r["action_id"]})]).await[0]["status"],
                "confirmed"
            );
            id
        }
    };
    let anomalies = |q: String| {
        let url = format!("/v1/audit/anomalies?property={property}&{q}");
        let (app, auditor) = (app, auditor.clone());
        async move {
            app.get(&url)
                .token(&auditor)
                .send()
                .await
                .expect(StatusCode::OK)
                .json()
        }
    };
    let kinds = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["kind"].as_str().unwrap().to_owned(),
                    a["subject"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    // Clean: 3,000 drawn of a 5,000 bid, around the clock.
    let first = pay("3000").await;
    assert_eq!(
        kinds(&anomalies("hours=0-24".into()).await),
        [],
        "a clean history is quiet"
    );

    // Planted: the same invoice and amount again (6,000 is 20% over the bid), then another
    // contractor registered with acme's wallet.
    let second_draw = pay("3000").await;
    post(&w, &op, "/v1/contractors", contractor("Shadow LLC", 0xa1)).await;
    let found = anomalies("hours=0-24".into()).await;
    let d = |id: &str| format!("draw:{id}");
    let mut expected = vec![
        ("duplicate_invoice".to_owned(), d(&second_draw)),
        ("new_payee_wallet".to_owned(), d(&first)),
        ("new_payee_wallet".to_owned(), d(&second_draw)),
        ("over_bid".to_owned(), d(&second_draw)),
        ("repeated_draw".to_owned(), d(&second_draw)),
    ];
    expected.sort();
    assert_eq!(kinds(&found), expected, "{found}");
    let over = found
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "over_bid")
        .unwrap();
    assert_eq!(
        over["explanation"],
        "the line's draws reach 6000.00 against its accepted bid of 5000.00 (20% above, more than the 10% allowed)"
    );
    // A tolerance of 25% lets the 20% pass.
    assert!(
        !kinds(&anomalies("hours=0-24&tolerance_pct=25".into()).await)
            .iter()
            .any(|k| k.0 == "over_bid")
    );
    // Business hours that exclude this hour flag the releases as off-hours writes.
    let hour = chrono::Utc::now()
        .format("%H")
        .to_string()
        .parse::<u32>()
        .unwrap();
    let (from, to) = if hour >= 12 { (0, 1) } else { (23, 24) };
    let late = anomalies(format!("hours={from}-{to}")).await;
    let releases = late
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["kind"] == "off_hours" && a["explanation"].as_str().unwrap().contains("/release")
        })
        .count();
    assert!(releases >= 2, "{late}");
    // Bad parameters are named.
    for (q, field) in [
        ("hours=18-8", "hours"),
        ("tolerance_pct=-1", "tolerance_pct"),
        ("property=nope", "property"),
    ] {
        app.get(&format!("/v1/audit/anomalies?{q}"))
            .token(&auditor)
            .send()
            .await
            .problem(StatusCode::BAD_REQUEST, "validation", Some(field));
    }
    w.finish().await;
}
