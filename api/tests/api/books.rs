//! The books through the router: entries filtered and paged, and the books exported as CSV and
//! Beancount (checked with `bean-check`).

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::StatusCode;
use propledger_api::db::Engine;
use serde_json::{Value, json};

use crate::support::{TestApp, both_engines, property_body};

both_engines!(
    entries_filter_and_page,
    exports_stream_the_books,
    valuations_and_capital_accounts,
    cash_flow_by_activity,
);

/// Two properties with a deal each and costs booked: three entries on the first, one on the
/// second. Returns the app, an auditor's key, and (property, deal) of each.
async fn books(engine: Engine) -> (TestApp, String, [(String, String); 2]) {
    let (app, auditor, made, _) = books_with_ledger(engine).await;
    (app, auditor, made)
}

async fn books_with_ledger(
    engine: Engine,
) -> (
    TestApp,
    String,
    [(String, String); 2],
    propledger_ledger::Ledger,
) {
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
    let mut made = Vec::new();
    for city in ["Chicago", "Denver"] {
        let property = app
            .post("/v1/properties")
            .token(&op)
            .json(&property_body(city, 41.9, -87.6, "250000.00", 1200))
            .send()
            .await
            .expect(StatusCode::CREATED)
            .json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let deal = app
            .post("/v1/deals")
            .token(&op)
            .json(&json!({
                "property_id": property, "strategy": "hold", "found_on": "2026-11-01",
                "purchase_price": {"amount": "240000.00", "currency": "USD"},
            }))
            .send()
            .await
            .expect(StatusCode::CREATED)
            .json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        made.push((property, deal));
    }
    let cost = |kind: &str, amount: &str, from: &str, on: &str| {
        json!({"kind": kind, "amount": {"amount": amount, "currency": "USD"}, "paid_on": on,
               "paid_from": from})
    };
    for (i, (deal, body)) in [
        (&made[0].1, cost("purchase", "180000", "loan", "2026-11-20")),
        (
            &made[0].1,
            cost("closing", "7200.5", "payable", "2026-11-21"),
        ),
        (&made[1].1, cost("closing", "500", "payable", "2026-11-21")),
        (
            &made[0].1,
            cost("purchase", "60000", "payable", "2026-11-22"),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        app.post(&format!("/v1/deals/{deal}/costs"))
            .token(&op)
            .header("idempotency-key", &format!("cost-{i}"))
            .json(&body)
            .send()
            .await
            .expect(StatusCode::CREATED);
    }
    let second = made.pop().unwrap();
    let first = made.pop().unwrap();
    (app, auditor, [first, second], ledger)
}

/// The entries a list returns, following its cursors; each as (description start, postings as
/// `code direction amount`).
async fn all_pages(app: &TestApp, token: &str, query: &str, limit: u32) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/books/entries?limit={limit}&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app
            .get(&path)
            .token(token)
            .send()
            .await
            .expect(StatusCode::OK)
            .json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        out.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    out
}

fn postings(entry: &Value) -> Vec<String> {
    entry["postings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p["code"].as_str().unwrap(),
                p["direction"].as_str().unwrap(),
                p["amount"]["amount"].as_str().unwrap()
            )
        })
        .collect()
}

