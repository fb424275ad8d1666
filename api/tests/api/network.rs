//! The network a wallet talks to, and test funds on a development platform.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use axum::http::StatusCode;
use propledger_api::db::Engine;
use propledger_contracts::TestStablecoin;
use serde_json::json;

use crate::chainapp::ChainApp;
use crate::support::both_engines;

both_engines!(test_funds_reach_the_wallet);

async fn test_funds_reach_the_wallet(engine: Engine) {
    let w = ChainApp::new(engine).await;
    let app = &w.app;
    let n = app
        .get("/v1/network")
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(n["chain_id"], 31337);
    assert_eq!(n["test_funds"], true);
    assert_eq!(
        n["contracts"]["settlement_token"],
        w.platform.settlement_token.to_checksum(None)
    );

    // Every bad field at once, and nothing queued.
    let p = app
        .post("/v1/test-funds")
        .token(&app.admin_key)
        .json(&json!({"wallet": "0x12", "usd": "1000000.01"}))
        .send()
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", None);
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["/wallet", "/usd"], "{p}");
    for usd in ["-1", "0.0000001", "ten"] {
        app.post("/v1/test-funds")
            .token(&app.admin_key)
            .json(&json!({"wallet": Address::repeat_byte(0xd1), "usd": usd}))
            .send()
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some("/usd"));
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_outbox").await,
        0,
        "a refused grant queues nothing"
    );

    let wallet = Address::repeat_byte(0xd2);
    let r = app
        .post("/v1/test-funds")
        .token(&app.admin_key)
        .json(&json!({"wallet": wallet, "usd": "2500.5"}))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(r["usd"], "2500.5");
    let actions: Vec<serde_json::Value> = r["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| json!({"id": a}))
        .collect();
    assert_eq!(actions.len(), 2);
    for a in w.settled(&actions).await {
        assert_eq!(a["status"], "confirmed", "{a}");
    }
    assert_eq!(
        w.reader.get_balance(wallet).await.unwrap(),
        U256::from(100_000_000_000_000_000u64)
    );
    assert_eq!(
        TestStablecoin::new(w.platform.settlement_token, &w.reader)
            .balanceOf(wallet)
            .call()
            .await
            .unwrap(),
        U256::from(2_500_500_000u64)
    );

    // The faucet: a signed-in wallet funds itself once.
    let key = crate::chainapp::investor_key(77);
    let session = w.sign_in(&key).await;
    let f = app
        .post("/v1/me/test-funds")
        .token(&session)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(f["usd"], "10000", "{f}");
    let actions: Vec<serde_json::Value> = f["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| json!({"id": a}))
        .collect();
    for a in w.settled(&actions).await {
        assert_eq!(a["status"], "confirmed", "{a}");
    }
    assert_eq!(
        TestStablecoin::new(w.platform.settlement_token, &w.reader)
            .balanceOf(key.address())
            .call()
            .await
            .unwrap(),
        U256::from(10_000_000_000u64)
    );
    let queued = app.count("SELECT COUNT(*) AS n FROM api_outbox").await;
    let p = app
        .post("/v1/me/test-funds")
        .token(&session)
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "already_funded", "{p}");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_outbox").await,
        queued
    );
    // Staff have no faucet of their own.
    app.post("/v1/me/test-funds")
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);

    // A platform that settles in a real token (its test stablecoin forgotten here) grants
    // nothing, and says so.
    let real = {
        let mut platform = w.platform.clone();
        platform.test_stablecoin = None;
        let admin = crate::outbox::DEV_KEY
            .parse::<alloy::signers::local::PrivateKeySigner>()
            .unwrap()
            .address();
        propledger_api::app::ChainContext {
            chain_id: 31337,
            platform,
            signers: [("admin".to_owned(), admin)].into_iter().collect(),
            provider: w.reader.clone(),
            source: None,
            external_anchor: None,
        }
    };
    let other = crate::support::TestApp::build(engine, |_| {}, Some(real)).await;
    let n = other
        .get("/v1/network")
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(n["test_funds"], false, "{n}");
    let p = other
        .post("/v1/test-funds")
        .token(&other.admin_key)
        .json(&json!({"wallet": wallet, "usd": "1"}))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "no_test_token", "{p}");
    assert_eq!(other.count("SELECT COUNT(*) AS n FROM api_outbox").await, 0);
    w.finish().await;
}
