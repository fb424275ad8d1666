//! The hold scenario on the embedded chain: an offering with platform fees, a year of scheduled
//! rent, expenses, two distributions with a transfer of shares between their record dates,
//! claims by both holders; every holder's register entries, the income statement (fees
//! included) and the statements have exact figures, and the Beancount export passes
//! `bean-check` with balances equal to the trial balance.

use alloy::primitives::Address;
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use axum::http::StatusCode;
use propledger_api::db::Engine;
use serde_json::{Value, json};

use crate::chainapp::{ChainApp, investor_key};
use crate::support::both_engines;
use crate::tokenization::{property_with_deed, tokenization_body};

both_engines!(a_year_of_a_hold);

fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
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

async fn post(w: &ChainApp, token: &str, path: &str, body: Value) -> crate::support::Resp {
    w.app.post(path).token(token).json(&body).send().await
}

async fn mine_to(w: &ChainApp, block: u64) {
    while w.reader.get_block_number().await.unwrap() < block {
        w.admin
            .raw_request::<_, Value>("evm_mine".into(), json!([]))
            .await
            .unwrap();
    }
}

async fn distribute(w: &ChainApp, op: &str, property: &str, amount: &str) -> String {
    let d = post(
        w,
        op,
        "/v1/distributions",
        json!({"property": property, "amount": usd(amount)}),
    )
    .await
    .expect(StatusCode::ACCEPTED)
    .json();
    assert_eq!(
        w.settled(&[json!({"id": d["action_id"]})]).await[0]["status"],
        "confirmed"
    );
    w.caught_up().await;
    d["id"].as_str().unwrap().to_owned()
}

async fn claim(w: &ChainApp, key: &PrivateKeySigner, token: &str, id: &str) {
    let prepared = w
        .app
        .post(&format!("/v1/me/distributions/{id}/claim"))
        .token(token)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    w.outbox_idle().await;
    assert_eq!(w.sign_and_send(key, &prepared).await, [true]);
}

