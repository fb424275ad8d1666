//! Rent and expenses through the router: recorded and booked once per key, a year of scheduled
//! rent posted once whatever runs it, validation, and the income statement's exact figures.

use axum::http::StatusCode;
use chrono::NaiveDate;
use propledger_api::db::Engine;
use serde_json::{Value, json};

use crate::support::{TestApp, both_engines, property_body};

both_engines!(
    rent_and_expenses_are_booked,
    a_schedule_posts_each_month_once,
    random_histories_keep_the_books_true,
    analytics_of_a_year,
);

async fn setup(engine: Engine) -> (TestApp, propledger_ledger::Ledger, String, String, String) {
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
    let property = app
        .post("/v1/properties")
        .token(&op)
        .json(&property_body("Chicago", 41.9, -87.6, "250000.00", 1200))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, ledger, op, auditor, property)
}

fn txn(category: &str, amount: &str, on: &str) -> Value {
    json!({"category": category, "amount": {"amount": amount, "currency": "USD"},
           "occurred_on": on, "counterparty": "Acme Property Co"})
}

async fn rent_and_expenses_are_booked(engine: Engine) {
    let (app, _ledger, op, auditor, property) = setup(engine).await;
    let path = format!("/v1/properties/{property}/transactions");
    let post = |key: &str, body: Value| {
        let app = &app;
        let op = &op;
        let path = &path;
        let key = key.to_owned();
        async move {
            app.post(path)
                .token(op)
                .header("idempotency-key", &key)
                .json(&body)
                .send()
                .await
        }
    };

    // Rent through the bank, then expenses it pays.
    let rent = post("r1", txn("rent", "2400.00", "2026-03-01")).await;
    let rent = rent.expect(StatusCode::CREATED).json();
    assert_eq!(rent["kind"], "income");
    assert_eq!(rent["paid_via"], "bank");
    assert_eq!(
        rent["amount"],
        json!({"amount": "2400.00", "currency": "USD"})
    );
    // A retry books nothing more.
    let again = post("r1", txn("rent", "2400.00", "2026-03-01")).await;
    assert_eq!(again.expect(StatusCode::CREATED).json(), rent);
    for (key, body) in [
        ("e1", txn("management", "240.00", "2026-03-05")),
        ("e2", txn("taxes", "310.55", "2026-03-10")),
        ("e3", txn("hoa", "75.00", "2026-03-15")),
        ("e4", txn("other", "19.45", "2026-03-20")),
    ] {
        post(key, body).await.expect(StatusCode::CREATED);
    }
    // An invoice in euros, converted explicitly: 100.05 EUR at 1.085 is 108.55425, booked as
    // 108.55 USD; the transaction keeps the original and the rate, the entry names them.
    let mut eur = txn("utilities", "100.05", "2026-03-25");
    eur["amount"]["currency"] = json!("EUR");
    eur["conversion"] = json!({"rate": "1.0850", "source": "Bank confirmation 2026-03-25"});
    let eur = post("e5", eur).await.expect(StatusCode::CREATED).json();
    assert_eq!(
        eur["amount"],
        json!({"amount": "108.55", "currency": "USD"})
    );
    assert_eq!(
        eur["converted_from"],
        json!({"original": {"amount": "100.05", "currency": "EUR"},
               "conversion": {"rate": "1.085", "source": "Bank confirmation 2026-03-25"}})
    );
    let entry = app
        .get(&format!(
            "/v1/books/entries?property={property}&from=2026-03-25&to=2026-03-25"
        ))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(
        entry.to_string().contains("EUR 100.05 at 1.085 USD each"),
        "{entry}"
    );
    let reference = format!("0x{}", "ab".repeat(32));
    let mut chain_rent = txn("rent", "1200.00", "2026-03-31");
    chain_rent["paid_via"] = json!("chain");
    chain_rent["reference"] = json!(reference.to_uppercase().replace("0X", "0x"));
    let chain_rent = post("r2", chain_rent)
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(chain_rent["reference"], reference);

    // What the operating cash cannot pay is refused and books nothing.
    let p = post("big", txn("repairs", "5000.00", "2026-03-21"))
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "insufficient_funds");

    // Bad transactions name their fields.
    let mut expense_on_chain = txn("utilities", "10.00", "2026-03-01");
    expense_on_chain["paid_via"] = json!("chain");
    let mut rent_on_chain = txn("rent", "10.00", "2026-03-01");
    rent_on_chain["paid_via"] = json!("chain");
    let mut bad_reference = txn("rent", "10.00", "2026-03-01");
    bad_reference["reference"] = json!("0x1234");
    let mut bad_receipt = txn("rent", "10.00", "2026-03-01");
    bad_receipt["receipt_document_id"] = json!("0190b3c4-0000-7000-8000-000000000000");
    let mut nobody = txn("rent", "10.00", "2026-03-01");
    nobody["counterparty"] = json!("   ");
    let mut unconverted = txn("repairs", "10.00", "2026-03-01");
    unconverted["amount"]["currency"] = json!("EUR");
    let mut converted_usd = txn("repairs", "10.00", "2026-03-01");
    converted_usd["conversion"] = json!({"rate": "1", "source": "x"});
    let mut bad_rate = unconverted.clone();
    bad_rate["conversion"] = json!({"rate": "0", "source": "x"});
    let mut overflowing = unconverted.clone();
    overflowing["amount"]["amount"] = json!(format!("{}.00", "9".repeat(26)));
    overflowing["conversion"] = json!({"rate": "999999", "source": "x"});
    for (i, (body, field)) in [
        (expense_on_chain, "/paid_via"),
        (rent_on_chain, "/reference"),
        (bad_reference, "/reference"),
        (bad_receipt, "/receipt_document_id"),
        (nobody, "/counterparty"),
        (unconverted, "/conversion"),
        (converted_usd, "/conversion"),
        (bad_rate, "/conversion/rate"),
        (overflowing, "/amount/amount"),
        (txn("rent", "0", "2026-03-01"), "/amount/amount"),
        (txn("rent", "1.005", "2026-03-01"), "/amount/amount"),
        (txn("rent", "10", "2999-03-01"), "/occurred_on"),
    ]
    .into_iter()
    .enumerate()
    {
        post(&format!("bad-{i}"), body).await.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some(field),
        );
    }
    app.post(&path)
        .token(&op)
        .json(&txn("rent", "10.00", "2026-03-01"))
        .send()
        .await
        .problem(
            StatusCode::BAD_REQUEST,
            "validation",
            Some("Idempotency-Key"),
        );
    app.post(&path)
        .token(&auditor)
        .header("idempotency-key", "auditor")
        .json(&txn("rent", "10.00", "2026-03-01"))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);

    // The list, filtered; nothing refused is in it.
    let listed = |query: &'static str| {
        let app = &app;
        let auditor = &auditor;
        let path = &path;
        async move {
            app.get(&format!("{path}{query}"))
                .token(auditor)
                .send()
                .await
                .expect(StatusCode::OK)
                .json()["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    assert_eq!(listed("").await.len(), 7);
    assert_eq!(listed("?category=rent").await.len(), 2);
    assert_eq!(listed("?from=2026-03-10&to=2026-03-20").await.len(), 3);
    let first = &listed("").await[0];
    assert_eq!(first["id"], rent["id"]);
    assert!(first.get("matched").is_none(), "no index, no match");

    // The income statement: rent from the bank and the chain, the deposit's other income moved
    // to rent, each expense on its account.
    let statement = app
        .get(&format!(
            "/v1/books/{property}/income-statement?from=2026-03-01&to=2026-03-31"
        ))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let lines = |section: &str| -> Vec<(String, String)> {
        statement[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["code"].as_str().unwrap().to_owned(),
                    l["posted"]["amount"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let pair = |c: &str, a: &str| (c.to_owned(), a.to_owned());
    assert_eq!(
        lines("income"),
        [pair("4000", "3600.000000"), pair("4100", "-1200.000000")]
    );
    assert_eq!(
        lines("expenses"),
        [
            pair("5100", "240.000000"),
            pair("5200", "310.550000"),
            pair("5500", "108.550000"),
            pair("5600", "75.000000"),
            pair("5900", "19.450000"),
        ]
    );
    assert_eq!(
        statement["totals"][0]["net_income"]["amount"],
        "1646.450000"
    );
}

async fn a_schedule_posts_each_month_once(engine: Engine) {
    let (app, ledger, op, auditor, property) = setup(engine).await;
    let path = format!("/v1/properties/{property}/rent-schedules");
    let s = app
        .post(&path)
        .token(&op)
        .json(
            &json!({"amount": {"amount": "1850.00", "currency": "USD"}, "day_of_month": 1,
                      "starts_on": "2025-11-15", "ends_on": "2026-11-30", "tenant": "J. Doe"}),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    // The first 1st on or after the start.
    assert_eq!(s["next_due"], "2025-12-01");
    assert_eq!(s["posted"], 0);

    // Two runners at once, then again: twelve months, each once.
    let db = app.api.db();
    let today = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let (a, b) = tokio::join!(
        propledger_api::transactions::post_due(db, &ledger, today),
        propledger_api::transactions::post_due(db, &ledger, today),
    );
    assert_eq!(a.unwrap() + b.unwrap(), 12);
    assert_eq!(
        propledger_api::transactions::post_due(db, &ledger, today)
            .await
            .unwrap(),
        0
    );
    let listed = app
        .get(&path)
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let s = &listed["items"][0];
    assert_eq!(s["posted"], 12);
    assert!(s.get("next_due").is_none(), "the schedule is over: {s}");
    let rents = app
        .get(&format!(
            "/v1/properties/{property}/transactions?category=rent&limit=200"
        ))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let days: Vec<&str> = rents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["occurred_on"].as_str().unwrap())
        .collect();
    let mut sorted = days.clone();
    sorted.sort();
    assert_eq!(sorted.first(), Some(&"2025-12-01"));
    assert_eq!(sorted.last(), Some(&"2026-11-01"));
    assert_eq!(days.len(), 12);
    sorted.dedup();
    assert_eq!(sorted.len(), 12);
    let statement = app
        .get(&format!("/v1/books/{property}/income-statement"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(statement["income"][0]["code"], "4000");
    assert_eq!(statement["income"][0]["posted"]["amount"], "22200.000000");

    // A schedule not due yet posts nothing; bad schedules name their fields.
    for (body, field) in [
        (
            json!({"amount": {"amount": "1", "currency": "USD"}, "day_of_month": 29,
                "starts_on": "2026-01-01", "tenant": "T"}),
            "/day_of_month",
        ),
        (
            json!({"amount": {"amount": "1", "currency": "USD"}, "day_of_month": 1,
                "starts_on": "2026-01-01", "ends_on": "2025-01-01", "tenant": "T"}),
            "/ends_on",
        ),
        (
            json!({"amount": {"amount": "-1", "currency": "USD"}, "day_of_month": 1,
                "starts_on": "2026-01-01", "tenant": "T"}),
            "/amount/amount",
        ),
    ] {
        app.post(&path).token(&op).json(&body).send().await.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some(field),
        );
    }
    app.post(&path)
        .token(&op)
        .json(
            &json!({"amount": {"amount": "900", "currency": "USD"}, "day_of_month": 5,
                      "starts_on": "2027-01-01", "tenant": "Later"}),
        )
        .send()
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        propledger_api::transactions::post_due(db, &ledger, today)
            .await
            .unwrap(),
        0
    );
}

/// Random cases per engine (each a fresh property with up to 14 transactions and draws).
const CASES: u32 = 8;

/// One transaction of a random history.
#[derive(Clone, Debug)]
enum Op {
    Rent {
        cents: i64,
        day: u32,
    },
    Expense {
        category: usize,
        cents: i64,
        day: u32,
    },
    /// A rehab draw against the case's one line, paid through the bank.
    Draw {
        cents: i64,
        day: u32,
    },
}

/// The budget of each case's rehab line, in cents.
const LINE_BUDGET: i64 = 400_000;

/// Expense categories and the account each books to.
const EXPENSES: [(&str, &str); 7] = [
    ("management", "5100"),
    ("taxes", "5200"),
    ("insurance", "5300"),
    ("utilities", "5500"),
    ("repairs", "5000"),
    ("hoa", "5600"),
    ("other", "5900"),
];

fn op_strategy() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (1i64..=300_000, 1u32..=28).prop_map(|(cents, day)| Op::Rent { cents, day }),
        (0usize..EXPENSES.len(), 1i64..=150_000, 1u32..=28).prop_map(|(category, cents, day)| {
            Op::Expense {
                category,
                cents,
                day,
            }
        }),
        (1i64..=250_000, 1u32..=28).prop_map(|(cents, day)| Op::Draw { cents, day }),
    ]
}

/// An amount of a report; a total the report leaves out (no activity) is zero.
fn dec(v: &Value) -> rust_decimal::Decimal {
    if v.is_null() {
        return rust_decimal::Decimal::ZERO;
    }
    v.as_str()
        .unwrap_or_else(|| panic!("not an amount: {v}"))
        .parse()
        .unwrap()
}

fn cents(c: i64) -> rust_decimal::Decimal {
    rust_decimal::Decimal::new(c, 2)
}

/// Applies a history through the router and checks every report against sums the model keeps:
/// an expense or a draw the cash cannot pay is refused, and so is a draw over its line; the
/// income statement holds the rent and each expense account's total, the trial balance balances
/// at those totals and the draws capitalized, the balance sheet's cash and improvements and
/// the cash flow's sections are the model's.
async fn run_history(
    app: &TestApp,
    (op, approver, auditor): (&str, &str, &str),
    contractor: &str,
    case: u32,
    ops: Vec<Op>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    let property = app
        .post("/v1/properties")
        .token(op)
        .json(&property_body("Chicago", 41.9, -87.6, "250000.00", 1200))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The property's rehab: a deal, its project, one line (in the books alone: the property is
    // not tokenized), and an invoice.
    let created = |path: &'static str, body: Value| async move {
        app.post(path)
            .token(op)
            .json(&body)
            .send()
            .await
            .expect(StatusCode::CREATED)
            .json()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let deal = created(
        "/v1/deals",
        json!({"property_id": property, "strategy": "flip",
               "purchase_price": {"amount": "100000", "currency": "USD"}}),
    )
    .await;
    let project = created("/v1/rehab-projects", json!({"deal_id": deal})).await;
    let line = app
        .post(&format!("/v1/rehab-projects/{project}/lines"))
        .token(op)
        .json(&json!({"category": "kitchen",
                      "budget": {"amount": cents(LINE_BUDGET).to_string(), "currency": "USD"}}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    prop_assert_eq!(&line["budget_actions"], &json!([]));
    let line = line["id"].as_str().unwrap().to_owned();
    let invoice = app
        .post(&format!("/v1/properties/{property}/documents"))
        .token(op)
        .multipart(
            &[("kind", "invoice")],
            Some(("invoice.pdf", "application/pdf", b"%PDF an invoice")),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .clone();

    let (mut cash, mut rent, mut asked, mut improvements) = (0i64, 0i64, 0i64, 0i64);
    let mut expenses: BTreeMap<&str, i64> = BTreeMap::new();
    for (i, o) in ops.iter().enumerate() {
        if let Op::Draw { cents: amount, day } = o {
            let r = app
                .post(&format!("/v1/rehab-lines/{line}/draws"))
                .token(op)
                .json(
                    &json!({"contractor_id": contractor, "invoice_document_id": invoice,
                              "amount": {"amount": cents(*amount).to_string(), "currency": "USD"}}),
                )
                .send()
                .await;
            if asked + amount > LINE_BUDGET {
                prop_assert_eq!(
                    r.status,
                    StatusCode::CONFLICT,
                    "step {} is over the line",
                    i
                );
                continue;
            }
            prop_assert_eq!(r.status, StatusCode::CREATED);
            asked += amount;
            let d = r.json()["id"].as_str().unwrap().to_owned();
            app.post(&format!("/v1/rehab-draws/{d}/approve"))
                .token(approver)
                .send()
                .await
                .expect(StatusCode::OK);
            let r = app
                .post(&format!("/v1/rehab-draws/{d}/bank-payment"))
                .token(op)
                .header("idempotency-key", &format!("case{case}-{i}"))
                .json(&json!({"paid_on": format!("2026-04-{day:02}")}))
                .send()
                .await;
            if *amount <= cash {
                prop_assert_eq!(r.status, StatusCode::OK);
                cash -= amount;
                improvements += amount;
            } else {
                prop_assert_eq!(r.status, StatusCode::CONFLICT, "step {} overdraws", i);
            }
            continue;
        }
        let (category, code, amount, day) = match o {
            Op::Draw { .. } => unreachable!("handled above"),
            Op::Rent { cents, day } => ("rent", None, *cents, *day),
            Op::Expense {
                category,
                cents,
                day,
            } => (
                EXPENSES[*category].0,
                Some(EXPENSES[*category].1),
                *cents,
                *day,
            ),
        };
        let body = txn(
            category,
            &cents(amount).to_string(),
            &format!("2026-04-{day:02}"),
        );
        let r = app
            .post(&format!("/v1/properties/{property}/transactions"))
            .token(op)
            .header("idempotency-key", &format!("case{case}-{i}"))
            .json(&body)
            .send()
            .await;
        match code {
            None => {
                prop_assert_eq!(r.status, StatusCode::CREATED);
                cash += amount;
                rent += amount;
            }
            Some(code) if amount <= cash => {
                prop_assert_eq!(r.status, StatusCode::CREATED);
                cash -= amount;
                *expenses.entry(code).or_default() += amount;
            }
            Some(_) => prop_assert_eq!(r.status, StatusCode::CONFLICT, "step {} overdraws", i),
        }
    }
    let spent: i64 = expenses.values().sum();
    let get = |path: String| async move {
        app.get(&path)
            .token(auditor)
            .send()
            .await
            .expect(StatusCode::OK)
            .json()
    };

    let is = get(format!("/v1/books/{property}/income-statement")).await;
    let totals = &is["totals"][0];
    prop_assert_eq!(dec(&totals["income"]["amount"]), cents(rent));
    prop_assert_eq!(dec(&totals["expenses"]["amount"]), cents(spent));
    prop_assert_eq!(dec(&totals["net_income"]["amount"]), cents(rent - spent));
    let shown: BTreeMap<String, rust_decimal::Decimal> = is["expenses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["code"].as_str().unwrap().to_owned(),
                dec(&l["posted"]["amount"]),
            )
        })
        .collect();
    let expected: BTreeMap<String, rust_decimal::Decimal> = expenses
        .iter()
        .map(|(k, v)| ((*k).to_owned(), cents(*v)))
        .collect();
    prop_assert_eq!(shown, expected);

    let tb = get(format!("/v1/books/{property}/trial-balance")).await;
    let t = &tb["totals"][0];
    prop_assert!(t.is_null() || t["balanced"] == json!(true), "{}", tb);
    // Debits: the cash left, every expense and the improvements; credits: the rent.
    prop_assert_eq!(
        dec(&t["debit"]["amount"]),
        cents(cash + spent + improvements)
    );
    prop_assert_eq!(dec(&t["credit"]["amount"]), cents(rent));

    let bs = get(format!("/v1/books/{property}/balance-sheet")).await;
    let operating = bs["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["code"] == "1010")
        .map_or(rust_decimal::Decimal::ZERO, |l| dec(&l["posted"]["amount"]));
    prop_assert_eq!(operating, cents(cash));
    let capitalized: rust_decimal::Decimal = bs["assets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["code"] == "1600")
        .map(|l| dec(&l["posted"]["amount"]))
        .sum();
    prop_assert_eq!(capitalized, cents(improvements));
    let t = &bs["totals"][0];
    prop_assert!(t.is_null() || t["balanced"] == json!(true), "{}", bs);

    let cf = get(format!("/v1/books/{property}/cash-flow")).await;
    prop_assert_eq!(dec(&cf["operating"]["net"]["amount"]), cents(rent - spent));
    prop_assert_eq!(dec(&cf["investing"]["net"]["amount"]), cents(-improvements));
    prop_assert_eq!(dec(&cf["closing_cash"]["amount"]), cents(cash));

    // The project: drawn is what the bank paid, the rest of the asked draws wait.
    let v = app
        .get(&format!("/v1/rehab-projects/{project}"))
        .token(auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    prop_assert_eq!(dec(&v["drawn"]["amount"]), cents(improvements));
    prop_assert_eq!(dec(&v["remaining"]["amount"]), cents(LINE_BUDGET - asked));
    Ok(())
}

async fn random_histories_keep_the_books_true(engine: Engine) {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use std::sync::atomic::{AtomicU32, Ordering};
    let (app, _ledger, op, auditor, _) = setup(engine).await;
    let approver = app.key("operator").await;
    let contractor = app
        .post("/v1/contractors")
        .token(&op)
        .json(
            &json!({"company": "Acme Builders", "trade": "general", "contact_name": "Sam",
                      "email": "sam@example.com", "license_number": "L-1",
                      "license_expires_on": "2099-01-01", "insurance_expires_on": "2099-01-01",
                      "rating": 4, "payout_wallet": "0x00000000000000000000000000000000000000a1"}),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let case = AtomicU32::new(0);
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&prop::collection::vec(op_strategy(), 1..15), |ops| {
                let n = case.fetch_add(1, Ordering::Relaxed);
                handle.block_on(run_history(
                    &app,
                    (&op, &approver, &auditor),
                    &contractor,
                    n,
                    ops,
                ))
            })
            .unwrap();
    });
}

/// A year of rent and expenses, a valuation and rent schedules: the property's NOI, cap rate and
/// occupancy with literal figures, and the portfolio's.
async fn analytics_of_a_year(engine: Engine) {
    let (app, _ledger, op, auditor, property) = setup(engine).await;
    let path = format!("/v1/properties/{property}/transactions");
    for (i, (category, amount, on)) in [
        ("rent", "2000.00", "2025-06-15"),
        ("rent", "2000.00", "2026-01-05"),
        ("rent", "2000.00", "2026-02-05"),
        ("rent", "2000.00", "2026-03-05"),
        ("taxes", "1200.00", "2026-02-10"),
        ("repairs", "300.00", "2026-03-10"),
    ]
    .into_iter()
    .enumerate()
    {
        app.post(&path)
            .token(&op)
            .header("idempotency-key", &format!("t{i}"))
            .json(&txn(category, amount, on))
            .send()
            .await
            .expect(StatusCode::CREATED);
    }
    app.post(&format!("/v1/properties/{property}/valuations"))
        .token(&op)
        .json(&json!({"value": {"amount": "300000.00", "currency": "USD"}, "valued_on": "2026-04-01", "source": "operator"}))
        .send()
        .await
        .expect(StatusCode::CREATED);
    for (starts, ends) in [("2026-01-01", Some("2026-03-31")), ("2026-06-01", None)] {
        app.post(&format!("/v1/properties/{property}/rent-schedules"))
            .token(&op)
            .json(
                &json!({"amount": {"amount": "2000.00", "currency": "USD"}, "day_of_month": 5,
                          "starts_on": starts, "ends_on": ends, "tenant": "J. Doe"}),
            )
            .send()
            .await
            .expect(StatusCode::CREATED);
    }
    let a = app
        .get(&format!(
            "/v1/properties/{property}/analytics?as_of=2026-06-30"
        ))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    // Three months of rent in the year to June 30 (the June 2025 rent is before it), 1,500 of
    // expenses: NOI 4,500 on a value of 300,000 is 1.50%. Schedules cover January to March (90
    // days) and June (30): 120 of 365 days.
    assert_eq!(
        (a["from"].as_str(), a["to"].as_str()),
        (Some("2025-07-01"), Some("2026-06-30")),
        "{a}"
    );
    assert_eq!(a["operating_income"]["amount"], "6000.00", "{a}");
    assert_eq!(a["operating_expenses"]["amount"], "1500.00", "{a}");
    assert_eq!(a["noi"]["amount"], "4500.00", "{a}");
    assert_eq!(a["cap_rate_percent"], "1.50", "{a}");
    assert_eq!(a["occupancy_percent"], "32.88", "{a}");
    assert_eq!(a["cash_on_cash_percent"], Value::Null, "{a}");
    assert_eq!(
        a["unavailable"]["cash_on_cash_percent"], "no capital paid in",
        "{a}"
    );
    assert!(a["unavailable"]["irr_percent"].is_string(), "{a}");
    // Before the valuation, no cap rate, and why.
    let early = app
        .get(&format!(
            "/v1/properties/{property}/analytics?as_of=2026-03-31"
        ))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(early["cap_rate_percent"], Value::Null, "{early}");
    assert!(
        early["unavailable"]["cap_rate_percent"].is_string(),
        "{early}"
    );
    // The same figures as a chart: income, expenses, NOI and the investors' capital.
    let svg = app
        .get(&format!(
            "/v1/properties/{property}/analytics/chart?as_of=2026-06-30"
        ))
        .token(&auditor)
        .send()
        .await;
    assert_eq!(svg.status, StatusCode::OK);
    assert_eq!(svg.headers["content-type"], "image/svg+xml");
    let svg = String::from_utf8(svg.bytes).unwrap();
    for label in ["Income", "Expenses", "NOI", "2025-07-01 to 2026-06-30"] {
        assert!(svg.contains(label), "{label}: {svg}");
    }
    // The performance statement as a PDF, read back: the same figures, and the chart's labels
    // as text.
    let pdf = app
        .get(&format!(
            "/v1/properties/{property}/analytics/statement?as_of=2026-06-30"
        ))
        .token(&auditor)
        .send()
        .await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    let text = crate::support::pdf_text(&pdf.bytes);
    for expected in [
        "Performance statement",
        "2025-07-01 to 2026-06-30",
        "Operating income",
        "6000.00 USD",
        "Operating expenses",
        "1500.00 USD",
        "Net operating income",
        "4500.00 USD",
        "300000.00 USD",
        "1.50%",
        "32.88%",
        "none (no capital paid in)",
        "Income",
        "NOI",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    let p = app
        .get("/v1/analytics?as_of=2026-06-30")
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(p["properties"], 1, "{p}");
    assert_eq!(
        (p["noi"]["amount"].as_str(), p["value"]["amount"].as_str()),
        (Some("4500.00"), Some("300000.00"))
    );
    assert_eq!(p["cap_rate_percent"], "1.50");
    let pdf = app
        .get("/v1/analytics/statement?as_of=2026-06-30")
        .token(&auditor)
        .send()
        .await;
    assert_eq!(pdf.status, StatusCode::OK);
    let text = crate::support::pdf_text(&pdf.bytes);
    for expected in [
        "Portfolio statement",
        "The twelve months to 2026-06-30",
        "4500.00 USD",
        "300000.00 USD",
        "1.50%",
        "Each property's NOI",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    app.get(&format!("/v1/properties/{property}/analytics?as_of=June"))
        .token(&auditor)
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("as_of"));
}
