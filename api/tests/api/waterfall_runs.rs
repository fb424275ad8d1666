//! Two years of distributions through a waterfall on the embedded chain: investors joining at
//! different dates, one selling part of their shares between record dates, each run previewed
//! then funded (the preview is what the chain pays and the books book, to the unit), and each
//! investor's tax statement for each year exact and summing to the books.

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use axum::http::StatusCode;
use propledger_api::db::Engine;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::chainapp::{ChainApp, investor_key};
use crate::rehab::deposit;
use crate::support::both_engines;
use crate::tokenization::property_with_deed;

both_engines!(two_years_through_a_waterfall);

fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

/// Noon UTC of a day, as a Unix time.
fn noon(day: &str) -> u64 {
    let d: chrono::NaiveDate = day.parse().unwrap();
    u64::try_from(d.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp()).unwrap()
}

/// Sets the chain's clock to `at` and mines a block there.
async fn chain_at(w: &ChainApp, at: u64) {
    w.admin
        .raw_request::<_, Value>("evm_setNextBlockTimestamp".into(), json!([at]))
        .await
        .unwrap();
    w.admin
        .raw_request::<_, Value>("evm_mine".into(), json!([]))
        .await
        .unwrap();
}

async fn get(w: &ChainApp, token: &str, path: &str) -> Value {
    w.app
        .get(path)
        .token(token)
        .send()
        .await
        .expect(StatusCode::OK)
        .json()
}