async fn entries_filter_and_page(engine: Engine) {
    let (app, auditor, [(a, a_deal), (b, _)]) = books(engine).await;
    let count = |q: &'static str| {
        let app = &app;
        let auditor = &auditor;
        async move { all_pages(app, auditor, q, 50).await.len() }
    };

    // A property's entries, two to a page, in the order they were booked.
    let of_a = all_pages(&app, &auditor, &format!("property={a}"), 2).await;
    assert_eq!(of_a.len(), 3);
    assert_eq!(
        of_a.iter().map(postings).collect::<Vec<_>>(),
        [
            ["1500 debit 180000.000000", "2500 credit 180000.000000"],
            ["1510 debit 7200.500000", "2000 credit 7200.500000"],
            ["1500 debit 60000.000000", "2000 credit 60000.000000"],
        ]
    );
    let first = &of_a[0];
    assert_eq!(first["effective_date"], "2026-11-20");
    assert_eq!(first["status"], "posted");
    assert!(
        first["source"]
            .as_str()
            .unwrap()
            .starts_with("operator:deal")
    );
    assert!(first["hash"].as_str().is_some() && first["chain_seq"].is_u64());
    let ids: Vec<i64> = of_a.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // The whole books, and each filter on its own and together.
    assert_eq!(count("").await, 4);
    assert_eq!(
        all_pages(&app, &auditor, &format!("property={b}"), 50)
            .await
            .iter()
            .map(postings)
            .collect::<Vec<_>>(),
        [["1510 debit 500.000000", "2000 credit 500.000000"]]
    );
    assert_eq!(
        all_pages(&app, &auditor, &format!("deal={a_deal}"), 50)
            .await
            .len(),
        3
    );
    let accounts = app
        .get(&format!("/v1/books/{a}/accounts"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let loan = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == "2500")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let by_loan = all_pages(&app, &auditor, &format!("account={loan}"), 50).await;
    assert_eq!(by_loan.len(), 1);
    assert_eq!(by_loan[0]["id"], of_a[0]["id"]);
    let on_21st = all_pages(
        &app,
        &auditor,
        &format!("property={a}&from=2026-11-21&to=2026-11-21"),
        50,
    )
    .await;
    assert_eq!(on_21st.len(), 1);
    assert_eq!(on_21st[0]["id"], of_a[1]["id"]);
    assert_eq!(count("from=2026-11-21").await, 3);
    assert_eq!(count("source=operator").await, 4);
    assert_eq!(count("source=chain").await, 0);
    assert_eq!(count("status=posted").await, 4);
    assert_eq!(count("status=pending").await, 0);

    // Bad filters are refused, naming the parameter.
    for (query, field) in [
        ("source=bank".to_owned(), "source"),
        ("status=done".to_owned(), "status"),
        ("from=2026-11-22&to=2026-11-21".to_owned(), "from"),
        ("from=22%20Nov".to_owned(), "from"),
        ("account=0".to_owned(), "account"),
        ("cursor=nope".to_owned(), "cursor"),
        ("limit=0".to_owned(), "limit"),
        ("deal=nope".to_owned(), "deal"),
        (format!("deal={a_deal}&property={b}"), "deal"),
    ] {
        app.get(&format!("/v1/books/entries?{query}"))
            .token(&auditor)
            .send()
            .await
            .problem(StatusCode::BAD_REQUEST, "validation", Some(field));
    }
    // Staff only.
    app.get("/v1/books/entries")
        .send()
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

/// Checks a Beancount file with `bean-check` (skipped, outside CI, where it is not installed).
pub(crate) fn bean_check_text(text: &str) {
    let Some(program) = bean_check_program() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "bean-check is not installed; run scripts/install-test-tools"
        );
        eprintln!("SKIPPED: bean-check is not installed; the export was not checked");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("books.beancount");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(&program).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "bean-check refused the export:\n{}\n{text}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `bean-check` from PATH, or from the virtualenv `scripts/install-test-tools` creates.
fn bean_check_program() -> Option<PathBuf> {
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-tools/beancount/bin/bean-check");
    [PathBuf::from("bean-check"), venv].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

async fn exports_stream_the_books(engine: Engine) {
    let (app, auditor, [(a, _), (b, _)]) = books(engine).await;
    let export = |query: String| {
        let app = &app;
        let auditor = &auditor;
        async move {
            app.get(&format!("/v1/books/export?{query}"))
                .token(auditor)
                .send()
                .await
        }
    };

    // CSV: a header and one row per posting; one property's rows, or all.
    let r = export(format!("format=csv&property={a}")).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with(&format!("books-{a}.csv\""))
    );
    let text = String::from_utf8(r.bytes.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("entry_id,chain_seq,status,effective_date,"));
    assert_eq!(lines.len(), 1 + 6, "{text}");
    assert!(lines.iter().any(|l| l.contains(",180000.000000,USD,")));
    assert!(!text.contains(",500.000000,USD,"), "only its own rows");
    let all = export("format=csv".to_owned()).await;
    assert_eq!(String::from_utf8_lossy(&all.bytes).lines().count(), 1 + 8);

    // Beancount: every account opened, every entry, an assertion per account of the property
    // equal to its balance.
    let r = export(format!("format=beancount&property={b}")).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/plain; charset=utf-8");
    let text = String::from_utf8(r.bytes.clone()).unwrap();
    assert_eq!(text.matches(" * ").count(), 1, "{text}");
    let asserted: Vec<&str> = text.lines().filter(|l| l.contains(" balance ")).collect();
    assert!(
        asserted
            .iter()
            .any(|l| l.ends_with(":C1510  500.000000 USD")),
        "{text}"
    );
    assert!(
        asserted
            .iter()
            .any(|l| l.ends_with(":C2000  -500.000000 USD")),
        "{text}"
    );
    for query in [
        format!("format=beancount&property={a}"),
        "format=beancount".into(),
    ] {
        let text = String::from_utf8(export(query).await.bytes.clone()).unwrap();
        bean_check_text(&text);
    }

    // Bad requests change nothing and say why.
    export("format=xml".to_owned()).await.problem(
        StatusCode::BAD_REQUEST,
        "validation",
        Some("format"),
    );
    export("format=beancount&include_voided=true".to_owned())
        .await
        .problem(
            StatusCode::BAD_REQUEST,
            "validation",
            Some("include_voided"),
        );
    export(format!(
        "format=csv&property={}",
        "0190b3c4-0000-7000-8000-000000000000"
    ))
    .await
    .expect(StatusCode::NOT_FOUND);
}

/// Two investors' capital in the first property's books, as the indexer books it from the
/// chain: contributions, a refund, a distribution.
pub(crate) async fn capital(ledger: &propledger_ledger::Ledger, property: &str) {
    use propledger_ledger::core::chart::codes;
    use propledger_ledger::core::{
        AccountCode, AccountType, Amount, Currency, DimValue, Dimensions, EntryDraft,
        IdempotencyKey, NewAccount, Source,
    };
    let usd = Currency::parse("USD", 6).unwrap();
    let dim = propledger_api::books::property_dim(property).unwrap();
    let chart = ledger
        .accounts()
        .open_property_chart(&dim, usd)
        .await
        .unwrap();
    let treasury = chart
        .iter()
        .find(|a| a.code.as_str() == codes::TREASURY_CASH)
        .unwrap()
        .id;
    let account = |code: &str, name: &str, investor: &str| {
        NewAccount::new(
            AccountCode::parse(code).unwrap(),
            name,
            AccountType::Equity,
            usd,
        )
        .with_dimensions(
            Dimensions::property(dim.clone()).with_investor(DimValue::parse(investor).unwrap()),
        )
    };
    let open = |a: NewAccount| async move { ledger.accounts().open(a).await.unwrap().id };
    let cap_a = open(account(codes::INVESTOR_CAPITAL, "Capital A", "inv-a")).await;
    let cap_b = open(account(codes::INVESTOR_CAPITAL, "Capital B", "inv-b")).await;
    let dist_a = open(account(codes::DISTRIBUTIONS, "Distributions A", "inv-a")).await;
    let amt = |v: &str| Amount::parse(v, usd).unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 10).unwrap();
    for (key, debit, credit, amount) in [
        ("cap-a", treasury, cap_a, "100000"),
        ("cap-b", treasury, cap_b, "50000"),
        ("refund-b", cap_b, treasury, "10000"),
        ("dist-a", dist_a, treasury, "2000"),
    ] {
        let draft = EntryDraft::builder(
            IdempotencyKey::parse(key).unwrap(),
            day,
            Source::operator(key).unwrap(),
        )
        .description(key)
        .debit(debit, amt(amount))
        .credit(credit, amt(amount))
        .build()
        .unwrap();
        ledger.entries().record(draft).await.unwrap();
    }
}

