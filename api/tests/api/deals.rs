//! Deals through the router: the happy path, validation, lists with cursors, the pipeline
//! (every allowed move succeeds, every other one is a 409 naming the current status), the
//! pro-forma projections and the actual returns read from the books.

use axum::http::StatusCode;
use propledger_api::db::Engine;
use serde_json::{Value, json};

use crate::support::{TestApp, both_engines, property_body};

both_engines!(
    deal_create_read_list_and_validation,
    every_allowed_move_succeeds_and_every_other_is_refused,
    costs_book_balanced_entries_the_books_report,
    pro_formas_of_a_hold_and_a_flip_have_the_exact_figures,
    pro_forma_names_every_missing_or_bad_assumption,
    returns_read_the_books_beside_the_expected_figures,
    a_sale_books_the_proceeds_and_exits_the_deal,
);

async fn property(app: &TestApp, key: &str) -> String {
    app.post("/v1/properties")
        .token(key)
        .json(&property_body("Chicago", 41.9, -87.6, "250000.00", 1200))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn deal_body(property: &str) -> Value {
    json!({
        "property_id": property,
        "strategy": "flip",
        "purchase_price": {"amount": "240000", "currency": "USD"},
        "closing_costs": {"amount": "7200.5", "currency": "USD"},
        "financing": {"lender": " First Bank ", "principal": {"amount": "180000.00", "currency": "USD"},
                      "rate_percent": "7.250", "term_months": 12},
        "estimated_repairs": {"amount": "45000.00", "currency": "USD"},
        "expected_profit": {"amount": "38000.00", "currency": "USD"},
        "found_on": "2026-11-01",
    })
}

async fn deal_create_read_list_and_validation(engine: Engine) {
    let app = TestApp::new(engine).await;
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;
    let prop = property(&app, &op).await;

    let created = app
        .post("/v1/deals")
        .token(&op)
        .header("idempotency-key", "deal-1")
        .json(&deal_body(&prop))
        .send()
        .await;
    let d = created.expect(StatusCode::CREATED).json();
    let id = d["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.headers["location"].to_str().unwrap(),
        format!("/v1/deals/{id}")
    );
    assert_eq!(d["status"], "lead");
    assert_eq!(d["strategy"], "flip");
    // Amounts are exact decimal text at the cent; the rate and lender are normalized.
    assert_eq!(
        d["purchase_price"],
        json!({"amount": "240000.00", "currency": "USD"})
    );
    assert_eq!(
        d["closing_costs"],
        json!({"amount": "7200.50", "currency": "USD"})
    );
    assert_eq!(d["estimated_repairs"]["amount"], "45000.00");
    assert_eq!(d["expected_profit"]["amount"], "38000.00");
    assert_eq!(
        d["financing"],
        json!({"lender": "First Bank", "principal": {"amount": "180000.00", "currency": "USD"},
               "rate_percent": "7.25", "term_months": 12})
    );
    assert_eq!(d["transitions"].as_array().unwrap().len(), 1);
    assert_eq!(d["transitions"][0]["to"], "lead");
    assert_eq!(d["transitions"][0]["on"], "2026-11-01");
    assert!(d["transitions"][0].get("from").is_none());

    // A retry with the same key gets the same deal; an auditor reads it and may not write.
    let again = app
        .post("/v1/deals")
        .token(&op)
        .header("idempotency-key", "deal-1")
        .json(&deal_body(&prop))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(again, d);
    let got = app
        .get(&format!("/v1/deals/{id}"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(got, d);
    app.post("/v1/deals")
        .token(&auditor)
        .json(&deal_body(&prop))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    app.post(&format!("/v1/deals/{id}/transitions"))
        .token(&auditor)
        .json(&json!({"to": "analyzing"}))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    app.get("/v1/deals/0190f000-0000-7000-8000-000000000000")
        .token(&op)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);

    // Validation names every bad field and creates nothing.
    let mut bad = deal_body(&prop);
    bad["purchase_price"] = json!({"amount": "1.001", "currency": "USD"});
    bad["closing_costs"] = json!({"amount": "-1", "currency": "USD"});
    bad["estimated_repairs"] = json!({"amount": "10", "currency": "EUR"});
    bad["financing"]["rate_percent"] = json!("101");
    bad["financing"]["term_months"] = json!(0);
    let p = app
        .post("/v1/deals")
        .token(&op)
        .json(&bad)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/purchase_price/amount"),
        );
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    for want in [
        "/purchase_price/amount",
        "/closing_costs/amount",
        "/estimated_repairs/currency",
        "/financing/rate_percent",
        "/financing/term_months",
    ] {
        assert!(pointers.contains(&want), "{want} in {pointers:?}");
    }
    let mut unknown = deal_body(&prop);
    unknown["property_id"] = json!("0190f000-0000-7000-8000-000000000000");
    app.post("/v1/deals")
        .token(&op)
        .json(&unknown)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/property_id"),
        );
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_deals").await, 1);

    // Lists: by property and status, a page at a time.
    let other = property(&app, &op).await;
    for p in [&prop, &other, &prop] {
        app.post("/v1/deals")
            .token(&op)
            .json(&deal_body(p))
            .send()
            .await
            .expect(StatusCode::CREATED);
    }
    app.post(&format!("/v1/deals/{id}/transitions"))
        .token(&op)
        .json(&json!({"to": "analyzing"}))
        .send()
        .await
        .expect(StatusCode::OK);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/v1/deals?property_id={prop}&limit=1&cursor={c}"),
            None => format!("/v1/deals?property_id={prop}&limit=1"),
        };
        let page = app
            .get(&url)
            .token(&auditor)
            .send()
            .await
            .expect(StatusCode::OK)
            .json();
        for d in page["items"].as_array().unwrap() {
            assert_eq!(d["property_id"], prop.as_str());
            seen.push(d["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0], id);
    let analyzing = app
        .get("/v1/deals?status=analyzing")
        .token(&op)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(analyzing["items"].as_array().unwrap().len(), 1);
    assert_eq!(analyzing["items"][0]["id"], id.as_str());
    // Offers and milestones join the deal's record.
    let d = app
        .post(&format!("/v1/deals/{id}/offers"))
        .token(&op)
        .json(
            &json!({"direction": "made", "amount": {"amount": "230000", "currency": "USD"},
                      "party": " Seller LLC ", "on": "2026-11-02", "note": "first offer"}),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(d["offers"][0]["amount"]["amount"], "230000.00");
    assert_eq!(d["offers"][0]["party"], "Seller LLC");
    assert_eq!(d["offers"][0]["direction"], "made");
    let d = app
        .post(&format!("/v1/deals/{id}/milestones"))
        .token(&op)
        .json(&json!({"name": "Inspection", "due_on": "2026-11-15", "done_on": "2026-11-14"}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(d["milestones"][0]["name"], "Inspection");
    assert_eq!(d["milestones"][0]["done_on"], "2026-11-14");
    assert_eq!(d["offers"].as_array().unwrap().len(), 1, "the offer stays");
    let p = app
        .post(&format!("/v1/deals/{id}/milestones"))
        .token(&op)
        .json(&json!({"name": ""}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/name"),
        );
    assert_eq!(p["errors"].as_array().unwrap().len(), 2, "{p}");
    app.post(&format!("/v1/deals/{id}/offers"))
        .token(&op)
        .json(
            &json!({"direction": "received", "amount": {"amount": "1", "currency": "EUR"},
                      "party": "x", "on": "2026-13-01"}),
        )
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/amount/currency"),
        );
    app.get("/v1/deals?property_id=nope")
        .token(&op)
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("property_id"));
}

/// The pipeline as written in the issue: each status and the moves it allows.
const ALLOWED: &[(&str, &[&str])] = &[
    ("lead", &["analyzing", "dead"]),
    ("analyzing", &["offer_made", "dead"]),
    ("offer_made", &["under_contract", "analyzing", "dead"]),
    ("under_contract", &["acquired", "exited", "dead"]),
    ("acquired", &["rehab", "listed", "stabilized"]),
    ("rehab", &["listed", "stabilized"]),
    ("listed", &["stabilized", "exited"]),
    ("stabilized", &["listed", "exited"]),
    ("exited", &[]),
    ("dead", &[]),
];

/// The moves from `lead` that reach each status.
fn path_to(status: &str) -> &'static [&'static str] {
    const TO_CONTRACT: &[&str] = &["analyzing", "offer_made", "under_contract"];
    match status {
        "lead" => &[],
        "analyzing" => &TO_CONTRACT[..1],
        "offer_made" => &TO_CONTRACT[..2],
        "under_contract" => TO_CONTRACT,
        "acquired" => &["analyzing", "offer_made", "under_contract", "acquired"],
        "rehab" => &[
            "analyzing",
            "offer_made",
            "under_contract",
            "acquired",
            "rehab",
        ],
        "listed" => &[
            "analyzing",
            "offer_made",
            "under_contract",
            "acquired",
            "listed",
        ],
        "stabilized" => &[
            "analyzing",
            "offer_made",
            "under_contract",
            "acquired",
            "stabilized",
        ],
        "exited" => &["analyzing", "offer_made", "under_contract", "exited"],
        "dead" => &["dead"],
        other => panic!("no status {other}"),
    }
}

async fn deal_at(app: &TestApp, key: &str, prop: &str, status: &str) -> String {
    let id = app
        .post("/v1/deals")
        .token(key)
        .json(&deal_body(prop))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (i, to) in path_to(status).iter().enumerate() {
        let d = app
            .post(&format!("/v1/deals/{id}/transitions"))
            .token(key)
            .json(&json!({"to": to, "on": format!("2026-11-{:02}", 10 + i)}))
            .send()
            .await
            .expect(StatusCode::OK)
            .json();
        assert_eq!(d["status"], *to);
    }
    id
}

async fn every_allowed_move_succeeds_and_every_other_is_refused(engine: Engine) {
    let app = TestApp::new(engine).await;
    let op = app.key("operator").await;
    let prop = property(&app, &op).await;
    let statuses: Vec<&str> = ALLOWED.iter().map(|(s, _)| *s).collect();
    for (from, allowed) in ALLOWED {
        // Refused moves, all on one deal: each a 409 naming the current status, changing nothing.
        let id = deal_at(&app, &op, &prop, from).await;
        let before = app
            .get(&format!("/v1/deals/{id}"))
            .token(&op)
            .send()
            .await
            .json();
        for to in statuses.iter().filter(|t| !allowed.contains(t)) {
            let p = app
                .post(&format!("/v1/deals/{id}/transitions"))
                .token(&op)
                .json(&json!({"to": to}))
                .send()
                .await
                .problem(StatusCode::CONFLICT, "conflict", None);
            assert_eq!(p["code"], "deal_status");
            let detail = p["detail"].as_str().unwrap();
            assert!(
                detail.starts_with(&format!("the deal is {from}; it cannot move to {to}")),
                "{detail}"
            );
        }
        let after = app
            .get(&format!("/v1/deals/{id}"))
            .token(&op)
            .send()
            .await
            .json();
        assert_eq!(before, after, "refusals change nothing");

        // Allowed moves, each on a deal of its own, dated and recorded.
        for to in *allowed {
            let id = deal_at(&app, &op, &prop, from).await;
            let d = app
                .post(&format!("/v1/deals/{id}/transitions"))
                .token(&op)
                .json(&json!({"to": to, "on": "2026-12-01"}))
                .send()
                .await
                .expect(StatusCode::OK)
                .json();
            assert_eq!(d["status"], *to, "{from} -> {to}");
            let last = d["transitions"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(last["from"], *from);
            assert_eq!(last["to"], *to);
            assert_eq!(last["on"], "2026-12-01");
            assert_eq!(
                d["transitions"].as_array().unwrap().len(),
                path_to(from).len() + 2
            );
        }
    }
    // A move dated before the last one is refused.
    let id = deal_at(&app, &op, &prop, "analyzing").await;
    app.post(&format!("/v1/deals/{id}/transitions"))
        .token(&op)
        .json(&json!({"to": "offer_made", "on": "2026-11-01"}))
        .send()
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some("/on"));
    // Every move is stored, in order.
    let moves = app
        .count("SELECT COUNT(*) AS n FROM api_deal_transitions")
        .await;
    let deals = app.count("SELECT COUNT(*) AS n FROM api_deals").await;
    assert!(moves > deals, "{moves} moves of {deals} deals");
}

fn cost(kind: &str, amount: &str, from: &str) -> Value {
    json!({"kind": kind, "amount": {"amount": amount, "currency": "USD"}, "paid_on": "2026-11-20",
           "paid_from": from, "memo": "test"})
}

/// A deal's purchase and closing costs are booked as balanced entries in the property's books
/// (USD at the settlement token's six decimals), once per Idempotency-Key; a cost its account
/// cannot pay is refused and books nothing; the books' reports show the exact figures, to an
/// auditor as well, who may not book anything.
async fn costs_book_balanced_entries_the_books_report(engine: Engine) {
    let app = TestApp::new(engine).await;
    let ledger = propledger_ledger::Ledger::connect(&app.url).await.unwrap();
    app.api.attach_ledger(ledger.clone()).unwrap();
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;
    let prop = property(&app, &op).await;
    let deal = app
        .post("/v1/deals")
        .token(&op)
        .json(&deal_body(&prop))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let costs = format!("/v1/deals/{deal}/costs");

    // Until the books have their currency (the indexer sets it), nothing is booked.
    app.post(&costs)
        .token(&op)
        .header("idempotency-key", "c0")
        .json(&cost("purchase", "1.00", "loan"))
        .send()
        .await
        .problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", None);
    ledger
        .accounts()
        .define_currency(propledger_ledger::core::Currency::parse("USD", 6).unwrap())
        .await
        .unwrap();

    // A key is required; bad fields are named.
    app.post(&costs)
        .token(&op)
        .json(&cost("purchase", "1.00", "loan"))
        .send()
        .await
        .problem(
            StatusCode::BAD_REQUEST,
            "validation",
            Some("Idempotency-Key"),
        );
    let mut bad = cost("closing", "-5", "cash");
    bad["paid_on"] = json!("20 Nov");
    let p = app
        .post(&costs)
        .token(&op)
        .header("idempotency-key", "bad")
        .json(&bad)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/amount/amount"),
        );
    assert_eq!(p["errors"].as_array().unwrap().len(), 2, "{p}");
    app.post(&costs)
        .token(&auditor)
        .header("idempotency-key", "auditor")
        .json(&cost("purchase", "1.00", "loan"))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);

    let first = app
        .post(&costs)
        .token(&op)
        .header("idempotency-key", "c1")
        .json(&cost("purchase", "180000.00", "loan"))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(first["kind"], "purchase");
    assert_eq!(
        first["amount"],
        json!({"amount": "180000.000000", "currency": "USD"})
    );
    assert_eq!(first["status"], "posted");
    // A retry books nothing more; the same key for another cost is refused.
    let again = app
        .post(&costs)
        .token(&op)
        .header("idempotency-key", "c1")
        .json(&cost("purchase", "180000.00", "loan"))
        .send()
        .await;
    assert_eq!(again.expect(StatusCode::CREATED).json(), first);
    let p = app
        .post(&costs)
        .token(&op)
        .header("idempotency-key", "c1")
        .json(&cost("purchase", "1.00", "loan"))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "idempotency_key_reused");
    for (key, body) in [
        ("c2", cost("purchase", "60000", "payable")),
        ("c3", cost("closing", "7200.5", "payable")),
    ] {
        app.post(&costs)
            .token(&op)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .expect(StatusCode::CREATED);
    }
    // Operating cash holds nothing: paying from it is refused and books nothing.
    let p = app
        .post(&costs)
        .token(&op)
        .header("idempotency-key", "c4")
        .json(&cost("closing", "100.00", "cash"))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "insufficient_funds");

    let listed = app
        .get(&costs)
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let listed: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["amount"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("purchase".to_owned(), "180000.000000".to_owned()),
            ("purchase".to_owned(), "60000.000000".to_owned()),
            ("closing".to_owned(), "7200.500000".to_owned()),
        ]
    );

    // The books, as an auditor reads them.
    let read = |path: String| {
        let app = &app;
        let auditor = auditor.clone();
        async move {
            app.get(&path)
                .token(&auditor)
                .send()
                .await
                .expect(StatusCode::OK)
                .json()
        }
    };
    let tb = read(format!("/v1/books/{prop}/trial-balance")).await;
    let lines: Vec<(String, String, String)> = tb["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["code"].as_str().unwrap().to_owned(),
                l["debit"]["amount"].as_str().unwrap().to_owned(),
                l["credit"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |c: &str, d: &str, k: &str| (c.to_owned(), d.to_owned(), k.to_owned());
    assert_eq!(
        lines,
        [
            row("1500", "240000.000000", "0.000000"),
            row("1510", "7200.500000", "0.000000"),
            row("2000", "0.000000", "67200.500000"),
            row("2500", "0.000000", "180000.000000"),
        ]
    );
    assert_eq!(tb["totals"][0]["debit"]["amount"], "247200.500000");
    assert_eq!(tb["totals"][0]["credit"]["amount"], "247200.500000");
    assert_eq!(tb["totals"][0]["balanced"], true);
    // Before the costs were paid, the books were empty.
    let early = read(format!("/v1/books/{prop}/trial-balance?as_of=2026-11-19")).await;
    assert!(early["lines"].as_array().unwrap().is_empty(), "{early}");

    let bs = read(format!("/v1/books/{prop}/balance-sheet?as_of=2026-11-30")).await;
    assert_eq!(bs["totals"][0]["assets"]["amount"], "247200.500000");
    assert_eq!(bs["totals"][0]["liabilities"]["amount"], "247200.500000");
    assert_eq!(bs["totals"][0]["equity"]["amount"], "0.000000");
    assert_eq!(bs["totals"][0]["balanced"], true);
    let is = read(format!(
        "/v1/books/{prop}/income-statement?from=2026-11-01&to=2026-11-30"
    ))
    .await;
    assert!(is["income"].as_array().unwrap().is_empty());
    assert!(is["expenses"].as_array().unwrap().is_empty());

    let accounts = read(format!("/v1/books/{prop}/accounts")).await;
    let at_cost = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "1500")
        .unwrap();
    assert_eq!(at_cost["posted"]["amount"], "240000.000000");
    assert_eq!(at_cost["account_type"], "asset");
    assert!(accounts.as_array().unwrap().len() >= 20, "the whole chart");

    // Bad requests and unknown books.
    app.get(&format!("/v1/books/{prop}/trial-balance?as_of=yesterday"))
        .token(&auditor)
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("as_of"));
    app.get(&format!(
        "/v1/books/{prop}/income-statement?from=2026-12-01&to=2026-11-01"
    ))
    .token(&auditor)
    .send()
    .await
    .problem(StatusCode::BAD_REQUEST, "validation", Some("from"));
    app.get("/v1/books/no-such-property/accounts")
        .token(&auditor)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);

    // A closing cost invoiced in pounds: refused without a conversion, booked in USD with one
    // (2,000.00 GBP at 1.2712 is 2,542.40 USD), the entry naming the original and the rate.
    let mut gbp = cost("closing", "2000.00", "payable");
    gbp["amount"]["currency"] = json!("GBP");
    app.post(&costs)
        .token(&op)
        .header("idempotency-key", "gbp-bare")
        .json(&gbp)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/conversion"),
        );
    gbp["conversion"] = json!({"rate": "1.2712", "source": "Wire confirmation"});
    let booked = app
        .post(&costs)
        .token(&op)
        .header("idempotency-key", "gbp")
        .json(&gbp)
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(
        booked["amount"],
        json!({"amount": "2542.400000", "currency": "USD"})
    );
    let entries = app
        .get(&format!("/v1/books/entries?property={prop}"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(
        entries
            .to_string()
            .contains("GBP 2000.00 at 1.2712 USD each (Wire confirmation)"),
        "{entries}"
    );
    assert!(ledger.verifier().chain().await.unwrap().is_intact());
}

/// A deal of `strategy` on `property`, found on 2026-01-15: 300,000 + 9,000 closing + 21,000
/// repairs, 240,000 borrowed at 6.5% over 30 years, 150,000 profit expected.
async fn planned_deal(app: &TestApp, key: &str, property: &str, strategy: &str) -> String {
    app.post("/v1/deals")
        .token(key)
        .json(&json!({
            "property_id": property,
            "strategy": strategy,
            "purchase_price": {"amount": "300000", "currency": "USD"},
            "closing_costs": {"amount": "9000", "currency": "USD"},
            "estimated_repairs": {"amount": "21000", "currency": "USD"},
            "financing": {"lender": "First Bank", "principal": {"amount": "240000", "currency": "USD"},
                          "rate_percent": "6.5", "term_months": 360},
            "expected_profit": {"amount": "150000", "currency": "USD"},
            "found_on": "2026-01-15",
        }))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `amount`s of a list of money fields of `v`.
fn amounts(v: &Value, fields: &[&str]) -> Vec<String> {
    fields
        .iter()
        .map(|f| {
            v[*f]["amount"]
                .as_str()
                .unwrap_or_else(|| panic!("{f} in {v}"))
                .to_owned()
        })
        .collect()
}

/// The expected figures below were worked out apart from the code, by a short Python script
/// using `decimal` at 50 digits: the model exactly as the README states it (monthly instalment
/// `P·i/(1-(1+i)^-n)` rounded to the cent, each month's interest rounded to the cent, figures
/// rounded half up to the cent where computed; IRR by bisecting the NPV at 50 digits, shown to
/// two places half up).
async fn pro_formas_of_a_hold_and_a_flip_have_the_exact_figures(engine: Engine) {
    let app = TestApp::new(engine).await;
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;
    let prop = property(&app, &op).await;
    let hold = planned_deal(&app, &op, &prop, "hold").await;

    // Hold: 2,800 a month growing 3% a year, 5% vacancy, 9,600 of expenses growing 2.5%, five
    // years, sold at a 6.25% cap on year 6's NOI with 6% selling costs; the deal's loan.
    let p = app
        .get(&format!(
            "/v1/deals/{hold}/pro-forma?monthly_rent=2800&rent_growth_percent=3&vacancy_percent=5\
             &annual_expenses=9600&expense_growth_percent=2.5&hold_years=5\
             &exit_cap_rate_percent=6.25&selling_costs_percent=6"
        ))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(p["model"], "hold");
    assert_eq!(p["total_acquisition_cost"]["amount"], "330000.00");
    assert_eq!(
        p["loan"],
        json!({"principal": {"amount": "240000.00", "currency": "USD"}, "rate_percent": "6.5",
               "term_months": 360, "monthly_payment": {"amount": "1516.96", "currency": "USD"}})
    );
    assert_eq!(p["expected_profit"]["amount"], "150000.00");
    assert!(p.get("flip").is_none());
    let h = &p["hold"];
    let years: Vec<Vec<String>> = h["years"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| {
            amounts(
                y,
                &[
                    "gross_rent",
                    "vacancy",
                    "effective_income",
                    "expenses",
                    "noi",
                    "debt_service",
                    "cash_flow",
                ],
            )
        })
        .collect();
    let row = |r: [&str; 7]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        years,
        [
            row([
                "33600.00", "1680.00", "31920.00", "9600.00", "22320.00", "18203.52", "4116.48"
            ]),
            row([
                "34608.00", "1730.40", "32877.60", "9840.00", "23037.60", "18203.52", "4834.08"
            ]),
            row([
                "35646.24", "1782.31", "33863.93", "10086.00", "23777.93", "18203.52", "5574.41"
            ]),
            row([
                "36715.63", "1835.78", "34879.85", "10338.15", "24541.70", "18203.52", "6338.18"
            ]),
            row([
                "37817.10", "1890.86", "35926.24", "10596.60", "25329.64", "18203.52", "7126.12"
            ]),
        ]
    );
    assert_eq!(h["years"][4]["year"], 5);
    assert_eq!(
        amounts(
            h,
            &[
                "equity_invested",
                "exit_noi",
                "exit_value",
                "selling_costs",
                "net_sale_proceeds",
                "loan_payoff",
                "total_returned",
                "profit",
            ]
        ),
        [
            "90000.00",
            "26142.51",
            "418280.16",
            "25096.81",
            "393183.35",
            "224666.60",
            "196506.02",
            "106506.02"
        ]
    );
    assert_eq!(h["irr_percent"], "18.11");
    assert_eq!(h["equity_multiple"], "2.18");
    assert_eq!(h["cash_on_cash_year_1_percent"], "4.57");
    assert_eq!(h["cap_rate_on_cost_percent"], "6.76");
    assert!(h.get("unavailable").is_none(), "{h}");
    assert_eq!(h["gross_rent_year_1"]["amount"], "33600.00");
    assert_eq!(h["rent_growth_percent"], "3");
    assert_eq!(h["expense_growth_percent"], "2.5");

    // The same deal all cash, expenses 35% of income, flat rent of 30,000 a year, 4% vacancy,
    // three years, a 7% cap and 5% selling costs: it loses money, and the IRR says so.
    let p = app
        .get(&format!(
            "/v1/deals/{hold}/pro-forma?loan_principal=0&annual_rent=30000&vacancy_percent=4\
             &expenses_percent=35&hold_years=3&exit_cap_rate_percent=7&selling_costs_percent=5"
        ))
        .token(&op)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(p.get("loan").is_none(), "{p}");
    let h = &p["hold"];
    for y in h["years"].as_array().unwrap() {
        assert_eq!(
            amounts(
                y,
                &["vacancy", "expenses", "noi", "debt_service", "cash_flow"]
            ),
            ["1200.00", "10080.00", "18720.00", "0.00", "18720.00"]
        );
    }
    assert_eq!(
        amounts(
            h,
            &[
                "equity_invested",
                "exit_value",
                "selling_costs",
                "net_sale_proceeds",
                "loan_payoff",
                "total_returned"
            ]
        ),
        [
            "330000.00",
            "267428.57",
            "13371.43",
            "254057.14",
            "0.00",
            "310217.14"
        ]
    );
    assert_eq!(h["irr_percent"], "-2.17");
    assert_eq!(h["equity_multiple"], "0.94");
    assert_eq!(h["cash_on_cash_year_1_percent"], "5.67");
    assert_eq!(h["expenses_percent"], "35");
    assert!(h.get("annual_expenses").is_none());

    // Flip: 180,000 + 5,400 closing + 45,000 repairs, 144,000 at 10% over 12 months, held six
    // months at 850 a month, sold for 295,000 with 7% selling costs.
    let flip = app
        .post("/v1/deals")
        .token(&op)
        .json(&json!({
            "property_id": prop,
            "strategy": "flip",
            "purchase_price": {"amount": "180000", "currency": "USD"},
            "closing_costs": {"amount": "5400", "currency": "USD"},
            "estimated_repairs": {"amount": "45000", "currency": "USD"},
            "financing": {"lender": "Hard Money", "principal": {"amount": "144000", "currency": "USD"},
                          "rate_percent": "10", "term_months": 12},
        }))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = app
        .get(&format!(
            "/v1/deals/{flip}/pro-forma?holding_months=6&monthly_holding_costs=850\
             &sale_price=295000&selling_costs_percent=7"
        ))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(p["model"], "flip");
    assert_eq!(p["loan"]["monthly_payment"]["amount"], "12659.89");
    assert!(p.get("expected_profit").is_none());
    let f = &p["flip"];
    assert_eq!(
        amounts(
            f,
            &[
                "holding_costs",
                "financing_interest",
                "selling_costs",
                "total_cost",
                "debt_service",
                "loan_payoff",
                "net_sale_proceeds",
                "cash_invested",
                "profit",
            ]
        ),
        [
            "5100.00",
            "5751.50",
            "20650.00",
            "261901.50",
            "75959.34",
            "73792.16",
            "200557.84",
            "167459.34",
            "33098.50"
        ]
    );
    assert_eq!(f["roi_percent"], "19.77");
    assert_eq!(f["annualized_return_percent"], "43.44");
    assert_eq!(f["holding_months"], 6);

    // The hold deal projected as a flip (the model is the caller's to choose).
    let p = app
        .get(&format!(
            "/v1/deals/{hold}/pro-forma?model=flip&loan_principal=0&holding_months=12&sale_price=363000"
        ))
        .token(&op)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    // 363,000 - 330,000 = 33,000 on 330,000 over a year: 10%, and 10% a year.
    assert_eq!(p["flip"]["profit"]["amount"], "33000.00");
    assert_eq!(p["flip"]["roi_percent"], "10.00");
    assert_eq!(p["flip"]["annualized_return_percent"], "10.00");
}

async fn pro_forma_names_every_missing_or_bad_assumption(engine: Engine) {
    let app = TestApp::new(engine).await;
    let op = app.key("operator").await;
    let prop = property(&app, &op).await;
    let hold = planned_deal(&app, &op, &prop, "hold").await;
    let url = |q: &str| format!("/v1/deals/{hold}/pro-forma?{q}");
    let pointers = |p: &Value| -> Vec<String> {
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap().to_owned())
            .collect()
    };

    // Nothing given: each assumption the deal cannot supply is named.
    let p = app.get(&url("")).token(&op).send().await.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("monthly_rent"),
    );
    assert_eq!(
        pointers(&p),
        [
            "monthly_rent",
            "annual_expenses",
            "hold_years",
            "exit_cap_rate_percent"
        ]
    );
    // Bad values, both of a pair, and a flip's assumption on a hold.
    let p = app
        .get(&url(
            "monthly_rent=2800&annual_rent=33600&vacancy_percent=101&annual_expenses=-1\
             &hold_years=31&exit_cap_rate_percent=0&sale_price=1&loan_rate_percent=abc\
             &loan_principal=-5",
        ))
        .token(&op)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("annual_rent"),
        );
    let mut named = pointers(&p);
    named.sort();
    assert_eq!(
        named,
        [
            "annual_expenses",
            "annual_rent",
            "exit_cap_rate_percent",
            "hold_years",
            "loan_principal",
            "loan_rate_percent",
            "sale_price",
            "vacancy_percent",
        ]
    );
    let p = app
        .get(&url("model=flip&holding_months=6&monthly_rent=1"))
        .token(&op)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("sale_price"),
        );
    assert_eq!(pointers(&p), ["monthly_rent", "sale_price"]);
    app.get(&url("model=rental"))
        .token(&op)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("model"),
        );
    app.get(&url(
        "monthly_rent=1000.001&annual_expenses=1&hold_years=1&exit_cap_rate_percent=5",
    ))
    .token(&op)
    .send()
    .await
    .problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("monthly_rent"),
    );

    // A deal without financing: a loan asked for needs its rate and term.
    let wholesale = app
        .post("/v1/deals")
        .token(&op)
        .json(&json!({"property_id": prop, "strategy": "wholesale",
                      "purchase_price": {"amount": "100000", "currency": "USD"}}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = app
        .get(&format!(
            "/v1/deals/{wholesale}/pro-forma?loan_principal=50000&holding_months=3&sale_price=120000"
        ))
        .token(&op)
        .send()
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some("model"));
    assert_eq!(
        pointers(&p),
        ["model", "loan_rate_percent", "loan_term_months"]
    );
    // Without a loan, the wholesale deal projects as a flip when asked to: 100,000 to 120,000
    // in three months is 20%, 107.36% a year ((1.2)^4 - 1 = 1.0736).
    let f = app
        .get(&format!(
            "/v1/deals/{wholesale}/pro-forma?model=flip&holding_months=3&sale_price=120000"
        ))
        .token(&op)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(f["flip"]["roi_percent"], "20.00");
    assert_eq!(f["flip"]["annualized_return_percent"], "107.36");

    // An unknown parameter is unreadable (400); an unknown deal is a 404.
    app.get(&url("monthly_rnt=1"))
        .token(&op)
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", None);
    app.get("/v1/deals/0190f000-0000-7000-8000-000000000000/pro-forma?hold_years=1")
        .token(&op)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
}

