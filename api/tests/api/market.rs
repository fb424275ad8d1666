//! Investing through the API on the embedded chain with the indexer running: an investor is
//! prepared an approval and a purchase (with gas estimates), signs them with their own key,
//! sees the holding and the pending purchase; a refused purchase or transfer is answered with
//! the compliance reason and changes nothing; the operator cancels the offering through the
//! outbox and the investor claims the refund. Compliance's chain actions (rules, freezes,
//! forced transfers, wallets, recovery) each land on chain once. While chain actions are held
//! (the deployed code differs from the node's record), every route that would record one is
//! refused with a `code-mismatch` problem and nothing is recorded, while reads, compliance checks
//! and investors' unsigned transactions go on.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use axum::http::StatusCode;
use propledger_api::db::Engine;
use propledger_contracts::{IdentityRegistry, PropertyShares, ShareCompliance, TestStablecoin};
use serde_json::{Value, json};

use crate::chainapp::{ChainApp, investor_key, shares};
use crate::support::both_engines;

both_engines!(
    invest_and_refund,
    compliance_actions,
    import_and_issue,
    signer_balances_are_metrics,
    without_an_index,
    held_chain_writes
);

/// An API whose database holds no index answers chain routes with a clear problem, never a
/// server error.
async fn without_an_index(engine: Engine) {
    let app = crate::support::TestApp::new(engine).await;
    let key = app.key("compliance").await;
    let token = Address::repeat_byte(7);
    app.get(&format!("/v1/tokens/{token}/rules"))
        .token(&key)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
    app.post(&format!("/v1/tokens/{token}/freezes"))
        .token(&key)
        .json(&json!({"wallet": token, "frozen": true, "reason": "x"}))
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
    let r = app.get("/v1/offerings").token(&key).send().await;
    assert_eq!(
        r.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
}

async fn signer_balances_are_metrics(engine: Engine) {
    let w = ChainApp::new(engine).await;
    let text = String::from_utf8(
        w.app
            .get("/metrics")
            .send()
            .await
            .expect(StatusCode::OK)
            .bytes
            .clone(),
    )
    .unwrap();
    let admin = w.platform.roles.admin.to_checksum(None);
    let balance =
        w.reader.get_balance(w.platform.roles.admin).await.unwrap() / U256::from(1_000_000_000u64);
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("propledger_signer_balance_gwei{")
                && l.contains("role=\"treasurer\"")
                && l.contains(&admin)
        })
        .unwrap_or_else(|| panic!("no balance metric in {text}"));
    let shown: U256 = line.rsplit(' ').next().unwrap().parse().unwrap();
    // Gas spent between the two reads makes the metric at most a little higher.
    assert!(
        shown >= balance && shown - balance < U256::from(10_000_000u64),
        "{line} vs {balance}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("propledger_signer_balance_low{") && l.ends_with(" 0")),
        "{text}"
    );
    w.finish().await;
}

