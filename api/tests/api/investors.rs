//! Investors against the real embedded chain: signing in with a wallet (EIP-4361) and each way
//! a sign-in is refused, applying with KYC documents, compliance's review, and approval
//! registering the identity on chain through the outbox.

use alloy::primitives::Address;
use axum::http::StatusCode;
use chrono::Utc;
use propledger_api::db::Engine;
use propledger_contracts::IdentityRegistry;
use serde_json::json;

use crate::chainapp::{ChainApp, investor_key};
use crate::support::both_engines;

both_engines!(sign_in_with_a_wallet, onboarding_registers_on_chain);

async fn wallet_sessions(w: &ChainApp) -> i64 {
    w.app
        .count("SELECT COUNT(*) AS n FROM api_wallet_sessions")
        .await
}

async fn sign_in_with_a_wallet(engine: Engine) {
    let w = ChainApp::new(engine).await;
    let key = investor_key(1);
    let token = w.sign_in(&key).await;
    assert!(token.starts_with("plw_"));
    let me = w
        .app
        .get("/v1/me")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(me["wallet"], key.address().to_checksum(None));
    assert!(me.get("investor").is_none(), "{me}");

    // Each bad sign-in is refused and opens no session.
    let before = wallet_sessions(&w).await;
    let replayed = w.signed_message(&key, |_| {}).await;
    w.app
        .post("/v1/auth/siwe/verify")
        .json(&replayed)
        .send()
        .await
        .expect(StatusCode::CREATED);
    let once = wallet_sessions(&w).await;
    assert_eq!(once, before + 1);
    let other = investor_key(2);
    let now = Utc::now();
    type Edit = Box<dyn FnOnce(&mut propledger_api::siwe::Message)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "another domain",
            Box::new(|m| m.domain = "evil.example".to_owned()),
        ),
        ("another chain", Box::new(|m| m.chain_id = 1)),
        (
            "expired",
            Box::new(move |m| {
                m.issued_at = (now - chrono::Duration::minutes(20)).into();
                m.expiration_time = Some((now - chrono::Duration::minutes(1)).into());
            }),
        ),
        (
            "from the future",
            Box::new(move |m| {
                m.issued_at = (now + chrono::Duration::minutes(10)).into();
                m.expiration_time = Some((now + chrono::Duration::minutes(20)).into());
            }),
        ),
        (
            "not valid yet",
            Box::new(move |m| m.not_before = Some((now + chrono::Duration::minutes(5)).into())),
        ),
        (
            "unknown nonce",
            Box::new(|m| m.nonce = "abcdefgh12345678".to_owned()),
        ),
    ];
    for (what, edit) in cases {
        let body = w.signed_message(&key, edit).await;
        let r = w.app.post("/v1/auth/siwe/verify").json(&body).send().await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            String::from_utf8_lossy(&r.bytes)
        );
    }
    // A replayed nonce.
    let r = w
        .app
        .post("/v1/auth/siwe/verify")
        .json(&replayed)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "replayed nonce");
    // Signed by another key than the message's address.
    let mut forged = w
        .signed_message(&other, |m| m.address = key.address())
        .await;
    let r = w
        .app
        .post("/v1/auth/siwe/verify")
        .json(&forged)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "bad signature");
    // Not a signature at all; not a message at all.
    forged["signature"] = json!("0x1234");
    w.app
        .post("/v1/auth/siwe/verify")
        .json(&forged)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/signature"),
        );
    w.app
        .post("/v1/auth/siwe/verify")
        .json(&json!({"message": "hello", "signature": "0x00"}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/message"),
        );
    assert_eq!(
        wallet_sessions(&w).await,
        once,
        "no refused sign-in opened a session"
    );
    // A wallet session is not a staff credential.
    w.app
        .get("/v1/investors")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    w.finish().await;
}