/// Books entries of the property directly through the ledger's API (the rent, expense and
/// capital routes are others' to test): `(key, day, debit code, credit code, amount)`.
async fn book(
    ledger: &propledger_ledger::Ledger,
    property: &str,
    entries: &[(&str, &str, &str, &str, &str)],
) {
    use propledger_ledger::core::{Amount, Currency, EntryDraft, IdempotencyKey, Source};
    let usd = Currency::parse("USD", 6).unwrap();
    let dim = propledger_api::books::property_dim(property).unwrap();
    let chart = ledger
        .accounts()
        .open_property_chart(&dim, usd)
        .await
        .unwrap();
    let account = |code: &str| {
        chart
            .iter()
            .find(|a| {
                a.code.as_str() == code
                    && a.dimensions.investor.is_none()
                    && a.dimensions.budget_line.is_none()
            })
            .unwrap()
            .id
    };
    for (key, day, debit, credit, amount) in entries {
        let amount = Amount::new(amount.parse().unwrap(), usd).unwrap();
        let draft = EntryDraft::builder(
            IdempotencyKey::parse(key).unwrap(),
            chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(),
            Source::operator(key).unwrap(),
        )
        .description(key)
        .debit(account(debit), amount)
        .credit(account(credit), amount)
        .build()
        .unwrap();
        ledger.entries().record(draft).await.unwrap();
    }
}