async fn valuations_and_capital_accounts(engine: Engine) {
    let (app, auditor, [(a, _), (b, _)], ledger) = books_with_ledger(engine).await;
    let op = app.key("operator").await;
    capital(&ledger, &a).await;
    let valuations = format!("/v1/properties/{a}/valuations");
    let capital_of = |query: &'static str| {
        let app = &app;
        let auditor = &auditor;
        let a = &a;
        async move {
            app.get(&format!("/v1/books/{a}/capital-accounts{query}"))
                .token(auditor)
                .send()
                .await
                .expect(StatusCode::OK)
                .json()
        }
    };
    let figures = |c: &Value| -> Vec<(String, String, String, String, String, String)> {
        c["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                let m = |k: &str| x[k]["amount"].as_str().unwrap().to_owned();
                (
                    x["investor"].as_str().unwrap().to_owned(),
                    m("contributed"),
                    m("returned"),
                    m("distributed"),
                    m("balance"),
                    format!(
                        "{} {}",
                        x["ownership_percent"].as_str().unwrap(),
                        m("current_value")
                    ),
                )
            })
            .collect()
    };
    let row = |i: &str, c: &str, r: &str, d: &str, b: &str, v: &str| {
        (i.into(), c.into(), r.into(), d.into(), b.into(), v.into())
    };

    // No valuation yet: the real estate counts at book value (cost and closing costs).
    let c = capital_of("").await;
    assert!(c.get("valuation").is_none(), "{c}");
    assert_eq!(c["real_estate"]["amount"], "247200.500000");
    assert_eq!(c["real_estate_at_book"]["amount"], "247200.500000");
    assert_eq!(c["other_assets"]["amount"], "138000.000000");
    assert_eq!(c["liabilities"]["amount"], "247200.500000");
    assert_eq!(c["net_asset_value"]["amount"], "138000.000000");
    assert_eq!(
        figures(&c),
        [
            row(
                "inv-a",
                "100000.000000",
                "0.000000",
                "2000.000000",
                "98000.000000",
                "71.0145 98000.000000"
            ),
            row(
                "inv-b",
                "50000.000000",
                "10000.000000",
                "0.000000",
                "40000.000000",
                "28.9855 40000.000000"
            ),
        ]
    );

    // A valuation: recorded once per key, listed, and the capital accounts count it.
    let body = json!({"value": {"amount": "300000.00", "currency": "USD"}, "valued_on": "2026-11-25",
                      "source": "appraisal", "note": "  Full interior appraisal  "});
    let recorded = app
        .post(&valuations)
        .token(&op)
        .header("idempotency-key", "v1")
        .json(&body)
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(
        recorded["value"],
        json!({"amount": "300000.00", "currency": "USD"})
    );
    assert_eq!(recorded["note"], "Full interior appraisal");
    let again = app
        .post(&valuations)
        .token(&op)
        .header("idempotency-key", "v1")
        .json(&body)
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(again, recorded);
    // An older one, recorded later, does not supersede it.
    app.post(&valuations)
        .token(&op)
        .json(
            &json!({"value": {"amount": "260000", "currency": "USD"}, "valued_on": "2026-11-01",
                      "source": "broker_opinion"}),
        )
        .send()
        .await
        .expect(StatusCode::CREATED);
    let listed = app
        .get(&valuations)
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert_eq!(listed["current"]["id"], recorded["id"]);

    let c = capital_of("").await;
    assert_eq!(c["valuation"]["id"], recorded["id"]);
    assert_eq!(c["real_estate"]["amount"], "300000.000000");
    assert_eq!(c["net_asset_value"]["amount"], "190799.500000");
    assert_eq!(
        figures(&c),
        [
            row(
                "inv-a",
                "100000.000000",
                "0.000000",
                "2000.000000",
                "98000.000000",
                "71.0145 135495.297101"
            ),
            row(
                "inv-b",
                "50000.000000",
                "10000.000000",
                "0.000000",
                "40000.000000",
                "28.9855 55304.202899"
            ),
        ]
    );
    // As of a day before it, the older valuation counts, and the books as of that day.
    let c = capital_of("?as_of=2026-11-20").await;
    assert_eq!(c["valuation"]["valued_on"], "2026-11-01");
    // Only the purchase on the 20th: 180000 at cost, owed to the lender.
    assert_eq!(c["real_estate_at_book"]["amount"], "180000.000000");
    assert_eq!(c["net_asset_value"]["amount"], "218000.000000");

    // Bad valuations change nothing and name the field.
    for (bad, field) in [
        (
            json!({"value": {"amount": "0", "currency": "USD"}, "valued_on": "2026-11-25", "source": "operator"}),
            "/value/amount",
        ),
        (
            json!({"value": {"amount": "1.001", "currency": "USD"}, "valued_on": "2026-11-25", "source": "operator"}),
            "/value/amount",
        ),
        (
            json!({"value": {"amount": "1", "currency": "EUR"}, "valued_on": "2026-11-25", "source": "operator"}),
            "/value/currency",
        ),
        (
            json!({"value": {"amount": "1", "currency": "USD"}, "valued_on": "2999-01-01", "source": "operator"}),
            "/valued_on",
        ),
        (
            json!({"value": {"amount": "1", "currency": "USD"}, "valued_on": "2026-11-25", "source": "operator",
                "document_id": "nope"}),
            "/document_id",
        ),
    ] {
        app.post(&valuations)
            .token(&op)
            .json(&bad)
            .send()
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some(field));
    }
    app.post(&valuations)
        .token(&auditor)
        .json(&body)
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    let listed = app
        .get(&valuations)
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    app.get(&format!(
        "/v1/properties/{}/valuations",
        "0190b3c4-0000-7000-8000-000000000000"
    ))
    .token(&auditor)
    .send()
    .await
    .expect(StatusCode::NOT_FOUND);
    // The other property has no investors yet.
    let other = app
        .get(&format!("/v1/books/{b}/capital-accounts"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(other["accounts"], json!([]));
}

/// Cash moves of every kind in the property's books: an improvement paid partly by a loan, a
/// move from the treasury to the distributor, rent, and one payment of two expenses.
async fn cash_activity(ledger: &propledger_ledger::Ledger, property: &str) {
    use propledger_ledger::core::chart::codes;
    use propledger_ledger::core::{Amount, Currency, EntryDraft, IdempotencyKey, Source};
    let usd = Currency::parse("USD", 6).unwrap();
    let dim = propledger_api::books::property_dim(property).unwrap();
    let chart = ledger
        .accounts()
        .open_property_chart(&dim, usd)
        .await
        .unwrap();
    let id = |code: &str| chart.iter().find(|a| a.code.as_str() == code).unwrap().id;
    let amt = |v: &str| Amount::parse(v, usd).unwrap();
    let entry = |key: &str, day: u32| {
        EntryDraft::builder(
            IdempotencyKey::parse(key).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            Source::operator(key).unwrap(),
        )
        .description(key)
    };
    let drafts = vec![
        entry("roof", 23)
            .debit(id(codes::CAPITALIZED_IMPROVEMENTS), amt("9000"))
            .credit(id(codes::TREASURY_CASH), amt("6000"))
            .credit(id(codes::LOANS_PAYABLE), amt("3000")),
        entry("to-distributor", 23)
            .debit(id(codes::DISTRIBUTOR_CASH), amt("500"))
            .credit(id(codes::TREASURY_CASH), amt("500")),
        entry("rent", 24)
            .debit(id(codes::OPERATING_CASH), amt("1500"))
            .credit(id(codes::RENTAL_INCOME), amt("1500")),
        entry("bills", 25)
            .debit(id(codes::MANAGEMENT_FEES), amt("100"))
            .debit(id(codes::INSURANCE), amt("200"))
            .credit(id(codes::OPERATING_CASH), amt("300")),
    ];
    for d in drafts {
        ledger.entries().record(d.build().unwrap()).await.unwrap();
    }
}

async fn cash_flow_by_activity(engine: Engine) {
    let (app, auditor, [(a, _), _], ledger) = books_with_ledger(engine).await;
    capital(&ledger, &a).await;
    cash_activity(&ledger, &a).await;
    let statement = |query: &'static str| {
        let app = &app;
        let auditor = &auditor;
        let a = &a;
        async move {
            app.get(&format!("/v1/books/{a}/cash-flow{query}"))
                .token(auditor)
                .send()
                .await
        }
    };
    let lines = |s: &Value, section: &str| -> Vec<String> {
        s[section]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                format!(
                    "{} in {} out {} net {}",
                    l["code"].as_str().unwrap(),
                    l["inflow"]["amount"].as_str().unwrap(),
                    l["outflow"]["amount"].as_str().unwrap(),
                    l["net"]["amount"].as_str().unwrap()
                )
            })
            .collect()
    };

    // Everything: the loan's part of the improvement and the move to the distributor are no
    // flows; the three sections add up to the cash the accounts hold.
    let s = statement("").await.expect(StatusCode::OK).json();
    assert_eq!(s["opening_cash"]["amount"], "0.000000");
    assert_eq!(
        lines(&s, "operating"),
        [
            "4000 in 1500.000000 out 0.000000 net 1500.000000",
            "5100 in 0.000000 out 100.000000 net -100.000000",
            "5300 in 0.000000 out 200.000000 net -200.000000",
        ]
    );
    assert_eq!(s["operating"]["net"]["amount"], "1200.000000");
    assert_eq!(
        lines(&s, "investing"),
        ["1600 in 0.000000 out 6000.000000 net -6000.000000"]
    );
    assert_eq!(
        lines(&s, "financing"),
        [
            "3000 in 150000.000000 out 10000.000000 net 140000.000000",
            "3100 in 0.000000 out 2000.000000 net -2000.000000",
        ]
    );
    assert_eq!(s["financing"]["net"]["amount"], "138000.000000");
    assert_eq!(s["net_change"]["amount"], "133200.000000");
    assert_eq!(s["closing_cash"]["amount"], "133200.000000");

    // A period: the cash before it opens it, and only its flows count.
    let s = statement("?from=2026-11-21&to=2026-11-24")
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(s["from"], "2026-11-21");
    assert_eq!(s["opening_cash"]["amount"], "138000.000000");
    assert_eq!(
        lines(&s, "operating"),
        ["4000 in 1500.000000 out 0.000000 net 1500.000000"]
    );
    assert_eq!(s["investing"]["net"]["amount"], "-6000.000000");
    assert!(lines(&s, "financing").is_empty());
    assert_eq!(s["net_change"]["amount"], "-4500.000000");
    assert_eq!(s["closing_cash"]["amount"], "133500.000000");

    statement("?from=2026-11-25&to=2026-11-24").await.problem(
        StatusCode::BAD_REQUEST,
        "validation",
        Some("from"),
    );
    app.get(&format!(
        "/v1/books/{}/cash-flow",
        "0190b3c4-0000-7000-8000-000000000000"
    ))
    .token(&auditor)
    .send()
    .await
    .expect(StatusCode::NOT_FOUND);
}
