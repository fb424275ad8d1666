//! Deals through the router: the happy path, validation, lists with cursors, and the pipeline
//! (every allowed move succeeds, every other one is a 409 naming the current status).

use axum::http::StatusCode;
use propledger_api::db::Engine;
use serde_json::{Value, json};

use crate::support::{TestApp, both_engines, property_body};

both_engines!(
    deal_create_read_list_and_validation,
    every_allowed_move_succeeds_and_every_other_is_refused,
    costs_book_balanced_entries_the_books_report,
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
    assert!(ledger.verifier().chain().await.unwrap().is_intact());
}