/// The returns follow the books exactly (figures worked out by hand, written beside each
/// assertion), whatever the day asked; the expected figures come from the deal.
async fn returns_read_the_books_beside_the_expected_figures(engine: Engine) {
    let app = TestApp::new(engine).await;
    let ledger = propledger_ledger::Ledger::connect(&app.url).await.unwrap();
    app.api.attach_ledger(ledger.clone()).unwrap();
    ledger
        .accounts()
        .define_currency(propledger_ledger::core::Currency::parse("USD", 6).unwrap())
        .await
        .unwrap();
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;
    let prop = property(&app, &op).await;
    let deal = planned_deal(&app, &op, &prop, "hold").await;

    // The owners put 100,000 in; the purchase is paid 240,000 by the loan and 60,000 in cash,
    // closing costs 9,000 in cash (through the costs route); 20,500 of improvements; rent,
    // taxes, insurance, and a year's interest and principal.
    book(
        &ledger,
        &prop,
        &[("capital-1", "2026-01-20", "1010", "3000", "100000")],
    )
    .await;
    for (key, kind, amount, from) in [
        ("p1", "purchase", "240000", "loan"),
        ("p2", "purchase", "60000", "cash"),
        ("c1", "closing", "9000", "cash"),
    ] {
        app.post(&format!("/v1/deals/{deal}/costs"))
            .token(&op)
            .header("idempotency-key", key)
            .json(
                &json!({"kind": kind, "amount": {"amount": amount, "currency": "USD"},
                          "paid_on": "2026-02-01", "paid_from": from}),
            )
            .send()
            .await
            .expect(StatusCode::CREATED);
    }
    book(
        &ledger,
        &prop,
        &[
            ("improvements-1", "2026-03-10", "1600", "1010", "20500"),
            ("insurance-1", "2026-05-01", "5300", "1010", "1200"),
            ("rent-1", "2026-06-30", "1010", "4000", "8400"),
            ("rent-2", "2026-12-31", "1010", "4000", "16800"),
            ("taxes-1", "2026-12-31", "5200", "1010", "3600"),
            ("interest-1", "2026-12-31", "5400", "1010", "11700"),
            ("principal-1", "2026-12-31", "2500", "1010", "2700"),
            ("rent-3", "2027-03-31", "1010", "4000", "8400"),
        ],
    )
    .await;

    let read = |q: &str| {
        let url = format!("/v1/deals/{deal}/returns{q}");
        let app = &app;
        let auditor = auditor.clone();
        async move {
            app.get(&url)
                .token(&auditor)
                .send()
                .await
                .expect(StatusCode::OK)
                .json()
        }
    };
    let r = read("?as_of=2027-01-31").await;
    assert_eq!(r["from"], "2026-01-15");
    assert_eq!(r["as_of"], "2027-01-31");
    assert_eq!(r["strategy"], "hold");
    // Life: rent 8,400 + 16,800; expenses 1,200 + 3,600 + 11,700.
    assert_eq!(
        amounts(&r, &["income", "expenses", "net_income"]),
        ["25200.000000", "16500.000000", "8700.000000"]
    );
    assert_eq!(
        amounts(
            &r["cost_basis"],
            &[
                "property_at_cost",
                "capitalized_closing_costs",
                "capitalized_improvements",
                "total"
            ]
        ),
        [
            "300000.000000",
            "9000.000000",
            "20500.000000",
            "329500.000000"
        ]
    );
    // Equity: 329,500 of cost less 240,000 borrowed.
    assert_eq!(
        amounts(
            &r,
            &[
                "loans_borrowed",
                "loans_outstanding",
                "investor_capital",
                "equity_invested"
            ]
        ),
        [
            "240000.000000",
            "237300.000000",
            "100000.000000",
            "89500.000000"
        ]
    );
    // 8,700 / 89,500 = 9.7207%.
    assert_eq!(r["roi_percent"], "9.72");
    let t = &r["trailing_12_months"];
    assert_eq!(t["from"], "2026-02-01");
    assert_eq!(t["to"], "2027-01-31");
    // NOI 25,200 - 4,800 = 20,400; cash flow 20,400 - 11,700 - 2,700 = 6,000.
    assert_eq!(
        amounts(
            t,
            &[
                "income",
                "operating_expenses",
                "noi",
                "interest",
                "principal_repaid",
                "cash_flow"
            ]
        ),
        [
            "25200.000000",
            "4800.000000",
            "20400.000000",
            "11700.000000",
            "2700.000000",
            "6000.000000"
        ]
    );
    // 6,000 / 89,500 = 6.7039%; 20,400 / 329,500 = 6.1912%.
    assert_eq!(r["cash_on_cash_percent"], "6.70");
    assert_eq!(r["cap_rate_percent"], "6.19");
    // Expected: 330,000 of cost, 90,000 of equity, 150,000 / 90,000 = 166.67%.
    assert_eq!(
        amounts(&r["expected"], &["cost_basis", "equity_invested", "profit"]),
        ["330000.000000", "90000.000000", "150000.000000"]
    );
    assert_eq!(r["expected"]["roi_percent"], "166.67");
    assert_eq!(r["profit_vs_expected"]["amount"], "-141300.000000");
    assert!(r.get("unavailable").is_none(), "{r}");

    // Once the deal has exited, its exit day is the last one counted.
    for (to, on) in [
        ("analyzing", "2026-01-16"),
        ("offer_made", "2026-01-17"),
        ("under_contract", "2026-01-18"),
        ("acquired", "2026-02-01"),
        ("stabilized", "2026-06-01"),
        ("exited", "2027-03-31"),
    ] {
        app.post(&format!("/v1/deals/{deal}/transitions"))
            .token(&op)
            .json(&json!({"to": to, "on": on}))
            .send()
            .await
            .expect(StatusCode::OK);
    }
    let r = read("").await;
    assert_eq!(r["as_of"], "2027-03-31");
    assert_eq!(r["status"], "exited");
    // Life: 33,600 of rent less 16,500 = 17,100; 17,100 / 89,500 = 19.1061%.
    assert_eq!(r["net_income"]["amount"], "17100.000000");
    assert_eq!(r["roi_percent"], "19.11");
    // April 2026 to March 2027: NOI 33,600 - 4,800 = 28,800; cash flow 14,400.
    assert_eq!(r["trailing_12_months"]["from"], "2026-04-01");
    assert_eq!(r["trailing_12_months"]["noi"]["amount"], "28800.000000");
    assert_eq!(
        r["trailing_12_months"]["cash_flow"]["amount"],
        "14400.000000"
    );
    // 14,400 / 89,500 = 16.0894%; 28,800 / 329,500 = 8.7405%.
    assert_eq!(r["cash_on_cash_percent"], "16.09");
    assert_eq!(r["cap_rate_percent"], "8.74");

    // Before anything was paid the books hold nothing: no ratio, each with its reason.
    let r = read("?as_of=2026-01-15").await;
    assert_eq!(r["equity_invested"]["amount"], "0.000000");
    assert_eq!(r["roi_percent"], Value::Null);
    assert_eq!(
        r.get("cap_rate_percent"),
        Some(&Value::Null),
        "a hold's cap rate is null"
    );
    for f in ["roi_percent", "cash_on_cash_percent", "cap_rate_percent"] {
        assert!(r["unavailable"][f].is_string(), "{f}: {r}");
    }
    // A day before the deal was found, or not a day, is refused; an investor-only or unknown
    // deal is not found.
    app.get(&format!("/v1/deals/{deal}/returns?as_of=2026-01-14"))
        .token(&auditor)
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("as_of"));
    app.get(&format!("/v1/deals/{deal}/returns?as_of=soon"))
        .token(&auditor)
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("as_of"));
    app.get("/v1/deals/0190f000-0000-7000-8000-000000000000/returns")
        .token(&auditor)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
}

