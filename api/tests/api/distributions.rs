//! Distributions on the embedded chain: declared and funded through the outbox, the register at
//! each record date (a transfer of shares between two of them), claims prepared for the
//! investors' wallets, and the books.

use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use axum::http::StatusCode;
use propledger_api::db::Engine;
use serde_json::{Value, json};

use crate::chainapp::{ChainApp, investor_key};
use crate::support::both_engines;

both_engines!(two_distributions_around_a_transfer);

async fn buy(w: &ChainApp, key: &PrivateKeySigner, token: &str, shares: &str) {
    let prepared = w
        .app
        .post("/v1/me/purchases")
        .token(token)
        .json(&json!({"offering": w.property.offering.address, "amount": shares}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    w.outbox_idle().await;
    assert!(w.sign_and_send(key, &prepared).await.iter().all(|ok| *ok));
}

async fn declare(w: &ChainApp, operator: &str, amount: &str) -> Value {
    let d = w
        .app
        .post("/v1/distributions")
        .token(operator)
        .json(
            &json!({"property": "1", "amount": {"amount": amount, "currency": "USD"},
                      "claim_days": 90, "memo": "Quarterly rent"}),
        )
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(d["status"], "declared", "{d}");
    let action = json!({"id": d["action_id"]});
    assert_eq!(w.settled(&[action]).await[0]["status"], "confirmed");
    w.caught_up().await;
    d
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

/// (wallet, shares, entitlement, claim) of each register line.
fn lines(register: &Value) -> Vec<(String, String, String, String)> {
    register["holders"]
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
        .collect()
}

async fn claim(w: &ChainApp, key: &PrivateKeySigner, token: &str, id: &Value) -> Value {
    let prepared = w
        .app
        .post(&format!(
            "/v1/me/distributions/{}/claim",
            id.as_str().unwrap()
        ))
        .token(token)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    w.outbox_idle().await;
    assert_eq!(w.sign_and_send(key, &prepared).await, [true]);
    w.caught_up().await;
    prepared
}

async fn two_distributions_around_a_transfer(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    w.caught_up().await;
    let operator = w.app.key("operator").await;
    let auditor = w.app.key("auditor").await;
    // The platform's fees: 2.5% of offering proceeds, 1% of distributions, in force 12 blocks
    // after they are set.
    let fees = w
        .app
        .post("/v1/books/1/fees")
        .token(&w.app.admin_key)
        .json(&json!({"proceeds_bps": 250, "distribution_bps": 100}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    let since = fees["since_block"].as_u64().unwrap();
    w.app
        .post("/v1/books/1/fees")
        .token(&operator)
        .json(&json!({"proceeds_bps": 1, "distribution_bps": 1}))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    w.app
        .post("/v1/books/1/fees")
        .token(&w.app.admin_key)
        .json(&json!({"proceeds_bps": 10001, "distribution_bps": 1}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/proceeds_bps"),
        );
    while w.reader.get_block_number().await.unwrap() < since {
        w.admin
            .raw_request::<_, Value>("evm_mine".into(), json!([]))
            .await
            .unwrap();
    }
    let listed = get(&w, &auditor, "/v1/books/1/fees").await;
    assert_eq!(listed[0]["proceeds_bps"], 250);
    let (ada, bob) = (investor_key(40), investor_key(41));
    let (ada_token, ada_id) = w.investor(&ada, "US", true, "2099-01-01").await;
    let (bob_token, _) = w.investor(&bob, "US", true, "2099-01-01").await;
    w.outbox_idle().await;
    w.fund(ada.address(), 10_000_000_000).await;
    w.fund(bob.address(), 10_000_000_000).await;

    buy(&w, &ada, &ada_token, "6").await;
    buy(&w, &bob, &bob_token, "4").await;
    w.caught_up().await;
    let before = w.app.count("SELECT COUNT(*) AS n FROM api_outbox").await;
    // More than the treasury holds (the offering raised 1,000 USD) is refused at once.
    let p = w
        .app
        .post("/v1/distributions")
        .token(&operator)
        .json(&json!({"property": "1", "amount": {"amount": "5000.00", "currency": "USD"}}))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "would_revert", "{p}");
    assert_eq!(
        w.app.count("SELECT COUNT(*) AS n FROM api_outbox").await,
        before
    );

    // The window ends; the offering (1,000 USD, its soft cap) succeeds.
    w.admin
        .raw_request::<_, Value>("evm_increaseTime".into(), json!([31 * 86_400]))
        .await
        .unwrap();
    w.admin
        .raw_request::<_, Value>("evm_mine".into(), json!([]))
        .await
        .unwrap();
    let fin = w
        .app
        .post(&format!(
            "/v1/offerings/{}/finalize",
            w.property.offering.address
        ))
        .token(&operator)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(w.settled(&[fin]).await[0]["status"], "confirmed");

    // The first distribution: 100 USD over 10 shares.
    let first = declare(&w, &operator, "100.00").await;
    let d = get(
        &w,
        &auditor,
        &format!("/v1/distributions/{}", first["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(d["status"], "funded", "{d}");
    assert_eq!(d["funded"]["amount"]["amount"], "100");
    assert_eq!(d["funded"]["supply_at_record"]["amount"], "10");
    assert_eq!(d["funded"]["claimed"]["amount"], "0");
    assert_eq!(d["funded"]["unclaimed"]["amount"], "100");
    let (a, b) = (
        ada.address().to_checksum(None),
        bob.address().to_checksum(None),
    );
    let line = |w: &str, s: &str, e: &str, c: &str| (w.to_owned(), s.into(), e.into(), c.into());
    let mut expected = vec![
        line(&a, "6", "60", "unclaimed"),
        line(&b, "4", "40", "unclaimed"),
    ];
    expected.sort();
    let reg = get(
        &w,
        &auditor,
        &format!(
            "/v1/distributions/{}/register",
            first["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(lines(&reg), expected);
    assert!(
        reg["holders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["investor_id"] == ada_id.as_str()),
        "{reg}"
    );

    // Ada gives Bob a share; the second distribution's record date sees it.
    let prepared = w
        .app
        .post("/v1/me/transfers")
        .token(&ada_token)
        .json(&json!({"token": w.property.shares.address, "to": bob.address(), "amount": "1"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    w.outbox_idle().await;
    assert_eq!(w.sign_and_send(&ada, &prepared).await, [true]);
    w.caught_up().await;
    let second = declare(&w, &operator, "50.00").await;
    let reg = get(
        &w,
        &auditor,
        &format!(
            "/v1/distributions/{}/register",
            second["id"].as_str().unwrap()
        ),
    )
    .await;
    let mut expected = vec![
        line(&a, "5", "25", "unclaimed"),
        line(&b, "5", "25", "unclaimed"),
    ];
    expected.sort();
    assert_eq!(lines(&reg), expected);

    // Claims: Ada the first, Bob both.
    let c = claim(&w, &ada, &ada_token, &first["id"]).await;
    assert_eq!(c["amount"]["amount"], "60");
    claim(&w, &bob, &bob_token, &first["id"]).await;
    claim(&w, &bob, &bob_token, &second["id"]).await;
    // A second claim is refused before anything is signed.
    let p = w
        .app
        .post(&format!(
            "/v1/me/distributions/{}/claim",
            first["id"].as_str().unwrap()
        ))
        .token(&ada_token)
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "would_revert", "{p}");

    // Each investor's own view: received and still claimable.
    let mine = get(&w, &ada_token, "/v1/me/distributions").await;
    let figures: Vec<(String, String)> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["received"]["amount"].as_str().unwrap().to_owned(),
                m["claimable"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        figures,
        [
            ("60".to_owned(), "0".to_owned()),
            ("0".to_owned(), "25".to_owned())
        ]
    );
    let mine = get(&w, &bob_token, "/v1/me/distributions").await;
    assert_eq!(mine[0]["received"]["amount"], "40");
    assert_eq!(mine[1]["received"]["amount"], "25");

    // Statements: the share Ada gave Bob carried 100 USD of capital; the net asset value (875
    // of cash less 25 still payable and 26.50 of fees due to the platform) is shared in
    // proportion to the capital balances, and so are the fees (25 on the proceeds, 1.50 on
    // the distributions).
    let s = get(&w, &ada_token, "/v1/me/statements").await;
    assert_eq!(s["investor_id"], ada_id.as_str());
    let p = &s["properties"][0];
    assert_eq!(p["property"], "1");
    for (k, v) in [
        ("contributed", "600.000000"),
        ("returned", "100.000000"),
        ("balance", "500.000000"),
        ("current_value", "411.750000"),
        ("platform_fees", "13.250000"),
        ("distributions_received", "60.000000"),
        ("distributions_claimable", "25.000000"),
    ] {
        assert_eq!(p[k], v, "{k}: {s}");
    }
    assert_eq!(p["ownership_percent"], "50.0000");
    let csv = w
        .app
        .get("/v1/me/statements?format=csv")
        .token(&bob_token)
        .send()
        .await;
    csv.expect(StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let text = String::from_utf8(csv.bytes.clone()).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert_eq!(
        rows[1],
        "1,500.000000,0.000000,0.000000,500.000000,50.0000,411.750000,65.000000,0.000000,13.250000,USD"
    );
    assert!(rows[2].starts_with("total,500.000000,"), "{text}");
    w.app
        .get("/v1/me/statements?format=pdf")
        .token(&bob_token)
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("format"));
    w.app
        .get("/v1/me/statements")
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    let d = get(
        &w,
        &auditor,
        &format!("/v1/distributions/{}", first["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(d["funded"]["claimed"]["amount"], "100");
    assert_eq!(d["funded"]["unclaimed"]["amount"], "0");
    let listed = get(&w, &auditor, "/v1/distributions?property=1").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    // The books: 150 funded, 125 claimed, 25 still payable; the platform's fees owed.
    let tb = get(&w, &auditor, "/v1/books/1/trial-balance").await;
    let net = |code: &str| -> rust_decimal::Decimal {
        tb["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["code"] == code)
            .map(|l| {
                let d: rust_decimal::Decimal =
                    l["debit"]["amount"].as_str().unwrap().parse().unwrap();
                let c: rust_decimal::Decimal =
                    l["credit"]["amount"].as_str().unwrap().parse().unwrap();
                d - c
            })
            .sum()
    };
    assert_eq!(net("2100"), "-25".parse().unwrap(), "{tb}");
    assert_eq!(net("1020"), "25".parse().unwrap(), "{tb}");
    assert_eq!(net("3100"), "150".parse().unwrap(), "{tb}");
    assert_eq!(net("5700"), "26.5".parse().unwrap(), "{tb}");
    assert_eq!(net("2300"), "-26.5".parse().unwrap(), "{tb}");
    // The property's books as Beancount: bean-check accepts them, and each balance it asserts
    // is the trial balance's.
    let bean = w
        .app
        .get("/v1/books/export?format=beancount&property=1")
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
        let asserted = text.lines().any(|l| {
            l.contains(" balance ")
                && l.contains(&format!(":C{code}"))
                && l.ends_with(&format!("  {net} USD"))
        });
        assert!(asserted, "no assertion of {code} at {net}:\n{text}");
    }
    crate::books::bean_check_text(&text);

    // Bad declarations change nothing.
    for (body, field) in [
        (
            json!({"property": "x", "amount": {"amount": "1", "currency": "USD"}}),
            "/property",
        ),
        (
            json!({"property": "1", "amount": {"amount": "0", "currency": "USD"}}),
            "/amount/amount",
        ),
        (
            json!({"property": "1", "amount": {"amount": "1", "currency": "USD"}, "claim_days": 0}),
            "/claim_days",
        ),
    ] {
        w.app
            .post("/v1/distributions")
            .token(&operator)
            .json(&body)
            .send()
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some(field));
    }
    let p = w
        .app
        .post("/v1/distributions")
        .token(&operator)
        .json(&json!({"property": "99", "amount": {"amount": "1", "currency": "USD"}}))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "not_tokenized");
    w.app
        .post("/v1/distributions")
        .token(&auditor)
        .json(&json!({"property": "1", "amount": {"amount": "1", "currency": "USD"}}))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);

    // A push pays whoever has not claimed (Ada's 25 of the second), once: a second push, or
    // the same one resent, pays nobody again.
    let second_id = second["id"].as_str().unwrap();
    let push_path = format!("/v1/distributions/{second_id}/push");
    w.app
        .post(&push_path)
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    let ada_before = usd_of(&w, ada.address()).await;
    let pushed = w
        .app
        .post(&push_path)
        .token(&operator)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(pushed["holders"], 1, "{pushed}");
    let actions = pushed["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{pushed}");
    assert_eq!(actions[0]["kind"], "distribution.push");
    assert_eq!(w.settled(actions).await[0]["status"], "confirmed");
    w.caught_up().await;
    assert_eq!(
        usd_of(&w, ada.address()).await,
        ada_before + U256::from(25_000_000u64)
    );
    let reg = get(
        &w,
        &auditor,
        &format!("/v1/distributions/{second_id}/register"),
    )
    .await;
    assert!(lines(&reg).iter().all(|(_, _, _, c)| c == "paid"), "{reg}");
    let again = w
        .app
        .post(&push_path)
        .token(&operator)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(
        (
            again["holders"].as_u64(),
            again["actions"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    // The push sent again (a crash after it was mined, resent): it pays nothing more.
    let number = get(&w, &auditor, &format!("/v1/distributions/{second_id}")).await["funded"]
        ["distribution_number"]
        .as_u64()
        .unwrap();
    w.outbox_idle().await;
    let receipt = propledger_contracts::Distributor::new(w.property.distributor.address, &w.admin)
        .pushPayouts(U256::from(number), vec![ada.address(), bob.address()])
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    assert_eq!(
        usd_of(&w, ada.address()).await,
        ada_before + U256::from(25_000_000u64)
    );
    let tb = get(&w, &auditor, "/v1/books/1/trial-balance").await;
    let payable: rust_decimal::Decimal = tb["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["code"] == "2100")
        .map(|l| {
            let d: rust_decimal::Decimal = l["debit"]["amount"].as_str().unwrap().parse().unwrap();
            let c: rust_decimal::Decimal = l["credit"]["amount"].as_str().unwrap().parse().unwrap();
            d - c
        })
        .sum();
    assert_eq!(
        payable,
        rust_decimal::Decimal::ZERO,
        "nothing left payable: {tb}"
    );
    w.finish().await;
}

async fn usd_of(w: &ChainApp, who: alloy::primitives::Address) -> U256 {
    propledger_contracts::TestStablecoin::new(w.platform.settlement_token, &w.reader)
        .balanceOf(who)
        .call()
        .await
        .unwrap()
}