async fn onboarding_registers_on_chain(engine: Engine) {
    let w = ChainApp::new(engine).await;
    let ada = investor_key(10);
    let token = w.sign_in(&ada).await;
    // Bad applications are refused with every field named, and change nothing.
    let r = w
        .app
        .post("/v1/me/application")
        .token(&token)
        .json(&json!({"legal_name": "", "email": "nope", "country": "XX"}))
        .send()
        .await;
    let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", None);
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["/legal_name", "/email", "/country"], "{p}");
    assert_eq!(
        w.app.count("SELECT COUNT(*) AS n FROM api_investors").await,
        0
    );
    // A document before applying is refused.
    w.app
        .post("/v1/me/application/documents")
        .token(&token)
        .multipart(
            &[("kind", "passport")],
            Some(("p.pdf", "application/pdf", b"%PDF passport")),
        )
        .send()
        .await
        .expect(StatusCode::CONFLICT);

    let inv = w
        .app
        .post("/v1/me/application")
        .token(&token)
        .json(&json!({"legal_name": "Ada Lovelace", "email": "ada@example.com", "country": "GB", "accredited_claim": true}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    let id = inv["id"].as_str().unwrap().to_owned();
    assert_eq!(inv["status"], "submitted");
    assert_eq!(inv["wallets"], json!([ada.address().to_checksum(None)]));
    w.app
        .post("/v1/me/application/documents")
        .token(&token)
        .multipart(
            &[("kind", "passport")],
            Some(("p.pdf", "application/pdf", b"%PDF passport")),
        )
        .send()
        .await
        .expect(StatusCode::CREATED);

    // The review queue; an operator may not decide.
    let compliance = w.app.key("compliance").await;
    let queue = w
        .app
        .get("/v1/investors?status=submitted")
        .token(&compliance)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(queue["items"].as_array().unwrap().len(), 1);
    let operator = w.app.key("operator").await;
    w.app
        .post(&format!("/v1/investors/{id}/approve"))
        .token(&operator)
        .json(&json!({"accredited": true, "kyc_expires_on": "2099-01-01"}))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    // A KYC expiry in the past is refused.
    w.app
        .post(&format!("/v1/investors/{id}/approve"))
        .token(&compliance)
        .json(&json!({"accredited": true, "kyc_expires_on": "2001-01-01"}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/kyc_expires_on"),
        );

    let detail = w
        .app
        .post(&format!("/v1/investors/{id}/approve"))
        .token(&compliance)
        .json(&json!({"accredited": true, "kyc_expires_on": "2099-01-01"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(detail["status"], "approved");
    let actions = detail["actions"].as_array().unwrap();
    let kinds: Vec<&str> = actions
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["identity.set_investor", "identity.add_wallet"]);
    for a in w.settled(actions).await {
        assert_eq!(a["status"], "confirmed", "{a}");
        assert!(a["tx_hash"].is_string() && a["block_number"].is_u64());
    }
    // On chain: the wallet belongs to the investor, with the decided facts.
    let registry = IdentityRegistry::new(w.platform.identity_registry.address, &w.reader);
    let status = registry.walletStatus(ada.address()).call().await.unwrap();
    assert!(status.verified);
    assert!(status.accredited);
    assert_eq!(status.country, 826, "GB");
    let rid: alloy::primitives::B256 = detail["registry_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        registry.investorOf(ada.address()).call().await.unwrap(),
        rid
    );
    // Contact data stays off chain: the registry id is not a hash of it (the id is random hex,
    // so a test for letters in it would fail now and then).
    for contact in ["Ada Lovelace", "ada@example.com", "GB"] {
        assert_ne!(rid, alloy::primitives::keccak256(contact), "{contact}");
    }
    // Deciding twice is a conflict.
    let conflict = w
        .app
        .post(&format!("/v1/investors/{id}/approve"))
        .token(&compliance)
        .json(&json!({"accredited": true, "kyc_expires_on": "2099-01-01"}))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(conflict["code"], "not_submitted");

    // The investor sees their own record, and never another's.
    let me = w
        .app
        .get("/v1/me")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(me["investor"]["status"], "approved");
    assert_eq!(me["investor"]["documents"].as_array().unwrap().len(), 1);
    let bob = investor_key(11);
    let (bob_token, bob_id) = w.applicant(&bob, "US").await;
    for path in [
        format!("/v1/investors/{id}"),
        format!("/v1/investors/{bob_id}"),
    ] {
        w.app
            .get(&path)
            .token(&bob_token)
            .send()
            .await
            .expect(StatusCode::FORBIDDEN);
    }
    // Rejection, with the reason the applicant reads; nothing goes on chain.
    w.app
        .post(&format!("/v1/investors/{bob_id}/reject"))
        .token(&compliance)
        .json(&json!({"reason": ""}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/reason"),
        );
    let rejected = w
        .app
        .post(&format!("/v1/investors/{bob_id}/reject"))
        .token(&compliance)
        .json(&json!({"reason": "the passport scan is unreadable"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(rejected["status"], "rejected");
    let bob_me = w
        .app
        .get("/v1/me")
        .token(&bob_token)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        bob_me["investor"]["rejection_reason"],
        "the passport scan is unreadable"
    );
    assert_eq!(
        registry.investorOf(bob.address()).call().await.unwrap(),
        alloy::primitives::B256::ZERO
    );
    let _: Address = bob.address();
    w.finish().await;
}