async fn held_chain_writes(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    let ada = investor_key(30);
    let (ada_token, _) = w.investor(&ada, "US", true, "2099-01-01").await;
    w.outbox_idle().await;
    w.fund(ada.address(), 1_000_000_000).await;
    let (_, bob) = w.applicant(&investor_key(31), "US").await;
    let (property, deed) = crate::tokenization::property_with_deed(&w.app, &w.app.admin_key).await;
    let reason = "the platform contracts differ from the deployment record: PropertyDeed";
    w.app.api.hold_chain_writes(reason.to_owned());
    let before = w.app.count("SELECT COUNT(*) AS n FROM api_outbox").await;

    let compliance = w.app.key("compliance").await;
    let operator = w.app.key("operator").await;
    let token = w.property.shares.address;
    let refusals = [
        // Simulated, then recorded.
        w.app
            .post(&format!("/v1/tokens/{token}/freezes"))
            .token(&compliance)
            .json(&json!({"wallet": ada.address(), "frozen": true, "reason": "x"}))
            .send()
            .await,
        w.app
            .post(&format!(
                "/v1/offerings/{}/cancel",
                w.property.offering.address
            ))
            .token(&operator)
            .send()
            .await,
        w.app
            .post(&format!("/v1/properties/{property}/tokenization"))
            .token(&operator)
            .json(&crate::tokenization::tokenization_body(&deed))
            .send()
            .await,
        // Recorded with a change of the API's own.
        w.app
            .post(&format!("/v1/investors/{bob}/approve"))
            .token(&compliance)
            .json(&json!({"accredited": false, "kyc_expires_on": "2099-01-01"}))
            .send()
            .await,
    ];
    for r in refusals {
        let p = r.problem(StatusCode::SERVICE_UNAVAILABLE, "code-mismatch", None);
        assert_eq!(p["code"], "code_mismatch", "{p}");
        assert_eq!(p["detail"], reason, "{p}");
    }
    assert_eq!(
        w.app.count("SELECT COUNT(*) AS n FROM api_outbox").await,
        before,
        "nothing recorded"
    );
    let bob = w
        .app
        .get(&format!("/v1/investors/{bob}"))
        .token(&compliance)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(bob["status"], "submitted", "{bob}");

    // Reads, checks and the investor's own unsigned transactions go on.
    w.app
        .get("/v1/offerings")
        .token(&operator)
        .send()
        .await
        .expect(StatusCode::OK);
    w.app
        .post("/v1/compliance/check")
        .token(&compliance)
        .json(&json!({"offering": w.property.offering.address, "wallet": ada.address(), "amount": "1"}))
        .send()
        .await
        .expect(StatusCode::OK);
    w.app
        .post("/v1/me/purchases")
        .token(&ada_token)
        .json(&json!({"offering": w.property.offering.address, "amount": "1"}))
        .send()
        .await
        .expect(StatusCode::OK);
    let ready = w.app.get("/readyz").send().await.json();
    assert_eq!(
        ready["chain_writes"],
        json!({"ok": false, "error": reason}),
        "{ready}"
    );

    // No sender starts for a held API.
    let ledger = propledger_ledger::Ledger::connect(&w.app.url)
        .await
        .unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let senders = w
        .app
        .api
        .spawn_senders(
            ledger,
            vec![("admin".to_owned(), investor_key(32))],
            propledger_api::outbox::sender::SenderConfig::new(31337, 0),
            stopped,
        )
        .unwrap();
    assert!(senders.is_empty());
    w.finish().await;
}

async fn usd(w: &ChainApp, who: Address) -> U256 {
    TestStablecoin::new(w.platform.settlement_token, &w.reader)
        .balanceOf(who)
        .call()
        .await
        .unwrap()
}

async fn offering(w: &ChainApp) -> Value {
    w.caught_up().await;
    w.app
        .get(&format!("/v1/offerings/{}", w.property.offering.address))
        .token(&w.app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK)
        .json()
}

