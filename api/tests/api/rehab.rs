//! A rehab scenario on the embedded chain: three budget lines mirrored in the treasury, two
//! bids on one line with one accepted, draws refused for exceeding their line and for a
//! contractor whose insurance expired, the rest approved by a second operator and released
//! through the outbox; the project's figures and the books are exact.

use alloy::primitives::{Address, B256, U256};
use axum::http::StatusCode;
use propledger_api::db::Engine;
use propledger_contracts::{PropertyTreasury, TestStablecoin};
use serde_json::{Value, json};

use crate::chainapp::ChainApp;
use crate::support::both_engines;
use crate::tokenization::{property_with_deed, tokenization_body};

both_engines!(a_rehab_with_bids_and_draws, a_hold_sold_and_wound_up);

async fn post(w: &ChainApp, token: &str, path: &str, body: Value) -> crate::support::Resp {
    w.app.post(path).token(token).json(&body).send().await
}

fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

/// Deposits `units` of the settlement token (minted to the admin key) into `treasury` under
/// `reference`.
pub(crate) async fn deposit(w: &ChainApp, treasury: Address, units: u64, reference: B256) {
    use alloy::providers::Provider;
    let usdc = TestStablecoin::new(w.platform.settlement_token, &w.admin);
    let admin = crate::outbox::DEV_KEY
        .parse::<alloy::signers::local::PrivateKeySigner>()
        .unwrap()
        .address();
    let amount = U256::from(units);
    for call in [
        usdc.mint(admin, amount).into_transaction_request(),
        usdc.approve(treasury, amount).into_transaction_request(),
        PropertyTreasury::new(treasury, &w.admin)
            .deposit(amount, reference)
            .into_transaction_request(),
    ] {
        let r = w
            .admin
            .send_transaction(call)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
    }
}

/// The chain's time: its latest block's timestamp.
async fn chain_time(w: &ChainApp) -> u64 {
    use alloy::providers::Provider;
    w.reader
        .get_block_by_number(Default::default())
        .await
        .unwrap()
        .unwrap()
        .header
        .timestamp
}

/// Moves the chain's clock on to `at` (a Unix time ahead of it) and mines a block there.
async fn move_chain_to(w: &ChainApp, at: u64) {
    use alloy::providers::Provider;
    let now = chain_time(w).await;
    assert!(at > now, "the chain is already past {at}");
    w.admin
        .raw_request::<_, Value>("evm_increaseTime".into(), json!([at - now]))
        .await
        .unwrap();
    w.admin
        .raw_request::<_, Value>("evm_mine".into(), json!([]))
        .await
        .unwrap();
}