/// A sale of a property that is not tokenized: the proceeds booked against its cost basis
/// (the loan paid off, the gain on sale), once per key, and the deal exited.
async fn a_sale_books_the_proceeds_and_exits_the_deal(engine: Engine) {
    let app = TestApp::new(engine).await;
    let ledger = propledger_ledger::Ledger::connect(&app.url).await.unwrap();
    app.api.attach_ledger(ledger.clone()).unwrap();
    ledger
        .accounts()
        .define_currency(propledger_ledger::core::Currency::parse("USD", 6).unwrap())
        .await
        .unwrap();
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;
    let prop = property(&app, &op).await;
    let deal = app
        .post("/v1/deals")
        .token(&op)
        .json(&deal_body(&prop))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (i, body) in [
        cost("purchase", "180000.00", "loan"),
        cost("closing", "7200.50", "payable"),
        cost("purchase", "60000", "payable"),
    ]
    .into_iter()
    .enumerate()
    {
        app.post(&format!("/v1/deals/{deal}/costs"))
            .token(&op)
            .header("idempotency-key", &format!("c{i}"))
            .json(&body)
            .send()
            .await
            .expect(StatusCode::CREATED);
    }
    let sale = json!({"price": {"amount": "300000", "currency": "USD"},
                      "selling_costs": {"amount": "18000", "currency": "USD"},
                      "loan_payoff": {"amount": "180000", "currency": "USD"},
                      "buyer": "Lakeview Holdings LLC", "sold_on": "2026-11-30"});
    let sell = |key: &'static str, body: Value| {
        let app = &app;
        let op = &op;
        let deal = &deal;
        async move {
            app.post(&format!("/v1/deals/{deal}/sale"))
                .token(op)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
        }
    };
    // A lead is not sold.
    let p = sell("early", sale.clone())
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "deal_status");
    for to in [
        "analyzing",
        "offer_made",
        "under_contract",
        "acquired",
        "listed",
    ] {
        app.post(&format!("/v1/deals/{deal}/transitions"))
            .token(&op)
            .json(&json!({"to": to, "on": "2026-11-21"}))
            .send()
            .await
            .expect(StatusCode::OK);
    }
    // Bad sales name their fields and book nothing.
    let mut over = sale.clone();
    over["loan_payoff"]["amount"] = json!("200000");
    sell("over", over).await.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/loan_payoff/amount"),
    );
    let mut costly = sale.clone();
    costly["selling_costs"]["amount"] = json!("130000.01");
    sell("costly", costly).await.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/selling_costs/amount"),
    );
    app.post(&format!("/v1/deals/{deal}/sale"))
        .token(&op)
        .json(&sale)
        .send()
        .await
        .problem(
            StatusCode::BAD_REQUEST,
            "validation",
            Some("Idempotency-Key"),
        );

    let sold = sell("sale", sale.clone()).await;
    let d = sold.expect(StatusCode::ACCEPTED).json();
    assert_eq!(d["status"], "exited");
    assert_eq!(
        d["transitions"].as_array().unwrap().last().unwrap()["on"],
        "2026-11-30"
    );
    assert_eq!(d["sale"]["basis"]["amount"], "247200.50");
    assert_eq!(d["sale"]["gain"]["amount"], "34799.50");
    assert!(
        d["sale"].get("deed_action").is_none(),
        "not tokenized: no deed moves"
    );
    // A retry answers the same and books nothing more.
    assert_eq!(
        sell("sale", sale).await.expect(StatusCode::ACCEPTED).json(),
        d
    );

    let bs = app
        .get(&format!("/v1/books/{prop}/balance-sheet"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let posted = |section: &str, code: &str| -> String {
        bs[section]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["code"] == code)
            .map_or("absent".to_owned(), |l| {
                l["posted"]["amount"].as_str().unwrap().to_owned()
            })
    };
    assert_eq!(posted("assets", "1500"), "0.000000");
    assert_eq!(posted("assets", "1510"), "0.000000");
    assert_eq!(posted("assets", "1010"), "102000.000000");
    assert_eq!(posted("liabilities", "2500"), "0.000000");
    assert_eq!(posted("liabilities", "2000"), "67200.500000");
    assert_eq!(
        bs["totals"][0]["current_earnings"]["amount"],
        "34799.500000"
    );
    assert_eq!(bs["totals"][0]["balanced"], true);

    // The deal's own reports: its property's books over its life (found on 1 November,
    // exited on 30 November); a period outside it is cut to it.
    let statement = |query: String| {
        let app = &app;
        let auditor = &auditor;
        let prop = &prop;
        async move {
            app.get(&format!("/v1/books/{prop}/income-statement?{query}"))
                .token(auditor)
                .send()
                .await
        }
    };
    let is = statement(format!("deal={deal}&to=2027-12-31"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(is["from"], "2026-11-01");
    assert_eq!(is["to"], "2026-11-30");
    assert_eq!(is["totals"][0]["net_income"]["amount"], "34799.500000");
    let other = property(&app, &op).await;
    let elsewhere = app
        .post("/v1/deals")
        .token(&op)
        .json(&deal_body(&other))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    statement(format!("deal={elsewhere}")).await.problem(
        StatusCode::BAD_REQUEST,
        "validation",
        Some("deal"),
    );
    let tb = app
        .get(&format!("/v1/books/{prop}/trial-balance?deal={deal}"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(tb["as_of"], "2026-11-30");

    // A sale booked again under the same request (a retry after the API failed part way, the
    // basis already taken off the books) finds its entry and its figures.
    app.post(&format!("/v1/deals/{elsewhere}/costs"))
        .token(&op)
        .header("idempotency-key", "other-purchase")
        .json(&cost("purchase", "1000", "loan"))
        .send()
        .await
        .expect(StatusCode::CREATED);
    let elsewhere_deal = propledger_api::deals::get(
        app.api.db().reader(),
        propledger_api::deals::DealId::parse(&elsewhere).unwrap(),
    )
    .await
    .unwrap();
    let checked = propledger_api::deals::sale::Checked {
        cents: (150_000, 10_000, 0),
        buyer: "Retry Buyer".to_owned(),
        deed_to: None,
        sold_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
    };
    let first = propledger_api::deals::sale::book(&ledger, &elsewhere_deal, &checked, "seed")
        .await
        .unwrap();
    let again = propledger_api::deals::sale::book(&ledger, &elsewhere_deal, &checked, "seed")
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first.1, "1000".parse::<rust_decimal::Decimal>().unwrap());
    assert_eq!(first.2, "400".parse::<rust_decimal::Decimal>().unwrap());
}