async fn invest_and_refund(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    w.caught_up().await;
    let list = w
        .app
        .get("/v1/offerings")
        .token(&w.app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let o = &list["items"][0];
    assert_eq!(o["status"], "open");
    assert_eq!(o["sold"]["units"], "0");
    assert_eq!(o["terms"]["price_per_share"]["amount"], "100");
    assert_eq!(o["soft_cap_reached"], false);

    let ada = investor_key(20);
    let (token, _) = w.investor(&ada, "US", true, "2099-01-01").await;
    w.outbox_idle().await;
    w.fund(ada.address(), 50_000_000_000).await; // 50,000 USD
    let me = w
        .app
        .get("/v1/me")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let offers = me["offerings"].as_array().unwrap();
    assert_eq!(offers.len(), 1, "{me}");
    assert_eq!(offers[0]["verdict"]["allowed"], true, "{me}");

    // A purchase: approve the price, then buy, each estimated and signed by the investor.
    let prepared = w
        .app
        .post("/v1/me/purchases")
        .token(&token)
        .json(&json!({"offering": w.property.offering.address, "amount": "5"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(prepared["amount"]["amount"], "500", "{prepared}");
    let txs = prepared["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 2, "{prepared}");
    assert!(
        txs.iter()
            .all(|t| t["gas"].as_u64().is_some_and(|g| g > 21_000)),
        "{prepared}"
    );
    assert_eq!(w.sign_and_send(&ada, &prepared).await, [true, true]);
    assert_eq!(usd(&w, ada.address()).await, U256::from(49_500_000_000u64));
    let state = offering(&w).await;
    assert_eq!(state["sold"]["amount"], "5", "{state}");
    assert_eq!(state["raised"]["amount"], "500", "{state}");
    assert_eq!(state["purchases"], 1);
    assert_eq!(state["soft_cap_reached"], false);
    let me = w
        .app
        .get("/v1/me")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(me["holdings"][0]["shares"]["amount"], "5", "{me}");
    assert_eq!(me["purchases"][0]["settled"], false, "{me}");
    assert_eq!(me["purchases"][0]["paid"]["amount"], "500", "{me}");

    // Refusals name the reason and prepare nothing.
    let r = w
        .app
        .post("/v1/me/purchases")
        .token(&token)
        .json(&json!({"offering": w.property.offering.address, "amount": "396"}))
        .send()
        .await;
    let p = r.problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "not_allowed");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("above_investor_limit"),
        "{p}"
    );
    let bob = investor_key(21);
    w.investor(&bob, "US", true, "2099-01-01").await;
    let r = w
        .app
        .post("/v1/me/transfers")
        .token(&token)
        .json(&json!({"token": w.property.shares.address, "to": bob.address(), "amount": "1"}))
        .send()
        .await;
    let p = r.problem(StatusCode::CONFLICT, "conflict", None);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("offering_unsettled"),
        "{p}"
    );
    let stranger = investor_key(22);
    let stranger_token = w.sign_in(&stranger).await;
    w.outbox_idle().await;
    w.fund(stranger.address(), 1_000_000_000).await;
    let r = w
        .app
        .post("/v1/me/purchases")
        .token(&stranger_token)
        .json(&json!({"offering": w.property.offering.address, "amount": "1"}))
        .send()
        .await;
    let p = r.problem(StatusCode::CONFLICT, "conflict", None);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("recipient_not_verified"),
        "{p}"
    );
    // Not refundable while open.
    w.app
        .post("/v1/me/refunds")
        .token(&token)
        .json(&json!({"offering": w.property.offering.address}))
        .send()
        .await
        .expect(StatusCode::CONFLICT);

    // The operator cancels through the outbox; the investor is owed the refund.
    let operator = w.app.key("operator").await;
    let action = w
        .app
        .post(&format!(
            "/v1/offerings/{}/cancel",
            w.property.offering.address
        ))
        .token(&operator)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(action["kind"], "offering.cancel");
    assert_eq!(w.settled(&[action]).await[0]["status"], "confirmed");
    // Cancelling again is refused before anything is recorded.
    let before = w.app.count("SELECT COUNT(*) AS n FROM api_outbox").await;
    let r = w
        .app
        .post(&format!(
            "/v1/offerings/{}/cancel",
            w.property.offering.address
        ))
        .token(&operator)
        .send()
        .await;
    let p = r.problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "would_revert", "{p}");
    assert_eq!(
        w.app.count("SELECT COUNT(*) AS n FROM api_outbox").await,
        before
    );
    let state = offering(&w).await;
    assert_eq!(state["status"], "failed", "{state}");
    assert_eq!(state["refunds_due"]["amount"], "500", "{state}");
    let me = w
        .app
        .get("/v1/me")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(me["refunds_due"][0]["amount"]["amount"], "500", "{me}");
    assert!(me["offerings"].as_array().unwrap().is_empty(), "{me}");
    let prepared = w
        .app
        .post("/v1/me/refunds")
        .token(&token)
        .json(&json!({"offering": w.property.offering.address}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    w.outbox_idle().await;
    assert_eq!(w.sign_and_send(&ada, &prepared).await, [true]);
    assert_eq!(usd(&w, ada.address()).await, U256::from(50_000_000_000u64));
    let state = offering(&w).await;
    assert_eq!(state["refunds_due"]["units"], "0", "{state}");
    assert_eq!(state["refunded"]["amount"], "500", "{state}");
    w.finish().await;
}

async fn compliance_actions(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    let compliance = w.app.key("compliance").await;
    let holder = investor_key(30);
    let (holder_token, holder_id) = w.investor(&holder, "US", true, "2099-01-01").await;
    let other = investor_key(31);
    let (_, other_id) = w.investor(&other, "GB", false, "2099-01-01").await;
    w.outbox_idle().await;
    w.fund(holder.address(), 5_000_000_000).await;
    // 20 shares: past the soft cap, so settled.
    let prepared = w
        .app
        .post("/v1/me/purchases")
        .token(&holder_token)
        .json(&json!({"offering": w.property.offering.address, "amount": "20"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(w.sign_and_send(&holder, &prepared).await, [true, true]);
    w.caught_up().await;
    let token = w.property.shares.address;
    let reader = PropertyShares::new(token, &w.reader);

    // Rules: read, replace (countries as well), read back.
    let rules_path = format!("/v1/tokens/{token}/rules");
    let rules = w
        .app
        .get(&rules_path)
        .token(&compliance)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(rules["accredited_only"], false, "{rules}");
    let new_rules = json!({
        "accredited_only": false, "countries_restricted": true, "allowed_countries": ["US", "GB"],
        "max_investors": 50, "lockup_until": null, "max_balance_per_investor": "300", "min_holding": "0.5"
    });
    let bad = json!({
        "accredited_only": false, "countries_restricted": true, "allowed_countries": ["ZZ"],
        "max_investors": 50, "lockup_until": null, "max_balance_per_investor": "1", "min_holding": "2"
    });
    let p = w
        .app
        .call(axum::http::Method::PUT, &rules_path)
        .token(&compliance)
        .json(&bad)
        .send()
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", None);
    assert!(p["errors"].as_array().unwrap().len() == 1, "{p}");
    let change = w
        .app
        .call(axum::http::Method::PUT, &rules_path)
        .token(&compliance)
        .json(&new_rules)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    let actions = change["actions"].as_array().unwrap();
    let kinds: Vec<&str> = actions
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["compliance.set_rules", "compliance.set_countries"]);
    for a in w.settled(actions).await {
        assert_eq!(a["status"], "confirmed", "{a}");
    }
    w.caught_up().await;
    let rules = w
        .app
        .get(&rules_path)
        .token(&compliance)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(rules["allowed_countries"], json!(["GB", "US"]), "{rules}");
    assert_eq!(rules["max_balance_per_investor"], "300");
    assert_eq!(rules["min_holding"], "0.5");
    let on_chain = ShareCompliance::new(w.property.compliance.address, &w.reader)
        .rules()
        .call()
        .await
        .unwrap();
    assert_eq!(on_chain.maxInvestors, 50);
    assert_eq!(U256::from(on_chain.maxBalancePerInvestor), shares(300));

    // The limits: set, read back, judged, then lifted again.
    let mut limited = new_rules.clone();
    limited["max_supply"] = json!("10000");
    limited["daily_transfer_limit"] = json!("7.5");
    limited["monthly_transfer_limit"] = json!("100");
    limited["country_caps"] = json!({"US": 3});
    limited["jurisdiction_groups"] = json!({"US": 1, "GB": 2});
    limited["jurisdiction_groups_enforced"] = json!(true);
    for (field, value, pointer) in [
        (
            "daily_transfer_limit",
            json!("79228162515"),
            "/daily_transfer_limit",
        ),
        ("country_caps", json!({"ZZ": 1}), "/country_caps/ZZ"),
        ("max_supply", json!("-1"), "/max_supply"),
    ] {
        let mut bad = limited.clone();
        bad[field] = value;
        w.app
            .call(axum::http::Method::PUT, &rules_path)
            .token(&compliance)
            .json(&bad)
            .send()
            .await
            .problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                Some(pointer),
            );
    }
    assert_eq!(
        replace_rules(&w, &compliance, &rules_path, &limited).await,
        [
            "compliance.set_rules",
            "compliance.set_limits",
            "compliance.set_country_caps",
            "compliance.set_jurisdiction_groups"
        ]
    );
    let rules = w
        .app
        .get(&rules_path)
        .token(&compliance)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        (
            &rules["max_supply"],
            &rules["daily_transfer_limit"],
            &rules["monthly_transfer_limit"],
            &rules["country_caps"],
            &rules["jurisdiction_groups"],
            &rules["jurisdiction_groups_enforced"]
        ),
        (
            &json!("10000"),
            &json!("7.5"),
            &json!("100"),
            &json!({"US": 3}),
            &json!({"GB": 2, "US": 1}),
            &json!(true)
        ),
        "{rules}"
    );
    let check = |to: Address, amount: &'static str| {
        let app = &w.app;
        let holder = holder.address();
        async move {
            app.post("/v1/compliance/check")
                .token(&app.admin_key)
                .json(&json!({"token": token, "from": holder, "to": to, "amount": amount}))
                .send()
                .await
                .expect(StatusCode::OK)
                .json()
        }
    };
    let v = check(other.address(), "1").await;
    assert_eq!(
        (v["code"].as_u64(), v["name"].as_str()),
        (Some(14), Some("jurisdiction_mismatch")),
        "{v}"
    );
    assert_eq!(
        v["sentence"],
        "transfers are allowed only within one jurisdiction group: the sender's country, The United States Of America, is in group 1, and the recipient's, The United Kingdom Of Great Britain And Northern Ireland, in group 2",
        "{v}"
    );
    // An unchanged body sends nothing but the scalar rules.
    assert_eq!(
        replace_rules(&w, &compliance, &rules_path, &limited).await,
        ["compliance.set_rules"]
    );
    assert_eq!(
        replace_rules(&w, &compliance, &rules_path, &new_rules).await,
        [
            "compliance.set_rules",
            "compliance.set_limits",
            "compliance.set_country_caps",
            "compliance.set_jurisdiction_groups"
        ]
    );
    assert_eq!(check(other.address(), "1").await["code"], 0);
    let rules = w
        .app
        .get(&rules_path)
        .token(&compliance)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        (
            &rules["country_caps"],
            &rules["jurisdiction_groups"],
            &rules["max_supply"]
        ),
        (&json!({}), &json!({}), &json!("0")),
        "{rules}"
    );

    // Many investors frozen at once, one outcome each, then unfrozen.
    let registry = IdentityRegistry::new(w.platform.identity_registry.address, &w.reader);
    let frozen_now = |who: Address| {
        let registry = registry.clone();
        async move { registry.walletStatus(who).call().await.unwrap().frozen }
    };
    for (body, pointer) in [
        (
            json!({"investor_ids": [], "frozen": true, "reason": "screening"}),
            "/investor_ids",
        ),
        (
            json!({"investor_ids": [holder_id, holder_id], "frozen": true, "reason": "screening"}),
            "/investor_ids/1",
        ),
        (
            json!({"investor_ids": [holder_id], "frozen": true, "reason": ""}),
            "/reason",
        ),
    ] {
        w.app
            .post("/v1/investors/freezes")
            .token(&compliance)
            .json(&body)
            .send()
            .await
            .problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                Some(pointer),
            );
    }
    let unknown = "01a25200-0000-7000-8000-000000000000";
    for frozen in [true, false] {
        let bulk = w
            .app
            .post("/v1/investors/freezes")
            .token(&compliance)
            .json(
                &json!({"investor_ids": [holder_id, other_id, unknown, "nope"],
                          "frozen": frozen, "reason": "sanctions screening"}),
            )
            .send()
            .await
            .expect(StatusCode::ACCEPTED)
            .json();
        let outcomes: Vec<&str> = bulk["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(
            outcomes,
            ["queued", "queued", "not_found", "invalid"],
            "{bulk}"
        );
        let actions = bulk["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 1, "{bulk}");
        assert_eq!(w.settled(actions).await[0]["status"], "confirmed");
        assert_eq!(
            (
                frozen_now(holder.address()).await,
                frozen_now(other.address()).await
            ),
            (frozen, frozen)
        );
    }
    w.app
        .post("/v1/investors/freezes")
        .token(&w.app.key("operator").await)
        .json(&json!({"investor_ids": [holder_id], "frozen": true, "reason": "x"}))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);

    // A partial freeze, then one of each refusal shape.
    let freezes = format!("/v1/tokens/{token}/freezes");
    let a = w
        .app
        .post(&freezes)
        .token(&compliance)
        .json(&json!({"wallet": holder.address(), "freeze": "5", "reason": "dispute"}))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(w.settled(&[a]).await[0]["status"], "confirmed");
    assert_eq!(
        reader
            .getFrozenTokens(holder.address())
            .call()
            .await
            .unwrap(),
        shares(5)
    );
    w.app
        .post(&freezes)
        .token(&compliance)
        .json(&json!({"wallet": holder.address(), "freeze": "5", "frozen": true, "reason": "x"}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/frozen"),
        );
    w.app
        .post(&freezes)
        .token(&compliance)
        .json(&json!({"wallet": holder.address(), "frozen": true, "reason": ""}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/reason"),
        );
    let operator = w.app.key("operator").await;
    w.app
        .post(&freezes)
        .token(&operator)
        .json(&json!({"wallet": holder.address(), "frozen": true, "reason": "x"}))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);

    // A forced transfer moves frozen-over shares; one to an unregistered wallet is refused
    // with the token's reason and records nothing.
    let forced = format!("/v1/tokens/{token}/forced-transfers");
    let a = w.app.post(&forced).token(&compliance)
        .json(&json!({"from": holder.address(), "to": other.address(), "amount": "2", "reason": "court order 17"}))
        .send().await.expect(StatusCode::ACCEPTED).json();
    assert_eq!(w.settled(&[a]).await[0]["status"], "confirmed");
    assert_eq!(
        reader.balanceOf(other.address()).call().await.unwrap(),
        shares(2)
    );
    let before = w.app.count("SELECT COUNT(*) AS n FROM api_outbox").await;
    let p = w.app.post(&forced).token(&compliance)
        .json(&json!({"from": holder.address(), "to": Address::repeat_byte(9), "amount": "1", "reason": "x"}))
        .send().await.problem(StatusCode::CONFLICT, "conflict", None);
    assert!(
        p["detail"].as_str().unwrap().contains("TransferRestricted"),
        "{p}"
    );
    assert_eq!(
        w.app.count("SELECT COUNT(*) AS n FROM api_outbox").await,
        before
    );

    // A new wallet for the holder, the lost one's shares recovered into it, the lost one removed.
    let spare = investor_key(32);
    let a = w
        .app
        .post(&format!("/v1/investors/{holder_id}/wallets"))
        .token(&compliance)
        .json(&json!({"wallet": spare.address()}))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(w.settled(&[a]).await[0]["status"], "confirmed");
    w.app
        .post(&format!("/v1/investors/{holder_id}/wallets"))
        .token(&compliance)
        .json(&json!({"wallet": other.address()}))
        .send()
        .await
        .expect(StatusCode::CONFLICT);
    let a = w.app.post(&format!("/v1/tokens/{token}/recoveries")).token(&compliance)
        .json(&json!({"lost_wallet": holder.address(), "new_wallet": spare.address(), "reason": "lost key"}))
        .send().await.expect(StatusCode::ACCEPTED).json();
    assert_eq!(w.settled(&[a]).await[0]["status"], "confirmed");
    assert_eq!(
        reader.balanceOf(spare.address()).call().await.unwrap(),
        shares(18)
    );
    assert_eq!(
        reader
            .getFrozenTokens(spare.address())
            .call()
            .await
            .unwrap(),
        shares(5)
    );
    let a = w
        .app
        .delete(&format!(
            "/v1/investors/{holder_id}/wallets/{}",
            holder.address()
        ))
        .token(&compliance)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(w.settled(&[a]).await[0]["status"], "confirmed");
    let registry = IdentityRegistry::new(w.platform.identity_registry.address, &w.reader);
    assert_eq!(
        registry.investorOf(holder.address()).call().await.unwrap(),
        alloy::primitives::B256::ZERO
    );
    let inv = w
        .app
        .get(&format!("/v1/investors/{holder_id}"))
        .token(&compliance)
        .send()
        .await
        .json();
    assert_eq!(
        inv["wallets"],
        json!([spare.address().to_checksum(None)]),
        "{inv}"
    );

    // The whole investor frozen in the registry, then unfrozen.
    for frozen in [true, false] {
        let a = w
            .app
            .post(&format!("/v1/investors/{holder_id}/freeze"))
            .token(&compliance)
            .json(&json!({"frozen": frozen, "reason": "review"}))
            .send()
            .await
            .expect(StatusCode::ACCEPTED)
            .json();
        assert_eq!(w.settled(&[a]).await[0]["status"], "confirmed");
        assert_eq!(
            registry
                .walletStatus(spare.address())
                .call()
                .await
                .unwrap()
                .frozen,
            frozen
        );
    }
    w.finish().await;
}

