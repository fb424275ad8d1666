//! A trade on the platform's share market through the API, with two investors' wallets: an
//! offer, a refused take, a partial take, the trade's exact figures on chain and in the books,
//! and the rest cancelled.

use alloy::primitives::{Address, U256};
use axum::http::StatusCode;
use propledger_api::db::Engine;
use propledger_contracts::{ShareSettlement, TestStablecoin};
use serde_json::json;

use crate::chainapp::{ChainApp, investor_key};
use crate::support::both_engines;

both_engines!(a_trade_through_the_market);

async fn usd(w: &ChainApp, who: Address) -> U256 {
    TestStablecoin::new(w.platform.settlement_token, &w.reader)
        .balanceOf(who)
        .call()
        .await
        .unwrap()
}

async fn a_trade_through_the_market(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    w.caught_up().await;
    let app = &w.app;
    let token = w.property.shares.address;

    // Ada buys 12 shares at 100 (past the 1,000 USD soft cap: settled); Bob is approved and
    // funded; Mallory signed in but never applied.
    let ada = investor_key(40);
    let (ada_session, _) = w.investor(&ada, "US", true, "2099-01-01").await;
    let bob = investor_key(41);
    let (bob_session, _) = w.investor(&bob, "US", true, "2099-01-01").await;
    let mallory = investor_key(42);
    let mallory_session = w.sign_in(&mallory).await;
    w.outbox_idle().await;
    w.fund(ada.address(), 5_000_000_000).await;
    w.fund(bob.address(), 5_000_000_000).await;
    let bought = app
        .post("/v1/me/purchases")
        .token(&ada_session)
        .json(&json!({"offering": w.property.offering.address, "amount": "12"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(w.sign_and_send(&ada, &bought).await.iter().all(|ok| *ok));
    let market = ShareSettlement::new(w.platform.settlement.expect("a market").address, &w.admin);
    market
        .setListed(token, true)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    w.caught_up().await;

    // Ada offers 4 shares at 125.50: the market's allowance for her shares, then the offer.
    let offer = app
        .post("/v1/me/orders")
        .token(&ada_session)
        .json(&json!({"token": token, "side": "sell", "amount": "4", "price": "125.50"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(offer["verdict"]["allowed"], true, "{offer}");
    assert_eq!(offer["payment"]["amount"], "502", "{offer}");
    assert_eq!(offer["fee"]["amount"], "1.255", "{offer}");
    assert_eq!(
        offer["transactions"].as_array().unwrap().len(),
        2,
        "{offer}"
    );
    assert_eq!(w.sign_and_send(&ada, &offer).await, [true, true]);
    let book = app
        .get(&format!("/v1/market/orders?token={token}"))
        .token(&bob_session)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(book["listed"], true, "{book}");
    assert_eq!(book["fee_bps"], 25, "{book}");
    let orders = book["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "{book}");
    assert_eq!(
        (
            orders[0]["side"].as_str(),
            orders[0]["remaining"]["amount"].as_str(),
            orders[0]["price"]["amount"].as_str(),
            orders[0]["maker"].as_str(),
        ),
        (
            Some("sell"),
            Some("4"),
            Some("125.5"),
            Some(ada.address().to_checksum(None).as_str())
        )
    );
    let id = orders[0]["id"].as_str().unwrap().to_owned();

    // Mallory is not a verified investor: refused with the token's code, nothing prepared.
    let p = app
        .post(&format!("/v1/me/orders/{id}/take"))
        .token(&mallory_session)
        .json(&json!({"amount": "1"}))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "not_allowed");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("recipient_not_verified (4)"),
        "{p}"
    );
    // Ada cannot take her own offer; nobody takes more than is left.
    app.post(&format!("/v1/me/orders/{id}/take"))
        .token(&ada_session)
        .json(&json!({"amount": "1"}))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    app.post(&format!("/v1/me/orders/{id}/take"))
        .token(&bob_session)
        .json(&json!({"amount": "4.5"}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/amount"),
        );

    // Bob takes 3: 376.50 from him, 375.55875 to Ada, 0.94125 (25 bps) to the platform.
    let (ada_before, bob_before, fee_before) = (
        usd(&w, ada.address()).await,
        usd(&w, bob.address()).await,
        usd(&w, w.platform.roles.admin).await,
    );
    let take = app
        .post(&format!("/v1/me/orders/{id}/take"))
        .token(&bob_session)
        .json(&json!({"amount": "3"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(take["verdict"]["allowed"], true, "{take}");
    assert_eq!(take["payment"]["amount"], "376.5", "{take}");
    assert_eq!(take["fee"]["amount"], "0.94125", "{take}");
    assert_eq!(w.sign_and_send(&bob, &take).await, [true, true]);
    assert_eq!(
        usd(&w, bob.address()).await,
        bob_before - U256::from(376_500_000u64)
    );
    assert_eq!(
        usd(&w, ada.address()).await,
        ada_before + U256::from(375_558_750u64)
    );
    assert_eq!(
        usd(&w, w.platform.roles.admin).await,
        fee_before + U256::from(941_250u64)
    );
    let shares = w.property.shares.address;
    let balance = |who: Address| {
        let s = propledger_contracts::PropertyShares::new(shares, &w.reader);
        async move { s.balanceOf(who).call().await.unwrap() }
    };
    let one = U256::from(10u64).pow(U256::from(18u64));
    assert_eq!(balance(ada.address()).await, U256::from(9u64) * one);
    assert_eq!(balance(bob.address()).await, U256::from(3u64) * one);

    // The trade, read from the chain.
    let trades = app
        .get(&format!("/v1/market/trades?token={token}"))
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let t = &trades["items"][0];
    assert_eq!(
        (
            t["seller"].as_str(),
            t["buyer"].as_str(),
            t["shares"]["amount"].as_str(),
            t["payment"]["amount"].as_str(),
            t["fee"]["amount"].as_str()
        ),
        (
            Some(ada.address().to_checksum(None).as_str()),
            Some(bob.address().to_checksum(None).as_str()),
            Some("3"),
            Some("376.5"),
            Some("0.94125")
        ),
        "{trades}"
    );

    // The books: capital moves from seller to buyer at book value (a quarter of Ada's 1,200).
    w.caught_up().await;
    let accounts = app
        .get("/v1/books/1/capital-accounts")
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let balances: Vec<(String, String)> = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["contributed"]["amount"].as_str().unwrap().to_owned(),
                a["balance"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = balances.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("1200.000000".to_owned(), "900.000000".to_owned()),
            ("300.000000".to_owned(), "300.000000".to_owned()),
        ],
        "{accounts}"
    );
    let r = w.reconcile().await;
    assert!(r.is_clean(), "{r:#?}");

    // Ada cancels the share left; the book is empty.
    let cancel = app
        .post(&format!("/v1/me/orders/{id}/cancel"))
        .token(&ada_session)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    app.post(&format!("/v1/me/orders/{id}/cancel"))
        .token(&bob_session)
        .send()
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden", None);
    assert_eq!(
        w.sign_and_send(&ada, &json!({"transactions": [cancel]}))
            .await,
        [true]
    );
    let book = app
        .get(&format!("/v1/market/orders?token={token}"))
        .token(&ada_session)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(book["orders"], json!([]), "{book}");

    // Delivery versus approval: compliance makes the token's trades wait for the agent.
    let compliance = app.key("compliance").await;
    let set = app
        .post(&format!("/v1/market/tokens/{token}/approval"))
        .token(&compliance)
        .json(&json!({"required": true}))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(w.settled(&[set]).await[0]["status"], "confirmed");
    let offer = app
        .post("/v1/me/orders")
        .token(&ada_session)
        .json(&json!({"token": token, "side": "sell", "amount": "2", "price": "130"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(w.sign_and_send(&ada, &offer).await.iter().all(|ok| *ok));
    let book = app
        .get(&format!("/v1/market/orders?token={token}"))
        .token(&bob_session)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(book["approval_required"], true, "{book}");
    let id = book["orders"][0]["id"].as_str().unwrap().to_owned();
    let take_one = || {
        app.post(&format!("/v1/me/orders/{id}/take"))
            .token(&bob_session)
            .json(&json!({"amount": "1"}))
    };
    let take = take_one().send().await.expect(StatusCode::OK).json();
    assert!(w.sign_and_send(&bob, &take).await.iter().all(|ok| *ok));
    // Reserved, not moved.
    assert_eq!(balance(bob.address()).await, U256::from(3u64) * one);
    let pending = app
        .get(&format!("/v1/market/approvals?token={token}"))
        .token(&compliance)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let items = pending["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{pending}");
    assert_eq!(items[0]["payment"]["amount"], "130", "{pending}");
    assert_eq!(items[0]["verdict"]["allowed"], true, "{pending}");
    let trade = items[0]["trade_id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/market/approvals/{trade}"))
        .token(&compliance)
        .json(&json!({"decision": "maybe"}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/decision"),
        );
    let approved = app
        .post(&format!("/v1/market/approvals/{trade}"))
        .token(&compliance)
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(w.settled(&[approved]).await[0]["status"], "confirmed");
    assert_eq!(balance(bob.address()).await, U256::from(4u64) * one);
    // Rejected: the share goes back on the order.
    let take = take_one().send().await.expect(StatusCode::OK).json();
    assert!(w.sign_and_send(&bob, &take).await.iter().all(|ok| *ok));
    let pending = app
        .get(&format!("/v1/market/approvals?token={token}"))
        .token(&compliance)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let trade = pending["items"][0]["trade_id"].as_str().unwrap().to_owned();
    let rejected = app
        .post(&format!("/v1/market/approvals/{trade}"))
        .token(&compliance)
        .json(&json!({"decision": "reject"}))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(w.settled(&[rejected]).await[0]["status"], "confirmed");
    app.post(&format!("/v1/market/approvals/{trade}"))
        .token(&compliance)
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .expect(StatusCode::NOT_FOUND);
    let book = app
        .get(&format!("/v1/market/orders?token={token}"))
        .token(&bob_session)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(book["orders"][0]["remaining"]["amount"], "1", "{book}");
    assert_eq!(balance(bob.address()).await, U256::from(4u64) * one);
    let trades = app
        .get(&format!("/v1/market/trades?token={token}"))
        .token(&compliance)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(trades["items"].as_array().unwrap().len(), 2, "{trades}");

    // What Ada's sales realized, first in first out: her 12 shares cost 100 each; 3 sold for
    // 376.50 less a fee of 0.94125, 1 for 130 less 0.325.
    let mine = app
        .get("/v1/me/trades")
        .token(&ada_session)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let sales: Vec<(String, String, String)> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["side"].as_str().unwrap().to_owned(),
                t["cost_basis"].as_str().unwrap_or("").to_owned(),
                t["realized_gain"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        sales,
        [
            ("sell".into(), "300".into(), "75.55875".into()),
            ("sell".into(), "100".into(), "29.675".into()),
        ],
        "{mine}"
    );
    assert_eq!(mine["realized_total"], "105.23375", "{mine}");
    // Bob's are purchases: lots, nothing realized.
    let his = app
        .get("/v1/me/trades")
        .token(&bob_session)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(his["items"].as_array().unwrap().len(), 2, "{his}");
    assert_eq!(his["items"][0]["side"], "buy", "{his}");
    assert_eq!(his["realized_total"], "0", "{his}");

    // The fees are the platform's revenue, in its own books: 0.94125 and 0.325.
    let tb = app
        .get("/v1/books/platform/trial-balance")
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let lines: Vec<(&str, &str, &str)> = tb["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["code"].as_str().unwrap(),
                l["debit"]["amount"].as_str().unwrap(),
                l["credit"]["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("1050", "1.266250", "0.000000"),
            ("4300", "0.000000", "1.266250")
        ],
        "{tb}"
    );

    // The year's tax statements show the same: Ada's sales as market disposals at the payment
    // less the fee, Bob's purchases at the payment.
    w.caught_up().await;
    let year = chrono::Utc::now().format("%Y").to_string();
    let statement = |session: String| {
        let app = &w.app;
        let path = format!("/v1/me/tax-statements/{year}");
        async move {
            app.get(&path)
                .token(&session)
                .send()
                .await
                .expect(StatusCode::OK)
                .json()
        }
    };
    let ada_tax = statement(ada_session.clone()).await;
    let disposals: Vec<[&str; 4]> = ada_tax["disposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            [
                d["how"].as_str().unwrap(),
                d["cost_basis"]["amount"].as_str().unwrap(),
                d["proceeds"]["amount"].as_str().unwrap(),
                d["gain"].as_str().unwrap(),
            ]
        })
        .collect();
    assert_eq!(
        disposals,
        [
            ["market", "300", "375.55875", "75.55875"],
            ["market", "100", "129.675", "29.675"],
        ],
        "{ada_tax}"
    );
    assert_eq!(ada_tax["totals"]["realized_gain"], "105.23375", "{ada_tax}");
    let bob_tax = statement(bob_session.clone()).await;
    let bought: Vec<[&str; 3]> = bob_tax["purchases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            [
                p["how"].as_str().unwrap(),
                p["shares"]["amount"].as_str().unwrap(),
                p["cost"]["amount"].as_str().unwrap_or("-"),
            ]
        })
        .collect();
    assert_eq!(
        &bought[bought.len() - 2..],
        [["market", "3", "376.5"], ["market", "1", "130"]],
        "{bob_tax}"
    );
    w.finish().await;
}