async fn a_rehab_with_bids_and_draws(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    let app = &w.app;
    let op = app.key("operator").await;
    let approver = app.key("operator").await;
    let auditor = app.key("auditor").await;

    // A tokenized property whose treasury holds 50,000 USD (a direct deposit without a
    // reference: other income).
    let (property, document) = property_with_deed(app, &op).await;
    let t = post(
        &w,
        &op,
        &format!("/v1/properties/{property}/tokenization"),
        tokenization_body(&document),
    )
    .await
    .expect(StatusCode::ACCEPTED)
    .json();
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

    // A deal, its project, three lines (the budgets set in the treasury).
    let deal = post(
        &w,
        &op,
        "/v1/deals",
        json!({"property_id": property, "strategy": "flip", "purchase_price": usd("150000")}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json()["id"]
        .clone();
    let project = post(&w, &op, "/v1/rehab-projects", json!({"deal_id": deal}))
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // One project per deal.
    let p = post(&w, &op, "/v1/rehab-projects", json!({"deal_id": deal}))
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "project_exists");
    let mut lines = Vec::new();
    let mut actions = Vec::new();
    for (category, budget) in [("roof", "10000"), ("kitchen", "8000"), ("paint", "2000")] {
        let l = post(
            &w,
            &op,
            &format!("/v1/rehab-projects/{project}/lines"),
            json!({"category": category, "budget": usd(budget)}),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
        actions.push(json!({"id": l["budget_actions"][0]}));
        lines.push(l["id"].as_str().unwrap().to_owned());
    }
    for a in w.settled(&actions).await {
        assert_eq!(a["status"], "confirmed", "{a}");
    }
    let (roof, kitchen, paint) = (&lines[0], &lines[1], &lines[2]);

    // Upgrade scenarios from the project's lines: the property (Springfield, IL, 1,400 sq ft,
    // three bedrooms, 2.5 bathrooms) is the subject and each line's budget its cost. The
    // answer is the direct route's for the same facts and costs, each line named.
    let sales = "address,city,region,sale_date,sale_price,latitude,longitude,living_area_sqft,bedrooms,bathrooms,year_built,lot_size_sqft\n\
        1 Oak St,Springfield,IL,2024-01-10,200000.00,39.801,-89.601,1500,3,2,1980,4000\n\
        2 Oak St,Springfield,IL,2024-03-15,185000.00,39.802,-89.602,1350,3,1.5,1975,3000\n\
        3 Oak St,Springfield,IL,2024-05-20,240000.00,39.810,-89.610,1800,4,2.5,1990,5000\n\
        4 Oak St,Springfield,IL,2024-07-01,170000.00,39.790,-89.590,1200,2,1,1960,2500\n\
        5 Oak St,Springfield,IL,2024-09-09,215000.00,39.805,-89.605,1450,3,2.5,1985,3500\n\
        6 Oak St,Springfield,IL,2024-11-11,260000.00,39.820,-89.620,2000,4,3,2000,6000\n";
    app.post("/v1/sales/imports")
        .token(&op)
        .raw("text/csv", sales)
        .send()
        .await
        .expect(StatusCode::CREATED);
    let scenarios = post(
        &w,
        &auditor,
        &format!("/v1/rehab-projects/{project}/upgrade-scenarios"),
        json!({"as_of": "2025-01-01", "lines": [
            {"line_id": roof, "kind": "bathroom_added"},
            {"line_id": kitchen, "kind": "living_area_added", "square_feet": 200},
            {"line_id": paint, "kind": "condition_improved"},
        ]}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let direct = post(
        &w,
        &auditor,
        "/v1/valuations/upgrades",
        json!({
            "subject": {"city": "Springfield", "region": "IL", "living_area_sqft": 1400,
                        "bedrooms": 3, "bathrooms": 2.5, "year_built": 1978,
                        "lot_size_sqft": 3125, "latitude": 39.8, "longitude": -89.6,
                        "as_of": "2025-01-01"},
            "upgrades": [
                {"kind": "bathroom_added", "cost": usd("10000.00")},
                {"kind": "living_area_added", "square_feet": 200, "cost": usd("8000.00")},
                {"kind": "condition_improved", "cost": usd("2000.00")},
            ]
        }),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let mut unnamed = scenarios.clone();
    for (i, (id, category)) in [(roof, "roof"), (kitchen, "kitchen"), (paint, "paint")]
        .into_iter()
        .enumerate()
    {
        let line = unnamed["lines"][i].as_object_mut().unwrap();
        assert_eq!(line.remove("line_id").unwrap(), id.as_str(), "{scenarios}");
        assert_eq!(line.remove("category").unwrap(), category, "{scenarios}");
    }
    assert_eq!(unnamed, direct);
    assert!(
        scenarios["lines"][0]["value_added"]["amount"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0,
        "{scenarios}"
    );
    post(
        &w,
        &auditor,
        &format!("/v1/rehab-projects/{project}/upgrade-scenarios"),
        json!({"lines": [{"line_id": "nope", "kind": "bathroom_added"},
                         {"line_id": roof, "kind": "pool_added"}]}),
    )
    .await
    .problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/lines/0/line_id"),
    );
    let p = post(
        &w,
        &auditor,
        &format!("/v1/rehab-projects/{project}/upgrade-scenarios"),
        json!({"lines": [{"line_id": roof, "kind": "pool_added"}]}),
    )
    .await
    .problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/lines/0/kind"),
    );
    assert_eq!(p["errors"].as_array().unwrap().len(), 1, "{p}");
    // The property's projects, and the project's chart: one bar group per line.
    let listed = app
        .get(&format!("/v1/rehab-projects?property_id={property}"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], project.as_str());
    app.get("/v1/rehab-projects?property_id=nope")
        .token(&auditor)
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("property_id"));
    let svg = app
        .get(&format!("/v1/rehab-projects/{project}/chart"))
        .token(&auditor)
        .send()
        .await;
    assert_eq!(svg.status, StatusCode::OK);
    assert_eq!(svg.headers["content-type"], "image/svg+xml");
    let svg = String::from_utf8(svg.bytes).unwrap();
    for category in ["roof", "kitchen", "paint"] {
        assert!(svg.contains(category), "{svg}");
    }

    // Contractors: one insured, one whose insurance expired.
    let contractor = |company: &str, wallet: u8, insured_until: &str| {
        json!({"company": company, "trade": "general", "contact_name": "Sam", "email": "sam@example.com",
               "license_number": "L-1", "license_expires_on": "2099-01-01",
               "insurance_expires_on": insured_until, "rating": 4,
               "payout_wallet": Address::repeat_byte(wallet)})
    };
    let acme = post(
        &w,
        &op,
        "/v1/contractors",
        contractor("Acme Builders", 0xa1, "2099-01-01"),
    )
    .await
    .expect(StatusCode::CREATED)
    .json()["id"]
        .clone();
    let lapsed = post(
        &w,
        &op,
        "/v1/contractors",
        contractor("Lapsed LLC", 0xa2, "2020-01-01"),
    )
    .await
    .expect(StatusCode::CREATED)
    .json()["id"]
        .clone();
    let mut bad = contractor("X", 0, "2099-01-01");
    bad["rating"] = json!(9);
    post(&w, &op, "/v1/contractors", bad).await.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/payout_wallet"),
    );

    // Two bids on the roof; the cheaper is accepted and commits the line.
    let bid = |contractor: &Value, amount: &str| {
        json!({"contractor_id": contractor, "amount": usd(amount), "scope": "tear-off and reshingle",
               "valid_until": "2099-01-01"})
    };
    let dear = post(
        &w,
        &op,
        &format!("/v1/rehab-lines/{roof}/bids"),
        bid(&lapsed, "9500"),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    let cheap = post(
        &w,
        &op,
        &format!("/v1/rehab-lines/{roof}/bids"),
        bid(&acme, "9000"),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    let accepted = post(
        &w,
        &op,
        &format!("/v1/rehab-bids/{}/accept", cheap["id"].as_str().unwrap()),
        json!({}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(accepted["status"], "accepted");
    let p = post(
        &w,
        &op,
        &format!("/v1/rehab-bids/{}/accept", dear["id"].as_str().unwrap()),
        json!({}),
    )
    .await
    .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "bid_status", "{p}");

    // Draws: two fit, one is over its line, one is for the lapsed contractor.
    let invoice = |n: u8| {
        let app = &w.app;
        let op = op.clone();
        let property = property.clone();
        async move {
            app.post(&format!("/v1/properties/{property}/documents"))
                .token(&op)
                .multipart(
                    &[("kind", "invoice")],
                    Some((
                        "invoice.pdf",
                        "application/pdf",
                        format!("%PDF invoice {n}").as_bytes(),
                    )),
                )
                .send()
                .await
                .expect(StatusCode::CREATED)
                .json()["id"]
                .clone()
        }
    };
    let draw = |contractor: &Value, amount: &str, invoice: &Value| json!({"contractor_id": contractor, "amount": usd(amount), "invoice_document_id": invoice});
    let mut requested = Vec::new();
    for (line, amount, n) in [
        (roof, "6000", 1u8),
        (kitchen, "7999.99", 2),
        (paint, "1500.50", 3),
    ] {
        let inv = invoice(n).await;
        let d = post(
            &w,
            &op,
            &format!("/v1/rehab-lines/{line}/draws"),
            draw(&acme, amount, &inv),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
        assert_eq!(d["status"], "requested");
        assert!(d["invoice_hash"].as_str().unwrap().starts_with("0x"));
        requested.push(d["id"].as_str().unwrap().to_owned());
    }
    let inv = invoice(4).await;
    let p = post(
        &w,
        &op,
        &format!("/v1/rehab-lines/{roof}/draws"),
        draw(&acme, "4000.01", &inv),
    )
    .await
    .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "over_budget", "{p}");
    let p = post(
        &w,
        &op,
        &format!("/v1/rehab-lines/{kitchen}/draws"),
        draw(&lapsed, "0.01", &inv),
    )
    .await
    .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "insurance_expired", "{p}");

    // Approval by another operator, then release through the outbox.
    let p = post(
        &w,
        &op,
        &format!("/v1/rehab-draws/{}/approve", requested[0]),
        json!({}),
    )
    .await
    .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "same_person");
    let p = post(
        &w,
        &op,
        &format!("/v1/rehab-draws/{}/release", requested[0]),
        json!({}),
    )
    .await
    .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "draw_status");
    let mut released = Vec::new();
    for d in &requested {
        post(
            &w,
            &approver,
            &format!("/v1/rehab-draws/{d}/approve"),
            json!({}),
        )
        .await
        .expect(StatusCode::OK);
        if d == &requested[2] {
            continue; // paid through the bank, below
        }
        let r = post(&w, &op, &format!("/v1/rehab-draws/{d}/release"), json!({}))
            .await
            .expect(StatusCode::ACCEPTED)
            .json();
        assert_eq!(r["status"], "released");
        released.push(json!({"id": r["action_id"]}));
    }
    for a in w.settled(&released).await {
        assert_eq!(a["status"], "confirmed", "{a}");
    }
    w.caught_up().await;
    let paid = |wallet: u8| {
        let usdc = TestStablecoin::new(w.platform.settlement_token, &w.reader);
        async move {
            usdc.balanceOf(Address::repeat_byte(wallet))
                .call()
                .await
                .unwrap()
        }
    };
    assert_eq!(paid(0xa1).await, U256::from(13_999_990_000u64));

    // The paint's invoice is paid through the bank instead: refused while the bank has no
    // cash, then booked once the tenant's rent is in.
    let bank_pay = |d: String, key: &'static str| {
        let app = &w.app;
        let op = op.clone();
        let today = chrono::Utc::now()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string();
        async move {
            app.post(&format!("/v1/rehab-draws/{d}/bank-payment"))
                .token(&op)
                .header("idempotency-key", key)
                .json(&json!({"paid_on": today}))
                .send()
                .await
        }
    };
    let paint_draw = requested[2].clone();
    let p = bank_pay(paint_draw.clone(), "pay-paint-early")
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "insufficient_funds", "{p}");
    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    app.post(&format!("/v1/properties/{property}/transactions"))
        .token(&op)
        .header("idempotency-key", "rent")
        .json(
            &json!({"category": "rent", "amount": usd("2000"), "occurred_on": today,
                      "counterparty": "Tenant"}),
        )
        .send()
        .await
        .expect(StatusCode::CREATED);
    let bank = bank_pay(paint_draw.clone(), "pay-paint")
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(bank["status"], "paid_off_chain", "{bank}");
    // A retry answers the same; a released draw, or one paid already, is not paid again.
    let again = bank_pay(paint_draw.clone(), "pay-paint")
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(again, bank);
    for (d, key) in [
        (paint_draw.clone(), "pay-paint-twice"),
        (requested[0].clone(), "pay-roof"),
    ] {
        let p = bank_pay(d, key)
            .await
            .problem(StatusCode::CONFLICT, "conflict", None);
        assert_eq!(p["code"], "draw_status", "{p}");
    }
    let p = post(
        &w,
        &op,
        &format!("/v1/rehab-draws/{paint_draw}/release"),
        json!({}),
    )
    .await
    .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "draw_status");

    // A change order moves 400 of the paint's budget to the roof, on chain too; moving more
    // than the paint has left above its draws is refused.
    let order = post(
        &w,
        &op,
        &format!("/v1/rehab-projects/{project}/change-orders"),
        json!({"from_line": paint, "to_line": roof, "amount": usd("400"), "reason": "decking"}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    let actions: Vec<Value> = order["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| json!({"id": a}))
        .collect();
    assert_eq!(actions.len(), 2);
    for a in w.settled(&actions).await {
        assert_eq!(a["status"], "confirmed", "{a}");
    }
    let roof_line: B256 = v_line(&w, &auditor, &project, 0).await.parse().unwrap();
    let on_chain = PropertyTreasury::new(treasury, &w.reader)
        .budgetLine(roof_line)
        .call()
        .await
        .unwrap();
    assert_eq!(U256::from(on_chain.budget), U256::from(10_400_000_000u64));
    let p = post(
        &w,
        &op,
        &format!("/v1/rehab-projects/{project}/change-orders"),
        json!({"from_line": paint, "to_line": roof, "amount": usd("100"), "reason": "more"}),
    )
    .await
    .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "below_drawn", "{p}");
    post(
        &w,
        &op,
        &format!("/v1/rehab-projects/{project}/change-orders"),
        json!({"from_line": roof, "to_line": roof, "amount": usd("1"), "reason": "x"}),
    )
    .await
    .problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/to_line"),
    );

    // Progress on the roof, with a photo.
    let photo = invoice(9).await;
    let l = post(
        &w,
        &op,
        &format!("/v1/rehab-lines/{roof}/progress"),
        json!({"percent_complete": 60, "notes": "decking done", "photo_document_ids": [photo]}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(l["percent_complete"], 60);
    assert_eq!(l["progress"][0]["photo_document_ids"][0], photo);
    post(
        &w,
        &op,
        &format!("/v1/rehab-lines/{roof}/progress"),
        json!({"percent_complete": 101}),
    )
    .await
    .problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/percent_complete"),
    );

    // The project's figures.
    let v = app
        .get(&format!("/v1/rehab-projects/{project}"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    for (k, amount) in [
        ("budget", "20000.00"),
        ("committed", "9000.00"),
        ("drawn", "15500.49"),
        ("remaining", "4499.51"),
    ] {
        assert_eq!(v[k]["amount"], amount, "{k}: {v}");
    }
    let line_figures: Vec<(String, String, String)> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["category"].as_str().unwrap().to_owned(),
                l["drawn"]["amount"].as_str().unwrap().to_owned(),
                l["remaining"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |c: &str, d: &str, r: &str| (c.to_owned(), d.to_owned(), r.to_owned());
    assert_eq!(
        line_figures,
        [
            row("roof", "6000.00", "4400.00"),
            row("kitchen", "7999.99", "0.01"),
            row("paint", "1500.50", "99.50"),
        ]
    );
    assert_eq!(v["lines"][0]["committed"]["amount"], "9000.00");
    assert_eq!(v["lines"][0]["budget"]["amount"], "10400.00");
    assert_eq!(v["change_orders"][0]["amount"]["amount"], "400.00");
    let bids = &v["lines"][0]["bids"];
    assert_eq!(bids[0]["status"], "accepted");
    assert_eq!(bids[1]["status"], "rejected");

    // The books: each released draw capitalized on its line, the treasury paid it.
    let bs = app
        .get(&format!("/v1/books/{property}/balance-sheet"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let assets: Vec<(String, String)> = bs["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["code"].as_str().unwrap().to_owned(),
                l["posted"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut improvements: Vec<&str> = assets
        .iter()
        .filter(|(c, _)| c == "1600")
        .map(|(_, a)| a.as_str())
        .collect();
    improvements.sort();
    assert_eq!(improvements, ["1500.500000", "6000.000000", "7999.990000"]);
    // The treasury paid the roof and the kitchen; the bank took the rent and paid the paint.
    assert!(
        assets.contains(&("1000".to_owned(), "36000.010000".to_owned())),
        "{bs}"
    );
    assert!(
        assets.contains(&("1010".to_owned(), "499.500000".to_owned())),
        "{bs}"
    );
    assert_eq!(bs["totals"][0]["balanced"], true);

    // The flip is sold: its cost basis (the improvements) leaves the books, the deed goes to
    // the buyer through the outbox.
    for to in [
        "analyzing",
        "offer_made",
        "under_contract",
        "acquired",
        "rehab",
        "listed",
    ] {
        post(
            &w,
            &op,
            &format!("/v1/deals/{}/transitions", deal.as_str().unwrap()),
            json!({"to": to}),
        )
        .await
        .expect(StatusCode::OK);
    }
    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let buyer = Address::repeat_byte(0xbb);
    let sale = json!({"price": usd("50000"), "selling_costs": usd("1000"), "buyer": "B. Buyer",
                      "sold_on": today});
    let sell = |body: Value| {
        let app = &w.app;
        let op = op.clone();
        let deal = deal.as_str().unwrap().to_owned();
        async move {
            app.post(&format!("/v1/deals/{deal}/sale"))
                .token(&op)
                .header("idempotency-key", "sale")
                .json(&body)
                .send()
                .await
        }
    };
    sell(sale.clone()).await.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/deed_to"),
    );
    let mut sale = sale;
    sale["deed_to"] = json!(buyer);
    let d = sell(sale).await.expect(StatusCode::ACCEPTED).json();
    assert_eq!(d["status"], "exited");
    assert_eq!(d["sale"]["basis"]["amount"], "15500.49");
    assert_eq!(d["sale"]["gain"]["amount"], "33499.51");
    let moved = w.settled(&[json!({"id": d["sale"]["deed_action"]})]).await;
    assert_eq!(moved[0]["status"], "confirmed", "{moved:?}");
    let token = U256::from(uuid::Uuid::parse_str(&property).unwrap().as_u128());
    let owner = propledger_contracts::PropertyDeed::new(w.platform.deed.address, &w.reader)
        .ownerOf(token)
        .call()
        .await
        .unwrap();
    assert_eq!(owner, buyer);

    // Reconciliation at the last block is clean: the treasury's and distributor's cash and
    // the cap table agree with the chain, each released draw's invoice is paired with its
    // draw, and the invoice paid through the bank is settled off chain.
    let r = w.reconcile().await;
    assert!(r.is_clean(), "{r:#?}");
    let mut matched: Vec<String> = r
        .chain
        .matched
        .iter()
        .map(|m| m.books.entry_key.clone())
        .collect();
    matched.sort();
    let mut expected = vec![
        format!("draw:{}", requested[0]),
        format!("draw:{}", requested[1]),
    ];
    expected.sort();
    assert_eq!(matched, expected);
    assert_eq!(r.paid_off_chain.len(), 1, "{r:#?}");
    assert_eq!(r.paid_off_chain[0].draw_id, paint_draw);
    assert_eq!(r.paid_off_chain[0].reference, bank["invoice_hash"]);
    assert_eq!(r.paid_off_chain[0].amount.to_string(), "1500.500000");
    w.finish().await;
}

/// The chain id of a project's line, by position.
async fn v_line(w: &ChainApp, token: &str, project: &str, i: usize) -> String {
    w.app
        .get(&format!("/v1/rehab-projects/{project}"))
        .token(token)
        .send()
        .await
        .expect(StatusCode::OK)
        .json()["lines"][i]["chain_line"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A hold from its offering to its wind-up: two investors buy (600 and 400 USD), rent comes in,
/// the property is sold (the deed goes to the buyer), the bank's cash is moved into the
/// treasury, a final distribution pays out everything, the shares are redeemed, and the books
/// are closed at zero; the investors' realized equity multiples and IRRs are exact.
async fn a_hold_sold_and_wound_up(engine: Engine) {
    use crate::chainapp::investor_key;
    const DAY: u64 = 86_400;
    let w = ChainApp::indexed(engine).await;
    let app = &w.app;
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;
    // The investors' money moves at about noon on the chain's days D (purchases), D + 365
    // (the sale's payout, Ada's claim) and D + 730 (Bob's claim): whole years apart.
    let t0 = chain_time(&w).await;
    let mut noon = t0 / DAY * DAY + DAY / 2;
    if noon < t0 + 60 {
        noon += DAY;
    }
    move_chain_to(&w, noon).await;
    let (property, document) = property_with_deed(app, &op).await;
    let t = post(
        &w,
        &op,
        &format!("/v1/properties/{property}/tokenization"),
        tokenization_body(&document),
    )
    .await
    .expect(StatusCode::ACCEPTED)
    .json();
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
    let offering = t["contracts"]["offering"].as_str().unwrap().to_owned();
    let shares: Address = t["contracts"]["shares"].as_str().unwrap().parse().unwrap();
    let treasury: Address = t["contracts"]["treasury"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // Two investors buy 6 and 4 shares at 100 USD: the soft cap.
    let (ada, bob) = (investor_key(60), investor_key(61));
    let (ada_token, ada_id) = w.investor(&ada, "US", true, "2099-01-01").await;
    let (bob_token, bob_id) = w.investor(&bob, "US", true, "2099-01-01").await;
    w.outbox_idle().await;
    for (key, token, n) in [(&ada, &ada_token, "6"), (&bob, &bob_token, "4")] {
        w.fund(key.address(), 10_000_000_000).await;
        let prepared = app
            .post("/v1/me/purchases")
            .token(token)
            .json(&json!({"offering": offering, "amount": n}))
            .send()
            .await
            .expect(StatusCode::OK)
            .json();
        w.outbox_idle().await;
        assert!(w.sign_and_send(key, &prepared).await.iter().all(|ok| *ok));
    }
    move_chain_to(&w, noon + 365 * DAY).await;
    let fin = post(
        &w,
        &op,
        &format!("/v1/offerings/{offering}/finalize"),
        json!({}),
    )
    .await
    .expect(StatusCode::ACCEPTED)
    .json();
    assert_eq!(w.settled(&[fin]).await[0]["status"], "confirmed");

    // The hold: stabilized, a rent, then sold for 3,000 (no cost basis was booked).
    let deal = post(
        &w,
        &op,
        "/v1/deals",
        json!({"property_id": property, "strategy": "hold", "purchase_price": usd("1000")}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for to in [
        "analyzing",
        "offer_made",
        "under_contract",
        "acquired",
        "stabilized",
    ] {
        post(
            &w,
            &op,
            &format!("/v1/deals/{deal}/transitions"),
            json!({"to": to}),
        )
        .await
        .expect(StatusCode::OK);
    }
    let today = chrono::Utc::now().date_naive();
    let day = today.format("%Y-%m-%d").to_string();
    app.post(&format!("/v1/properties/{property}/transactions"))
        .token(&op)
        .header("idempotency-key", "rent")
        .json(
            &json!({"category": "rent", "amount": usd("500"), "occurred_on": day,
                      "counterparty": "Tenant"}),
        )
        .send()
        .await
        .expect(StatusCode::CREATED);
    // Redemption waits for the sale.
    let p = post(&w, &op, &format!("/v1/deals/{deal}/redemption"), json!({}))
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "not_sold");
    let buyer = Address::repeat_byte(0xbc);
    let d = app
        .post(&format!("/v1/deals/{deal}/sale"))
        .token(&op)
        .header("idempotency-key", "sale")
        .json(
            &json!({"price": usd("3000"), "selling_costs": usd("0"), "buyer": "B",
                      "deed_to": buyer, "sold_on": day}),
        )
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(d["sale"]["gain"]["amount"], "3000.00");
    assert_eq!(
        w.settled(&[json!({"id": d["sale"]["deed_action"]})]).await[0]["status"],
        "confirmed"
    );

    // The bank's 3,500 (rent and the sale's price) moved into the treasury: a deposit on chain
    // and the transfer recorded under its reference, so it is not counted as income twice.
    let reference = B256::repeat_byte(0x35);
    w.outbox_idle().await;
    deposit(&w, treasury, 3_500_000_000, reference).await;
    let moved = app
        .post(&format!("/v1/properties/{property}/transactions"))
        .token(&op)
        .header("idempotency-key", "to-treasury")
        .json(
            &json!({"category": "treasury_transfer", "amount": usd("3500"),
                      "occurred_on": day, "counterparty": "Bank", "paid_via": "chain",
                      "reference": reference}),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(moved["kind"], "transfer");
    // Paid through the bank, or without the deposit's reference, it is refused.
    for (via, body_ref, field) in [
        ("bank", json!(reference), "/paid_via"),
        ("chain", Value::Null, "/reference"),
    ] {
        app.post(&format!("/v1/properties/{property}/transactions"))
            .token(&op)
            .header("idempotency-key", &format!("bad-{via}"))
            .json(&json!({"category": "treasury_transfer", "amount": usd("1"),
                          "occurred_on": day, "counterparty": "Bank", "paid_via": via,
                          "reference": body_ref}))
            .send()
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some(field));
    }

    // The final distribution pays out the treasury's 4,500: Ada claims at once, Bob a year on.
    let dist = post(
        &w,
        &op,
        "/v1/distributions",
        json!({"property": property, "amount": usd("4500"), "claim_days": 800}),
    )
    .await
    .expect(StatusCode::ACCEPTED)
    .json();
    assert_eq!(
        w.settled(&[json!({"id": dist["action_id"]})]).await[0]["status"],
        "confirmed"
    );
    w.caught_up().await;
    for (key, token) in [(&ada, &ada_token), (&bob, &bob_token)] {
        if key.address() == bob.address() {
            move_chain_to(&w, noon + 730 * DAY).await;
        }
        let prepared = app
            .post(&format!(
                "/v1/me/distributions/{}/claim",
                dist["id"].as_str().unwrap()
            ))
            .token(token)
            .send()
            .await
            .expect(StatusCode::OK)
            .json();
        w.outbox_idle().await;
        assert_eq!(w.sign_and_send(key, &prepared).await, [true]);
    }

    // Redemption: every share burned through the outbox.
    let r = post(&w, &op, &format!("/v1/deals/{deal}/redemption"), json!({}))
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(r["holders"].as_array().unwrap().len(), 2, "{r}");
    let actions: Vec<Value> = r["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| json!({"id": a}))
        .collect();
    for a in w.settled(&actions).await {
        assert_eq!(a["status"], "confirmed", "{a}");
    }
    let supply = propledger_contracts::PropertyShares::new(shares, &w.reader)
        .totalSupply()
        .call()
        .await
        .unwrap();
    assert_eq!(supply, U256::ZERO);
    w.caught_up().await;
    // Nothing left: a second redemption has nothing to do.
    let again = post(&w, &op, &format!("/v1/deals/{deal}/redemption"), json!({}))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(again["actions"], json!([]));

    // The books closed on the chain's day (ahead of the clock: its time was moved on): 3,500
    // of net income (the deposit's other income taken back out by the transfer) and the
    // 4,500 distributed, allocated 60/40, leave nothing in either capital account.
    let day = chrono::DateTime::from_timestamp(chain_time(&w).await as i64, 0)
        .unwrap()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let closed = post(
        &w,
        &op,
        &format!("/v1/books/{property}/close"),
        json!({"as_of": day}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    assert_eq!(closed["net_income"], "3500.000000");
    assert_eq!(closed["distributions"], "4500.000000");
    let again = post(
        &w,
        &op,
        &format!("/v1/books/{property}/close"),
        json!({"as_of": day}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    assert_eq!(again["entry_id"], closed["entry_id"]);
    let capital = app
        .get(&format!("/v1/books/{property}/capital-accounts"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let mut balances: Vec<String> = capital["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["balance"]["amount"].as_str().unwrap().to_owned())
        .collect();
    balances.sort();
    assert_eq!(balances, ["0.000000", "0.000000"], "{capital}");
    // The final statement: nothing left anywhere.
    let bs = app
        .get(&format!("/v1/books/{property}/balance-sheet"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(bs["totals"][0]["assets"]["amount"], "0.000000", "{bs}");
    assert_eq!(bs["totals"][0]["liabilities"]["amount"], "0.000000", "{bs}");
    assert_eq!(
        bs["totals"][0]["current_earnings"]["amount"], "0.000000",
        "{bs}"
    );
    assert_eq!(bs["totals"][0]["balanced"], true);
    let is = app
        .get(&format!("/v1/books/{property}/income-statement"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(is["totals"][0]["net_income"]["amount"], "0.000000", "{is}");

    // Realized: Ada paid 600 on D and took 2,700 on D + 365 (4.5 times in a year: 350%); Bob
    // paid 400 on D and took 1,800 on D + 730 (sqrt(4.5) - 1 a year: 112.13%); together,
    // -1,000, +2,700 and +1,800 a year apart: 1800x^2 + 2700x - 1000 = 0 for x = 1/(1 + r),
    // r = 225.33%.
    let r = app
        .get(&format!("/v1/deals/{deal}/returns"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(r["status"], "exited");
    let realized = &r["realized"];
    let figures = |v: &Value| {
        [
            "paid_in",
            "capital_returned",
            "distributions_received",
            "taken_out",
        ]
        .map(|k| v[k]["amount"].as_str().unwrap_or("?").to_owned())
        .into_iter()
        .chain(["equity_multiple", "irr_percent"].map(|k| v[k].to_string()))
        .collect::<Vec<_>>()
    };
    assert_eq!(
        figures(realized),
        [
            "1000.000000",
            "0.000000",
            "4500.000000",
            "4500.000000",
            "\"4.50\"",
            "\"225.33\""
        ],
        "{realized}"
    );
    // The books name an investor by their registry id.
    let mut names = Vec::new();
    for id in [&ada_id, &bob_id] {
        let detail = app
            .get(&format!("/v1/investors/{id}"))
            .token(&app.admin_key)
            .send()
            .await
            .expect(StatusCode::OK)
            .json();
        names.push(
            detail["registry_id"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x")
                .to_owned(),
        );
    }
    let (ada_id, bob_id) = (names[0].clone(), names[1].clone());
    let of = |id: &str| {
        realized["investors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["investor"] == id)
            .unwrap_or_else(|| panic!("{id} in {realized}"))
            .clone()
    };
    let (ada_r, bob_r) = (of(&ada_id), of(&bob_id));
    assert_eq!(
        figures(&ada_r),
        [
            "600.000000",
            "0.000000",
            "2700.000000",
            "2700.000000",
            "\"4.50\"",
            "\"350.00\""
        ],
        "{ada_r}"
    );
    assert_eq!(
        figures(&bob_r),
        [
            "400.000000",
            "0.000000",
            "1800.000000",
            "1800.000000",
            "\"4.50\"",
            "\"112.13\""
        ],
        "{bob_r}"
    );
    // The flows, dated by the chain: the purchase, then the claim.
    let flows = |v: &Value| {
        v["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {} {}",
                    f["on"].as_str().unwrap(),
                    f["kind"].as_str().unwrap(),
                    f["amount"]["amount"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    let on = |days: u64| {
        chrono::DateTime::from_timestamp((noon + days * DAY) as i64, 0)
            .unwrap()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string()
    };
    assert_eq!(
        flows(&bob_r),
        [
            format!("{} capital -400.000000", on(0)),
            format!("{} distribution 1800.000000", on(730)),
        ]
    );
    w.finish().await;
}