async fn a_year_of_a_hold(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    let app = &w.app;
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;
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
    let t = get(&w, &op, &format!("/v1/properties/{property}/tokenization")).await;
    let offering = t["contracts"]["offering"].as_str().unwrap().to_owned();
    let shares: Address = t["contracts"]["shares"].as_str().unwrap().parse().unwrap();

    // Fees: 2% of proceeds, 1% of distributions.
    let fees = post(
        &w,
        &app.admin_key,
        &format!("/v1/books/{property}/fees"),
        json!({"proceeds_bps": 200, "distribution_bps": 100}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    mine_to(&w, fees["since_block"].as_u64().unwrap()).await;

    // Ada buys 6 shares and Bob 4, at 100 USD: the soft cap; the offering succeeds.
    let (ada, bob) = (investor_key(70), investor_key(71));
    let (ada_token, _) = w.investor(&ada, "US", true, "2099-01-01").await;
    let (bob_token, _) = w.investor(&bob, "US", true, "2099-01-01").await;
    w.outbox_idle().await;
    for (key, token, n) in [(&ada, &ada_token, "6"), (&bob, &bob_token, "4")] {
        w.fund(key.address(), 10_000_000_000).await;
        let prepared = post(
            &w,
            token,
            "/v1/me/purchases",
            json!({"offering": offering, "amount": n}),
        )
        .await
        .expect(StatusCode::OK)
        .json();
        w.outbox_idle().await;
        assert!(w.sign_and_send(key, &prepared).await.iter().all(|ok| *ok));
    }
    w.admin
        .raw_request::<_, Value>("evm_increaseTime".into(), json!([31 * 86_400]))
        .await
        .unwrap();
    w.admin
        .raw_request::<_, Value>("evm_mine".into(), json!([]))
        .await
        .unwrap();
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

    // A year of rent, 1,000 a month, and three expenses paid from it.
    post(
        &w,
        &op,
        &format!("/v1/properties/{property}/rent-schedules"),
        json!({"amount": usd("1000"), "day_of_month": 1, "starts_on": "2025-12-01",
               "ends_on": "2026-11-30", "tenant": "J. Doe"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let ledger = propledger_ledger::Ledger::connect(&app.url).await.unwrap();
    assert_eq!(
        propledger_api::transactions::post_due(app.api.db(), &ledger, today)
            .await
            .unwrap(),
        12
    );
    for (i, (category, amount, on)) in [
        ("insurance", "600", "2026-01-15"),
        ("taxes", "1800", "2026-04-01"),
        ("management", "1200", "2026-06-30"),
    ]
    .into_iter()
    .enumerate()
    {
        app.post(&format!("/v1/properties/{property}/transactions"))
            .token(&op)
            .header("idempotency-key", &format!("expense-{i}"))
            .json(
                &json!({"category": category, "amount": usd(amount), "occurred_on": on,
                          "counterparty": "Vendor"}),
            )
            .send()
            .await
            .expect(StatusCode::CREATED);
    }

    // Two distributions from the treasury, Ada giving Bob 2 shares between their record dates.
    let first = distribute(&w, &op, &property, "400").await;
    let prepared = post(
        &w,
        &ada_token,
        "/v1/me/transfers",
        json!({"token": shares, "to": bob.address(), "amount": "2"}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    w.outbox_idle().await;
    assert_eq!(w.sign_and_send(&ada, &prepared).await, [true]);
    w.caught_up().await;
    let second = distribute(&w, &op, &property, "300").await;
    for id in [&first, &second] {
        claim(&w, &ada, &ada_token, id).await;
        claim(&w, &bob, &bob_token, id).await;
    }
    w.caught_up().await;

    // Each holder's register entries.
    let (a, b) = (
        ada.address().to_checksum(None),
        bob.address().to_checksum(None),
    );
    for (id, expected) in [
        (&first, [(a.clone(), "6", "240"), (b.clone(), "4", "160")]),
        (&second, [(a.clone(), "4", "120"), (b.clone(), "6", "180")]),
    ] {
        let reg = get(&w, &auditor, &format!("/v1/distributions/{id}/register")).await;
        let mut lines: Vec<(String, String, String, String)> = reg["holders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["holder"].as_str().unwrap().to_owned(),
                    l["shares"]["amount"].as_str().unwrap().to_owned(),
                    l["entitlement"]["amount"].as_str().unwrap().to_owned(),
                    l["claim"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        lines.sort();
        let mut want: Vec<(String, String, String, String)> = expected
            .iter()
            .map(|(w, s, e)| {
                (
                    w.clone(),
                    (*s).to_owned(),
                    (*e).to_owned(),
                    "paid".to_owned(),
                )
            })
            .collect();
        want.sort();
        assert_eq!(lines, want, "{reg}");
    }

    // The income statement: 12,000 of rent; 3,600 of expenses and 27 of platform fees (20 on
    // the proceeds, 4 and 3 on the distributions).
    let is = get(
        &w,
        &auditor,
        &format!("/v1/books/{property}/income-statement"),
    )
    .await;
    let lines = |section: &str| -> Vec<(String, String)> {
        is[section]
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
    assert_eq!(lines("income"), [pair("4000", "12000.000000")]);
    assert_eq!(
        lines("expenses"),
        [
            pair("5100", "1200.000000"),
            pair("5200", "1800.000000"),
            pair("5300", "600.000000"),
            pair("5700", "27.000000"),
        ]
    );
    assert_eq!(is["totals"][0]["net_income"]["amount"], "8373.000000");

    // The statements: the 2 shares carried 200 of Ada's capital to Bob; fees shared 40/60.
    let s = get(&w, &ada_token, "/v1/me/statements").await;
    let p = &s["properties"][0];
    for (k, v) in [
        ("contributed", "600.000000"),
        ("returned", "200.000000"),
        ("balance", "400.000000"),
        ("distributions_received", "360.000000"),
        ("distributions_claimable", "0.000000"),
        ("platform_fees", "10.800000"),
    ] {
        assert_eq!(p[k], v, "{k}: {s}");
    }
    let s = get(&w, &bob_token, "/v1/me/statements").await;
    let p = &s["properties"][0];
    for (k, v) in [
        ("contributed", "600.000000"),
        ("balance", "600.000000"),
        ("distributions_received", "340.000000"),
        ("platform_fees", "16.200000"),
    ] {
        assert_eq!(p[k], v, "{k}: {s}");
    }

    // The Beancount export: bean-check accepts it, with each balance the trial balance's.
    let tb = get(&w, &auditor, &format!("/v1/books/{property}/trial-balance")).await;
    let bean = app
        .get(&format!(
            "/v1/books/export?format=beancount&property={property}"
        ))
        .token(&auditor)
        .send()
        .await;
    bean.expect(StatusCode::OK);
    let text = String::from_utf8(bean.bytes.clone()).unwrap();
    for line in tb["lines"].as_array().unwrap() {
        let code = line["code"].as_str().unwrap();
        let d: rust_decimal::Decimal = line["debit"]["amount"].as_str().unwrap().parse().unwrap();
        let c: rust_decimal::Decimal = line["credit"]["amount"].as_str().unwrap().parse().unwrap();
        let mut net = d - c;
        net.rescale(6);
        assert!(
            text.lines().any(|l| l.contains(" balance ")
                && l.contains(&format!(":C{code}"))
                && l.ends_with(&format!("  {net} USD"))),
            "no assertion of {code} at {net}"
        );
    }
    crate::books::bean_check_text(&text);

    // The auditor's checks against the chain. The cap table after the transfer, checked
    // against balanceOf and totalSupply: Ada 4, Bob 6 (in base units, 18 decimals).
    let cap = get(
        &w,
        &auditor,
        &format!("/v1/audit/properties/{property}/cap-table"),
    )
    .await;
    assert_eq!(cap["checked_against_chain"], true, "{cap}");
    assert_eq!(cap["differences"], json!([]), "{cap}");
    let mut holders: Vec<(String, String)> = cap["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["wallet"].as_str().unwrap().to_owned(),
                h["shares"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    holders.sort();
    let mut expected = vec![
        (
            ada.address().to_checksum(None),
            format!("4{}", "0".repeat(18)),
        ),
        (
            bob.address().to_checksum(None),
            format!("6{}", "0".repeat(18)),
        ),
    ];
    expected.sort();
    assert_eq!(holders, expected, "{cap}");
    assert_eq!(cap["total_supply"], format!("10{}", "0".repeat(18)));
    // The history: every event once, in chain order, the same read whole or page by page.
    let whole = get(
        &w,
        &auditor,
        &format!("/v1/audit/properties/{property}/events?limit=500"),
    )
    .await;
    let all = whole["items"].as_array().unwrap().clone();
    assert!(whole.get("next_cursor").is_none());
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(
            &w,
            &auditor,
            &format!("/v1/audit/properties/{property}/events?limit=7{cursor}"),
        )
        .await;
        paged.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, all);
    let positions: Vec<(u64, u64)> = all
        .iter()
        .map(|e| {
            (
                e["block_number"].as_u64().unwrap(),
                e["log_index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "in chain order");
    assert!(
        all.iter()
            .all(|e| e["block_hash"].as_str().unwrap().len() == 66
                && e["tx_hash"].as_str().unwrap().len() == 66)
    );
    let count = |contract: &str, event: &str| {
        all.iter()
            .filter(|e| e["contract"] == contract && e["event"] == event)
            .count()
    };
    assert_eq!(count("distributor", "Claimed"), 4, "{whole}");
    assert_eq!(count("treasury", "DistributionFunded"), 2);
    // Two purchases minted, one transfer moved shares (a mint's `from` is zero).
    assert_eq!(count("shares", "Transfer"), 3);
    assert_eq!(
        count("deed", "Transfer"),
        1,
        "the deed's mint, about this token only"
    );
    // The ledger's own checks, and the books reconciled with the chain at the last block: each
    // funded distribution paired with its declaration.
    let ledger = get(&w, &auditor, "/v1/audit/ledger").await;
    assert_eq!(ledger["clean"], true, "{ledger}");
    assert!(ledger["chained_entries"].as_u64().unwrap() > 20);
    let r = get(&w, &auditor, "/v1/audit/reconciliation").await;
    assert_eq!(r["clean"], true, "{r}");
    let matched: Vec<&str> = r["matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["books"]["entry_key"].as_str().unwrap())
        .collect();
    assert_eq!(matched.len(), 2, "{r}");
    assert!(matched.iter().all(|k| k.starts_with("distribution:")));
    // An operator may not run them.
    app.get("/v1/audit/reconciliation")
        .token(&op)
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    w.finish().await;
}