async fn buy(w: &ChainApp, key: &PrivateKeySigner, token: &str, offering: &str, shares: &str) {
    let prepared = w
        .app
        .post("/v1/me/purchases")
        .token(token)
        .json(&json!({"offering": offering, "amount": shares}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    w.outbox_idle().await;
    assert!(w.sign_and_send(key, &prepared).await.iter().all(|ok| *ok));
    w.caught_up().await;
}

/// Previews, funds and settles a run; checks the preview is what was run, and returns the run.
async fn run(w: &ChainApp, op: &str, property: &str, body: Value) -> Value {
    let preview = w
        .app
        .post(&format!("/v1/properties/{property}/waterfall/preview"))
        .token(op)
        .json(&body)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let send = || {
        w.app
            .post(&format!(
                "/v1/properties/{property}/waterfall/distributions"
            ))
            .token(op)
            .header("idempotency-key", &format!("run-{}", preview["on"]))
            .json(&body)
            .send()
    };
    let run = send().await.expect(StatusCode::ACCEPTED).json();
    assert_eq!(run["status"], "declared", "{run}");
    // A retry is the same run.
    assert_eq!(send().await.expect(StatusCode::ACCEPTED).json(), run);
    for key in [
        "tiers",
        "investors",
        "management_fee",
        "promote",
        "reserve",
        "pref_carried",
        "standing",
        "on",
    ] {
        assert_eq!(run[key], preview[key], "{key}: {preview} {run}");
    }
    let actions: Vec<Value> = run["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| json!({"id": a}))
        .collect();
    for a in w.settled(&actions).await {
        assert_eq!(a["status"], "confirmed", "{a}");
    }
    w.caught_up().await;
    let runs = get(
        w,
        op,
        &format!("/v1/properties/{property}/waterfall/distributions"),
    )
    .await;
    let done = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == run["id"])
        .unwrap()
        .clone();
    assert_eq!(done["status"], "funded", "{done}");
    // Each holder's part in the preview is what the distributor owes it at the record date.
    if let Some(id) = done["distribution_id"].as_str() {
        let register = get(w, op, &format!("/v1/distributions/{id}/register")).await;
        let mut owed: Vec<(String, String)> = register["holders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["holder"].as_str().unwrap().to_owned(),
                    l["entitlement"]["units"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut previewed: Vec<(String, String)> = preview["holders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["holder"].as_str().unwrap().to_owned(),
                    h["amount"]["units"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        owed.sort();
        previewed.sort();
        assert_eq!(owed, previewed, "{register} {preview}");
    }
    done
}

/// Declares a run of `amount` (its actions are not waited for).
async fn app_run(w: &ChainApp, op: &str, property: &str, amount: &str) -> Value {
    w.app
        .post(&format!(
            "/v1/properties/{property}/waterfall/distributions"
        ))
        .token(op)
        .json(&json!({"amount": usd(amount)}))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json()
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// (distributions, income, return of capital, fees) of a statement's totals.
fn totals(s: &Value) -> (Decimal, Decimal, Decimal, Decimal) {
    let t = &s["totals"];
    let f = |k: &str| d(t[k].as_str().unwrap());
    (
        f("distributions"),
        f("income"),
        f("return_of_capital"),
        f("fees"),
    )
}

async fn two_years_through_a_waterfall(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    w.caught_up().await;
    let app = &w.app;
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;

    // A property whose offering sells shares at 100 USD from 2030-01-01 to 2030-06-30.
    let (property, document) = property_with_deed(app, &op).await;
    let t = app
        .post(&format!("/v1/properties/{property}/tokenization"))
        .token(&op)
        .json(&json!({
            "name": "Elm St Shares", "symbol": "ELM", "parcel_id": "987-654-321",
            "document_id": document,
            "offering": {
                "price_per_share": "100", "min_purchase": "1", "max_per_investor": "400",
                "shares_for_sale": "1000", "soft_cap": "1000",
                "opens_at": "2030-01-01T00:00:00Z", "closes_at": "2030-06-30T00:00:00Z",
            }
        }))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(
        w.settled(&[t["action"].clone()]).await[0]["status"],
        "confirmed"
    );
    w.caught_up().await;
    let t = get(&w, &op, &format!("/v1/properties/{property}/tokenization")).await;
    let offering = t["contracts"]["offering"].as_str().unwrap().to_owned();
    let treasury: Address = t["contracts"]["treasury"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // The waterfall: a 5% fee on gross rent, an 8% simple preferred return, capital back, a
    // full catch-up to a 20% promote, then 80/20.
    let sponsor = investor_key(90).address();
    let waterfall = json!({"sponsor": sponsor.to_checksum(None), "tiers": [
        {"kind": "management_fee", "bps": 500, "basis": "gross_rent"},
        {"kind": "preferred_return", "rate_bps": 800, "accrual": "simple"},
        {"kind": "return_of_capital"},
        {"kind": "catch_up", "sponsor_bps": 10000, "promote_bps": 2000},
        {"kind": "split", "promote_bps": 2000},
    ]});
    let set = app
        .call(
            axum::http::Method::PUT,
            &format!("/v1/properties/{property}/waterfall"),
        )
        .token(&op)
        .json(&waterfall)
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(set["sponsor"], sponsor.to_checksum(None));

    // Ada buys 400 shares on 2030-01-15, Bob 100 on 2030-04-01.
    let (ada, bob) = (investor_key(60), investor_key(61));
    let (ada_token, ada_id) = w.investor(&ada, "US", true, "2099-01-01").await;
    let (bob_token, bob_id) = w.investor(&bob, "US", true, "2099-01-01").await;
    w.outbox_idle().await;
    w.fund(ada.address(), 100_000_000_000).await;
    w.fund(bob.address(), 100_000_000_000).await;
    chain_at(&w, noon("2030-01-15")).await;
    buy(&w, &ada, &ada_token, &offering, "400").await;
    chain_at(&w, noon("2030-04-01")).await;
    buy(&w, &bob, &bob_token, &offering, "100").await;
    chain_at(&w, noon("2030-07-01")).await;
    let fin = app
        .post(&format!("/v1/offerings/{offering}/finalize"))
        .token(&op)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(w.settled(&[fin]).await[0]["status"], "confirmed");
    // Rent comes in: 200,000 USD.
    deposit(&w, treasury, 200_000_000_000, B256::ZERO).await;
    w.caught_up().await;

    // Refused, and nothing recorded: a date after the chain's, more than the treasury holds,
    // and paying the sponsor with no sponsor wallet.
    chain_at(&w, noon("2030-12-31")).await;
    let fund = |body: Value| {
        app.post(&format!(
            "/v1/properties/{property}/waterfall/distributions"
        ))
        .token(&op)
        .json(&body)
        .send()
    };
    fund(json!({"amount": usd("10.00"), "on": "2031-01-01"}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some("/on"));
    let p = fund(json!({"amount": usd("300000.00")})).await.problem(
        StatusCode::CONFLICT,
        "conflict",
        None,
    );
    assert_eq!(p["code"], "insufficient_funds", "{p}");
    let mut unsponsored = waterfall.clone();
    unsponsored.as_object_mut().unwrap().remove("sponsor");
    app.call(
        axum::http::Method::PUT,
        &format!("/v1/properties/{property}/waterfall"),
    )
    .token(&op)
    .json(&unsponsored)
    .send()
    .await
    .expect(StatusCode::CREATED);
    let p = fund(json!({"amount": usd("3000.00"), "gross_rent": usd("10000.00")}))
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "no_sponsor_wallet", "{p}");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_waterfall_runs")
            .await,
        0
    );
    app.call(
        axum::http::Method::PUT,
        &format!("/v1/properties/{property}/waterfall"),
    )
    .token(&op)
    .json(&waterfall)
    .send()
    .await
    .expect(StatusCode::CREATED);

    // Year one, on 2030-12-31: 3,000 with 10,000 of gross rent. The fee is 500. The preferred
    // return accrued is 40,000 for 76 days (666.30) and 50,000 for 274 days (3,002.73):
    // 3,669.03, of which 2,500 is paid and 1,169.03 carried.
    let run1 = run(
        &w,
        &op,
        &property,
        json!({"amount": usd("3000.00"), "gross_rent": usd("10000.00")}),
    )
    .await;
    assert_eq!(run1["on"], "2030-12-31");
    let tiers = |r: &Value| -> Vec<(String, String, String)> {
        r["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["tier"].as_str().unwrap().to_owned(),
                    t["sponsor"]["amount"].as_str().unwrap().to_owned(),
                    t["investors"]["amount"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let row = |t: &str, s: &str, i: &str| (t.to_owned(), s.to_owned(), i.to_owned());
    assert_eq!(
        tiers(&run1),
        [
            row("management_fee", "500.00", "0.00"),
            row("preferred_return", "0.00", "2500.00"),
            row("return_of_capital", "0.00", "0.00"),
            row("catch_up", "0.00", "0.00"),
            row("split", "0.00", "0.00"),
        ],
        "{run1}"
    );
    assert_eq!(run1["pref_carried"]["amount"], "1169.03");

    // Ada sells 100 shares to Bob on 2031-03-01 (their capital goes with them).
    chain_at(&w, noon("2031-03-01")).await;
    let prepared = app
        .post("/v1/me/transfers")
        .token(&ada_token)
        .json(&json!({"token": t["contracts"]["shares"], "to": bob.address(), "amount": "100"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    w.outbox_idle().await;
    assert!(w.sign_and_send(&ada, &prepared).await.iter().all(|ok| *ok));
    w.caught_up().await;

    // Year two, on 2031-12-31: 70,000 and no rent. The preferred return is 1,169.03 carried
    // and 4,000 for the year; then 50,000 of capital; the catch-up gives the sponsor 1,917.26
    // (a fifth of 7,669.03 + 1,917.26); the 12,913.71 left splits 2,582.74 / 10,330.97.
    chain_at(&w, noon("2031-12-31")).await;
    let run2 = run(&w, &op, &property, json!({"amount": usd("70000.00")})).await;
    assert_eq!(
        tiers(&run2),
        [
            row("management_fee", "0.00", "0.00"),
            row("preferred_return", "0.00", "5169.03"),
            row("return_of_capital", "0.00", "50000.00"),
            row("catch_up", "1917.26", "0.00"),
            row("split", "2582.74", "10330.97"),
        ],
        "{run2}"
    );
    assert_eq!(run2["investors"]["amount"], "65500.00");
    assert_eq!(run2["promote"]["amount"], "4500.00");
    assert_eq!(run2["pref_carried"]["amount"], "0.00");
    // The sponsor's wallet holds the fee and the promote.
    let usdc = propledger_contracts::TestStablecoin::new(w.platform.settlement_token, &w.reader);
    assert_eq!(
        usdc.balanceOf(sponsor).call().await.unwrap(),
        alloy::primitives::U256::from(5_000_000_000u64)
    );

    // The tax statements, exact: year one is preferred return (income) 4:1 by shares; year two
    // 3:2, income and capital as the tiers paid them.
    let statement = |who: &str, year: u32| {
        let path = format!("/v1/investors/{who}/tax-statements/{year}");
        let w = &w;
        let auditor = auditor.clone();
        async move { get(w, &auditor, &path).await }
    };
    let expected = [
        (&ada_id, 2030, ("2000", "2000", "0", "400")),
        (&bob_id, 2030, ("500", "500", "0", "100")),
        (&ada_id, 2031, ("39300", "9300", "30000", "0")),
        (&bob_id, 2031, ("26200", "6200", "20000", "0")),
    ];
    for (who, year, (total, income, capital, fees)) in expected {
        let s = statement(who, year).await;
        assert_eq!(
            totals(&s),
            (d(total), d(income), d(capital), d(fees)),
            "{who} {year}: {s}"
        );
    }
    let ada_2030 = statement(&ada_id, 2030).await;
    assert_eq!(ada_2030["purchases"][0]["how"], "offering");
    assert_eq!(ada_2030["purchases"][0]["shares"]["amount"], "400");
    assert_eq!(ada_2030["purchases"][0]["cost"]["amount"], "40000");
    let ada_2031 = statement(&ada_id, 2031).await;
    assert_eq!(
        ada_2031["disposals"][0]["shares"]["amount"], "100",
        "{ada_2031}"
    );
    assert_eq!(ada_2031["disposals"][0]["cost_basis"]["amount"], "10000");
    assert_eq!(ada_2031["disposals"][0]["proceeds"], Value::Null);
    let bob_2031 = statement(&bob_id, 2031).await;
    assert_eq!(bob_2031["purchases"][0]["how"], "transfer", "{bob_2031}");
    assert_eq!(bob_2031["purchases"][0]["cost"], Value::Null);

    // The statements sum to the books: every distribution funded in the year, by tier.
    for (year, investors) in [(2030, "2500"), (2031, "65500")] {
        let export = get(&w, &auditor, &format!("/v1/tax-statements/{year}")).await;
        let sum: Decimal = export["statements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| totals(s).0)
            .sum();
        assert_eq!(sum, d(investors), "{export}");
    }
    let tb = get(&w, &auditor, &format!("/v1/books/{property}/trial-balance")).await;
    println!("{tb}");
    let net = |code: &str| -> Decimal {
        tb["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["code"] == code)
            .map(|l| {
                d(l["debit"]["amount"].as_str().unwrap())
                    - d(l["credit"]["amount"].as_str().unwrap())
            })
            .sum()
    };
    assert_eq!(net("3100"), d("68000"), "{tb}");
    assert_eq!(net("5100"), d("500"), "{tb}");
    assert_eq!(net("5800"), d("4500"), "{tb}");
    let resp = w
        .app
        .get("/v1/tax-statements/2031?format=csv")
        .token(&auditor)
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let csv = String::from_utf8(resp.bytes).unwrap();
    // The sponsor's draws are the runs' records: the books reconcile with the chain.
    let r = w.reconcile().await;
    assert!(r.is_clean(), "{r:?}");
    assert!(csv.starts_with("investor_id,year,line,"), "{csv}");
    assert_eq!(
        csv.lines().filter(|l| l.contains(",total,")).count(),
        2,
        "{csv}"
    );
    // While a run is in flight (the outbox held), another is refused and nothing is recorded.
    let mut w = w;
    w.hold_outbox().await;
    let pending = app_run(&w, &op, &property, "100.00").await;
    assert_eq!(pending["status"], "declared", "{pending}");
    let before = w.app.count("SELECT COUNT(*) AS n FROM api_outbox").await;
    let p = w
        .app
        .post(&format!(
            "/v1/properties/{property}/waterfall/distributions"
        ))
        .token(&op)
        .json(&json!({"amount": usd("50.00")}))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "waterfall_run_pending", "{p}");
    assert_eq!(
        w.app.count("SELECT COUNT(*) AS n FROM api_outbox").await,
        before
    );
    assert_eq!(
        w.app
            .count("SELECT COUNT(*) AS n FROM api_waterfall_runs")
            .await,
        3
    );
    w.finish().await;
}