/// Replaces a token's rules, waits until every action is confirmed and indexed, and answers the
/// actions' kinds in order.
async fn replace_rules(w: &ChainApp, key: &str, path: &str, body: &Value) -> Vec<String> {
    let change = w
        .app
        .call(axum::http::Method::PUT, path)
        .token(key)
        .json(body)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    let actions = change["actions"].as_array().unwrap();
    for a in w.settled(actions).await {
        assert_eq!(a["status"], "confirmed", "{a}");
    }
    w.caught_up().await;
    actions
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Statuses of settled actions, and the gas each used.
async fn confirmed_gas(w: &ChainApp, actions: &Value) -> Vec<u64> {
    let mut gas = Vec::new();
    for a in w.settled(actions.as_array().unwrap()).await {
        assert_eq!(a["status"], "confirmed", "{a}");
        let hash = a["tx_hash"].as_str().unwrap().parse().unwrap();
        let receipt = w
            .reader
            .get_transaction_receipt(hash)
            .await
            .unwrap()
            .unwrap();
        gas.push(receipt.gas_used);
    }
    gas
}

/// A register imported (investors created, an applicant approved and updated, a rejected
/// applicant, a wallet the registry gives to a stranger and an invalid item each reported),
/// repeated with and without its key; then shares issued to many of them, each holder checked
/// by the token's compliance first.
async fn import_and_issue(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    let compliance = w.app.key("compliance").await;
    let applicant = investor_key(40);
    let (_, applicant_id) = w.applicant(&applicant, "GB").await;
    let rejected = investor_key(41);
    let (_, rejected_id) = w.applicant(&rejected, "US").await;
    w.app
        .post(&format!("/v1/investors/{rejected_id}/reject"))
        .token(&compliance)
        .json(&json!({"reason": "documents unreadable"}))
        .send()
        .await
        .expect(StatusCode::OK);
    // A wallet the registry links to an investor this platform does not know.
    w.outbox_idle().await;
    let stray = investor_key(42).address();
    let admin_registry = IdentityRegistry::new(w.platform.identity_registry.address, &w.admin);
    let stranger = IdentityRegistry::Registration {
        investorId: alloy::primitives::B256::repeat_byte(0x5a),
        country: 840,
        accredited: true,
        kycExpiry: 4_070_908_800,
        wallet: stray,
    };
    admin_registry
        .registerInvestors(vec![stranger])
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let registry = IdentityRegistry::new(w.platform.identity_registry.address, &w.reader);

    let migrated: Vec<Address> = (0..250).map(|i| investor_key(1000 + i).address()).collect();
    let mut people: Vec<Value> = migrated
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({"legal_name": format!("Holder {i}"), "email": format!("h{i}@example.com"),
                   "country": "US", "accredited": true, "kyc_expires_on": "2099-01-01", "wallet": a})
        })
        .collect();
    for (who, country) in [
        (applicant.address(), "GB"),
        (rejected.address(), "US"),
        (stray, "US"),
    ] {
        people.push(json!({"legal_name": "Known Person", "email": "known@example.com",
            "country": country, "accredited": false, "kyc_expires_on": "2099-01-01", "wallet": who}));
    }
    people.push(
        json!({"legal_name": "Bad Item", "email": "nope", "country": "ZZ",
        "accredited": false, "kyc_expires_on": "2099-01-01", "wallet": "0x12"}),
    );
    let body = json!({ "investors": people });
    let count_before = registry.investorCount().call().await.unwrap();
    let import = |key: Option<&'static str>| {
        let app = &w.app;
        let (compliance, body) = (&compliance, &body);
        async move {
            let mut r = app.post("/v1/investors/registrations").token(compliance);
            if let Some(k) = key {
                r = r.header("idempotency-key", k);
            }
            let resp = r.json(body).send().await;
            resp.expect(StatusCode::ACCEPTED);
            resp
        }
    };
    let first = import(Some("import-1")).await;
    let result = first.json();
    let items = result["items"].as_array().unwrap();
    assert_eq!(items.len(), 254);
    let outcome = |i: usize| items[i]["outcome"].as_str().unwrap();
    assert!((0..250).all(|i| outcome(i) == "created"), "{result}");
    assert_eq!(
        (outcome(250), outcome(251), outcome(252), outcome(253)),
        ("updated", "rejected", "wallet_taken", "invalid")
    );
    assert_eq!(items[250]["investor_id"], applicant_id.as_str());
    assert_eq!(items[251]["investor_id"], rejected_id.as_str());
    let pointers: Vec<&str> = items[253]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/investors/253/email",
            "/investors/253/country",
            "/investors/253/wallet"
        ]
    );
    // 251 registrations: a batch of 200 and one of 51.
    let gas = confirmed_gas(&w, &result["actions"]).await;
    assert_eq!(gas.len(), 2, "{result}");
    println!(
        "registerInvestors gas per new investor (200 a batch): {}",
        gas[0] / 200
    );
    assert_eq!(
        registry.investorCount().call().await.unwrap(),
        count_before + 251
    );
    for (i, a) in migrated.iter().enumerate().step_by(49) {
        let s = registry.walletStatus(*a).call().await.unwrap();
        assert!(s.verified && s.accredited && s.country == 840, "holder {i}");
    }
    let a = registry
        .walletStatus(applicant.address())
        .call()
        .await
        .unwrap();
    assert!(a.verified && !a.accredited && a.country == 826);
    assert!(
        !registry
            .walletStatus(rejected.address())
            .call()
            .await
            .unwrap()
            .verified
    );
    assert_eq!(
        registry.investorOf(stray).call().await.unwrap(),
        alloy::primitives::B256::repeat_byte(0x5a)
    );
    let detail = w
        .app
        .get(&format!("/v1/investors/{applicant_id}"))
        .token(&compliance)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        (
            &detail["status"],
            &detail["accredited"],
            &detail["legal_name"]
        ),
        (&json!("approved"), &json!(false), &json!("Known Person")),
        "{detail}"
    );

    // The same key answers the first response; without one, the repeat changes nothing more.
    assert_eq!(import(Some("import-1")).await.bytes, first.bytes);
    let again = import(None).await.json();
    let items = again["items"].as_array().unwrap();
    assert!(
        (0..251).all(|i| items[i]["outcome"] == "updated"
            && items[i]["investor_id"] == result["items"][i]["investor_id"]),
        "{again}"
    );
    confirmed_gas(&w, &again["actions"]).await;
    assert_eq!(
        registry.investorCount().call().await.unwrap(),
        count_before + 251
    );
    for (body, pointer) in [
        (json!({"investors": []}), "/investors"),
        (
            json!({"investors": [body["investors"][0], body["investors"][0]]}),
            "/investors/1/wallet",
        ),
    ] {
        w.app
            .post("/v1/investors/registrations")
            .token(&compliance)
            .json(&body)
            .send()
            .await
            .problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                Some(pointer),
            );
    }

    // Shares issued to 150 of them (two transactions), a stranger's wallet refused by the
    // token's compliance and an invalid amount reported.
    let token = w.property.shares.address;
    let reader = PropertyShares::new(token, &w.reader);
    let supply = reader.totalSupply().call().await.unwrap();
    let mut holders: Vec<Value> = migrated[..150]
        .iter()
        .map(|a| json!({"wallet": a, "shares": "2.5"}))
        .collect();
    holders.push(json!({"wallet": investor_key(43).address(), "shares": "1"}));
    holders.push(json!({"wallet": migrated[200], "shares": "0"}));
    let issuances = format!("/v1/tokens/{token}/issuances");
    let body = json!({"holders": holders, "reason": "migration from the Elm St register"});
    w.app
        .post(&issuances)
        .token(&compliance)
        .json(&body)
        .send()
        .await
        .problem(
            StatusCode::BAD_REQUEST,
            "validation",
            Some("Idempotency-Key"),
        );
    let issued = w
        .app
        .post(&issuances)
        .token(&compliance)
        .header("idempotency-key", "issue-1")
        .json(&body)
        .send()
        .await;
    issued.expect(StatusCode::ACCEPTED);
    let r = issued.json();
    let items = r["items"].as_array().unwrap();
    assert!(items[..150].iter().all(|i| i["outcome"] == "queued"), "{r}");
    assert_eq!(
        (&items[150]["outcome"], &items[150]["reason"]),
        (&json!("refused"), &json!("recipient_not_verified"))
    );
    assert_eq!(items[151]["errors"][0]["pointer"], "/holders/151/shares");
    let gas = confirmed_gas(&w, &r["actions"]).await;
    assert_eq!(gas.len(), 2, "{r}");
    println!(
        "issueMany gas per new holder (100 a batch): {}",
        gas[0] / 100
    );
    // A replay issues nothing again.
    let replay = w
        .app
        .post(&issuances)
        .token(&compliance)
        .header("idempotency-key", "issue-1")
        .json(&body)
        .send()
        .await;
    replay.expect(StatusCode::ACCEPTED);
    assert_eq!(replay.bytes, issued.bytes);
    w.outbox_idle().await;
    assert_eq!(
        reader.totalSupply().call().await.unwrap(),
        supply + shares(375)
    );
    assert_eq!(
        reader.balanceOf(migrated[149]).call().await.unwrap(),
        shares(5) / U256::from(2u8)
    );
    assert_eq!(
        reader.balanceOf(migrated[150]).call().await.unwrap(),
        U256::ZERO
    );
    w.app
        .post(&issuances)
        .token(&w.app.key("operator").await)
        .header("idempotency-key", "issue-2")
        .json(&body)
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    w.finish().await;
}
